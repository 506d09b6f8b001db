//! The canonical request and the string to sign, byte for byte as SigV4 (and OSC4) define them.

use super::{Claim, Mode, RequestParts, header_str, incomplete, sha256_hex};
use crate::error::AuthError;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986's unreserved characters, as SigV4 encodes query values.
pub fn uri_encode(s: &str) -> String {
    percent_encode(s.as_bytes(), UNRESERVED).to_string()
}

/// Removes `.`/`..`/empty segments and encodes the path again, as SigV4 does for every service but S3.
fn canonical_uri(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for seg in &segments {
        out.push('/');
        out.extend(percent_encode(seg.as_bytes(), UNRESERVED));
    }
    if out.is_empty() || (path.ends_with('/') && !segments.is_empty()) {
        out.push('/');
    }
    out
}

fn canonical_query(query: &str, mode: Mode) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k: Vec<u8> = percent_decode(k.as_bytes()).collect();
            if matches!(mode, Mode::Presigned { .. }) && k == b"X-Amz-Signature" {
                return None;
            }
            let v: Vec<u8> = percent_decode(v.as_bytes()).collect();
            Some((
                percent_encode(&k, UNRESERVED).to_string(),
                percent_encode(&v, UNRESERVED).to_string(),
            ))
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(query.len() + 16);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Trims a header value and folds runs of whitespace into one space.
fn push_folded(out: &mut Vec<u8>, value: &[u8]) {
    let mut pending_space = false;
    let mut started = false;
    for &b in value {
        if b == b' ' || b == b'\t' {
            pending_space = started;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            started = true;
        }
    }
}

/// Builds the canonical request for the claim. Fails if a signed header is absent.
pub fn canonical_request(parts: &RequestParts<'_>, claim: &Claim) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(parts.method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(parts.path).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(parts.query, claim.mode).as_bytes());
    out.push(b'\n');
    for name in claim.signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut values = parts.headers.get_all(name).iter().peekable();
        if values.peek().is_none() {
            match (name, parts.authority) {
                ("host", Some(authority)) => push_folded(&mut out, authority.as_bytes()),
                _ => {
                    let sentence = format!(
                        "'{name}' is named as a SignedHeader, but it does not exist in the HTTP request."
                    );
                    return Err(incomplete(parts, claim.mode, &sentence));
                }
            }
        }
        for (i, v) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_folded(&mut out, v.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(claim.signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(parts.payload_sha256.as_bytes());
    // A signed content hash is a claim about the body; the body must bear it out, or a valid
    // signature over the header could carry a different body (UNSIGNED-PAYLOAD included).
    if claim
        .signed_headers
        .split(';')
        .any(|n| n == "x-amz-content-sha256")
        && header_str(parts.headers, "x-amz-content-sha256") != Some(parts.payload_sha256)
    {
        return Err(AuthError::SignatureMismatch);
    }
    Ok(out)
}

pub fn string_to_sign(claim: &Claim, canonical_request: &[u8]) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        claim.scheme.algorithm,
        claim.amz_date,
        claim.scope_string(),
        sha256_hex(canonical_request)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_normalised_and_encoded_twice() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/prefix/a%20b/./c/"), "/prefix/a%2520b/c/");
        assert_eq!(canonical_uri("/a/../b"), "/b");
        assert_eq!(canonical_uri("//a//"), "/a/");
    }

    #[test]
    fn query_is_sorted_and_reencoded() {
        assert_eq!(
            canonical_query("b=2&a=1&a=0&c=x%2fy&sp=a%20b", Mode::Header),
            "a=0&a=1&b=2&c=x%2Fy&sp=a%20b"
        );
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&z=1", Mode::Presigned { expires: 1 }),
            "z=1"
        );
    }

    #[test]
    fn header_values_are_trimmed_and_folded() {
        let mut out = Vec::new();
        push_folded(&mut out, b"  a   b \t c  ");
        assert_eq!(out, b"a b c");
    }
}

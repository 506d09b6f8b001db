//! Pure SigV4 verification: parse the Authorization header or presigned query, rebuild the canonical
//! request and string to sign, check the clock window, and compare signatures in constant time.
//!
//! Nothing here does I/O or reads the clock: callers pass the request parts, the secret and `now`,
//! which is what lets AWS's published vectors test this byte for byte. The signing scheme is a
//! value (`Scheme::AWS4`, `Scheme::OSC4`): OUTSCALE's OSC4 differs from AWS's only in its
//! algorithm name, key prefix, date header and scope terminator.

mod canonical;
mod key;

pub use canonical::{canonical_request, string_to_sign, uri_encode};
pub use key::{SigningKey, expected_signature, signing_key, verify};

use crate::error::AuthError;
use percent_encoding::percent_decode;
use sha2::{Digest, Sha256};
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// The strings that tell one SigV4-style scheme from another.
#[derive(Debug, PartialEq, Eq)]
pub struct Scheme {
    /// The `Authorization` header's first word and the string to sign's first line.
    pub algorithm: &'static str,
    /// Prepended to the secret to derive the signing key.
    pub key_prefix: &'static str,
    /// The date header, lowercase, as SignedHeaders lists it.
    pub date_header: &'static str,
    /// The same header as messages and presigned queries spell it.
    pub date_param: &'static str,
    /// The presigned query parameters' prefix (`X-Amz-Algorithm`, `X-Amz-Credential`, ...).
    pub query_prefix: &'static str,
    /// The credential scope's last element.
    pub terminator: &'static str,
}

impl Scheme {
    pub const AWS4: Scheme = Scheme {
        algorithm: "AWS4-HMAC-SHA256",
        key_prefix: "AWS4",
        date_header: "x-amz-date",
        date_param: "X-Amz-Date",
        query_prefix: "X-Amz-",
        terminator: "aws4_request",
    };

    pub const OSC4: Scheme = Scheme {
        algorithm: "OSC4-HMAC-SHA256",
        key_prefix: "OSC4",
        date_header: "x-osc-date",
        date_param: "X-Osc-Date",
        query_prefix: "X-Osc-",
        terminator: "osc4_request",
    };

    fn param(&self, name: &str) -> String {
        format!("{}{name}", self.query_prefix)
    }
}

/// AWS's own scheme, the only one the AWS face accepts.
pub const AWS_ONLY: &[&Scheme] = &[&Scheme::AWS4];
pub const ALGORITHM: &str = Scheme::AWS4.algorithm;
pub const TERMINATOR: &str = Scheme::AWS4.terminator;
/// Largest `X-Amz-Expires` AWS accepts: seven days.
pub const MAX_PRESIGNED_EXPIRES: u64 = 604_800;
/// How far `X-Amz-Date` may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::minutes(15);

const AMZ_DATE_FORMAT: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

/// What verification needs from an HTTP request, borrowed as received.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// Path as sent, still percent-encoded.
    pub path: &'a str,
    /// Query string as sent, without `?`.
    pub query: &'a str,
    pub headers: &'a http::HeaderMap,
    /// The URI authority (HTTP/2 `:authority`), used when there is no Host header.
    pub authority: Option<&'a str>,
    /// Lowercase hex SHA-256 of the raw body.
    pub payload_sha256: &'a str,
}

impl<'a> RequestParts<'a> {
    /// The parts of a received request, with its body's hash (`payload_hash`).
    pub fn of(parts: &'a http::request::Parts, payload_sha256: &'a str) -> Self {
        RequestParts {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            authority: parts.uri.authority().map(|a| a.as_str()),
            payload_sha256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Header,
    Presigned { expires: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub date: String,
    pub region: String,
    pub service: String,
}

/// A parsed, well-formed signature claim; nothing in it is trusted until `verify` succeeds.
#[derive(Clone, PartialEq, Eq)]
pub struct Claim {
    pub scheme: &'static Scheme,
    pub access_key_id: String,
    pub scope: Scope,
    pub amz_date: String,
    pub time: OffsetDateTime,
    pub signed_headers: String,
    pub signature: String,
    pub mode: Mode,
    pub security_token: Option<String>,
}

impl Claim {
    /// `date/region/service/terminator`.
    pub fn scope_string(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.scope.date, self.scope.region, self.scope.service, self.scheme.terminator
        )
    }
}

impl std::fmt::Debug for Claim {
    // The signature and token stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("algorithm", &self.scheme.algorithm)
            .field("access_key_id", &self.access_key_id)
            .field("scope", &self.scope)
            .field("amz_date", &self.amz_date)
            .field("signed_headers", &self.signed_headers)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

pub fn format_amz_date(t: OffsetDateTime) -> String {
    t.format(AMZ_DATE_FORMAT).unwrap_or_default()
}

pub fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(s, AMZ_DATE_FORMAT)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Lowercase hex SHA-256 of a request body, as the canonical request's last line wants it.
pub fn payload_hash(body: &[u8]) -> String {
    sha256_hex(body)
}

pub(crate) fn header_str<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Query parameter lookup for the presigned fields (first occurrence wins).
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k.as_bytes()).decode_utf8().ok()?;
        if k == name {
            Some(
                percent_decode(v.as_bytes())
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        } else {
            None
        }
    })
}

fn query_param_count(query: &str, name: &str) -> usize {
    query
        .split('&')
        .filter(|pair| {
            let k = pair.split_once('=').map_or(*pair, |(k, _)| k);
            percent_decode(k.as_bytes())
                .decode_utf8()
                .is_ok_and(|k| k == name)
        })
        .count()
}

fn has_query_param(query: &str, name: &str) -> bool {
    query_param(query, name).is_some()
}

/// A malformed claim: the sentence, with the Authorization header it was about (header mode) or
/// without it (presigned mode).
pub(crate) fn incomplete(parts: &RequestParts<'_>, mode: Mode, sentence: &str) -> AuthError {
    let authorization = match mode {
        Mode::Header => Some(
            parts
                .headers
                .get(http::header::AUTHORIZATION)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
        ),
        Mode::Presigned { .. } => None,
    };
    AuthError::Incomplete {
        sentence: sentence.to_string(),
        authorization,
    }
}

/// Parses a `Credential` value: `AKID/YYYYMMDD/region/service/aws4_request`.
fn parse_credential(
    value: &str,
    scheme: &Scheme,
    fail: &dyn Fn(String) -> AuthError,
) -> Result<(String, Scope), AuthError> {
    let parts: Vec<&str> = value.split('/').collect();
    if parts.len() != 5 || parts.iter().any(|p| p.is_empty()) {
        return Err(fail(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{value}'."
        )));
    }
    if parts[4] != scheme.terminator {
        return Err(fail(format!(
            "Credential should be scoped with a valid terminator: '{}', not '{}'.",
            scheme.terminator, parts[4]
        )));
    }
    if parts[1].len() != 8 || !parts[1].bytes().all(|b| b.is_ascii_digit()) {
        return Err(fail(format!(
            "Credential should be scoped to a valid date in YYYYMMDD format, not '{}'.",
            parts[1]
        )));
    }
    Ok((
        parts[0].to_string(),
        Scope {
            date: parts[1].to_string(),
            region: parts[2].to_string(),
            service: parts[3].to_string(),
        },
    ))
}

fn check_signed_headers(
    list: &str,
    mode: Mode,
    scheme: &Scheme,
    fail: &dyn Fn(String) -> AuthError,
) -> Result<(), AuthError> {
    let names: Vec<&str> = list.split(';').collect();
    let well_formed = !list.is_empty()
        && names.iter().all(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        })
        && names.windows(2).all(|w| w[0] < w[1]);
    if !well_formed {
        return Err(fail(format!(
            "SignedHeaders must be lowercase header names separated by ';', sorted and without repeats, got '{list}'."
        )));
    }
    if !names.contains(&"host") {
        return Err(fail("SignedHeaders must include 'host'.".to_string()));
    }
    if mode == Mode::Header && !names.contains(&scheme.date_header) {
        return Err(fail(format!(
            "SignedHeaders must include '{}'.",
            scheme.date_header
        )));
    }
    Ok(())
}

fn checked_amz_date(
    amz_date: &str,
    scheme: &Scheme,
    fail: &dyn Fn(String) -> AuthError,
) -> Result<OffsetDateTime, AuthError> {
    parse_amz_date(amz_date).ok_or_else(|| {
        fail(format!(
            "{} must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", got '{amz_date}'.",
            scheme.date_param
        ))
    })
}

fn check_signature_hex(sig: &str) -> Result<(), AuthError> {
    if sig.len() == 64 && sig.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch)
    }
}

/// A session token, wherever the client put it: a token in the other place than the signature's
/// mode still claims temporary credentials and must not be ignored.
fn security_token(parts: &RequestParts<'_>) -> Option<String> {
    header_str(parts.headers, "x-amz-security-token")
        .map(str::to_string)
        .or_else(|| query_param(parts.query, "X-Amz-Security-Token"))
}

/// Reads an AWS4 signature claim from the request, or says why it is missing or malformed.
pub fn parse(parts: &RequestParts<'_>) -> Result<Claim, AuthError> {
    parse_with(parts, AWS_ONLY)
}

/// Reads a signature claim in one of `schemes` (the first is the one presigned queries use).
pub fn parse_with(
    parts: &RequestParts<'_>,
    schemes: &[&'static Scheme],
) -> Result<Claim, AuthError> {
    let authorization = parts.headers.get(http::header::AUTHORIZATION);
    let presigned_scheme = schemes.iter().copied().find(|s| {
        has_query_param(parts.query, &s.param("Algorithm"))
            || has_query_param(parts.query, &s.param("Signature"))
    });
    match (authorization, presigned_scheme) {
        (None, None) => Err(AuthError::Missing),
        (Some(_), Some(scheme)) => Err(incomplete(
            parts,
            Mode::Header,
            &format!(
                "Only one auth mechanism allowed; only the {} query parameter or the Authorization header should be specified.",
                scheme.param("Algorithm")
            ),
        )),
        (Some(value), None) => parse_header(parts, value, schemes),
        (None, Some(scheme)) => parse_presigned(parts, scheme),
    }
}

fn parse_header(
    parts: &RequestParts<'_>,
    value: &http::HeaderValue,
    schemes: &[&'static Scheme],
) -> Result<Claim, AuthError> {
    let raw = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let fail = |sentence: String| incomplete(parts, Mode::Header, &sentence);
    let (algorithm, rest) = raw.trim().split_once(' ').unwrap_or((raw.trim(), ""));
    let Some(scheme) = schemes.iter().copied().find(|s| s.algorithm == algorithm) else {
        return Err(fail(format!("Unsupported AWS 'algorithm': '{algorithm}'.")));
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let field = field.trim();
        if field.is_empty() {
            continue;
        }
        let Some((name, val)) = field.split_once('=') else {
            return Err(fail(format!(
                "Authorization header requires each component to be of the form key=value, got '{field}'."
            )));
        };
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(val.trim().to_string()).is_some() {
            return Err(fail(format!(
                "Authorization header has the '{}' parameter more than once.",
                name.trim()
            )));
        }
    }
    let credential = credential
        .ok_or_else(|| fail("Authorization header requires 'Credential' parameter.".into()))?;
    let signed_headers = signed_headers
        .ok_or_else(|| fail("Authorization header requires 'SignedHeaders' parameter.".into()))?;
    let signature = signature
        .ok_or_else(|| fail("Authorization header requires 'Signature' parameter.".into()))?;
    let (access_key_id, scope) = parse_credential(&credential, scheme, &fail)?;
    check_signed_headers(&signed_headers, Mode::Header, scheme, &fail)?;
    let amz_date = header_str(parts.headers, scheme.date_header).ok_or_else(|| {
        fail(format!(
            "Authorization header requires existence of either a '{}' or a 'Date' header.",
            scheme.date_param
        ))
    })?;
    let time = checked_amz_date(amz_date, scheme, &fail)?;
    check_signature_hex(&signature)?;
    Ok(Claim {
        scheme,
        access_key_id,
        scope,
        amz_date: amz_date.to_string(),
        time,
        signed_headers,
        signature,
        mode: Mode::Header,
        security_token: security_token(parts),
    })
}

fn parse_presigned(parts: &RequestParts<'_>, scheme: &'static Scheme) -> Result<Claim, AuthError> {
    let fail = |sentence: String| incomplete(parts, Mode::Presigned { expires: 0 }, &sentence);
    let require = |name: &str| {
        let name = &scheme.param(name);
        // A repeated auth parameter would let unsigned text ride along with a valid signature.
        if query_param_count(parts.query, name) > 1 {
            return Err(fail(format!(
                "AWS query-string parameters must include '{name}' only once."
            )));
        }
        query_param(parts.query, name).ok_or_else(|| {
            fail(format!(
                "AWS query-string parameters must include '{name}'."
            ))
        })
    };
    let algorithm = require("Algorithm")?;
    if let Some(token_count @ 2..) = Some(query_param_count(parts.query, "X-Amz-Security-Token")) {
        return Err(fail(format!(
            "AWS query-string parameters must include 'X-Amz-Security-Token' at most once, got {token_count}."
        )));
    }
    if algorithm != scheme.algorithm {
        return Err(fail(format!("Unsupported AWS 'algorithm': '{algorithm}'.")));
    }
    let credential = require("Credential")?;
    let amz_date = require("Date")?;
    let expires = require("Expires")?;
    let signed_headers = require("SignedHeaders")?;
    let signature = require("Signature")?;
    let expires: u64 = match expires.parse() {
        Ok(n) if (1..=MAX_PRESIGNED_EXPIRES).contains(&n) => n,
        _ => {
            return Err(fail(format!(
                "X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGNED_EXPIRES}, got '{expires}'."
            )));
        }
    };
    let mode = Mode::Presigned { expires };
    let (access_key_id, scope) = parse_credential(&credential, scheme, &fail)?;
    check_signed_headers(&signed_headers, mode, scheme, &fail)?;
    let time = checked_amz_date(&amz_date, scheme, &fail)?;
    check_signature_hex(&signature)?;
    Ok(Claim {
        scheme,
        access_key_id,
        scope,
        amz_date,
        time,
        signed_headers,
        signature,
        mode,
        security_token: security_token(parts),
    })
}

/// The scope date must be the date of `X-Amz-Date`, and the request must be within 15 minutes of
/// `now` either way. Presigned URLs get the same window whatever their `X-Amz-Expires` says, as AWS
/// STS treats them (aws/aws-sdk-go#2167): aws-iam-authenticator signs with 60 s and reuses the
/// URL for 14 minutes.
pub fn check_time(claim: &Claim, now: OffsetDateTime) -> Result<(), AuthError> {
    if !claim.amz_date.starts_with(&claim.scope.date) {
        return Err(AuthError::ScopeDateMismatch {
            scope_date: claim.scope.date.clone(),
            amz_date: claim.amz_date.clone(),
        });
    }
    if claim.time > now + MAX_SKEW {
        return Err(AuthError::NotYetCurrent {
            request: claim.amz_date.clone(),
            latest: format_amz_date(now + MAX_SKEW),
            now: format_amz_date(now),
        });
    }
    if claim.time < now - MAX_SKEW {
        return Err(AuthError::Expired {
            request: claim.amz_date.clone(),
            earliest: format_amz_date(now - MAX_SKEW),
            now: format_amz_date(now),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_window_is_fifteen_minutes() {
        let now = parse_amz_date("20220127T015928Z").unwrap();
        let mut claim = Claim {
            scheme: &Scheme::AWS4,
            access_key_id: "AKIDEXAMPLE".into(),
            scope: Scope {
                date: "20220127".into(),
                region: "us-east-1".into(),
                service: "sts".into(),
            },
            amz_date: "20220127T001427Z".into(),
            time: parse_amz_date("20220127T001427Z").unwrap(),
            signed_headers: "host;x-amz-date".into(),
            signature: "0".repeat(64),
            mode: Mode::Header,
            security_token: None,
        };
        assert_eq!(
            check_time(&claim, now).unwrap_err(),
            AuthError::Expired {
                request: "20220127T001427Z".into(),
                earliest: "20220127T014428Z".into(),
                now: "20220127T015928Z".into()
            }
        );
        claim.amz_date = "20220127T021500Z".into();
        claim.time = parse_amz_date(&claim.amz_date).unwrap();
        assert_eq!(
            check_time(&claim, now).unwrap_err(),
            AuthError::NotYetCurrent {
                request: "20220127T021500Z".into(),
                latest: "20220127T021428Z".into(),
                now: "20220127T015928Z".into()
            }
        );
        claim.amz_date = "20220127T020000Z".into();
        claim.time = parse_amz_date(&claim.amz_date).unwrap();
        assert!(check_time(&claim, now).is_ok());
    }
}

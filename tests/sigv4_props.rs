//! Property tests for the parsers that see untrusted bytes first: the SigV4 Authorization header
//! and presigned-query parser (`iamlite::sigv4::parse` and what runs after it), and the Query
//! protocol's parameter parser (`iamlite::query::Params::parse`).
//!
//! Each property runs 100,000 cases by default; set `PROPTEST_CASES` to change that (for example
//! `PROPTEST_CASES=1000000 cargo test --release --test sigv4_props`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{HeaderMap, HeaderValue};
use iamlite::query::Params;
use iamlite::sigv4::{self, RequestParts};
use iamlite::{ApiError, ErrorCode, Secret};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

const DEFAULT_CASES: u32 = 100_000;

thread_local! {
    /// Derived signing keys by scope (see `exercise`).
    static KEYS: std::cell::RefCell<std::collections::HashMap<String, sigv4::SigningKey>> =
        std::cell::RefCell::default();
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        // The runners are driven by hand (to count how deep cases get), so proptest cannot find
        // this file to store regressions next to; a failure prints the minimal input instead.
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    }
}

const SIGNATURE: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";

/// Pieces of real Authorization headers, so generated strings often get deep into the parser.
const HEADER_TOKENS: &[&str] = &[
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 ",
    "AWS4-ECDSA-P256-SHA256",
    " ",
    "  ",
    "\t",
    ",",
    ", ",
    "=",
    "/",
    ";",
    "Credential=",
    "SignedHeaders=",
    "Signature=",
    "AKIDEXAMPLE",
    "AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
    "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request",
    "20150830",
    "2015083",
    "us-east-1",
    "iam",
    "sts",
    "aws4_request",
    "host",
    "host;x-amz-date",
    "content-type;host;x-amz-date",
    "x-amz-date",
    "Host",
    SIGNATURE,
    "0",
    "f",
    "F",
    "\u{e9}",
    "\u{1234}",
];

/// Pieces of presigned query strings.
const QUERY_TOKENS: &[&str] = &[
    "&",
    "=",
    "%",
    "%2",
    "%zz",
    "%2F",
    "%3B",
    "%E1%88%B4",
    "%FF",
    "+",
    "X-Amz-Algorithm=",
    "AWS4-HMAC-SHA256",
    "X-Amz-Credential=",
    "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request",
    "AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request",
    "X-Amz-Date=",
    "20150830T123600Z",
    "99991231T235959Z",
    "00000101T000000Z",
    "X-Amz-Expires=",
    "3600",
    "604800",
    "604801",
    "0",
    "18446744073709551616",
    "X-Amz-SignedHeaders=",
    "host",
    "host%3Bx-amz-date",
    "X-Amz-Signature=",
    SIGNATURE,
    "X-Amz-Security-Token=",
    "X-Amz-%53ignature=",
    "Action=GetUser",
    "\u{1234}",
];

/// `X-Amz-Date` values, mostly the suite's timestamp (the clock below), plus the calendar's edges.
const DATE_TOKENS: &[&str] = &[
    "20150830T123600Z",
    "20150830T123600Z",
    "20150830T123600Z",
    "20150830T123600Z",
    "20150830T124600Z",
    "20150830T000000Z",
    "20150830T123600",
    "20150830",
    "99991231T235959Z",
    "00000101T000000Z",
    "20150230T000000Z",
    "20151330T000000Z",
    "20150830T246000Z",
    "+20150830T123600Z",
    "",
];

// Near-valid pieces of a signature claim: mostly right, sometimes wrong in one way.
const KEY_IDS: &[&str] = &[
    "AKIDEXAMPLE",
    "AKIDEXAMPLE",
    "AKIDEXAMPLE",
    "",
    "AKID EXAMPLE",
    "AKID=X",
];
const SCOPE_DATES: &[&str] = &[
    "20150830",
    "20150830",
    "20150830",
    "20150830",
    "20150829",
    "2015083",
    "2015-08-30",
    "",
    "99991231",
    "00000101",
];
const REGIONS: &[&str] = &["us-east-1", "us-east-1", "eu-west-2", "", "us east 1"];
const SERVICES: &[&str] = &["iam", "sts", "service", "", "s3"];
const TERMINATORS: &[&str] = &[
    "aws4_request",
    "aws4_request",
    "aws4_request",
    "aws4_requesu",
    "",
];
const PART_COUNTS: &[usize] = &[5, 5, 5, 5, 5, 4, 6, 1];
const ALGORITHMS: &[&str] = &[
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA1",
    "aws4-hmac-sha256",
    "",
];
const SIGNED_LISTS: &[&str] = &[
    "host;x-amz-date",
    "host;x-amz-date",
    "host;x-amz-date",
    "content-type;host;x-amz-date",
    "host;x-amz-date;x-amz-security-token",
    "host",
    "x-amz-date",
    "host;x-amz-date;x-amz-date",
    "Host;x-amz-date",
    "x-amz-date;host",
    "host;;x-amz-date",
    "host;x-absent;x-amz-date",
    "",
];
const PRESIGNED_SIGNED_LISTS: &[&str] = &[
    "host",
    "host",
    "content-type;host",
    "host;x-amz-date",
    "host;x-absent",
    "Host",
    "host;host",
    "x-amz-date",
    "",
];
const SIGNATURES: &[&str] = &[
    SIGNATURE,
    SIGNATURE,
    SIGNATURE,
    "5FA00FA31553B73EBF1942676E86291E8372FF2A2260956D9B8AAE1D763FBF31",
    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3",
    "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf3g",
    "",
];
const EXPIRES: &[&str] = &[
    "3600",
    "3600",
    "3600",
    "900",
    "1",
    "604800",
    "604801",
    "0",
    "-1",
    "1e3",
    "",
    "18446744073709551616",
];

/// The list's first (valid) entry nine times in ten, otherwise any entry: with a dozen such
/// choices per request, about a third of the requests come out entirely valid in shape.
fn pick<T: Copy + std::fmt::Debug + 'static>(list: &'static [T]) -> impl Strategy<Value = T> {
    prop_oneof![9 => Just(list[0]), 1 => prop::sample::select(list)]
}

/// A credential built from near-valid parts, sometimes with too few or too many of them.
fn credential() -> impl Strategy<Value = String> {
    (
        pick(KEY_IDS),
        pick(SCOPE_DATES),
        pick(REGIONS),
        pick(SERVICES),
        pick(TERMINATORS),
        pick(PART_COUNTS),
    )
        .prop_map(|(id, date, region, service, term, n)| {
            let parts = [id, date, region, service, term, "extra"];
            parts[..n].join("/")
        })
}

/// One optional byte-level edit: (position, byte, insert/delete/replace).
fn edit() -> impl Strategy<Value = Option<(usize, u8, u8)>> {
    prop::option::weighted(0.1, (any::<usize>(), any::<u8>(), 0u8..3))
}

fn apply_edit(mut s: Vec<u8>, edit: Option<(usize, u8, u8)>, header_safe: bool) -> Vec<u8> {
    if let Some((pos, mut byte, op)) = edit {
        if header_safe && byte != b'\t' && (byte < 0x20 || byte == 0x7f) {
            byte = b' ';
        }
        let at = if s.is_empty() { 0 } else { pos % s.len() };
        match op {
            0 => s.insert(at, byte),
            1 if !s.is_empty() => {
                s.remove(at);
            }
            _ if !s.is_empty() => s[at] = byte,
            _ => s.push(byte),
        }
    }
    s
}

/// Authorization headers that are right but for (usually) one thing: field order, separators,
/// a repeated, unknown or missing field, one wrong part, or one edited byte.
fn near_valid_authorization() -> impl Strategy<Value = Vec<u8>> {
    (
        pick(ALGORITHMS),
        pick(&[" ", " ", " ", "  ", "\t"]),
        credential(),
        pick(SIGNED_LISTS),
        pick(SIGNATURES),
        pick(&[", ", ", ", ", ", ",", " , ", ",,"]),
        Just(vec![0usize, 1, 2]).prop_shuffle(),
        pick(&[
            "",
            "",
            "",
            "",
            "Foo=bar",
            "Signature=00",
            "Credential",
            "SignedHeaders=host",
        ]),
        prop::option::weighted(0.05, 0usize..3),
        edit(),
    )
        .prop_map(
            |(alg, gap, cred, signed, sig, sep, order, extra, dropped, edit)| {
                let fields = [
                    format!("Credential={cred}"),
                    format!("SignedHeaders={signed}"),
                    format!("Signature={sig}"),
                ];
                let mut parts: Vec<&str> = order
                    .iter()
                    .filter(|&&i| Some(i) != dropped)
                    .map(|&i| fields[i].as_str())
                    .collect();
                if !extra.is_empty() {
                    parts.push(extra);
                }
                let value = format!("{alg}{gap}{}", parts.join(sep));
                apply_edit(value.into_bytes(), edit, true)
            },
        )
}

/// Presigned query strings that are right but for (usually) one thing.
fn near_valid_presigned_query() -> impl Strategy<Value = String> {
    (
        pick(ALGORITHMS),
        credential(),
        pick(DATE_TOKENS),
        pick(EXPIRES),
        pick(PRESIGNED_SIGNED_LISTS),
        pick(SIGNATURES),
        (any::<bool>(), any::<bool>()),
        pick(&[
            "",
            "",
            "",
            "X-Amz-Security-Token=tok%2Fen",
            "Action=GetUser",
            "X-Amz-Signature=00",
        ]),
        any::<prop::sample::Index>(),
        prop::option::weighted(0.05, 0usize..6),
        edit(),
    )
        .prop_map(
            |(
                alg,
                cred,
                date,
                expires,
                signed,
                sig,
                (enc_cred, enc_list),
                extra,
                at,
                dropped,
                edit,
            )| {
                let cred = if enc_cred {
                    cred.replace('/', "%2F")
                } else {
                    cred
                };
                let signed = if enc_list {
                    signed.replace(';', "%3B")
                } else {
                    signed.to_string()
                };
                let mut pairs: Vec<String> = [
                    ("X-Amz-Algorithm", alg.to_string()),
                    ("X-Amz-Credential", cred),
                    ("X-Amz-Date", date.to_string()),
                    ("X-Amz-Expires", expires.to_string()),
                    ("X-Amz-SignedHeaders", signed),
                    ("X-Amz-Signature", sig.to_string()),
                ]
                .into_iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != dropped)
                .map(|(_, (k, v))| format!("{k}={v}"))
                .collect();
                if !extra.is_empty() {
                    let i = at.index(pairs.len() + 1);
                    pairs.insert(i, extra.to_string());
                }
                let query = pairs.join("&");
                String::from_utf8_lossy(&apply_edit(query.into_bytes(), edit, false)).into_owned()
            },
        )
}

/// Up to `max` pieces, each a token (four times in five) or up to 8 printable ASCII characters,
/// all drawn from one `u64` per piece: far cheaper in debug builds than a union per piece.
fn from_tokens(tokens: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u64>(), 0..max).prop_map(move |pieces| {
        let mut out = String::new();
        for v in pieces {
            if v % 5 != 0 {
                out.push_str(tokens[(v / 5) as usize % tokens.len()]);
            } else {
                let len = (v >> 3) % 9;
                for i in 0..len {
                    out.push(char::from(0x20 + ((v >> (8 + 7 * i)) % 95) as u8));
                }
            }
        }
        out
    })
}

/// Arbitrary Unicode text (any `char`, including controls and non-BMP).
fn unicode(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// Bytes a header value may hold (hyper refuses the others): HTAB, visible ASCII, space, obs-text.
/// Drawn eight at a time from `u64`s, with control characters mapped to a space: many times cheaper
/// in debug builds than a strategy per byte.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(any::<u64>(), 0..20), 0usize..8).prop_map(|(words, trim)| {
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes.truncate(bytes.len().saturating_sub(trim));
        for b in &mut bytes {
            if *b != b'\t' && (*b < 0x20 || *b == 0x7f) {
                *b = b' ';
            }
        }
        bytes
    })
}

fn authorization() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => near_valid_authorization(),
        2 => from_tokens(HEADER_TOKENS, 24).prop_map(String::into_bytes),
        1 => header_bytes(),
    ]
}

fn query() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => near_valid_presigned_query(),
        2 => from_tokens(QUERY_TOKENS, 24),
        1 => unicode(48),
        1 => Just(String::new()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => from_tokens(&["/", ".", "..", "//", "%20", "%2F", "a", "\u{1234}", "~", "%"], 12),
        1 => unicode(48),
    ]
}

fn amz_date() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(
        0.95,
        prop_oneof![
            12 => pick(DATE_TOKENS).prop_map(|s| s.as_bytes().to_vec()),
            1 => header_bytes(),
        ],
    )
}

/// Runs everything the server runs after `parse` on a claim, with a sane clock, and checks that
/// every refusal carries one of the codes the design note allows for authentication.
fn exercise(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    authority: Option<&str>,
) -> Result<Reached, TestCaseError> {
    let now = sigv4::parse_amz_date("20150830T123600Z").unwrap();
    let payload = sigv4::payload_hash(b"");
    let parts = RequestParts {
        method,
        path,
        query,
        headers,
        authority,
        payload_sha256: &payload,
    };
    let claim = match sigv4::parse(&parts).map_err(ApiError::from) {
        Ok(claim) => claim,
        Err(e) => {
            prop_assert!(
                matches!(
                    e.code,
                    ErrorCode::IncompleteSignature
                        | ErrorCode::SignatureDoesNotMatch
                        | ErrorCode::MissingAuthenticationToken
                ),
                "parse gave {e}"
            );
            return Ok(Reached::Parse);
        }
    };
    prop_assert_eq!(claim.signature.len(), 64);
    let timely = sigv4::check_time(&claim, now).map_err(ApiError::from);
    if let Err(e) = &timely {
        prop_assert!(
            e.code == ErrorCode::SignatureDoesNotMatch,
            "check_time gave {e}"
        );
    }
    match sigv4::canonical_request(&parts, &claim).map_err(ApiError::from) {
        Ok(canonical) => {
            let sts = sigv4::string_to_sign(&claim, &canonical);
            // The key is derived only for requests inside the time window, as in auth.rs.
            if timely.is_ok() {
                // Derived keys are cached per scope, as auth.rs does: the four HMACs dominate
                // the cost of a case in debug builds, and timely claims have few distinct scopes.
                let key = KEYS.with(|keys| {
                    keys.borrow_mut()
                        .entry(claim.scope_string())
                        .or_insert_with(|| sigv4::signing_key(&Secret::new("secret"), &claim))
                        .clone()
                });
                let verdict = sigv4::verify(&claim, &key, &sts).map_err(ApiError::from);
                if let Err(e) = verdict {
                    prop_assert_eq!(e.code, ErrorCode::SignatureDoesNotMatch);
                }
                return Ok(Reached::Verify);
            }
            Ok(Reached::Canonical)
        }
        Err(e) => {
            prop_assert_eq!(e.code, ErrorCode::IncompleteSignature);
            Ok(Reached::Claim)
        }
    }
}

/// How far into verification a generated request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// Refused by `parse`.
    Parse,
    /// Parsed, refused while building the canonical request.
    Claim,
    /// Canonical request built; outside the time window.
    Canonical,
    /// Inside the window: key derived and signature compared.
    Verify,
}

/// Counts how far the cases of a property got, so a generator that stops reaching the signature
/// comparison is noticed (printed, and asserted by the callers).
#[derive(Default)]
struct Depth([std::cell::Cell<usize>; 4]);

impl Depth {
    fn note(&self, reached: Reached) {
        let c = &self.0[reached as usize];
        c.set(c.get() + 1);
    }

    fn report(&self, name: &str, elapsed: std::time::Duration) -> [usize; 4] {
        let c = self.0.each_ref().map(std::cell::Cell::get);
        println!(
            "{name}: {} cases in {:.1} s: {} refused by parse, {} parsed but refused building the canonical request, {} outside the time window, {} reached the signature comparison",
            c.iter().sum::<usize>(),
            elapsed.as_secs_f64(),
            c[0],
            c[1],
            c[2],
            c[3]
        );
        c
    }
}

/// Runs `test` on `config().cases` values of `strategy`, then reports how deep they got and
/// checks that every stage was reached by at least 1% of the cases.
fn run_sigv4_property<S: Strategy>(
    name: &str,
    strategy: S,
    test: impl Fn(S::Value) -> Result<Reached, TestCaseError>,
) {
    let depth = Depth::default();
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config());
    let result = runner.run(&strategy, |value| {
        depth.note(test(value)?);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let counts = depth.report(name, started.elapsed());
    let total: usize = counts.iter().sum();
    // Minimum share per stage, in per mille: the generators aim at the signature comparison.
    let minimum = [
        ("parse", 10),
        ("claim", 2),
        ("canonical", 2),
        ("verify", 50),
    ];
    for ((stage, per_mille), count) in minimum.iter().zip(counts) {
        assert!(
            count * 1000 >= total * per_mille,
            "{name}: only {count} of {total} cases stopped at the {stage} stage (want {per_mille}‰); the generator drifted"
        );
    }
}

#[test]
fn authorization_header_parser_never_panics() {
    let strategy = (
        authorization(),
        amz_date(),
        prop_oneof![3 => Just(String::new()), 1 => query()],
        path(),
        prop::option::weighted(0.3, header_bytes()),
        any::<bool>(),
    );
    run_sigv4_property(
        "Authorization header",
        strategy,
        |(auth, date, query, path, content_type, http2)| {
            let mut headers = HeaderMap::new();
            headers.insert("authorization", HeaderValue::from_bytes(&auth).unwrap());
            if let Some(date) = date {
                headers.insert("x-amz-date", HeaderValue::from_bytes(&date).unwrap());
            }
            if let Some(value) = content_type {
                headers.append("content-type", HeaderValue::from_bytes(&value).unwrap());
            }
            if !http2 {
                headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
            }
            let authority = http2.then_some("example.amazonaws.com");
            exercise("POST", &path, &query, &headers, authority)
        },
    );
}

#[test]
fn presigned_query_parser_never_panics() {
    let strategy = (query(), path(), 0u8..3);
    run_sigv4_property("presigned query", strategy, |(query, path, host)| {
        let mut headers = HeaderMap::new();
        // Host header, :authority, or neither (refused when `host` is signed).
        if host == 0 {
            headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        }
        let authority = (host == 1).then_some("example.amazonaws.com");
        exercise("GET", &path, &query, &headers, authority)
    });
}

/// Arbitrary bytes (drawn eight at a time, as in `header_bytes`), with no restriction at all.
fn raw_bytes() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(any::<u64>(), 0..16), 0usize..8).prop_map(|(words, trim)| {
        let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        bytes.truncate(bytes.len().saturating_sub(trim));
        bytes
    })
}

/// Form data: arbitrary bytes, query-like tokens, or valid escapes of arbitrary (also non-UTF-8)
/// bytes, so that accepted and refused inputs are both common.
fn form_data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => prop::collection::vec((unicode(6), unicode(6), any::<bool>()), 0..5).prop_map(
            |pairs| {
                pairs
                    .iter()
                    .map(|(k, v, bare)| {
                        if *bare && v.is_empty() {
                            form_encode(k)
                        } else {
                            format!("{}={}", form_encode(k), form_encode(v))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("&")
                    .into_bytes()
            }
        ),
        1 => raw_bytes(),
        2 => from_tokens(QUERY_TOKENS, 16).prop_map(String::into_bytes),
        1 => raw_bytes().prop_map(|bytes| {
            bytes
                .iter()
                .map(|b| match b % 4 {
                    0 => format!("%{b:02X}"),
                    1 => "&".to_string(),
                    2 => "=".to_string(),
                    _ => char::from(b'a' + b % 26).to_string(),
                })
                .collect::<String>()
                .into_bytes()
        }),
    ]
}

/// Encodes like an HTML form: alphanumerics and `-._~*` as they are, space as `+`, the rest `%XX`.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"-._~*".contains(&b) => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `Params::parse` on arbitrary bytes either fails with MalformedQueryString or yields the pairs a
/// straightforward form decoder yields (first value wins).
#[test]
fn params_parse_never_panics_and_matches_a_reference_decoder() {
    let (accepted, refused) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    let started = std::time::Instant::now();
    let mut runner = TestRunner::new(config());
    let result = runner.run(&(form_data(), form_data()), |(query, body)| {
        let reference = reference_pairs(&query).and_then(|mut q| {
            q.extend(reference_pairs(&body)?);
            Some(q)
        });
        match (Params::parse(&query, &body), reference) {
            (Ok(params), Some(pairs)) => {
                accepted.set(accepted.get() + 1);
                for (name, _) in &pairs {
                    let first = pairs
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.as_str());
                    prop_assert_eq!(params.get(name), first);
                }
            }
            (Err(e), None) => {
                refused.set(refused.get() + 1);
                prop_assert_eq!(e.code, ErrorCode::MalformedQueryString);
            }
            (Ok(_), None) => prop_assert!(false, "accepted what the reference refuses"),
            (Err(e), Some(_)) => prop_assert!(false, "refused what the reference accepts: {e}"),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("Params::parse: {e}");
    }
    let (accepted, refused) = (accepted.get(), refused.get());
    println!(
        "Params::parse: {} cases in {:.1} s: {accepted} parsed, {refused} refused as MalformedQueryString",
        accepted + refused,
        started.elapsed().as_secs_f64()
    );
    assert!(
        accepted * 10 >= accepted + refused && refused * 10 >= accepted + refused,
        "the generator drifted: {accepted} parsed, {refused} refused"
    );
}

/// A plain `application/x-www-form-urlencoded` decoder: `&`-separated, empty parts skipped, the
/// first `=` splits name and value, `+` is a space, `%XX` a byte, and the result must be UTF-8.
fn reference_pairs(data: &[u8]) -> Option<Vec<(String, String)>> {
    fn decode(raw: &[u8]) -> Option<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            match raw[i] {
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b'%' => {
                    let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
                    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).ok()
    }
    data.split(|&b| b == b'&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = match part.iter().position(|&b| b == b'=') {
                Some(eq) => (&part[..eq], &part[eq + 1..]),
                None => (part, &b""[..]),
            };
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

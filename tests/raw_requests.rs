//! Raw, hand-signed HTTP requests: what the AWS SDKs never send (broken signatures, skewed clocks,
//! presigned URLs, malformed bodies, oversized bodies, races), checked against the wire contract in
//! `shared/reference/sigv4-verification.md` §8–9 and `iam-api.md` §1.2, §1.4, §1.8.
//!
//! Every response is checked for its exact status, `<Code>` and `<Message>`, `Content-Type: text/xml`,
//! and an `x-amzn-RequestId` header that is a lowercase UUID equal to the body's `<RequestId>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/signer.rs"]
mod signer;

use common::{aws_error, expect_error, root_iam};
use iamlite::Server;
use signer::{RawRequest, RawResponse, Signer};
use std::collections::HashSet;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::format_description;

const IAM_NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const LIST_USERS: &str = "Action=ListUsers&Version=2010-05-08";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const ONE_MIB: usize = 1024 * 1024;

// --- helpers ------------------------------------------------------------------------------------

async fn start() -> Server {
    Server::start_in_memory().await.expect("iamlite starts")
}

fn host(server: &Server) -> String {
    server.local_addr().to_string()
}

fn root_signer(server: &Server) -> Signer {
    let (id, secret) = server.root_credentials();
    Signer::new(id, secret)
}

/// `POST /` with `body`, header-signed by the root key for `iam` now.
fn signed_post(server: &Server, body: impl Into<Vec<u8>>) -> RawRequest {
    let mut req = RawRequest::form_post(&host(server), body);
    root_signer(server).sign(&mut req);
    req
}

async fn send(server: &Server, req: &RawRequest) -> RawResponse {
    signer::send(server.local_addr(), req).await
}

/// Content type and request id of any response; returns the request id.
fn check_envelope(resp: &RawResponse) -> String {
    assert_eq!(resp.header("content-type"), Some("text/xml"), "{resp:?}");
    let header_id = resp
        .header("x-amzn-requestid")
        .unwrap_or_else(|| panic!("no x-amzn-RequestId header: {resp:?}"))
        .to_string();
    let body_id = resp
        .element("RequestId")
        .unwrap_or_else(|| panic!("no RequestId in the body: {resp:?}"));
    assert_eq!(header_id, body_id, "{resp:?}");
    let parsed = uuid::Uuid::parse_str(&header_id)
        .unwrap_or_else(|e| panic!("request id {header_id:?} is not a UUID: {e}"));
    assert_eq!(
        parsed.hyphenated().to_string(),
        header_id,
        "request id is not a lowercase hyphenated UUID"
    );
    header_id
}

/// Exact status, code and message of an error response, plus its envelope.
fn assert_error(resp: &RawResponse, status: u16, code: &str, message: &str) {
    check_envelope(resp);
    assert_eq!(
        (
            resp.status,
            resp.element("Code").as_deref(),
            resp.element("Message").as_deref()
        ),
        (status, Some(code), Some(message)),
        "body: {}",
        resp.body
    );
    assert_eq!(resp.element("Type").as_deref(), Some("Sender"), "{resp:?}");
    assert!(resp.body.starts_with("<ErrorResponse xmlns="), "{resp:?}");
}

/// Errors raised before an operation is found carry AWS's generic fault namespace.
fn assert_fault_namespace(resp: &RawResponse) {
    assert!(
        resp.body.starts_with(
            "<ErrorResponse xmlns=\"http://webservices.amazon.com/AWSFault/2005-15-09\">"
        ),
        "{}",
        resp.body
    );
}

/// A 200 `<{action}Response>` in `namespace`; returns the request id.
fn assert_success(resp: &RawResponse, action: &str, namespace: &str) -> String {
    assert_eq!(resp.status, 200, "body: {}", resp.body);
    let open = format!("<{action}Response xmlns=\"{namespace}\">");
    assert!(resp.body.starts_with(&open), "{resp:?}");
    check_envelope(resp)
}

async fn user_names(server: &Server) -> Vec<String> {
    root_iam(server)
        .list_users()
        .send()
        .await
        .expect("ListUsers through the SDK")
        .users()
        .iter()
        .map(|u| u.user_name().to_string())
        .collect()
}

/// The store holds exactly `expected` users and the server still answers a raw signed request.
async fn assert_unchanged_and_alive(server: &Server, expected: &[&str]) {
    assert_eq!(user_names(server).await, expected);
    let resp = send(server, &signed_post(server, LIST_USERS)).await;
    assert_success(&resp, "ListUsers", IAM_NAMESPACE);
}

fn amz_date(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap()
}

fn parse_amz_date(s: &str) -> OffsetDateTime {
    time::PrimitiveDateTime::parse(
        s,
        format_description!("[year][month][day]T[hour][minute][second]Z"),
    )
    .unwrap_or_else(|e| panic!("{s:?} is not YYYYMMDD'T'HHMMSS'Z': {e}"))
    .assume_utc()
}

/// Checks `"<lead><request> is <relation> <bound> (<now> <op> 15 min.)"` where `now` is the
/// server's clock between `before` and `after`, and `bound` is `now` moved by 15 minutes.
fn check_window_message(
    message: &str,
    lead: &str,
    request_date: &str,
    relation: &str,
    op: char,
    before: OffsetDateTime,
    after: OffsetDateTime,
) {
    let prefix = format!("{lead}{request_date} is {relation} ");
    let rest = message
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{message:?} does not start with {prefix:?}"));
    let (bound, rest) = rest
        .split_once(" (")
        .unwrap_or_else(|| panic!("no ' (' in {message:?}"));
    let now = rest
        .strip_suffix(&format!(" {op} 15 min.)"))
        .unwrap_or_else(|| panic!("{message:?} does not end with ' {op} 15 min.)'"));
    for stamp in [bound, now] {
        assert_eq!(stamp.len(), 16, "{stamp:?} in {message:?}");
    }
    let (bound, now) = (parse_amz_date(bound), parse_amz_date(now));
    let fifteen = time::Duration::minutes(15);
    let expected_bound = if op == '-' {
        now - fifteen
    } else {
        now + fifteen
    };
    assert_eq!(bound, expected_bound, "{message:?}");
    let slack = time::Duration::seconds(2);
    assert!(
        now >= before - slack && now <= after + slack,
        "server clock {now} not within {before}..{after}: {message:?}"
    );
}

/// Sends the root-signed ListUsers POST after `mutate`, expecting 400 IncompleteSignature with
/// `sentence` followed by ` Authorization=<the header as sent>`.
async fn expect_incomplete_header(
    mutate: impl FnOnce(&mut RawRequest),
    sentence: impl FnOnce(&RawRequest) -> String,
) {
    let server = start().await;
    let mut req = signed_post(&server, LIST_USERS);
    mutate(&mut req);
    let resp = send(&server, &req).await;
    let message = format!("{} Authorization={}", sentence(&req), req.authorization());
    assert_error(&resp, 400, "IncompleteSignature", &message);
    assert_unchanged_and_alive(&server, &[]).await;
}

/// The root-signed presigned `GET /?ListUsers` valid for `expires`.
fn presigned_list_users(server: &Server, signer: &Signer, expires: Duration) -> RawRequest {
    let mut req = RawRequest::get(&host(server), LIST_USERS);
    signer.presign(&mut req, expires);
    req
}

// --- valid requests -------------------------------------------------------------------------------

#[tokio::test]
async fn header_signed_post_list_users_succeeds() {
    let server = start().await;
    let req = signed_post(&server, LIST_USERS);
    assert_eq!(
        req.header("x-amz-date").map(str::len),
        Some(16),
        "the oracle signer adds X-Amz-Date"
    );
    assert!(
        req.authorization()
            .contains("SignedHeaders=content-type;host;x-amz-date, Signature="),
        "{}",
        req.authorization()
    );
    let resp = send(&server, &req).await;
    assert_success(&resp, "ListUsers", IAM_NAMESPACE);
    assert!(resp.body.contains("<Users/>"), "{}", resp.body);
    assert_eq!(
        resp.element("IsTruncated").as_deref(),
        Some("false"),
        "{}",
        resp.body
    );
}

#[tokio::test]
async fn header_signed_get_with_query_string_succeeds() {
    let server = start().await;
    root_iam(&server)
        .create_user()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    let mut req = RawRequest::get(&host(&server), LIST_USERS);
    root_signer(&server).sign(&mut req);
    assert!(
        req.authorization()
            .contains("SignedHeaders=host;x-amz-date,"),
        "{}",
        req.authorization()
    );
    let resp = send(&server, &req).await;
    assert_success(&resp, "ListUsers", IAM_NAMESPACE);
    assert_eq!(resp.element("UserName").as_deref(), Some("alice"));
}

#[tokio::test]
async fn get_caller_identity_signed_for_sts_succeeds() {
    let server = start().await;
    let mut req = RawRequest::form_post(
        &host(&server),
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    root_signer(&server).service("sts").sign(&mut req);
    let resp = send(&server, &req).await;
    assert_success(&resp, "GetCallerIdentity", STS_NAMESPACE);
    assert_eq!(
        resp.element("Arn").as_deref(),
        Some("arn:aws:iam::123456789012:root")
    );
    assert_eq!(resp.element("Account").as_deref(), Some("123456789012"));
    let extended = sts_extended_request_id(&resp);
    // The region is the one the request was signed for.
    assert!(extended.starts_with("1:eu-west-2:S:"), "{extended}");

    // Errors from STS carry it too, and IAM answers never do.
    let mut req = RawRequest::form_post(
        &host(&server),
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    Signer::new("AKIAUNKNOWNUNKNOWN00", "x")
        .service("sts")
        .sign(&mut req);
    let resp = send(&server, &req).await;
    assert_eq!(resp.status, 403, "{}", resp.body);
    sts_extended_request_id(&resp);
    let resp = send(&server, &signed_post(&server, LIST_USERS)).await;
    assert_eq!(resp.header("x-amz-sts-extended-request-id"), None);
}

/// Decodes STS's `x-amz-sts-extended-request-id` and checks its shape:
/// `1:<region>:S:<epoch ms>:R:<8 alphanumerics>`.
fn sts_extended_request_id(resp: &RawResponse) -> String {
    let header = resp
        .header("x-amz-sts-extended-request-id")
        .unwrap_or_else(|| panic!("no x-amz-sts-extended-request-id: {resp:?}"));
    let decoded = data_encoding::BASE64
        .decode(header.as_bytes())
        .expect("base64 extended request id");
    let text = String::from_utf8(decoded).expect("utf-8 extended request id");
    let fields: Vec<&str> = text.split(':').collect();
    assert_eq!(fields.len(), 6, "{text}");
    assert_eq!((fields[0], fields[2], fields[4]), ("1", "S", "R"), "{text}");
    assert!(fields[3].parse::<u64>().is_ok(), "{text}");
    assert!(
        fields[5].len() == 8 && fields[5].bytes().all(|b| b.is_ascii_alphanumeric()),
        "{text}"
    );
    text
}

#[tokio::test]
async fn iam_action_signed_for_sts_is_an_invalid_action() {
    let server = start().await;
    let mut req = RawRequest::form_post(&host(&server), "Action=ListUsers&Version=2011-06-15");
    root_signer(&server).service("sts").sign(&mut req);
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        400,
        "InvalidAction",
        "Could not find operation ListUsers for version 2011-06-15",
    );
    // Protocol-level errors come in AWS's generic fault namespace, as real STS writes them.
    assert_fault_namespace(&resp);

    // With IAM's version the message names the version that was sent.
    let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
    root_signer(&server).service("sts").sign(&mut req);
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        400,
        "InvalidAction",
        "Could not find operation ListUsers for version 2010-05-08",
    );
}

// --- missing and malformed authentication ---------------------------------------------------------

#[tokio::test]
async fn unsigned_request_is_missing_authentication_token() {
    let server = start().await;
    let req = RawRequest::form_post(&host(&server), LIST_USERS);
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
    );
    let resp = send(&server, &RawRequest::get(&host(&server), LIST_USERS)).await;
    assert_error(
        &resp,
        403,
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
    );
}

#[tokio::test]
async fn authorization_without_credential_is_incomplete_signature() {
    expect_incomplete_header(
        |req| {
            req.edit_authorization(|a| {
                let start = a.find("Credential=").unwrap();
                let end = a.find("SignedHeaders=").unwrap();
                format!("{}{}", &a[..start], &a[end..])
            });
        },
        |_| "Authorization header requires 'Credential' parameter.".to_string(),
    )
    .await;
}

#[tokio::test]
async fn authorization_without_signed_headers_is_incomplete_signature() {
    expect_incomplete_header(
        |req| {
            req.edit_authorization(|a| {
                let start = a.find("SignedHeaders=").unwrap();
                let end = a.find("Signature=").unwrap();
                format!("{}{}", &a[..start], &a[end..])
            });
        },
        |_| "Authorization header requires 'SignedHeaders' parameter.".to_string(),
    )
    .await;
}

#[tokio::test]
async fn authorization_without_signature_is_incomplete_signature() {
    expect_incomplete_header(
        |req| {
            req.edit_authorization(|a| {
                let end = a.find(", Signature=").unwrap();
                a[..end].to_string()
            });
        },
        |_| "Authorization header requires 'Signature' parameter.".to_string(),
    )
    .await;
}

#[tokio::test]
async fn authorization_with_another_algorithm_is_incomplete_signature() {
    expect_incomplete_header(
        |req| {
            req.edit_authorization(|a| a.replacen("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", 1));
        },
        |_| "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.".to_string(),
    )
    .await;
}

#[tokio::test]
async fn credential_with_four_parts_is_incomplete_signature() {
    expect_incomplete_header(
        |req| {
            req.edit_authorization(|a| a.replacen("/iam/aws4_request", "/aws4_request", 1));
        },
        |req| {
            let auth = req.authorization();
            let start = auth.find("Credential=").unwrap() + "Credential=".len();
            let end = start + auth[start..].find(',').unwrap();
            let credential = &auth[start..end];
            assert_eq!(credential.split('/').count(), 4, "{credential}");
            format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'."
            )
        },
    )
    .await;
}

#[tokio::test]
async fn signed_headers_without_host_is_incomplete_signature() {
    expect_incomplete_header(
        |req| {
            req.edit_authorization(|a| {
                a.replacen(
                    "SignedHeaders=content-type;host;x-amz-date",
                    "SignedHeaders=content-type;x-amz-date",
                    1,
                )
            });
        },
        |_| "SignedHeaders must include 'host'.".to_string(),
    )
    .await;
}

#[tokio::test]
async fn signed_headers_without_x_amz_date_is_incomplete_signature() {
    expect_incomplete_header(
        |req| {
            req.edit_authorization(|a| {
                a.replacen(
                    "SignedHeaders=content-type;host;x-amz-date",
                    "SignedHeaders=content-type;host",
                    1,
                )
            });
        },
        |_| "SignedHeaders must include 'x-amz-date'.".to_string(),
    )
    .await;
}

#[tokio::test]
async fn missing_x_amz_date_header_is_incomplete_signature() {
    expect_incomplete_header(
        |req| req.remove_header("x-amz-date"),
        |_| {
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .to_string()
        },
    )
    .await;
}

#[tokio::test]
async fn x_amz_date_not_in_iso8601_basic_format_is_incomplete_signature() {
    expect_incomplete_header(
        |req| {
            let basic = req.header("x-amz-date").unwrap().to_string();
            // 20260101T120000Z -> 2026-01-01T12:00:00Z
            let extended = format!(
                "{}-{}-{}T{}:{}:{}Z",
                &basic[0..4],
                &basic[4..6],
                &basic[6..8],
                &basic[9..11],
                &basic[11..13],
                &basic[13..15]
            );
            req.set_header("x-amz-date", &extended);
        },
        |req| {
            format!(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\", got '{}'.",
                req.header("x-amz-date").unwrap()
            )
        },
    )
    .await;
}

#[tokio::test]
async fn signed_header_absent_from_the_request_is_incomplete_signature() {
    expect_incomplete_header(
        |req| req.remove_header("content-type"),
        |_| {
            "'content-type' is named as a SignedHeader, but it does not exist in the HTTP request."
                .to_string()
        },
    )
    .await;
}

// --- keys and signatures --------------------------------------------------------------------------

#[tokio::test]
async fn unknown_access_key_id_is_invalid_client_token_id() {
    let server = start().await;
    let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
    Signer::new(
        "AKIAIOSFODNN7EXAMPLF",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    )
    .sign(&mut req);
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
}

#[tokio::test]
async fn security_token_with_a_long_term_key_is_invalid_client_token_id() {
    let server = start().await;
    let token = "FwoGZXIvYXdzEBYaDHqa0AP1/k9Ag1DDxCKwAVzbC1ZLtwVSQ8S4j2ysqEg==";
    let signer = root_signer(&server).session_token(token);

    let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
    signer.sign(&mut req);
    assert_eq!(req.header("x-amz-security-token"), Some(token));
    assert!(
        req.authorization()
            .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
        "{}",
        req.authorization()
    );
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );

    // The same in a presigned URL (X-Amz-Security-Token in the signed query).
    let req = presigned_list_users(&server, &signer, Duration::from_secs(60));
    assert!(
        req.query_param("X-Amz-Security-Token").is_some(),
        "{}",
        req.target
    );
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
}

#[tokio::test]
async fn security_token_outside_the_signature_mode_is_still_invalid_client_token_id() {
    let server = start().await;
    let token = "FwoGZXIvYXdzEBYaDHqa0AP1/k9Ag1DDxCKwAVzbC1ZLtwVSQ8S4j2ysqEg==";

    // Header auth, token in the query string (signed along with the rest of the query).
    let mut req = RawRequest::get(
        &host(&server),
        &format!("{LIST_USERS}&X-Amz-Security-Token=abc"),
    );
    root_signer(&server).sign(&mut req);
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );

    // Presigned URL, token as an (unsigned) header.
    let mut req = presigned_list_users(&server, &root_signer(&server), Duration::from_secs(60));
    req.set_header("x-amz-security-token", token);
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
    assert_unchanged_and_alive(&server, &[]).await;
}

#[tokio::test]
async fn signed_content_hash_that_is_not_the_body_hash_is_signature_does_not_match() {
    let server = start().await;
    let body = "Action=CreateUser&Version=2010-05-08&UserName=mallory";
    for claimed in ["0".repeat(64), "UNSIGNED-PAYLOAD".to_string()] {
        // The signature covers the header and the real body hash, so only the claim is false.
        let mut req = RawRequest::form_post(&host(&server), body);
        req.set_header("x-amz-content-sha256", &claimed);
        root_signer(&server).sign(&mut req);
        assert!(
            req.authorization().contains("x-amz-content-sha256"),
            "{}",
            req.authorization()
        );
        let resp = send(&server, &req).await;
        assert_error(&resp, 403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH);
    }
    assert_unchanged_and_alive(&server, &[]).await;

    // With the true hash the same request is served.
    let mut req = RawRequest::form_post(&host(&server), body);
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
    req.set_header("x-amz-content-sha256", &hash);
    root_signer(&server).sign(&mut req);
    assert_success(&send(&server, &req).await, "CreateUser", IAM_NAMESPACE);
}

#[tokio::test]
async fn wrong_secret_is_signature_does_not_match() {
    let server = start().await;
    let (id, _) = server.root_credentials();
    let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
    Signer::new(id, "not-the-secret-not-the-secret-not-the-sec").sign(&mut req);
    let resp = send(&server, &req).await;
    assert_error(&resp, 403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH);
}

#[tokio::test]
async fn signature_that_is_not_64_lowercase_hex_is_signature_does_not_match() {
    let server = start().await;
    let req = signed_post(&server, LIST_USERS);
    let auth = req.authorization();
    let (head, signature) = auth.split_once("Signature=").unwrap();
    assert_eq!(signature.len(), 64);
    let variants = [
        signature[..63].to_string(),
        format!("{signature}0"),
        signature.to_ascii_uppercase(),
        format!("{}g", &signature[..63]),
        String::new(),
    ];
    for bad in variants {
        let mut broken = req.clone();
        broken.set_header("authorization", &format!("{head}Signature={bad}"));
        let resp = send(&server, &broken).await;
        assert_error(&resp, 403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH);
    }
    // The untouched request is fine.
    assert_success(&send(&server, &req).await, "ListUsers", IAM_NAMESPACE);
}

#[tokio::test]
async fn body_tampered_after_signing_is_rejected_and_creates_nothing() {
    let server = start().await;
    let mut req = signed_post(
        &server,
        "Action=CreateUser&Version=2010-05-08&UserName=mallory",
    );
    let at = req.body.len() - 1;
    assert_eq!(req.body[at], b'y');
    req.body[at] = b'i';
    assert_eq!(
        req.body,
        b"Action=CreateUser&Version=2010-05-08&UserName=mallori"
    );
    let resp = send(&server, &req).await;
    assert_error(&resp, 403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH);
    for name in ["mallory", "mallori"] {
        let err = aws_error(root_iam(&server).get_user().user_name(name).send().await);
        expect_error(
            err,
            404,
            "NoSuchEntity",
            &format!("The user with name {name} cannot be found."),
        );
    }
    assert_unchanged_and_alive(&server, &[]).await;
}

#[tokio::test]
async fn changed_signed_header_value_is_signature_does_not_match() {
    let server = start().await;
    let mut req = signed_post(&server, LIST_USERS);
    req.set_header(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8",
    );
    let resp = send(&server, &req).await;
    assert_error(&resp, 403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH);

    // An unsigned header may change freely.
    let mut req = signed_post(&server, LIST_USERS);
    req.headers
        .push(("user-agent".to_string(), "raw-tests/1.0".to_string()));
    assert_success(&send(&server, &req).await, "ListUsers", IAM_NAMESPACE);
}

// --- time and scope -------------------------------------------------------------------------------

#[tokio::test]
async fn x_amz_date_twenty_minutes_old_is_signature_expired() {
    let server = start().await;
    let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
    root_signer(&server)
        .backdated(Duration::from_secs(20 * 60))
        .sign(&mut req);
    let request_date = req.header("x-amz-date").unwrap().to_string();
    let before = OffsetDateTime::now_utc();
    let resp = send(&server, &req).await;
    let after = OffsetDateTime::now_utc();
    check_envelope(&resp);
    assert_eq!(
        (resp.status, resp.element("Code").as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "{}",
        resp.body
    );
    check_window_message(
        &resp.element("Message").unwrap(),
        "Signature expired: ",
        &request_date,
        "now earlier than",
        '-',
        before,
        after,
    );
}

#[tokio::test]
async fn x_amz_date_twenty_minutes_ahead_is_signature_not_yet_current() {
    let server = start().await;
    let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
    root_signer(&server)
        .ahead(Duration::from_secs(20 * 60))
        .sign(&mut req);
    let request_date = req.header("x-amz-date").unwrap().to_string();
    let before = OffsetDateTime::now_utc();
    let resp = send(&server, &req).await;
    let after = OffsetDateTime::now_utc();
    check_envelope(&resp);
    assert_eq!(
        (resp.status, resp.element("Code").as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "{}",
        resp.body
    );
    check_window_message(
        &resp.element("Message").unwrap(),
        "Signature not yet current: ",
        &request_date,
        "still later than",
        '+',
        before,
        after,
    );
}

#[tokio::test]
async fn x_amz_date_ten_minutes_off_either_way_is_accepted() {
    let server = start().await;
    for signer in [
        root_signer(&server).backdated(Duration::from_secs(10 * 60)),
        root_signer(&server).ahead(Duration::from_secs(10 * 60)),
    ] {
        let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
        signer.sign(&mut req);
        assert_success(&send(&server, &req).await, "ListUsers", IAM_NAMESPACE);
    }
}

#[tokio::test]
async fn scope_date_differing_from_x_amz_date_is_signature_does_not_match() {
    let server = start().await;
    let mut req = signed_post(&server, LIST_USERS);
    let request_date = req.header("x-amz-date").unwrap().to_string();
    let day = &request_date[..8];
    let yesterday = amz_date(parse_amz_date(&request_date) - time::Duration::days(1));
    let yesterday = &yesterday[..8];
    req.edit_authorization(|a| a.replacen(&format!("/{day}/"), &format!("/{yesterday}/"), 1));
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "SignatureDoesNotMatch",
        &format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
             '{yesterday}' != '{day}', from '{request_date}'."
        ),
    );
}

#[tokio::test]
async fn scope_service_s3_is_signature_does_not_match_naming_iam() {
    let server = start().await;
    let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
    root_signer(&server).service("s3").sign(&mut req);
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "SignatureDoesNotMatch",
        "Credential should be scoped to correct service: 'iam'. ",
    );

    // The time window is checked before the scope, so a stale request hears about the time.
    let mut req = RawRequest::form_post(&host(&server), LIST_USERS);
    let stale = root_signer(&server).backdated(Duration::from_secs(20 * 60));
    stale.service("s3").sign(&mut req);
    let resp = send(&server, &req).await;
    assert_eq!(resp.status, 403, "{}", resp.body);
    assert!(
        resp.element("Message")
            .is_some_and(|m| m.starts_with("Signature expired: ")),
        "{}",
        resp.body
    );
}

#[tokio::test]
async fn a_stray_x_amz_credential_query_parameter_does_not_switch_to_presigned_mode() {
    // Only X-Amz-Algorithm or X-Amz-Signature make a request presigned; any other query
    // parameter of a header-signed request is just part of its signed query.
    let server = start().await;
    let mut req = RawRequest::get(
        &host(&server),
        &format!("{LIST_USERS}&X-Amz-Credential=whatever"),
    );
    root_signer(&server).sign(&mut req);
    assert_success(&send(&server, &req).await, "ListUsers", IAM_NAMESPACE);

    // Without any signature it is an unauthenticated request.
    let req = RawRequest::get(
        &host(&server),
        &format!("{LIST_USERS}&X-Amz-Credential=whatever"),
    );
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        403,
        "MissingAuthenticationToken",
        "Request is missing Authentication Token",
    );
}

// --- presigned URLs -------------------------------------------------------------------------------

#[tokio::test]
async fn presigned_get_signing_only_host_succeeds() {
    let server = start().await;
    let req = presigned_list_users(&server, &root_signer(&server), Duration::from_secs(300));
    assert_eq!(req.headers.len(), 1, "only host: {:?}", req.headers);
    assert_eq!(req.query_param("X-Amz-SignedHeaders"), Some("host"));
    assert_eq!(req.query_param("X-Amz-Expires"), Some("300"));
    assert_eq!(req.query_param("X-Amz-Algorithm"), Some("AWS4-HMAC-SHA256"));
    let resp = send(&server, &req).await;
    assert_success(&resp, "ListUsers", IAM_NAMESPACE);

    // The same URL, with one parameter changed after signing, no longer verifies.
    let mut tampered = req.clone();
    tampered.target = tampered
        .target
        .replacen("Action=ListUsers", "Action=ListUsere", 1);
    let resp = send(&server, &tampered).await;
    assert_error(&resp, 403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH);
}

#[tokio::test]
async fn presigned_get_for_sts_succeeds() {
    let server = start().await;
    let mut req = RawRequest::get(
        &host(&server),
        "Action=GetCallerIdentity&Version=2011-06-15",
    );
    root_signer(&server)
        .service("sts")
        .presign(&mut req, Duration::from_secs(60));
    let resp = send(&server, &req).await;
    assert_success(&resp, "GetCallerIdentity", STS_NAMESPACE);
    assert_eq!(
        resp.element("Arn").as_deref(),
        Some("arn:aws:iam::123456789012:root")
    );
}

#[tokio::test]
async fn presigned_get_stays_valid_for_fifteen_minutes_whatever_x_amz_expires_says() {
    // AWS STS keeps a presigned URL for 15 minutes even past a shorter X-Amz-Expires
    // (aws-iam-authenticator signs with 60 s and reuses the URL for 14 minutes).
    let server = start().await;
    let signer = root_signer(&server).backdated(Duration::from_secs(14 * 60));
    let req = presigned_list_users(&server, &signer, Duration::from_secs(60));
    assert_eq!(req.query_param("X-Amz-Expires"), Some("60"));
    assert_success(&send(&server, &req).await, "ListUsers", IAM_NAMESPACE);
}

#[tokio::test]
async fn presigned_get_older_than_fifteen_minutes_is_signature_expired_whatever_x_amz_expires_says()
{
    let server = start().await;
    let signer = root_signer(&server).backdated(Duration::from_secs(20 * 60));
    let req = presigned_list_users(&server, &signer, Duration::from_secs(3600));
    let request_date = req.query_param("X-Amz-Date").unwrap().to_string();
    let before = OffsetDateTime::now_utc();
    let resp = send(&server, &req).await;
    let after = OffsetDateTime::now_utc();
    check_envelope(&resp);
    assert_eq!(
        (resp.status, resp.element("Code").as_deref()),
        (403, Some("SignatureDoesNotMatch")),
        "{}",
        resp.body
    );
    check_window_message(
        &resp.element("Message").unwrap(),
        "Signature expired: ",
        &request_date,
        "now earlier than",
        '-',
        before,
        after,
    );
}

#[tokio::test]
async fn presigned_x_amz_expires_of_zero_is_incomplete_signature() {
    let server = start().await;
    let req = presigned_list_users(&server, &root_signer(&server), Duration::ZERO);
    assert_eq!(req.query_param("X-Amz-Expires"), Some("0"));
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        400,
        "IncompleteSignature",
        "X-Amz-Expires must be a whole number of seconds from 1 to 604800, got '0'. \
         Re-examine the query-string parameters.",
    );
}

#[tokio::test]
async fn presigned_x_amz_expires_over_seven_days_is_incomplete_signature() {
    let server = start().await;
    let req = presigned_list_users(&server, &root_signer(&server), Duration::from_secs(604_801));
    assert_eq!(req.query_param("X-Amz-Expires"), Some("604801"));
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        400,
        "IncompleteSignature",
        "X-Amz-Expires must be a whole number of seconds from 1 to 604800, got '604801'. \
         Re-examine the query-string parameters.",
    );
    // Exactly seven days is allowed.
    let req = presigned_list_users(&server, &root_signer(&server), Duration::from_secs(604_800));
    assert_success(&send(&server, &req).await, "ListUsers", IAM_NAMESPACE);
}

#[tokio::test]
async fn authorization_header_and_query_auth_together_is_incomplete_signature() {
    let server = start().await;
    let mut req = presigned_list_users(&server, &root_signer(&server), Duration::from_secs(300));
    let header_signed = {
        let mut other = RawRequest::get(&host(&server), LIST_USERS);
        root_signer(&server).sign(&mut other);
        other
    };
    let auth = header_signed.authorization();
    req.headers.push((
        "x-amz-date".to_string(),
        header_signed.header("x-amz-date").unwrap().to_string(),
    ));
    req.headers
        .push(("authorization".to_string(), auth.clone()));
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        400,
        "IncompleteSignature",
        &format!(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the \
             Authorization header should be specified. Authorization={auth}"
        ),
    );
}

// --- protocol errors (validly signed) -------------------------------------------------------------

#[tokio::test]
async fn unknown_action_is_invalid_action() {
    let server = start().await;
    let resp = send(
        &server,
        &signed_post(&server, "Action=Frob&Version=2010-05-08"),
    )
    .await;
    assert_error(
        &resp,
        400,
        "InvalidAction",
        "Could not find operation Frob for version 2010-05-08",
    );
    assert_fault_namespace(&resp);
}

#[tokio::test]
async fn missing_version_is_invalid_action_for_no_version_specified() {
    let server = start().await;
    let resp = send(&server, &signed_post(&server, "Action=ListUsers")).await;
    assert_error(
        &resp,
        400,
        "InvalidAction",
        "Could not find operation ListUsers for version NO_VERSION_SPECIFIED",
    );
    assert_fault_namespace(&resp);
}

#[tokio::test]
async fn missing_action_is_missing_action() {
    let server = start().await;
    let resp = send(
        &server,
        &signed_post(&server, "Version=2010-05-08&UserName=a"),
    )
    .await;
    assert_error(&resp, 400, "MissingAction", "Missing Action");
    assert_fault_namespace(&resp);
    assert_unchanged_and_alive(&server, &[]).await;
}

#[tokio::test]
async fn first_of_repeated_parameters_wins() {
    let server = start().await;
    let resp = send(
        &server,
        &signed_post(
            &server,
            "Action=CreateUser&Version=2010-05-08&UserName=a&UserName=b&Action=DeleteUser",
        ),
    )
    .await;
    assert_success(&resp, "CreateUser", IAM_NAMESPACE);
    assert_eq!(resp.element("UserName").as_deref(), Some("a"));
    assert_eq!(user_names(&server).await, ["a"]);
}

// --- bad input (validly signed) -------------------------------------------------------------------

#[tokio::test]
async fn invalid_utf8_in_the_body_is_malformed_query_string() {
    let server = start().await;
    let raw: &[u8] = b"Action=CreateUser&Version=2010-05-08&UserName=caf\xe9";
    let escaped: &[u8] = b"Action=CreateUser&Version=2010-05-08&UserName=caf%E9";
    for body in [raw, escaped] {
        let resp = send(&server, &signed_post(&server, body)).await;
        assert_error(
            &resp,
            404,
            "MalformedQueryString",
            "The query string contains a syntax error: invalid UTF-8",
        );
        assert_unchanged_and_alive(&server, &[]).await;
    }
}

#[tokio::test]
async fn bad_percent_escape_is_malformed_query_string() {
    let server = start().await;
    for body in [
        "Action=CreateUser&Version=2010-05-08&UserName=%zz",
        "Action=CreateUser&Version=2010-05-08&UserName=bob%4",
        "Action=CreateUser&Version=2010-05-08&Path=%&UserName=bob",
    ] {
        let resp = send(&server, &signed_post(&server, body)).await;
        assert_error(
            &resp,
            404,
            "MalformedQueryString",
            "The query string contains a syntax error: invalid percent-encoding",
        );
        assert_unchanged_and_alive(&server, &[]).await;
    }
}

/// A signed CreateUser for `name` padded with an ignored parameter to exactly `len` bytes.
fn padded_create_user(name: &str, len: usize) -> Vec<u8> {
    let mut body =
        format!("Action=CreateUser&Version=2010-05-08&UserName={name}&Padding=").into_bytes();
    body.resize(len, b'x');
    body
}

#[tokio::test]
async fn body_over_one_mib_with_content_length_is_request_entity_too_large() {
    let server = start().await;
    let req = signed_post(&server, padded_create_user("big", ONE_MIB + 1));
    let resp = send(&server, &req).await;
    assert_error(
        &resp,
        413,
        "RequestEntityTooLarge",
        "Request body must not exceed 1048576 bytes.",
    );
    assert_unchanged_and_alive(&server, &[]).await;

    // Exactly 1 MiB is still accepted.
    let req = signed_post(&server, padded_create_user("exact", ONE_MIB));
    let resp = send(&server, &req).await;
    assert_success(&resp, "CreateUser", IAM_NAMESPACE);
    assert_unchanged_and_alive(&server, &["exact"]).await;
}

#[tokio::test]
async fn chunked_body_over_one_mib_is_request_entity_too_large() {
    let server = start().await;
    let mut req = signed_post(&server, padded_create_user("big", ONE_MIB + 1));
    req.chunked = Some(64 * 1024);
    let bytes = req.to_bytes();
    assert!(
        bytes
            .windows(28)
            .any(|w| w == b"transfer-encoding: chunked\r\n"),
        "sent chunked"
    );
    assert!(
        !bytes.windows(15).any(|w| w == b"content-length:"),
        "no content-length"
    );
    let resp = signer::send_bytes(server.local_addr(), bytes).await;
    assert_error(
        &resp,
        413,
        "RequestEntityTooLarge",
        "Request body must not exceed 1048576 bytes.",
    );
    assert_unchanged_and_alive(&server, &[]).await;

    // A small chunked body is read and verified like any other.
    let mut req = signed_post(
        &server,
        "Action=CreateUser&Version=2010-05-08&UserName=chunky",
    );
    req.chunked = Some(7);
    let resp = send(&server, &req).await;
    assert_success(&resp, "CreateUser", IAM_NAMESPACE);
    assert_unchanged_and_alive(&server, &["chunky"]).await;
}

#[tokio::test]
async fn create_user_without_user_name_is_validation_error() {
    let server = start().await;
    let resp = send(
        &server,
        &signed_post(&server, "Action=CreateUser&Version=2010-05-08"),
    )
    .await;
    assert_error(
        &resp,
        400,
        "ValidationError",
        "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null",
    );
    // AWS writes quotes in text as they are; only & < > are escaped.
    assert!(
        resp.body.contains("Value null at 'userName'"),
        "{}",
        resp.body
    );
    assert_unchanged_and_alive(&server, &[]).await;
}

#[tokio::test]
async fn max_items_that_is_not_a_java_int_is_malformed_input() {
    let server = start().await;
    let cases = [
        ("", "missing value for decimal type"),
        (
            "abc",
            "Invalid value for parameter MaxItems: 'abc' is not an integer.",
        ),
        (
            " 5",
            "Invalid value for parameter MaxItems: ' 5' is not an integer.",
        ),
        (
            "2147483648",
            "Invalid value for parameter MaxItems: '2147483648' is not an integer.",
        ),
    ];
    for (raw, message) in cases {
        let body = format!("{LIST_USERS}&MaxItems={}", raw.replace(' ', "%20"));
        let resp = send(&server, &signed_post(&server, body.as_str())).await;
        assert_error(&resp, 400, "MalformedInput", message);
    }
    // In range of an int but not of the model: a ValidationError.
    let body = format!("{LIST_USERS}&MaxItems=2147483647");
    let resp = send(&server, &signed_post(&server, body.as_str())).await;
    assert_error(
        &resp,
        400,
        "ValidationError",
        "1 validation error detected: Value at 'maxItems' failed to satisfy constraint: \
         Member must have value less than or equal to 1000",
    );
}

// --- races ----------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_create_access_key_for_one_user_stops_at_two() {
    let server = start().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("racer").send().await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let iam = iam.clone();
        tasks.spawn(async move { iam.create_access_key().user_name("racer").send().await });
    }
    let mut created = Vec::new();
    let mut refused = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(out) => created.push(out.access_key.unwrap().access_key_id),
            Err(e) => {
                expect_error(
                    aws_error::<(), _>(Err(e)),
                    409,
                    "LimitExceeded",
                    "Cannot exceed quota for AccessKeysPerUser: 2",
                );
                refused += 1;
            }
        }
    }
    assert_eq!((created.len(), refused), (2, 30));
    let mut listed: Vec<String> = iam
        .list_access_keys()
        .user_name("racer")
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| k.access_key_id().unwrap().to_string())
        .collect();
    listed.sort();
    created.sort();
    assert_eq!(listed, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_create_user_with_names_differing_in_case_creates_exactly_one() {
    let server = start().await;
    let iam = root_iam(&server);
    // All 32 case variants of "alice".
    let names: Vec<String> = (0u32..32)
        .map(|mask| {
            "alice"
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if mask & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    assert_eq!(names.iter().collect::<HashSet<_>>().len(), 32);
    let mut tasks = tokio::task::JoinSet::new();
    for name in names {
        let iam = iam.clone();
        tasks.spawn(async move {
            let result = iam.create_user().user_name(&name).send().await;
            (name, result)
        });
    }
    let mut winners = Vec::new();
    let mut refused = 0;
    while let Some(joined) = tasks.join_next().await {
        let (name, result) = joined.unwrap();
        match result {
            Ok(out) => {
                assert_eq!(out.user.unwrap().user_name, name);
                winners.push(name);
            }
            Err(e) => {
                expect_error(
                    aws_error::<(), _>(Err(e)),
                    409,
                    "EntityAlreadyExists",
                    &format!("User with name {name} already exists."),
                );
                refused += 1;
            }
        }
    }
    assert_eq!((winners.len(), refused), (1, 31), "{winners:?}");
    assert_eq!(user_names(&server).await, winners);
}

// --- request ids ----------------------------------------------------------------------------------

#[tokio::test]
async fn every_response_has_a_unique_lowercase_uuid_request_id_matching_the_body() {
    let server = start().await;
    let mut ids = HashSet::new();
    let mut record = |id: String| assert!(ids.insert(id.clone()), "request id {id} repeated");
    for _ in 0..5 {
        // Success, IAM and STS.
        let resp = send(&server, &signed_post(&server, LIST_USERS)).await;
        record(assert_success(&resp, "ListUsers", IAM_NAMESPACE));
        let mut req = RawRequest::form_post(
            &host(&server),
            "Action=GetCallerIdentity&Version=2011-06-15",
        );
        root_signer(&server).service("sts").sign(&mut req);
        let resp = send(&server, &req).await;
        record(assert_success(&resp, "GetCallerIdentity", STS_NAMESPACE));
        // Errors before and after authentication.
        let resp = send(&server, &RawRequest::form_post(&host(&server), LIST_USERS)).await;
        assert_eq!(resp.status, 403);
        record(check_envelope(&resp));
        let resp = send(
            &server,
            &signed_post(&server, "Action=Frob&Version=2010-05-08"),
        )
        .await;
        assert_eq!(resp.status, 400);
        record(check_envelope(&resp));
        let resp = send(
            &server,
            &signed_post(&server, "Action=GetUser&Version=2010-05-08&UserName=ghost"),
        )
        .await;
        assert_error(
            &resp,
            404,
            "NoSuchEntity",
            "The user with name ghost cannot be found.",
        );
        record(check_envelope(&resp));
    }
    assert_eq!(ids.len(), 25);
}

//! Temporary credentials and MFA through aws-sdk-sts/iam: GetSessionToken's durations and
//! errors, the rejection table for session-signed requests (with one-change mutations: none is
//! accepted), what sessions may call, virtual MFA devices with codes from an independent TOTP, the
//! QR code decoded back to its URI, replayed codes, the test clock, restarts and snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/signer.rs"]
mod signer;

use aws_credential_types::Credentials;
use common::*;
use data_encoding::BASE32;
use hmac::{Hmac, KeyInit, Mac};
use iamlite::Server;
use signer::{RawRequest, Signer, send};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ACCOUNT: &str = "123456789012";

/// RFC 6238 with HMAC-SHA1, written here from the RFC, independent of the server's code.
fn totp(seed_base32: &str, unix_seconds: u64) -> String {
    let key = BASE32.decode(seed_base32.as_bytes()).unwrap();
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&key).unwrap();
    mac.update(&(unix_seconds / 30).to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let bin =
        u32::from_be_bytes([h[offset], h[offset + 1], h[offset + 2], h[offset + 3]]) & 0x7fff_ffff;
    format!("{:06}", bin % 1_000_000)
}

/// The server's clock in seconds (real time plus its offset).
fn clock_seconds(server: &Server) -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    u64::try_from((real + server.clock().offset_millis()) / 1000).unwrap()
}

/// The session's credentials as an SDK signs with them (its token included).
fn session_credentials(c: &aws_sdk_sts::types::Credentials) -> Credentials {
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "session",
    )
}

fn session_sts(server: &Server, c: &aws_sdk_sts::types::Credentials) -> aws_sdk_sts::Client {
    sts_with(server, session_credentials(c))
}

fn session_iam(server: &Server, c: &aws_sdk_sts::types::Credentials) -> aws_sdk_iam::Client {
    iam_with(server, session_credentials(c))
}

/// A user with a key, and a virtual MFA device enabled for them: (key id, secret, serial, seed).
async fn user_with_mfa(server: &Server, name: &str) -> (String, String, String, String) {
    let iam = root_iam(server);
    let (id, secret) = user_with_key(&iam, name).await;
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(name)
        .send()
        .await
        .unwrap()
        .virtual_mfa_device
        .unwrap();
    let serial = device.serial_number().to_string();
    let seed = String::from_utf8(device.base32_string_seed().unwrap().as_ref().to_vec()).unwrap();
    let now = clock_seconds(server);
    iam.enable_mfa_device()
        .user_name(name)
        .serial_number(&serial)
        .authentication_code1(totp(&seed, now - 30))
        .authentication_code2(totp(&seed, now))
        .send()
        .await
        .unwrap();
    (id, secret, serial, seed)
}

#[tokio::test]
async fn get_session_token_gives_asia_credentials_that_name_their_user() {
    let server = start().await;
    let (id, secret) = user_with_key(&root_iam(&server), "alice").await;
    let started = SystemTime::now();
    let creds = sts_as(&server, &id, &secret)
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let key = creds.access_key_id();
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert_eq!(
        iamlite::ids::account_from_key_id(key).as_deref(),
        Some(ACCOUNT),
        "session ids encode the account like AKIA ones"
    );
    assert_eq!(creds.secret_access_key().len(), 40);
    let token = creds.session_token();
    assert!(token.len() >= 100);
    assert!(!token.contains(key) && !token.contains(creds.secret_access_key()));
    let lifetime = SystemTime::try_from(*creds.expiration())
        .unwrap()
        .duration_since(started)
        .unwrap();
    assert!(
        (43_190..=43_201).contains(&lifetime.as_secs()),
        "{lifetime:?}"
    );
    let me = session_sts(&server, &creds)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/alice"));
    assert!(me.user_id().unwrap().starts_with("AIDA"));
    // The GetSessionToken call was a use of the long-term key.
    let used = root_iam(&server)
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(used.access_key_last_used().unwrap().service_name(), "sts");

    // Root: an hour at most, a longer request shortened rather than refused.
    let root = root_sts(&server)
        .get_session_token()
        .duration_seconds(7200)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let lifetime = SystemTime::try_from(*root.expiration())
        .unwrap()
        .duration_since(SystemTime::now())
        .unwrap();
    assert!(
        (3_590..=3_600).contains(&lifetime.as_secs()),
        "{lifetime:?}"
    );
    let me = session_sts(&server, &root)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:root"));
    assert_eq!(me.user_id(), Some(ACCOUNT));

    for (seconds, constraint) in [
        (600, "Member must have value greater than or equal to 900"),
        (
            129_601,
            "Member must have value less than or equal to 129600",
        ),
    ] {
        let err = aws_error(
            sts_as(&server, &id, &secret)
                .get_session_token()
                .duration_seconds(seconds)
                .send()
                .await,
        );
        expect_error(
            err,
            400,
            "ValidationError",
            &format!(
                "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to satisfy constraint: {constraint}"
            ),
        );
    }
    // Session credentials cannot get more of themselves, nor ask for other STS answers.
    let err = aws_error(
        session_sts(&server, &creds)
            .get_session_token()
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "AccessDenied",
        "Cannot call GetSessionToken with session credentials",
    );
    let err = aws_error(
        session_sts(&server, &creds)
            .get_access_key_info()
            .access_key_id(&id)
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "AccessDenied",
        "Cannot call GetAccessKeyInfo with session credentials",
    );
    // IAM without MFA: the token is "invalid", as AWS answers.
    let err = aws_error(session_iam(&server, &creds).list_users().send().await);
    expect_error(
        err,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
}

#[tokio::test]
async fn an_mfa_session_may_call_iam_and_expires_with_the_clock() {
    let server = start().await;
    let (id, secret, serial, seed) = user_with_mfa(&server, "alice").await;
    let code = totp(&seed, clock_seconds(&server) + 30);
    let creds = sts_as(&server, &id, &secret)
        .get_session_token()
        .serial_number(&serial)
        .token_code(&code)
        .duration_seconds(900)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let iam = session_iam(&server, &creds);
    let keys = iam.list_access_keys().send().await.unwrap();
    assert_eq!(
        keys.access_key_metadata()[0].access_key_id(),
        Some(id.as_str())
    );
    // The same code again is refused, even inside its window.
    let err = aws_error(
        sts_as(&server, &id, &secret)
            .get_session_token()
            .serial_number(&serial)
            .token_code(&code)
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "AccessDenied",
        "MultiFactorAuthentication failed with invalid MFA one time pass code.",
    );

    server.advance_clock(Duration::from_secs(901));
    let err = aws_error(
        session_sts(&server, &creds)
            .get_caller_identity()
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "ExpiredToken",
        "The security token included in the request is expired",
    );
    let err = aws_error(iam.list_access_keys().send().await);
    assert_eq!(err.code, "ExpiredToken");
    // The clock moved the TOTP windows too: a code of the new time is good.
    let later = totp(&seed, clock_seconds(&server));
    sts_as(&server, &id, &secret)
        .get_session_token()
        .serial_number(&serial)
        .token_code(&later)
        .send()
        .await
        .unwrap();
}

/// One change to a session-signed request that must make it fail, with the code it must get.
struct Mutation {
    name: &'static str,
    code: &'static str,
    signer: fn(&Signer, &SessionPair) -> Signer,
}

struct SessionPair {
    id: String,
    secret: String,
    token: String,
    other_token: String,
    long_term: (String, String),
}

#[tokio::test]
async fn every_mutation_of_a_session_signed_request_is_refused() {
    let server = start().await;
    let (id, secret) = user_with_key(&root_iam(&server), "alice").await;
    let sts = sts_as(&server, &id, &secret);
    let first = sts
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let second = sts
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let pair = SessionPair {
        id: first.access_key_id().to_string(),
        secret: first.secret_access_key().to_string(),
        token: first.session_token().to_string(),
        other_token: second.session_token().to_string(),
        long_term: (id.clone(), secret.clone()),
    };
    let mutations = [
        Mutation {
            name: "no token",
            code: "InvalidClientTokenId",
            signer: |_, p| Signer::new(&p.id, &p.secret).service("sts"),
        },
        Mutation {
            name: "token of another session",
            code: "InvalidClientTokenId",
            signer: |_, p| {
                Signer::new(&p.id, &p.secret)
                    .service("sts")
                    .session_token(&p.other_token)
            },
        },
        Mutation {
            name: "tampered token",
            code: "InvalidClientTokenId",
            signer: |_, p| {
                let mut t = p.token.clone().into_bytes();
                t[10] = if t[10] == b'A' { b'B' } else { b'A' };
                Signer::new(&p.id, &p.secret)
                    .service("sts")
                    .session_token(std::str::from_utf8(&t).unwrap())
            },
        },
        Mutation {
            name: "token cut short",
            code: "InvalidClientTokenId",
            signer: |_, p| {
                Signer::new(&p.id, &p.secret)
                    .service("sts")
                    .session_token(&p.token[..p.token.len() - 1])
            },
        },
        Mutation {
            name: "wrong secret",
            code: "SignatureDoesNotMatch",
            signer: |_, p| {
                Signer::new(&p.id, &p.long_term.1)
                    .service("sts")
                    .session_token(&p.token)
            },
        },
        Mutation {
            name: "session secret with the long-term id",
            code: "InvalidClientTokenId",
            signer: |_, p| {
                Signer::new(&p.long_term.0, &p.secret)
                    .service("sts")
                    .session_token(&p.token)
            },
        },
        Mutation {
            name: "long-term key with the session token",
            code: "InvalidClientTokenId",
            signer: |_, p| {
                Signer::new(&p.long_term.0, &p.long_term.1)
                    .service("sts")
                    .session_token(&p.token)
            },
        },
    ];
    let host = server.local_addr().to_string();
    let request = || {
        RawRequest::form_post(
            &host,
            "Action=GetCallerIdentity&Version=2011-06-15".to_string(),
        )
    };
    let pristine = Signer::new(&pair.id, &pair.secret)
        .service("sts")
        .session_token(&pair.token);
    let mut accepted = Vec::new();
    for m in &mutations {
        let mut req = request();
        (m.signer)(&pristine, &pair).sign(&mut req);
        let r = send(server.local_addr(), &req).await;
        let code = r.element("Code").unwrap_or_default();
        if r.status != 403 || code != m.code {
            accepted.push(format!("{}: {} {code}", m.name, r.status));
        }
    }
    // Presigned, with the token in the query: tampering is refused there too.
    let mut presigned = RawRequest::get(&host, "Action=GetCallerIdentity&Version=2011-06-15");
    pristine.presign(&mut presigned, Duration::from_secs(300));
    let good = send(server.local_addr(), &presigned).await;
    assert_eq!(good.status, 200, "{}", good.body);
    let mut tampered = presigned.clone();
    tampered.target = tampered
        .target
        .replace("X-Amz-Security-Token=", "X-Amz-Security-Token=x");
    let r = send(server.local_addr(), &tampered).await;
    if r.status != 403 {
        accepted.push(format!("presigned tampered token: {}", r.status));
    }
    assert!(
        accepted.is_empty(),
        "not refused as they should be: {accepted:#?}"
    );
    let mut req = request();
    pristine.sign(&mut req);
    let r = send(server.local_addr(), &req).await;
    assert_eq!(r.status, 200, "the unchanged request passes: {}", r.body);
    assert_eq!(
        r.element("Arn").as_deref(),
        Some("arn:aws:iam::123456789012:user/alice")
    );
}

#[tokio::test]
async fn sessions_outlive_their_key_but_not_their_user() {
    let server = start().await;
    let iam = root_iam(&server);
    let (id, secret) = user_with_key(&iam, "alice").await;
    let creds = sts_as(&server, &id, &secret)
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    iam.delete_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    // As on AWS, session credentials last until they expire whatever happens to their key.
    session_sts(&server, &creds)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    iam.delete_user().user_name("alice").send().await.unwrap();
    let err = aws_error(
        session_sts(&server, &creds)
            .get_caller_identity()
            .send()
            .await,
    );
    assert_eq!(
        err.code, "InvalidClientTokenId",
        "the user is gone: {err:?}"
    );
}

#[tokio::test]
async fn virtual_mfa_devices_behave_as_iam_answers() {
    let server = start().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("bob").send().await.unwrap();
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("bob-phone")
        .path("/phones/")
        .send()
        .await
        .unwrap()
        .virtual_mfa_device
        .unwrap();
    let serial = device.serial_number().to_string();
    assert_eq!(serial, "arn:aws:iam::123456789012:mfa/phones/bob-phone");
    let seed = String::from_utf8(device.base32_string_seed().unwrap().as_ref().to_vec()).unwrap();
    assert_eq!(seed.len(), 64);
    // The QR code is a real PNG holding the otpauth URI with the same seed.
    let png = device.qr_code_png().unwrap().as_ref().to_vec();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
    let grids = img.detect_grids();
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(
        content,
        format!("otpauth://totp/bob-phone@123456789012?secret={seed}")
    );

    let err = aws_error(
        iam.create_virtual_mfa_device()
            .virtual_mfa_device_name("bob-phone")
            .send()
            .await,
    );
    expect_error(
        err,
        409,
        "EntityAlreadyExists",
        "MFA device already exists.",
    );
    let err = aws_error(
        iam.create_virtual_mfa_device()
            .virtual_mfa_device_name("x")
            .path("no-slash")
            .send()
            .await,
    );
    expect_error(
        err,
        400,
        "ValidationError",
        "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.",
    );
    let now = clock_seconds(&server);
    let err = aws_error(
        iam.enable_mfa_device()
            .user_name("bob")
            .serial_number(&serial)
            .authentication_code1(totp(&seed, now))
            .authentication_code2(totp(&seed, now))
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "InvalidAuthenticationCode",
        "Authentication code for device is not valid.",
    );
    let unassigned = iam
        .list_virtual_mfa_devices()
        .assignment_status(aws_sdk_iam::types::AssignmentStatusType::Unassigned)
        .send()
        .await
        .unwrap();
    assert_eq!(unassigned.virtual_mfa_devices().len(), 1);
    iam.enable_mfa_device()
        .user_name("bob")
        .serial_number(&serial)
        .authentication_code1(totp(&seed, now - 30))
        .authentication_code2(totp(&seed, now))
        .send()
        .await
        .unwrap();
    let err = aws_error(
        iam.enable_mfa_device()
            .user_name("bob")
            .serial_number(&serial)
            .authentication_code1(totp(&seed, now))
            .authentication_code2(totp(&seed, now + 30))
            .send()
            .await,
    );
    expect_error(
        err,
        409,
        "EntityAlreadyExists",
        "MFA Device is already in use.",
    );
    let listed = iam
        .list_mfa_devices()
        .user_name("bob")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.mfa_devices()[0].serial_number(), serial);
    assert_eq!(listed.mfa_devices()[0].user_name(), "bob");
    let assigned = iam
        .list_virtual_mfa_devices()
        .assignment_status(aws_sdk_iam::types::AssignmentStatusType::Assigned)
        .send()
        .await
        .unwrap();
    let d = &assigned.virtual_mfa_devices()[0];
    assert_eq!(d.user().unwrap().user_name(), "bob");
    assert!(d.enable_date().is_some());
    assert!(
        d.base32_string_seed().is_none(),
        "listings never carry the seed"
    );

    let err = aws_error(iam.delete_user().user_name("bob").send().await);
    expect_error(
        err,
        409,
        "DeleteConflict",
        "Cannot delete entity, must delete MFA device first.",
    );
    let err = aws_error(
        iam.delete_virtual_mfa_device()
            .serial_number(&serial)
            .send()
            .await,
    );
    assert_eq!((err.status, err.code.as_str()), (409, "DeleteConflict"));
    // A code for a device that is not the caller's.
    let (id, secret) = user_with_key(&iam, "carol").await;
    let err = aws_error(
        sts_as(&server, &id, &secret)
            .get_session_token()
            .serial_number(&serial)
            .token_code(totp(&seed, now))
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "AccessDenied",
        "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user.",
    );
    // Deactivating a virtual device deletes it, as IAM does; then the user can go.
    iam.deactivate_mfa_device()
        .user_name("bob")
        .serial_number(&serial)
        .send()
        .await
        .unwrap();
    let any = iam.list_virtual_mfa_devices().send().await.unwrap();
    assert!(any.virtual_mfa_devices().is_empty());
    let err = aws_error(
        iam.delete_virtual_mfa_device()
            .serial_number(&serial)
            .send()
            .await,
    );
    expect_error(
        err,
        404,
        "NoSuchEntity",
        &format!("MFA Device with serial number {serial} does not exist."),
    );
    iam.delete_user().user_name("bob").send().await.unwrap();
}

#[tokio::test]
async fn sessions_and_devices_survive_a_restart_and_travel_in_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("iamlite.db");
    let server = Server::builder().db(&db).start().await.unwrap();
    let (id, secret, serial, seed) = user_with_mfa(&server, "alice").await;
    let creds = sts_as(&server, &id, &secret)
        .get_session_token()
        .serial_number(&serial)
        .token_code(totp(&seed, clock_seconds(&server) + 30))
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let state = server.store().export().await.unwrap();
    let account = &state.accounts[0];
    assert_eq!(account.mfa_devices[0].seed, seed);
    assert_eq!(account.mfa_devices[0].user_name.as_deref(), Some("alice"));
    assert_eq!(account.sessions[0].access_key_id, creds.access_key_id());
    server.shutdown().await;

    let server = Server::builder().db(&db).start().await.unwrap();
    session_iam(&server, &creds)
        .list_users()
        .send()
        .await
        .unwrap();
    let devices = root_iam(&server)
        .list_mfa_devices()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(devices.mfa_devices()[0].serial_number(), serial);
    server.shutdown().await;

    let copy = builder().await.start().await.unwrap();
    copy.store().import(state.clone()).await.unwrap();
    assert_eq!(copy.store().export().await.unwrap(), state);
    session_iam(&copy, &creds)
        .list_users()
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_seeded_mfa_device_lets_a_test_compute_codes() {
    let seed_text = r#"
[[accounts]]
id = "111122223333"
root_access_key_id = "AKIAQYLPMN5HHHFPZAM2"
root_secret_access_key = "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"

[[accounts.users]]
name = "ci"

[[accounts.users.access_keys]]
id = "AKIAQYLPMN5HCIKEY2AA"
secret = "ciSecretKey00000000000000000000000000000"

[[accounts.mfa_devices]]
name = "ci"
seed = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
user = "ci"
"#;
    let seed = iamlite::Seed::parse(seed_text, "seed.toml").unwrap();
    let server = builder().await.seed(seed).start().await.unwrap();
    let creds = sts_as(
        &server,
        "AKIAQYLPMN5HCIKEY2AA",
        "ciSecretKey00000000000000000000000000000",
    )
    .get_session_token()
    .serial_number("arn:aws:iam::111122223333:mfa/ci")
    .token_code(totp(
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        clock_seconds(&server),
    ))
    .send()
    .await
    .unwrap()
    .credentials
    .unwrap();
    let users = session_iam(&server, &creds)
        .list_users()
        .send()
        .await
        .unwrap();
    assert_eq!(users.users()[0].user_name(), "ci");
}

async fn admin(server: &Server, method: &str, body: &str) -> (u16, serde_json::Value) {
    let mut req = RawRequest::new(method, "/_iamlite/clock", &server.local_addr().to_string());
    req.body = body.as_bytes().to_vec();
    let r = send(server.local_addr(), &req).await;
    (r.status, serde_json::from_str(&r.body).unwrap())
}

#[tokio::test]
async fn the_clock_endpoint_moves_and_resets_the_clock() {
    let server = start().await;
    let (status, view) = admin(&server, "GET", "").await;
    assert_eq!(status, 200);
    assert_eq!(view["offset_seconds"], 0.0);
    let (status, view) = admin(&server, "POST", r#"{"advance": "13h"}"#).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["offset_seconds"], 46_800.0);
    assert_eq!(server.clock().offset_millis(), 46_800_000);
    for bad in [
        r#"{"advance": "soon"}"#,
        r#"{}"#,
        "nope",
        r#"{"advance": "1h", "reset": true}"#,
    ] {
        let (status, _) = admin(&server, "POST", bad).await;
        assert_eq!(status, 400, "{bad}");
    }
    assert_eq!(
        server.clock().offset_millis(),
        46_800_000,
        "refusals change nothing"
    );
    let (status, view) = admin(&server, "POST", r#"{"reset": true}"#).await;
    assert_eq!(status, 200);
    assert_eq!(view["offset_seconds"], 0.0);
    // A reset of the state also returns the clock to real time.
    server.advance_clock(Duration::from_secs(60));
    server.reset().await.unwrap();
    assert_eq!(server.clock().offset_millis(), 0);
}

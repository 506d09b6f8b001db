//! The OUTSCALE face: the OUTSCALE API's calls signed with OSC4 (as osc-sdk-python and osc-cli
//! sign, quirks included), AWS4 over JSON and login/password; keys with expiration dates seen from
//! both faces; OUTSCALE's rules, errors and quota; every refusal changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/osc_signer.rs"]
mod osc_signer;
#[path = "common/signer.rs"]
mod signer;

use common::*;
use data_encoding::{BASE64, BASE64URL};
use iamlite::{Flavor, Server};
use osc_signer::{JSON, Layout, OscSigner, json_post};
use serde_json::{Value, json};
use signer::{RawRequest, RawResponse, send};
use std::time::{Duration, SystemTime};

const LOGIN: &str = "me@example.com";
const PASSWORD: &str = "S3cret!pass";

async fn outscale() -> Server {
    builder()
        .await
        .flavor(Flavor::Outscale)
        .root_login(LOGIN, PASSWORD)
        .start()
        .await
        .unwrap()
}

fn host(server: &Server) -> String {
    server.local_addr().to_string()
}

fn root_signer(server: &Server) -> OscSigner {
    let (id, secret) = server.root_credentials();
    OscSigner::new(id, secret)
}

/// A response's JSON body, with its request id checked against the header.
fn body(r: &RawResponse) -> Value {
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let id = v["ResponseContext"]["RequestId"].as_str().unwrap();
    assert_eq!(r.header("x-request-id"), Some(id));
    v
}

/// Sends `body` to `/api/v1/<action>` signed by `signer`.
async fn call(server: &Server, signer: &OscSigner, action: &str, body: Value) -> RawResponse {
    let mut req = json_post(
        &host(server),
        &format!("/api/v1/{action}"),
        &body.to_string(),
    );
    signer.sign(&mut req);
    send(server.local_addr(), &req).await
}

async fn ok(server: &Server, signer: &OscSigner, action: &str, b: Value) -> Value {
    let r = call(server, signer, action, b).await;
    assert_eq!(r.status, 200, "{action}: {}", r.body);
    body(&r)
}

/// Asserts an OUTSCALE error: status, code and type.
fn expect_osc_error(r: &RawResponse, status: u16, code: &str, kind: &str) -> String {
    assert_eq!(r.status, status, "{}", r.body);
    let v = body(r);
    let e = &v["Errors"][0];
    assert_eq!(e["Code"], code, "{}", r.body);
    assert_eq!(e["Type"], kind, "{}", r.body);
    e["Details"].as_str().unwrap().to_string()
}

async fn key_count(server: &Server) -> i64 {
    server.store().counts().await.unwrap().2
}

async fn create_user(server: &Server, name: &str) {
    ok(
        server,
        &root_signer(server),
        "CreateUser",
        json!({"UserName": name}),
    )
    .await;
}

#[tokio::test]
async fn the_documented_calls_work_on_all_three_paths() {
    let server = outscale().await;
    let s = root_signer(&server);
    let created = ok(
        &server,
        &s,
        "CreateAccessKey",
        json!({"ExpirationDate": "2063-04-05"}),
    )
    .await;
    let key = &created["AccessKey"];
    let id = key["AccessKeyId"].as_str().unwrap();
    assert_eq!(id.len(), 20);
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(key["SecretKey"].as_str().unwrap().len(), 40);
    assert_eq!(key["State"], "ACTIVE");
    assert_eq!(key["ExpirationDate"], "2063-04-05T00:00:00.000+0000");
    let created_at = key["CreationDate"].as_str().unwrap();
    assert!(
        created_at.ends_with("+0000") && created_at.len() == 28,
        "{created_at}"
    );
    assert_eq!(key["LastModificationDate"], created_at);

    // osc-cli sends `//api/latest/<Call>` and signs `/api/latest/<Call>`.
    let mut req = json_post(
        &host(&server),
        "//api/latest/ReadAccessKeys",
        &json!({"Filters": {"States": ["ACTIVE"]}}).to_string(),
    );
    let mut cli = s.clone();
    cli.signed_path = Some("/api/latest/ReadAccessKeys".into());
    cli.sign(&mut req);
    let read = body(&send(server.local_addr(), &req).await);
    let ids: Vec<&str> = read["AccessKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["AccessKeyId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [server.root_credentials().0, id]);
    assert!(read["AccessKeys"][1].get("SecretKey").is_none());
    assert!(read["AccessKeys"][0].get("ExpirationDate").is_none());

    // osc-sdk-python without /api/v1 in its endpoint posts to /<Call>.
    let mut req = json_post(
        &host(&server),
        "/UpdateAccessKey",
        &json!({"AccessKeyId": id, "State": "INACTIVE", "ExpirationDate": "2063-04-05"})
            .to_string(),
    );
    s.sign(&mut req);
    let updated = body(&send(server.local_addr(), &req).await);
    assert_eq!(updated["AccessKey"]["State"], "INACTIVE");
    assert_eq!(
        updated["AccessKey"]["ExpirationDate"],
        "2063-04-05T00:00:00.000+0000"
    );
    // A root key may be deleted whatever its state; it is then gone from both faces.
    ok(&server, &s, "DeleteAccessKey", json!({"AccessKeyId": id})).await;
    let keys = root_iam(&server).list_access_keys().send().await.unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1);
}

#[tokio::test]
async fn client_quirks_are_accepted_and_nothing_else() {
    let server = outscale().await;
    let port = server.local_addr().port();
    // osc-sdk-python signs the host without its port but sends it with the port.
    let mut python = root_signer(&server);
    python.signed_host = Some("127.0.0.1".into());
    ok(&server, &python, "ReadAccessKeys", json!({})).await;
    // oapi-cli takes the scope from the host's labels: region `0`, service `127`.
    let oapi_cli = root_signer(&server).scope("0", "127");
    ok(&server, &oapi_cli, "ReadAccessKeys", json!({})).await;
    // osc-sdk-go and Terraform sign AWS4 with service `oapi`.
    let go = root_signer(&server)
        .layout(Layout::Aws4)
        .scope("eu-west-2", "oapi");
    ok(&server, &go, "ReadAccessKeys", json!({})).await;
    // Any other host is not the one signed.
    let mut other = root_signer(&server);
    other.signed_host = Some(format!("127.0.0.2:{port}"));
    let r = call(&server, &other, "ReadAccessKeys", json!({})).await;
    expect_osc_error(&r, 401, "1", "AccessDenied");
}

/// One change to a signed request that must make it fail.
type Mutation = (&'static str, fn(&mut RawRequest));

#[tokio::test]
async fn every_mutation_of_a_signed_request_is_refused_and_changes_nothing() {
    let server = outscale().await;
    let (_, secret) = server.root_credentials();
    let secret = secret.to_string();
    let mutations: &[Mutation] = &[
        ("body", |r| r.body = br#"{"Tag":"evil"}"#.to_vec()),
        ("body whitespace", |r| r.body.push(b' ')),
        ("date", |r| {
            // One second later: the last digit before the `Z`.
            let mut d = r.header("x-osc-date").unwrap().as_bytes().to_vec();
            let i = d.len() - 2;
            d[i] = if d[i] == b'9' { b'8' } else { d[i] + 1 };
            r.set_header("x-osc-date", std::str::from_utf8(&d).unwrap());
        }),
        ("path", |r| r.target = "/api/v1/ReadAccessKeys".into()),
        ("content type", |r| {
            r.set_header("content-type", "application/json")
        }),
        ("signature", |r| {
            r.edit_authorization(|a| {
                let (head, sig) = a.rsplit_once('=').unwrap();
                let flipped = if sig.starts_with('0') { "1" } else { "0" };
                format!("{head}={flipped}{}", &sig[1..])
            });
        }),
        ("scope region", |r| {
            r.edit_authorization(|a| a.replace("/eu-west-2/", "/us-east-2/"));
        }),
        ("scope service", |r| {
            r.edit_authorization(|a| a.replace("/api/osc4", "/oapi/osc4"));
        }),
        ("algorithm", |r| {
            r.edit_authorization(|a| a.replace("OSC4-HMAC-SHA256", "AWS4-HMAC-SHA256"));
        }),
        ("terminator", |r| {
            r.edit_authorization(|a| a.replace("osc4_request", "aws4_request"));
        }),
        ("signed headers", |r| {
            r.edit_authorization(|a| a.replace("content-type;host;x-osc-date", "host;x-osc-date"));
        }),
        ("no date", |r| r.remove_header("x-osc-date")),
        ("no authorization", |r| r.remove_header("authorization")),
    ];
    let pristine = || {
        let mut req = json_post(
            &host(&server),
            "/api/v1/CreateAccessKey",
            &json!({"Tag": "good"}).to_string(),
        );
        root_signer(&server).sign(&mut req);
        req
    };
    let before = key_count(&server).await;
    let mut accepted = Vec::new();
    for (name, mutate) in mutations {
        let mut req = pristine();
        mutate(&mut req);
        let r = send(server.local_addr(), &req).await;
        if r.status != 401 {
            accepted.push(format!("{name}: {} {}", r.status, r.body));
        }
    }
    // A signature made with a wrong secret, or long ago, is refused too.
    let mut wrong = OscSigner::new(server.root_credentials().0, &format!("{secret}x"));
    wrong.region = "eu-west-2".into();
    for signer in [
        wrong,
        root_signer(&server).backdated(Duration::from_secs(20 * 60)),
    ] {
        let r = call(&server, &signer, "CreateAccessKey", json!({})).await;
        if r.status != 401 {
            accepted.push(format!("signer: {} {}", r.status, r.body));
        }
    }
    assert!(accepted.is_empty(), "accepted: {accepted:#?}");
    assert_eq!(
        key_count(&server).await,
        before,
        "a refused request changed nothing"
    );
    // The unchanged request is accepted, so the refusals above are about the mutations.
    assert_eq!(send(server.local_addr(), &pristine()).await.status, 200);
    assert_eq!(key_count(&server).await, before + 1);
}

fn basic_request(server: &Server, action: &str, body: &Value, encoded: &str) -> RawRequest {
    let mut req = json_post(
        &host(server),
        &format!("/api/v1/{action}"),
        &body.to_string(),
    );
    req.set_header("authorization", &format!("Basic {encoded}"));
    let t = time::OffsetDateTime::from(SystemTime::now());
    let date = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    req.set_header("x-osc-date", &date);
    req
}

#[tokio::test]
async fn login_and_password_work_on_the_access_key_calls_only() {
    let server = outscale().await;
    create_user(&server, "example-user").await;
    let pair = format!("{LOGIN}:{PASSWORD}");
    let standard = BASE64.encode(pair.as_bytes());
    let url_safe = BASE64URL.encode(pair.as_bytes());
    // osc-sdk-python sends standard base64, osc-cli URL-safe: both are the root user.
    for encoded in [&standard, &url_safe] {
        let req = basic_request(
            &server,
            "CreateAccessKey",
            &json!({"UserName": "example-user"}),
            encoded,
        );
        let r = send(server.local_addr(), &req).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let req = basic_request(&server, "ReadUsers", &json!({}), &standard);
    let details = expect_osc_error(
        &send(server.local_addr(), &req).await,
        401,
        "9",
        "AuthFailure",
    );
    assert!(details.contains("ReadUsers"), "{details}");

    let before = key_count(&server).await;
    let refusals = [
        BASE64.encode(format!("{LOGIN}:{PASSWORD}x").as_bytes()),
        BASE64.encode(format!("x{LOGIN}:{PASSWORD}").as_bytes()),
        BASE64.encode(format!("{LOGIN}:{}", PASSWORD.to_lowercase()).as_bytes()),
        BASE64.encode(LOGIN.as_bytes()),
        "not base64!".to_string(),
        String::new(),
    ];
    for encoded in &refusals {
        let req = basic_request(&server, "CreateAccessKey", &json!({}), encoded);
        expect_osc_error(
            &send(server.local_addr(), &req).await,
            401,
            "1",
            "AccessDenied",
        );
    }
    let mut no_date = basic_request(&server, "CreateAccessKey", &json!({}), &standard);
    no_date.remove_header("x-osc-date");
    let details = expect_osc_error(
        &send(server.local_addr(), &no_date).await,
        401,
        "1",
        "AccessDenied",
    );
    assert!(details.contains("X-Osc-Date"), "{details}");
    let mut stale = basic_request(&server, "CreateAccessKey", &json!({}), &standard);
    stale.set_header("x-osc-date", "20200101T000000Z");
    expect_osc_error(
        &send(server.local_addr(), &stale).await,
        401,
        "1",
        "AccessDenied",
    );
    assert_eq!(key_count(&server).await, before);

    // Without a configured login, Basic is refused outright.
    let plain = Server::builder()
        .flavor(Flavor::Outscale)
        .start()
        .await
        .unwrap();
    let req = basic_request(&plain, "ReadAccessKeys", &json!({}), &standard);
    expect_osc_error(
        &send(plain.local_addr(), &req).await,
        401,
        "1",
        "AccessDenied",
    );
}

#[tokio::test]
async fn an_expired_key_stops_working_on_both_faces_at_once() {
    let server = outscale().await;
    create_user(&server, "alice").await;
    let s = root_signer(&server);
    let in_an_hour = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    let date = in_an_hour
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let created = ok(
        &server,
        &s,
        "CreateAccessKey",
        json!({"UserName": "alice", "ExpirationDate": date}),
    )
    .await;
    let id = created["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = created["AccessKey"]["SecretKey"]
        .as_str()
        .unwrap()
        .to_string();
    sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    ok(
        &server,
        &OscSigner::new(&id, &secret),
        "ReadAccessKeys",
        json!({}),
    )
    .await;

    server.advance_clock(Duration::from_secs(2 * 3600));
    let err = aws_error(
        sts_as(&server, &id, &secret)
            .get_caller_identity()
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
    let r = call(
        &server,
        &OscSigner::new(&id, &secret),
        "ReadAccessKeys",
        json!({}),
    )
    .await;
    let details = expect_osc_error(&r, 401, "1", "AccessDenied");
    assert!(details.contains("expired"), "{details}");
    // IAM shows the key as Expired (a value of its own status enum); OUTSCALE keeps its state.
    let keys = root_iam(&server)
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.access_key_metadata()[0].status().unwrap().as_str(),
        "Expired"
    );
    let read = ok(&server, &s, "ReadAccessKeys", json!({"UserName": "alice"})).await;
    assert_eq!(read["AccessKeys"][0]["State"], "ACTIVE");
    let used = root_iam(&server)
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(used.user_name(), Some("alice"));
    assert!(
        used.access_key_last_used()
            .unwrap()
            .last_used_date()
            .is_some()
    );
    // Clearing the date revives the key.
    ok(
        &server,
        &s,
        "UpdateAccessKey",
        json!({"UserName": "alice", "AccessKeyId": id, "ClearExpirationDate": true}),
    )
    .await;
    sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn outscale_rules_for_dates_tags_and_deletion() {
    let server = outscale().await;
    create_user(&server, "example-user").await;
    let s = root_signer(&server);
    let before = key_count(&server).await;
    let r = call(
        &server,
        &s,
        "CreateAccessKey",
        json!({"ExpirationDate": "2001-01-01"}),
    )
    .await;
    let details = expect_osc_error(&r, 400, "4047", "InvalidParameterValue");
    assert!(details.contains("ExpirationDate"), "{details}");
    let r = call(
        &server,
        &s,
        "CreateAccessKey",
        json!({"ExpirationDate": "05/04/2063"}),
    )
    .await;
    expect_osc_error(&r, 400, "4047", "InvalidParameterValue");
    assert_eq!(key_count(&server).await, before);

    let created = ok(
        &server,
        &s,
        "CreateAccessKey",
        json!({"UserName": "example-user", "ExpirationDate": "2063-04-05", "Tag": "Group1"}),
    )
    .await;
    let id = created["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(created["AccessKey"]["Tag"], "Group1");
    // An update without ExpirationDate sets the key to never expire (documented); the tag stays.
    let updated = ok(
        &server,
        &s,
        "UpdateAccessKey",
        json!({"AccessKeyId": id, "State": "ACTIVE", "UserName": "example-user"}),
    )
    .await;
    assert!(
        updated["AccessKey"].get("ExpirationDate").is_none(),
        "{updated}"
    );
    assert_eq!(updated["AccessKey"]["Tag"], "Group1");
    let updated = ok(
        &server,
        &s,
        "UpdateAccessKey",
        json!({"AccessKeyId": id, "UserName": "example-user", "ExpirationDate": "2063-04-05T12:00:00.000Z", "ClearTag": true}),
    )
    .await;
    assert_eq!(
        updated["AccessKey"]["ExpirationDate"],
        "2063-04-05T12:00:00.000+0000"
    );
    assert!(updated["AccessKey"].get("Tag").is_none());
    assert_eq!(updated["AccessKey"]["State"], "ACTIVE", "State is optional");
    let filtered = ok(
        &server,
        &s,
        "ReadAccessKeys",
        json!({"UserName": "example-user", "Filters": {"AccessKeyIds": [id], "States": ["INACTIVE"]}}),
    )
    .await;
    assert_eq!(filtered["AccessKeys"], json!([]));

    // An EIM user's key must be INACTIVE before DeleteAccessKey.
    let r = call(
        &server,
        &s,
        "DeleteAccessKey",
        json!({"AccessKeyId": id, "UserName": "example-user"}),
    )
    .await;
    expect_osc_error(&r, 400, "6003", "InvalidState");
    ok(
        &server,
        &s,
        "UpdateAccessKey",
        json!({"AccessKeyId": id, "UserName": "example-user", "State": "INACTIVE"}),
    )
    .await;
    ok(
        &server,
        &s,
        "DeleteAccessKey",
        json!({"AccessKeyId": id, "UserName": "example-user"}),
    )
    .await;
    let r = call(
        &server,
        &s,
        "DeleteAccessKey",
        json!({"AccessKeyId": id, "UserName": "example-user"}),
    )
    .await;
    expect_osc_error(&r, 400, "4000", "InvalidParameterValue");
    // The IAM face deletes an Active key of a user, as IAM does.
    let again = ok(
        &server,
        &s,
        "CreateAccessKey",
        json!({"UserName": "example-user"}),
    )
    .await;
    root_iam(&server)
        .delete_access_key()
        .user_name("example-user")
        .access_key_id(again["AccessKey"]["AccessKeyId"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let r = call(&server, &s, "ReadAccessKeys", json!({"UserName": "nobody"})).await;
    expect_osc_error(&r, 400, "5075", "InvalidResource");
}

#[tokio::test]
async fn bad_input_gets_a_400_and_changes_nothing() {
    let server = outscale().await;
    let s = root_signer(&server);
    let before = key_count(&server).await;
    let cases: &[(&str, &str, &str)] = &[
        ("CreateAccessKey", r#"{"Bogus": 1}"#, "4045"),
        ("CreateAccessKey", r#"{"Tag": 5}"#, "4108"),
        ("CreateAccessKey", r#"{"DryRun": "yes"}"#, "4108"),
        ("CreateAccessKey", r#"{"UserName": "bad/name"}"#, "4047"),
        ("CreateAccessKey", "[1]", "4047"),
        ("CreateAccessKey", "{\"Tag\":", "4047"),
        ("UpdateAccessKey", r#"{"State": "ACTIVE"}"#, "7000"),
        (
            "UpdateAccessKey",
            r#"{"AccessKeyId": "X", "State": "ENABLED"}"#,
            "4047",
        ),
        ("DeleteAccessKey", "", "7000"),
        (
            "ReadAccessKeys",
            r#"{"Filters": {"States": "ACTIVE"}}"#,
            "4108",
        ),
        ("ReadAccessKeys", r#"{"Filters": {"Nope": []}}"#, "4045"),
        (
            "CreateUser",
            r#"{"UserName": "u", "UserEmail": "nope"}"#,
            "4047",
        ),
        ("ReadUsers", r#"{"ResultsPerPage": 0}"#, "4047"),
        ("ReadVms", "{}", "4045"),
    ];
    for (action, raw, code) in cases {
        let mut req = json_post(&host(&server), &format!("/api/v1/{action}"), raw);
        s.sign(&mut req);
        let r = send(server.local_addr(), &req).await;
        assert_eq!(r.status, 400, "{action} {raw}: {}", r.body);
        assert_eq!(
            body(&r)["Errors"][0]["Code"],
            *code,
            "{action} {raw}: {}",
            r.body
        );
    }
    let mut get = RawRequest::new("GET", "/api/v1/ReadAccessKeys", &host(&server));
    get.set_header("content-type", JSON);
    s.sign(&mut get);
    assert_eq!(send(server.local_addr(), &get).await.status, 405);
    assert_eq!(key_count(&server).await, before);
    assert_eq!(
        server.store().counts().await.unwrap().1,
        0,
        "no user was created"
    );
}

#[tokio::test]
async fn dry_run_checks_and_changes_nothing() {
    let server = outscale().await;
    let s = root_signer(&server);
    let before = key_count(&server).await;
    let r = ok(&server, &s, "CreateAccessKey", json!({"DryRun": true})).await;
    assert_eq!(
        r.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["ResponseContext"]
    );
    ok(
        &server,
        &s,
        "CreateUser",
        json!({"DryRun": true, "UserName": "ghost"}),
    )
    .await;
    assert_eq!(key_count(&server).await, before);
    assert_eq!(server.store().counts().await.unwrap().1, 0);
    // A dry run still checks the input and the credentials.
    let r = call(
        &server,
        &s,
        "CreateAccessKey",
        json!({"DryRun": true, "Bogus": 1}),
    )
    .await;
    expect_osc_error(&r, 400, "4045", "InvalidParameter");
    let wrong = OscSigner::new(server.root_credentials().0, "wrong");
    let r = call(&server, &wrong, "CreateAccessKey", json!({"DryRun": true})).await;
    expect_osc_error(&r, 401, "1", "AccessDenied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_parallel_creates_make_exactly_ten_keys() {
    let server = outscale().await;
    create_user(&server, "busy").await;
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (host, addr) = (host(&server), server.local_addr());
            let s = root_signer(&server);
            tokio::spawn(async move {
                let mut req = json_post(
                    &host,
                    "/api/v1/CreateAccessKey",
                    &json!({"UserName": "busy"}).to_string(),
                );
                s.sign(&mut req);
                send(addr, &req).await
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            200 => created += 1,
            _ => {
                expect_osc_error(&r, 400, "10005", "TooManyResources (QuotaExceded)");
            }
        }
    }
    assert_eq!(created, 10);
    let read = ok(
        &server,
        &root_signer(&server),
        "ReadAccessKeys",
        json!({"UserName": "busy"}),
    )
    .await;
    assert_eq!(read["AccessKeys"].as_array().unwrap().len(), 10);
    let err = aws_error(
        root_iam(&server)
            .create_access_key()
            .user_name("busy")
            .send()
            .await,
    );
    expect_error(
        err,
        409,
        "LimitExceeded",
        "Cannot exceed quota for AccessKeysPerUser: 10",
    );
}

#[tokio::test]
async fn users_are_managed_without_the_aws_cli() {
    let server = outscale().await;
    let s = root_signer(&server);
    let created = ok(
        &server,
        &s,
        "CreateUser",
        json!({"UserName": "example-user", "Path": "/ops/", "UserEmail": "ops@example.com"}),
    )
    .await;
    let user = &created["User"];
    assert_eq!(user["UserName"], "example-user");
    assert_eq!(user["Path"], "/ops/");
    assert_eq!(user["UserEmail"], "ops@example.com");
    let user_id = user["UserId"].as_str().unwrap().to_string();
    for name in ["b-user", "c-user"] {
        create_user(&server, name).await;
    }
    let r = call(
        &server,
        &s,
        "CreateUser",
        json!({"UserName": "EXAMPLE-USER"}),
    )
    .await;
    expect_osc_error(&r, 409, "9022", "ResourceConflict");

    let page = ok(
        &server,
        &s,
        "ReadUsers",
        json!({"FirstItem": 1, "ResultsPerPage": 1}),
    )
    .await;
    assert_eq!(page["Users"][0]["UserName"], "c-user");
    assert_eq!(page["HasMoreItems"], true);
    let one = ok(
        &server,
        &s,
        "ReadUsers",
        json!({"Filters": {"UserIds": [user_id]}}),
    )
    .await;
    assert_eq!(one["Users"].as_array().unwrap().len(), 1);
    assert_eq!(one["HasMoreItems"], false);

    let updated = ok(
        &server,
        &s,
        "UpdateUser",
        json!({"UserName": "example-user", "NewUserName": "renamed", "NewUserEmail": "new@example.com"}),
    )
    .await;
    assert_eq!(updated["User"]["UserName"], "renamed");
    assert_eq!(updated["User"]["UserEmail"], "new@example.com");
    assert_eq!(updated["User"]["UserId"], user_id.as_str());
    // The IAM face sees the same user.
    let iam_user = root_iam(&server)
        .get_user()
        .user_name("renamed")
        .send()
        .await
        .unwrap();
    assert_eq!(iam_user.user().unwrap().user_id(), user_id);

    ok(
        &server,
        &s,
        "CreateAccessKey",
        json!({"UserName": "renamed"}),
    )
    .await;
    let r = call(&server, &s, "DeleteUser", json!({"UserName": "renamed"})).await;
    expect_osc_error(&r, 409, "9000", "ResourceConflict");
    let keys = ok(
        &server,
        &s,
        "ReadAccessKeys",
        json!({"UserName": "renamed"}),
    )
    .await;
    let id = keys["AccessKeys"][0]["AccessKeyId"].as_str().unwrap();
    root_iam(&server)
        .delete_access_key()
        .user_name("renamed")
        .access_key_id(id)
        .send()
        .await
        .unwrap();
    ok(&server, &s, "DeleteUser", json!({"UserName": "renamed"})).await;
    let r = call(&server, &s, "DeleteUser", json!({"UserName": "renamed"})).await;
    expect_osc_error(&r, 400, "5075", "InvalidResource");
}

#[tokio::test]
async fn both_faces_see_one_store() {
    let server = outscale().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("alice").send().await.unwrap();
    let s = root_signer(&server);
    let created = ok(&server, &s, "CreateAccessKey", json!({"UserName": "alice"})).await;
    let id = created["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = created["AccessKey"]["SecretKey"]
        .as_str()
        .unwrap()
        .to_string();
    // A key made by the OUTSCALE face signs AWS requests, and the other way round.
    let me = sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/alice"));
    let aws_key = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let as_alice = OscSigner::new(&aws_key.access_key_id, &aws_key.secret_access_key);
    let mine = ok(&server, &as_alice, "ReadAccessKeys", json!({})).await;
    assert_eq!(
        mine["AccessKeys"].as_array().unwrap().len(),
        2,
        "alice's own keys"
    );
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let read = ok(
        &server,
        &s,
        "ReadAccessKeys",
        json!({"UserName": "alice", "Filters": {"AccessKeyIds": [id]}}),
    )
    .await;
    assert_eq!(read["AccessKeys"][0]["State"], "INACTIVE");
    let r = call(
        &server,
        &OscSigner::new(&id, &secret),
        "ReadAccessKeys",
        json!({}),
    )
    .await;
    expect_osc_error(&r, 401, "1", "AccessDenied");
    // GetAccessKeyLastUsed records the OUTSCALE call's scope.
    let used = iam
        .get_access_key_last_used()
        .access_key_id(&aws_key.access_key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(used.access_key_last_used().unwrap().service_name(), "api");
}

#[tokio::test]
async fn the_iam_face_answers_eim_requests_only_in_outscale_flavour() {
    use signer::Signer;
    for (flavor, expected) in [(Flavor::Outscale, 200), (Flavor::Aws, 403)] {
        let server = Server::builder().flavor(flavor).start().await.unwrap();
        let (id, secret) = server.root_credentials();
        let today = time::OffsetDateTime::now_utc().date().to_string();
        let mut req = RawRequest::form_post(
            &host(&server),
            format!("Action=ListAccessKeys&Version={today}"),
        );
        Signer::new(id, secret).service("eim").sign(&mut req);
        let r = send(server.local_addr(), &req).await;
        assert_eq!(r.status, expected, "{flavor:?}: {}", r.body);
    }
}

#[tokio::test]
async fn seeds_and_state_carry_logins_expiration_dates_and_tags() {
    let seed = iamlite::Seed::parse(
        r#"
[[accounts]]
id = "111122223333"
root_access_key_id = "QYLPMN5HHHFPZAM2ABCD"
root_secret_access_key = "1dgwBBwMvF2nG2mOGzm6rI4pb8GsGdzUuB0O7aFR"
login = "ops@example.com"
password = "Another!pass"

[[accounts.users]]
name = "deployer"
email = "deployer@example.com"

[[accounts.users.access_keys]]
id = "DEPLOYERKEY000000001"
secret = "deployerSecretKey0000000000000000000000A"
expiration_date = "2063-04-05"
tag = "ci"
"#,
        "seed.toml",
    )
    .unwrap();
    let server = Server::builder()
        .flavor(Flavor::Outscale)
        .seed(seed)
        .start()
        .await
        .unwrap();
    let pair = BASE64.encode(b"ops@example.com:Another!pass");
    let req = basic_request(
        &server,
        "ReadAccessKeys",
        &json!({"UserName": "deployer"}),
        &pair,
    );
    let r = send(server.local_addr(), &req).await;
    let v = body(&r);
    assert_eq!(v["AccessKeys"][0]["AccessKeyId"], "DEPLOYERKEY000000001");
    assert_eq!(
        v["AccessKeys"][0]["ExpirationDate"],
        "2063-04-05T00:00:00.000+0000"
    );
    assert_eq!(v["AccessKeys"][0]["Tag"], "ci");
    let state = server.store().export().await.unwrap();
    let account = state
        .accounts
        .iter()
        .find(|a| a.id == "111122223333")
        .unwrap();
    let key = &account.users[0].access_keys[0];
    assert_eq!(key.expiration_date.as_deref(), Some("2063-04-05T00:00:00Z"));
    assert_eq!(key.tag.as_deref(), Some("ci"));
    assert_eq!(
        account.users[0].email.as_deref(),
        Some("deployer@example.com")
    );
    let copy = Server::builder()
        .flavor(Flavor::Outscale)
        .start()
        .await
        .unwrap();
    copy.store().import(state.clone()).await.unwrap();
    assert_eq!(copy.store().export().await.unwrap(), state);
}

//! Test ergonomics: the embedding API, seed files, several accounts, admin endpoints, export and
//! import, deterministic ids and the propagation delay, through aws-sdk-iam/sts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_iam::types::StatusType;
use common::*;
use iamlite::{Seed, Server};
use std::time::Duration;

const SEED: &str = include_str!("../fixtures/seed.toml");
const B_ROOT: (&str, &str) = (
    "AKIAQYLPMN5HHHFPZAM2",
    "1dgwBBwMvF2nG2mOGzm6rI4pb8GsGdzUuB0O7aFR",
);
const DEPLOYER: (&str, &str) = (
    "AKIAQYLPMN5HDEPLOYRA",
    "deployerSecretKey0000000000000000000000A",
);

fn seed() -> Seed {
    Seed::parse(SEED, "fixtures/seed.toml").unwrap()
}

async fn seeded() -> Server {
    builder().await.seed(seed()).start().await.unwrap()
}

async fn admin(server: &Server, method: &str, path: &str, body: Option<String>) -> (u16, String) {
    admin_with(server, method, path, body, None).await
}

async fn admin_with(
    server: &Server,
    method: &str,
    path: &str,
    body: Option<String>,
    token: Option<&str>,
) -> (u16, String) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", server.endpoint()));
    if let Some(token) = token {
        req = req.header("x-iamlite-admin-token", token);
    }
    let req = req
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.unwrap_or_default(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn seeded_users_and_keys_work_from_the_first_request() {
    let server = seeded().await;
    let me = sts_as(&server, DEPLOYER.0, DEPLOYER.1)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.arn(),
        Some("arn:aws:iam::111122223333:user/automation/ci-deployer")
    );
    assert_eq!(me.account(), Some("111122223333"));

    let b = iam_as(&server, B_ROOT.0, B_ROOT.1);
    let keys = b
        .list_access_keys()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap();
    let listed: Vec<_> = keys
        .access_key_metadata()
        .iter()
        .map(|k| (k.access_key_id().unwrap(), k.status().unwrap().as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            ("AKIAQYLPMN5HDEPLOYRA", "Active"),
            ("AKIAQYLPMN5HDEPLOYRB", "Inactive")
        ]
    );
    let first = &keys.access_key_metadata()[0];
    assert_eq!(first.create_date().unwrap().secs(), 1_706_702_400);
    let tags = b
        .list_user_tags()
        .user_name("ci-deployer")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 2);

    // The inactive seeded key is refused like any inactive key.
    let err = aws_error(
        sts_as(
            &server,
            "AKIAQYLPMN5HDEPLOYRB",
            "deployerSecretKey0000000000000000000000B",
        )
        .get_caller_identity()
        .send()
        .await,
    );
    assert_eq!(err.code, "InvalidClientTokenId");
    // The default account got its seeded user too, beside its configured root key.
    let alice = sts_as(
        &server,
        "AKIARZPUZDIKALICE222",
        "aliceSecretAccessKey00000000000000000000",
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(alice.arn(), Some("arn:aws:iam::123456789012:user/alice"));
    root_iam(&server)
        .get_user()
        .user_name("alice")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn accounts_are_isolated_from_each_other() {
    let server = seeded().await;
    let a = root_iam(&server);
    let b = iam_as(&server, B_ROOT.0, B_ROOT.1);
    let (a_key, _) = user_with_key(&a, "shared-name").await;

    // Account B sees none of A's users or keys, and cannot touch them.
    let names: Vec<_> = b
        .list_users()
        .send()
        .await
        .unwrap()
        .users()
        .iter()
        .map(|u| u.user_name.clone())
        .collect();
    assert_eq!(names, ["ci-deployer"]);
    for err in [
        aws_error(b.get_user().user_name("shared-name").send().await),
        aws_error(b.delete_user().user_name("shared-name").send().await),
        aws_error(b.list_access_keys().user_name("shared-name").send().await),
    ] {
        expect_error(
            err,
            404,
            "NoSuchEntity",
            "The user with name shared-name cannot be found.",
        );
    }
    let err = aws_error(
        b.update_access_key()
            .access_key_id(&a_key)
            .status(StatusType::Inactive)
            .send()
            .await,
    );
    expect_error(
        err,
        404,
        "NoSuchEntity",
        &format!("The Access Key with id {a_key} cannot be found."),
    );
    let err = aws_error(b.delete_access_key().access_key_id(&a_key).send().await);
    assert_eq!(err.code, "NoSuchEntity");
    let err = aws_error(
        b.get_access_key_last_used()
            .access_key_id(&a_key)
            .send()
            .await,
    );
    expect_error(
        err,
        403,
        "AccessDenied",
        &format!(
            "User: arn:aws:iam::111122223333:root is not authorized to perform iam:GetAccessKeyLastUsed on resource: access key {a_key}"
        ),
    );
    // The same name can exist in both accounts.
    b.create_user()
        .user_name("shared-name")
        .send()
        .await
        .unwrap();
    let me = sts_as(&server, B_ROOT.0, B_ROOT.1)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.account(), Some("111122223333"));
    assert_eq!(me.arn(), Some("arn:aws:iam::111122223333:root"));
    // A's key is untouched.
    let keys = a
        .list_access_keys()
        .user_name("shared-name")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.access_key_metadata()[0].status(),
        Some(&StatusType::Active)
    );
}

#[tokio::test]
async fn reset_returns_to_the_seed_and_health_counts_it() {
    let server = seeded().await;
    let (status, body) = admin(&server, "GET", "/_iamlite/health", None).await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (health["accounts"].as_i64(), health["users"].as_i64()),
        (Some(2), Some(2))
    );
    assert_eq!(health["access_keys"].as_i64(), Some(5));

    let iam = root_iam(&server);
    user_with_key(&iam, "temporary").await;
    iam.delete_user()
        .user_name("alice")
        .send()
        .await
        .unwrap_err();
    iam_as(&server, B_ROOT.0, B_ROOT.1)
        .update_access_key()
        .user_name("ci-deployer")
        .access_key_id(DEPLOYER.0)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();

    let (status, _) = admin(&server, "POST", "/_iamlite/reset", None).await;
    assert_eq!(status, 200);
    let err = aws_error(iam.get_user().user_name("temporary").send().await);
    assert_eq!(err.code, "NoSuchEntity");
    sts_as(&server, DEPLOYER.0, DEPLOYER.1)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let (_, body) = admin(&server, "GET", "/_iamlite/health", None).await;
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["users"].as_i64(), Some(2));

    // The library call does the same.
    user_with_key(&iam, "again").await;
    server.reset().await.unwrap();
    assert!(aws_error(iam.get_user().user_name("again").send().await).code == "NoSuchEntity");

    let (status, _) = admin(&server, "GET", "/_iamlite/reset", None).await;
    assert_eq!(status, 405);
    let (status, _) = admin(&server, "GET", "/_iamlite/nothing", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn requests_racing_a_reset_see_the_state_before_or_after() {
    let server = seeded().await;
    let iam = root_iam(&server);
    for i in 0..20 {
        iam.create_user()
            .user_name(format!("extra{i}"))
            .send()
            .await
            .unwrap();
    }
    let lister = iam.clone();
    let reader = tokio::spawn(async move {
        let mut sizes = std::collections::BTreeSet::new();
        for _ in 0..50 {
            sizes.insert(lister.list_users().send().await.unwrap().users().len());
        }
        sizes
    });
    let (status, _) = admin(&server, "POST", "/_iamlite/reset", None).await;
    assert_eq!(status, 200);
    let sizes = reader.await.unwrap();
    // 21 users before (alice + 20), 1 after: never anything in between.
    assert!(sizes.iter().all(|n| *n == 21 || *n == 1), "{sizes:?}");
}

#[tokio::test]
async fn state_exports_and_imports_with_secrets_that_still_work() {
    let server = seeded().await;
    let iam = root_iam(&server);
    let (id, secret) = user_with_key(&iam, "exported").await;
    let boundary = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    iam.create_user()
        .user_name("bounded")
        .permissions_boundary(boundary)
        .send()
        .await
        .unwrap();
    sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let (status, exported) = admin(&server, "GET", "/_iamlite/state", None).await;
    assert_eq!(status, 200);
    assert!(exported.contains(&secret), "exports include secrets");

    let other = Server::start_in_memory().await.unwrap();
    let (status, body) = admin(&other, "POST", "/_iamlite/state", Some(exported.clone())).await;
    assert_eq!(status, 200, "{body}");
    let me = sts_as(&other, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/exported"));
    let bounded = root_iam(&other)
        .get_user()
        .user_name("bounded")
        .send()
        .await
        .unwrap();
    assert_eq!(
        bounded
            .user()
            .unwrap()
            .permissions_boundary()
            .unwrap()
            .permissions_boundary_arn(),
        Some(boundary)
    );
    let used = root_iam(&other)
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(used.access_key_last_used().unwrap().service_name(), "sts");
    let (_, again) = admin(&other, "GET", "/_iamlite/state", None).await;
    let strip_last_used = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        for a in v["accounts"].as_array_mut().unwrap() {
            for u in a["users"].as_array_mut().unwrap() {
                for k in u["access_keys"].as_array_mut().unwrap() {
                    k.as_object_mut().unwrap().remove("last_used");
                }
            }
            for k in a["root_access_keys"].as_array_mut().unwrap() {
                k.as_object_mut().unwrap().remove("last_used");
            }
        }
        v
    };
    assert_eq!(strip_last_used(&exported), strip_last_used(&again));

    // A refused import changes nothing.
    let (status, _) = admin(
        &other,
        "POST",
        "/_iamlite/state",
        Some("{\"format\":\"nope\",\"accounts\":[]}".into()),
    )
    .await;
    assert_eq!(status, 400);
    sts_as(&other, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    let (status, _) = admin(&other, "POST", "/_iamlite/state", Some("not json".into())).await;
    assert_eq!(status, 400);
}

async fn deterministic_run(seed: u64) -> Vec<String> {
    let server = Server::builder().id_seed(seed).start().await.unwrap();
    let iam = root_iam(&server);
    let mut out = Vec::new();
    use aws_sdk_iam::operation::RequestId;
    let user = iam.create_user().user_name("alice").send().await.unwrap();
    out.push(user.request_id().unwrap().to_string());
    out.push(user.user.unwrap().user_id);
    let key = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    out.push(key.request_id().unwrap().to_string());
    let key = key.access_key.unwrap();
    out.push(key.access_key_id.clone());
    out.push(key.secret_access_key.clone());
    let err = iam.get_user().user_name("ghost").send().await.unwrap_err();
    out.push(err.request_id().unwrap().to_string());
    server.shutdown().await;
    out
}

#[tokio::test]
async fn the_same_id_seed_gives_the_same_ids_secrets_and_request_ids() {
    let first = deterministic_run(42).await;
    let second = deterministic_run(42).await;
    assert_eq!(first, second);
    let other = deterministic_run(43).await;
    assert_ne!(first, other);
    assert!(first[3].starts_with("AKIARZPUZDIK"));
}

#[tokio::test]
async fn propagation_delay_holds_back_new_keys_and_keeps_old_ones_working() {
    // The clock moves instead of the test waiting: propagation is judged by the server's clock.
    let delay = Duration::from_secs(10);
    let server = builder()
        .await
        .propagation_delay(delay)
        .start()
        .await
        .unwrap();
    let iam = root_iam(&server);
    let (id, secret) = user_with_key(&iam, "alice").await;
    let alice = sts_as(&server, &id, &secret);
    let err = aws_error(alice.get_caller_identity().send().await);
    expect_error(
        err,
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    );
    server.advance_clock(delay);
    alice.get_caller_identity().send().await.unwrap();

    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&id)
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    alice
        .get_caller_identity()
        .send()
        .await
        .expect("still works while the change propagates");
    server.advance_clock(delay);
    assert_eq!(
        aws_error(alice.get_caller_identity().send().await).code,
        "InvalidClientTokenId"
    );

    let second = iam
        .create_access_key()
        .user_name("alice")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    server.advance_clock(delay);
    let bob = sts_as(&server, &second.access_key_id, &second.secret_access_key);
    bob.get_caller_identity().send().await.unwrap();
    iam.delete_access_key()
        .user_name("alice")
        .access_key_id(&second.access_key_id)
        .send()
        .await
        .unwrap();
    // The API shows the deletion at once; authentication lags behind it.
    let keys = iam
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(keys.access_key_metadata().len(), 1);
    bob.get_caller_identity()
        .send()
        .await
        .expect("a deleted key works until the deletion propagates");
    server.advance_clock(delay);
    assert_eq!(
        aws_error(bob.get_caller_identity().send().await).code,
        "InvalidClientTokenId"
    );
}

#[test]
fn a_blocking_server_serves_plain_tests() {
    let server = Server::builder().start_blocking().unwrap();
    let iam = root_iam(&server);
    let user = server
        .block_on(iam.create_user().user_name("alice").send())
        .unwrap();
    assert_eq!(user.user.unwrap().user_name, "alice");
    assert_eq!(server.credentials().access_key_id(), "AKIAIOSFODNN7EXAMPLE");
}

#[tokio::test]
async fn loading_the_same_seed_twice_on_one_file_gives_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("iamlite.db");
    let mut exports = Vec::new();
    for _ in 0..2 {
        let server = Server::builder()
            .db(&db)
            .seed(seed())
            .start()
            .await
            .unwrap();
        exports.push(server.store().export().await.unwrap());
        server.shutdown().await;
    }
    assert_eq!(exports[0], exports[1]);
}

#[tokio::test]
async fn a_bad_seed_file_stops_start_up_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seed.toml");
    std::fs::write(&path, SEED.replace("AKIAQYLPMN5HDEPLOYRA", "AKIA-BROKEN")).unwrap();
    let err = Server::builder().seed_file(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "{}:20: access key id 'AKIA-BROKEN' is not in AWS's format",
            path.display()
        )),
        "{text}"
    );
}

#[tokio::test]
async fn an_admin_token_is_required_once_configured() {
    let server = Server::builder()
        .admin_token("s3cret")
        .start()
        .await
        .unwrap();
    let (status, _) = admin(&server, "GET", "/_iamlite/health", None).await;
    assert_eq!(status, 403);
    let (status, _) = admin_with(&server, "GET", "/_iamlite/health", None, Some("wrong")).await;
    assert_eq!(status, 403);
    let (status, _) = admin_with(&server, "GET", "/_iamlite/health", None, Some("s3cret")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_generated_id_that_is_already_taken_is_drawn_again() {
    // Two servers with one id seed draw the same ids in the same order; the second one holds the
    // first one's state, so its first user id and first key id are taken.
    let first = Server::builder().id_seed(11).start().await.unwrap();
    let iam = root_iam(&first);
    let alice = iam.create_user().user_name("alice").send().await.unwrap();
    let (status, state) = admin(&first, "GET", "/_iamlite/state", None).await;
    assert_eq!(status, 200);

    let second = Server::builder().id_seed(11).start().await.unwrap();
    let (status, body) = admin(&second, "POST", "/_iamlite/state", Some(state)).await;
    assert_eq!(status, 200, "{body}");
    let bob = root_iam(&second)
        .create_user()
        .user_name("bob")
        .send()
        .await
        .expect("a collision draws another id instead of failing");
    let (alice, bob) = (alice.user.unwrap(), bob.user.unwrap());
    assert_ne!(alice.user_id, bob.user_id);
    assert!(bob.user_id.starts_with("AIDA") && bob.user_id.len() == 21);
}

//! Several iamlite processes on one PostgreSQL database must behave as one IAM: a key changed
//! through one node is judged anew by every node on its very next request, quotas and name
//! uniqueness hold for requests spread over nodes, and a node killed with SIGKILL loses no
//! acknowledged write.
//!
//! Needs the cluster `tests/pg/cluster.sh` starts (`IAMLITE_TEST_PG`): run as
//! `bash tests/pg/cluster.sh cargo test --test multi_node`. Without it the tests say they were
//! skipped, unless `IAMLITE_REQUIRE_PG` is set (`.ci/run` sets it): then a missing cluster fails
//! them. Round counts can be raised with `IAMLITE_RACE_ROUNDS` (a multiplier).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/process.rs"]
mod process;

use aws_sdk_iam::types::StatusType;
use common::{aws_error, pg};
use process::{Binary, ROOT_KEY_ID, ROOT_SECRET, iam_at, root_iam_at, sts_at};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Barrier;

fn rounds(default: usize) -> usize {
    let factor = std::env::var("IAMLITE_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    default * factor.max(1)
}

/// Three nodes on one fresh database, started at once (so that they also race to create the
/// schema), or `None` when there is no PostgreSQL to test with.
async fn cluster(name: &str, dir: &Path, extra: &[&str]) -> Option<Vec<Binary>> {
    cluster_with_url(name, dir, extra)
        .await
        .map(|(nodes, _)| nodes)
}

async fn cluster_with_url(name: &str, dir: &Path, extra: &[&str]) -> Option<(Vec<Binary>, String)> {
    let Some(url) = pg::fresh_database(name).await else {
        eprintln!("skipped: no PostgreSQL (run under tests/pg/cluster.sh)");
        return None;
    };
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let starts: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|node| {
            let (url, extra) = (url.clone(), extra.clone());
            let log = dir.join(format!("{node}.log"));
            let unused_db = dir.join(format!("{node}-unused.db"));
            std::thread::spawn(move || {
                let mut args = vec!["--store", url.as_str()];
                args.extend(extra.iter().map(String::as_str));
                Binary::spawn_with(&unused_db, &log, "info", &args)
            })
        })
        .collect();
    let nodes: Vec<Binary> = starts
        .into_iter()
        .map(|t| t.join().expect("a node starts"))
        .collect();
    for node in ["a", "b", "c"] {
        assert!(
            !dir.join(format!("{node}-unused.db")).exists(),
            "a node on PostgreSQL writes no SQLite file"
        );
    }
    Some((nodes, url))
}

/// Whether a request signed with the key is accepted by the node; a refusal must be the one
/// AWS gives for a key that is not (or no longer) valid.
async fn accepted(node: &Binary, key: &(String, String)) -> bool {
    match sts_at(&node.endpoint(), &key.0, &key.1)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(_) => true,
        Err(e) => {
            let e = aws_error::<(), _>(Err(e));
            assert_eq!(
                (e.status, e.code.as_str()),
                (403, "InvalidClientTokenId"),
                "{e:?}"
            );
            false
        }
    }
}

async fn new_key(iam: &aws_sdk_iam::Client, user: &str) -> (String, String) {
    let key = iam
        .create_access_key()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    (key.access_key_id, key.secret_access_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_changed_through_one_node_is_judged_anew_by_every_node_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nodes) = cluster("deactivate", dir.path(), &[]).await else {
        return;
    };
    let admins: Vec<_> = nodes.iter().map(|n| root_iam_at(&n.endpoint())).collect();
    admins[0]
        .create_user()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    let key = new_key(&admins[1], "alice").await;
    for node in &nodes {
        assert!(accepted(node, &key).await, "a new key works on every node");
    }
    let mut violations = 0;
    let n = rounds(200);
    for round in 0..n {
        let (by, others) = (round % 3, [(round + 1) % 3, (round + 2) % 3]);
        admins[by]
            .update_access_key()
            .user_name("alice")
            .access_key_id(&key.0)
            .status(StatusType::Inactive)
            .send()
            .await
            .unwrap();
        for o in others {
            if accepted(&nodes[o], &key).await {
                violations += 1;
            }
        }
        admins[others[0]]
            .update_access_key()
            .user_name("alice")
            .access_key_id(&key.0)
            .status(StatusType::Active)
            .send()
            .await
            .unwrap();
        for o in [by, others[1]] {
            if !accepted(&nodes[o], &key).await {
                violations += 1;
            }
        }
    }
    assert_eq!(
        violations, 0,
        "stale answers in {n} deactivate/reactivate rounds"
    );

    // Deletion: a key deleted through one node is unknown to the others on their next request.
    admins[0]
        .delete_access_key()
        .user_name("alice")
        .access_key_id(&key.0)
        .send()
        .await
        .unwrap();
    let n = rounds(100);
    for round in 0..n {
        let key = new_key(&admins[round % 3], "alice").await;
        for node in &nodes {
            assert!(
                accepted(node, &key).await,
                "round {round}: a new key works everywhere"
            );
        }
        let by = (round + 1) % 3;
        admins[by]
            .delete_access_key()
            .user_name("alice")
            .access_key_id(&key.0)
            .send()
            .await
            .unwrap();
        for node in &nodes {
            if accepted(node, &key).await {
                violations += 1;
            }
        }
    }
    assert_eq!(violations, 0, "deleted keys accepted in {n} rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_spread_over_three_nodes_never_pass_the_quota() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nodes) = cluster("quota", dir.path(), &[]).await else {
        return;
    };
    let admins: Vec<_> = nodes.iter().map(|n| root_iam_at(&n.endpoint())).collect();
    for round in 0..rounds(20) {
        let user = format!("u{round}");
        admins[0]
            .create_user()
            .user_name(&user)
            .send()
            .await
            .unwrap();
        // Every fourth round starts with an Inactive key: exactly one more may be made.
        let before = if round % 4 == 3 {
            let (id, _) = new_key(&admins[1], &user).await;
            admins[2]
                .update_access_key()
                .user_name(&user)
                .access_key_id(id)
                .status(StatusType::Inactive)
                .send()
                .await
                .unwrap();
            1
        } else {
            0
        };
        race_creates(&admins, &user, 2, before, round).await;
    }

    // The root user has its default key: of 32 creates over three nodes, exactly one succeeds.
    let barrier = Arc::new(Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (iam, barrier) = (admins[i % 3].clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                iam.create_access_key().send().await
            })
        })
        .collect();
    let mut made = Vec::new();
    for t in tasks {
        if let Ok(out) = t.await.unwrap() {
            made.push(out.access_key.unwrap().access_key_id);
        }
    }
    assert_eq!(made.len(), 1, "root keys made beside the default one");
    admins[2]
        .update_access_key()
        .access_key_id(&made[0])
        .status(StatusType::Inactive)
        .send()
        .await
        .unwrap();
    admins[1]
        .delete_access_key()
        .access_key_id(&made[0])
        .send()
        .await
        .unwrap();
}

/// 32 CreateAccessKey for `user` at once, round-robin over the nodes: exactly `quota - before`
/// succeed, the others get LimitExceeded, and every node then lists the same `quota` keys.
async fn race_creates(
    admins: &[aws_sdk_iam::Client],
    user: &str,
    quota: usize,
    before: usize,
    round: usize,
) {
    let barrier = Arc::new(Barrier::new(32));
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (iam, user, barrier) = (
                admins[i % admins.len()].clone(),
                user.to_string(),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                iam.create_access_key().user_name(user).send().await
            })
        })
        .collect();
    let mut made = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => made += 1,
            Err(e) => {
                let e = aws_error::<(), _>(Err(e));
                assert_eq!(
                    (e.status, e.code.as_str(), e.message),
                    (
                        409,
                        "LimitExceeded",
                        format!("Cannot exceed quota for AccessKeysPerUser: {quota}")
                    )
                );
            }
        }
    }
    assert_eq!(
        made,
        quota - before,
        "round {round}: keys made by 32 creates"
    );
    let mut seen = BTreeSet::new();
    for iam in admins {
        let ids: BTreeSet<String> = iam
            .list_access_keys()
            .user_name(user)
            .max_items(100)
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .iter()
            .map(|k| k.access_key_id().unwrap().to_string())
            .collect();
        assert_eq!(
            ids.len(),
            quota,
            "round {round}: every node lists {quota} keys"
        );
        seen.insert(ids);
    }
    assert_eq!(
        seen.len(),
        1,
        "round {round}: every node lists the same keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_the_outscale_flavour_creates_over_three_nodes_make_ten_keys() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nodes) = cluster("quota10", dir.path(), &["--flavor", "outscale"]).await else {
        return;
    };
    let admins: Vec<_> = nodes.iter().map(|n| root_iam_at(&n.endpoint())).collect();
    for round in 0..rounds(5) {
        let user = format!("o{round}");
        admins[1]
            .create_user()
            .user_name(&user)
            .send()
            .await
            .unwrap();
        race_creates(&admins, &user, 10, 0, round).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_user_and_create_access_key_on_two_nodes_never_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nodes) = cluster("deleteuser", dir.path(), &[]).await else {
        return;
    };
    let admins: Vec<_> = nodes.iter().map(|n| root_iam_at(&n.endpoint())).collect();
    let (mut deleted, mut created) = (0, 0);
    for round in 0..rounds(30) {
        let user = format!("d{round}");
        admins[0]
            .create_user()
            .user_name(&user)
            .send()
            .await
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let (a, b) = (admins[round % 3].clone(), admins[(round + 1) % 3].clone());
        let (u1, u2, b1, b2) = (user.clone(), user.clone(), barrier.clone(), barrier.clone());
        let delete = tokio::spawn(async move {
            b1.wait().await;
            a.delete_user().user_name(u1).send().await
        });
        let create = tokio::spawn(async move {
            b2.wait().await;
            b.create_access_key().user_name(u2).send().await
        });
        let (delete, create) = (delete.await.unwrap(), create.await.unwrap());
        match (delete, create) {
            (Ok(_), Err(e)) => {
                let e = aws_error::<(), _>(Err(e));
                assert_eq!((e.status, e.code.as_str()), (404, "NoSuchEntity"), "{e:?}");
                deleted += 1;
            }
            (Err(e), Ok(_)) => {
                let e = aws_error::<(), _>(Err(e));
                assert_eq!(
                    (e.status, e.code.as_str()),
                    (409, "DeleteConflict"),
                    "{e:?}"
                );
                created += 1;
                let keys = admins[2]
                    .list_access_keys()
                    .user_name(&user)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(keys.access_key_metadata().len(), 1);
            }
            (d, c) => panic!("round {round}: DeleteUser {d:?} and CreateAccessKey {c:?}"),
        }
    }
    eprintln!("DeleteUser won {deleted} rounds, CreateAccessKey {created}");
    // No key outlived its user.
    let (_, _, keys) = counts(&nodes[0]).await;
    assert_eq!(
        keys,
        created + 1,
        "keys: one per user that kept its key, and root's"
    );
}

/// A request to a node's admin endpoints (`/_iamlite/<path>`): (status, body).
async fn admin(node: &Binary, method: &str, path: &str, body: Vec<u8>) -> (u16, bytes::Bytes) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("{}/_iamlite/{path}", node.endpoint()))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, body)
}

/// (accounts, users, access keys) from a node's health endpoint.
async fn counts(node: &Binary) -> (i64, i64, i64) {
    let (status, body) = admin(node, "GET", "health", Vec::new()).await;
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let n = |k: &str| health[k].as_i64().unwrap_or(-1);
    (n("accounts"), n("users"), n("access_keys"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn names_that_differ_only_in_case_race_on_three_nodes_and_one_wins() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nodes) = cluster("names", dir.path(), &[]).await else {
        return;
    };
    let admins: Vec<_> = nodes.iter().map(|n| root_iam_at(&n.endpoint())).collect();
    for round in 0..rounds(30) {
        let names = [
            format!("bob{round}"),
            format!("BOB{round}"),
            format!("Bob{round}"),
        ];
        let barrier = Arc::new(Barrier::new(3));
        let tasks: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let (iam, name, barrier) = (admins[i].clone(), name.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    iam.create_user().user_name(name).send().await
                })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(e) => {
                    let e = aws_error::<(), _>(Err(e));
                    assert_eq!((e.status, e.code.as_str()), (409, "EntityAlreadyExists"));
                }
            }
        }
        assert_eq!(won, 1, "round {round}: users made of {names:?}");
    }
    let (_, users, _) = counts(&nodes[1]).await;
    assert_eq!(users, rounds(30) as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uses_sessions_and_devices_are_shared_by_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let Some(nodes) = cluster("shared", dir.path(), &[]).await else {
        return;
    };
    let admin_a = root_iam_at(&nodes[0].endpoint());
    admin_a
        .create_user()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    let key = new_key(&admin_a, "carol").await;
    // A use recorded by node B is what node C answers once B has written it (every 500 ms).
    assert!(accepted(&nodes[1], &key).await);
    let mut last_used = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let out = root_iam_at(&nodes[2].endpoint())
            .get_access_key_last_used()
            .access_key_id(&key.0)
            .send()
            .await
            .unwrap();
        let used = out.access_key_last_used().unwrap();
        if used.last_used_date().is_some() {
            last_used = Some((used.service_name().to_string(), used.region().to_string()));
            break;
        }
    }
    assert_eq!(
        last_used,
        Some(("sts".to_string(), process::REGION.to_string())),
        "node C sees node B's use within 4 s"
    );
    // Session credentials made through A sign requests on C.
    let session = sts_at(&nodes[0].endpoint(), &key.0, &key.1)
        .get_session_token()
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let sts_c = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(process::REGION))
            .endpoint_url(nodes[2].endpoint())
            .credentials_provider(aws_credential_types::Credentials::new(
                session.access_key_id(),
                session.secret_access_key(),
                Some(session.session_token().to_string()),
                None,
                "multi-node",
            ))
            .http_client(common::http_client())
            .build(),
    );
    let me = sts_c.get_caller_identity().send().await.unwrap();
    assert!(me.arn().unwrap().ends_with(":user/carol"));
    // A virtual MFA device made through B is listed by A.
    root_iam_at(&nodes[1].endpoint())
        .create_virtual_mfa_device()
        .virtual_mfa_device_name("carol-phone")
        .send()
        .await
        .unwrap();
    let listed = admin_a.list_virtual_mfa_devices().send().await.unwrap();
    let serials: Vec<_> = listed
        .virtual_mfa_devices()
        .iter()
        .map(|d| d.serial_number().to_string())
        .collect();
    assert_eq!(serials, ["arn:aws:iam::123456789012:mfa/carol-phone"]);
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Known {
    /// The last acknowledged write left the key with this status.
    Status(StatusType),
    Deleted,
    /// A write on it was sent to the node that was killed and not acknowledged: it may have
    /// landed or not.
    Unknown,
}

/// What one client task knows of its user's keys at the end.
#[derive(Debug, Default)]
struct Record {
    keys: BTreeMap<String, Known>,
    /// Creates sent to the killed node and not acknowledged (each may have made a key).
    lost_creates: usize,
}

/// One client task: creates, status changes and deletes of its own user's keys through the
/// nodes in turn (not B once it is dead), each acknowledged result recorded.
async fn writer(
    endpoints: Vec<String>,
    user: String,
    b_dead: Arc<std::sync::atomic::AtomicBool>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Record {
    use std::sync::atomic::Ordering::Relaxed;
    let admins: Vec<_> = endpoints.iter().map(|e| root_iam_at(e)).collect();
    let mut rec = Record::default();
    let mut i = 0usize;
    while !stop.load(Relaxed) {
        i += 1;
        let node = i % 3;
        if node == 1 && b_dead.load(Relaxed) {
            continue;
        }
        let iam = &admins[node];
        // A failure is allowed only from B, and only because it was killed.
        let lost = |e: &str| {
            assert_eq!(node, 1, "a surviving node failed: {e}");
        };
        let live: Vec<String> = rec
            .keys
            .iter()
            .filter(|(_, k)| matches!(k, Known::Status(_)))
            .map(|(id, _)| id.clone())
            .collect();
        let unknown = rec.keys.values().filter(|k| **k == Known::Unknown).count();
        if live.len() + unknown + rec.lost_creates < 2 {
            match iam.create_access_key().user_name(&user).send().await {
                Ok(out) => {
                    let id = out.access_key.unwrap().access_key_id;
                    rec.keys.insert(id, Known::Status(StatusType::Active));
                }
                Err(e) => {
                    lost(&format!("{e:?}"));
                    rec.lost_creates += 1;
                }
            }
            continue;
        }
        if live.is_empty() {
            // Every slot is taken by a key whose fate is unknown: nothing more to do.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let id = live[i % live.len()].clone();
        let result = match i % 3 {
            0 => iam
                .delete_access_key()
                .user_name(&user)
                .access_key_id(&id)
                .send()
                .await
                .map(|_| Known::Deleted)
                .map_err(|e| format!("{e:?}")),
            n => {
                let status = if n == 1 {
                    StatusType::Inactive
                } else {
                    StatusType::Active
                };
                iam.update_access_key()
                    .user_name(&user)
                    .access_key_id(&id)
                    .status(status.clone())
                    .send()
                    .await
                    .map(|_| Known::Status(status))
                    .map_err(|e| format!("{e:?}"))
            }
        };
        match result {
            Ok(k) => {
                rec.keys.insert(id, k);
            }
            Err(e) => {
                lost(&e);
                rec.keys.insert(id, Known::Unknown);
            }
        }
    }
    rec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_with_sigkill_loses_no_acknowledged_write() {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let dir = tempfile::tempdir().unwrap();
    let Some((mut nodes, url)) = cluster_with_url("kill", dir.path(), &[]).await else {
        return;
    };
    let admin = root_iam_at(&nodes[0].endpoint());
    let mut acknowledged = 0;
    for cycle in 0..rounds(5) {
        let users: Vec<String> = (0..8).map(|t| format!("k{cycle}-{t}")).collect();
        for u in &users {
            admin.create_user().user_name(u).send().await.unwrap();
        }
        let endpoints: Vec<String> = nodes.iter().map(Binary::endpoint).collect();
        let (b_dead, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let writers: Vec<_> = users
            .iter()
            .map(|u| {
                tokio::spawn(writer(
                    endpoints.clone(),
                    u.clone(),
                    b_dead.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200 + 97 * cycle as u64)).await;
        b_dead.store(true, Relaxed);
        nodes[1].sigkill();
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.store(true, Relaxed);
        for (w, user) in writers.into_iter().zip(&users) {
            let rec = w.await.unwrap();
            let actual = key_statuses(&admin, user).await;
            for (id, k) in &rec.keys {
                match k {
                    Known::Status(s) => {
                        acknowledged += 1;
                        assert_eq!(
                            actual.get(id),
                            Some(s),
                            "cycle {cycle}: {user}'s key {id} as last acknowledged"
                        )
                    }
                    Known::Deleted => {
                        acknowledged += 1;
                        assert!(
                            !actual.contains_key(id),
                            "cycle {cycle}: {user}'s deleted key {id} is back"
                        )
                    }
                    Known::Unknown => {}
                }
            }
            let unexplained = actual
                .keys()
                .filter(|id| !rec.keys.contains_key(*id))
                .count();
            assert!(
                unexplained <= rec.lost_creates,
                "cycle {cycle}: {user} has {unexplained} keys no acknowledged create made"
            );
        }
        // B starts again on the same database and sees what A sees.
        let log = dir.path().join(format!("b-{cycle}.log"));
        let unused = dir.path().join("b-unused.db");
        nodes[1] = Binary::spawn_with(&unused, &log, "info", &["--store", &url]);
        let admin_b = root_iam_at(&nodes[1].endpoint());
        for u in &users {
            assert_eq!(
                key_statuses(&admin_b, u).await,
                key_statuses(&admin, u).await,
                "cycle {cycle}: B restarted sees {u}'s keys as A does"
            );
        }
    }
    eprintln!("{acknowledged} acknowledged key states checked");
    assert!(acknowledged > 0);
}

async fn key_statuses(iam: &aws_sdk_iam::Client, user: &str) -> BTreeMap<String, StatusType> {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap().to_string(),
                k.status().unwrap().clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_node_refuses_an_id_seed_and_a_root_key_is_the_same_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = pg::fresh_database("idseed").await else {
        eprintln!("skipped: no PostgreSQL");
        return;
    };
    let out = std::process::Command::new(process::binary_path())
        .args(["--listen", "127.0.0.1:0", "--store", &url, "--id-seed", "7"])
        .env_remove("IAMLITE_STORE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--id-seed cannot be used with a PostgreSQL store"),
        "{stderr}"
    );
    let Some(nodes) = cluster("rootkey", dir.path(), &[]).await else {
        return;
    };
    for node in &nodes {
        let me = sts_at(&node.endpoint(), ROOT_KEY_ID, ROOT_SECRET)
            .get_caller_identity()
            .send()
            .await
            .unwrap();
        assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:root"));
    }
    // A key made through one node signs requests on another at once.
    let made = iam_at(&nodes[0].endpoint(), ROOT_KEY_ID, ROOT_SECRET)
        .create_access_key()
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let key = (made.access_key_id, made.secret_access_key);
    assert!(accepted(&nodes[2], &key).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_or_an_import_through_one_node_is_what_every_node_serves() {
    let dir = tempfile::tempdir().unwrap();
    let Some((nodes, url)) = cluster_with_url("admin", dir.path(), &[]).await else {
        return;
    };
    let admin_a = root_iam_at(&nodes[0].endpoint());
    admin_a
        .create_user()
        .user_name("dave")
        .send()
        .await
        .unwrap();
    let key = new_key(&admin_a, "dave").await;
    let (status, exported) = admin(&nodes[1], "GET", "state", Vec::new()).await;
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_slice(&exported).unwrap();
    assert_eq!(state["accounts"][0]["users"][0]["name"], "dave");
    assert_eq!(
        state["accounts"][0]["users"][0]["access_keys"][0]["access_key_id"],
        key.0.as_str()
    );

    let (status, _) = admin(&nodes[2], "POST", "reset", Vec::new()).await;
    assert_eq!(status, 200);
    for node in &nodes {
        assert!(
            !accepted(node, &key).await,
            "the reset key is gone everywhere"
        );
        assert_eq!(counts(node).await, (1, 0, 1), "only the root key is left");
    }

    let (status, body) = admin(&nodes[0], "POST", "state", exported.to_vec()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    for node in &nodes {
        assert!(
            accepted(node, &key).await,
            "the imported key works everywhere"
        );
    }
    let users = root_iam_at(&nodes[2].endpoint())
        .list_users()
        .send()
        .await
        .unwrap();
    let names: Vec<_> = users.users().iter().map(|u| u.user_name()).collect();
    assert_eq!(names, ["dave"]);

    // `iamlite export --store` reads the same state while the nodes run, once they have written
    // their last-used records (every 500 ms).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let out = std::process::Command::new(process::binary_path())
        .args(["export", "--store", &url])
        .env_remove("IAMLITE_STORE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (_, now) = admin(&nodes[1], "GET", "state", Vec::new()).await;
    assert_eq!(
        cli,
        serde_json::from_slice::<serde_json::Value>(&now).unwrap()
    );
}

/// Listener connections of the nodes on `url` (`--credential-cache notify`).
async fn listeners(url: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = 'iamlite-listener' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Ends every node's listener connection, as a database restart or a network cut would.
async fn cut_listeners(url: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'iamlite-listener' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap();
}

/// The longest a node may go on serving a changed key in notify mode (a notification takes
/// microseconds to milliseconds; the cache's safety net is 5 s).
const STALE_LIMIT: Duration = Duration::from_secs(1);

/// Rounds of deactivate-at-one-node, call-the-others: how many calls right after the write's
/// answer were still accepted, and the longest any node kept accepting the deactivated key.
async fn stale_windows(nodes: &[Binary], rounds: usize) -> (usize, Duration) {
    let admins: Vec<_> = nodes.iter().map(|n| root_iam_at(&n.endpoint())).collect();
    let user = format!("w{}", uuid::Uuid::new_v4().simple());
    admins[0]
        .create_user()
        .user_name(&user)
        .send()
        .await
        .unwrap();
    let key = new_key(&admins[0], &user).await;
    let (mut stale, mut worst) = (0, Duration::ZERO);
    for round in 0..rounds {
        for node in nodes {
            assert!(
                accepted(node, &key).await,
                "round {round}: warm on every node"
            );
        }
        let by = round % nodes.len();
        admins[by]
            .update_access_key()
            .user_name(&user)
            .access_key_id(&key.0)
            .status(StatusType::Inactive)
            .send()
            .await
            .unwrap();
        let acked = std::time::Instant::now();
        for (i, node) in nodes.iter().enumerate() {
            if i == by {
                assert!(
                    !accepted(node, &key).await,
                    "the writing node never serves stale"
                );
                continue;
            }
            if accepted(node, &key).await {
                stale += 1;
                while accepted(node, &key).await {
                    assert!(
                        acked.elapsed() < STALE_LIMIT,
                        "a node accepted a deactivated key for {STALE_LIMIT:?}"
                    );
                }
                worst = worst.max(acked.elapsed());
            }
        }
        admins[by]
            .update_access_key()
            .user_name(&user)
            .access_key_id(&key.0)
            .status(StatusType::Active)
            .send()
            .await
            .unwrap();
        // Reactivation reaches the other nodes the same way; wait for it before the next round.
        for node in nodes {
            let start = std::time::Instant::now();
            while !accepted(node, &key).await {
                assert!(
                    start.elapsed() < Duration::from_secs(6),
                    "reactivation never arrived"
                );
            }
        }
    }
    (stale, worst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_notify_cache_a_changed_key_is_refused_once_the_notification_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let Some((nodes, url)) =
        cluster_with_url("notify", dir.path(), &["--credential-cache", "notify"]).await
    else {
        return;
    };
    let start = std::time::Instant::now();
    while listeners(&url).await < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "every node listens"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = rounds(100);
    let (stale, worst) = stale_windows(&nodes, n).await;
    eprintln!(
        "notify mode: {stale} stale accepts in {} checks, longest window {worst:?}",
        n * 2
    );
    assert!(
        worst < Duration::from_secs(1),
        "longest stale window {worst:?}"
    );

    // The listeners' connections are cut: notifications sent meanwhile are lost, so each node
    // reads from the database until it listens again, then starts with an empty cache.
    cut_listeners(&url).await;
    let (stale, worst) = stale_windows(&nodes, n).await;
    eprintln!(
        "notify mode, listeners cut: {stale} stale accepts in {} checks, longest window {worst:?}",
        n * 2
    );
    assert!(
        worst < Duration::from_secs(1),
        "longest stale window after a cut {worst:?}"
    );
    let start = std::time::Instant::now();
    while listeners(&url).await < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "every node listens again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for node in &nodes {
        assert!(
            node.log().contains("listening for credential changes"),
            "{}",
            node.log()
        );
    }
}

#[tokio::test]
async fn a_database_written_by_a_newer_iamlite_is_refused_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let Some((nodes, url)) = cluster_with_url("newer", dir.path(), &[]).await else {
        return;
    };
    drop(nodes);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute("UPDATE iamlite_schema SET version = 99", &[])
        .await
        .unwrap();
    let out = std::process::Command::new(process::binary_path())
        .args(["--listen", "127.0.0.1:0", "--store", &url])
        .env_remove("IAMLITE_STORE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("was written by a newer iamlite (schema version 99)")
            && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    let version: i32 = client
        .query_one("SELECT version FROM iamlite_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 99);
}

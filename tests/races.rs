//! Races through the real SDK against an in-process server: IAM's rules (two keys per user, user
//! names unique ignoring case, no user deleted while it has keys) must hold however requests interleave.
//!
//! Each round releases its requests together through a barrier. Round counts can be raised with
//! `IAMLITE_RACE_ROUNDS` (a multiplier, default 1) for a longer soak.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{aws_error, root_iam, start, sts_as};
use iamlite::Server;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

fn rounds(default: usize) -> usize {
    let factor = std::env::var("IAMLITE_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1);
    default * factor.max(1)
}

/// Access keys in the store: (rows in the table, keys reachable through an account or a user).
/// A row the export cannot reach would be a key without an owner.
async fn key_counts(server: &Server) -> (i64, usize) {
    let (_, _, rows) = server.store().counts().await.unwrap();
    let state = server.store().export().await.unwrap();
    let reachable = state
        .accounts
        .iter()
        .map(|a| {
            a.root_access_keys.len() + a.users.iter().map(|u| u.access_keys.len()).sum::<usize>()
        })
        .sum();
    (rows, reachable)
}

/// The user names in the export, and every key id owned by one of them.
async fn exported_users_and_keys(server: &Server) -> (BTreeSet<String>, BTreeSet<String>) {
    let state = server.store().export().await.unwrap();
    let mut users = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for account in &state.accounts {
        for user in &account.users {
            users.insert(user.name.clone());
            keys.extend(user.access_keys.iter().map(|k| k.access_key_id.clone()));
        }
    }
    (users, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_parallel_create_access_key_make_exactly_two_keys_every_round() {
    const PARALLEL: usize = 32;
    let rounds = rounds(200);
    let started = Instant::now();
    let server = start().await;
    let iam = root_iam(&server);
    iam.create_user().user_name("racer").send().await.unwrap();
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(PARALLEL));
        let tasks: Vec<_> = (0..PARALLEL)
            .map(|_| {
                let iam = iam.clone();
                let barrier = barrier.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    iam.create_access_key().user_name("racer").send().await
                })
            })
            .collect();
        let mut created = BTreeSet::new();
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(out) => {
                    created.insert(out.access_key.unwrap().access_key_id);
                }
                Err(e) => {
                    let err = aws_error(Err::<(), _>(e));
                    assert_eq!(
                        (err.status, err.code.as_str()),
                        (409, "LimitExceeded"),
                        "round {round}: {err:?}"
                    );
                    refused += 1;
                }
            }
        }
        assert_eq!(created.len(), 2, "round {round}: {created:?}");
        assert_eq!(refused, PARALLEL - 2, "round {round}");
        let listed: BTreeSet<String> = iam
            .list_access_keys()
            .user_name("racer")
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .iter()
            .map(|k| k.access_key_id().unwrap().to_string())
            .collect();
        assert_eq!(listed, created, "round {round}");
        for id in &created {
            iam.delete_access_key()
                .user_name("racer")
                .access_key_id(id)
                .send()
                .await
                .unwrap();
        }
    }
    let (rows, reachable) = key_counts(&server).await;
    assert_eq!((rows, reachable), (1, 1), "only the root key is left");
    println!(
        "{rounds} rounds of {PARALLEL} parallel CreateAccessKey: 2 keys each, in {:.1?}",
        started.elapsed()
    );
    server.shutdown().await;
}

/// The `i`-th of the 64 spellings of `base` (6 letters) that differ only in case.
fn case_variant(base: &str, i: usize) -> String {
    base.chars()
        .enumerate()
        .map(|(bit, c)| {
            if i & (1 << bit) != 0 {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_parallel_create_user_differing_only_in_case_create_exactly_one() {
    const PARALLEL: usize = 64;
    let rounds = rounds(20);
    let started = Instant::now();
    let server = start().await;
    let iam = root_iam(&server);
    let mut winners = BTreeSet::new();
    for round in 0..rounds {
        let base = format!("racers{round}");
        let names: Vec<String> = (0..PARALLEL)
            .map(|i| format!("{}{round}", case_variant(&base[..6], i)))
            .collect();
        assert_eq!(
            names.iter().collect::<BTreeSet<_>>().len(),
            PARALLEL,
            "64 distinct spellings"
        );
        let barrier = Arc::new(Barrier::new(PARALLEL));
        let tasks: Vec<_> = names
            .iter()
            .map(|name| {
                let iam = iam.clone();
                let barrier = barrier.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    barrier.wait().await;
                    (name.clone(), iam.create_user().user_name(name).send().await)
                })
            })
            .collect();
        let mut created = Vec::new();
        for task in tasks {
            let (name, result) = task.await.unwrap();
            match result {
                Ok(out) => {
                    assert_eq!(out.user.unwrap().user_name, name);
                    created.push(name);
                }
                Err(e) => {
                    let err = aws_error(Err::<(), _>(e));
                    assert_eq!(
                        (err.status, err.code.as_str()),
                        (409, "EntityAlreadyExists"),
                        "round {round}: {err:?}"
                    );
                }
            }
        }
        assert_eq!(created.len(), 1, "round {round}: {created:?}");
        winners.insert(created.remove(0));
    }
    let listed: BTreeSet<String> = iam
        .list_users()
        .max_items(1000)
        .send()
        .await
        .unwrap()
        .users()
        .iter()
        .map(|u| u.user_name().to_string())
        .collect();
    assert_eq!(listed, winners);
    let (users, _) = exported_users_and_keys(&server).await;
    assert_eq!(users, winners);
    println!(
        "{rounds} rounds of {PARALLEL} parallel CreateUser (case variants): exactly 1 created each, in {:.1?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_user_racing_create_access_key_never_leaves_a_key_without_its_user() {
    const CREATES: usize = 2;
    let rounds = rounds(200);
    let started = Instant::now();
    let server = start().await;
    let iam = root_iam(&server);
    let (mut deleted_rounds, mut kept_rounds) = (0, 0);
    for round in 0..rounds {
        let user = format!("victim-{round}");
        iam.create_user().user_name(&user).send().await.unwrap();
        let barrier = Arc::new(Barrier::new(CREATES + 1));
        // Small, varying head starts so that each side wins some rounds.
        let jitter = |i: usize| Duration::from_micros(((round * 7 + i * 13) % 5) as u64 * 300);
        let delete = {
            let (iam, barrier, user) = (iam.clone(), barrier.clone(), user.clone());
            let pause = jitter(0);
            tokio::spawn(async move {
                barrier.wait().await;
                tokio::time::sleep(pause).await;
                iam.delete_user().user_name(user).send().await
            })
        };
        let creates: Vec<_> = (1..=CREATES)
            .map(|i| {
                let (iam, barrier, user) = (iam.clone(), barrier.clone(), user.clone());
                let pause = jitter(i);
                tokio::spawn(async move {
                    barrier.wait().await;
                    tokio::time::sleep(pause).await;
                    iam.create_access_key().user_name(user).send().await
                })
            })
            .collect();
        let mut keys = Vec::new();
        for task in creates {
            match task.await.unwrap() {
                Ok(out) => {
                    let key = out.access_key.unwrap();
                    keys.push((key.access_key_id, key.secret_access_key));
                }
                Err(e) => {
                    let err = aws_error(Err::<(), _>(e));
                    assert_eq!(
                        (err.status, err.code.as_str()),
                        (404, "NoSuchEntity"),
                        "round {round}: {err:?}"
                    );
                }
            }
        }
        let user_deleted = match delete.await.unwrap() {
            Ok(_) => true,
            Err(e) => {
                let err = aws_error(Err::<(), _>(e));
                assert_eq!(
                    (err.status, err.code.as_str()),
                    (409, "DeleteConflict"),
                    "round {round}: {err:?}"
                );
                false
            }
        };

        // The store never holds a key whose user is gone.
        let (rows, reachable) = key_counts(&server).await;
        assert_eq!(
            rows as usize, reachable,
            "round {round}: an orphaned key row"
        );
        let (users, owned_keys) = exported_users_and_keys(&server).await;
        if user_deleted {
            deleted_rounds += 1;
            assert!(
                keys.is_empty(),
                "round {round}: DeleteUser succeeded although CreateAccessKey returned {keys:?}"
            );
            assert!(!users.contains(&user), "round {round}");
            let err = aws_error(iam.list_access_keys().user_name(&user).send().await);
            assert_eq!((err.status, err.code.as_str()), (404, "NoSuchEntity"));
        } else {
            kept_rounds += 1;
            assert!(
                !keys.is_empty(),
                "round {round}: DeleteConflict without any key"
            );
            assert!(users.contains(&user), "round {round}");
            let listed: BTreeSet<String> = iam
                .list_access_keys()
                .user_name(&user)
                .send()
                .await
                .unwrap()
                .access_key_metadata()
                .iter()
                .map(|k| k.access_key_id().unwrap().to_string())
                .collect();
            let created: BTreeSet<String> = keys.iter().map(|(id, _)| id.clone()).collect();
            assert_eq!(listed, created, "round {round}");
        }
        for (id, secret) in &keys {
            assert!(
                owned_keys.contains(id),
                "round {round}: key {id} has no user"
            );
            if user_deleted {
                // No orphan shows up through the API either.
                let err = aws_error(
                    iam.get_access_key_last_used()
                        .access_key_id(id)
                        .send()
                        .await,
                );
                assert_eq!((err.status, err.code.as_str()), (403, "AccessDenied"));
                let err = aws_error(
                    sts_as(&server, id, secret)
                        .get_caller_identity()
                        .send()
                        .await,
                );
                assert_eq!(err.code, "InvalidClientTokenId");
            } else {
                let last_used = iam
                    .get_access_key_last_used()
                    .access_key_id(id)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(last_used.user_name(), Some(user.as_str()));
            }
        }

        if !user_deleted {
            for (id, _) in &keys {
                iam.delete_access_key()
                    .user_name(&user)
                    .access_key_id(id)
                    .send()
                    .await
                    .unwrap();
            }
            iam.delete_user().user_name(&user).send().await.unwrap();
        }
    }
    let (rows, reachable) = key_counts(&server).await;
    assert_eq!((rows, reachable), (1, 1), "only the root key is left");
    println!(
        "{rounds} rounds of DeleteUser racing {CREATES} CreateAccessKey: user deleted first in {deleted_rounds}, \
         keys created first in {kept_rounds}, no orphan, in {:.1?}",
        started.elapsed()
    );
    assert!(
        deleted_rounds > 0 && kept_rounds > 0,
        "the race went one way only ({deleted_rounds} deleted, {kept_rounds} kept)"
    );
    server.shutdown().await;
}

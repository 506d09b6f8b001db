//! PostgreSQL test helpers: a fresh database per test in the cluster `tests/pg/cluster.sh` starts.
//!
//! `tests/pg/cluster.sh` exports `IAMLITE_TEST_PG` (a `postgresql://` URL with trust auth). Each
//! test gets a fresh database rather than a shared one, so tests can run in parallel and never see
//! each other's rows; nothing is dropped because the whole cluster is deleted when the script ends.
#![allow(dead_code, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use tokio_postgres::NoTls;

/// The variable `tests/pg/cluster.sh` sets to the URL of its `iamlite_test` database.
pub const ENV: &str = "IAMLITE_TEST_PG";

/// The URL of the test cluster's database, or `None` when there is no cluster (the caller then
/// prints that it skipped). With `IAMLITE_REQUIRE_PG` set (`.ci/run` sets it) a missing cluster
/// panics instead: a skipped backend would let a run pass without testing it.
pub fn base_url() -> Option<String> {
    match std::env::var(ENV) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        Err(std::env::VarError::NotUnicode(raw)) => panic!("{ENV} is not valid UTF-8: {raw:?}"),
        _ => {
            let required = std::env::var_os("IAMLITE_REQUIRE_PG").is_some_and(|v| !v.is_empty());
            assert!(
                !required,
                "{ENV} is not set, and IAMLITE_REQUIRE_PG is: PostgreSQL tests need a cluster, so \
                 run them as `bash tests/pg/cluster.sh cargo test ...`"
            );
            None
        }
    }
}

/// Creates an empty database in the test cluster and returns its URL, or `None` when there is
/// no cluster (see [`base_url`]). `hint` (typically the test's name) only makes the database easy
/// to recognise in server logs; uniqueness comes from the pid, a counter and random hex.
pub async fn fresh_database(hint: &str) -> Option<String> {
    let base = base_url()?;
    let name = database_name(hint);
    let (client, connection) = tokio_postgres::connect(&base, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("connecting to {ENV}={base}: {e} (is `tests/pg/cluster.sh` still running?)")
        });
    let connection = tokio::spawn(connection);
    // The name is built from [a-z0-9_] only, so quoting it cannot be escaped.
    client
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE \"{name}\" on {base}: {e}"));
    // Wait for the connection to close instead of leaving it to the runtime's shutdown, so
    // hundreds of tests cannot pile up idle connections against `max_connections`.
    drop(client);
    connection
        .await
        .expect("the PostgreSQL connection task does not panic")
        .expect("the PostgreSQL connection closes cleanly");
    Some(with_database(&base, &name))
}

/// A database name unique across test processes and runs, within PostgreSQL's 63-byte limit.
fn database_name(hint: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut clean: String = hint
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .take(30)
        .collect();
    if clean.is_empty() {
        clean.push_str("db");
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let random = uuid::Uuid::new_v4().simple().to_string();
    // "t_" keeps a digit-leading hint from making a name that psql users would have to quote.
    format!("t_{clean}_{}_{n}_{}", std::process::id(), &random[..8])
}

/// `base` with its database (the URL's path) replaced by `name`, keeping any `?query`.
fn with_database(base: &str, name: &str) -> String {
    let authority_start = base
        .find("://")
        .map(|i| i + 3)
        .unwrap_or_else(|| panic!("{ENV} must be a postgresql:// URL, got {base}"));
    let rest = &base[authority_start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{}{authority}/{name}{query}", &base[..authority_start])
}

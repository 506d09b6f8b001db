//! The file-backed store: schema versioning, file permissions, and state that outlives a server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use iamlite::store::{SCHEMA_VERSION, Store};
use iamlite::{Config, Server, Storage};
use std::net::SocketAddr;
use std::time::Duration;

fn file_config(path: &std::path::Path) -> Config {
    Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        storage: Storage::File(path.to_path_buf()),
        ..Config::default()
    }
}

#[test]
fn a_database_from_a_newer_iamlite_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(&Storage::File(path)).unwrap_err();
    assert!(
        err.0.contains(&format!(
            "newer iamlite (schema version {})",
            SCHEMA_VERSION + 1
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_in_place_and_keeps_its_users() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v1 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/schema-v1.sql"
    ))
    .unwrap();
    conn.execute_batch(&v1).unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 1;
         INSERT INTO accounts VALUES ('123456789012', 0);
         INSERT INTO users VALUES ('AIDAOLDUSER000000000', '123456789012', 'old', '/', 0);",
    )
    .unwrap();
    drop(conn);

    let server = Server::start(file_config(&path)).await.unwrap();
    let iam = root_iam(&server);
    let old = iam.get_user().user_name("old").send().await.unwrap();
    assert_eq!(old.user().unwrap().user_id(), "AIDAOLDUSER000000000");
    assert!(old.user().unwrap().permissions_boundary().is_none());
    iam.create_user()
        .user_name("new")
        .permissions_boundary("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    server.shutdown().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/iamlite.db");
    let server = Server::start(file_config(&path)).await.unwrap();
    root_iam(&server)
        .create_user()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    server.shutdown().await;
}

#[tokio::test]
async fn users_keys_and_last_use_survive_a_restart_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iamlite.db");
    let server = Server::start(file_config(&path)).await.unwrap();
    let iam = root_iam(&server);
    let (id, secret) = user_with_key(&iam, "alice").await;
    sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    server.shutdown().await;

    let server = Server::start(file_config(&path)).await.unwrap();
    let iam = root_iam(&server);
    // Read first: any call signed with alice's key would record a new use and hide a lost one.
    let used = iam
        .get_access_key_last_used()
        .access_key_id(&id)
        .send()
        .await
        .unwrap()
        .access_key_last_used
        .unwrap();
    assert_eq!(used.service_name(), "sts");
    assert!(
        used.last_used_date().is_some(),
        "the use before the restart is remembered"
    );
    let keys = iam
        .list_access_keys()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.access_key_metadata()[0].access_key_id(),
        Some(id.as_str())
    );
    let me = sts_as(&server, &id, &secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/alice"));
    assert_eq!(server.store().integrity_check().unwrap(), "ok");
    server.shutdown().await;
}

#[tokio::test]
async fn the_configured_root_key_is_restored_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iamlite.db");
    let server = Server::start(file_config(&path)).await.unwrap();
    let root = root_iam(&server);
    let spare = root
        .create_access_key()
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let spare_iam = iam_as(&server, &spare.access_key_id, &spare.secret_access_key);
    spare_iam
        .update_access_key()
        .access_key_id("AKIAIOSFODNN7EXAMPLE")
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(
        aws_error(root.list_users().send().await).code,
        "InvalidClientTokenId"
    );
    server.shutdown().await;

    let server = Server::start(file_config(&path)).await.unwrap();
    root_iam(&server).list_users().send().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn a_restart_with_a_longer_propagation_delay_does_not_revive_old_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iamlite.db");
    let short = Duration::from_millis(300);
    let config = |delay| Config {
        propagation_delay: delay,
        ..file_config(&path)
    };
    let server = Server::start(config(short)).await.unwrap();
    let iam = root_iam(&server);
    let (deactivated, deactivated_secret) = user_with_key(&iam, "alice").await;
    let (deleted, deleted_secret) = user_with_key(&iam, "bob").await;
    // Real time passes here: the clock's offset is not kept across restarts.
    tokio::time::sleep(short * 2).await;
    sts_as(&server, &deactivated, &deactivated_secret)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    iam.update_access_key()
        .user_name("alice")
        .access_key_id(&deactivated)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    iam.delete_access_key()
        .user_name("bob")
        .access_key_id(&deleted)
        .send()
        .await
        .unwrap();
    assert_eq!(server.store().tombstones().await.unwrap(), 1);
    tokio::time::sleep(short * 2).await;
    for (id, secret) in [
        (&deactivated, &deactivated_secret),
        (&deleted, &deleted_secret),
    ] {
        let err = aws_error(
            sts_as(&server, id, secret)
                .get_caller_identity()
                .send()
                .await,
        );
        assert_eq!(err.code, "InvalidClientTokenId");
    }
    server.shutdown().await;

    // An hour's delay now must not reopen the window the old changes already closed.
    let server = Server::start(config(Duration::from_secs(3600)))
        .await
        .unwrap();
    assert_eq!(
        server.store().tombstones().await.unwrap(),
        0,
        "deletions that had propagated are forgotten at start-up"
    );
    for (id, secret) in [
        (&deactivated, &deactivated_secret),
        (&deleted, &deleted_secret),
    ] {
        let err = aws_error(
            sts_as(&server, id, secret)
                .get_caller_identity()
                .send()
                .await,
        );
        assert_eq!(err.code, "InvalidClientTokenId", "{id} came back to life");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_version_2_database_is_upgraded_in_place_and_keeps_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v2 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/schema-v2.sql"
    ))
    .unwrap();
    conn.execute_batch(&v2).unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 2;
         INSERT INTO accounts VALUES ('123456789012', 0);
         INSERT INTO users VALUES ('AIDAOLDUSER000000000', '123456789012', 'old', '/', 0, NULL);
         INSERT INTO access_keys (access_key_id, account_id, user_id, secret, status, create_date,
                                  status_changed, prior_status)
         VALUES ('AKIAOLDKEY0000000000', '123456789012', 'AIDAOLDUSER000000000',
                 'oldSecret000000000000000000000000000000A', 'Active', 1000, 1000, NULL);
         INSERT INTO deleted_access_keys VALUES ('AKIAGONE000000000000', '123456789012', NULL,
                 NULL, NULL, 'goneSecret00000000000000000000000000000A', 'Active', 2000);",
    )
    .unwrap();
    drop(conn);

    let config = Config {
        propagation_delay: Duration::from_secs(3600),
        ..file_config(&path)
    };
    let server = Server::start(config).await.unwrap();
    assert_eq!(server.store().tombstones().await.unwrap(), 0);
    // A change made before the upgrade counts as propagated, whatever the delay now.
    let me = sts_as(
        &server,
        "AKIAOLDKEY0000000000",
        "oldSecret000000000000000000000000000000A",
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/old"));
    let err = aws_error(
        sts_as(
            &server,
            "AKIAGONE000000000000",
            "goneSecret00000000000000000000000000000A",
        )
        .get_caller_identity()
        .send()
        .await,
    );
    assert_eq!(err.code, "InvalidClientTokenId");
    server.shutdown().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn a_version_3_database_is_upgraded_in_place_and_its_keys_never_expire() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let v3 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/schema-v3.sql"
    ))
    .unwrap();
    conn.execute_batch(&v3).unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 3;
         INSERT INTO accounts VALUES ('123456789012', 0);
         INSERT INTO users VALUES ('AIDAOLDUSER000000000', '123456789012', 'old', '/', 5000, NULL);
         INSERT INTO access_keys (access_key_id, account_id, user_id, secret, status, create_date,
                                  status_effective)
         VALUES ('AKIAOLDKEY0000000000', '123456789012', 'AIDAOLDUSER000000000',
                 'oldSecret000000000000000000000000000000A', 'Active', 1000, 0);",
    )
    .unwrap();
    drop(conn);

    let server = Server::start(file_config(&path)).await.unwrap();
    let me = sts_as(
        &server,
        "AKIAOLDKEY0000000000",
        "oldSecret000000000000000000000000000000A",
    )
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::123456789012:user/old"));
    let state = server.store().export().await.unwrap();
    let key = &state.accounts[0].users[0].access_keys[0];
    assert_eq!(key.expiration_date, None);
    assert_eq!(key.tag, None);
    server.shutdown().await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let (version, modified): (i64, i64) = (
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap(),
        conn.query_row(
            "SELECT last_modified FROM access_keys WHERE access_key_id = 'AKIAOLDKEY0000000000'",
            [],
            |r| r.get(0),
        )
        .unwrap(),
    );
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(
        modified, 1000,
        "a key's last modification is its creation until changed"
    );
}

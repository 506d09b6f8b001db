//! The schema, its versions and in-place upgrades, and the settings every connection gets.

use super::{OpenError, open_err};
use rusqlite::Connection;
use std::time::Duration;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 5;
/// Version 5's tables, created on their own by the upgrade from version 4.
const SCHEMA_V5: &str = include_str!("schema_v5.sql");
const SCHEMA: &str = concat!(include_str!("schema.sql"), include_str!("schema_v5.sql"));
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an in-memory connection spins on a lock held by a commit before giving up
/// (in steps of `MEMORY_BUSY_STEP`): memdb has no WAL, so readers wait out the writer's commits,
/// which take microseconds; SQLite's default handler would sleep a whole millisecond each time.
const MEMORY_BUSY_STEP: Duration = Duration::from_micros(20);
const MEMORY_BUSY_STEPS: i32 = 250_000;

fn short_busy_wait(attempt: i32) -> bool {
    if attempt < 16 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(MEMORY_BUSY_STEP);
    }
    attempt < MEMORY_BUSY_STEPS
}

/// Settings every connection gets.
pub(super) fn configure(conn: &mut Connection, durable: bool) -> rusqlite::Result<()> {
    if durable {
        conn.busy_timeout(BUSY_TIMEOUT)?;
    } else {
        conn.busy_handler(Some(short_busy_wait))?;
    }
    // Keeps cached statements compiled: without the query planner stability guarantee, the
    // bundled SQLite (built with STAT4) re-prepares a statement every time a new value is bound
    // to it, which measured as half the cost of a read.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

pub(super) fn configure_writer(conn: &mut Connection, durable: bool) -> rusqlite::Result<()> {
    configure(conn, durable)?;
    // Statement journals (upserts inside a savepoint) stay in memory, and large seeds and
    // imports get a bigger page cache than the 2 MiB default.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16_384)?;
    if durable {
        // WAL lets readers run beside the writer; FULL makes each COMMIT fsync the log.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Each upgrade from the version before it, applied in one transaction with the version bump.
const UPGRADES: &[(i64, &str)] = &[
    (2, "ALTER TABLE users ADD COLUMN permissions_boundary TEXT;"),
    // Deadlines instead of change times: a change made before the upgrade counts as propagated
    // (the delay it was made under is not known), and remembered deletions are forgotten.
    (
        3,
        "ALTER TABLE access_keys RENAME COLUMN status_changed TO status_effective;
         ALTER TABLE deleted_access_keys ADD COLUMN visible_until INTEGER NOT NULL DEFAULT 0;",
    ),
    (
        4,
        "ALTER TABLE access_keys ADD COLUMN expiration_date INTEGER;
         ALTER TABLE access_keys ADD COLUMN tag TEXT;
         ALTER TABLE access_keys ADD COLUMN last_modified INTEGER NOT NULL DEFAULT 0;
         UPDATE access_keys SET last_modified = create_date;
         ALTER TABLE deleted_access_keys ADD COLUMN expiration_date INTEGER;
         ALTER TABLE users ADD COLUMN email TEXT;
         ALTER TABLE users ADD COLUMN last_modified INTEGER NOT NULL DEFAULT 0;
         UPDATE users SET last_modified = create_date;
         DROP INDEX access_keys_by_owner;
         CREATE INDEX access_keys_by_owner ON access_keys(account_id, user_id, create_date,
             access_key_id, status, expiration_date, tag, last_modified);",
    ),
    (5, SCHEMA_V5),
];

pub(super) fn migrate(conn: &Connection) -> Result<(), OpenError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| open_err("cannot read schema version", e))?;
    if version > SCHEMA_VERSION {
        return Err(OpenError(format!(
            "this database was written by a newer iamlite (schema version {version}); \
             this iamlite understands schema version {SCHEMA_VERSION} and older. Upgrade iamlite or use another --db."
        )));
    }
    if version < 1 {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| open_err("cannot create schema", e))?;
        return Ok(());
    }
    for (to, sql) in UPGRADES.iter().filter(|(to, _)| *to > version) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql} PRAGMA user_version = {to}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            open_err(&format!("cannot upgrade the schema to version {to}"), e)
        })?;
    }
    Ok(())
}

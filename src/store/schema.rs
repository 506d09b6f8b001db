//! The schema, its versions and in-place upgrades, and the settings every connection gets.

use super::{Fault, OpenError, sqlite_open_err};
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

/// Most lines of a failed integrity check quoted in the error.
const INTEGRITY_LINES: usize = 3;

/// Refuses, without writing anything, a file that is not an iamlite database, one written by a
/// newer iamlite, or a damaged one. Runs before anything that could write (the WAL switch).
pub(super) fn inspect(conn: &Connection, target: &str) -> Result<(), OpenError> {
    // The first read of the header is what fails on a file that is not SQLite.
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| sqlite_open_err(target, "cannot read the schema version", &e))?;
    if version > SCHEMA_VERSION {
        return Err(OpenError(newer_schema(target, version)));
    }
    if version < 1 {
        return match foreign_objects(conn) {
            Ok(0) => Ok(()),
            Ok(n) => Err(OpenError(foreign_database(target, n))),
            Err(e) => Err(sqlite_open_err(target, "cannot read the schema", &e)),
        };
    }
    let problems = integrity(conn, "quick_check")
        .map_err(|e| sqlite_open_err(target, "cannot check the database", &e))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(OpenError(
            Fault::Damaged.describe(target, &problems.join("; ")),
        ))
    }
}

pub(super) fn newer_schema(target: &str, version: i64) -> String {
    format!(
        "{target} was written by a newer iamlite (schema version {version}); this iamlite \
         understands schema version {SCHEMA_VERSION} and older; nothing was changed. Upgrade \
         iamlite or use another --db."
    )
}

/// Schema objects in a database without iamlite's schema version: another program's tables.
pub(super) fn foreign_objects(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
}

pub(super) fn foreign_database(target: &str, objects: i64) -> String {
    Fault::NotADatabase.describe(
        target,
        &format!("an SQLite database with {objects} other schema objects"),
    )
}

/// What `PRAGMA quick_check` or `integrity_check` finds wrong (empty: nothing), at most
/// `INTEGRITY_LINES` lines. A file too broken to check gives an error instead, SQLITE_CORRUPT
/// as a rule.
pub(super) fn integrity(conn: &Connection, pragma: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA {pragma}({INTEGRITY_LINES})"))?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// Creates the schema in an empty database or upgrades an older one in place. On failure:
/// what was being done, and SQLite's error.
pub(super) fn migrate(conn: &Connection) -> Result<(), (String, rusqlite::Error)> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| ("cannot read schema version".to_string(), e))?;
    if version < 1 {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            ("cannot create schema".to_string(), e)
        })?;
        return Ok(());
    }
    for (to, sql) in UPGRADES.iter().filter(|(to, _)| *to > version) {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql} PRAGMA user_version = {to}; COMMIT;"
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            (format!("cannot upgrade the schema to version {to}"), e)
        })?;
    }
    Ok(())
}

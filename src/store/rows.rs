//! Row helpers shared by every use case, the seed loader and state import: each INSERT and each
//! row mapping is written once here.

use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::model::{
    AccessKeyMeta, Credential, KeyStatus, LastUsed, Owner, Principal, Secret, Tag, User,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

/// How many fresh ids are drawn before giving up; a collision is already a one-in-2^80 event.
const ID_ATTEMPTS: usize = 8;

/// The columns `user_row` reads, in order (a macro, so statements stay `&'static str` literals
/// and the statement cache is looked up without building a string per request).
macro_rules! user_columns {
    () => {
        "user_id, name, path, create_date, permissions_boundary, email, last_modified"
    };
}
pub(super) use user_columns;

/// A user (without its tags) from a row of `user_columns!`.
pub(super) fn user_row(account_id: &str, r: &Row<'_>) -> rusqlite::Result<User> {
    user_row_at(account_id, r, 0)
}

/// A user from the `user_columns!` that start at column `idx`.
pub(super) fn user_row_at(account_id: &str, r: &Row<'_>, idx: usize) -> rusqlite::Result<User> {
    Ok(User {
        user_id: r.get(idx)?,
        account_id: account_id.to_string(),
        name: r.get(idx + 1)?,
        path: r.get(idx + 2)?,
        create_date: r.get(idx + 3)?,
        permissions_boundary: r.get(idx + 4)?,
        tags: Vec::new(),
        email: r.get(idx + 5)?,
        last_modified: r.get(idx + 6)?,
    })
}

pub(super) fn find_user(c: &Connection, account_id: &str, name: &str) -> Result<Option<User>> {
    Ok(c.prepare_cached(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE account_id = ?1 AND name = ?2 COLLATE NOCASE"
    ))?
    .query_row([account_id, name], |r| user_row(account_id, r))
    .optional()?)
}

pub(super) fn user_by_name(c: &Connection, account_id: &str, name: &str) -> Result<User> {
    find_user(c, account_id, name)?.ok_or_else(|| Error::NoSuchUser {
        name: name.to_string(),
    })
}

/// Inserts a user row (its tags are written by `upsert_tags`).
pub(super) fn insert_user(c: &Connection, u: &User) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO users (user_id, account_id, name, path, create_date, permissions_boundary,
            email, last_modified)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        u.user_id,
        u.account_id,
        u.name,
        u.path,
        u.create_date,
        u.permissions_boundary,
        u.email,
        u.last_modified,
    ])?;
    Ok(())
}

pub(super) fn user_tags(c: &Connection, user_id: &str) -> Result<Vec<Tag>> {
    let mut stmt =
        c.prepare_cached("SELECT key, value FROM user_tags WHERE user_id = ?1 ORDER BY key_lower")?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(Tag {
            key: r.get(0)?,
            value: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Adds or overwrites tags by key, ignoring case and keeping the newest spelling.
pub(super) fn upsert_tags(c: &Connection, user_id: &str, tags: &[Tag]) -> Result<()> {
    let mut stmt = c.prepare_cached(
        "INSERT INTO user_tags (user_id, key_lower, key, value) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, key_lower) DO UPDATE SET key = excluded.key, value = excluded.value
         WHERE (key, value) IS NOT (excluded.key, excluded.value)",
    )?;
    for t in tags {
        stmt.execute(params![user_id, t.key.to_lowercase(), t.key, t.value])?;
    }
    Ok(())
}

/// An access key row as written by CreateAccessKey, the seed loader and state import.
pub(super) struct KeyRow<'a> {
    pub access_key_id: &'a str,
    pub account_id: &'a str,
    /// `None` for the root user's keys.
    pub user_id: Option<&'a str>,
    pub secret: &'a str,
    pub status: KeyStatus,
    pub create_date: i64,
    /// When the key starts to authenticate (its creation has propagated).
    pub status_effective: i64,
    pub last_used: Option<&'a LastUsed>,
    pub expiration: Option<i64>,
    pub tag: Option<&'a str>,
    pub last_modified: i64,
}

pub(super) fn insert_key(c: &Connection, k: &KeyRow<'_>) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO access_keys (access_key_id, account_id, user_id, secret, status, create_date,
            status_effective, last_used_date, last_used_service, last_used_region,
            expiration_date, tag, last_modified)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        k.access_key_id,
        k.account_id,
        k.user_id,
        k.secret,
        k.status.as_str(),
        k.create_date,
        k.status_effective,
        k.last_used.map(|u| u.date),
        k.last_used.map(|u| &u.service),
        k.last_used.map(|u| &u.region),
        k.expiration,
        k.tag,
        k.last_modified,
    ])?;
    Ok(())
}

/// The columns `credential_row` reads, in order, over `access_keys k LEFT JOIN users u`.
macro_rules! credential_columns {
    () => {
        "k.account_id, k.user_id, u.name, u.path, k.secret, k.status, k.create_date, \
         k.status_effective, k.prior_status, k.expiration_date"
    };
}
pub(super) use credential_columns;

/// A credential from a row of `credential_columns!` (or a tombstone row shaped the same way).
pub(super) fn credential_row(access_key_id: &str, r: &Row<'_>) -> rusqlite::Result<Credential> {
    let principal = match r.get::<_, Option<String>>(1)? {
        None => Principal::Root,
        Some(user_id) => Principal::User {
            user_id,
            name: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            path: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
        },
    };
    Ok(Credential {
        access_key_id: access_key_id.to_string(),
        account_id: r.get(0)?,
        principal,
        secret: Secret::new(r.get::<_, String>(4)?),
        status: status_column(r, 5)?,
        create_date: r.get(6)?,
        status_effective: r.get(7)?,
        prior_status: match r.get::<_, Option<String>>(8)? {
            None => None,
            Some(_) => Some(status_column(r, 8)?),
        },
        expiration: r.get(9)?,
    })
}

/// The columns `key_meta_row` reads, in order, over `access_keys k`.
macro_rules! key_meta_columns {
    () => {
        "k.access_key_id, k.status, k.create_date, k.expiration_date, k.tag, k.last_modified"
    };
}
pub(super) use key_meta_columns;

/// A key's metadata from a row of `key_meta_columns!` starting at `idx`; `expired` is judged at `now`.
pub(super) fn key_meta_row(
    r: &Row<'_>,
    idx: usize,
    user_name: Option<String>,
    now: i64,
) -> rusqlite::Result<AccessKeyMeta> {
    let expiration: Option<i64> = r.get(idx + 3)?;
    Ok(AccessKeyMeta {
        access_key_id: r.get(idx)?,
        user_name,
        status: status_column(r, idx + 1)?,
        create_date: r.get(idx + 2)?,
        expiration,
        expired: expiration.is_some_and(|e| e <= now),
        tag: r.get(idx + 4)?,
        last_modified: r.get(idx + 5)?,
    })
}

/// A status column; the schema's CHECK constraint admits only the two values.
pub(super) fn status_column(r: &Row<'_>, idx: usize) -> rusqlite::Result<KeyStatus> {
    let s: String = r.get(idx)?;
    KeyStatus::parse(&s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("'{s}' is not a key status").into(),
        )
    })
}

/// The last use stored in three columns starting at `idx` (date, service, region).
pub(super) fn last_used_columns(r: &Row<'_>, idx: usize) -> rusqlite::Result<Option<LastUsed>> {
    Ok(match r.get::<_, Option<i64>>(idx)? {
        Some(date) => Some(LastUsed {
            date,
            service: r.get(idx + 1)?,
            region: r.get(idx + 2)?,
        }),
        None => None,
    })
}

pub(super) fn count_keys(c: &Connection, account_id: &str, user_id: Option<&str>) -> Result<usize> {
    let n: i64 = c
        .prepare_cached("SELECT COUNT(*) FROM access_keys WHERE account_id = ?1 AND user_id IS ?2")?
        .query_row(params![account_id, user_id], |r| r.get(0))?;
    Ok(n as usize)
}

/// The user id (`None` for root) and display name an access-key operation works on.
pub(super) fn owner_ids(
    c: &Connection,
    account_id: &str,
    owner: &Owner,
) -> Result<(Option<String>, Option<String>)> {
    match owner {
        Owner::Root => Ok((None, None)),
        Owner::User(name) => {
            let user = user_by_name(c, account_id, name)?;
            Ok((Some(user.user_id), Some(user.name)))
        }
    }
}

/// Draws ids until one is unused (`taken_sql` counts rows holding `?1`), so a random collision
/// costs another draw rather than a failed request.
fn fresh_id(c: &Connection, taken_sql: &str, draw: impl Fn() -> String) -> Result<String> {
    let mut stmt = c.prepare_cached(taken_sql)?;
    for _ in 0..ID_ATTEMPTS {
        let id = draw();
        let taken: i64 = stmt.query_row([&id], |r| r.get(0))?;
        if taken == 0 {
            return Ok(id);
        }
        tracing::warn!(id = %id, "a generated id was already in use; drawing another");
    }
    tracing::error!("no unused id after {ID_ATTEMPTS} draws");
    Err(Error::Storage)
}

pub(super) fn fresh_user_id(c: &Connection, ids: &IdGen, account_id: &str) -> Result<String> {
    fresh_id(c, "SELECT COUNT(*) FROM users WHERE user_id = ?1", || {
        ids.user_id(account_id)
    })
}

/// A key id unused by live keys and by deleted keys still propagating.
pub(super) fn fresh_access_key_id(c: &Connection, ids: &IdGen, account_id: &str) -> Result<String> {
    fresh_id(
        c,
        "SELECT (SELECT COUNT(*) FROM access_keys WHERE access_key_id = ?1)
              + (SELECT COUNT(*) FROM deleted_access_keys WHERE access_key_id = ?1)",
        || ids.access_key_id(account_id),
    )
}

/// An `ASIA…` id unused by sessions and keys.
pub(super) fn fresh_session_key_id(
    c: &Connection,
    ids: &IdGen,
    account_id: &str,
) -> Result<String> {
    fresh_id(
        c,
        "SELECT (SELECT COUNT(*) FROM sessions WHERE access_key_id = ?1)
              + (SELECT COUNT(*) FROM access_keys WHERE access_key_id = ?1)",
        || ids.session_key_id(account_id),
    )
}

//! Row helpers shared by every use case, the seed loader and state import: each INSERT and each
//! row mapping is written once here.

use super::tx::{Row, Sql, Tx, args, sql};
use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::model::{
    AccessKeyMeta, Credential, KeyStatus, LastUsed, Owner, Principal, Secret, Tag, User,
};

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
pub(super) fn user_row(account_id: &str, r: &Row) -> Result<User> {
    user_row_at(account_id, r, 0)
}

/// A user from the `user_columns!` that start at column `idx`.
pub(super) fn user_row_at(account_id: &str, r: &Row, idx: usize) -> Result<User> {
    Ok(User {
        user_id: r.text(idx)?,
        account_id: account_id.to_string(),
        name: r.text(idx + 1)?,
        path: r.text(idx + 2)?,
        create_date: r.int(idx + 3)?,
        permissions_boundary: r.opt_text(idx + 4)?,
        tags: Vec::new(),
        email: r.opt_text(idx + 5)?,
        last_modified: r.int(idx + 6)?,
    })
}

/// A user by name, ignoring case (SQLite's NOCASE is PostgreSQL's lower() for ASCII names).
const USER_BY_NAME: Sql = sql!(
    sqlite: concat!("SELECT ", user_columns!(), " FROM users WHERE account_id = $1 AND name = $2 COLLATE NOCASE"),
    postgres: concat!("SELECT ", user_columns!(), " FROM users WHERE account_id = $1 AND lower(name) = lower($2)"),
);

/// The same, locking the user's row until the transaction ends: writes that count or add the
/// user's keys, devices or tags queue on it, so their checks hold across nodes.
const USER_BY_NAME_FOR_UPDATE: Sql = sql!(
    sqlite: concat!("SELECT ", user_columns!(), " FROM users WHERE account_id = $1 AND name = $2 COLLATE NOCASE"),
    postgres: concat!("SELECT ", user_columns!(), " FROM users WHERE account_id = $1 AND lower(name) = lower($2) FOR UPDATE"),
);

pub(super) async fn find_user(
    tx: &mut impl Tx,
    account_id: &str,
    name: &str,
) -> Result<Option<User>> {
    match tx.query_opt(&USER_BY_NAME, args![account_id, name]).await? {
        Some(r) => Ok(Some(user_row(account_id, &r)?)),
        None => Ok(None),
    }
}

pub(super) async fn user_by_name(tx: &mut impl Tx, account_id: &str, name: &str) -> Result<User> {
    find_user(tx, account_id, name)
        .await?
        .ok_or_else(|| Error::NoSuchUser {
            name: name.to_string(),
        })
}

/// The user, its row locked until the transaction ends (a no-op on SQLite's single writer).
pub(super) async fn lock_user(tx: &mut impl Tx, account_id: &str, name: &str) -> Result<User> {
    match tx
        .query_opt(&USER_BY_NAME_FOR_UPDATE, args![account_id, name])
        .await?
    {
        Some(r) => user_row(account_id, &r),
        None => Err(Error::NoSuchUser {
            name: name.to_string(),
        }),
    }
}

/// The id of the user a state document names (`None`: the root user), or `invalid`'s error.
pub(super) async fn named_user_id(
    tx: &mut impl Tx,
    account_id: &str,
    name: Option<&str>,
    invalid: impl Fn(&str) -> Error,
) -> Result<Option<String>> {
    match name {
        None => Ok(None),
        Some(name) => match user_by_name(tx, account_id, name).await {
            Ok(user) => Ok(Some(user.user_id)),
            Err(_) => Err(invalid(&format!("no user named {name}"))),
        },
    }
}

/// Inserts a user row (its tags are written by `upsert_tags`); `false` when the name is taken
/// ignoring case (another node's insert won).
pub(super) async fn insert_user(tx: &mut impl Tx, u: &User) -> Result<bool> {
    Ok(tx
        .execute_unique(
            &sql!(
                "INSERT INTO users (user_id, account_id, name, path, create_date,
                    permissions_boundary, email, last_modified)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            args![
                &u.user_id,
                &u.account_id,
                &u.name,
                &u.path,
                u.create_date,
                &u.permissions_boundary,
                &u.email,
                u.last_modified,
            ],
        )
        .await?
        .is_some())
}

pub(super) async fn user_tags(tx: &mut impl Tx, user_id: &str) -> Result<Vec<Tag>> {
    let rows = tx
        .query(
            &sql!("SELECT key, value FROM user_tags WHERE user_id = $1 ORDER BY key_lower"),
            args![user_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Tag {
                key: r.text(0)?,
                value: r.text(1)?,
            })
        })
        .collect()
}

/// Adds or overwrites tags by key, ignoring case and keeping the newest spelling.
pub(super) async fn upsert_tags(tx: &mut impl Tx, user_id: &str, tags: &[Tag]) -> Result<()> {
    for t in tags {
        let lower = t.key.to_lowercase();
        tx.execute(
            &sql!(
                "INSERT INTO user_tags (user_id, key_lower, key, value) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, key_lower) DO UPDATE
                 SET key = excluded.key, value = excluded.value
                 WHERE user_tags.key <> excluded.key OR user_tags.value <> excluded.value"
            ),
            args![user_id, &lower, &t.key, &t.value],
        )
        .await?;
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

/// Inserts a key row; `false` when its id is taken.
pub(super) async fn insert_key(tx: &mut impl Tx, k: &KeyRow<'_>) -> Result<bool> {
    Ok(tx
        .execute_unique(
            &sql!(
                "INSERT INTO access_keys (access_key_id, account_id, user_id, secret, status,
                    create_date, status_effective, last_used_date, last_used_service,
                    last_used_region, expiration_date, tag, last_modified)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            ),
            args![
                k.access_key_id,
                k.account_id,
                k.user_id,
                k.secret,
                k.status.as_str(),
                k.create_date,
                k.status_effective,
                k.last_used.map(|u| u.date),
                k.last_used.map(|u| u.service.as_str()),
                k.last_used.map(|u| u.region.as_str()),
                k.expiration,
                k.tag,
                k.last_modified,
            ],
        )
        .await?
        .is_some())
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
pub(super) fn credential_row(access_key_id: &str, r: &Row) -> Result<Credential> {
    let principal = match r.opt_text(1)? {
        None => Principal::Root,
        Some(user_id) => Principal::User {
            user_id,
            name: r.opt_text(2)?.unwrap_or_default(),
            path: r.opt_text(3)?.unwrap_or_default(),
        },
    };
    Ok(Credential {
        access_key_id: access_key_id.to_string(),
        account_id: r.text(0)?,
        principal,
        secret: Secret::new(r.text(4)?),
        status: status_column(r, 5)?,
        create_date: r.int(6)?,
        status_effective: r.int(7)?,
        prior_status: match r.is_null(8)? {
            true => None,
            false => Some(status_column(r, 8)?),
        },
        expiration: r.opt_int(9)?,
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
    r: &Row,
    idx: usize,
    user_name: Option<String>,
    now: i64,
) -> Result<AccessKeyMeta> {
    let expiration = r.opt_int(idx + 3)?;
    Ok(AccessKeyMeta {
        access_key_id: r.text(idx)?,
        user_name,
        status: status_column(r, idx + 1)?,
        create_date: r.int(idx + 2)?,
        expiration,
        expired: expiration.is_some_and(|e| e <= now),
        tag: r.opt_text(idx + 4)?,
        last_modified: r.int(idx + 5)?,
    })
}

/// A status column; the schema's CHECK constraint admits only the two values.
pub(super) fn status_column(r: &Row, idx: usize) -> Result<KeyStatus> {
    let s = r.text(idx)?;
    KeyStatus::parse(&s).ok_or_else(|| {
        tracing::error!(
            column = idx,
            "a stored key status is neither Active nor Inactive"
        );
        Error::Storage
    })
}

/// The last use stored in three columns starting at `idx` (date, service, region).
pub(super) fn last_used_columns(r: &Row, idx: usize) -> Result<Option<LastUsed>> {
    Ok(match r.opt_int(idx)? {
        Some(date) => Some(LastUsed {
            date,
            service: r.text(idx + 1)?,
            region: r.text(idx + 2)?,
        }),
        None => None,
    })
}

/// The owner's keys. `= $2` and `IS NULL` are separate statements: PostgreSQL cannot use an
/// index for a null-safe comparison.
pub(super) async fn count_keys(
    tx: &mut impl Tx,
    account_id: &str,
    user_id: Option<&str>,
) -> Result<usize> {
    let n = match user_id {
        Some(user_id) => {
            tx.count(
                &sql!("SELECT COUNT(*) FROM access_keys WHERE account_id = $1 AND user_id = $2"),
                args![account_id, user_id],
            )
            .await?
        }
        None => {
            tx.count(
                &sql!("SELECT COUNT(*) FROM access_keys WHERE account_id = $1 AND user_id IS NULL"),
                args![account_id],
            )
            .await?
        }
    };
    Ok(usize::try_from(n).unwrap_or(0))
}

/// The user id (`None` for root) and display name an access-key write works on, with the owner's
/// row (the user's, or the account's for root keys) locked until the transaction ends, so that
/// quota checks and deletions of the same owner on other nodes wait for this one.
pub(super) async fn lock_owner(
    tx: &mut impl Tx,
    account_id: &str,
    owner: &Owner,
) -> Result<(Option<String>, Option<String>)> {
    match owner {
        Owner::Root => {
            tx.query(
                &sql!(
                    sqlite: "SELECT 1 FROM accounts WHERE account_id = $1",
                    postgres: "SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE",
                ),
                args![account_id],
            )
            .await?;
            Ok((None, None))
        }
        Owner::User(name) => {
            let user = lock_user(tx, account_id, name).await?;
            Ok((Some(user.user_id), Some(user.name)))
        }
    }
}

/// Draws ids until one is unused (`taken` counts rows holding `$1`), so a random collision
/// costs another draw rather than a failed request.
async fn fresh_id(tx: &mut impl Tx, taken: &Sql, draw: impl Fn() -> String) -> Result<String> {
    for _ in 0..ID_ATTEMPTS {
        let id = draw();
        if tx.count(taken, args![&id]).await? == 0 {
            return Ok(id);
        }
        tracing::warn!(id = %id, "a generated id was already in use; drawing another");
    }
    tracing::error!("no unused id after {ID_ATTEMPTS} draws");
    Err(Error::Storage)
}

pub(super) async fn fresh_user_id(
    tx: &mut impl Tx,
    ids: &IdGen,
    account_id: &str,
) -> Result<String> {
    fresh_id(
        tx,
        &sql!("SELECT COUNT(*) FROM users WHERE user_id = $1"),
        || ids.user_id(account_id),
    )
    .await
}

/// A key id unused by live keys and by deleted keys still propagating.
pub(super) async fn fresh_access_key_id(
    tx: &mut impl Tx,
    ids: &IdGen,
    account_id: &str,
) -> Result<String> {
    fresh_id(
        tx,
        &sql!(
            "SELECT (SELECT COUNT(*) FROM access_keys WHERE access_key_id = $1)
                  + (SELECT COUNT(*) FROM deleted_access_keys WHERE access_key_id = $1)"
        ),
        || ids.access_key_id(account_id),
    )
    .await
}

/// An `ASIA…` id unused by sessions and keys.
pub(super) async fn fresh_session_key_id(
    tx: &mut impl Tx,
    ids: &IdGen,
    account_id: &str,
) -> Result<String> {
    fresh_id(
        tx,
        &sql!(
            "SELECT (SELECT COUNT(*) FROM sessions WHERE access_key_id = $1)
                  + (SELECT COUNT(*) FROM access_keys WHERE access_key_id = $1)"
        ),
        || ids.session_key_id(account_id),
    )
    .await
}

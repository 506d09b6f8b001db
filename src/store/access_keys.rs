//! Access-key use cases: the credential lookup behind every signed request, last-used records,
//! and CreateAccessKey's quota, UpdateAccessKey and DeleteAccessKey inside the write's transaction,
//! with IAM's propagation delay kept as deadlines.

use super::cache::Invalidate;
use super::page::{decode_marker, encode_marker, paginate};
use super::rows::{
    KeyRow, count_keys, credential_columns, credential_row, fresh_access_key_id, insert_key,
    key_meta_columns, key_meta_row, last_used_columns, lock_owner, status_column,
};
use super::tx::{Tx, args, sql};
use super::{Backend, Store, read_tx, write_tx};
use crate::core::{KeyLastUsed, PageRequest};
use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::model::{
    AccessKeyMeta, Change, CreatedKey, Credential, KeyStatus, LastUsed, Owner, Page, Secret,
};
use std::sync::Arc;

/// What a new key carries besides its owner and secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKeyDetails {
    pub expiration: Option<i64>,
    pub tag: Option<String>,
}

/// What UpdateAccessKey changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUpdate {
    pub status: Option<KeyStatus>,
    pub expiration: Change<i64>,
    pub tag: Change<String>,
}
impl Store {
    /// Everything needed to verify a request signed with `access_key_id`: on SQLite from memory
    /// when the key was used recently. On PostgreSQL from the database, since another node may
    /// have changed the key a moment ago, unless `--credential-cache notify` keeps a cache that
    /// other nodes' writes empty (and only while the connection that hears them is up).
    pub async fn credential(&self, access_key_id: &str) -> Result<Option<Credential>> {
        let max_age = match self.backend() {
            Backend::Sqlite(_) => None,
            #[cfg(feature = "postgres")]
            Backend::Postgres(db) => match db.cache_max_age() {
                Some(max) => Some(max),
                None => return read_tx!(self, |tx| read_credential(tx, access_key_id)),
            },
        };
        let generation = match self.inner.shared.cached_credential(access_key_id, max_age) {
            Ok(c) => return Ok(Some(c)),
            Err(generation) => generation,
        };
        let found = read_tx!(self, |tx| read_credential(tx, access_key_id))?;
        if let Some(c) = &found {
            self.inner.shared.remember(access_key_id, c, generation);
        }
        Ok(found)
    }

    /// A key whose deletion has not propagated by `now`, as it was when deleted.
    pub async fn recently_deleted_credential(
        &self,
        access_key_id: &str,
        now: i64,
    ) -> Result<Option<Credential>> {
        if self.propagation_delay_ms() == 0 {
            return Ok(None);
        }
        let row = read_tx!(self, |tx| tx.query_opt(
            // Shaped like credential_columns!: a tombstone has no dates or prior status to tell.
            &sql!(
                "SELECT account_id, user_id, user_name, user_path, secret, status, 0, 0, NULL,
                        expiration_date
                 FROM deleted_access_keys WHERE access_key_id = $1 AND visible_until > $2"
            ),
            args![access_key_id, now]
        ))?;
        row.map(|r| credential_row(access_key_id, &r)).transpose()
    }

    /// Records a use of a key; cheap, made durable with the next write batch (SQLite) or within
    /// half a second (PostgreSQL).
    pub fn touch_last_used(&self, access_key_id: &str, used: LastUsed) {
        self.inner.shared.record_use(access_key_id, used);
    }

    /// The key's owner and last use, or `None` if the account has no such key.
    pub async fn access_key_last_used(
        &self,
        account_id: &str,
        access_key_id: &str,
    ) -> Result<Option<KeyLastUsed>> {
        let row = read_tx!(self, |tx| tx.query_opt(
            &sql!(
                "SELECT u.name, k.last_used_date, k.last_used_service, k.last_used_region
                 FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                 WHERE k.access_key_id = $1 AND k.account_id = $2"
            ),
            args![access_key_id, account_id]
        ))?;
        let Some(r) = row else { return Ok(None) };
        let mut found = KeyLastUsed {
            user_name: r.opt_text(0)?,
            last_used: last_used_columns(&r, 1)?,
        };
        // A use this node has not written yet is newer than the stored one, unless another
        // node's later use is already stored.
        if let Some(pending) = self.inner.shared.pending_use(access_key_id)
            && found
                .last_used
                .as_ref()
                .is_none_or(|u| u.date <= pending.date)
        {
            found.last_used = Some(pending);
        }
        Ok(Some(found))
    }

    /// A page of the owner's keys in creation order; `expired` is judged at `now`.
    pub async fn list_access_keys(
        &self,
        account_id: &str,
        owner: &Owner,
        page: &PageRequest,
        now: i64,
    ) -> Result<Page<AccessKeyMeta>> {
        let (start_date, start_id) = match &page.marker {
            Some(m) => {
                let raw = decode_marker(m, "k")?;
                let (date, id) = raw.split_once(':').ok_or(Error::InvalidMarker)?;
                let date = date.parse::<i64>().map_err(|_| Error::InvalidMarker)?;
                (date, id.to_string())
            }
            None => (i64::MIN, String::new()),
        };
        let max_items = page.max_items;
        let limit = max_items as i64 + 1;
        let items = read_tx!(self, |tx| list_keys(
            tx,
            account_id,
            owner,
            (start_date, &start_id),
            limit,
            now
        ))?;
        Ok(paginate(items, max_items, |k| {
            encode_marker("k", &format!("{}:{}", k.create_date, k.access_key_id))
        }))
    }

    /// Creates an Active key with a fresh id for `owner`, unless that would exceed the quota.
    pub async fn create_access_key(
        &self,
        account_id: &str,
        owner: Owner,
        ids: Arc<IdGen>,
        secret: Secret,
        now: i64,
        details: NewKeyDetails,
    ) -> Result<CreatedKey> {
        let account_id = account_id.to_string();
        let effective = now.saturating_add(self.propagation_delay_ms());
        let quota = self.key_quota();
        write_tx!(self, Invalidate::Nothing, |tx| create_key(
            tx,
            NewKey {
                account_id: &account_id,
                owner: &owner,
                ids: &ids,
                secret: &secret,
                now,
                effective,
                quota,
                details: &details,
            }
        ))
    }

    /// Changes a key's status (when `status` is given), expiration and tag; answers the key as it
    /// is afterwards.
    pub async fn update_access_key(
        &self,
        account_id: &str,
        owner: Owner,
        access_key_id: String,
        update: KeyUpdate,
        now: i64,
    ) -> Result<AccessKeyMeta> {
        let account_id = account_id.to_string();
        let effective = now.saturating_add(self.propagation_delay_ms());
        write_tx!(self, Invalidate::Key(access_key_id.clone()), |tx| {
            update_key(
                tx,
                &account_id,
                &owner,
                &access_key_id,
                &update,
                (now, effective),
            )
        })
    }

    /// Deletes a key; with `only_if_inactive`, an Active key is refused (OUTSCALE's rule for
    /// EIM users' keys).
    pub async fn delete_access_key(
        &self,
        account_id: &str,
        owner: Owner,
        access_key_id: String,
        now: i64,
        only_if_inactive: bool,
    ) -> Result<()> {
        let account_id = account_id.to_string();
        let delay = self.propagation_delay_ms();
        let deleted = access_key_id.clone();
        write_tx!(self, Invalidate::Key(access_key_id.clone()), |tx| {
            delete_key(
                tx,
                &account_id,
                &owner,
                &access_key_id,
                (now, delay),
                only_if_inactive,
            )
        })?;
        self.inner.shared.forget_use(&deleted);
        Ok(())
    }
}

async fn read_credential(tx: &mut impl Tx, access_key_id: &str) -> Result<Option<Credential>> {
    let row = tx
        .query_opt(
            &sql!(concat!(
                "SELECT ",
                credential_columns!(),
                " FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                 WHERE k.access_key_id = $1"
            )),
            args![access_key_id],
        )
        .await?;
    row.map(|r| credential_row(access_key_id, &r)).transpose()
}

async fn list_keys(
    tx: &mut impl Tx,
    account_id: &str,
    owner: &Owner,
    (start_date, start_id): (i64, &str),
    limit: i64,
    now: i64,
) -> Result<Vec<AccessKeyMeta>> {
    match owner {
        Owner::Root => {
            let rows = tx
                .query(
                    &sql!(concat!(
                        "SELECT ",
                        key_meta_columns!(),
                        " FROM access_keys k
                         WHERE k.account_id = $1 AND k.user_id IS NULL
                           AND (k.create_date, k.access_key_id) >= ($2, $3)
                         ORDER BY k.create_date, k.access_key_id LIMIT $4"
                    )),
                    args![account_id, start_date, start_id, limit],
                )
                .await?;
            rows.iter().map(|r| key_meta_row(r, 0, None, now)).collect()
        }
        Owner::User(name) => {
            // One statement, so one snapshot: the user (NoSuchEntity when there is no row at
            // all) and its keys (a row with NULL key columns when it has none).
            let rows = tx
                .query(
                    &sql!(
                        sqlite: concat!(
                            "SELECT u.name, ",
                            key_meta_columns!(),
                            " FROM users u LEFT JOIN access_keys k
                               ON k.account_id = u.account_id AND k.user_id = u.user_id
                              AND (k.create_date, k.access_key_id) >= ($3, $4)
                             WHERE u.account_id = $1 AND u.name = $2 COLLATE NOCASE
                             ORDER BY k.create_date, k.access_key_id LIMIT $5"
                        ),
                        // LATERAL: the user first, then its keys in index order up to the
                        // limit (a plain join can make the planner read every key of the
                        // account and hash them).
                        postgres: concat!(
                            "SELECT u.name, ",
                            key_meta_columns!(),
                            " FROM users u LEFT JOIN LATERAL (
                                SELECT * FROM access_keys k
                                WHERE k.account_id = u.account_id AND k.user_id = u.user_id
                                  AND (k.create_date, k.access_key_id) >= ($3, $4)
                                ORDER BY k.create_date, k.access_key_id LIMIT $5) k ON true
                             WHERE u.account_id = $1 AND lower(u.name) = lower($2)
                             ORDER BY k.create_date, k.access_key_id"
                        ),
                    ),
                    args![account_id, name.as_str(), start_date, start_id, limit],
                )
                .await?;
            if rows.is_empty() {
                return Err(Error::NoSuchUser { name: name.clone() });
            }
            let mut items = Vec::new();
            for r in &rows {
                if !r.is_null(1)? {
                    items.push(key_meta_row(r, 1, Some(r.text(0)?), now)?);
                }
            }
            Ok(items)
        }
    }
}

/// What CreateAccessKey writes.
struct NewKey<'a> {
    account_id: &'a str,
    owner: &'a Owner,
    ids: &'a IdGen,
    secret: &'a Secret,
    now: i64,
    /// When the key starts to authenticate.
    effective: i64,
    quota: usize,
    details: &'a NewKeyDetails,
}

async fn create_key(tx: &mut impl Tx, k: NewKey<'_>) -> Result<CreatedKey> {
    let (user_id, user_name) = lock_owner(tx, k.account_id, k.owner).await?;
    if count_keys(tx, k.account_id, user_id.as_deref()).await? >= k.quota {
        return Err(Error::AccessKeyQuota { limit: k.quota });
    }
    let access_key_id = fresh_access_key_id(tx, k.ids, k.account_id).await?;
    let row = KeyRow {
        access_key_id: &access_key_id,
        account_id: k.account_id,
        user_id: user_id.as_deref(),
        secret: k.secret.expose(),
        status: KeyStatus::Active,
        create_date: k.now,
        status_effective: k.effective,
        last_used: None,
        expiration: k.details.expiration,
        tag: k.details.tag.as_deref(),
        last_modified: k.now,
    };
    if !insert_key(tx, &row).await? {
        // Another node drew the same id between the check and the insert.
        tracing::error!("a generated access key id was taken meanwhile");
        return Err(Error::Storage);
    }
    Ok(CreatedKey {
        meta: AccessKeyMeta {
            access_key_id,
            user_name,
            status: KeyStatus::Active,
            create_date: k.now,
            expiration: k.details.expiration,
            expired: k.details.expiration.is_some_and(|e| e <= k.now),
            tag: k.details.tag.clone(),
            last_modified: k.now,
        },
        secret: k.secret.clone(),
    })
}

async fn update_key(
    tx: &mut impl Tx,
    account_id: &str,
    owner: &Owner,
    access_key_id: &str,
    update: &KeyUpdate,
    (now, effective): (i64, i64),
) -> Result<AccessKeyMeta> {
    let (user_id, user_name) = lock_owner(tx, account_id, owner).await?;
    let status = update.status.map(KeyStatus::as_str);
    let (expiration_mode, expiration) = update.expiration.as_sql();
    let (tag_mode, tag) = update.tag.as_sql();
    // A real change of status restarts propagation; setting the same status does not. The
    // owner's user id is matched with `= $3` or, for root keys, `$3 IS NULL AND user_id IS NULL`.
    let changed = tx
        .execute(
            &sql!(
                "UPDATE access_keys SET
                    prior_status = CASE WHEN CAST($4 AS TEXT) IS NULL OR status = $4 THEN prior_status ELSE status END,
                    status_effective = CASE WHEN CAST($4 AS TEXT) IS NULL OR status = $4 THEN status_effective ELSE $5 END,
                    status = coalesce($4, status),
                    expiration_date = CASE CAST($6 AS BIGINT) WHEN 0 THEN expiration_date WHEN 1 THEN $7 ELSE NULL END,
                    tag = CASE CAST($8 AS BIGINT) WHEN 0 THEN tag WHEN 1 THEN $9 ELSE NULL END,
                    last_modified = $10
                 WHERE access_key_id = $1 AND account_id = $2
                   AND (user_id = $3 OR (CAST($3 AS TEXT) IS NULL AND user_id IS NULL))"
            ),
            args![
                access_key_id,
                account_id,
                user_id.as_deref(),
                status,
                effective,
                expiration_mode,
                expiration.copied(),
                tag_mode,
                tag.map(String::as_str),
                now
            ],
        )
        .await?;
    if changed == 0 {
        return Err(Error::NoSuchAccessKey {
            access_key_id: access_key_id.to_string(),
        });
    }
    let r = tx
        .query_one(
            &sql!(concat!(
                "SELECT ",
                key_meta_columns!(),
                " FROM access_keys k WHERE k.access_key_id = $1"
            )),
            args![access_key_id],
        )
        .await?;
    key_meta_row(&r, 0, user_name, now)
}

async fn delete_key(
    tx: &mut impl Tx,
    account_id: &str,
    owner: &Owner,
    access_key_id: &str,
    (now, delay): (i64, i64),
    only_if_inactive: bool,
) -> Result<()> {
    let (user_id, _) = lock_owner(tx, account_id, owner).await?;
    let user_id = user_id.as_deref();
    let status = tx
        .query_opt(
            &sql!(
                "SELECT status FROM access_keys
                 WHERE access_key_id = $1 AND account_id = $2
                   AND (user_id = $3 OR (CAST($3 AS TEXT) IS NULL AND user_id IS NULL))"
            ),
            args![access_key_id, account_id, user_id],
        )
        .await?
        .map(|r| status_column(&r, 0))
        .transpose()?;
    let missing = || Error::NoSuchAccessKey {
        access_key_id: access_key_id.to_string(),
    };
    match status {
        None => return Err(missing()),
        Some(KeyStatus::Active) if only_if_inactive => {
            return Err(Error::KeyNotInactive {
                access_key_id: access_key_id.to_string(),
            });
        }
        Some(_) => {}
    }
    if delay > 0 {
        // Other IAM hosts keep accepting the key until the deletion has propagated.
        tx.execute(
            &sql!(
                "INSERT INTO deleted_access_keys
                    (access_key_id, account_id, user_id, user_name, user_path, secret, status,
                     deleted_at, visible_until, expiration_date)
                 SELECT k.access_key_id, k.account_id, k.user_id, u.name, u.path, k.secret,
                        k.status, $2, $3, k.expiration_date
                 FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                 WHERE k.access_key_id = $1
                 ON CONFLICT (access_key_id) DO UPDATE SET
                    account_id = excluded.account_id, user_id = excluded.user_id,
                    user_name = excluded.user_name, user_path = excluded.user_path,
                    secret = excluded.secret, status = excluded.status,
                    deleted_at = excluded.deleted_at, visible_until = excluded.visible_until,
                    expiration_date = excluded.expiration_date"
            ),
            args![access_key_id, now, now.saturating_add(delay)],
        )
        .await?;
    }
    let changed = tx
        .execute(
            &sql!("DELETE FROM access_keys WHERE access_key_id = $1"),
            args![access_key_id],
        )
        .await?;
    if changed == 0 {
        return Err(missing());
    }
    Ok(())
}

//! Access-key use cases: the credential lookup behind every signed request, last-used records,
//! and CreateAccessKey's quota, UpdateAccessKey and DeleteAccessKey inside the write's transaction,
//! with IAM's propagation delay kept as deadlines.

use super::Store;
use super::cache::Invalidate;
use super::page::{decode_marker, encode_marker, paginate};
use super::rows::{
    KeyRow, count_keys, credential_columns, credential_row, fresh_access_key_id, insert_key,
    key_meta_columns, key_meta_row, last_used_columns, owner_ids, status_column,
};
use crate::core::{KeyLastUsed, PageRequest};
use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::model::{
    AccessKeyMeta, Change, CreatedKey, Credential, KeyStatus, LastUsed, Owner, Page, Secret,
};

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
use rusqlite::{OptionalExtension, params};
use std::sync::Arc;

impl Store {
    /// Everything needed to verify a request signed with `access_key_id`, from memory when the key
    /// was used recently.
    pub async fn credential(&self, access_key_id: &str) -> Result<Option<Credential>> {
        let generation = match self.inner.shared.cached_credential(access_key_id) {
            Ok(c) => return Ok(Some(c)),
            Err(generation) => generation,
        };
        let found = self.read(|c| {
            Ok(c.prepare_cached(concat!(
                "SELECT ",
                credential_columns!(),
                " FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                 WHERE k.access_key_id = ?1"
            ))?
            .query_row([access_key_id], |r| credential_row(access_key_id, r))
            .optional()?)
        })?;
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
        self.read(|c| {
            // Shaped like credential_columns!: a tombstone has no dates or prior status to tell.
            Ok(c.prepare_cached(
                "SELECT account_id, user_id, user_name, user_path, secret, status, 0, 0, NULL,
                        expiration_date
                 FROM deleted_access_keys WHERE access_key_id = ?1 AND visible_until > ?2",
            )?
            .query_row(params![access_key_id, now], |r| {
                credential_row(access_key_id, r)
            })
            .optional()?)
        })
    }

    /// Records a use of a key; cheap, made durable with the next write batch.
    pub fn touch_last_used(&self, access_key_id: &str, used: LastUsed) {
        self.inner.shared.record_use(access_key_id, used);
    }

    /// The key's owner and last use, or `None` if the account has no such key.
    pub async fn access_key_last_used(
        &self,
        account_id: &str,
        access_key_id: &str,
    ) -> Result<Option<KeyLastUsed>> {
        let row = self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT u.name, k.last_used_date, k.last_used_service, k.last_used_region
                 FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                 WHERE k.access_key_id = ?1 AND k.account_id = ?2",
            )?
            .query_row([access_key_id, account_id], |r| {
                Ok(KeyLastUsed {
                    user_name: r.get(0)?,
                    last_used: last_used_columns(r, 1)?,
                })
            })
            .optional()?)
        })?;
        Ok(row.map(|mut k| {
            if let Some(pending) = self.inner.shared.pending_use(access_key_id) {
                k.last_used = Some(pending);
            }
            k
        }))
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
        let items = self.read(|c| match owner {
            Owner::Root => {
                let mut stmt = c.prepare_cached(concat!(
                    "SELECT ",
                    key_meta_columns!(),
                    " FROM access_keys k
                     WHERE k.account_id = ?1 AND k.user_id IS NULL
                       AND (k.create_date, k.access_key_id) >= (?2, ?3)
                     ORDER BY k.create_date, k.access_key_id LIMIT ?4"
                ))?;
                let rows = stmt
                    .query_map(params![account_id, start_date, start_id, limit], |r| {
                        key_meta_row(r, 0, None, now)
                    })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            }
            Owner::User(name) => {
                // One statement, so one read transaction: the user (NoSuchEntity when there is no
                // row at all) and its keys (a row with NULL key columns when it has none).
                let mut stmt = c.prepare_cached(concat!(
                    "SELECT u.name, ",
                    key_meta_columns!(),
                    " FROM users u LEFT JOIN access_keys k
                       ON k.account_id = u.account_id AND k.user_id = u.user_id
                      AND (k.create_date, k.access_key_id) >= (?3, ?4)
                     WHERE u.account_id = ?1 AND u.name = ?2 COLLATE NOCASE
                     ORDER BY k.create_date, k.access_key_id LIMIT ?5"
                ))?;
                let mut rows =
                    stmt.query(params![account_id, name, start_date, start_id, limit])?;
                let mut items = Vec::new();
                let mut found = false;
                while let Some(r) = rows.next()? {
                    found = true;
                    if r.get::<_, Option<String>>(1)?.is_some() {
                        items.push(key_meta_row(r, 1, Some(r.get(0)?), now)?);
                    }
                }
                if found {
                    Ok(items)
                } else {
                    Err(Error::NoSuchUser { name: name.clone() })
                }
            }
        })?;
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
        self.write(Invalidate::Nothing, move |c| {
            let (user_id, user_name) = owner_ids(c, &account_id, &owner)?;
            if count_keys(c, &account_id, user_id.as_deref())? >= quota {
                return Err(Error::AccessKeyQuota { limit: quota });
            }
            let access_key_id = fresh_access_key_id(c, &ids, &account_id)?;
            insert_key(
                c,
                &KeyRow {
                    access_key_id: &access_key_id,
                    account_id: &account_id,
                    user_id: user_id.as_deref(),
                    secret: secret.expose(),
                    status: KeyStatus::Active,
                    create_date: now,
                    status_effective: effective,
                    last_used: None,
                    expiration: details.expiration,
                    tag: details.tag.as_deref(),
                    last_modified: now,
                },
            )?;
            Ok(CreatedKey {
                meta: AccessKeyMeta {
                    access_key_id,
                    user_name,
                    status: KeyStatus::Active,
                    create_date: now,
                    expiration: details.expiration,
                    expired: details.expiration.is_some_and(|e| e <= now),
                    tag: details.tag,
                    last_modified: now,
                },
                secret,
            })
        })
        .await
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
        self.write(Invalidate::Key(access_key_id.clone()), move |c| {
            let (user_id, user_name) = owner_ids(c, &account_id, &owner)?;
            let status = update.status.map(KeyStatus::as_str);
            let (expiration_mode, expiration) = update.expiration.as_sql();
            let (tag_mode, tag) = update.tag.as_sql();
            // A real change of status restarts propagation; setting the same status does not.
            let changed = c
                .prepare_cached(
                    "UPDATE access_keys SET
                        prior_status = CASE WHEN ?4 IS NULL OR status = ?4 THEN prior_status ELSE status END,
                        status_effective = CASE WHEN ?4 IS NULL OR status = ?4 THEN status_effective ELSE ?5 END,
                        status = coalesce(?4, status),
                        expiration_date = CASE ?6 WHEN 0 THEN expiration_date WHEN 1 THEN ?7 ELSE NULL END,
                        tag = CASE ?8 WHEN 0 THEN tag WHEN 1 THEN ?9 ELSE NULL END,
                        last_modified = ?10
                     WHERE access_key_id = ?1 AND account_id = ?2 AND user_id IS ?3",
                )?
                .execute(params![
                    access_key_id,
                    account_id,
                    user_id,
                    status,
                    effective,
                    expiration_mode,
                    expiration,
                    tag_mode,
                    tag,
                    now
                ])?;
            if changed == 0 {
                return Err(Error::NoSuchAccessKey { access_key_id });
            }
            Ok(c.prepare_cached(concat!(
                "SELECT ",
                key_meta_columns!(),
                " FROM access_keys k WHERE k.access_key_id = ?1"
            ))?
                .query_row([&access_key_id], |r| key_meta_row(r, 0, user_name, now))?)
        })
        .await
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
        let shared = self.inner.shared.clone();
        let delay = self.propagation_delay_ms();
        self.write(Invalidate::Key(access_key_id.clone()), move |c| {
            let (user_id, _) = owner_ids(c, &account_id, &owner)?;
            let status = c
                .prepare_cached(
                    "SELECT status FROM access_keys
                     WHERE access_key_id = ?1 AND account_id = ?2 AND user_id IS ?3",
                )?
                .query_row(params![access_key_id, account_id, user_id], |r| {
                    status_column(r, 0)
                })
                .optional()?;
            match status {
                None => return Err(Error::NoSuchAccessKey { access_key_id }),
                Some(KeyStatus::Active) if only_if_inactive => {
                    return Err(Error::KeyNotInactive { access_key_id });
                }
                Some(_) => {}
            }
            if delay > 0 {
                // Other IAM hosts keep accepting the key until the deletion has propagated.
                c.prepare_cached(
                    "INSERT OR REPLACE INTO deleted_access_keys
                        (access_key_id, account_id, user_id, user_name, user_path, secret, status,
                         deleted_at, visible_until, expiration_date)
                     SELECT k.access_key_id, k.account_id, k.user_id, u.name, u.path, k.secret, k.status,
                            ?4, ?5, k.expiration_date
                     FROM access_keys k LEFT JOIN users u ON u.user_id = k.user_id
                     WHERE k.access_key_id = ?1 AND k.account_id = ?2 AND k.user_id IS ?3",
                )?
                .execute(params![
                    access_key_id,
                    account_id,
                    user_id,
                    now,
                    now.saturating_add(delay)
                ])?;
            }
            let changed = c
                .prepare_cached(
                    "DELETE FROM access_keys WHERE access_key_id = ?1 AND account_id = ?2 AND user_id IS ?3",
                )?
                .execute(params![access_key_id, account_id, user_id])?;
            if changed == 0 {
                return Err(Error::NoSuchAccessKey { access_key_id });
            }
            shared.forget_use(&access_key_id);
            Ok(())
        })
        .await
    }
}

//! Whole-state operations: applying a seed, resetting to it, and exporting or importing the state
//! document, each in one transaction and through the same row helpers as the API.

use super::Store;
use super::cache::Invalidate;
use super::rows::{
    KeyRow, count_keys, find_user, fresh_user_id, insert_key, insert_user, last_used_columns,
    status_column, upsert_tags, user_columns, user_row, user_tags,
};
use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::model::{
    ACCESS_KEY_ID, EMAIL, KEY_TAG, KeyStatus, LastUsed, NEW_USER_NAME, PATH, PERMISSIONS_BOUNDARY,
    Tag, User, check_tags, is_account_id,
};
use crate::seed::{Seed, SeedKey};
use crate::state::{
    AccountState, KeyState, LastUsedState, STATE_FORMAT, State, TagState, UserState,
    millis_to_rfc3339, rfc3339_to_millis,
};
use rusqlite::{Connection, params};
use std::collections::HashMap;
use std::sync::Arc;

impl Store {
    /// Adds what the seed asserts (accounts, root keys, users, tags, keys) and keeps everything else.
    /// Applying the same seed twice leaves the same state.
    pub async fn apply_seed(&self, seed: Arc<Seed>, ids: Arc<IdGen>, now: i64) -> Result<()> {
        let quota = self.key_quota();
        self.write(Invalidate::Everything, move |c| {
            apply_seed(c, &seed, &ids, now, quota)
        })
        .await
    }

    /// Replaces all state with exactly what the seed asserts, in one transaction.
    pub async fn reset(&self, seed: Arc<Seed>, ids: Arc<IdGen>, now: i64) -> Result<()> {
        let shared = self.inner.shared.clone();
        let quota = self.key_quota();
        self.write(Invalidate::Everything, move |c| {
            clear(c)?;
            shared.forget_all_uses();
            apply_seed(c, &seed, &ids, now, quota)
        })
        .await
    }

    /// Everything, secrets included, as one consistent snapshot.
    pub async fn export(&self) -> Result<State> {
        let pending = self.inner.shared.pending_uses();
        self.read(|c| {
            c.execute_batch("BEGIN")?;
            let state = export(c, &pending);
            let _ = c.execute_batch("COMMIT");
            state
        })
    }

    /// Replaces all state with `state`, in one transaction; nothing changes if it is refused.
    pub async fn import(&self, state: State) -> Result<()> {
        let shared = self.inner.shared.clone();
        let quota = self.key_quota();
        self.write(Invalidate::Everything, move |c| {
            clear(c)?;
            shared.forget_all_uses();
            import(c, &state, quota)
        })
        .await
    }
}

fn clear(c: &Connection) -> Result<()> {
    c.execute_batch(
        "DELETE FROM user_tags; DELETE FROM access_keys; DELETE FROM deleted_access_keys;
         DELETE FROM sessions; DELETE FROM mfa_devices; DELETE FROM users; DELETE FROM accounts;",
    )?;
    Ok(())
}

fn insert_account(c: &Connection, account_id: &str, create_date: i64) -> rusqlite::Result<usize> {
    c.prepare_cached(
        "INSERT INTO accounts (account_id, create_date) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
    )?
    .execute(params![account_id, create_date])
}

/// Writes a key as the seed describes it, over any key of that id. Seeded keys count as long
/// propagated; an existing key keeps its creation date unless the seed gives one. A key that
/// already is as described is not touched, so that a restart writes nothing (and can start on a
/// full disk) when the seed is already applied.
fn put_seed_key(
    c: &Connection,
    account_id: &str,
    user_id: Option<&str>,
    key: &SeedKey,
    now: i64,
) -> Result<()> {
    let exists = c
        .prepare_cached("SELECT 1 FROM access_keys WHERE access_key_id = ?1")?
        .exists([&key.id])?;
    c.prepare_cached(
        "UPDATE access_keys SET account_id = ?2, user_id = ?3, secret = ?4, status = ?5,
            create_date = coalesce(?6, create_date), status_effective = 0, prior_status = NULL,
            expiration_date = ?7, tag = ?8
         WHERE access_key_id = ?1
           AND (account_id, user_id, secret, status, create_date, status_effective, prior_status,
                expiration_date, tag)
               IS NOT (?2, ?3, ?4, ?5, coalesce(?6, create_date), 0, NULL, ?7, ?8)",
    )?
    .execute(params![
        key.id,
        account_id,
        user_id,
        key.secret.expose(),
        key.status.as_str(),
        key.create_date,
        key.expiration,
        key.tag,
    ])?;
    if !exists {
        insert_key(
            c,
            &KeyRow {
                access_key_id: &key.id,
                account_id,
                user_id,
                secret: key.secret.expose(),
                status: key.status,
                create_date: key.create_date.unwrap_or(now),
                status_effective: 0,
                last_used: None,
                expiration: key.expiration,
                tag: key.tag.as_deref(),
                last_modified: key.create_date.unwrap_or(now),
            },
        )?;
    }
    Ok(())
}

fn apply_seed(c: &Connection, seed: &Seed, ids: &IdGen, now: i64, quota: usize) -> Result<()> {
    for account in &seed.accounts {
        insert_account(c, &account.id, now)?;
        for key in &account.root_keys {
            put_seed_key(c, &account.id, None, key, now)?;
        }
        for user in &account.users {
            let user_id = match find_user(c, &account.id, &user.name)? {
                Some(existing) => {
                    c.prepare_cached(
                        "UPDATE users SET path = ?2, email = coalesce(?3, email)
                         WHERE user_id = ?1 AND (path, email) IS NOT (?2, coalesce(?3, email))",
                    )?
                    .execute(params![
                        existing.user_id,
                        user.path,
                        user.email
                    ])?;
                    existing.user_id
                }
                None => {
                    let user_id = fresh_user_id(c, ids, &account.id)?;
                    insert_user(
                        c,
                        &User {
                            user_id: user_id.clone(),
                            account_id: account.id.clone(),
                            name: user.name.clone(),
                            path: user.path.clone(),
                            create_date: now,
                            permissions_boundary: None,
                            tags: Vec::new(),
                            email: user.email.clone(),
                            last_modified: now,
                        },
                    )?;
                    user_id
                }
            };
            upsert_tags(c, &user_id, &user.tags)?;
            for key in &user.access_keys {
                put_seed_key(c, &account.id, Some(&user_id), key, now)?;
            }
            let keys = count_keys(c, &account.id, Some(&user_id))?;
            if keys > quota {
                return Err(Error::invalid_state(format!(
                    "seed: user {} of account {} would have {keys} access keys; the quota is {quota}",
                    user.name, account.id
                )));
            }
        }
        for device in &account.mfa_devices {
            super::mfa::put_device(c, &account.id, device, now)?;
        }
    }
    Ok(())
}

fn export(c: &Connection, pending: &HashMap<String, LastUsed>) -> Result<State> {
    let key_state = |r: &rusqlite::Row<'_>| -> rusqlite::Result<(Option<String>, KeyState)> {
        let id: String = r.get(0)?;
        let last_used = pending.get(&id).cloned().or(last_used_columns(r, 5)?);
        Ok((
            r.get(1)?,
            KeyState {
                secret_access_key: r.get(2)?,
                status: status_column(r, 3)?.as_str().to_string(),
                create_date: millis_to_rfc3339(r.get(4)?),
                last_used: last_used.as_ref().map(LastUsedState::from_model),
                expiration_date: r.get::<_, Option<i64>>(8)?.map(millis_to_rfc3339),
                tag: r.get(9)?,
                access_key_id: id,
            },
        ))
    };
    let mut accounts = Vec::new();
    let mut stmt = c.prepare("SELECT account_id, create_date FROM accounts ORDER BY account_id")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (id, created) = row?;
        let mut keys_stmt = c.prepare(
            "SELECT access_key_id, user_id, secret, status, create_date, last_used_date,
                    last_used_service, last_used_region, expiration_date, tag
             FROM access_keys WHERE account_id = ?1 ORDER BY create_date, access_key_id",
        )?;
        let mut root_access_keys = Vec::new();
        let mut by_user: HashMap<String, Vec<KeyState>> = HashMap::new();
        for k in keys_stmt.query_map([&id], key_state)? {
            match k? {
                (None, key) => root_access_keys.push(key),
                (Some(user_id), key) => by_user.entry(user_id).or_default().push(key),
            }
        }
        let mut users_stmt = c.prepare(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE account_id = ?1 ORDER BY name COLLATE NOCASE"
        ))?;
        let mut users = Vec::new();
        let user_rows = users_stmt.query_map([&id], |r| user_row(&id, r))?;
        for u in user_rows {
            let User {
                user_id,
                name,
                path,
                create_date: created,
                permissions_boundary,
                email,
                ..
            } = u?;
            let tags = user_tags(c, &user_id)?
                .into_iter()
                .map(|t| TagState {
                    key: t.key,
                    value: t.value,
                })
                .collect();
            users.push(UserState {
                access_keys: by_user.remove(&user_id).unwrap_or_default(),
                user_id,
                name,
                path,
                create_date: millis_to_rfc3339(created),
                permissions_boundary,
                tags,
                email,
            });
        }
        accounts.push(AccountState {
            mfa_devices: super::mfa::export_devices(c, &id)?,
            sessions: super::sessions::export_sessions(c, &id)?,
            id,
            create_date: millis_to_rfc3339(created),
            root_access_keys,
            users,
        });
    }
    Ok(State {
        format: STATE_FORMAT.to_string(),
        accounts,
    })
}

fn import_key(c: &Connection, account_id: &str, user_id: Option<&str>, k: &KeyState) -> Result<()> {
    let status = KeyStatus::parse(&k.status).ok_or_else(|| {
        Error::invalid_state(format!(
            "state: status '{}' must be Active or Inactive",
            k.status
        ))
    })?;
    let created = rfc3339_to_millis(&k.create_date).map_err(Error::invalid_state)?;
    if !ACCESS_KEY_ID.check(&k.access_key_id) || k.secret_access_key.is_empty() {
        return Err(Error::invalid_state(format!(
            "state: access key '{}' has a malformed id or an empty secret",
            k.access_key_id
        )));
    }
    let last_used = match &k.last_used {
        None => None,
        Some(u) => Some(LastUsed {
            date: rfc3339_to_millis(&u.date).map_err(Error::invalid_state)?,
            service: u.service.clone(),
            region: u.region.clone(),
        }),
    };
    let expiration = match &k.expiration_date {
        None => None,
        Some(d) => Some(rfc3339_to_millis(d).map_err(Error::invalid_state)?),
    };
    if k.tag.as_deref().is_some_and(|t| !KEY_TAG.check(t)) {
        return Err(Error::invalid_state(format!(
            "state: access key '{}' has an invalid tag",
            k.access_key_id
        )));
    }
    insert_key(
        c,
        &KeyRow {
            access_key_id: &k.access_key_id,
            account_id,
            user_id,
            secret: &k.secret_access_key,
            status,
            create_date: created,
            status_effective: 0,
            last_used: last_used.as_ref(),
            expiration,
            tag: k.tag.as_deref(),
            last_modified: created,
        },
    )
    .map_err(|e| {
        Error::invalid_state(format!(
            "state: access key '{}' cannot be stored: {e}",
            k.access_key_id
        ))
    })
}

fn import_user(c: &Connection, account_id: &str, u: &UserState, quota: usize) -> Result<()> {
    let tags: Vec<Tag> = u
        .tags
        .iter()
        .map(|t| Tag {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect();
    let valid = NEW_USER_NAME.check(&u.name)
        && PATH.check(&u.path)
        && u.email.as_deref().is_none_or(|e| EMAIL.check(e));
    if !valid || u.access_keys.len() > quota {
        return Err(Error::invalid_state(format!(
            "state: user '{}' of account {account_id} has an invalid name, path or email, or more than {quota} keys",
            u.name
        )));
    }
    if let Err(why) = check_tags(&tags) {
        return Err(Error::invalid_state(format!(
            "state: user '{}' of account {account_id} has {why}",
            u.name
        )));
    }
    if let Some(arn) = &u.permissions_boundary
        && !PERMISSIONS_BOUNDARY.check(arn)
    {
        return Err(Error::invalid_state(format!(
            "state: user '{}' of account {account_id} has an invalid permissions boundary '{arn}'",
            u.name
        )));
    }
    let create_date = rfc3339_to_millis(&u.create_date).map_err(Error::invalid_state)?;
    let user = User {
        user_id: u.user_id.clone(),
        account_id: account_id.to_string(),
        name: u.name.clone(),
        path: u.path.clone(),
        create_date,
        permissions_boundary: u.permissions_boundary.clone(),
        tags,
        email: u.email.clone(),
        last_modified: create_date,
    };
    insert_user(c, &user).map_err(|e| {
        Error::invalid_state(format!("state: user '{}' cannot be stored: {e}", u.name))
    })?;
    upsert_tags(c, &user.user_id, &user.tags)?;
    for k in &u.access_keys {
        import_key(c, account_id, Some(&u.user_id), k)?;
    }
    Ok(())
}

fn import(c: &Connection, state: &State, quota: usize) -> Result<()> {
    if state.format != STATE_FORMAT {
        return Err(Error::invalid_state(format!(
            "state: format '{}' is not '{STATE_FORMAT}'",
            state.format
        )));
    }
    for a in &state.accounts {
        if !is_account_id(&a.id) {
            return Err(Error::invalid_state(format!(
                "state: account id '{}' must be 12 digits",
                a.id
            )));
        }
        let created = rfc3339_to_millis(&a.create_date).map_err(Error::invalid_state)?;
        let inserted = insert_account(c, &a.id, created)?;
        if inserted == 0 {
            return Err(Error::invalid_state(format!(
                "state: account {} is listed twice",
                a.id
            )));
        }
        if a.root_access_keys.len() > quota {
            return Err(Error::invalid_state(format!(
                "state: the root user of account {} has more than {quota} access keys",
                a.id
            )));
        }
        for k in &a.root_access_keys {
            import_key(c, &a.id, None, k)?;
        }
        for u in &a.users {
            import_user(c, &a.id, u, quota)?;
        }
        for d in &a.mfa_devices {
            super::mfa::put_device(c, &a.id, d, 0)?;
        }
        for s in &a.sessions {
            super::sessions::import_session(c, &a.id, s)?;
        }
    }
    Ok(())
}

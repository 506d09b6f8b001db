//! Whole-state operations: applying a seed, resetting to it, and exporting or importing the state
//! document, each in one transaction and through the same row helpers as the API.

use super::cache::Invalidate;
use super::rows::{
    KeyRow, count_keys, find_user, fresh_user_id, insert_key, insert_user, last_used_columns,
    status_column, upsert_tags, user_columns, user_row, user_tags,
};
use super::tx::{Row, Tx, args, sql};
use super::{Store, read_tx, write_tx};
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
use std::collections::HashMap;
use std::sync::Arc;

impl Store {
    /// Adds what the seed asserts (accounts, root keys, users, tags, keys) and keeps everything else.
    /// Applying the same seed twice leaves the same state.
    pub async fn apply_seed(&self, seed: Arc<Seed>, ids: Arc<IdGen>, now: i64) -> Result<()> {
        let quota = self.key_quota();
        write_tx!(self, Invalidate::Everything, |tx| apply_seed(
            tx, &seed, &ids, now, quota
        ))?;
        self.analyze().await
    }

    /// Replaces all state with exactly what the seed asserts, in one transaction.
    pub async fn reset(&self, seed: Arc<Seed>, ids: Arc<IdGen>, now: i64) -> Result<()> {
        let quota = self.key_quota();
        write_tx!(self, Invalidate::Everything, |tx| async {
            clear(tx).await?;
            apply_seed(tx, &seed, &ids, now, quota).await
        })?;
        self.inner.shared.forget_all_uses();
        self.analyze().await
    }

    /// Everything, secrets included, as one consistent snapshot.
    pub async fn export(&self) -> Result<State> {
        let pending = self.inner.shared.pending_uses();
        match self.backend() {
            super::Backend::Sqlite(db) => db.read(|c| {
                let mut tx = super::sqlite::SqliteTx::new(c);
                super::sqlite::ready(snapshot(&mut tx, &pending))
            }),
            // A connection of its own: the snapshot is a transaction.
            #[cfg(feature = "postgres")]
            super::Backend::Postgres(db) => {
                let client = db.client().await?;
                snapshot(&mut super::postgres::PgTx::new(&client), &pending).await
            }
        }
    }

    /// Replaces all state with `state`, in one transaction; nothing changes if it is refused.
    pub async fn import(&self, state: State) -> Result<()> {
        let quota = self.key_quota();
        write_tx!(self, Invalidate::Everything, |tx| async {
            clear(tx).await?;
            import(tx, &state, quota).await
        })?;
        self.inner.shared.forget_all_uses();
        self.analyze().await
    }

    /// After a seed, reset or import has replaced many rows at once: on PostgreSQL, fresh
    /// statistics, so that the plans of the statements that follow use the indexes (SQLite's
    /// planner needs none).
    async fn analyze(&self) -> Result<()> {
        match self.backend() {
            super::Backend::Sqlite(_) => Ok(()),
            #[cfg(feature = "postgres")]
            super::Backend::Postgres(_) => read_tx!(self, |tx| {
                tx.batch(&sql!(
                "ANALYZE accounts, users, user_tags, access_keys, deleted_access_keys, mfa_devices, sessions"
            ))
            }),
        }
    }
}

async fn clear(tx: &mut impl Tx) -> Result<()> {
    tx.batch(&sql!(
        "DELETE FROM user_tags; DELETE FROM access_keys; DELETE FROM deleted_access_keys;
         DELETE FROM sessions; DELETE FROM mfa_devices; DELETE FROM users; DELETE FROM accounts;"
    ))
    .await
}

async fn insert_account(tx: &mut impl Tx, account_id: &str, create_date: i64) -> Result<u64> {
    tx.execute(
        &sql!(
            "INSERT INTO accounts (account_id, create_date) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        ),
        args![account_id, create_date],
    )
    .await
}

/// The seed's UPDATE of a key, up to the engine's "differs from" operator for row values.
macro_rules! seed_key_update {
    () => {
        "UPDATE access_keys SET account_id = $2, user_id = $3, secret = $4, status = $5,
            create_date = coalesce($6, create_date), status_effective = 0, prior_status = NULL,
            expiration_date = $7, tag = $8
         WHERE access_key_id = $1
           AND (account_id, user_id, secret, status, create_date, status_effective,
                prior_status, expiration_date, tag) "
    };
}

/// Writes a key as the seed describes it, over any key of that id. Seeded keys count as long
/// propagated; an existing key keeps its creation date unless the seed gives one. A key that
/// already is as described is not touched, so that a restart writes nothing (and can start on a
/// full disk) when the seed is already applied.
async fn put_seed_key(
    tx: &mut impl Tx,
    account_id: &str,
    user_id: Option<&str>,
    key: &SeedKey,
    now: i64,
) -> Result<()> {
    let exists = tx
        .query_opt(
            &sql!("SELECT 1 FROM access_keys WHERE access_key_id = $1"),
            args![&key.id],
        )
        .await?
        .is_some();
    tx.execute(
        &sql!(
            sqlite: concat!(
                seed_key_update!(),
                "IS NOT ($2, $3, $4, $5, coalesce($6, create_date), 0, NULL, $7, $8)"
            ),
            postgres: concat!(
                seed_key_update!(),
                "IS DISTINCT FROM (CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT),
                    CAST($5 AS TEXT), coalesce(CAST($6 AS BIGINT), create_date), 0, NULL,
                    CAST($7 AS BIGINT), CAST($8 AS TEXT))"
            ),
        ),
        args![
            &key.id,
            account_id,
            user_id,
            key.secret.expose(),
            key.status.as_str(),
            key.create_date,
            key.expiration,
            &key.tag,
        ],
    )
    .await?;
    if !exists {
        let row = KeyRow {
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
        };
        if !insert_key(tx, &row).await? {
            return Err(Error::invalid_state(format!(
                "seed: access key {} was created meanwhile",
                key.id
            )));
        }
    }
    Ok(())
}

async fn apply_seed(
    tx: &mut impl Tx,
    seed: &Seed,
    ids: &IdGen,
    now: i64,
    quota: usize,
) -> Result<()> {
    for account in &seed.accounts {
        insert_account(tx, &account.id, now).await?;
        for key in &account.root_keys {
            put_seed_key(tx, &account.id, None, key, now).await?;
        }
        for user in &account.users {
            let user_id = match find_user(tx, &account.id, &user.name).await? {
                Some(existing) => {
                    tx.execute(
                        &sql!(
                            sqlite: "UPDATE users SET path = $2, email = coalesce($3, email)
                             WHERE user_id = $1 AND (path, email) IS NOT ($2, coalesce($3, email))",
                            postgres: "UPDATE users SET path = $2, email = coalesce($3, email)
                             WHERE user_id = $1 AND (path, email) IS DISTINCT FROM
                                (CAST($2 AS TEXT), coalesce(CAST($3 AS TEXT), email))",
                        ),
                        args![&existing.user_id, &user.path, &user.email],
                    )
                    .await?;
                    existing.user_id
                }
                None => {
                    let user_id = fresh_user_id(tx, ids, &account.id).await?;
                    let new = User {
                        user_id: user_id.clone(),
                        account_id: account.id.clone(),
                        name: user.name.clone(),
                        path: user.path.clone(),
                        create_date: now,
                        permissions_boundary: None,
                        tags: Vec::new(),
                        email: user.email.clone(),
                        last_modified: now,
                    };
                    if !insert_user(tx, &new).await? {
                        return Err(Error::UserAlreadyExists {
                            name: user.name.clone(),
                        });
                    }
                    user_id
                }
            };
            upsert_tags(tx, &user_id, &user.tags).await?;
            for key in &user.access_keys {
                put_seed_key(tx, &account.id, Some(&user_id), key, now).await?;
            }
            let keys = count_keys(tx, &account.id, Some(&user_id)).await?;
            if keys > quota {
                return Err(Error::invalid_state(format!(
                    "seed: user {} of account {} would have {keys} access keys; the quota is {quota}",
                    user.name, account.id
                )));
            }
        }
        for device in &account.mfa_devices {
            super::mfa::put_device(tx, &account.id, device, now).await?;
        }
    }
    Ok(())
}

/// `export` inside one read transaction (SQLite's deferred BEGIN, PostgreSQL's REPEATABLE READ).
async fn snapshot(tx: &mut impl Tx, pending: &HashMap<String, LastUsed>) -> Result<State> {
    tx.batch(&sql!(
        sqlite: "BEGIN",
        postgres: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    ))
    .await?;
    let state = export(tx, pending).await;
    let _ = tx.batch(&sql!("COMMIT")).await;
    state
}

fn key_state(r: &Row, pending: &HashMap<String, LastUsed>) -> Result<(Option<String>, KeyState)> {
    let id = r.text(0)?;
    let last_used = match pending.get(&id) {
        Some(u) => Some(u.clone()),
        None => last_used_columns(r, 5)?,
    };
    Ok((
        r.opt_text(1)?,
        KeyState {
            secret_access_key: r.text(2)?,
            status: status_column(r, 3)?.as_str().to_string(),
            create_date: millis_to_rfc3339(r.int(4)?),
            last_used: last_used.as_ref().map(LastUsedState::from_model),
            expiration_date: r.opt_int(8)?.map(millis_to_rfc3339),
            tag: r.opt_text(9)?,
            access_key_id: id,
        },
    ))
}

async fn export(tx: &mut impl Tx, pending: &HashMap<String, LastUsed>) -> Result<State> {
    let mut accounts = Vec::new();
    let account_rows = tx
        .query(
            &sql!("SELECT account_id, create_date FROM accounts ORDER BY account_id"),
            &[],
        )
        .await?;
    for row in &account_rows {
        let (id, created) = (row.text(0)?, row.int(1)?);
        let key_rows = tx
            .query(
                &sql!(
                    "SELECT access_key_id, user_id, secret, status, create_date, last_used_date,
                            last_used_service, last_used_region, expiration_date, tag
                     FROM access_keys WHERE account_id = $1 ORDER BY create_date, access_key_id"
                ),
                args![&id],
            )
            .await?;
        let mut root_access_keys = Vec::new();
        let mut by_user: HashMap<String, Vec<KeyState>> = HashMap::new();
        for r in &key_rows {
            match key_state(r, pending)? {
                (None, key) => root_access_keys.push(key),
                (Some(user_id), key) => by_user.entry(user_id).or_default().push(key),
            }
        }
        let user_rows = tx
            .query(
                &sql!(
                    sqlite: concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE account_id = $1 ORDER BY name COLLATE NOCASE"
                    ),
                    postgres: concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE account_id = $1 ORDER BY lower(name)"
                    ),
                ),
                args![&id],
            )
            .await?;
        let mut users = Vec::new();
        for r in &user_rows {
            let User {
                user_id,
                name,
                path,
                create_date: created,
                permissions_boundary,
                email,
                ..
            } = user_row(&id, r)?;
            let tags = user_tags(tx, &user_id)
                .await?
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
            mfa_devices: super::mfa::export_devices(tx, &id).await?,
            sessions: super::sessions::export_sessions(tx, &id).await?,
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
async fn import_key(
    tx: &mut impl Tx,
    account_id: &str,
    user_id: Option<&str>,
    k: &KeyState,
) -> Result<()> {
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
    let row = KeyRow {
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
    };
    if insert_key(tx, &row).await? {
        Ok(())
    } else {
        Err(Error::invalid_state(format!(
            "state: access key '{}' is listed twice",
            k.access_key_id
        )))
    }
}

async fn import_user(
    tx: &mut impl Tx,
    account_id: &str,
    u: &UserState,
    quota: usize,
) -> Result<()> {
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
    if !insert_user(tx, &user).await? {
        return Err(Error::invalid_state(format!(
            "state: user '{}' cannot be stored: its id or name (ignoring case) is listed twice",
            u.name
        )));
    }
    upsert_tags(tx, &user.user_id, &user.tags).await?;
    for k in &u.access_keys {
        import_key(tx, account_id, Some(&u.user_id), k).await?;
    }
    Ok(())
}

async fn import(tx: &mut impl Tx, state: &State, quota: usize) -> Result<()> {
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
        let inserted = insert_account(tx, &a.id, created).await?;
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
            import_key(tx, &a.id, None, k).await?;
        }
        for u in &a.users {
            import_user(tx, &a.id, u, quota).await?;
        }
        for d in &a.mfa_devices {
            super::mfa::put_device(tx, &a.id, d, 0).await?;
        }
        for s in &a.sessions {
            super::sessions::import_session(tx, &a.id, s).await?;
        }
    }
    Ok(())
}

//! Session credentials (GetSessionToken): issued in a write, looked up by key id on every request
//! signed with them, forgotten a day after they expired.

use super::Store;
use super::cache::Invalidate;
use super::rows::fresh_session_key_id;
use crate::error::Error;
use crate::error::Result;
use crate::ids::IdGen;
use crate::model::{Principal, SESSION_KEY_PREFIX, Secret, Session};
use crate::state::{SessionState, millis_to_rfc3339, rfc3339_to_millis};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::Arc;

/// What GetSessionToken asks the store to remember.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub account_id: String,
    /// `None` for the root user.
    pub user_id: Option<String>,
    pub parent_key_id: String,
    pub secret: Secret,
    pub token: Secret,
    pub create_date: i64,
    pub expiration: i64,
    pub mfa: bool,
}

impl Store {
    /// Stores a session under a fresh `ASIA…` key id and answers that id.
    pub async fn create_session(&self, session: NewSession, ids: Arc<IdGen>) -> Result<String> {
        self.write(Invalidate::Nothing, move |c| {
            let id = fresh_session_key_id(c, &ids, &session.account_id)?;
            c.prepare_cached(
                "INSERT INTO sessions (access_key_id, account_id, user_id, parent_key_id, secret,
                    token, create_date, expiration, mfa)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                id,
                session.account_id,
                session.user_id,
                session.parent_key_id,
                session.secret.expose(),
                session.token.expose(),
                session.create_date,
                session.expiration,
                session.mfa,
            ])?;
            Ok(id)
        })
        .await
    }

    /// The session whose key id this is, with its principal as it is now.
    pub async fn session(&self, access_key_id: &str) -> Result<Option<Session>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT s.account_id, s.user_id, u.name, u.path, s.secret, s.token, s.expiration,
                        s.mfa
                 FROM sessions s LEFT JOIN users u ON u.user_id = s.user_id
                 WHERE s.access_key_id = ?1",
            )?
            .query_row([access_key_id], |r| {
                let principal = match r.get::<_, Option<String>>(1)? {
                    None => Principal::Root,
                    Some(user_id) => Principal::User {
                        user_id,
                        name: r.get(2)?,
                        path: r.get(3)?,
                    },
                };
                Ok(Session {
                    access_key_id: access_key_id.to_string(),
                    account_id: r.get(0)?,
                    principal,
                    secret: Secret::new(r.get::<_, String>(4)?),
                    token: Secret::new(r.get::<_, String>(5)?),
                    expiration: r.get(6)?,
                    mfa: r.get(7)?,
                })
            })
            .optional()?)
        })
    }
}

/// The account's sessions as the state document writes them (secrets and tokens included).
pub(super) fn export_sessions(c: &Connection, account_id: &str) -> Result<Vec<SessionState>> {
    let mut stmt = c.prepare(
        "SELECT s.access_key_id, s.secret, s.token, u.name, s.parent_key_id, s.create_date,
                s.expiration, s.mfa
         FROM sessions s LEFT JOIN users u ON u.user_id = s.user_id
         WHERE s.account_id = ?1 ORDER BY s.access_key_id",
    )?;
    let rows = stmt.query_map([account_id], |r| {
        Ok(SessionState {
            access_key_id: r.get(0)?,
            secret_access_key: r.get(1)?,
            session_token: r.get(2)?,
            user_name: r.get(3)?,
            parent_access_key_id: r.get(4)?,
            create_date: millis_to_rfc3339(r.get(5)?),
            expiration: millis_to_rfc3339(r.get(6)?),
            mfa: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Stores a session of an imported state document.
pub(super) fn import_session(c: &Connection, account_id: &str, s: &SessionState) -> Result<()> {
    let invalid = |why: &str| {
        Error::invalid_state(format!(
            "state: session '{}' of account {account_id}: {why}",
            s.access_key_id
        ))
    };
    if !s.access_key_id.starts_with(SESSION_KEY_PREFIX)
        || s.secret_access_key.is_empty()
        || s.session_token.is_empty()
    {
        return Err(invalid("an ASIA key id, a secret and a token are required"));
    }
    let user_id = match &s.user_name {
        None => None,
        Some(name) => Some(
            super::rows::user_by_name(c, account_id, name)
                .map_err(|_| invalid(&format!("no user named {name}")))?
                .user_id,
        ),
    };
    let created = rfc3339_to_millis(&s.create_date).map_err(Error::invalid_state)?;
    let expiration = rfc3339_to_millis(&s.expiration).map_err(Error::invalid_state)?;
    c.prepare_cached(
        "INSERT INTO sessions (access_key_id, account_id, user_id, parent_key_id, secret, token,
            create_date, expiration, mfa)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        s.access_key_id,
        account_id,
        user_id,
        s.parent_access_key_id,
        s.secret_access_key,
        s.session_token,
        created,
        expiration,
        s.mfa
    ])
    .map_err(|e| invalid(&e.to_string()))?;
    Ok(())
}

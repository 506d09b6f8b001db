//! Session credentials (GetSessionToken): issued in a write, looked up by key id on every request
//! signed with them, forgotten a day after they expired.

use super::Store;
use super::cache::Invalidate;
use super::rows::fresh_session_key_id;
use crate::error::Result;
use crate::ids::IdGen;
use crate::model::{Principal, Secret, Session};
use rusqlite::{OptionalExtension, params};
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
    pub fn session(&self, access_key_id: &str) -> Result<Option<Session>> {
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

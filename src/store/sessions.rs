//! Session credentials (GetSessionToken): issued in a write, looked up by key id on every request
//! signed with them, forgotten a day after they expired.

use super::cache::Invalidate;
use super::rows::{fresh_session_key_id, named_user_id};
use super::tx::{Sql, Tx, args, sql};
use super::{Store, read_tx, write_tx};
use crate::error::{Error, Result};
use crate::ids::IdGen;
use crate::model::{Principal, SESSION_KEY_PREFIX, Secret, Session};
use crate::state::{SessionState, millis_to_rfc3339, rfc3339_to_millis};
use std::sync::Arc;

const INSERT_SESSION: Sql = sql!(
    "INSERT INTO sessions (access_key_id, account_id, user_id, parent_key_id, secret, token,
        create_date, expiration, mfa)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
);

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
        write_tx!(self, Invalidate::Nothing, |tx| create_session(
            tx, &session, &ids
        ))
    }

    /// The session whose key id this is, with its principal as it is now.
    pub async fn session(&self, access_key_id: &str) -> Result<Option<Session>> {
        let row = read_tx!(self, |tx| tx.query_opt(
            &sql!(
                "SELECT s.account_id, s.user_id, u.name, u.path, s.secret, s.token, s.expiration,
                        s.mfa
                 FROM sessions s LEFT JOIN users u ON u.user_id = s.user_id
                 WHERE s.access_key_id = $1"
            ),
            args![access_key_id]
        ))?;
        let Some(r) = row else { return Ok(None) };
        let principal = match r.opt_text(1)? {
            None => Principal::Root,
            Some(user_id) => Principal::User {
                user_id,
                name: r.text(2)?,
                path: r.text(3)?,
            },
        };
        Ok(Some(Session {
            access_key_id: access_key_id.to_string(),
            account_id: r.text(0)?,
            principal,
            secret: Secret::new(r.text(4)?),
            token: Secret::new(r.text(5)?),
            expiration: r.int(6)?,
            mfa: r.bool(7)?,
        }))
    }
}

async fn create_session(tx: &mut impl Tx, session: &NewSession, ids: &IdGen) -> Result<String> {
    let id = fresh_session_key_id(tx, ids, &session.account_id).await?;
    tx.execute(
        &INSERT_SESSION,
        args![
            &id,
            &session.account_id,
            &session.user_id,
            &session.parent_key_id,
            session.secret.expose(),
            session.token.expose(),
            session.create_date,
            session.expiration,
            session.mfa,
        ],
    )
    .await?;
    Ok(id)
}

/// The account's sessions as the state document writes them (secrets and tokens included).
pub(super) async fn export_sessions(
    tx: &mut impl Tx,
    account_id: &str,
) -> Result<Vec<SessionState>> {
    let rows = tx
        .query(
            &sql!(
                "SELECT s.access_key_id, s.secret, s.token, u.name, s.parent_key_id,
                        s.create_date, s.expiration, s.mfa
                 FROM sessions s LEFT JOIN users u ON u.user_id = s.user_id
                 WHERE s.account_id = $1 ORDER BY s.access_key_id"
            ),
            args![account_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(SessionState {
                access_key_id: r.text(0)?,
                secret_access_key: r.text(1)?,
                session_token: r.text(2)?,
                user_name: r.opt_text(3)?,
                parent_access_key_id: r.text(4)?,
                create_date: millis_to_rfc3339(r.int(5)?),
                expiration: millis_to_rfc3339(r.int(6)?),
                mfa: r.bool(7)?,
            })
        })
        .collect()
}

/// Stores a session of an imported state document.
pub(super) async fn import_session(
    tx: &mut impl Tx,
    account_id: &str,
    s: &SessionState,
) -> Result<()> {
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
    let user_id = named_user_id(tx, account_id, s.user_name.as_deref(), invalid).await?;
    let created = rfc3339_to_millis(&s.create_date).map_err(Error::invalid_state)?;
    let expiration = rfc3339_to_millis(&s.expiration).map_err(Error::invalid_state)?;
    let inserted = tx
        .execute_unique(
            &INSERT_SESSION,
            args![
                &s.access_key_id,
                account_id,
                &user_id,
                &s.parent_access_key_id,
                &s.secret_access_key,
                &s.session_token,
                created,
                expiration,
                s.mfa
            ],
        )
        .await?;
    if inserted.is_none() {
        return Err(invalid("the key id is listed twice"));
    }
    Ok(())
}

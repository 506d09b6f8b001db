//! Temporary credentials: GetSessionToken (with an optional MFA code), and what a request signed
//! with session credentials may call.

use super::Ctx;
use crate::error::{AuthError, Error, Refusal, Result};
use crate::model::{Caller, Principal, Secret};
use crate::store::NewSession;

/// IAM users' sessions: 15 minutes to 36 hours, 12 by default.
pub const MIN_DURATION_SECONDS: i64 = 900;
pub const MAX_DURATION_SECONDS: i64 = 129_600;
const DEFAULT_DURATION_SECONDS: i64 = 43_200;
/// The root user's sessions last at most an hour; a longer request is shortened, not refused.
const ROOT_MAX_DURATION_SECONDS: i64 = 3_600;

#[derive(Debug, Clone, Default)]
pub struct GetSessionToken {
    /// Already within `MIN_DURATION_SECONDS..=MAX_DURATION_SECONDS` (the face checks the range).
    pub duration_seconds: Option<i64>,
    pub serial_number: Option<String>,
    pub token_code: Option<String>,
}

/// Session credentials as GetSessionToken answers them.
#[derive(Debug, Clone)]
pub struct SessionCredentials {
    pub access_key_id: String,
    pub secret: Secret,
    pub token: Secret,
    pub expiration: i64,
}

pub async fn get_session_token(
    ctx: &Ctx<'_>,
    input: GetSessionToken,
) -> Result<SessionCredentials> {
    let caller = ctx.caller;
    let parent_key_id = match (&caller.session, &caller.access_key_id) {
        (None, Some(id)) => id.clone(),
        _ => {
            return Err(Error::SessionCannotCall {
                action: "GetSessionToken",
            });
        }
    };
    let user_id = match &caller.principal {
        Principal::Root => None,
        Principal::User { user_id, .. } => Some(user_id.clone()),
    };
    let duration = match &caller.principal {
        Principal::Root => input
            .duration_seconds
            .unwrap_or(ROOT_MAX_DURATION_SECONDS)
            .min(ROOT_MAX_DURATION_SECONDS),
        Principal::User { .. } => input.duration_seconds.unwrap_or(DEFAULT_DURATION_SECONDS),
    };
    let mfa = match (input.serial_number, input.token_code) {
        (None, None) => false,
        (Some(serial), Some(code)) => {
            ctx.store
                .use_mfa_code(&caller.account_id, user_id.clone(), serial, code, ctx.now)
                .await?;
            true
        }
        (Some(_), None) => return Err(Error::MfaCodeRejected),
        (None, Some(_)) => return Err(Error::MfaNotAssociated),
    };
    let secret = ctx.ids.secret();
    let token = ctx.ids.session_token();
    let expiration = ctx.now.saturating_add(duration.saturating_mul(1000));
    let access_key_id = ctx
        .store
        .create_session(
            NewSession {
                account_id: caller.account_id.clone(),
                user_id,
                parent_key_id,
                secret: secret.clone(),
                token: token.clone(),
                create_date: ctx.now,
                expiration,
                mfa,
            },
            ctx.ids.clone(),
        )
        .await?;
    Ok(SessionCredentials {
        access_key_id,
        secret,
        token,
        expiration,
    })
}

/// Which API a session-signed request is for, as far as session rules go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// STS: session credentials may only ask who they are.
    Sts { get_caller_identity: bool },
    /// IAM (and OUTSCALE's key management): only sessions that passed MFA.
    Iam,
}

/// Refuses what session credentials may not call, as AWS does: other STS actions are
/// `AccessDenied`, IAM without MFA is `InvalidClientTokenId`.
pub fn check_session_may_call(caller: &Caller, api: Api, action: &'static str) -> Result<()> {
    let Some(session) = caller.session else {
        return Ok(());
    };
    match api {
        Api::Sts {
            get_caller_identity: true,
        } => Ok(()),
        Api::Sts { .. } => Err(Error::SessionCannotCall { action }),
        Api::Iam if session.mfa => Ok(()),
        Api::Iam => {
            tracing::info!(
                access_key_id = caller.access_key_id.as_deref().unwrap_or("-"),
                reason = Refusal::SessionWithoutMfa.as_str(),
                "credentials refused"
            );
            Err(AuthError::Refused(Refusal::SessionWithoutMfa).into())
        }
    }
}

//! Who calls the OUTSCALE API: an OSC4 or AWS4 signature (with the clients' quirks), or the root
//! user's login and password (`Authorization: Basic`, on the access-key calls only).

use super::actions::PASSWORD_ACTIONS;
use super::error::OscError;
use crate::auth::{Authenticated, Policy};
use crate::error::{AuthError, Error, Refusal};
use crate::model::{Caller, Principal};
use crate::service::AppState;
use crate::sigv4::{self, RequestParts, Scheme};
use data_encoding::{BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD};
use http::request;
use time::OffsetDateTime;

/// OSC4 as osc-cli and osc-sdk-python sign, or AWS4 as the Go SDK and Terraform sign; any scope
/// service (`api`, `oapi`, or oapi-cli's host label); `host` with or without its port.
pub const POLICY: Policy = Policy {
    schemes: &[&Scheme::OSC4, &Scheme::AWS4],
    services: &[],
    host_without_port: true,
};

/// How the caller proved who it is.
pub enum Verified {
    Signature(Authenticated),
    Password(Caller),
}

impl Verified {
    pub fn caller(&self) -> &Caller {
        match self {
            Verified::Signature(a) => &a.caller,
            Verified::Password(c) => c,
        }
    }
}

fn basic_credentials(parts: &request::Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
}

/// `login:password` from standard or URL-safe base64, padded or not (osc-cli sends URL-safe).
fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let raw = [BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD]
        .iter()
        .find_map(|e| e.decode(encoded.as_bytes()).ok())?;
    let text = String::from_utf8(raw).ok()?;
    let (login, password) = text.split_once(':')?;
    Some((login.to_string(), password.to_string()))
}

fn refused(why: Refusal) -> OscError {
    tracing::info!(reason = why.as_str(), "credentials refused");
    Error::Auth(AuthError::Refused(why)).into()
}

/// Login/password authentication: the call must allow it, `X-Osc-Date` must be present and within
/// the signatures' 15 minutes, and the pair must be an account's root login.
fn password(
    state: &AppState,
    parts: &request::Parts,
    encoded: &str,
    action: &str,
    now: OffsetDateTime,
) -> Result<Verified, OscError> {
    if !PASSWORD_ACTIONS.contains(&action) {
        return Err(OscError::password_not_allowed(action));
    }
    let date = parts
        .headers
        .get(Scheme::OSC4.date_header)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            OscError::access_denied("X-Osc-Date is required with a login and password.")
        })?;
    let time = sigv4::parse_amz_date(date).ok_or_else(|| {
        OscError::access_denied("X-Osc-Date must be in the YYYYMMDDTHHMMSSZ format.")
    })?;
    if (time - now).abs() > sigv4::MAX_SKEW {
        return Err(OscError::access_denied(
            "X-Osc-Date is more than 15 minutes away from the server's time.",
        ));
    }
    let (login, password) = decode_basic(encoded).ok_or_else(|| refused(Refusal::WrongPassword))?;
    let account = state
        .logins
        .verify(&login, &password)
        .ok_or_else(|| refused(Refusal::WrongPassword))?;
    Ok(Verified::Password(Caller {
        account_id: account.to_string(),
        access_key_id: None,
        principal: Principal::Root,
        session: None,
    }))
}

/// Authenticates one request to `action`; `clock_now` judges key lifetimes.
pub async fn authenticate(
    state: &AppState,
    parts: &request::Parts,
    payload_sha256: &str,
    action: &str,
    clock_now: i64,
) -> Result<Verified, OscError> {
    let now = OffsetDateTime::now_utc();
    if let Some(encoded) = basic_credentials(parts) {
        return password(state, parts, encoded, action, now);
    }
    let request_parts = RequestParts::of(parts, payload_sha256);
    let verified = state
        .auth
        .authenticate(&state.store, &request_parts, now, clock_now, &POLICY)
        .await?;
    verified.record_use(&state.store, clock_now);
    Ok(Verified::Signature(verified))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_decode_from_both_alphabets() {
        // "me@example.com:p?>>" has bytes that standard and URL-safe base64 write differently.
        let pair = "me@example.com:p?>>";
        for engine in [BASE64, BASE64_NOPAD, BASE64URL, BASE64URL_NOPAD] {
            let encoded = engine.encode(pair.as_bytes());
            assert_eq!(
                decode_basic(&encoded),
                Some(("me@example.com".to_string(), "p?>>".to_string())),
                "{encoded}"
            );
        }
        assert_eq!(decode_basic("!!!"), None);
        assert_eq!(decode_basic(&BASE64.encode(b"no-colon")), None);
    }
}

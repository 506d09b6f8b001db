//! Signing in and out of the console: a key pair (constant-time secret check, key Active and
//! unexpired) or the root login, one message for every failure, a delay and a per-address limit.

use super::handlers::field;
use super::pages;
use super::session::Flash;
use super::{ENDED_EXPIRED, ENDED_KEY, PREFIX, Reply, Req, Signed, page, redirect, set_cookie};
use crate::error::Error;
use crate::model::{Caller, KeyStatus};
use crate::service::Peer;
use http::StatusCode;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Failed sign-ins wait this long before the answer, to slow guessing down.
const FAILED_SIGN_IN_DELAY: Duration = Duration::from_millis(300);
const BAD_KEY_PAIR: &str = "Incorrect access key ID or secret access key.";
const BAD_LOGIN: &str = "Incorrect email or password.";
const TOO_MANY: &str = "Too many failed sign-ins from this address. Wait a minute, then try again.";
/// Seconds a blocked address is told to wait (the failure window).
const SIGN_IN_RETRY_AFTER: &str = "60";

pub(super) async fn sign_in_page(req: &Req<'_>) -> Reply {
    if req.signed_in().await.is_ok() {
        return redirect(&format!("{PREFIX}/users"));
    }
    let flash = match req.query("ended").as_deref() {
        Some(ENDED_KEY) => Some(Flash::Alert(
            "Your session ended because the access key you signed in with is no longer active."
                .to_string(),
        )),
        Some(ENDED_EXPIRED) => Some(Flash::Alert(
            "Your session has expired. Sign in again.".to_string(),
        )),
        _ => None,
    };
    page(
        StatusCode::OK,
        pages::sign_in(flash, !req.state.logins.is_empty()),
    )
}

/// Who the sign-in form names, if its secret or password is right and the key usable.
async fn verify_sign_in(req: &Req<'_>, form: &[(String, String)]) -> Result<Option<Caller>, Error> {
    let now = req.state.clock.now_millis();
    if field(form, "method") == "password" {
        let Some(account) = req
            .state
            .logins
            .verify(field(form, "email"), field(form, "password"))
        else {
            return Ok(None);
        };
        return Ok(Some(Caller {
            account_id: account.to_string(),
            access_key_id: None,
            principal: crate::model::Principal::Root,
            session: None,
        }));
    }
    let id = field(form, "access_key_id");
    let Some(credential) = req.state.store.credential(id).await? else {
        return Ok(None);
    };
    let secret_ok: bool = credential
        .secret
        .expose()
        .as_bytes()
        .ct_eq(field(form, "secret_access_key").as_bytes())
        .into();
    let usable = credential.status == KeyStatus::Active && !credential.expired_at(now) && secret_ok;
    Ok(usable.then_some(Caller {
        account_id: credential.account_id,
        access_key_id: Some(credential.access_key_id),
        principal: credential.principal,
        session: None,
    }))
}

/// What the log may say of a typed access key id: key ids are upper-case letters and digits
/// (AWS's and OUTSCALE's alike), secrets are mixed-case base64, so a secret pasted into the id
/// field is never repeated.
fn loggable_key_id(typed: &str) -> &str {
    let shaped = (16..=32).contains(&typed.len())
        && typed
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if shaped { typed } else { "<malformed>" }
}

pub(super) async fn sign_in(req: &Req<'_>, key: &mut Option<String>) -> Reply {
    let now = req.state.clock.now_millis();
    let ip = req
        .parts
        .extensions
        .get::<Peer>()
        .map(|p| p.0.ip().to_canonical());
    let with_password = !req.state.logins.is_empty();
    if let Some(ip) = ip
        && req.state.console.sign_in_blocked(ip, now)
    {
        tracing::info!(%ip, "console sign-in refused: too many failures");
        let mut response = page(
            StatusCode::TOO_MANY_REQUESTS,
            pages::sign_in(Some(Flash::Alert(TOO_MANY.to_string())), with_password),
        );
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static(SIGN_IN_RETRY_AFTER),
        );
        return response;
    }
    let form = match req.form() {
        Ok(f) => f,
        Err(reply) => return *reply,
    };
    let by_password = field(&form, "method") == "password";
    let caller = match verify_sign_in(req, &form).await {
        Ok(c) => c,
        Err(e) => return req.error_page(&e.into()),
    };
    let Some(caller) = caller else {
        if let Some(ip) = ip {
            req.state.console.record_failure(ip, now);
        }
        let logged = loggable_key_id(field(&form, "access_key_id"));
        tracing::info!(
            access_key_id = logged,
            by_password,
            "console sign-in refused"
        );
        tokio::time::sleep(FAILED_SIGN_IN_DELAY).await;
        let text = if by_password { BAD_LOGIN } else { BAD_KEY_PAIR };
        return page(
            StatusCode::UNAUTHORIZED,
            pages::sign_in(Some(Flash::Alert(text.to_string())), with_password),
        );
    };
    key.clone_from(&caller.access_key_id);
    tracing::info!(
        access_key_id = caller.access_key_id.as_deref().unwrap_or("-"),
        account_id = %caller.account_id,
        "console sign-in"
    );
    // A sign-in replaces the session the browser had, if any.
    if let Some(old) = super::cookie_value(req.parts, &req.cookie) {
        req.state.console.end(old);
    }
    let sign_in_key = caller.access_key_id.clone();
    let id = req.state.console.start(caller, sign_in_key, now);
    let mut response = redirect(&format!("{PREFIX}/users"));
    set_cookie(&mut response, &req.cookie, Some(&id));
    response
}

pub(super) fn sign_out(req: &Req<'_>, signed: &Signed) -> Reply {
    req.state.console.end(&signed.id);
    req.signed_out(&format!("{PREFIX}/signin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_id_shaped_text_from_the_sign_in_form_is_logged() {
        assert_eq!(
            loggable_key_id("AKIAIOSFODNN7EXAMPLE"),
            "AKIAIOSFODNN7EXAMPLE"
        );
        assert_eq!(
            loggable_key_id("ABCDEFGHIJ0123456789"),
            "ABCDEFGHIJ0123456789"
        );
        for secret in [
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "pastedSecretKey0000000000000000000000000",
            "AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI",
            "",
        ] {
            assert_eq!(loggable_key_id(secret), "<malformed>");
        }
    }
}

//! Who is calling: find the signing key, check it is usable, verify the signature, and name the caller.
//!
//! Nothing about the request (account, user, service) is trusted until the signature has verified.
//! Each face says which schemes and scope services it accepts (`Policy`); the answer is a `Caller`.

use crate::error::{AuthError, Error, Refusal, Result};
use crate::model::{
    Caller, Credential, KeyStatus, LastUsed, SESSION_KEY_PREFIX, Secret, SessionInfo,
};
use crate::sigv4::{self, RequestParts, Scheme, Scope, SigningKey};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// Derived signing keys are reused for the same key, day, region and service.
const KEY_CACHE_CAPACITY: usize = 4096;

/// What a face accepts.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub schemes: &'static [&'static Scheme],
    /// Scope services served; a request scoped to another is told to use the first. Empty: any
    /// service (OUTSCALE's clients scope with `api`, `oapi`, or a label of the host name).
    pub services: &'static [&'static str],
    /// Also accept a signature over the `host` header without its port, as osc-sdk-python signs
    /// it while sending `Host: name:port`.
    pub host_without_port: bool,
}

/// A verified request's caller and the scope it signed for.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    pub scope: Scope,
}

/// Root logins and passwords (OUTSCALE's Basic authentication), from the configuration and the
/// seed; kept in memory only, like the rest of the configuration.
#[derive(Default)]
pub struct Logins {
    /// (login, password, account id)
    entries: Vec<(String, Secret, String)>,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("count", &self.entries.len())
            .finish()
    }
}

impl Logins {
    /// Adds a login; one login names one account.
    pub fn add(&mut self, login: &str, password: Secret, account_id: &str) -> Result<(), String> {
        if self
            .entries
            .iter()
            .any(|(l, _, a)| l.eq_ignore_ascii_case(login) && a != account_id)
        {
            return Err(format!("login {login} is given to two accounts"));
        }
        self.entries
            .retain(|(l, _, _)| !l.eq_ignore_ascii_case(login));
        self.entries
            .push((login.to_string(), password, account_id.to_string()));
        Ok(())
    }

    /// The account whose root user has this login and password. Every password is compared, in
    /// constant time, so the answer's timing does not tell which logins exist.
    pub fn verify(&self, login: &str, password: &str) -> Option<&str> {
        let mut found = None;
        for (l, p, account) in &self.entries {
            let same_password: bool = p.expose().as_bytes().ct_eq(password.as_bytes()).into();
            if same_password && l.eq_ignore_ascii_case(login) {
                found = Some(account.as_str());
            }
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Authenticated {
    /// Records this request as the signing key's last use (date, scope service and region);
    /// session credentials are not access keys and leave no record.
    pub fn record_use(&self, store: &Store, now: i64) {
        if self.caller.session.is_some() {
            return;
        }
        if let Some(id) = &self.caller.access_key_id {
            store.touch_last_used(
                id,
                LastUsed {
                    date: now,
                    service: self.scope.service.clone(),
                    region: self.scope.region.clone(),
                },
            );
        }
    }
}

/// Verifies requests against the store's keys, caching derived signing keys.
#[derive(Default)]
pub struct Authenticator {
    /// Keyed by `algorithm/id/scope`; the secret is kept to notice a re-issued id.
    keys: Mutex<HashMap<String, (Secret, SigningKey)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

fn refused(claim: &sigv4::Claim, why: Refusal) -> Error {
    tracing::info!(access_key_id = %claim.access_key_id, reason = why.as_str(), "credentials refused");
    Error::Auth(AuthError::Refused(why))
}

impl Authenticator {
    fn signing_key(&self, secret: &Secret, claim: &sigv4::Claim) -> SigningKey {
        let cache_key = format!(
            "{}/{}/{}",
            claim.scheme.algorithm,
            claim.access_key_id,
            claim.scope_string()
        );
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached_secret, key)) = keys.get(&cache_key)
            && bool::from(
                cached_secret
                    .expose()
                    .as_bytes()
                    .ct_eq(secret.expose().as_bytes()),
            )
        {
            return key.clone();
        }
        let key = sigv4::signing_key(secret, claim);
        if keys.len() >= KEY_CACHE_CAPACITY {
            keys.clear();
        }
        keys.insert(cache_key, (secret.clone(), key.clone()));
        key
    }

    /// The key as authentication sees it at `now` (the clock's time), propagation included.
    async fn usable_credential(
        store: &Store,
        claim: &sigv4::Claim,
        now: i64,
    ) -> Result<std::result::Result<Credential, Refusal>> {
        let delay = store.propagation_delay_ms();
        let (credential, status) = match store.credential(&claim.access_key_id).await? {
            // Without a delay every change applies at once, whatever the clocks say.
            Some(c) if delay == 0 => {
                let status = Some(c.status);
                (c, status)
            }
            Some(c) => {
                let status = c.effective_status(now);
                (c, status)
            }
            None => match store
                .recently_deleted_credential(&claim.access_key_id, now)
                .await?
            {
                Some(c) => {
                    let status = Some(c.status);
                    (c, status)
                }
                None => return Ok(Err(Refusal::UnknownKey)),
            },
        };
        // Expiration is the key's own date, judged by the clock at once: it does not propagate.
        if credential.expired_at(now) {
            return Ok(Err(Refusal::ExpiredKey));
        }
        Ok(match status {
            Some(KeyStatus::Active) => Ok(credential),
            Some(KeyStatus::Inactive) => Err(Refusal::InactiveKey),
            // Created, but not yet propagated.
            None => Err(Refusal::UnknownKey),
        })
    }

    /// Whether the signature verifies over the `Host` header without its port.
    fn verifies_without_port(
        parts: &RequestParts<'_>,
        claim: &sigv4::Claim,
        key: &SigningKey,
    ) -> Result<bool> {
        let Some(host) = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
        else {
            return Ok(false);
        };
        let Some((name, port)) = host.rsplit_once(':') else {
            return Ok(false);
        };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(false);
        }
        let mut headers = parts.headers.clone();
        let Ok(value) = http::HeaderValue::from_str(name) else {
            return Ok(false);
        };
        headers.insert(http::header::HOST, value);
        let portless = RequestParts {
            headers: &headers,
            ..*parts
        };
        let canonical = sigv4::canonical_request(&portless, claim)?;
        let string_to_sign = sigv4::string_to_sign(claim, &canonical);
        Ok(sigv4::verify(claim, key, &string_to_sign).is_ok())
    }

    /// Runs the whole check for one request: `now` is real time (the signature's window),
    /// `clock_now` the emulated time in milliseconds (lifetimes and propagation). A refusal is
    /// logged at info with the claimed key id and the reason (never a secret, token or signature).
    pub async fn authenticate(
        &self,
        store: &Store,
        parts: &RequestParts<'_>,
        now: OffsetDateTime,
        clock_now: i64,
        policy: &Policy,
    ) -> Result<Authenticated> {
        let claim = sigv4::parse_with(parts, policy.schemes)?;
        let result = self
            .verify_claim(store, parts, &claim, now, clock_now, policy)
            .await;
        if let Err(Error::Auth(e)) = &result
            && !matches!(e, AuthError::Refused(_))
        {
            // Refusals of the key were logged where their reason was known.
            tracing::info!(access_key_id = %claim.access_key_id, reason = %e, "credentials refused");
        }
        result
    }

    async fn verify_claim(
        &self,
        store: &Store,
        parts: &RequestParts<'_>,
        claim: &sigv4::Claim,
        now: OffsetDateTime,
        clock_now: i64,
        policy: &Policy,
    ) -> Result<Authenticated> {
        sigv4::check_time(claim, now)?;
        if !policy.services.is_empty() && !policy.services.contains(&claim.scope.service.as_str()) {
            return Err(AuthError::WrongService {
                expected: policy.services.first().copied().unwrap_or_default(),
            }
            .into());
        }
        if claim.access_key_id.starts_with(SESSION_KEY_PREFIX) {
            return self
                .verify_session(store, parts, claim, clock_now, policy)
                .await;
        }
        let credential = match Self::usable_credential(store, claim, clock_now).await? {
            Ok(c) => c,
            Err(why) => return Err(refused(claim, why)),
        };
        // Session tokens go with session key ids only.
        if claim.security_token.is_some() {
            return Err(refused(claim, Refusal::UnexpectedToken));
        }
        self.check_signature(parts, claim, &credential.secret, policy)?;
        Ok(Authenticated {
            caller: Caller {
                account_id: credential.account_id,
                access_key_id: Some(credential.access_key_id),
                principal: credential.principal,
                session: None,
            },
            scope: claim.scope.clone(),
        })
    }

    /// Session credentials, in the order AWS judges them: the session must exist and the token be
    /// its own (compared in constant time) before its expiry and then the signature are looked at.
    async fn verify_session(
        &self,
        store: &Store,
        parts: &RequestParts<'_>,
        claim: &sigv4::Claim,
        clock_now: i64,
        policy: &Policy,
    ) -> Result<Authenticated> {
        let Some(session) = store.session(&claim.access_key_id).await? else {
            return Err(refused(claim, Refusal::UnknownKey));
        };
        let token_matches = claim
            .security_token
            .as_deref()
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(session.token.expose().as_bytes())));
        if !token_matches {
            return Err(refused(claim, Refusal::TokenMismatch));
        }
        if session.expiration <= clock_now {
            return Err(AuthError::ExpiredToken.into());
        }
        self.check_signature(parts, claim, &session.secret, policy)?;
        Ok(Authenticated {
            caller: Caller {
                account_id: session.account_id,
                access_key_id: Some(session.access_key_id),
                principal: session.principal,
                session: Some(SessionInfo { mfa: session.mfa }),
            },
            scope: claim.scope.clone(),
        })
    }

    /// Verifies the signature with `secret` (and, where the face allows it, over the host without
    /// its port); on a mismatch, logs at debug what the server signed, session tokens redacted.
    fn check_signature(
        &self,
        parts: &RequestParts<'_>,
        claim: &sigv4::Claim,
        secret: &Secret,
        policy: &Policy,
    ) -> Result<()> {
        let key = self.signing_key(secret, claim);
        let canonical = sigv4::canonical_request(parts, claim)?;
        let string_to_sign = sigv4::string_to_sign(claim, &canonical);
        if let Err(e) = sigv4::verify(claim, &key, &string_to_sign) {
            let quirk_matches = policy.host_without_port
                && Self::verifies_without_port(parts, claim, &key).unwrap_or(false);
            if !quirk_matches {
                let mut shown = String::from_utf8_lossy(&canonical).into_owned();
                if let Some(token) = claim.security_token.as_deref().filter(|t| !t.is_empty()) {
                    shown = shown
                        .replace(token, "<redacted>")
                        .replace(&sigv4::uri_encode(token), "<redacted>");
                }
                tracing::debug!(
                    access_key_id = %claim.access_key_id,
                    canonical_request = %shown,
                    string_to_sign = %string_to_sign,
                    "signature mismatch"
                );
                return Err(e.into());
            }
        }
        Ok(())
    }
}

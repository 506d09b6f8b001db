//! Who is calling: find the signing key, check it is usable, verify the signature, and name the caller.
//!
//! Nothing about the request (account, user, service) is trusted until the signature has verified.

use crate::actions::Service;
use crate::error::{ApiError, ApiResult};
use crate::model::{Caller, KeyStatus, Secret};
use crate::sigv4::{self, RequestParts, Scope, SigningKey};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Mutex;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

/// Derived signing keys are reused for the same key, day, region and service.
const KEY_CACHE_CAPACITY: usize = 4096;

/// A verified request's caller and the scope it signed for.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub caller: Caller,
    pub service: Service,
    pub scope: Scope,
}

/// Verifies requests against the store's keys, caching derived signing keys.
#[derive(Default)]
pub struct Authenticator {
    /// Keyed by `id/date/region/service`; the secret is kept to notice a re-issued id.
    keys: Mutex<HashMap<String, (Secret, SigningKey)>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticator {
    fn signing_key(&self, secret: &Secret, claim: &sigv4::Claim) -> SigningKey {
        let cache_key = format!("{}/{}", claim.access_key_id, claim.scope.to_scope_string());
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

    /// Runs the whole check for one request at time `now`.
    pub fn authenticate(
        &self,
        store: &Store,
        parts: &RequestParts<'_>,
        now: OffsetDateTime,
    ) -> ApiResult<Authenticated> {
        let claim = sigv4::parse(parts)?;
        sigv4::check_time(&claim, now)?;
        let service = Service::from_scope(&claim.scope.service)
            .ok_or_else(|| ApiError::wrong_service_scope(Service::Iam.signing_name()))?;
        let now_ms = crate::unix_millis(now);
        let delay = store.propagation_delay_ms();
        let credential = match store.credential(&claim.access_key_id)? {
            // Without a delay every change applies at once, whatever the clocks say.
            Some(c) if delay == 0 => Some(c).filter(|c| c.status == KeyStatus::Active),
            Some(c) => {
                Some(c).filter(|c| c.effective_status(now_ms, delay) == Some(KeyStatus::Active))
            }
            None => store
                .recently_deleted_credential(&claim.access_key_id, now_ms)?
                .filter(|c| c.status == KeyStatus::Active),
        }
        .ok_or_else(ApiError::invalid_client_token_id)?;
        // iamlite issues no session credentials, so a token never belongs with a key.
        if claim.security_token.is_some() {
            return Err(ApiError::invalid_client_token_id());
        }
        let canonical = sigv4::canonical_request(parts, &claim)?;
        let string_to_sign = sigv4::string_to_sign(&claim, &canonical);
        let key = self.signing_key(&credential.secret, &claim);
        if let Err(e) = sigv4::verify(&claim, &key, &string_to_sign) {
            tracing::debug!(
                access_key_id = %claim.access_key_id,
                canonical_request = %String::from_utf8_lossy(&canonical),
                string_to_sign = %string_to_sign,
                "signature mismatch"
            );
            return Err(e);
        }
        Ok(Authenticated {
            caller: Caller {
                account_id: credential.account_id,
                access_key_id: credential.access_key_id,
                principal: credential.principal,
            },
            service,
            scope: claim.scope,
        })
    }
}

//! Console sign-in sessions: server-side, in memory, keyed by a hash of a 256-bit random id, with
//! a CSRF token, a one-slot message, single-use create-key nonces, and the failed sign-in limit.
//!
//! A restart signs everyone out. Lifetimes are judged by the emulator's `Clock`, so a test that
//! moves the clock also ends sessions.

use crate::model::Caller;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// A session ends after this long without a request.
pub const IDLE_MILLIS: i64 = 30 * 60 * 1000;
/// And this long after sign-in, whatever happens.
pub const ABSOLUTE_MILLIS: i64 = 8 * 60 * 60 * 1000;
/// Sessions kept at most; past it, the oldest ends first.
const MAX_SESSIONS: usize = 10_000;
/// Create-key forms a session may have open at once (older ones stop working).
const MAX_NONCES: usize = 16;
/// Failed sign-ins one address may make per window before it is refused outright.
pub const MAX_FAILURES: u32 = 10;
const FAILURE_WINDOW_MILLIS: i64 = 60 * 1000;
/// Addresses tracked at most by the failed sign-in limit.
const MAX_TRACKED_ADDRESSES: usize = 10_000;

/// 32 random bytes as hex, from the operating system's generator (never the seeded id source:
/// `--id-seed` must not make session ids guessable).
fn random_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// A message shown once, at the top of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    Status(String),
    Alert(String),
}

/// Who is signed in, and how.
#[derive(Clone)]
pub struct Session {
    pub caller: Caller,
    /// The key signed in with; `None` for a login and password.
    pub sign_in_key: Option<String>,
    pub csrf_token: String,
    created: i64,
    last_seen: i64,
    flash: Option<Flash>,
    nonces: VecDeque<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("caller", &self.caller)
            .field("sign_in_key", &self.sign_in_key)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether `given` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        self.csrf_token.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// Why a cookie no longer names a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// No such session (never was, signed out, or the server restarted).
    Unknown,
    /// Idle or absolute lifetime reached.
    Expired,
}

/// Every session of this process, and the failed sign-in counts.
#[derive(Default)]
pub struct Sessions {
    by_digest: Mutex<HashMap<[u8; 32], Session>>,
    failures: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.by_digest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a session and returns its id (the cookie's value).
    pub fn start(&self, caller: Caller, sign_in_key: Option<String>, now: i64) -> String {
        let id = random_token();
        let session = Session {
            caller,
            sign_in_key,
            csrf_token: random_token(),
            created: now,
            last_seen: now,
            flash: None,
            nonces: VecDeque::new(),
        };
        let mut map = self.map();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| alive(s, now));
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(digest(&id), session);
        id
    }

    /// The session `id` names, seen now (which keeps it from idling out).
    pub fn touch(&self, id: &str, now: i64) -> Result<Session, Ended> {
        let mut map = self.map();
        let key = digest(id);
        let Some(session) = map.get_mut(&key) else {
            return Err(Ended::Unknown);
        };
        if !alive(session, now) {
            map.remove(&key);
            return Err(Ended::Expired);
        }
        session.last_seen = now;
        Ok(session.clone())
    }

    pub fn end(&self, id: &str) {
        self.map().remove(&digest(id));
    }

    /// Ends every session (a reset or import may give key ids to other principals).
    pub fn end_all(&self) {
        self.map().clear();
    }

    /// Ends every session signed in with `access_key_id`.
    pub fn end_for_key(&self, access_key_id: &str) {
        self.map()
            .retain(|_, s| s.sign_in_key.as_deref() != Some(access_key_id));
    }

    pub fn set_flash(&self, id: &str, flash: Flash) {
        if let Some(s) = self.map().get_mut(&digest(id)) {
            s.flash = Some(flash);
        }
    }

    pub fn take_flash(&self, id: &str) -> Option<Flash> {
        self.map().get_mut(&digest(id)).and_then(|s| s.flash.take())
    }

    /// A fresh single-use token for one create-key form.
    pub fn issue_nonce(&self, id: &str) -> String {
        let nonce = random_token();
        if let Some(s) = self.map().get_mut(&digest(id)) {
            if s.nonces.len() >= MAX_NONCES {
                s.nonces.pop_front();
            }
            s.nonces.push_back(nonce.clone());
        }
        nonce
    }

    /// Uses up `nonce`: true the first time only, so a reloaded form creates nothing.
    pub fn redeem_nonce(&self, id: &str, nonce: &str) -> bool {
        let mut map = self.map();
        let Some(s) = map.get_mut(&digest(id)) else {
            return false;
        };
        match s
            .nonces
            .iter()
            .position(|n| bool::from(n.as_bytes().ct_eq(nonce.as_bytes())))
        {
            Some(i) => {
                s.nonces.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether `ip` has used up its failed sign-ins for now.
    pub fn sign_in_blocked(&self, ip: IpAddr, now: i64) -> bool {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures
            .get(&ip)
            .is_some_and(|(since, n)| now - since < FAILURE_WINDOW_MILLIS && *n >= MAX_FAILURES)
    }

    pub fn record_failure(&self, ip: IpAddr, now: i64) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_TRACKED_ADDRESSES {
            failures.retain(|_, (since, _)| now - *since < FAILURE_WINDOW_MILLIS);
            if failures.len() >= MAX_TRACKED_ADDRESSES {
                failures.clear();
            }
        }
        let entry = failures.entry(ip).or_insert((now, 0));
        if now - entry.0 >= FAILURE_WINDOW_MILLIS {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

fn alive(s: &Session, now: i64) -> bool {
    now - s.last_seen < IDLE_MILLIS && now - s.created < ABSOLUTE_MILLIS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Principal;

    fn root() -> Caller {
        Caller {
            account_id: "123456789012".into(),
            access_key_id: Some("AKIAROOT".into()),
            principal: Principal::Root,
            session: None,
        }
    }

    #[test]
    fn a_session_idles_out_after_30_minutes_and_ends_after_8_hours() {
        let sessions = Sessions::default();
        let id = sessions.start(root(), Some("AKIAROOT".into()), 0);
        assert!(sessions.touch(&id, IDLE_MILLIS - 1).is_ok());
        // Each request restarts the idle time, not the absolute one.
        let mut now = IDLE_MILLIS - 1;
        while now + IDLE_MILLIS - 1 < ABSOLUTE_MILLIS {
            now += IDLE_MILLIS - 1;
            assert!(sessions.touch(&id, now).is_ok(), "at {now}");
        }
        assert_eq!(
            sessions.touch(&id, ABSOLUTE_MILLIS).map(|_| ()),
            Err(Ended::Expired)
        );
        assert_eq!(sessions.touch(&id, 0).map(|_| ()), Err(Ended::Unknown));

        let idle = sessions.start(root(), None, 0);
        assert_eq!(
            sessions.touch(&idle, IDLE_MILLIS).map(|_| ()),
            Err(Ended::Expired)
        );
    }

    #[test]
    fn a_nonce_is_redeemed_once_and_only_by_its_session() {
        let sessions = Sessions::default();
        let a = sessions.start(root(), None, 0);
        let b = sessions.start(root(), None, 0);
        let nonce = sessions.issue_nonce(&a);
        assert!(!sessions.redeem_nonce(&b, &nonce));
        assert!(sessions.redeem_nonce(&a, &nonce));
        assert!(!sessions.redeem_nonce(&a, &nonce));
    }

    #[test]
    fn ten_failures_in_a_minute_block_the_address_for_the_rest_of_it() {
        let sessions = Sessions::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        for i in 0..MAX_FAILURES {
            assert!(!sessions.sign_in_blocked(ip, i64::from(i)));
            sessions.record_failure(ip, i64::from(i));
        }
        assert!(sessions.sign_in_blocked(ip, 100));
        assert!(!sessions.sign_in_blocked([10, 0, 0, 1].into(), 100));
        assert!(!sessions.sign_in_blocked(ip, FAILURE_WINDOW_MILLIS));
    }

    #[test]
    fn signing_out_a_key_ends_only_its_sessions() {
        let sessions = Sessions::default();
        let a = sessions.start(root(), Some("AKIAONE".into()), 0);
        let b = sessions.start(root(), Some("AKIATWO".into()), 0);
        sessions.end_for_key("AKIAONE");
        assert!(sessions.touch(&a, 1).is_err());
        assert!(sessions.touch(&b, 1).is_ok());
    }
}

//! What the store keeps in memory beside SQLite: recently used credentials, and last-used records
//! not yet written.

use super::{Fault, lock};
use crate::clock::Clock;
use crate::model::{Credential, LastUsed};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most credentials kept in memory; past this the cache starts over.
const CREDENTIAL_CACHE_CAPACITY: usize = 65_536;
/// How often deletions that have propagated are forgotten, unless set otherwise.
const DEFAULT_PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Which cached credentials a write may make stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Invalidate {
    Nothing,
    Key(String),
    Everything,
}

/// Credentials of recently used keys, so that verifying a request needs no SQLite read. Writes
/// that change a key drop it (after their COMMIT, before they are acknowledged), and bump the
/// generation, so a read that raced with the write never puts an old copy back.
#[derive(Default)]
struct CredentialCache {
    generation: u64,
    /// Each credential with when it was read.
    entries: HashMap<String, (Credential, Instant)>,
}

/// State shared by the request threads and the writer thread.
pub(super) struct Shared {
    last_used: Mutex<HashMap<String, LastUsed>>,
    credentials: Mutex<CredentialCache>,
    pub(super) clock: Arc<Clock>,
    purge_interval_ms: AtomicU64,
    /// The storage fault that stops writes now, if any (set and cleared by the writer).
    fault: Mutex<Option<Fault>>,
}

impl Shared {
    pub(super) fn new(clock: Arc<Clock>) -> Self {
        Shared {
            last_used: Mutex::default(),
            credentials: Mutex::default(),
            clock,
            purge_interval_ms: AtomicU64::new(DEFAULT_PURGE_INTERVAL.as_millis() as u64),
            fault: Mutex::default(),
        }
    }

    pub(super) fn fault(&self) -> Option<Fault> {
        *lock(&self.fault)
    }

    /// Records the current fault; returns the one it replaces.
    pub(super) fn set_fault(&self, fault: Option<Fault>) -> Option<Fault> {
        std::mem::replace(&mut *lock(&self.fault), fault)
    }

    pub(super) fn purge_interval(&self) -> Duration {
        Duration::from_millis(self.purge_interval_ms.load(Ordering::Relaxed))
    }

    pub(super) fn set_purge_interval(&self, every: Duration) {
        let ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX);
        self.purge_interval_ms.store(ms, Ordering::Relaxed);
    }

    /// The cached credential (read less than `max_age` ago, when given), or the generation a
    /// read that misses must quote to `remember`.
    pub(super) fn cached_credential(
        &self,
        id: &str,
        max_age: Option<Duration>,
    ) -> Result<Credential, u64> {
        let cache = lock(&self.credentials);
        match cache.entries.get(id) {
            Some((c, read)) if max_age.is_none_or(|max| read.elapsed() < max) => Ok(c.clone()),
            _ => Err(cache.generation),
        }
    }

    /// Caches a credential read from SQLite, unless a write changed keys since the read began.
    pub(super) fn remember(&self, id: &str, credential: &Credential, generation: u64) {
        let mut cache = lock(&self.credentials);
        if cache.generation == generation {
            if cache.entries.len() >= CREDENTIAL_CACHE_CAPACITY {
                cache.entries.clear();
            }
            cache
                .entries
                .insert(id.to_string(), (credential.clone(), Instant::now()));
        }
    }

    pub(super) fn invalidate(&self, invalidations: Vec<Invalidate>) {
        if invalidations.iter().all(|i| *i == Invalidate::Nothing) {
            return;
        }
        let mut cache = lock(&self.credentials);
        cache.generation += 1;
        for i in invalidations {
            match i {
                Invalidate::Nothing => {}
                Invalidate::Key(id) => {
                    cache.entries.remove(&id);
                }
                Invalidate::Everything => cache.entries.clear(),
            }
        }
    }

    pub(super) fn record_use(&self, id: &str, used: LastUsed) {
        lock(&self.last_used).insert(id.to_string(), used);
    }

    /// A use recorded in memory and not yet written.
    pub(super) fn pending_use(&self, id: &str) -> Option<LastUsed> {
        lock(&self.last_used).get(id).cloned()
    }

    pub(super) fn pending_uses(&self) -> HashMap<String, LastUsed> {
        lock(&self.last_used).clone()
    }

    /// Forgets the records a committed batch wrote, keeping those that changed meanwhile.
    pub(super) fn forget_written_uses(&self, written: &HashMap<String, LastUsed>) {
        let mut map = lock(&self.last_used);
        for (k, v) in written {
            if map.get(k) == Some(v) {
                map.remove(k);
            }
        }
    }

    pub(super) fn forget_use(&self, id: &str) {
        lock(&self.last_used).remove(id);
    }

    pub(super) fn forget_all_uses(&self) {
        lock(&self.last_used).clear();
    }
}

//! The emulator's clock: real time plus an offset that tests move instead of sleeping.
//!
//! Every "now" that judges a lifetime (propagation of key changes, creation and last-used dates)
//! reads this clock. SigV4's ±15 minute window does not: clients sign with their real clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, the unit of every stored timestamp.
pub fn unix_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Real time shifted by an offset; cheap to read, shared by every request.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// The emulated time.
    pub fn now(&self) -> OffsetDateTime {
        let real = OffsetDateTime::now_utc();
        real.checked_add(time::Duration::milliseconds(self.offset_millis()))
            .unwrap_or(real)
    }

    /// The emulated time in milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        unix_millis(self.now())
    }

    /// Moves the clock forward by `by` (it never goes back, except by `reset`).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .offset_ms
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(ms))
            });
    }

    /// Back to real time.
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::SeqCst);
    }

    /// How far ahead of real time the clock is, in milliseconds.
    pub fn offset_millis(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_moves_now_and_reset_returns_to_real_time() {
        let clock = Clock::default();
        let before = unix_millis(OffsetDateTime::now_utc());
        clock.advance(Duration::from_secs(13 * 3600));
        assert_eq!(clock.offset_millis(), 13 * 3_600_000);
        assert!(clock.now_millis() >= before + 13 * 3_600_000);
        clock.reset();
        assert!(clock.now_millis() < before + 3_600_000);
    }
}

//! The emulator's clock: real time plus an offset that tests move instead of sleeping.
//!
//! Every "now" that judges a lifetime (propagation of key changes, creation and last-used dates)
//! reads this clock. SigV4's ±15 minute window does not: clients sign with their real clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// Milliseconds since the Unix epoch, the unit of every stored timestamp.
pub fn unix_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Milliseconds since the epoch of an ISO 8601 date (midnight UTC) or date and time (UTC unless
/// it names an offset), or `None` if `text` is neither.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(unix_millis(t));
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Iso8601::DEFAULT) {
        return Some(unix_millis(t));
    }
    // Offsets written without a colon (`+0000`), as the API itself writes them.
    let with_offset = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]][offset_hour sign:mandatory][offset_minute]"
    );
    if let Ok(t) = OffsetDateTime::parse(text, &with_offset) {
        return Some(unix_millis(t));
    }
    // A date and time without an offset is UTC.
    let local = format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    if let Ok(t) = PrimitiveDateTime::parse(text, &local) {
        return Some(unix_millis(t.assume_utc()));
    }
    for date_only in [
        format_description!(version = 2, "[year]-[month]-[day]"),
        format_description!(version = 2, "[year][month][day]"),
    ] {
        if let Ok(d) = Date::parse(text, &date_only) {
            return Some(unix_millis(d.midnight().assume_utc()));
        }
    }
    None
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

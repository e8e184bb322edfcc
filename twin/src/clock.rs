//! Time as the twin sees it: milliseconds since the Unix epoch from an
//! injected [`Clock`], so that expiry and staleness are decided on a value
//! tests can set, and RFC 3339 at the edges.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type Millis = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in milliseconds since the epoch.
    fn now_ms(&self) -> Millis;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        to_ms(SystemTime::now())
    }
}

/// A clock that moves only when told to (tests, benchmarks).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `ms`.
    pub fn new(ms: Millis) -> Self {
        Self(AtomicI64::new(ms))
    }

    /// Moves it forward by `d`.
    pub fn advance(&self, d: Duration) {
        self.0.fetch_add(duration_ms(d), Ordering::Relaxed);
    }

    /// Sets it to `ms`.
    pub fn set(&self, ms: Millis) {
        self.0.store(ms, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.0.load(Ordering::Relaxed)
    }
}

/// A system time as milliseconds (times before the epoch are 0).
pub fn to_ms(t: SystemTime) -> Millis {
    t.duration_since(UNIX_EPOCH)
        .map(duration_ms)
        .unwrap_or_default()
}

/// A duration in whole milliseconds, saturating.
pub fn duration_ms(d: Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}

/// RFC 3339 with milliseconds, UTC (`2026-01-01T00:00:00.000Z`).
pub fn rfc3339(ms: Millis) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or_default());
    humantime::format_rfc3339_millis(t).to_string()
}

/// Parses an RFC 3339 time (`Z` or no offset; what the vehicle writes).
pub fn parse_rfc3339(s: &str) -> Option<Millis> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z'))
        .ok()
        .filter(|_| !s.is_empty())
        .map(to_ms)
}

/// Parses a time given by a user: RFC 3339, or whole milliseconds since
/// the epoch.
pub fn parse_time(s: &str) -> Option<Millis> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    parse_rfc3339(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_rfc3339_and_epoch_milliseconds() {
        let ms = 1_767_225_600_123;
        let s = rfc3339(ms);
        assert_eq!(s, "2026-01-01T00:00:00.123Z");
        assert_eq!(parse_rfc3339(&s), Some(ms));
        assert_eq!(parse_time(&s), Some(ms));
        assert_eq!(parse_time("1767225600123"), Some(ms));
        assert_eq!(parse_time("2026-01-01T00:00:00Z"), Some(ms - 123));
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "12ab"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1000);
        assert_eq!(c.now_ms(), 1000);
        c.advance(Duration::from_millis(250));
        assert_eq!(c.now_ms(), 1250);
        c.set(5);
        assert_eq!(c.now_ms(), 5);
    }
}

//! One clock abstraction: logic asks a [`Clock`], tests move a [`ManualClock`] instead of sleeping.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// `now` plus `secs` seconds a peer gave us (Meta's `expires_in`, …): `None` when the result is
/// not a representable time. Checked end to end, so a huge or hostile value never panics (with
/// `panic = "abort"` a panic would kill the whole Lambda instance).
pub fn after_seconds(now: DateTime<Utc>, secs: i64) -> Option<DateTime<Utc>> {
    Duration::try_seconds(secs).and_then(|d| now.checked_add_signed(d))
}

/// The longest wait a peer may ask of us (Meta's `estimated_time_to_regain_access`,
/// `reset_time_duration`, a `Retry-After`): longer asks are capped here, so no peer value reaches
/// time arithmetic unbounded.
pub const MAX_PEER_WAIT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A peer's wait of `secs` seconds, capped at [`MAX_PEER_WAIT`].
pub fn peer_wait(secs: u64) -> std::time::Duration {
    std::time::Duration::from_secs(secs.min(MAX_PEER_WAIT.as_secs()))
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to (tests, TTL expiry simulation).
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A Lambda deadline (epoch milliseconds, as the runtime gives it) as an [`std::time::Instant`]
/// of this process: what a job budgets its work against.
pub fn deadline_of(deadline_ms: u64) -> std::time::Instant {
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
    }

    #[test]
    fn after_seconds_is_checked_for_any_peer_value() {
        assert_eq!(after_seconds(now(), 5_183_944), Some(now() + Duration::seconds(5_183_944)));
        for huge in [i64::MAX, i64::MAX / 1000, i64::MIN, 10_i64.pow(15)] {
            assert_eq!(after_seconds(now(), huge), None, "{huge}");
        }
    }

    #[test]
    fn peer_waits_are_capped() {
        assert_eq!(peer_wait(30), std::time::Duration::from_secs(30));
        assert_eq!(peer_wait(u64::MAX), MAX_PEER_WAIT);
        // A capped wait still adds to a date without overflow.
        let wait = Duration::from_std(peer_wait(u64::MAX)).unwrap_or_default();
        assert!(now().checked_add_signed(wait).is_some());
    }
}

//! The one retry/backoff policy: how many attempts, how long between them, and how the wait is
//! spent ([`Sleeper`], so tests record waits instead of sleeping). Used by the Graph client
//! (transient errors, throttling), by optimistic DynamoDB transactions that lost a race, and by
//! every peer client to come (YCloud).

use std::time::Duration;

use async_trait::async_trait;

/// How the wait of an attempt is randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// `base × 2^(n-1)` plus up to 25 %: keeps a peer's own retry hints meaningful.
    Proportional,
    /// Uniform in `[1 ms, base × 2^(n-1)]`: spreads writers that collided on the same item.
    Full,
}

/// Retry budget of one operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubles per attempt.
    pub base_delay: Duration,
    /// Longest single wait; a longer wait demanded by a peer gives up with `Retry-After`.
    pub max_delay: Duration,
    pub jitter: Jitter,
}

impl RetryPolicy {
    /// Optimistic DynamoDB transactions that lost a race: 8 attempts, full jitter over
    /// 10 ms × 2^attempt (capped at 640 ms).
    pub const TRANSACTION_CONFLICT: RetryPolicy = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(640),
        jitter: Jitter::Full,
    };

    /// The wait before attempt `attempt + 1`, after `attempt` (1-based) failed; capped at
    /// `max_delay`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let wait = match self.jitter {
            Jitter::Proportional => exp.saturating_add(exp.mul_f64(rand::random::<f64>() * 0.25)),
            Jitter::Full => exp.mul_f64(rand::random::<f64>()).max(Duration::from_millis(1)),
        };
        wait.min(self.max_delay)
    }

    /// Whether another attempt is allowed after `attempt` (1-based) failed.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

/// How a retry loop waits between attempts (tests record instead of sleeping).
#[async_trait]
pub trait Sleeper: Send + Sync {
    async fn sleep(&self, d: Duration);
}

#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportional_backoff_doubles_within_a_quarter_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            jitter: Jitter::Proportional,
        };
        for _ in 0..50 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125), "{first:?}");
            let second = p.backoff(2);
            assert!(second >= Duration::from_millis(200) && second <= Duration::from_millis(250), "{second:?}");
            assert_eq!(p.backoff(3), Duration::from_millis(350));
            assert_eq!(p.backoff(40), Duration::from_millis(350));
        }
        assert!(p.allows_another(4));
        assert!(!p.allows_another(5));
    }

    #[test]
    fn full_jitter_stays_within_its_window() {
        let p = RetryPolicy::TRANSACTION_CONFLICT;
        for attempt in 1..=8 {
            let cap = Duration::from_millis(10 << (attempt - 1).min(6)).min(p.max_delay);
            for _ in 0..20 {
                let w = p.backoff(attempt);
                assert!(w >= Duration::from_millis(1) && w <= cap, "attempt {attempt}: {w:?}");
            }
        }
    }
}

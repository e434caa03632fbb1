//! Fixed-window rate limits shared by every Lambda instance through DynamoDB, per [`RateBucket`]
//! (a tenant as a whole, one user on one route, or one source address on one public route).
//!
//! One item per (bucket, minute): `ADD count :1` guarded by `count < limit`, so concurrent
//! instances together admit exactly `limit` requests per window. The item expires by TTL.
//! [`RateLimiter::release`] gives one admitted request back (`ADD count :-1` guarded by
//! `count > 0`): the pipeline checks a user's and the tenant's bucket at once, and a request the
//! user's bucket refused hands back what it took from the tenant's.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use crate::domain::ids::TenantId;
use crate::store::{attr, is_condition_failure, keys, DynamoStore, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed { remaining: u32 },
    Limited { retry_after_secs: u64 },
}

/// The window a moment falls in: `(epoch minute, seconds until the next window)`.
pub fn window(now: DateTime<Utc>) -> (i64, u64) {
    let ts = now.timestamp();
    let minute = ts.div_euclid(60);
    let retry = (60 - ts.rem_euclid(60)) as u64;
    (minute, retry.max(1))
}

/// What a window counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RateBucket(String);

impl RateBucket {
    /// Every request of the tenant (the ceiling over all its users and routes).
    pub fn tenant(t: TenantId) -> Self {
        RateBucket(keys::rate_limit_pk(t))
    }
    /// One user's requests on one route (`route` = the endpoint's name).
    pub fn user_route(t: TenantId, user: &str, route: &str) -> Self {
        RateBucket(keys::rate_limit_user_route_pk(t, user, route))
    }
    /// One source address's requests on one public route (no tenant is known before the
    /// request proves itself).
    pub fn source_route(route: &str, source: &str) -> Self {
        RateBucket(keys::rate_limit_source_route_pk(route, source))
    }
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, bucket: &RateBucket, now: DateTime<Utc>, limit: u32) -> Result<RateDecision, StoreError>;
    /// Gives back one request [`RateLimiter::check`] admitted in `now`'s window (never below 0).
    async fn release(&self, bucket: &RateBucket, now: DateTime<Utc>) -> Result<(), StoreError>;
}

#[async_trait]
impl RateLimiter for DynamoStore {
    async fn check(&self, bucket: &RateBucket, now: DateTime<Utc>, limit: u32) -> Result<RateDecision, StoreError> {
        let (minute, retry_after_secs) = window(now);
        let result = self
            .bucket_update(bucket, minute)
            .update_expression("ADD #c :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .condition_expression("attribute_not_exists(#c) OR #c < :limit")
            .expression_attribute_names("#c", "count")
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":ttl", AttributeValue::N(((minute + 2) * 60).to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let used = out
                    .attributes()
                    .and_then(|a| a.get("count"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u32>().ok())
                    .unwrap_or(limit);
                Ok(RateDecision::Allowed { remaining: limit.saturating_sub(used) })
            }
            Err(e) if is_condition_failure(&e) => Ok(RateDecision::Limited { retry_after_secs }),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn release(&self, bucket: &RateBucket, now: DateTime<Utc>) -> Result<(), StoreError> {
        let (minute, _) = window(now);
        let result = self
            .bucket_update(bucket, minute)
            .update_expression("ADD #c :minus")
            .condition_expression("#c > :zero")
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Nothing counted in the window (or it already rolled over): nothing to give back.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}

impl DynamoStore {
    /// An `UpdateItem` on `bucket`'s counter item of `minute` (the caller adds the expressions).
    fn bucket_update(
        &self,
        bucket: &RateBucket,
        minute: i64,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(bucket.0.clone()))
            .key(attr::SK, AttributeValue::S(keys::rate_limit_sk(minute)))
    }
}

/// In-memory limiter with the same semantics, for unit tests.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default)]
pub struct MemoryRateLimiter(std::sync::Mutex<std::collections::HashMap<(RateBucket, i64), u32>>);

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check(&self, bucket: &RateBucket, now: DateTime<Utc>, limit: u32) -> Result<RateDecision, StoreError> {
        let (minute, retry_after_secs) = window(now);
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry((bucket.clone(), minute)).or_insert(0);
        if *count >= limit {
            return Ok(RateDecision::Limited { retry_after_secs });
        }
        *count += 1;
        Ok(RateDecision::Allowed { remaining: limit - *count })
    }

    async fn release(&self, bucket: &RateBucket, now: DateTime<Utc>) -> Result<(), StoreError> {
        let (minute, _) = window(now);
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(&(bucket.clone(), minute)) {
            *count = count.saturating_sub(1);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, m, s).single().expect("date")
    }

    #[test]
    fn window_and_retry_after() {
        let (w1, r1) = window(at(10, 0, 0));
        let (w2, r2) = window(at(10, 0, 59));
        let (w3, _) = window(at(10, 1, 0));
        assert_eq!(w1, w2);
        assert_eq!(w3, w1 + 1);
        assert_eq!(r1, 60);
        assert_eq!(r2, 1);
    }

    #[tokio::test]
    async fn allows_exactly_the_limit_then_limits_until_next_minute() {
        let rl = MemoryRateLimiter::default();
        let t = TenantId(1);
        for i in 0..3 {
            assert_eq!(
                rl.check(&RateBucket::tenant(t), at(10, 0, 5), 3).await.expect("ok"),
                RateDecision::Allowed { remaining: 2 - i }
            );
        }
        assert_eq!(
            rl.check(&RateBucket::tenant(t), at(10, 0, 50), 3).await.expect("ok"),
            RateDecision::Limited { retry_after_secs: 10 }
        );
        // Another tenant has its own budget; the next minute starts afresh.
        assert!(matches!(
            rl.check(&RateBucket::tenant(TenantId(2)), at(10, 0, 50), 3).await.expect("ok"),
            RateDecision::Allowed { .. }
        ));
        assert!(matches!(
            rl.check(&RateBucket::tenant(t), at(10, 1, 0), 3).await.expect("ok"),
            RateDecision::Allowed { .. }
        ));
    }
}

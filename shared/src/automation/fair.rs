//! Fair runs: one tenant's backlog (a bulk import of thousands of leads) must not take a whole
//! run while other tenants' items wait.
//!
//! - [`share`]: a run reads up to its `read_limit` (the evaluator's settings) past-due
//!   items (oldest first) and takes its `batch` of them in turns across tenants — each tenant's
//!   oldest first, one item per tenant per turn — so any tenant with a due item gets at least
//!   `batch / tenants` of the run. What is not taken stays in its bucket (the watermark holds for
//!   it) for the next run.
//! - [`after_daily_cap`]: items refused by the tenant's daily recipient cap go out the next UTC day
//!   spread over its first [`DAILY_CAP_SPREAD`] (by a hash of the item), not all at midnight.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

use crate::domain::ids::TenantId;
use crate::store::automation::due::DueItem;

/// How long after midnight (UTC) the items a daily cap deferred are released over.
pub const DAILY_CAP_SPREAD: Duration = Duration::hours(8);

/// Up to `batch` of `items` (oldest first) taken in turns across tenants, and the rest.
pub fn share(items: Vec<DueItem>, batch: usize) -> (Vec<DueItem>, Vec<DueItem>) {
    if items.len() <= batch {
        return (items, Vec::new());
    }
    let mut order: Vec<TenantId> = Vec::new();
    let mut queues: HashMap<TenantId, VecDeque<DueItem>> = HashMap::new();
    for item in items {
        let q = queues.entry(item.tenant_id).or_insert_with(|| {
            order.push(item.tenant_id);
            VecDeque::new()
        });
        q.push_back(item);
    }
    let mut picked = Vec::with_capacity(batch);
    while picked.len() < batch {
        let before = picked.len();
        for t in &order {
            if picked.len() >= batch {
                break;
            }
            if let Some(item) = queues.get_mut(t).and_then(VecDeque::pop_front) {
                picked.push(item);
            }
        }
        if picked.len() == before {
            break;
        }
    }
    let left = order.iter().filter_map(|t| queues.remove(t)).flatten().collect();
    (picked, left)
}

/// When an item the daily cap refused at `now` is tried again: the next UTC day, at an offset in
/// [0, [`DAILY_CAP_SPREAD`]) fixed by `key` (the item's `externalId`).
pub fn after_daily_cap(now: DateTime<Utc>, key: &str) -> DateTime<Utc> {
    let midnight = now.date_naive().succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc());
    let midnight = midnight.unwrap_or(now + Duration::hours(24));
    // FNV-1a: stable across runs and processes (std's hasher is seeded per process).
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let spread = u64::try_from(DAILY_CAP_SPREAD.num_seconds()).unwrap_or(1).max(1);
    midnight + Duration::seconds(i64::try_from(hash % spread).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::hsm::TriggerKind;

    fn item(tenant: i64, n: u32) -> DueItem {
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        DueItem::new(TenantId(tenant), TriggerKind::LeadFollowup, &format!("L-{n}"), at + Duration::seconds(n.into()))
    }

    #[test]
    fn a_backlog_does_not_crowd_out_other_tenants() {
        // Tenant 1's 1,000-item import is read first; tenants 2 and 3 have one item each after it.
        let mut items: Vec<DueItem> = (0..1_000).map(|n| item(1, n)).collect();
        items.push(item(2, 1_000));
        items.push(item(3, 1_001));
        let (picked, left) = share(items, 10);
        assert_eq!(picked.len(), 10);
        assert_eq!(picked.iter().filter(|i| i.tenant_id != TenantId(1)).count(), 2, "both small tenants in this run");
        assert_eq!(picked.iter().filter(|i| i.tenant_id == TenantId(1)).count(), 8, "the rest of the batch is used");
        assert_eq!(left.len(), 992);
        let ones: Vec<&str> =
            picked.iter().filter(|i| i.tenant_id == TenantId(1)).map(|i| i.entity_id.as_str()).collect();
        assert_eq!(ones[..3], ["L-0", "L-1", "L-2"], "each tenant's oldest first");
        assert!(left.iter().all(|i| i.tenant_id == TenantId(1)));
    }

    #[test]
    fn a_batch_that_fits_is_taken_whole_in_order() {
        let items = vec![item(1, 0), item(2, 1), item(1, 2)];
        let (picked, left) = share(items.clone(), 3);
        assert_eq!((picked, left.len()), (items, 0));
    }

    #[test]
    fn daily_cap_deferrals_are_spread_over_the_next_morning() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 0).single().unwrap_or_default();
        let midnight = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).single().unwrap_or_default();
        let times: Vec<DateTime<Utc>> =
            (0..200).map(|n| after_daily_cap(now, &format!("7:lead_followup:L-{n}"))).collect();
        assert!(times.iter().all(|t| *t >= midnight && *t < midnight + DAILY_CAP_SPREAD));
        let first_hour = times.iter().filter(|t| **t < midnight + Duration::hours(1)).count();
        assert!(first_hour < 60, "not all at midnight: {first_hour} of 200 in the first hour");
        let distinct: std::collections::HashSet<_> = times.iter().collect();
        assert!(distinct.len() > 190, "spread, not bunched");
        assert_eq!(after_daily_cap(now, "k"), after_daily_cap(now, "k"), "stable for an item");
    }
}

//! A small per-container memory of one value per tenant, for **speculative** reads: a handler may
//! start reads that depend on a tenant's settings at once, with the settings the tenant's previous
//! request in this container saw, beside reading the current settings — and must use those reads
//! only if the current settings are the same (otherwise it reads again). Nothing here is ever
//! served as data, so nothing can be stale.
//!
//! Bounded: past `capacity` tenants it starts afresh (a miss costs one round trip, never a wrong
//! answer).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::ids::TenantId;

#[derive(Debug)]
pub struct TenantMemo<V> {
    entries: Mutex<HashMap<TenantId, V>>,
    capacity: usize,
}

impl<V: Clone> TenantMemo<V> {
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    /// What the tenant's previous request remembered, if anything.
    pub fn recall(&self, tenant: TenantId) -> Option<V> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(&tenant).cloned()
    }

    pub fn remember(&self, tenant: TenantId, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&tenant) {
            entries.clear();
        }
        entries.insert(tenant, value);
    }
}

impl<V: Clone> Default for TenantMemo<V> {
    /// Room for 4,096 tenants (a few hundred KiB at most).
    fn default() -> Self {
        Self::new(4_096)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_tenant_and_starts_afresh_past_capacity() {
        let memo = TenantMemo::new(2);
        assert_eq!(memo.recall(TenantId(1)), None::<u8>);
        memo.remember(TenantId(1), 1);
        memo.remember(TenantId(2), 2);
        memo.remember(TenantId(2), 3);
        assert_eq!((memo.recall(TenantId(1)), memo.recall(TenantId(2))), (Some(1), Some(3)));
        memo.remember(TenantId(3), 4);
        assert_eq!((memo.recall(TenantId(1)), memo.recall(TenantId(3))), (None, Some(4)));
    }
}

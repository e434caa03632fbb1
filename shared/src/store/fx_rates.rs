//! A tenant's manual exchange rates with effective dates: `T#{tenant}` / `FX#{from}#{to}#{yyyy-mm-dd}`
//! (the rate applies from that day until the next stored day of the same pair). Putting the same
//! pair and day again overwrites. Reads are one `Query` per pair, written once over [`ItemReads`].

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::memory_table::MemoryTable;
use super::{from_item, keys, to_item, DynamoStore, ItemReads, ReadCost, StoreError};
use crate::domain::fx::ScaledRate;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;

/// Where a rate came from (shown beside every converted number).
pub const MANUAL_SOURCE: &str = "manual";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FxRate {
    pub tenant_id: TenantId,
    pub from: Currency,
    pub to: Currency,
    /// Units of `to` per unit of `from`, × 10^9.
    pub rate: ScaledRate,
    pub effective_from: NaiveDate,
    pub source: String,
    pub set_by: String,
    pub updated_at: DateTime<Utc>,
}

#[async_trait]
pub trait FxRateStore: ItemReads {
    /// Upserts each rate (same tenant, pair and day overwrite).
    async fn put_fx_rates(&self, rates: &[FxRate]) -> Result<(), StoreError>;

    /// The pair's rates effective on or before `up_to`, oldest first.
    async fn fx_rates(
        &self,
        tenant: TenantId,
        from: Currency,
        to: Currency,
        up_to: NaiveDate,
    ) -> Result<(Vec<FxRate>, ReadCost), StoreError> {
        let lo = keys::fx_pair_floor(from.code(), to.code());
        let hi = keys::fx_rate(from.code(), to.code(), up_to);
        let (items, cost) = self.item_range(keys::tenant(tenant), lo, hi).await?;
        Ok((items.into_iter().map(from_item).collect::<Result<_, _>>()?, cost))
    }
}

#[async_trait]
impl FxRateStore for DynamoStore {
    async fn put_fx_rates(&self, rates: &[FxRate]) -> Result<(), StoreError> {
        for r in rates {
            let sk = keys::fx_rate(r.from.code(), r.to.code(), r.effective_from);
            self.put_item(to_item(keys::tenant(r.tenant_id), &sk, r)?).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl FxRateStore for MemoryTable {
    async fn put_fx_rates(&self, rates: &[FxRate]) -> Result<(), StoreError> {
        let mut table = self.lock();
        for r in rates {
            let sk = keys::fx_rate(r.from.code(), r.to.code(), r.effective_from);
            table.put(to_item(keys::tenant(r.tenant_id), &sk, r)?);
        }
        Ok(())
    }
}

/// The rate of `rates` (oldest first) effective on `day`: the last one starting on or before it.
pub fn effective_on(rates: &[FxRate], day: NaiveDate) -> Option<&FxRate> {
    rates.iter().rev().find(|r| r.effective_from <= day)
}

//! A rates provider's daily reference rates (the ECB's: EUR → 30-odd currencies on each TARGET
//! business day), shared by every tenant: `FX#{PROVIDER}#{base}#{quote}` / `{yyyy-mm-dd}`.
//!
//! Read pattern: a conversion needs one quoted currency over a date range (two for a cross rate)
//! — one `Query` each, over a partition per currency. Written by the spend sync's fan-out, only
//! the days that are new or changed ([`ProviderRateStore::put_provider_rates`] is an upsert; the
//! caller diffs against [`ProviderRateStore::provider_rates`]), so an hourly re-run writes nothing.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::memory_table::MemoryTable;
use super::{from_item, keys, to_item, DynamoStore, Item, ItemReads, ReadCost, StoreError};
use crate::domain::fx::ScaledRate;
use crate::domain::money::Currency;

/// `source` of the European Central Bank's reference rates (shown beside converted numbers).
pub const ECB_SOURCE: &str = "ecb";

/// One provider rate: units of `quote` per unit of `base` on `day`, × 10^9.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRate {
    pub provider: String,
    pub base: Currency,
    pub quote: Currency,
    pub day: NaiveDate,
    pub rate: ScaledRate,
    /// When this value was stored (kept while the provider repeats the same rate).
    pub stored_at: DateTime<Utc>,
}

impl ProviderRate {
    fn item(&self) -> Result<Item, StoreError> {
        let pk = keys::provider_fx(&self.provider, self.base.code(), self.quote.code());
        to_item(pk, &keys::provider_fx_day(self.day), self)
    }
}

#[async_trait]
pub trait ProviderRateStore: ItemReads {
    /// Upserts each rate (same provider, pair and day overwrite).
    async fn put_provider_rates(&self, rates: &[ProviderRate]) -> Result<(), StoreError>;

    /// The provider's `base → quote` rates of the days `from..=to`, oldest first.
    async fn provider_rates(
        &self,
        provider: &str,
        base: Currency,
        quote: Currency,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<ProviderRate>, ReadCost), StoreError> {
        let pk = keys::provider_fx(provider, base.code(), quote.code());
        let (items, cost) = self.item_range(pk, keys::provider_fx_day(from), keys::provider_fx_day(to)).await?;
        Ok((items.into_iter().map(from_item).collect::<Result<_, _>>()?, cost))
    }
}

#[async_trait]
impl ProviderRateStore for DynamoStore {
    async fn put_provider_rates(&self, rates: &[ProviderRate]) -> Result<(), StoreError> {
        self.put_items(rates.iter().map(ProviderRate::item).collect::<Result<_, _>>()?).await
    }
}

#[async_trait]
impl ProviderRateStore for MemoryTable {
    async fn put_provider_rates(&self, rates: &[ProviderRate]) -> Result<(), StoreError> {
        let items: Vec<Item> = rates.iter().map(ProviderRate::item).collect::<Result<_, _>>()?;
        let mut table = self.lock();
        for item in items {
            table.put(item);
        }
        Ok(())
    }
}

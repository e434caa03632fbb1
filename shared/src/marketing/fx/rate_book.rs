//! Which rate converts one day's spend `from` → `to`, in this order:
//!
//! 1. the tenant's **manual** rate effective that day (`PUT /crm/marketing/fx-rates`; effective
//!    from its day until the pair's next one) — a manager's rate always wins;
//! 2. else the **provider's** (the ECB's) rate of that day, or of the most recent provider day
//!    before it, at most [`PROVIDER_LOOKBACK_DAYS`] back (the ECB publishes on TARGET business
//!    days only: no rate on weekends and holidays, and today's only from about 16:00 CET, so
//!    today's spend uses the latest published rate until then). The ECB quotes EUR → X only: a
//!    pair without EUR is the cross rate of the two legs of the **same** provider day
//!    ([`ScaledRate::cross`], 9 decimals, half up) — shown with `via: "EUR"`;
//! 3. else no rate: the day is missing (ratios `null` with a reason).
//!
//! Days are calendar days: the spend's day (in the ad account's zone) is matched with the
//! provider's publication day. One book per foreign currency and dashboard: one `Query` of the
//! manual pair, and — unless a manual rate already covers the whole period — one `Query` per
//! provider leg (two for a cross rate) over the period plus the look-back.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

use crate::domain::fx::ScaledRate;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::store::fx_rates::{effective_on, FxRate, FxRateStore};
use crate::store::provider_rates::{ProviderRateStore, ECB_SOURCE};
use crate::store::{ReadCost, StoreError};

/// How many days before a spend day a provider rate may come from (a weekend plus a holiday
/// cluster such as Christmas or Easter is at most 4 days; older than a week is stale: no rate).
pub const PROVIDER_LOOKBACK_DAYS: i64 = 7;

/// The currency every provider rate is quoted against (the ECB's base).
pub const PROVIDER_BASE: Currency = Currency::EUR;

/// A rate a conversion applied, as the responses show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRate {
    pub from: Currency,
    pub to: Currency,
    pub rate: ScaledRate,
    /// The manual rate's first day, or the provider day the rate was published for.
    pub effective_from: NaiveDate,
    /// `manual` or `ecb`.
    pub source: String,
    /// The base a cross rate was derived through (`EUR`), `None` for a direct rate.
    pub via: Option<Currency>,
}

/// Where rates are read from.
#[derive(Clone, Copy)]
pub struct RateSources<'a> {
    pub manual: &'a dyn FxRateStore,
    pub provider: &'a dyn ProviderRateStore,
}

/// The rates of one pair over a period.
#[derive(Debug, Clone)]
pub struct RateBook {
    from: Currency,
    to: Currency,
    manual: Vec<FxRate>,
    /// Provider rates `EUR → from` and `EUR → to` by day (unused for the side that is EUR).
    leg_from: BTreeMap<NaiveDate, ScaledRate>,
    leg_to: BTreeMap<NaiveDate, ScaledRate>,
}

impl RateBook {
    /// Reads what converting `from` → `to` on the days `first..=last` can need.
    #[allow(clippy::too_many_arguments)]
    pub async fn load(
        sources: RateSources<'_>,
        tenant: TenantId,
        from: Currency,
        to: Currency,
        first: NaiveDate,
        last: NaiveDate,
        cost: &mut ReadCost,
    ) -> Result<Self, StoreError> {
        let (manual, c) = sources.manual.fx_rates(tenant, from, to, last).await?;
        cost.add(c);
        let mut book = RateBook { from, to, manual, leg_from: BTreeMap::new(), leg_to: BTreeMap::new() };
        if book.manual.first().is_some_and(|r| r.effective_from <= first) {
            return Ok(book); // a manual rate is effective on every day: the provider is not asked
        }
        let since = first - Duration::days(PROVIDER_LOOKBACK_DAYS);
        for (quote, leg) in [(from, &mut book.leg_from), (to, &mut book.leg_to)] {
            if quote != PROVIDER_BASE {
                let (rates, c) = sources.provider.provider_rates(ECB_SOURCE, PROVIDER_BASE, quote, since, last).await?;
                cost.add(c);
                leg.extend(rates.into_iter().map(|r| (r.day, r.rate)));
            }
        }
        Ok(book)
    }

    /// The rate of `day`: manual, else the provider's (see the module doc), else `None`.
    pub fn rate_on(&self, day: NaiveDate) -> Option<AppliedRate> {
        if let Some(m) = effective_on(&self.manual, day) {
            return Some(AppliedRate {
                from: m.from,
                to: m.to,
                rate: m.rate,
                effective_from: m.effective_from,
                source: m.source.clone(),
                via: None,
            });
        }
        (0..=PROVIDER_LOOKBACK_DAYS).map(|back| day - Duration::days(back)).find_map(|d| self.provider_on(d))
    }

    /// The provider rate of exactly `day` (both legs published that day).
    fn provider_on(&self, day: NaiveDate) -> Option<AppliedRate> {
        let leg = |quote: Currency, leg: &BTreeMap<NaiveDate, ScaledRate>| {
            if quote == PROVIDER_BASE {
                Some(ScaledRate::ONE)
            } else {
                leg.get(&day).copied()
            }
        };
        let rate = ScaledRate::cross(leg(self.from, &self.leg_from)?, leg(self.to, &self.leg_to)?)?;
        let direct = self.from == PROVIDER_BASE || self.to == PROVIDER_BASE;
        Some(AppliedRate {
            from: self.from,
            to: self.to,
            rate,
            effective_from: day,
            source: ECB_SOURCE.to_string(),
            via: (!direct).then_some(PROVIDER_BASE),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::store::fx_rates::MANUAL_SOURCE;
    use crate::store::memory_table::MemoryTable;
    use crate::store::provider_rates::ProviderRate;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).expect("day")
    }
    fn cur(c: &str) -> Currency {
        Currency::parse(c).expect("currency")
    }
    fn rate(s: &str) -> ScaledRate {
        ScaledRate::parse(s).expect("rate")
    }

    /// ECB rates for Mon Nov 16 – Fri Nov 20 (and nothing on the weekend of Nov 21/22): USD 1.08 +
    /// d/10000, MXN 19.5; Nov 18 has USD but no MXN.
    async fn table() -> MemoryTable {
        let t = MemoryTable::default();
        let mut rates = Vec::new();
        for d in 16..=20 {
            let r = |quote: &str, v: String| ProviderRate {
                provider: ECB_SOURCE.into(),
                base: Currency::EUR,
                quote: cur(quote),
                day: day(d),
                rate: rate(&v),
                stored_at: Utc::now(),
            };
            rates.push(r("USD", format!("1.08{d:02}")));
            if d != 18 {
                rates.push(r("MXN", "19.5".into()));
            }
        }
        t.put_provider_rates(&rates).await.expect("put");
        t
    }

    async fn book(t: &MemoryTable, from: &str, to: &str, first: u32, last: u32) -> (RateBook, ReadCost) {
        let mut cost = ReadCost::default();
        let sources = RateSources { manual: t, provider: t };
        let b = RateBook::load(sources, TenantId(3), cur(from), cur(to), day(first), day(last), &mut cost)
            .await
            .expect("book");
        (b, cost)
    }

    fn shown(r: Option<AppliedRate>) -> Option<(String, NaiveDate, String, Option<&'static str>)> {
        r.map(|r| (r.rate.to_string(), r.effective_from, r.source, r.via.map(|_| "EUR")))
    }

    #[tokio::test]
    async fn direct_provider_rates_fall_back_over_weekends_within_a_week() {
        let t = table().await;
        let (b, cost) = book(&t, "EUR", "USD", 1, 30).await;
        assert_eq!(cost.requests, 2, "the manual pair and one provider leg");
        let ecb = |r: &str, d: u32| Some((r.to_string(), day(d), "ecb".to_string(), None));
        assert_eq!(shown(b.rate_on(day(17))), ecb("1.0817", 17));
        // Saturday and Sunday use Friday's; a week after Friday is still Friday's, a day more is stale.
        assert_eq!(shown(b.rate_on(day(21))), ecb("1.082", 20));
        assert_eq!(shown(b.rate_on(day(27))), ecb("1.082", 20));
        assert_eq!(b.rate_on(day(28)), None);
        assert_eq!(b.rate_on(day(15)), None, "nothing before the first provider day");
        // The inverse: USD → EUR = 1 / 1.0817 = 0.924470740|501… → 0.924470741 (half up at the 9th).
        let (inv, _) = book(&t, "USD", "EUR", 17, 17).await;
        assert_eq!(shown(inv.rate_on(day(17))), Some(("0.924470741".into(), day(17), "ecb".into(), None)));
    }

    #[tokio::test]
    async fn cross_rates_use_both_legs_of_the_same_provider_day() {
        let t = table().await;
        let (b, cost) = book(&t, "USD", "MXN", 1, 30).await;
        assert_eq!(cost.requests, 3, "the manual pair and two provider legs");
        // 19.5 / 1.0817 = 18.027179440…; Nov 18 has no MXN rate: Nov 17's pair is used.
        assert_eq!(shown(b.rate_on(day(17))), Some(("18.02717944".into(), day(17), "ecb".into(), Some("EUR"))));
        assert_eq!(shown(b.rate_on(day(18))), Some(("18.02717944".into(), day(17), "ecb".into(), Some("EUR"))));
        // A currency the provider does not quote: no rate.
        let (ars, _) = book(&t, "USD", "ARS", 1, 30).await;
        assert_eq!(ars.rate_on(day(17)), None);
    }

    #[tokio::test]
    async fn a_manual_rate_wins_from_its_day_and_the_provider_is_not_read_when_it_covers_all() {
        let t = table().await;
        let manual = |eff: u32, r: &str| FxRate {
            tenant_id: TenantId(3),
            from: Currency::USD,
            to: cur("MXN"),
            rate: rate(r),
            effective_from: day(eff),
            source: MANUAL_SOURCE.into(),
            set_by: "u".into(),
            updated_at: Utc::now(),
        };
        t.put_fx_rates(&[manual(19, "20")]).await.expect("manual");
        let (b, _) = book(&t, "USD", "MXN", 16, 21).await;
        assert_eq!(shown(b.rate_on(day(17))).map(|s| s.2), Some("ecb".to_string()));
        assert_eq!(shown(b.rate_on(day(19))), Some(("20".into(), day(19), "manual".into(), None)));
        assert_eq!(shown(b.rate_on(day(21))), Some(("20".into(), day(19), "manual".into(), None)));
        let (covered, cost) = book(&t, "USD", "MXN", 19, 21).await;
        assert_eq!(cost.requests, 1, "the manual rate covers the period: no provider read");
        assert_eq!(shown(covered.rate_on(day(20))).map(|s| s.2), Some("manual".to_string()));
    }
}

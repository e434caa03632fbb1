//! The provider's daily reference rates, refreshed by the spend sync's fan-out once per hourly run
//! (never per tenant): `GET FX_PROVIDER_URL` (an ECB-format document; default the ECB's 90-day
//! history) → [`super::ecb::parse`] → each quoted currency's stored days of the document's range
//! read (one `Query` per currency) → only new or changed days written.
//!
//! Why the 90-day history every hour rather than the daily file: one path that heals every gap by
//! itself (missed runs, days the provider or we were down, a late correction by the ECB) at ~40 kB
//! a run, while a re-run writes nothing. The daily file works too (`FX_PROVIDER_URL` pointed at
//! it), and the full history (`eurofxref-hist.xml`) backfills older spend once.
//!
//! A failing provider never stops the fan-out: the caller logs it, counts it
//! (`FxProviderFailures`) and goes on; dashboards keep the stored rates (a week's look-back bridges
//! a day or two without refresh).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use url::Url;

use super::ecb::{parse, EcbError, EcbRates};
use super::rate_book::PROVIDER_BASE;
use crate::api::app::App;
use crate::domain::fx::ScaledRate;
use crate::domain::money::Currency;
use crate::platform::clock::Clock;
use crate::platform::config::Config;
use crate::platform::http_client::{read_capped, BodyError, HttpClient};
use crate::store::provider_rates::{ProviderRate, ProviderRateStore, ECB_SOURCE};
use crate::store::StoreError;

/// Time allowed for the provider's answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest document read (the full history since 1999 is about 7 MB).
const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// What one refresh did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderRefresh {
    pub provider: String,
    /// Business days in the document, and its first and last.
    pub days: u32,
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
    pub currencies: u32,
    /// Rates in the document; of those, written (new or changed) and already stored as is.
    pub rates: u32,
    pub written: u32,
    pub unchanged: u32,
    /// Rates skipped: a currency we do not know, or a value that is not a positive decimal.
    pub skipped: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the rates provider did not answer: {0}")]
    Unreachable(String),
    #[error("the rates provider answered HTTP {0}")]
    Status(u16),
    #[error("the rates provider's document is larger than {0} bytes")]
    TooLarge(usize),
    #[error(transparent)]
    Document(#[from] EcbError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How the refresh of one run ended (part of the fan-out's summary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ProviderOutcome {
    /// `FX_PROVIDER_URL` is empty: manual rates only.
    Disabled,
    Refreshed(ProviderRefresh),
    Failed {
        error: String,
    },
}

/// What the provider refresh uses: its URL (config), the HTTP client, the rates store, the clock.
#[derive(Clone, Copy)]
pub struct ProviderPorts<'a> {
    pub config: &'a Config,
    pub http: &'a HttpClient,
    pub provider_rates: &'a dyn ProviderRateStore,
    pub clock: &'a dyn Clock,
}

impl<'a> From<&'a App> for ProviderPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            config: &app.config,
            http: &app.http,
            provider_rates: app.provider_rates.as_ref(),
            clock: app.clock.as_ref(),
        }
    }
}

/// Refreshes the configured provider's rates; a failure is logged and returned, never raised.
pub async fn refresh_configured(ports: ProviderPorts<'_>) -> ProviderOutcome {
    let Some(url) = ports.config.fx_provider_url.as_ref() else {
        return ProviderOutcome::Disabled;
    };
    match refresh_provider_rates(ports.http.get(), url, ports.provider_rates, ports.clock.now()).await {
        Ok(done) => {
            tracing::info!(
                provider = %done.provider, days = done.days, rates = done.rates, written = done.written,
                skipped = done.skipped, "provider FX rates refreshed"
            );
            ProviderOutcome::Refreshed(done)
        }
        Err(e) => {
            tracing::error!(host = url.host_str().unwrap_or(""), error = %e, "provider FX rates not refreshed; stored rates stay");
            ProviderOutcome::Failed { error: e.to_string() }
        }
    }
}

/// Fetches `url`, reads it and stores what is new or changed.
pub async fn refresh_provider_rates(
    http: &reqwest::Client,
    url: &Url,
    store: &dyn ProviderRateStore,
    now: DateTime<Utc>,
) -> Result<ProviderRefresh, ProviderError> {
    let doc = fetch(http, url).await?;
    Ok(store_rates(store, &parse(&doc)?, now).await?)
}

async fn fetch(http: &reqwest::Client, url: &Url) -> Result<String, ProviderError> {
    let unreachable = |e: reqwest::Error| ProviderError::Unreachable(e.without_url().to_string());
    let resp = http
        .get(url.clone())
        .timeout(FETCH_TIMEOUT)
        .header(reqwest::header::ACCEPT, "application/xml, text/xml")
        .send()
        .await
        .map_err(unreachable)?;
    if !resp.status().is_success() {
        return Err(ProviderError::Status(resp.status().as_u16()));
    }
    let body = read_capped(resp, MAX_DOCUMENT_BYTES).await.map_err(|e| match e {
        BodyError::TooLarge { limit } => ProviderError::TooLarge(limit),
        BodyError::Read(e) => unreachable(e),
    })?;
    String::from_utf8(body).map_err(|_| EcbError::Malformed { at: 0, what: "the document is not UTF-8" }.into())
}

/// Writes the rates of `doc` that are not stored yet or differ from what is stored (the ECB may
/// correct a day); reads each currency's stored days of the document's range first.
pub async fn store_rates(
    store: &dyn ProviderRateStore,
    doc: &EcbRates,
    now: DateTime<Utc>,
) -> Result<ProviderRefresh, StoreError> {
    let mut by_quote: BTreeMap<Currency, BTreeMap<NaiveDate, ScaledRate>> = BTreeMap::new();
    for d in &doc.days {
        for (quote, rate) in d.rates.iter().filter(|(q, _)| **q != PROVIDER_BASE) {
            by_quote.entry(*quote).or_default().insert(d.day, *rate);
        }
    }
    let mut done = ProviderRefresh {
        provider: ECB_SOURCE.into(),
        days: doc.days.len() as u32,
        first_day: doc.days.first().map(|d| d.day),
        last_day: doc.days.last().map(|d| d.day),
        currencies: by_quote.len() as u32,
        skipped: doc.skipped.len() as u32,
        ..ProviderRefresh::default()
    };
    let mut changed: Vec<ProviderRate> = Vec::new();
    for (quote, days) in &by_quote {
        let (Some(first), Some(last)) = (days.keys().next(), days.keys().next_back()) else { continue };
        let (stored, _) = store.provider_rates(ECB_SOURCE, PROVIDER_BASE, *quote, *first, *last).await?;
        let stored: HashMap<NaiveDate, ScaledRate> = stored.into_iter().map(|r| (r.day, r.rate)).collect();
        for (day, rate) in days {
            done.rates += 1;
            if stored.get(day) == Some(rate) {
                done.unchanged += 1;
                continue;
            }
            changed.push(ProviderRate {
                provider: ECB_SOURCE.into(),
                base: PROVIDER_BASE,
                quote: *quote,
                day: *day,
                rate: *rate,
                stored_at: now,
            });
        }
    }
    done.written = changed.len() as u32;
    store.put_provider_rates(&changed).await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory_table::MemoryTable;

    const DOC: &str = r#"<gesmes:Envelope><Cube><Cube time="2026-11-20"><Cube currency="USD" rate="1.08"/><Cube currency="MXN" rate="19.5"/><Cube currency="XXX" rate="1"/></Cube><Cube time="2026-11-19"><Cube currency="USD" rate="1.07"/></Cube></Cube></gesmes:Envelope>"#;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, d).expect("day")
    }

    #[tokio::test]
    async fn only_new_or_changed_days_are_written() {
        let t = MemoryTable::default();
        let now = Utc::now();
        let first = store_rates(&t, &parse(DOC).expect("doc"), now).await.expect("stored");
        assert_eq!(
            (first.days, first.currencies, first.rates, first.written, first.unchanged, first.skipped),
            (2, 2, 3, 3, 0, 1)
        );
        assert_eq!((first.first_day, first.last_day), (Some(day(19)), Some(day(20))));
        let again = store_rates(&t, &parse(DOC).expect("doc"), now).await.expect("stored");
        assert_eq!((again.written, again.unchanged), (0, 3), "a re-run writes nothing");
        // The provider corrects a day: that day alone is written.
        let corrected = DOC.replace(r#"rate="1.07""#, r#"rate="1.0701""#);
        let fixed = store_rates(&t, &parse(&corrected).expect("doc"), now).await.expect("stored");
        assert_eq!((fixed.written, fixed.unchanged), (1, 2));
        let (usd, _) = t.provider_rates(ECB_SOURCE, Currency::EUR, Currency::USD, day(1), day(30)).await.expect("read");
        assert_eq!(usd.iter().map(|r| r.rate.to_string()).collect::<Vec<_>>(), ["1.0701", "1.08"]);
    }
}

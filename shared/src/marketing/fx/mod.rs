//! Cross-currency ROI: spend billed in another currency than the tenant's reporting currency is
//! converted at the rate of the spend's own day.
//!
//! - [`rate_book`]: which rate a day gets — the tenant's manual rate, else the ECB's reference rate
//!   of that day or of the last business day before it (≤ 7 days), through EUR for a cross pair;
//! - [`convert`]: the conversion of a dashboard's spend, what the responses show (`fx`);
//! - [`manual`]: `PUT /crm/marketing/fx-rates` (a tenant's rates with effective dates);
//! - [`ecb`]: the ECB's reference-rate XML, read by a small hand parser;
//! - [`provider`]: the hourly refresh of the provider's rates (the spend sync's fan-out).

pub mod convert;
pub mod ecb;
pub mod manual;
pub mod provider;
pub mod rate_book;

pub use convert::{convert_spend, SpendConversion, NO_RATE_REASON};
pub use manual::{rates_json, set_rates, FxError, RateInput, SetRatesRequest, MAX_RATES_PER_REQUEST};
pub use rate_book::{AppliedRate, RateBook, RateSources, PROVIDER_LOOKBACK_DAYS};

#[cfg(test)]
mod tests;

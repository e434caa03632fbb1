//! `PUT /crm/marketing/fx-rates`: a tenant's manual rates with effective dates — for currencies no
//! provider quotes (ARS, COP, …) and wherever a manager wants their own rate (a manual rate wins
//! over the provider's from its day on). Every rate is validated before any is written.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::fx::ScaledRate;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::marketing::SaveError;
use crate::store::fx_rates::{FxRate, FxRateStore, MANUAL_SOURCE};

/// Most rates one request may set.
pub const MAX_RATES_PER_REQUEST: usize = 200;

/// Body of `PUT /crm/marketing/fx-rates`.
#[derive(Debug, Clone, Deserialize)]
pub struct SetRatesRequest {
    pub rates: Vec<RateInput>,
}

/// One rate: `{"from":"USD","to":"ARS","rate":"1050.25","effective_from":"2026-11-01"}` (rate a
/// decimal string: units of `to` per unit of `from`).
#[derive(Debug, Clone, Deserialize)]
pub struct RateInput {
    pub from: String,
    pub to: String,
    pub rate: String,
    pub effective_from: String,
}

/// Refused rates answer `400 invalid_fx_rate`.
pub type FxError = SaveError;
const INVALID: &str = "invalid_fx_rate";

/// Validates every rate (nothing is written when one is wrong) and stores them.
pub async fn set_rates(
    store: &dyn FxRateStore,
    tenant: TenantId,
    user: &str,
    req: SetRatesRequest,
    now: DateTime<Utc>,
) -> Result<Vec<FxRate>, FxError> {
    if req.rates.is_empty() || req.rates.len() > MAX_RATES_PER_REQUEST {
        return Err(SaveError::invalid(INVALID, format!("rates must hold 1 to {MAX_RATES_PER_REQUEST} rates")));
    }
    let mut out: Vec<FxRate> = Vec::new();
    for (i, r) in req.rates.iter().enumerate() {
        let bad = |what: String| SaveError::invalid(INVALID, format!("rates[{i}]: {what}"));
        let from = Currency::parse(&r.from).map_err(|e| bad(format!("from: {e}")))?;
        let to = Currency::parse(&r.to).map_err(|e| bad(format!("to: {e}")))?;
        if from == to {
            return Err(bad("from and to are the same currency".into()));
        }
        let rate = ScaledRate::parse(&r.rate).map_err(|e| bad(e.to_string()))?;
        let effective_from = NaiveDate::parse_from_str(r.effective_from.trim(), "%Y-%m-%d")
            .map_err(|_| bad(format!("effective_from {:?} is not a YYYY-MM-DD date", r.effective_from)))?;
        if out.iter().any(|o| o.from == from && o.to == to && o.effective_from == effective_from) {
            return Err(bad(format!("{from}->{to} effective {effective_from} is given twice")));
        }
        out.push(FxRate {
            tenant_id: tenant,
            from,
            to,
            rate,
            effective_from,
            source: MANUAL_SOURCE.into(),
            set_by: user.chars().take(128).collect(),
            updated_at: now,
        });
    }
    store.put_fx_rates(&out).await?;
    tracing::info!(tenant_id = tenant.0, rates = out.len(), "FX rates set");
    Ok(out)
}

/// The response of `PUT /fx-rates`.
pub fn rates_json(rates: &[FxRate]) -> Value {
    json!({
        "rates": rates.iter().map(|r| json!({
            "from": r.from, "to": r.to, "rate": r.rate.to_string(), "rate_scaled": r.rate.0,
            "rate_scale": crate::domain::fx::RATE_SCALE as i64, "effective_from": r.effective_from,
            "source": r.source,
        })).collect::<Vec<_>>(),
        "saved": rates.len(),
    })
}

//! The conversion and the manual rates end to end, through the dashboard (in-memory stores).

use chrono::{Duration, NaiveDate};
use serde_json::Value;

use super::*;
use crate::domain::connection::MetaConnection;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::money::MinorUnits;
use crate::marketing::dashboard::load_dashboard;
use crate::store::aggregates::{AggBucket, AggregateStore, Counters, Names};
use crate::store::fx_rates::FxRateStore;
use crate::store::spend::DailySpend;
use crate::store::spend::SpendRow;
use crate::store::TenantProfile;

fn ars() -> Currency {
    Currency::parse("ARS").expect("ARS")
}

fn row(id: &str, spend: i64) -> SpendRow {
    SpendRow {
        id: id.into(),
        name: format!("Campaign {id}"),
        status: "active".into(),
        campaign_id: None,
        campaign_name: None,
        spend_minor: MinorUnits(spend),
        impressions: 1_000,
        clicks: 10,
        meta_leads: 2,
        settings: None,
    }
}

/// Tenant 5: ARS reporting, ARS sales of 420,000.00 on campaign 111, and a USD ad account
/// that spent 100.00 USD on Nov 10 and 100.00 USD on Nov 20 (campaign 111).
async fn seed() -> (crate::App, crate::api::app::InMemory, TenantId) {
    let (app, mem) = crate::testing::unit_app(&[]);
    let (t, now) = (TenantId(5), crate::testing::unit_now());
    app.profiles
        .put_profile(&TenantProfile {
            tenant_id: t,
            display_name: "Clínica".into(),
            reporting_time_zone: None,
            currency: Some(ars()),
            updated_at: now,
        })
        .await
        .expect("profile");
    app.connections
        .put_connection(&MetaConnection {
            expires_at: Some(now + Duration::days(30)),
            ad_account_ids: vec!["act_7".into()],
            ..crate::testing::active_connection(t, now)
        })
        .await
        .expect("conn")
        .expect("created");
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).expect("day");
    let c: Counters = [
        ("leads__src__META_ADS", 4),
        ("leads__camp__111", 4),
        ("revenue__ARS", 42_000_000),
        ("revenue__ARS__src__META_ADS", 42_000_000),
        ("revenue__ARS__camp__111", 42_000_000),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    mem.table.add_to_aggregate(t, AggBucket::Day, day(20), &c, &Names::new()).await.expect("agg");
    for d in [10, 20] {
        let spend = DailySpend {
            tenant_id: t,
            ad_account_id: "act_7".into(),
            date: day(d),
            currency: Currency::USD,
            account_time_zone: None,
            attribution_setting: "unified".into(),
            synced_at: now,
            campaigns: vec![row("111", 10_000)],
            ads: vec![],
        };
        crate::store::spend::SpendStore::put_daily_spend(mem.table.as_ref(), &spend).await.expect("spend");
    }
    (app, mem, t)
}

fn q(range: &str) -> Vec<(String, String)> {
    vec![("time_range".to_string(), range.to_string())]
}

#[tokio::test]
async fn usd_spend_converts_into_ars_at_each_days_rate() {
    let (app, _mem, t) = seed().await;
    let now = crate::testing::unit_now();
    let body = SetRatesRequest {
        rates: vec![
            RateInput {
                from: "USD".into(),
                to: "ARS".into(),
                rate: "1000".into(),
                effective_from: "2026-11-01".into(),
            },
            RateInput {
                from: "USD".into(),
                to: "ARS".into(),
                rate: "1050.25".into(),
                effective_from: "2026-11-15".into(),
            },
        ],
    };
    set_rates(app.fx_rates.as_ref(), t, "u", body, now).await.expect("rates");
    let dash = load_dashboard((&app).into(), t, &q("30d"), "30d", now).await.expect("load");
    // 100 USD × 1000 + 100 USD × 1050.25 = 100,000.00 + 105,025.00 ARS.
    let h = dash.headline();
    assert_eq!((h.currency, h.spend, h.revenue), (ars(), MinorUnits(20_502_500), MinorUnits(42_000_000)));
    let roi = dash.roi_view(true);
    // (420,000 − 205,025) / 205,025 = 1.04853… → 104.85 %.
    assert_eq!(roi["roi_percent"], serde_json::json!(104.85));
    assert_eq!(roi["reason"], Value::Null);
    let rates: Vec<(String, String)> = roi["fx"]["rates"]
        .as_array()
        .expect("rates")
        .iter()
        .map(|r| (r["rate"].as_str().unwrap_or("").to_string(), r["source"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(rates, vec![("1000".into(), "manual".into()), ("1050.25".into(), "manual".into())]);
    let camp = &roi["campaigns"][0];
    assert_eq!(
        (camp["spend_minor"].clone(), camp["currency"].clone()),
        (serde_json::json!(20_502_500), serde_json::json!("ARS"))
    );
    assert_eq!(camp["spend_billed_minor"], 20_000);
    // The daily series carries each day's converted spend.
    let points = dash.series()["points"].as_array().expect("points").clone();
    let spend_on = |d: &str| points.iter().find(|p| p["date"] == d).map(|p| p["spend_minor"].clone());
    assert_eq!(spend_on("2026-11-10"), Some(serde_json::json!(10_000_000)));
    assert_eq!(spend_on("2026-11-20"), Some(serde_json::json!(10_502_500)));
    // A long range (monthly rollups) converts by day too.
    let long = load_dashboard((&app).into(), t, &q("this_year"), "30d", now).await.expect("year");
    assert_eq!(long.headline().spend, MinorUnits(20_502_500));
}

/// `(rate, effective_from, source, via)` of every rate a ROI response shows.
fn shown_rates(roi: &Value) -> Vec<(String, String, String, Value)> {
    roi["fx"]["rates"]
        .as_array()
        .expect("rates")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            (s("rate"), s("effective_from"), s("source"), r["via"].clone())
        })
        .collect()
}

#[tokio::test]
async fn the_ecb_rate_of_the_day_or_the_last_business_day_converts_and_a_manual_rate_wins() {
    use crate::store::provider_rates::{ProviderRate, ProviderRateStore, ECB_SOURCE};
    let (app, mem, t) = seed().await;
    let now = crate::testing::unit_now();
    let mut profile = app.profiles.get_profile(t).await.expect("read").expect("profile");
    profile.currency = Some(Currency::EUR);
    app.profiles.put_profile(&profile).await.expect("profile");
    // EUR→USD on Tue Nov 10 and Thu Nov 19 (none on Fri Nov 20: its spend uses Thursday's).
    let ecb = |d: u32, r: &str| ProviderRate {
        provider: ECB_SOURCE.into(),
        base: Currency::EUR,
        quote: Currency::USD,
        day: NaiveDate::from_ymd_opt(2026, 11, d).expect("day"),
        rate: crate::domain::fx::ScaledRate::parse(r).expect("rate"),
        stored_at: now,
    };
    mem.table.put_provider_rates(&[ecb(10, "1.25"), ecb(19, "1.6")]).await.expect("ecb");
    let dash = load_dashboard((&app).into(), t, &q("30d"), "30d", now).await.expect("load");
    // 100 USD / 1.25 = 80.00 EUR; 100 USD / 1.6 = 62.50 EUR.
    assert_eq!((dash.headline().currency, dash.headline().spend), (Currency::EUR, MinorUnits(14_250)));
    let roi = dash.roi_view(true);
    assert_eq!(roi["fx"]["complete"], true);
    assert_eq!(
        shown_rates(&roi),
        vec![
            ("0.8".into(), "2026-11-10".into(), "ecb".into(), Value::Null),
            ("0.625".into(), "2026-11-19".into(), "ecb".into(), Value::Null)
        ]
    );
    // A manager's rate from Nov 15 on wins over the ECB's for Nov 20: 100 × 0.9 = 90.00 EUR.
    let manual =
        RateInput { from: "USD".into(), to: "EUR".into(), rate: "0.9".into(), effective_from: "2026-11-15".into() };
    set_rates(app.fx_rates.as_ref(), t, "u", SetRatesRequest { rates: vec![manual] }, now).await.expect("manual");
    let roi = load_dashboard((&app).into(), t, &q("30d"), "30d", now).await.expect("load").roi_view(true);
    assert_eq!(roi["fx"]["converted_spend_minor"], 17_000);
    let sources: Vec<String> = shown_rates(&roi).into_iter().map(|r| r.2).collect();
    assert_eq!(sources, ["ecb", "manual"]);
}

#[tokio::test]
async fn without_a_rate_ratios_are_null_with_a_reason() {
    let (app, _mem, t) = seed().await;
    let now = crate::testing::unit_now();
    // Only Nov 15 on: Nov 10's spend has no rate.
    let body = SetRatesRequest {
        rates: vec![RateInput {
            from: "USD".into(),
            to: "ARS".into(),
            rate: "1050.25".into(),
            effective_from: "2026-11-15".into(),
        }],
    };
    set_rates(app.fx_rates.as_ref(), t, "u", body, now).await.expect("rates");
    let dash = load_dashboard((&app).into(), t, &q("30d"), "30d", now).await.expect("load");
    let roi = dash.roi_view(true);
    for k in ["roi_percent", "roi_ratio", "roas", "cpa_minor"] {
        assert_eq!(roi[k], Value::Null, "{k}");
    }
    assert_eq!(roi["reason"], NO_RATE_REASON);
    assert_eq!(roi["fx"]["complete"], false);
    assert_eq!(roi["fx"]["missing_rates"][0]["days"], serde_json::json!(["2026-11-10"]));
    assert_eq!(roi["fx"]["missing_rates"][0]["unconverted_spend_minor"], 10_000);
    // The frontend's row `roi` stays a number; the exact ratio is null with the reason.
    assert_eq!(roi["campaigns"][0]["roi"], 0.0);
    assert_eq!(roi["campaigns"][0]["roi_ratio"], Value::Null);
    assert_eq!(roi["campaigns"][0]["reason"], NO_RATE_REASON);
    // No rate at all: still null, never 0.
    let (app, _mem, t) = seed().await;
    let roi = load_dashboard((&app).into(), t, &q("30d"), "30d", now).await.expect("load").roi_view(false);
    assert_eq!((roi["roi_percent"].clone(), roi["roas"].clone()), (Value::Null, Value::Null));
    assert_eq!(roi["total_revenue_minor"], 42_000_000);
}

#[tokio::test]
async fn bad_rates_are_refused_and_nothing_is_written() {
    let (app, mem, t) = seed().await;
    let now = crate::testing::unit_now();
    let one = |from: &str, to: &str, rate: &str, eff: &str| RateInput {
        from: from.into(),
        to: to.into(),
        rate: rate.into(),
        effective_from: eff.into(),
    };
    let ok = one("USD", "ARS", "1000", "2026-11-01");
    for bad in [
        one("USD", "ARX", "1", "2026-11-01"),
        one("USD", "USD", "1", "2026-11-01"),
        one("USD", "ARS", "-1", "2026-11-01"),
        one("USD", "ARS", "1e3", "2026-11-01"),
        one("USD", "ARS", "0", "2026-11-01"),
        one("USD", "ARS", "1", "2026-13-01"),
        ok.clone(),
    ] {
        let req = SetRatesRequest { rates: vec![ok.clone(), bad] };
        let err = set_rates(app.fx_rates.as_ref(), t, "u", req, now).await.expect_err("refused");
        assert_eq!(crate::ApiError::from(err).status().as_u16(), 400);
    }
    let empty = SetRatesRequest { rates: vec![] };
    assert!(set_rates(app.fx_rates.as_ref(), t, "u", empty, now).await.is_err());
    let (stored, _) = mem.table.fx_rates(t, Currency::USD, ars(), now.date_naive()).await.expect("read");
    assert!(stored.is_empty());
}

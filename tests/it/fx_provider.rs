//! Provider FX rates end to end: `meta-spend-sync`'s fan-out fills the ECB's rates from Sandbox ECB
//! into moto, the dashboards convert a USD ad account's spend into an MXN tenant's reporting
//! currency through EUR (source `ecb`), a manual rate overrides them, a provider that is down
//! stops neither the fan-out nor the tenants, and the spend sync's metrics are emitted.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, NaiveDate};
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::money::Currency;
use crm_shared::marketing::fx::provider::ProviderOutcome;
use crm_shared::meta::insights::TenantOutcome;
use crm_shared::platform::metrics;
use crm_shared::platform::retry::TokioSleeper;
use crm_shared::store::connected_index::ConnectedTenant;
use crm_shared::store::provider_rates::ECB_SOURCE;
use integration_tests::*;
use local_stack::sandbox_ecb::sandbox_ecb_rate;
use local_stack::sandbox_meta::{ad_account_id, sandbox_campaign_spend, sandbox_campaigns};
use meta_spend_sync::{handle_event_with, Summary};
use serde_json::{json, Value};

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "s1", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}})
}

fn requested(tenant: i64) -> Value {
    json!({"version": "0", "id": format!("req-{tenant}"), "detail-type": "spend-sync.requested",
           "source": "crm-marketing.spend-sync", "detail": {"tenant_id": tenant}})
}

/// The fan-out; returns its summary's `(published, provider outcome)`.
async fn fan_out(m: &MetaTestEnv) -> (u32, ProviderOutcome) {
    match handle_event_with(&m.env.app, scheduled(), Arc::new(TokioSleeper)).await.expect("fan-out") {
        Summary::FanOut { fan_out, fx_provider } => (fan_out.published, fx_provider),
        other => panic!("fan-out expected, got {other:?}"),
    }
}

/// One tenant's sync; its outcome (an `Err` from the invocation counts as failed).
async fn sync(m: &MetaTestEnv, tenant: i64) -> Option<TenantOutcome> {
    match handle_event_with(&m.env.app, requested(tenant), Arc::new(TokioSleeper)).await {
        Ok(Summary::Tenant(t)) => Some(t.outcome),
        _ => None,
    }
}

/// OAuth connect, then the selection of `account` with `reporting` as the tenant's currency.
async fn connect(m: &MetaTestEnv, tenant: i64, account: &str, reporting: &str) {
    oauth_connect(&m.env, tenant).await;
    let body = json!({"account_id": account, "account_name": "Sandbox", "reporting_currency": reporting});
    let token = jwt_at_clock(&m.env, tenant, "admin");
    let req = request("POST", "/crm/marketing/connect", Some(&token), Some(ADMIN_TOKEN), Some(body));
    let resp = meta_connect::handle(&m.env.app, req).await;
    assert_eq!(resp.status(), 200, "{:?}", body_json(&resp));
}

async fn roi(m: &MetaTestEnv, tenant: i64) -> Value {
    let req = request(
        "GET",
        "/crm/marketing/stats/roi?range=30d",
        Some(&jwt_at_clock(&m.env, tenant, "admin")),
        Some(ADMIN_TOKEN),
        None,
    );
    let resp = marketing_stats_roi::handle(&m.env.app, req).await;
    let body = body_json(&resp);
    assert_eq!(resp.status(), 200, "{body}");
    body["data"].clone()
}

/// Every stored provider item: `(PK, SK) → rate`.
async fn provider_items(env: &TestEnv) -> BTreeMap<(String, String), String> {
    env.items_with("FX#ECB#", "")
        .await
        .iter()
        .map(|i| {
            let s = |k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            ((s("PK"), s("SK")), i.get("rate").and_then(|v| v.as_n().ok()).cloned().unwrap_or_default())
        })
        .collect()
}

/// The rate × 10^9 the sandbox's EUR→`c` string is, exactly.
fn scaled(c: &str, day: NaiveDate) -> i128 {
    let r = sandbox_ecb_rate(c, day).expect("a business day");
    let (int, frac) = r.split_once('.').expect("4 decimals");
    int.parse::<i128>().expect("int") * 1_000_000_000 + format!("{frac:0<9}").parse::<i128>().expect("frac")
}

/// Sandbox Meta's spend (minor units) of each campaign of `account` on `day`, by its formula.
fn sandbox_rows(account: &str, day: NaiveDate) -> impl Iterator<Item = i128> {
    (0..sandbox_campaigns(account).len()).map(move |k| i128::from(sandbox_campaign_spend(k, day, false)))
}

/// The last ECB business day on or before `day`.
fn ecb_day(day: NaiveDate) -> NaiveDate {
    (0..=7).map(|b| day - Duration::days(b)).find(|d| sandbox_ecb_rate("USD", *d).is_some()).expect("within a week")
}

#[tokio::test]
async fn the_fan_out_fills_the_ecb_rates_once_and_a_rerun_writes_nothing() {
    let m = MetaTestEnv::new().await;
    let at = t0();
    for t in 1..=3 {
        m.env
            .app
            .connected_index
            .mark_connected(&ConnectedTenant { tenant_id: TenantId(t), connected_at: at })
            .await
            .ok();
    }
    let (published, fx) = fan_out(&m).await;
    assert_eq!(published, 3);
    let ProviderOutcome::Refreshed(first) = fx else { panic!("refreshed: {fx:?}") };
    let days = m.ecb.hist_days();
    let currencies = local_stack::sandbox_ecb::SANDBOX_ECB_CURRENCIES.len();
    assert_eq!((first.days as usize, first.currencies as usize), (days.len(), currencies));
    assert_eq!((first.written as usize, first.unchanged, first.skipped), (days.len() * currencies, 0, 0));
    assert_eq!(m.ecb.with(|s| s.requests), 1, "one fetch per run, not per tenant");
    // Weekends have no item; each stored rate is the document's exactly.
    let items = provider_items(&m.env).await;
    assert_eq!(items.len(), days.len() * currencies);
    assert!(!items.contains_key(&("FX#ECB#EUR#USD".to_string(), "2026-11-22".to_string())), "a Sunday");
    let usd = |day: &str| items.get(&("FX#ECB#EUR#USD".to_string(), day.to_string())).cloned();
    assert_eq!(usd("2026-11-24"), Some(scaled("USD", d("2026-11-24")).to_string()));
    let (read, _) = m
        .env
        .app
        .provider_rates
        .provider_rates(ECB_SOURCE, Currency::EUR, Currency::USD, d("2026-11-20"), d("2026-11-24"))
        .await
        .expect("read");
    assert_eq!(read.iter().map(|r| r.day.to_string()).collect::<Vec<_>>(), ["2026-11-20", "2026-11-23", "2026-11-24"]);

    let (_, again) = fan_out(&m).await;
    let ProviderOutcome::Refreshed(again) = again else { panic!("refreshed: {again:?}") };
    assert_eq!((again.written, again.unchanged as usize), (0, days.len() * currencies), "a re-run writes nothing");
    assert_eq!(provider_items(&m.env).await, items, "same items");
}

#[tokio::test]
async fn usd_spend_of_an_mxn_tenant_converts_through_eur_at_each_days_ecb_rate_and_a_manual_rate_wins() {
    let m = MetaTestEnv::with_env(&[("META_SYNC_WINDOW_DAYS", "7")]).await;
    let account = ad_account_id(1, false, 1); // USD, America/New_York: Nov 18 ..= Nov 24
    connect(&m, 1, &account, "MXN").await;
    assert_eq!(sync(&m, 1).await, Some(TenantOutcome::Synced));
    let (_, fx) = fan_out(&m).await;
    assert!(matches!(fx, ProviderOutcome::Refreshed(_)), "{fx:?}");

    // Expected, computed here from the sandboxes' own formulas (never read back through the
    // product): USD→MXN = EUR→MXN / EUR→USD of the spend day's ECB day (Friday's for the
    // weekend), 9 decimals half up; each campaign row converted, half away from zero.
    let window: Vec<NaiveDate> = (0..7).map(|i| d("2026-11-18") + Duration::days(i)).collect();
    let half_up = |n: i128, den: i128| (2 * n + den) / (2 * den);
    let mut want_total = 0i128;
    let mut want_rates = Vec::new();
    for &day in &window {
        let on = ecb_day(day);
        let rate = half_up(scaled("MXN", on) * 1_000_000_000, scaled("USD", on));
        want_rates.push((on.to_string(), rate));
        want_total += sandbox_rows(&account, day).map(|cents| half_up(cents * rate, 1_000_000_000)).sum::<i128>();
    }
    want_rates.dedup();
    let data = roi(&m, 1).await;
    assert_eq!(data["currency"], "MXN");
    assert_eq!(data["fx"]["complete"], true, "{}", data["fx"]);
    assert_eq!(i128::from(data["total_spend_minor"].as_i64().expect("spend")), want_total);
    let shown: Vec<(String, i128)> = data["fx"]["rates"]
        .as_array()
        .expect("rates")
        .iter()
        .map(|r| {
            assert_eq!((r["from"].as_str(), r["to"].as_str()), (Some("USD"), Some("MXN")));
            assert_eq!((r["source"].as_str(), r["via"].as_str()), (Some("ecb"), Some("EUR")), "{r}");
            let rate = crm_shared::domain::fx::ScaledRate::parse(r["rate"].as_str().unwrap_or("")).expect("rate");
            (r["effective_from"].as_str().unwrap_or("").to_string(), i128::from(rate.0))
        })
        .collect();
    assert_eq!(shown, want_rates, "Nov 21 and 22 use Friday Nov 20's rate");
    assert!(!shown.iter().any(|(day, _)| day == "2026-11-21" || day == "2026-11-22"));

    // A manager's USD→MXN rate from Nov 23 on overrides the ECB's for Nov 23 and 24 only.
    let body = json!({"rates": [{"from": "USD", "to": "MXN", "rate": "17.5", "effective_from": "2026-11-23"}]});
    let token = jwt_at_clock(&m.env, 1, "admin");
    let put = request("PUT", "/crm/marketing/fx-rates", Some(&token), Some(ADMIN_TOKEN), Some(body));
    assert_eq!(marketing_fx_rates::handle(&m.env.app, put).await.status(), 200);
    let data = roi(&m, 1).await;
    let sources: Vec<(String, String)> = data["fx"]["rates"]
        .as_array()
        .expect("rates")
        .iter()
        .map(|r| (r["effective_from"].as_str().unwrap_or("").into(), r["source"].as_str().unwrap_or("").into()))
        .collect();
    assert_eq!(
        sources,
        [("2026-11-18", "ecb"), ("2026-11-19", "ecb"), ("2026-11-20", "ecb"), ("2026-11-23", "manual")]
            .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let manual_days: i128 = window
        .iter()
        .filter(|day| **day >= d("2026-11-23"))
        .flat_map(|day| sandbox_rows(&account, *day))
        .map(|cents| half_up(cents * 17_500_000_000, 1_000_000_000))
        .sum();
    let ecb_days: i128 = window
        .iter()
        .filter(|day| **day < d("2026-11-23"))
        .map(|day| {
            let on = ecb_day(*day);
            let rate = half_up(scaled("MXN", on) * 1_000_000_000, scaled("USD", on));
            sandbox_rows(&account, *day).map(|cents| half_up(cents * rate, 1_000_000_000)).sum::<i128>()
        })
        .sum();
    assert_eq!(i128::from(data["total_spend_minor"].as_i64().expect("spend")), manual_days + ecb_days);
}

#[tokio::test]
async fn a_provider_that_is_down_stops_neither_the_fan_out_nor_the_tenants_and_is_counted() {
    let m = MetaTestEnv::with_env(&[("META_SYNC_WINDOW_DAYS", "3")]).await;
    connect(&m, 1, &ad_account_id(1, false, 1), "USD").await;
    m.ecb.with(|s| s.down = true);
    metrics::start_capture();
    let (published, fx) = fan_out(&m).await;
    assert_eq!(published, 1, "the tenant's event is published");
    let ProviderOutcome::Failed { error } = fx else { panic!("failed: {fx:?}") };
    assert!(error.contains("503"), "{error}");
    let counted = |name: &str, value: f64| {
        metrics::captured().iter().any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v[name] == json!(value)))
    };
    assert!(counted("FxProviderFailures", 1.0), "the failure is counted");
    assert_eq!(sync(&m, 1).await, Some(TenantOutcome::Synced), "the tenant still syncs");
    assert!(provider_items(&m.env).await.is_empty(), "nothing half-written");

    // A document cut short is refused whole too; once the provider is back, the run fills it.
    m.ecb.with(|s| {
        s.down = false;
        s.malformed_next = 1;
    });
    assert!(matches!(fan_out(&m).await.1, ProviderOutcome::Failed { .. }));
    assert!(provider_items(&m.env).await.is_empty());
    assert!(matches!(fan_out(&m).await.1, ProviderOutcome::Refreshed(r) if r.written > 0));
}

#[tokio::test]
async fn tenant_outcomes_are_counted_ok_or_failed_with_the_lag() {
    let m = MetaTestEnv::with_env(&[("META_SYNC_WINDOW_DAYS", "3")]).await;
    connect(&m, 1, &ad_account_id(1, false, 1), "USD").await;
    connect(&m, 2, &ad_account_id(1, true, 2), "ARS").await;
    let line_of = |name: &str, value: f64| {
        metrics::captured()
            .into_iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok())
            .find(|v| v[name] == json!(value))
    };
    metrics::start_capture();
    assert_eq!(sync(&m, 1).await, Some(TenantOutcome::Synced));
    let ok = line_of("SpendSyncTenantsOk", 1.0).expect("an ok line");
    assert_eq!(ok["SpendSyncTenantsFailed"], 0.0);

    // 61 minutes later: the lag is the age of the previous sync.
    m.env.clock.advance(Duration::seconds(3_660));
    assert_eq!(sync(&m, 1).await, Some(TenantOutcome::Synced));
    let lag = line_of("SpendSyncLagSeconds", 3_660.0).expect("the lag");
    assert_eq!(lag["_aws"]["CloudWatchMetrics"][0]["Metrics"][2]["Unit"], "Seconds");

    // Meta rejects tenant 2's token (190): the tenant is counted as failed.
    metrics::start_capture();
    m.sandbox.with(|s| s.reject_tokens = true);
    assert_eq!(sync(&m, 2).await, Some(TenantOutcome::TokenExpired));
    let failed = line_of("SpendSyncTenantsFailed", 1.0).expect("a failed line");
    assert_eq!(failed["SpendSyncTenantsOk"], 0.0);
}

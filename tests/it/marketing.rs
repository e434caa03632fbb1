//! The dashboard endpoints on moto: hand-computed formulas, zero cases, currencies, series,
//! ranges, tenant isolation, 400s, and read cost independent of the number of leads.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use crm_shared::api::http::body_json;
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::money::{Currency, MinorUnits};
use crm_shared::domain::zone::Zone;
use crm_shared::marketing::dashboard::load_dashboard;
use crm_shared::store::spend::{DailySpend, SpendRow, SpendStore};
use crm_shared::store::TenantProfile;
use integration_tests::*;
use serde_json::{json, Value};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("date")
}

async fn profile(env: &TestEnv, t: i64, zone: &str, currency: Option<&str>) {
    env.app
        .profiles
        .put_profile(&TenantProfile {
            tenant_id: TenantId(t),
            display_name: format!("T{t}"),
            reporting_time_zone: Zone::parse(zone).ok(),
            currency: currency.and_then(|c| Currency::parse(c).ok()),
            updated_at: t0() - Duration::days(400),
        })
        .await
        .expect("profile");
}

async fn connect(env: &TestEnv, t: i64, accounts: &[&str]) {
    env.app
        .connections
        .put_connection(&connection_to(t, accounts, t0() - Duration::days(400)))
        .await
        .expect("connection")
        .expect("created");
}

fn row(id: &str, name: &str, spend: i64, campaign: Option<(&str, &str)>) -> SpendRow {
    SpendRow {
        id: id.into(),
        name: name.into(),
        status: "active".into(),
        campaign_id: campaign.map(|c| c.0.into()),
        campaign_name: campaign.map(|c| c.1.into()),
        spend_minor: MinorUnits(spend),
        impressions: 1000,
        clicks: 50,
        meta_leads: 2,
        settings: None,
    }
}

async fn spend(
    env: &TestEnv,
    t: i64,
    account: &str,
    currency: &str,
    date: NaiveDate,
    campaigns: Vec<SpendRow>,
    ads: Vec<SpendRow>,
) {
    env.store
        .put_daily_spend(&DailySpend {
            tenant_id: TenantId(t),
            ad_account_id: account.into(),
            date,
            currency: Currency::parse(currency).expect("currency"),
            account_time_zone: Some("UTC".into()),
            attribution_setting: "unified".into(),
            synced_at: t0() - Duration::hours(2),
            campaigns,
            ads,
        })
        .await
        .expect("spend");
}

async fn send(env: &TestEnv, events: Vec<Value>) {
    for e in events {
        crm_events::handle_event(&env.app, e).await.expect("event");
    }
}

fn lead(t: i64, id: &str, at: &str, source: &str, campaign: Option<&str>, ad: Option<&str>) -> Value {
    crm_event(
        "lead.created",
        t,
        &format!("e-{id}"),
        at,
        "lead",
        json!({"id": id, "created_at": at, "source": source, "campaign_id": campaign, "ad_id": ad}),
    )
}

fn opp(t: i64, id: &str, lead_id: &str, at: &str) -> Value {
    crm_event(
        "opportunity.created",
        t,
        &format!("e-{id}"),
        at,
        "opportunity",
        json!({"id": id, "lead_id": lead_id, "created_at": at}),
    )
}

fn sale(t: i64, id: &str, lead_id: &str, amount: i64, cur: &str, at: &str) -> Value {
    crm_event(
        "sale.completed",
        t,
        &format!("e-{id}"),
        at,
        "sale",
        json!({"id": id, "lead_id": lead_id, "amount_minor": amount, "currency": cur, "completed_at": at}),
    )
}

/// The fixture: 4 Meta leads (2 on campaign c1 / ad a1, 2 on c2 / ad a2) + 1 website lead,
/// 2 Meta opportunities (one per campaign), 1 sale of 1000.00 USD on c1; spend 300.00 on c1 and
/// 100.00 on c2 over two days.
async fn seed_fixture(env: &TestEnv, t: i64) {
    profile(env, t, "UTC", Some("USD")).await;
    connect(env, t, &["act_1"]).await;
    send(
        env,
        vec![
            lead(t, "L1", "2026-11-20T10:00:00Z", "META_ADS", Some("c1"), Some("a1")),
            lead(t, "L2", "2026-11-20T11:00:00Z", "META_ADS", Some("c1"), Some("a1")),
            lead(t, "L3", "2026-11-21T10:00:00Z", "META_ADS", Some("c2"), Some("a2")),
            lead(t, "L4", "2026-11-22T10:00:00Z", "META_ADS", Some("c2"), Some("a2")),
            lead(t, "W1", "2026-11-22T10:00:00Z", "WEBSITE", None, None),
            opp(t, "O1", "L1", "2026-11-21T09:00:00Z"),
            opp(t, "O2", "L3", "2026-11-22T09:00:00Z"),
            opp(t, "OW", "W1", "2026-11-22T12:00:00Z"),
            sale(t, "S1", "L1", 100_000, "USD", "2026-11-23T09:00:00Z"),
            sale(t, "SW", "W1", 50_000, "USD", "2026-11-23T09:00:00Z"),
        ],
    )
    .await;
    let c1 = |s| row("c1", "Campaign One", s, None);
    let c2 = |s| row("c2", "Campaign Two", s, None);
    let a1 = |s| row("a1", "Ad One", s, Some(("c1", "Campaign One")));
    let a2 = |s| row("a2", "Ad Two", s, Some(("c2", "Campaign Two")));
    spend(env, t, "act_1", "USD", d(2026, 11, 20), vec![c1(10_000), c2(5_000)], vec![a1(10_000), a2(5_000)]).await;
    spend(env, t, "act_1", "USD", d(2026, 11, 21), vec![c1(20_000), c2(5_000)], vec![a1(20_000), a2(5_000)]).await;
}

async fn call(env: &TestEnv, uri: &str, t: i64) -> (u16, Value) {
    let req = get(uri, t, "setter");
    let resp = if uri.starts_with("/crm/marketing/combined-stats") {
        marketing_combined_stats::handle(&env.app, req).await
    } else if uri.starts_with("/crm/marketing/stats/roi") {
        marketing_stats_roi::handle(&env.app, req).await
    } else {
        marketing_stats::handle(&env.app, req).await
    };
    (resp.status().as_u16(), body_json(&resp))
}

#[tokio::test]
async fn stats_roi_matches_the_hand_computed_fixture() {
    let env = TestEnv::new().await;
    seed_fixture(&env, 31).await;
    let (status, body) = call(&env, "/crm/marketing/stats/roi?range=30d", 31).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["data"];
    // Frontend fields: numbers in major units, cpa a number.
    assert_eq!(r["total_spend"], json!(400.0));
    assert_eq!(r["total_revenue"], json!(1000.0));
    assert_eq!(r["cpa"], json!(100.0)); // 400.00 / 4 leads
    assert_eq!(
        (r["leads"].clone(), r["leads_converted"].clone(), r["patients_converted"].clone()),
        (json!(4), json!(1), json!(1))
    );
    assert_eq!((r["is_connected"].clone(), r["ad_account_id"].clone()), (json!(true), json!("act_1")));
    assert_eq!((r["currency"].clone(), r["time_range"].clone()), (json!("USD"), json!("30d")));
    // Exact values.
    assert_eq!(r["total_spend_minor"], 40_000);
    assert_eq!(r["total_revenue_minor"], 100_000);
    assert_eq!(r["cpa_minor"], 10_000);
    assert_eq!(r["cost_per_opportunity_minor"], 20_000); // 400.00 / 2 Meta opportunities
    assert_eq!(r["roas"], json!(2.5));
    assert_eq!(r["roi_percent"], json!(150.0));
    assert_eq!(r["roi_ratio"], json!(1.5));
    assert_eq!(r["ltv_minor"], 100_000); // 1000.00 / 1 paying customer
    assert_eq!(r["attribution"]["meta_attribution_setting"], "unified");
    assert_eq!(r["attribution"]["lead_source"], "META_ADS");
    let camps = r["campaigns"].as_array().expect("campaigns");
    assert_eq!(camps.len(), 2);
    let c1 = camps.iter().find(|c| c["ad_id"] == "c1").expect("c1");
    assert_eq!(
        (c1["spend"].clone(), c1["leads"].clone(), c1["opportunities"].clone()),
        (json!(300.0), json!(2), json!(1))
    );
    assert_eq!(c1["roi"], json!(2.3333)); // (1000 - 300) / 300
    assert_eq!(c1["ad_name"], "Campaign One");
    let c2 = camps.iter().find(|c| c["ad_id"] == "c2").expect("c2");
    assert_eq!(c2["roi"], json!(-1.0)); // (0 - 100) / 100
}

#[tokio::test]
async fn stats_has_rates_series_and_connection() {
    let env = TestEnv::new().await;
    seed_fixture(&env, 32).await;
    let (status, body) = call(&env, "/crm/marketing/stats?range=7d", 32).await;
    assert_eq!(status, 200, "{body}");
    let s = &body["data"];
    assert_eq!((s["leads"].clone(), s["opportunities"].clone(), s["sales"].clone()), (json!(4), json!(2), json!(1)));
    assert_eq!(s["leads_all_sources"], 5);
    assert_eq!(s["leads_by_source"], json!({"META_ADS": 4, "WEBSITE": 1}));
    assert_eq!((s["revenue_minor"].clone(), s["spend_minor"].clone()), (json!(100_000), json!(40_000)));
    assert_eq!(s["cpa_minor"], 10_000);
    assert_eq!(s["roas"], json!(2.5));
    assert_eq!(s["roi_percent"], json!(150.0));
    assert_eq!(s["lead_to_opportunity_rate"], json!(50.0)); // 2 / 4
    assert_eq!(s["opportunity_to_sale_rate"], json!(50.0)); // 1 / 2
    assert_eq!(s["meta_connected"], true);
    assert_eq!(s["spend_synced_at"], json!("2026-11-24T10:00:00Z"));
    // The frontend's fallback fields.
    assert_eq!(s["roi"]["total_spend"], json!(400.0));
    assert_eq!(s["campaigns"]["account_total_spend"], json!(400.0));
    assert_eq!(s["campaigns"]["creatives"].as_array().expect("creatives").len(), 2);
    // One point per day, zero-filled: Nov 18..24.
    let points = s["series"]["points"].as_array().expect("points");
    assert_eq!(s["series"]["granularity"], "day");
    assert_eq!(points.len(), 7);
    assert_eq!(points[0]["date"], "2026-11-18");
    assert_eq!(points[0]["leads"], 0);
    assert_eq!(
        (points[2]["date"].clone(), points[2]["leads"].clone(), points[2]["spend_minor"].clone()),
        (json!("2026-11-20"), json!(2), json!(15_000))
    );
    assert_eq!(points[5]["revenue_minor"], 100_000);
    assert_eq!(points[6]["date"], "2026-11-24");
}

#[tokio::test]
async fn combined_stats_serves_the_frontend_shape() {
    let env = TestEnv::new().await;
    seed_fixture(&env, 33).await;
    let (status, body) =
        call(&env, "/crm/marketing/combined-stats?time_range=last_30d&google_date_range=last_30d", 33).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    let meta = &data["meta"];
    assert_eq!(meta["meta_connected"], true);
    assert_eq!(meta["currency"], "USD");
    assert_eq!(meta["roi"]["cpa"], json!(100.0));
    // The hub hands `data.roi` to its ROI card: the same object as `meta.roi`.
    assert_eq!(data["roi"], meta["roi"]);
    assert_eq!((meta["ad_account_selected"].clone(), meta["connection"]["reason"].clone()), (json!(true), Value::Null));
    assert_eq!(meta["campaigns"]["account_total_spend"], json!(400.0));
    let creatives = meta["campaigns"]["creatives"].as_array().expect("creatives");
    let a1 = creatives.iter().find(|c| c["ad_id"] == "a1").expect("a1");
    assert_eq!((a1["ad_name"].clone(), a1["campaign_name"].clone()), (json!("Ad One"), json!("Campaign One")));
    assert_eq!(
        (a1["spend"].clone(), a1["leads"].clone(), a1["status"].clone()),
        (json!(300.0), json!(2), json!("active"))
    );
    for row in creatives.iter().chain(meta["campaigns"]["campaigns"].as_array().expect("campaigns")) {
        for f in ["ad_id", "ad_name", "campaign_name", "status"] {
            assert!(row[f].is_string(), "{f} in {row}");
        }
        for f in ["spend", "leads", "opportunities", "roi"] {
            assert!(row[f].is_number(), "{f} in {row}");
        }
    }
    assert_eq!(data["google"]["connected"], false);
    assert_eq!(
        data["combined"],
        json!({
            "meta_connected": true, "google_connected": false, "total_platforms": 1, "currency": "USD",
            "total_spend": 400.0, "total_spend_minor": 40_000, "total_leads": 4
        })
    );
}

#[tokio::test]
async fn zero_leads_and_zero_spend_give_nulls_and_frontend_zeros() {
    let env = TestEnv::new().await;
    profile(&env, 34, "UTC", None).await;
    let (status, body) = call(&env, "/crm/marketing/stats/roi?range=30d", 34).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["data"];
    assert_eq!(r["cpa"], json!(0.0));
    assert_eq!(r["cpa_minor"], Value::Null);
    assert_eq!(r["roas"], Value::Null);
    assert_eq!(r["roi_percent"], Value::Null);
    assert_eq!(r["ltv_minor"], Value::Null);
    assert_eq!((r["is_connected"].clone(), r["ad_account_id"].clone()), (json!(false), Value::Null));
    assert_eq!(r["currency"], "USD");

    // Leads but no spend: CPA is 0 (spend 0 / n), ROI/ROAS null; campaign roi 0 for the frontend.
    send(&env, vec![lead(34, "L1", "2026-11-20T10:00:00Z", "META_ADS", Some("c9"), None)]).await;
    let (_, body) = call(&env, "/crm/marketing/stats?range=30d", 34).await;
    let s = &body["data"];
    assert_eq!(
        (s["leads"].clone(), s["cpa_minor"].clone(), s["roi_percent"].clone()),
        (json!(1), json!(0), Value::Null)
    );
    assert_eq!(s["opportunity_to_sale_rate"], Value::Null);
    let c9 = &s["campaigns"]["campaigns"][0];
    assert_eq!(
        (c9["ad_id"].clone(), c9["roi"].clone(), c9["roi_ratio"].clone()),
        (json!("c9"), json!(0.0), Value::Null)
    );
}

#[tokio::test]
async fn other_currencies_are_reported_beside_never_added() {
    let env = TestEnv::new().await;
    let t = 35;
    profile(&env, t, "UTC", Some("USD")).await;
    connect(&env, t, &["act_usd", "act_eur"]).await;
    send(
        &env,
        vec![
            lead(t, "L1", "2026-11-20T10:00:00Z", "META_ADS", Some("c1"), None),
            sale(t, "S1", "L1", 10_000, "USD", "2026-11-21T10:00:00Z"),
            sale(t, "S2", "L1", 7_000, "EUR", "2026-11-21T11:00:00Z"),
        ],
    )
    .await;
    spend(&env, t, "act_usd", "USD", d(2026, 11, 20), vec![row("c1", "C1", 5_000, None)], vec![]).await;
    spend(&env, t, "act_eur", "EUR", d(2026, 11, 20), vec![row("e1", "E1", 2_000, None)], vec![]).await;
    let (_, body) = call(&env, "/crm/marketing/stats?range=30d", t).await;
    let s = &body["data"];
    // EUR spend has no EUR→USD rate yet: revenue is never mixed, ratios are null with a reason.
    assert_eq!((s["revenue_minor"].clone(), s["spend_minor"].clone()), (json!(10_000), json!(5_000)));
    assert_eq!(s["roas"], Value::Null);
    assert!(s["reason"].as_str().is_some_and(|r| r.starts_with("no_fx_rate")), "{}", s["reason"]);
    assert_eq!(
        s["other_currencies"],
        json!([{"currency": "EUR", "revenue_minor": 7_000, "revenue": 70.0, "spend_minor": 2_000, "spend": 20.0, "roas": 3.5, "roi_percent": 250.0, "spend_converted_to_reporting_currency": false}])
    );
    let rows = s["campaigns"]["campaigns"].as_array().expect("rows");
    let e1 = rows.iter().find(|r| r["ad_id"] == "e1").expect("e1");
    assert_eq!((e1["currency"].clone(), e1["spend_billed_currency"].clone()), (json!("USD"), json!("EUR")));
    assert_eq!((e1["spend_billed_minor"].clone(), e1["roi"].clone()), (json!(2_000), json!(0.0)));
    assert_eq!(e1["roi_ratio"], Value::Null, "no rate: the exact ratio is unknown");
    // With a rate (1 EUR = 1.1 USD) the EUR spend joins the USD figures: 50.00 + 22.00.
    use crm_shared::store::fx_rates::FxRateStore;
    let rate = crm_shared::store::fx_rates::FxRate {
        tenant_id: TenantId(t),
        from: Currency::parse("EUR").expect("EUR"),
        to: Currency::USD,
        rate: crm_shared::domain::fx::ScaledRate::parse("1.1").expect("rate"),
        effective_from: d(2026, 11, 1),
        source: "manual".into(),
        set_by: "it".into(),
        updated_at: Utc::now(),
    };
    env.store.put_fx_rates(&[rate]).await.expect("rate");
    let (_, body) = call(&env, "/crm/marketing/stats?range=30d", t).await;
    let s = &body["data"];
    assert_eq!((s["spend_minor"].clone(), s["roas"].clone()), (json!(7_200), json!(1.3889)));
    assert_eq!(s["fx"]["rates"][0]["rate"], "1.1");
    assert_eq!(s["other_currencies"][0]["currency"], "EUR");
    assert_eq!(s["other_currencies"][0]["spend_converted_to_reporting_currency"], true, "now in the headline spend");
    let rows = s["campaigns"]["campaigns"].as_array().expect("rows");
    let e1 = rows.iter().find(|r| r["ad_id"] == "e1").expect("e1");
    assert_eq!((e1["spend_minor"].clone(), e1["currency"].clone()), (json!(2_200), json!("USD")));
}

#[tokio::test]
async fn zero_decimal_currency_uses_its_exponent() {
    let env = TestEnv::new().await;
    let t = 36;
    profile(&env, t, "Asia/Tokyo", Some("JPY")).await;
    connect(&env, t, &["act_jp"]).await;
    send(
        &env,
        vec![
            lead(t, "L1", "2026-11-20T01:00:00Z", "META_ADS", Some("c1"), None),
            lead(t, "L2", "2026-11-20T02:00:00Z", "META_ADS", Some("c1"), None),
            lead(t, "L3", "2026-11-20T03:00:00Z", "META_ADS", Some("c1"), None),
        ],
    )
    .await;
    spend(&env, t, "act_jp", "JPY", d(2026, 11, 20), vec![row("c1", "C1", 10_000, None)], vec![]).await;
    let (_, body) = call(&env, "/crm/marketing/stats/roi?range=30d", t).await;
    let r = &body["data"];
    assert_eq!((r["currency"].clone(), r["total_spend"].clone()), (json!("JPY"), json!(10_000.0)));
    assert_eq!((r["cpa_minor"].clone(), r["cpa"].clone()), (json!(3_333), json!(3_333.0)));
    // 10000 / 3, rounded
}

#[tokio::test]
async fn tenant_a_never_sees_tenant_b_numbers() {
    let env = TestEnv::new().await;
    seed_fixture(&env, 37).await;
    for uri in [
        "/crm/marketing/stats?range=30d",
        "/crm/marketing/stats/roi?range=30d",
        "/crm/marketing/combined-stats?time_range=all",
    ] {
        let (status, body) = call(&env, uri, 38).await;
        assert_eq!(status, 200, "{uri}");
        let text = body["data"].to_string();
        assert!(!text.contains("Campaign One") && !text.contains("act_1"), "{uri}: {text}");
    }
    let (_, body) = call(&env, "/crm/marketing/stats?range=30d", 38).await;
    assert_eq!((body["data"]["leads"].clone(), body["data"]["spend_minor"].clone()), (json!(0), json!(0)));
    assert_eq!(body["data"]["meta_connected"], false);
}

#[tokio::test]
async fn every_bad_query_parameter_is_a_400_json_error() {
    let env = TestEnv::new().await;
    let bad = [
        "time_range=forever",
        "range=365d",
        "time_range=custom",
        "time_range=custom&from=2026-01-01",
        "time_range=custom&from=2026-02-30&to=2026-03-01",
        "time_range=custom&from=2026-03-01&to=2026-02-01",
        "time_range=custom&from=2022-01-01&to=2026-01-01",
        "time_range=30d&from=2026-01-01",
        "time_range=30d&range=7d",
        "tenant_id=2",
    ];
    for path in ["/crm/marketing/combined-stats", "/crm/marketing/stats", "/crm/marketing/stats/roi"] {
        for q in bad {
            let uri = format!("{path}?{q}");
            let (status, body) = call(&env, &uri, 39).await;
            assert_eq!(status, 400, "{uri}: {body}");
            assert_eq!(body["success"], false, "{uri}");
            assert_eq!(body["error"]["code"], "invalid_parameter", "{uri}");
            assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{uri}");
        }
    }
    let (_, body) = call(&env, "/crm/marketing/stats?time_range=forever", 39).await;
    assert!(body["detail"]
        .as_str()
        .expect("detail")
        .contains("last_30d, last_90d, this_year, all, 7d, 30d, 90d, this_month, last_month, custom"));
}

#[tokio::test]
async fn all_reads_monthly_rollups_from_the_first_data() {
    let env = TestEnv::new().await;
    let t = 40;
    profile(&env, t, "UTC", Some("USD")).await;
    connect(&env, t, &["act_1"]).await;
    send(
        &env,
        vec![
            lead(t, "L-old", "2025-03-15T10:00:00Z", "META_ADS", Some("c1"), None),
            lead(t, "L-new", "2026-11-20T10:00:00Z", "META_ADS", Some("c1"), None),
            sale(t, "S-old", "L-old", 30_000, "USD", "2025-06-02T10:00:00Z"),
        ],
    )
    .await;
    spend(&env, t, "act_1", "USD", d(2025, 3, 15), vec![row("c1", "C1", 1_000, None)], vec![]).await;
    // A restated day overwrites: the month rollup must follow.
    spend(&env, t, "act_1", "USD", d(2025, 4, 10), vec![row("c1", "C1", 9_999, None)], vec![]).await;
    spend(&env, t, "act_1", "USD", d(2025, 4, 10), vec![row("c1", "C1", 2_000, None)], vec![]).await;
    spend(&env, t, "act_1", "USD", d(2026, 11, 20), vec![row("c1", "C1", 3_000, None)], vec![]).await;

    let (status, body) = call(&env, "/crm/marketing/stats?time_range=all", t).await;
    assert_eq!(status, 200, "{body}");
    let s = &body["data"];
    assert_eq!(s["period"]["from"], "2025-03-01");
    assert_eq!(s["series"]["granularity"], "month");
    assert_eq!(s["series"]["points"].as_array().expect("points").len(), 21); // Mar 2025 ..= Nov 2026
    assert_eq!(
        (s["leads"].clone(), s["revenue_minor"].clone(), s["spend_minor"].clone()),
        (json!(2), json!(30_000), json!(6_000))
    );
    assert_eq!(s["series"]["points"][1]["spend_minor"], 2_000);

    let dash = load_dashboard((&env.app).into(), TenantId(t), &[("time_range".into(), "all".into())], "all", t0())
        .await
        .expect("load");
    assert!(dash.cost.items_read <= 100, "{:?}", dash.cost);
}

#[tokio::test]
async fn read_cost_does_not_grow_with_leads() {
    let env = TestEnv::new().await;
    let t = 41;
    profile(&env, t, "UTC", Some("USD")).await;
    connect(&env, t, &["act_1"]).await;
    for day in 0..30 {
        spend(
            &env,
            t,
            "act_1",
            "USD",
            d(2026, 10, 26) + Duration::days(day),
            vec![row("c1", "C1", 1_000, None)],
            vec![],
        )
        .await;
    }
    let q = [("range".to_string(), "30d".to_string())];
    let mut costs = Vec::new();
    for batch in 0..2 {
        // First one lead on each of the 30 days, then 60 more on the same days.
        let (n, step) = if batch == 0 { (30, 24) } else { (60, 11) };
        let events: Vec<Value> = (0..n)
            .map(|i| {
                let at = (Utc.with_ymd_and_hms(2026, 10, 26, 12, 0, 0).single().expect("t")
                    + Duration::hours(step * i))
                .to_rfc3339();
                lead(t, &format!("L-{batch}-{i}"), &at, "META_ADS", Some("c1"), None)
            })
            .collect();
        send(&env, events).await;
        let dash = load_dashboard((&env.app).into(), TenantId(t), &q, "30d", t0()).await.expect("load");
        costs.push((dash.headline().leads, dash.cost.items_read));
    }
    assert_eq!(costs[0].0, 30);
    assert_eq!(costs[1].0, 90);
    assert_eq!(costs[0].1, costs[1].1, "items read must not depend on the number of leads: {costs:?}");
    // 2 GetItems + ≤ 30 day aggregates + 30 spend days + 1 freshness item.
    assert!(costs[1].1 <= 63, "{costs:?}");
}

#[tokio::test]
async fn all_for_a_young_tenant_is_a_daily_series_from_its_first_day() {
    let env = TestEnv::new().await;
    let t = 42;
    profile(&env, t, "UTC", Some("USD")).await;
    send(&env, vec![lead(t, "L1", "2026-11-10T10:00:00Z", "META_ADS", None, None)]).await;
    let (status, body) = call(&env, "/crm/marketing/combined-stats?time_range=all", t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["period"]["from"], "2026-11-01");
    assert_eq!(body["data"]["meta"]["roi"]["leads"], 1);
    let (_, body) = call(&env, "/crm/marketing/stats?time_range=all", t).await;
    assert_eq!(body["data"]["series"]["granularity"], "day");
    assert_eq!(body["data"]["series"]["points"].as_array().expect("points").len(), 24);
    // Nov 1 ..= 24
}

#[tokio::test]
async fn calendar_ranges_and_custom_ranges_select_their_days() {
    let env = TestEnv::new().await;
    let t = 43;
    profile(&env, t, "UTC", Some("USD")).await;
    send(
        &env,
        vec![
            lead(t, "Oct", "2026-10-31T23:00:00Z", "META_ADS", None, None),
            lead(t, "Nov", "2026-11-01T00:30:00Z", "META_ADS", None, None),
            lead(t, "Jan", "2026-01-15T10:00:00Z", "META_ADS", None, None),
        ],
    )
    .await;
    let leads = |body: &Value| body["data"]["leads"].as_i64().expect("leads");
    assert_eq!(leads(&call(&env, "/crm/marketing/stats?range=this_month", t).await.1), 1);
    assert_eq!(leads(&call(&env, "/crm/marketing/stats?range=last_month", t).await.1), 1);
    assert_eq!(leads(&call(&env, "/crm/marketing/stats?range=this_year", t).await.1), 3);
    let (_, body) = call(&env, "/crm/marketing/stats?time_range=custom&from=2026-01-01&to=2026-01-31", t).await;
    assert_eq!((leads(&body), body["data"]["series"]["points"].as_array().expect("points").len()), (1, 31));
}

#[tokio::test]
async fn rows_without_synced_spend_use_the_names_leads_brought() {
    let env = TestEnv::new().await;
    let t = 44;
    profile(&env, t, "UTC", Some("USD")).await;
    let at = "2026-11-20T10:00:00Z";
    send(
        &env,
        vec![crm_event(
            "lead.created",
            t,
            "e-named",
            at,
            "lead",
            json!({"id": "L1", "created_at": at, "source": "META_ADS", "campaign_id": "c5", "campaign_name": "Spring Sale",
                   "ad_id": "a5", "ad_name": "Carousel B"}),
        )],
    )
    .await;
    let (_, body) = call(&env, "/crm/marketing/combined-stats?time_range=last_30d", t).await;
    let c = &body["data"]["meta"]["campaigns"];
    assert_eq!(
        (c["campaigns"][0]["ad_id"].clone(), c["campaigns"][0]["ad_name"].clone()),
        (json!("c5"), json!("Spring Sale"))
    );
    let ad = &c["creatives"][0];
    assert_eq!(
        (ad["ad_name"].clone(), ad["campaign_name"].clone(), ad["leads"].clone()),
        (json!("Carousel B"), json!("Spring Sale"), json!(1))
    );
    assert_eq!(ad["status"], "unknown");
}

/// The `make dev` demo data goes through the real write paths; its dashboard must be coherent:
/// campaign and creative rows add up to the Meta totals beside them, in one currency.
#[tokio::test]
async fn demo_seed_gives_a_coherent_dashboard_where_rows_add_up_to_totals() {
    use local_stack::demo;
    let env = TestEnv::new().await;
    demo::seed(env.app.profiles.as_ref(), t0()).await.expect("profile");
    let applied = demo::seed_dashboard(&env.store, t0(), 10).await.expect("demo data");
    assert!(applied > 30, "{applied} events");
    connect(&env, demo::DEMO_TENANT.0, &[demo::DEMO_AD_ACCOUNT]).await;

    let body = body_json(
        &marketing_combined_stats::handle(&env.app, get("/crm/marketing/combined-stats?time_range=last_30d", 1, "ceo"))
            .await,
    );
    let meta = &body["data"]["meta"];
    assert_eq!(meta["meta_connected"], true);
    let roi = &meta["roi"];
    let rows = meta["campaigns"]["campaigns"].as_array().expect("campaign rows");
    let ads = meta["campaigns"]["creatives"].as_array().expect("creative rows");
    assert_eq!(rows.len(), 3);
    assert_eq!(ads.len(), 6);
    let sum = |rows: &[Value], k: &str| rows.iter().map(|r| r[k].as_i64().unwrap_or(0)).sum::<i64>();
    let leads = roi["leads"].as_i64().expect("leads");
    assert!(leads > 0 && roi["sales"].as_i64().unwrap_or(0) > 0);
    assert_eq!(sum(rows, "leads"), leads, "campaign rows' leads add up to the Meta total");
    assert_eq!(sum(ads, "leads"), leads, "creative rows' leads add up to the Meta total");
    assert_eq!(sum(rows, "opportunities"), roi["opportunities"].as_i64().expect("opps"));
    assert_eq!(sum(rows, "spend_minor"), roi["total_spend_minor"].as_i64().expect("spend"));
    assert_eq!(sum(ads, "spend_minor"), roi["total_spend_minor"].as_i64().expect("spend"));
    assert_eq!(sum(rows, "revenue_minor"), roi["total_revenue_minor"].as_i64().expect("revenue"));
    assert!(rows.iter().chain(ads).all(|r| r["currency"] == "ARS"));
    assert_eq!(meta["campaigns"]["account_total_spend_minor"], roi["total_spend_minor"]);
    // The demo reports in its sales currency from the start (not the ad account's).
    assert_eq!(meta["currency"], "ARS");
    let profile = env.app.profiles.get_profile(demo::DEMO_TENANT).await.expect("profile").expect("demo profile");
    assert_eq!(profile.currency.map(|c| c.code().to_string()), Some("ARS".into()));
    // A USD-billed account's spend would be converted at the demo's manual rate.
    use crm_shared::store::fx_rates::FxRateStore;
    let (rates, _) = env
        .store
        .fx_rates(demo::DEMO_TENANT, Currency::USD, Currency::parse("ARS").expect("ARS"), d(2026, 11, 24))
        .await
        .expect("rates");
    assert_eq!(rates.iter().map(|r| r.rate.to_string()).collect::<Vec<_>>(), vec![demo::DEMO_USD_RATE.to_string()]);
}

// ------------------------------------------------------------------ FX rates + campaigns API

async fn call_campaigns(env: &TestEnv, uri: &str, t: i64) -> (u16, Value) {
    let req = get(uri, t, "setter");
    let path = uri.split('?').next().unwrap_or(uri);
    let resp = if path.ends_with("/insights") {
        marketing_campaign_insights::handle(&env.app, req).await
    } else if path == "/crm/marketing/campaigns" {
        marketing_campaigns::handle(&env.app, req).await
    } else {
        marketing_campaign::handle(&env.app, req).await
    };
    (resp.status().as_u16(), body_json(&resp))
}

/// ARS sales, a USD ad account: campaign 111 (2 CRM leads, 1 sale of 300,000.00 ARS) spent
/// 100.00 USD on Nov 20 and 200.00 USD on Nov 21; campaign 222 (1 lead) 50.00 USD on Nov 20.
/// Rates: 1000 ARS/USD from Nov 1, 1100 from Nov 21 — set through the endpoint.
#[tokio::test]
async fn fx_rates_round_trip_and_campaigns_join_converted_spend_with_crm_numbers() {
    use crm_shared::store::fx_rates::FxRateStore;
    let env = TestEnv::new().await;
    let t = 41;
    profile(&env, t, "UTC", Some("ARS")).await;
    connect(&env, t, &["act_41"]).await;
    send(
        &env,
        vec![
            lead(t, "L1", "2026-11-20T10:00:00Z", "META_ADS", Some("111"), None),
            lead(t, "L2", "2026-11-20T11:00:00Z", "META_ADS", Some("111"), None),
            lead(t, "L3", "2026-11-20T12:00:00Z", "META_ADS", Some("222"), None),
            opp(t, "O1", "L1", "2026-11-21T09:00:00Z"),
            sale(t, "S1", "L1", 30_000_000, "ARS", "2026-11-22T09:00:00Z"),
        ],
    )
    .await;
    let c = |id: &str, s| row(id, &format!("Campaign {id}"), s, None);
    spend(&env, t, "act_41", "USD", d(2026, 11, 20), vec![c("111", 10_000), c("222", 5_000)], vec![]).await;
    spend(&env, t, "act_41", "USD", d(2026, 11, 21), vec![c("111", 20_000)], vec![]).await;

    // Before any rate: ratios null with a reason, never 0.
    let (status, body) = call_campaigns(&env, "/crm/marketing/campaigns?time_range=30d", t).await;
    assert_eq!(status, 200, "{body}");
    let first = &body["data"][0];
    assert_eq!((first["roi"].clone(), first["cpa_minor"].clone()), (Value::Null, Value::Null), "{first}");
    assert!(first["reason"].as_str().is_some_and(|r| r.starts_with("no_fx_rate")));

    // PUT /fx-rates (manage role), stored exactly in DynamoDB.
    let rates = json!({"rates": [
        {"from": "USD", "to": "ARS", "rate": "1000", "effective_from": "2026-11-01"},
        {"from": "USD", "to": "ARS", "rate": "1100.5", "effective_from": "2026-11-21"},
    ]});
    let put = request("PUT", "/crm/marketing/fx-rates", Some(&jwt(t, "admin")), Some(ADMIN_TOKEN), Some(rates));
    let resp = marketing_fx_rates::handle(&env.app, put).await;
    assert_eq!(resp.status(), 200, "{}", body_json(&resp));
    let ars = Currency::parse("ARS").expect("ARS");
    let (stored, _) = env.store.fx_rates(TenantId(t), Currency::USD, ars, d(2026, 11, 30)).await.expect("read");
    let stored: Vec<(String, i64)> = stored.iter().map(|r| (r.rate.to_string(), r.rate.0)).collect();
    assert_eq!(stored, vec![("1000".into(), 1_000_000_000_000), ("1100.5".into(), 1_100_500_000_000)]);
    let bad = json!({"rates": [{"from": "USD", "to": "ARS", "rate": "1,5", "effective_from": "2026-11-01"}]});
    let put = request("PUT", "/crm/marketing/fx-rates", Some(&jwt(t, "admin")), Some(ADMIN_TOKEN), Some(bad));
    let resp = marketing_fx_rates::handle(&env.app, put).await;
    assert_eq!(resp.status(), 400);
    assert!(body_json(&resp)["detail"].as_str().is_some_and(|d| d.contains("rate")));
    let put = request("PUT", "/crm/marketing/fx-rates", Some(&jwt(t, "setter")), Some(ADMIN_TOKEN), Some(json!({})));
    assert_eq!(marketing_fx_rates::handle(&env.app, put).await.status(), 403);

    // The list: by spend, in ARS. 111: 100 × 1000 + 200 × 1100.5 = 100,000 + 220,100 ARS.
    let (status, body) = call_campaigns(&env, "/crm/marketing/campaigns?time_range=30d", t).await;
    assert_eq!(status, 200, "{body}");
    // `data` is the array of rows (the frontend's client); what is said about them sits beside it.
    let list = &body;
    assert!(body["data"].is_array(), "{body}");
    assert_eq!((list["total"].clone(), list["currency"].clone()), (json!(2), json!("ARS")));
    let c111 = &list["data"][0];
    assert_eq!((c111["id"].clone(), c111["status"].clone()), (json!("111"), json!("ACTIVE")));
    assert_eq!(c111["spend_minor"], 32_010_000);
    assert_eq!(
        (c111["spend_billed_minor"].clone(), c111["spend_billed_currency"].clone()),
        (json!(30_000), json!("USD"))
    );
    assert_eq!(
        (c111["leads"].clone(), c111["meta_leads"].clone(), c111["lead_gap"].clone()),
        (json!(2), json!(4), json!(2))
    );
    assert_eq!((c111["opportunities"].clone(), c111["revenue_minor"].clone()), (json!(1), json!(30_000_000)));
    assert_eq!(c111["cpa_minor"], 16_005_000);
    assert_eq!(c111["roi"], json!(-0.0628)); // (30,000,000 − 32,010,000) / 32,010,000
    assert_eq!(
        (c111["impressions"].clone(), c111["clicks"].clone(), c111["ctr"].clone()),
        (json!(2000), json!(100), json!(5.0))
    );
    assert_eq!((c111["cpc_minor"].clone(), c111["cpm_minor"].clone()), (json!(320_100), json!(16_005_000)));
    let c222 = &list["data"][1];
    assert_eq!(
        (c222["id"].clone(), c222["spend_minor"].clone(), c222["roi"].clone()),
        (json!("222"), json!(5_000_000), json!(-1.0))
    );
    assert_eq!(list["fx"]["rates"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["fx"]["rates"][0]["source"], "manual");

    // Filters and paging.
    let (_, body) = call_campaigns(&env, "/crm/marketing/campaigns?status=paused", t).await;
    assert_eq!(body["data"], json!([]));
    let (_, body) = call_campaigns(&env, "/crm/marketing/campaigns?status=ACTIVE&limit=1&offset=1", t).await;
    assert_eq!((body["data"][0]["id"].clone(), body["next_offset"].clone()), (json!("222"), Value::Null));
    let (_, body) = call_campaigns(&env, "/crm/marketing/campaigns?status=active&limit=1", t).await;
    assert_eq!((body["data"][0]["id"].clone(), body["next_offset"].clone()), (json!("111"), json!(1)));

    // One campaign, and its daily rows at each day's rate.
    let (status, body) = call_campaigns(&env, "/crm/marketing/campaigns/111?time_range=30d", t).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["data"]["name"].clone(), body["data"]["status"].clone()),
        (json!("Campaign 111"), json!("ACTIVE"))
    );
    assert_eq!(body["data"]["performance"]["spend_minor"], 32_010_000);
    let roi_pct = body["data"]["performance"]["roi_percentage"].as_f64().map(|v| (v * 100.0).round() as i64);
    assert_eq!(roi_pct, Some(-628)); // −6.28 %
    let (status, body) = call_campaigns(&env, "/crm/marketing/campaigns/111/insights?time_range=7d", t).await;
    assert_eq!(status, 200, "{body}");
    let rows = body["data"]["insights"].as_array().expect("rows");
    let on = |day: &str| rows.iter().find(|r| r["date"] == day).cloned().unwrap_or(Value::Null);
    assert_eq!(
        (on("2026-11-20")["spend_minor"].clone(), on("2026-11-20")["leads"].clone()),
        (json!(10_000_000), json!(2))
    );
    assert_eq!(on("2026-11-21")["spend_minor"], 22_010_000);
    assert_eq!(on("2026-11-22")["revenue_minor"], 30_000_000);

    // Bad parameters → 400; unknown campaign → 404.
    for uri in [
        "/crm/marketing/campaigns?status=running",
        "/crm/marketing/campaigns?limit=0",
        "/crm/marketing/campaigns?offset=x",
        "/crm/marketing/campaigns?time_range=forever",
        "/crm/marketing/campaigns/abc",
        "/crm/marketing/campaigns/111/insights?time_range=zzz",
        "/crm/marketing/campaigns/111/insights?limit=3",
    ] {
        assert_eq!(call_campaigns(&env, uri, t).await.0, 400, "{uri}");
    }
    assert_eq!(call_campaigns(&env, "/crm/marketing/campaigns/999", t).await.0, 404);
}

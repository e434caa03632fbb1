//! Round trips of the read-only routes on moto, counted at the SDK (every DynamoDB operation's
//! start and end, [`local_stack::call_log`]): a warm dashboard request waits for at most two
//! DynamoDB round trips (rate limits beside every read, then the audit record), and the answer is
//! the one the dependency-ordered reads give.

use chrono::{Duration, NaiveDate};
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::money::{Currency, MinorUnits};
use crm_shared::domain::zone::Zone;
use crm_shared::store::spend::{DailySpend, SpendRow, SpendStore};
use crm_shared::store::{MetaConnection, TenantProfile};
use integration_tests::*;
use local_stack::call_log::{measure, record_dynamodb_calls, CallLog, Measured, DASHBOARD_ROUTES};

const T: i64 = 77;
/// Each DynamoDB call answers this late (see `local_stack::call_log`).
const DELAY: std::time::Duration = std::time::Duration::from_millis(100);

fn row(id: &str, spend: i64, campaign: Option<&str>) -> SpendRow {
    SpendRow {
        id: id.into(),
        name: format!("Row {id}"),
        status: "active".into(),
        campaign_id: campaign.map(Into::into),
        campaign_name: campaign.map(|c| format!("Row {c}")),
        spend_minor: MinorUnits(spend),
        impressions: 1000,
        clicks: 50,
        meta_leads: 2,
        settings: None,
    }
}

async fn connect(env: &TestEnv, accounts: &[&str]) {
    // Written over whatever is stored (connection writes are conditional on the revision read).
    let stored = env.app.connections.get_connection(TenantId(T)).await.expect("read connection");
    let conn = MetaConnection {
        revision: stored.and_then(|c| c.revision),
        ..connection_to(T, accounts, t0() - Duration::days(40))
    };
    env.app.connections.put_connection(&conn).await.expect("connection").expect("not raced");
}

/// A tenant in Bogotá with one connected account, spend on campaign 1201 on two days (and on a
/// second account not connected yet), and a Meta lead.
async fn seed(env: &TestEnv) {
    let profile = TenantProfile {
        tenant_id: TenantId(T),
        display_name: "Round trips".into(),
        reporting_time_zone: Zone::parse("America/Bogota").ok(),
        currency: Currency::parse("USD").ok(),
        updated_at: t0() - Duration::days(40),
    };
    env.app.profiles.put_profile(&profile).await.expect("profile");
    connect(env, &["act_1"]).await;
    for (account, day, amount) in [("act_1", 20, 10_000), ("act_1", 21, 5_000), ("act_2", 21, 7_000)] {
        let spend = DailySpend {
            tenant_id: TenantId(T),
            ad_account_id: account.into(),
            date: NaiveDate::from_ymd_opt(2026, 11, day).expect("date"),
            currency: Currency::USD,
            account_time_zone: Some("America/Bogota".into()),
            attribution_setting: "unified".into(),
            synced_at: t0() - Duration::hours(2),
            campaigns: vec![row("1201", amount, None)],
            ads: vec![row("1301", amount, Some("1201"))],
        };
        env.store.put_daily_spend(&spend).await.expect("spend");
    }
    let at = "2026-11-21T15:00:00Z";
    let body =
        serde_json::json!({"id": "L1", "created_at": at, "source": "META_ADS", "campaign_id": "1201", "ad_id": "1301"});
    crm_events::handle_event(&env.app, crm_event("lead.created", T, "e-L1", at, "lead", body)).await.expect("lead");
}

async fn run(env: &TestEnv, log: &CallLog, route: &str, uri: &str) -> Measured {
    let m = measure(&env.app, log, route, get(uri, T, "admin")).await.expect("route");
    assert_eq!(m.status, 200, "{route}: {}", m.body);
    m
}

#[tokio::test]
async fn warm_dashboard_requests_wait_for_at_most_two_dynamodb_round_trips() {
    let mut env = TestEnv::with_env(&[("RATE_LIMIT_PER_MINUTE", "1000")]).await;
    seed(&env).await;
    let log = record_dynamodb_calls(&mut env.app, &env.sdk, DELAY);
    for (route, uri) in DASHBOARD_ROUTES {
        let first = run(&env, &log, route, uri).await;
        let warm = run(&env, &log, route, uri).await;
        assert!(warm.depth <= 2, "{route}: warm depth {} ({})", warm.depth, warm.operations);
        assert!(first.depth <= 3, "{route}: first depth {} ({})", first.depth, first.operations);
        assert!(
            warm.operations.contains("UpdateItem×2") && warm.operations.contains("PutItem"),
            "{route}: {}",
            warm.operations
        );
        assert_eq!(warm.body["data"], first.body["data"], "{route}: the early reads give the same answer");
    }
    // The first dashboard request of the tenant in this container read in order (3 levels); the
    // next ones of any dashboard route read beside the rate limit (2).
    let stats = run(&env, &log, "marketing-stats", DASHBOARD_ROUTES[0].1).await;
    assert_eq!(stats.depth, 2, "{}", stats.operations);
    assert_eq!(stats.body["data"]["spend_minor"], 15_000);

    // The connection changes between two requests: the early reads (one account) are discarded
    // and the period is read again with both accounts — 3 levels once, the right numbers always.
    connect(&env, &["act_1", "act_2"]).await;
    let changed = run(&env, &log, "marketing-stats", DASHBOARD_ROUTES[0].1).await;
    assert_eq!(changed.depth, 3, "{}", changed.operations);
    assert_eq!(changed.body["data"]["spend_minor"], 22_000, "act_2's spend counted: {}", changed.body);
    let again = run(&env, &log, "marketing-stats", DASHBOARD_ROUTES[0].1).await;
    assert_eq!((again.depth, again.body["data"].clone()), (2, changed.body["data"].clone()));
}

#[tokio::test]
async fn a_refused_dashboard_request_is_a_429_whatever_its_reads_found() {
    let mut env = TestEnv::with_env(&[("RATE_LIMIT_PER_MINUTE", "1")]).await;
    seed(&env).await;
    let log = record_dynamodb_calls(&mut env.app, &env.sdk, DELAY);
    let (route, uri) = DASHBOARD_ROUTES[0];
    run(&env, &log, route, uri).await;
    let refused = measure(&env.app, &log, route, get(uri, T, "admin")).await.expect("route");
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.body["error"]["code"], "rate_limited");
    assert!(refused.body.get("data").is_none());
}

//! `make bench-dashboard`: what a dashboard request costs as a tenant grows from 1,000 to 100,000
//! leads, against moto (`AWS_ENDPOINT_URL`), next to a naive per-lead read.
//!
//! Data: leads over the last 3 years, 30 % of them in the last 30 days (70 % `META_ADS` on 10
//! campaigns × 3 ads), an
//! opportunity for 30 % of them and a completed sale for 10 %, plus one Meta spend item per
//! account-day. Loading 100k leads through the event path (one transaction each) would take far
//! too long on moto, so the bench writes the lead/opportunity/sale **entity items** with
//! `BatchWriteItem` and the **aggregate items** it computes with the same counter code the event
//! path uses (`Deltas::bump`); spend days go through the real `put_daily_spend`.
//!
//! Measured per scale: items read (`ScannedCount` summed over queries, plus `GetItem`s) and warm
//! handler latency of `/stats?range=30d` and `/stats?time_range=all`, and the items read and time
//! of the naive approach (query every `LEAD#`/`OPP#`/`SALE#` item of the tenant, filter by date).
//! Prints a markdown table. First it prints, per read-only route, the DynamoDB calls of one request
//! and their sequential depth ([`local_stack::call_log`]), for the first request of the tenant in
//! a container and for a warm one. `BENCH_SCALES=none` prints only that table.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use crm_shared::domain::crm::{AdAttribution, Payment};
use crm_shared::domain::ids::TenantId;
use crm_shared::domain::money::{Currency, MinorUnits};
use crm_shared::domain::zone::Zone;
use crm_shared::events::{Attribution, Deltas};
use crm_shared::marketing::dashboard::load_dashboard;
use crm_shared::platform::auth::sign_hs256;
use crm_shared::platform::clock::ManualClock;
use crm_shared::platform::config::Config;
use crm_shared::platform::secrets::SecretName;
use crm_shared::store::records::{CountedAttribution, LeadRecord, OpportunityRecord, SaleRecord};
use crm_shared::store::spend::{rollup_month, DailySpend, SpendRow};
use crm_shared::store::{keys, to_item, ConnectionStatus, DynamoStore, Item, MetaConnection, TenantProfile};
use crm_shared::App;
use local_stack::call_log::{measure, record_dynamodb_calls, DASHBOARD_ROUTES};
use local_stack::provision::{provision, ResourceNames};
use serde_json::json;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const TENANT: TenantId = TenantId(1);
const ACCOUNT: &str = "act_1001";
const JWT_KEY: &str = "bench-jwt-key-at-least-32-bytes-long";
const ADMIN: &str = "bench-admin-token";
/// Warm runs per measured request (moto answers a query in time proportional to the whole table,
/// so the 100k runs are fewer).
fn warm_runs(scale: usize) -> usize {
    if scale >= 50_000 {
        3
    } else {
        20
    }
}

/// The SDK config of the functions, but with patient timeouts: moto scans its whole table for
/// every `Query`, which takes seconds at 100k leads (DynamoDB's cost follows the items returned).
async fn bench_sdk_config() -> aws_config::SdkConfig {
    crm_shared::platform::sdk_config::load_sdk_config()
        .await
        .into_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(StdDuration::from_secs(5))
                .operation_attempt_timeout(StdDuration::from_secs(300))
                .operation_timeout(StdDuration::from_secs(600))
                .build(),
        )
        .build()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
}

/// Deterministic xorshift, so every run loads the same data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What each DynamoDB call costs in the round-trip table (a DynamoDB-like round trip with margin).
const CALL_DELAY: StdDuration = StdDuration::from_millis(20);

/// Meta ids are digits: campaigns 1200…1209 (`DASHBOARD_ROUTES` asks for 1201), ads 130xy.
fn campaign(c: u64) -> String {
    format!("12{c:02}")
}
fn ad_id(c: u64, a: u64) -> String {
    format!("13{c:02}{a}")
}

struct Row {
    scale: usize,
    load_secs: f64,
    stats30_items: u64,
    stats30_ms: (f64, f64),
    all_items: u64,
    all_ms: (f64, f64),
    naive_items: u64,
    naive_ms: f64,
}

async fn batch_write(store: &DynamoStore, items: Vec<Item>) -> Result<(), BoxError> {
    let mut set = tokio::task::JoinSet::new();
    for chunk in items.chunks(25) {
        let client = store.client.clone();
        let table = store.table.clone();
        let reqs: Vec<WriteRequest> = chunk
            .iter()
            .map(|i| {
                PutRequest::builder()
                    .set_item(Some(i.clone()))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
            })
            .collect::<Result<_, _>>()?;
        set.spawn(async move {
            let mut pending = reqs;
            while !pending.is_empty() {
                let out = client.batch_write_item().request_items(&table, pending).send().await?;
                pending = out.unprocessed_items.and_then(|mut m| m.remove(&table)).unwrap_or_default();
            }
            Ok::<(), BoxError>(())
        });
        while set.len() >= 6 {
            if let Some(r) = set.join_next().await {
                r??;
            }
        }
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// The aggregate items of the bench tenant that `deltas` adds up to.
fn aggregate_items(deltas: &Deltas) -> Vec<Item> {
    let pk = keys::tenant(TENANT);
    let mut aggregates = Vec::with_capacity(deltas.counters.len());
    for (sk, counters) in &deltas.counters {
        let mut item = Item::new();
        item.insert("PK".into(), AttributeValue::S(pk.clone()));
        item.insert("SK".into(), AttributeValue::S(sk.clone()));
        for (k, v) in counters {
            item.insert(k.clone(), AttributeValue::N(v.to_string()));
        }
        aggregates.push(item);
    }
    aggregates
}

/// Loads `n` leads with opportunities and sales, their aggregates, and 3 years of spend days.
async fn load(store: &DynamoStore, n: usize) -> Result<(), BoxError> {
    let pk = keys::tenant(TENANT);
    let zone = crm_shared::domain::zone::Zone::UTC;
    let usd = Currency::parse("USD")?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
    let span_secs = 3 * 365 * 86_400_u64;
    let start = now() - Duration::seconds(span_secs as i64);
    let mut entities: Vec<Item> = Vec::with_capacity(n * 14 / 10);
    let mut deltas = Deltas::default();
    for i in 0..n {
        // A growing business: 30 % of the leads in the last 30 days, the rest over 3 years.
        let created = if rng.below(10) < 3 {
            now() - Duration::seconds(rng.below(30 * 86_400) as i64)
        } else {
            start + Duration::seconds(rng.below(span_secs) as i64)
        };
        let meta = rng.below(10) < 7;
        let camp = rng.below(10);
        let ad = rng.below(3);
        let lead = LeadRecord {
            lead_id: format!("L{i:07}"),
            version: 1,
            counted: true,
            created_at: Some(created),
            source: Some(if meta { "META_ADS" } else { ["WEBSITE", "REFERRAL", "WALK_IN"][i % 3] }.into()),
            attribution: AdAttribution {
                campaign_id: meta.then(|| campaign(camp)),
                ad_id: meta.then(|| ad_id(camp, ad)),
                ..Default::default()
            },
            status: Some("new".into()),
            ..Default::default()
        };
        let attribution = Attribution {
            source: lead.source.clone().unwrap_or_default(),
            campaign_id: lead.attribution.campaign_id.clone(),
            ad_id: lead.attribution.ad_id.clone(),
        };
        deltas.bump("leads", &attribution, created, zone, 1);
        let mut lead = lead;
        let roll = rng.below(100);
        if roll < 30 {
            let opp_at = (created + Duration::hours(rng.below(96) as i64)).min(now());
            deltas.bump("opps", &attribution, opp_at, zone, 1);
            entities.push(to_item(
                pk.clone(),
                &keys::opportunity(&format!("O{i:07}")),
                &OpportunityRecord {
                    opportunity_id: format!("O{i:07}"),
                    version: 1,
                    counted: true,
                    lead_id: Some(lead.lead_id.clone()),
                    created_at: Some(opp_at),
                    status: Some("pending".into()),
                    counted_under: CountedAttribution::from(&attribution),
                    ..Default::default()
                },
            )?);
            if roll < 10 {
                let sale_at = (opp_at + Duration::hours(rng.below(240) as i64)).min(now());
                let amount = MinorUnits(5_000 + 100 * rng.below(4_500) as i64);
                deltas.bump("sales", &attribution, sale_at, zone, 1);
                deltas.bump("revenue__USD", &attribution, sale_at, zone, amount.0);
                deltas.bump("customers", &attribution, sale_at, zone, 1);
                lead.first_sale_at = Some(sale_at);
                entities.push(to_item(
                    pk.clone(),
                    &keys::sale(&format!("S{i:07}")),
                    &SaleRecord {
                        sale_id: format!("S{i:07}"),
                        lead_id: lead.lead_id.clone(),
                        opportunity_id: Some(format!("O{i:07}")),
                        payment: Payment { amount_minor: amount, currency: usd, completed_at: sale_at },
                        counted_under: CountedAttribution::from(&attribution),
                    },
                )?);
            }
        }
        entities.push(to_item(pk.clone(), &keys::lead(&lead.lead_id), &lead)?);
    }
    batch_write(store, entities).await?;
    batch_write(store, aggregate_items(&deltas)).await?;

    // One spend item per account-day (10 campaign rows + 30 ad rows) and the monthly rollups
    // computed from them by the same merge code the sync's writer uses.
    let first_day: NaiveDate = start.date_naive();
    let days = (now().date_naive() - first_day).num_days();
    let mut by_month: BTreeMap<String, Vec<DailySpend>> = BTreeMap::new();
    for d in 0..=days {
        let date = first_day + Duration::days(d);
        let mut campaigns = Vec::new();
        let mut ads = Vec::new();
        for c in 0..10 {
            let spend = 1_000 + 10 * rng.below(500) as i64;
            let row = |id: String, name: String, s: i64, camp: Option<(String, String)>| SpendRow {
                id,
                name,
                status: "active".into(),
                campaign_id: camp.as_ref().map(|c| c.0.clone()),
                campaign_name: camp.map(|c| c.1),
                spend_minor: MinorUnits(s),
                impressions: 1_000,
                clicks: 40,
                meta_leads: 3,
                settings: None,
            };
            campaigns.push(row(campaign(c), format!("Campaign {c}"), spend, None));
            for a in 0..3 {
                ads.push(row(
                    ad_id(c, a),
                    format!("Ad {c}.{a}"),
                    spend / 3,
                    Some((campaign(c), format!("Campaign {c}"))),
                ));
            }
        }
        by_month.entry(date.format("%Y-%m").to_string()).or_default().push(DailySpend {
            tenant_id: TENANT,
            ad_account_id: ACCOUNT.into(),
            date,
            currency: usd,
            account_time_zone: Some("UTC".into()),
            attribution_setting: "unified".into(),
            synced_at: now() - Duration::hours(1),
            campaigns,
            ads,
        });
    }
    let mut spend_items = Vec::new();
    for days in by_month.values() {
        for day in days {
            spend_items.push(to_item(pk.clone(), &keys::spend_day(ACCOUNT, day.date), day)?);
        }
        if let Some(m) = rollup_month(days) {
            spend_items.push(to_item(pk.clone(), &keys::spend_month(ACCOUNT, m.month), &m)?);
        }
    }
    let mut sync = Item::new();
    sync.insert("PK".into(), AttributeValue::S(pk.clone()));
    sync.insert("SK".into(), AttributeValue::S(keys::spend_sync(ACCOUNT)));
    sync.insert("synced_at".into(), AttributeValue::S((now() - Duration::hours(1)).to_rfc3339()));
    spend_items.push(sync);
    batch_write(store, spend_items).await?;
    Ok(())
}

/// The naive read: every lead/opportunity/sale item of the tenant, filtered by date.
async fn naive(store: &DynamoStore, from: DateTime<Utc>) -> Result<u64, BoxError> {
    let mut scanned = 0_u64;
    for (prefix, field) in [("LEAD#", "created_at"), ("OPP#", "created_at"), ("SALE#", "completed_at")] {
        let mut start: Option<Item> = None;
        loop {
            let out = store
                .client
                .query()
                .table_name(&store.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
                .filter_expression("#f >= :from")
                .expression_attribute_names("#f", field)
                .expression_attribute_values(":pk", AttributeValue::S(keys::tenant(TENANT)))
                .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
                .expression_attribute_values(":from", AttributeValue::S(from.to_rfc3339()))
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            scanned += u64::try_from(out.scanned_count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
    }
    Ok(scanned)
}

fn request(uri: &str) -> Result<lambda_http::Request, BoxError> {
    let jwt = sign_hs256(
        &json!({"user_id": "bench", "role": "admin", "tenant_id": TENANT.0, "exp": now().timestamp() + 86_400}),
        JWT_KEY.as_bytes(),
    );
    Ok(lambda_http::http::Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {jwt}"))
        .header("x-admin-token", ADMIN)
        .body(lambda_http::Body::Empty)?)
}

/// Median and p95 of warm handler latency, in ms.
async fn latency(app: &App, uri: &str, runs: usize) -> Result<(f64, f64), BoxError> {
    let first = marketing_stats::handle(app, request(uri)?).await;
    if first.status() != 200 {
        return Err(format!("{uri} answered {}", first.status()).into());
    }
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let resp = marketing_stats::handle(app, request(uri)?).await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if resp.status() != 200 {
            return Err(format!("{uri} answered {}", resp.status()).into());
        }
    }
    ms.sort_by(f64::total_cmp);
    let p95 = ms[((ms.len() * 95).div_ceil(100)).saturating_sub(1).min(ms.len() - 1)];
    Ok((ms[ms.len() / 2], p95))
}

/// Per read-only route: DynamoDB calls and sequential depth of the first request of the tenant in
/// a container (no remembered zone and accounts) and of a warm one, as a markdown table. On a
/// small table of its own (moto's `Query` time grows with the table, DynamoDB's does not), so
/// the warm latency is the round trips': about depth × [`CALL_DELAY`].
async fn round_trips(sdk: &aws_config::SdkConfig) -> Result<(), BoxError> {
    let (app, store) = world(sdk).await?;
    let mut deltas = Deltas::default();
    let meta = Attribution { source: "META_ADS".into(), campaign_id: Some(campaign(1)), ad_id: Some(ad_id(1, 0)) };
    for i in 0..10 {
        deltas.bump("leads", &meta, now() - Duration::days(i % 5), crm_shared::domain::zone::Zone::UTC, 1);
    }
    batch_write(&store, aggregate_items(&deltas)).await?;
    for day in 0..5 {
        let row = |id: String, camp: Option<String>| SpendRow {
            id,
            name: "Bench".into(),
            status: "active".into(),
            campaign_name: camp.as_ref().map(|_| "Bench".into()),
            campaign_id: camp,
            spend_minor: MinorUnits(1_000),
            impressions: 100,
            clicks: 4,
            meta_leads: 2,
            settings: None,
        };
        let spend = DailySpend {
            tenant_id: TENANT,
            ad_account_id: ACCOUNT.into(),
            date: now().date_naive() - Duration::days(day),
            currency: Currency::USD,
            account_time_zone: Some("UTC".into()),
            attribution_setting: "unified".into(),
            synced_at: now() - Duration::hours(1),
            campaigns: vec![row(campaign(1), None)],
            ads: vec![row(ad_id(1, 0), Some(campaign(1)))],
        };
        crm_shared::store::spend::SpendStore::put_daily_spend(&store, &spend).await?;
    }
    let mut probe = app.clone();
    let log = record_dynamodb_calls(&mut probe, sdk, CALL_DELAY);
    println!(
        "| route | DynamoDB calls | operations | sequential depth, first request | sequential depth, warm | warm latency at {} ms a call |",
        CALL_DELAY.as_millis()
    );
    println!("|---|---:|---|---:|---:|---:|");
    for (route, uri) in DASHBOARD_ROUTES {
        // Each function is its own Lambda: its container starts without the tenant's zone and accounts.
        probe.dashboard_scopes = Arc::default();
        let first = measure(&probe, &log, route, request(uri)?).await?;
        let t = Instant::now();
        let warm = measure(&probe, &log, route, request(uri)?).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if warm.status != 200 {
            return Err(format!("{uri} answered {}: {}", warm.status, warm.body).into());
        }
        println!(
            "| `{route}` | {} | {} | {} | {} | {ms:.0} ms |",
            warm.calls, warm.operations, first.depth, warm.depth
        );
    }
    println!();
    Ok(())
}

/// A fresh table with the bench tenant's profile (UTC, USD) and connection (one ad account).
async fn world(sdk: &aws_config::SdkConfig) -> Result<(App, DynamoStore), BoxError> {
    let names = ResourceNames::unique("bench");
    let secrets = vec![(SecretName::JwtSecretKey, JWT_KEY.to_string()), (SecretName::AdminToken, ADMIN.to_string())];
    let provisioned = provision(sdk, &names, &secrets).await?;
    let mut env = provisioned.env();
    env.push(("RATE_LIMIT_PER_MINUTE".into(), "100000".into()));
    let config = Config::from_lookup(|k| env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()))?;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), config.table_name.clone());
    let app = App::with_aws(config, sdk, Arc::new(ManualClock::new(now())))?;
    app.profiles
        .put_profile(&TenantProfile {
            tenant_id: TENANT,
            display_name: "Bench".into(),
            reporting_time_zone: Zone::parse("UTC").ok(),
            currency: Currency::parse("USD").ok(),
            updated_at: now(),
        })
        .await?;
    app.connections
        .put_connection(&MetaConnection {
            tenant_id: TENANT,
            token_ciphertext_b64: "YmVuY2g=".into(),
            status: ConnectionStatus::Active,
            meta_user_id: None,
            expires_at: Some(now() + Duration::days(50)),
            data_access_expires_at: None,
            scopes: vec!["ads_read".into()],
            business_id: None,
            business_name: None,
            ad_account_ids: vec![ACCOUNT.into()],
            ad_account_name: None,
            connected_at: now(),
            connected_by: "bench".into(),
            updated_at: now(),
            revision: None,
        })
        .await?
        .map_err(|_| "bench tenant already connected")?;
    Ok((app, store))
}

async fn run_scale(scale: usize) -> Result<Row, BoxError> {
    let sdk = bench_sdk_config().await;
    let (app, store) = world(&sdk).await?;
    let t = Instant::now();
    load(&store, scale).await?;
    let load_secs = t.elapsed().as_secs_f64();
    eprintln!("bench: loaded {scale} leads in {load_secs:.1} s");

    let q30 = [("range".to_string(), "30d".to_string())];
    let qall = [("time_range".to_string(), "all".to_string())];
    let d30 = load_dashboard((&app).into(), TENANT, &q30, "30d", now()).await?;
    let dall = load_dashboard((&app).into(), TENANT, &qall, "all", now()).await?;
    let stats30_ms = latency(&app, "/crm/marketing/stats?range=30d", warm_runs(scale)).await?;
    let all_ms = latency(&app, "/crm/marketing/stats?time_range=all", warm_runs(scale)).await?;
    let t = Instant::now();
    let naive_items = naive(&store, now() - Duration::days(30)).await?;
    let naive_ms = t.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "bench: {scale} leads: 30d read {} items, all read {}, naive {naive_items}",
        d30.cost.items_read, dall.cost.items_read
    );
    Ok(Row {
        scale,
        load_secs,
        stats30_items: d30.cost.items_read,
        stats30_ms,
        all_items: dall.cost.items_read,
        all_ms,
        naive_items,
        naive_ms,
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        return Err("AWS_ENDPOINT_URL must point at a moto server (run scripts/bench-dashboard.sh)".into());
    }
    let scales: Vec<usize> = std::env::var("BENCH_SCALES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| {
            if std::env::var("BENCH_SCALES").is_ok_and(|s| s == "none") {
                vec![]
            } else {
                vec![1_000, 100_000]
            }
        });
    let mut rows = BTreeMap::new();
    round_trips(&bench_sdk_config().await).await?;
    for s in scales {
        rows.insert(s, run_scale(s).await?);
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    if rows.is_empty() {
        return Ok(());
    }
    println!("| leads (+30 % opps, 10 % sales) | load | `/stats` 30d: items read | 30d warm latency p50 / p95 | `/stats` all (3 y): items read | all warm latency p50 / p95 | naive per-lead 30d: items read | naive time | naive ÷ ours (items) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows.values() {
        println!(
            "| {} | {:.0} s | {} | {:.1} / {:.1} ms | {} | {:.1} / {:.1} ms | {} | {:.0} ms | {:.0}× |",
            r.scale,
            r.load_secs,
            r.stats30_items,
            r.stats30_ms.0,
            r.stats30_ms.1,
            r.all_items,
            r.all_ms.0,
            r.all_ms.1,
            r.naive_items,
            r.naive_ms,
            r.naive_items as f64 / r.stats30_items.max(1) as f64,
        );
    }
    Ok(())
}

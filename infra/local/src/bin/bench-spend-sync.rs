//! `make bench-spend-sync`: the Meta spend sync at scale, against moto (`AWS_ENDPOINT_URL`) and the
//! Sandbox Meta with a fixed latency on every Graph call.
//!
//! - **fan-out**: `BENCH_TENANTS` (10,000) tenants in the connected index; the real fan-out pages
//!   the index and puts one `spend-sync.requested` per tenant on moto's EventBridge bus
//!   (`PutEvents` in batches of 10). Measured: wall time, events published, `PutEvents` calls.
//! - **per tenant**: `BENCH_SAMPLE` (20) of them get a real connection (a KMS-encrypted sandbox
//!   token, one ad account, the 28-day window) and are synced one after the other through the
//!   real tenant mode (spend + lead reconciliation). Measured: time per tenant (p50 / p95) and
//!   Graph calls per tenant.
//! - **projection**: a full run's wall time at Lambda concurrency C = fan-out + ⌈N / C⌉ × p50
//!   per-tenant time (each tenant is one Lambda invocation; moto's own latency is in the numbers).
//!
//! `BENCH_LATENCY_MS` (50) sets the sandbox's per-call latency. Prints a markdown table.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use chrono::{Duration, Utc};
use crm_shared::domain::ids::TenantId;
use crm_shared::meta::insights::{fan_out, sync_tenant, TenantOutcome};
use crm_shared::platform::clock::SystemClock;
use crm_shared::platform::config::Config;
use crm_shared::platform::retry::TokioSleeper;
use crm_shared::platform::secrets::{SecretName, SecretString};
use crm_shared::store::connected_index::ConnectedTenant;
use crm_shared::store::{ConnectionStatus, MetaConnection};
use crm_shared::App;
use local_stack::provision::{provision, ResourceNames};
use local_stack::sandbox_meta::{ad_account_id, SandboxMeta};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const APP_ID: &str = "bench-app";
const APP_SECRET: &str = "bench-app-secret";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        return Err("AWS_ENDPOINT_URL must point at a moto server (run scripts/bench-spend-sync.sh)".into());
    }
    let tenants = env_num("BENCH_TENANTS", 10_000).max(1);
    let sample = env_num("BENCH_SAMPLE", 20).clamp(1, tenants);
    let latency_ms = env_num("BENCH_LATENCY_MS", 50);

    let sandbox = SandboxMeta::start("127.0.0.1:0".parse()?, APP_ID, APP_SECRET).await?;
    sandbox.with(|s| {
        s.latency_ms = latency_ms;
        // Meta's `limit=100`, as the client asks.
        s.page_size = 100;
    });
    let sdk = crm_shared::platform::sdk_config::load_sdk_config().await;
    let names = ResourceNames::unique("bench-sync");
    let secrets = vec![(SecretName::JwtSecretKey, "bench-jwt-key-at-least-32-bytes-long".to_string())];
    let provisioned = provision(&sdk, &names, &secrets).await?;
    let mut env = provisioned.env();
    env.push(("META_APP_ID".into(), APP_ID.into()));
    env.push(("META_APP_SECRET".into(), APP_SECRET.into()));
    env.push(("META_GRAPH_BASE_URL".into(), sandbox.base_url()));
    let config = Config::from_lookup(|k| env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()))?;
    let app = App::with_aws(config, &sdk, Arc::new(SystemClock))?;
    let now = Utc::now();

    // The connected index for every tenant; a real connection for the sampled ones.
    let t = Instant::now();
    for i in 1..=tenants as i64 {
        app.connected_index.mark_connected(&ConnectedTenant { tenant_id: TenantId(i), connected_at: now }).await?;
    }
    for i in 1..=sample as i64 {
        let token = format!("EAALbench{i}");
        sandbox.with(|s| s.issue_token(&token, &format!("bench-user-{i}")));
        let ciphertext = app.cipher.encrypt(TenantId(i), &SecretString::new(&token)).await?;
        app.connections
            .put_connection(&MetaConnection {
                tenant_id: TenantId(i),
                token_ciphertext_b64: base64::engine::general_purpose::STANDARD.encode(ciphertext),
                status: ConnectionStatus::Active,
                meta_user_id: Some(format!("bench-user-{i}")),
                expires_at: Some(now + Duration::days(50)),
                data_access_expires_at: None,
                scopes: vec!["ads_read".into(), "leads_retrieval".into()],
                business_id: None,
                business_name: None,
                ad_account_ids: vec![ad_account_id(1, true, 1)],
                ad_account_name: None,
                connected_at: now,
                connected_by: "bench".into(),
                updated_at: now,
                revision: None,
            })
            .await?
            .map_err(|_| "bench tenant already connected")?;
    }
    eprintln!("bench: {tenants} tenants indexed, {sample} connected in {:.1} s", t.elapsed().as_secs_f64());

    // Fan-out over the whole index, through moto's EventBridge.
    let t = Instant::now();
    let fanned = fan_out(app.connected_index.as_ref(), app.job_bus.as_ref(), &TokioSleeper).await?;
    let fan_out_secs = t.elapsed().as_secs_f64();
    eprintln!("bench: fan-out {fanned:?} in {fan_out_secs:.1} s");

    // The sampled tenants' syncs, one at a time.
    let mut times = Vec::new();
    let mut calls = Vec::new();
    for i in 1..=sample as i64 {
        let before = sandbox.with(|s| s.calls.len());
        let t = Instant::now();
        let synced = sync_tenant((&app).into(), TenantId(i), Arc::new(TokioSleeper)).await;
        times.push(t.elapsed().as_secs_f64());
        calls.push(sandbox.with(|s| s.calls.len()) - before);
        if synced.outcome != TenantOutcome::Synced {
            return Err(format!("tenant {i} did not sync: {synced:?}").into());
        }
    }
    times.sort_by(f64::total_cmp);
    let (p50, p95) = (pct(&times, 0.5), pct(&times, 0.95));
    let calls_mean = calls.iter().sum::<usize>() as f64 / calls.len() as f64;

    println!("Spend sync at scale: {tenants} connected tenants, Sandbox Meta latency {latency_ms} ms per Graph call, moto (serial) for AWS.");
    println!();
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| fan-out wall time ({tenants} tenants) | {fan_out_secs:.1} s |");
    println!("| events published / failed | {} / {} |", fanned.published, fanned.failed);
    println!("| `PutEvents` calls | {} |", fanned.batches);
    println!(
        "| per-tenant sync p50 / p95 ({sample} tenants, 1 account, 28 days, + lead reconciliation) | {:.2} / {:.2} s |",
        p50, p95
    );
    println!("| Graph calls per tenant | {calls_mean:.0} |");
    println!("| Graph call time per tenant (calls × latency) | {:.2} s |", calls_mean * latency_ms as f64 / 1000.0);
    for c in [10u64, 100, 1_000] {
        let waves = tenants.div_ceil(c);
        let wall = fan_out_secs + waves as f64 * p50;
        println!(
            "| projected full run at Lambda concurrency {c} | {:.0} s ({:.1} min) |",
            wall,
            StdDuration::from_secs_f64(wall).as_secs_f64() / 60.0
        );
    }
    Ok(())
}

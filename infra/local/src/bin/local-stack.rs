//! `make dev`: provisions moto, seeds the demo tenant, serves every function on localhost and
//! prints what `curl` needs. Expects `AWS_ENDPOINT_URL` to point at a running moto server.

use std::net::SocketAddr;
use std::sync::Arc;

use chrono::Duration;
use crm_shared::api::app::load_sdk_config;
use crm_shared::platform::clock::{Clock, SystemClock};
use crm_shared::platform::config::Config;
use crm_shared::platform::secrets::SecretName;
use crm_shared::store::DynamoStore;
use crm_shared::App;
use local_stack::provision::{provision, ResourceNames};
use local_stack::sandbox_ecb::SandboxEcb;
use local_stack::sandbox_meta::{SandboxMeta, SANDBOX_PAGE_ID};
use local_stack::sandbox_ycloud::SandboxYcloud;
use local_stack::{demo, server};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `events/meta-leadgen-webhook.json`, byte for byte (the signature printed covers these bytes).
const SAMPLE_DELIVERY: &[u8] = include_bytes!("../../../../events/meta-leadgen-webhook.json");

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| d.to_string())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    crm_shared::platform::telemetry::init();
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        return Err("AWS_ENDPOINT_URL must point at the local moto server (run `make dev`)".into());
    }
    let jwt_key = env_or("JWT_SECRET_KEY", "local-dev-jwt-key-not-for-production");
    let admin_token = env_or("ADMIN_TOKEN", "local-dev-admin-token");
    let port: u16 = env_or("LOCAL_API_PORT", "8080").parse().map_err(|_| "LOCAL_API_PORT must be a port number")?;

    let sdk = load_sdk_config().await;
    let names = ResourceNames {
        table: env_or("TABLE_NAME", "crm-marketing-local"),
        event_bus: env_or("EVENT_BUS_NAME", "crm-marketing"),
        key_alias: "alias/crm-meta-tokens".into(),
        secret_prefix: "crm-marketing-local".into(),
    };
    // Sandbox Meta: the product's Meta calls and the login dialog go here (demo app credentials).
    let sandbox_port: u16 =
        env_or("SANDBOX_META_PORT", "8090").parse().map_err(|_| "SANDBOX_META_PORT must be a port number")?;
    let meta_app_id = env_or("META_APP_ID", "sandbox-app-id");
    let meta_app_secret = env_or("META_APP_SECRET", "sandbox-app-secret-not-for-production");
    let verify_token = env_or("META_WEBHOOK_VERIFY_TOKEN", "local-dev-webhook-verify-token");
    let sandbox =
        SandboxMeta::start(SocketAddr::from(([127, 0, 0, 1], sandbox_port)), &meta_app_id, &meta_app_secret).await?;
    // The leads of the sample delivery in events/, so it can be posted once the demo tenant connected.
    sandbox.with(|s| s.seed_demo_leads());
    // Sandbox YCloud: the evaluator's sends, template list and message lookups go here.
    let ycloud_port: u16 =
        env_or("SANDBOX_YCLOUD_PORT", "8091").parse().map_err(|_| "SANDBOX_YCLOUD_PORT must be a port number")?;
    let ycloud_key = env_or("YCLOUD_API_KEY", "local-dev-ycloud-key");
    let ycloud_webhook_secret = env_or("YCLOUD_WEBHOOK_SECRET", "local-dev-ycloud-webhook-secret");
    let ycloud =
        SandboxYcloud::start(SocketAddr::from(([127, 0, 0, 1], ycloud_port)), &ycloud_key, &ycloud_webhook_secret)
            .await?;
    // The demo tenant's own YCloud account (its WhatsApp connection is seeded below).
    ycloud.with(|s| s.accounts.push(demo::ycloud_account()));
    // Sandbox ECB: the spend sync's fan-out reads the provider FX rates here.
    let ecb_port: u16 =
        env_or("SANDBOX_ECB_PORT", "8092").parse().map_err(|_| "SANDBOX_ECB_PORT must be a port number")?;
    let ecb = SandboxEcb::start(SocketAddr::from(([127, 0, 0, 1], ecb_port))).await?;
    let mut secrets = vec![(SecretName::JwtSecretKey, jwt_key.clone()), (SecretName::AdminToken, admin_token.clone())];
    secrets.push((SecretName::YcloudApiKey, ycloud_key.clone()));
    secrets.push((SecretName::YcloudWebhookSecret, ycloud_webhook_secret.clone()));
    secrets.push((SecretName::MetaAppSecret, meta_app_secret.clone()));
    secrets.push((SecretName::MetaWebhookVerifyToken, verify_token.clone()));
    let provisioned = provision(&sdk, &names, &secrets).await?;

    // Same shape as in AWS: secrets by ARN (resolved from moto's Secrets Manager), the rest plain.
    let mut env: Vec<(String, String)> = vec![
        ("META_APP_ID".into(), meta_app_id.clone()),
        ("META_GRAPH_BASE_URL".into(), sandbox.base_url()),
        ("META_DIALOG_BASE_URL".into(), sandbox.base_url()),
        // localhost, not 127.0.0.1: the login's binding cookie is set by the frontend's fetch of
        // /url and must come back on the callback, so the API (VITE_API_URL) and the callback are
        // the same host, and that host is same-site with the frontend (http://localhost:5173).
        ("META_REDIRECT_URI".into(), format!("http://localhost:{port}/crm/auth/meta/callback")),
        ("YCLOUD_BASE_URL".into(), ycloud.base_url()),
        ("FX_PROVIDER_URL".into(), ecb.hist_90d_url()),
        ("YCLOUD_WHATSAPP_NUMBER".into(), env_or("YCLOUD_WHATSAPP_NUMBER", "+5491100000000")),
    ];
    env.extend(
        std::env::vars().filter(|(k, _)| !SecretName::ALL.iter().any(|n| n.env_var() == k || n.arn_env_var() == k)),
    );
    env.extend(provisioned.env());
    let config = Config::from_lookup(|k| env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut app = App::with_aws(config, &sdk, clock.clone())?;
    // moto delivers no bus events: the OAuth callback's meta.connected job runs here, after the
    // redirect, as the bus rule runs it in AWS.
    let jobs = local_stack::jobs::wire(&mut app);
    // Fewer days start faster (the contract fuzzer seeds 7).
    let days: i64 = env_or("LOCAL_DEMO_DAYS", "30").parse().map_err(|_| "LOCAL_DEMO_DAYS must be a number of days")?;
    if demo::seed(app.profiles.as_ref(), clock.now()).await? {
        println!("Seeding {days} days of demo leads, opportunities, sales and Meta spend for tenant 1 …");
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), app.config.table_name.clone());
        let n = demo::seed_dashboard(&store, clock.now(), days).await?;
        println!(
            "  {n} CRM events applied; connect ad account {} in the wizard to see its spend.",
            demo::DEMO_AD_ACCOUNT
        );
        demo::seed_whatsapp(&app, clock.now()).await?;
        let n = demo::seed_hsm(&app, clock.now()).await?;
        println!(
            "  {n} leads with past-due WhatsApp follow-ups: `make hsm-evaluate` sends them through Sandbox YCloud from the demo's own number {}.",
            demo::DEMO_WHATSAPP_NUMBER
        );
    }
    ycloud.with(|s| s.webhook_url = Some(format!("http://127.0.0.1:{port}/crm/webhooks/ycloud")));

    // The job runs in meta-spend-sync, with that function's secrets only.
    let bus_log = jobs.bus_log();
    jobs.spawn(app.restricted(meta_spend_sync::SECRETS, meta_spend_sync::WIRING));
    let api = server::LocalApi::new(app).with_bus_log(bus_log);
    let addr = server::spawn_api(api, SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let token = demo::jwt(&jwt_key, demo::DEMO_TENANT, "admin", clock.now(), Duration::hours(12));
    println!();
    println!("Local API      http://{addr}");
    println!("moto (AWS)     {}", env_or("AWS_ENDPOINT_URL", ""));
    println!(
        "Sandbox Meta   {} (switches: POST {}/__sandbox/configure?throttle_next=2, reset, GET state, GET conversions)",
        sandbox.base_url(),
        sandbox.base_url()
    );
    println!(
        "Sandbox YCloud {} (switches: POST {}/__sandbox/configure?throttle_next=2&fail_next=1&latency_ms=20, GET state)",
        ycloud.base_url(),
        ycloud.base_url()
    );
    println!(
        "Sandbox ECB    {} (FX rates; switches: POST {}/__sandbox/configure?fail_next=1&down=true, reset, GET state)",
        ecb.hist_90d_url(),
        ecb.base_url()
    );
    println!("Table          {}", provisioned.table);
    println!("Demo tenant    {} (\"Demo Clinic\")", demo::DEMO_TENANT);
    println!("Admin token    {admin_token}");
    println!("Demo JWT       {token}");
    println!();
    println!("Try:");
    println!("  curl -s http://{addr}/crm/marketing/token-status -H 'X-Admin-Token: {admin_token}' -H 'Authorization: Bearer {token}'");
    println!("  Meta login (a browser does this from the frontend with VITE_API_URL=http://localhost:{port}):");
    println!("  curl -s -D - http://localhost:{port}/crm/auth/meta/url -H 'X-Admin-Token: {admin_token}' -H 'Authorization: Bearer {token}'");
    println!("    keep its Set-Cookie crm_meta_oauth=… (binds the login to this client) and data.auth_url, then");
    println!(
        "  curl -s -o /dev/null -w '%{{redirect_url}}\\n' \"$AUTH_URL\"   # Sandbox Meta consents: our callback URL"
    );
    println!("  curl -s -o /dev/null -w '%{{redirect_url}}\\n' -H 'Cookie: crm_meta_oauth=…' \"$CALLBACK_URL\"");
    println!(
        "    → …?success=connected; right after the redirect the meta.connected job maps Sandbox Meta's page {SANDBOX_PAGE_ID}"
    );
    println!("    to the demo tenant for lead-ads webhooks and replays parked leads");
    println!("  Meta webhook handshake:");
    println!("  curl -s 'http://{addr}/crm/webhooks/meta?hub.mode=subscribe&hub.verify_token={verify_token}&hub.challenge=1158201444'");
    println!("  Signed lead-ads delivery (after connecting; creates two META_ADS leads, idempotent):");
    println!(
        "  curl -s http://{addr}/crm/webhooks/meta -H 'Content-Type: application/json' -H 'X-Hub-Signature-256: {}' --data-binary @events/meta-leadgen-webhook.json",
        sandbox.sign_webhook(SAMPLE_DELIVERY)
    );
    println!("  A new lead and its signed delivery: curl -s -X POST '{}/__sandbox/leads?name=Ana'", sandbox.base_url());
    println!();
    println!("CRM events (EventBridge stand-in):");
    println!(
        "  curl -s -X POST http://{addr}{} -H 'content-type: application/json' --data @events/crm-lead-created.json",
        local_stack::server::LOCAL_EVENTS_PATH
    );
    println!("HSM evaluator (the 5-minute schedule's job): make hsm-evaluate");
    println!("  curl -s -X POST http://{addr}{}", local_stack::server::LOCAL_HSM_EVALUATE_PATH);
    println!("Meta spend sync by hand (hourly schedule stand-in: fan-out + ECB rates + every connected tenant):");
    println!("  make spend-sync   # = curl -s -X POST http://{addr}{}", local_stack::server::LOCAL_SPEND_SYNC_PATH);
    println!(
        "  curl -s 'http://{addr}{}?detail_type=meta.lead.received'   # Meta leads handed to the CRM",
        local_stack::server::LOCAL_BUS_EVENTS_PATH
    );
    println!(
        "Conversions back to Meta by hand (the 5-minute schedule's job; enable with PUT /crm/marketing/conversions):"
    );
    println!(
        "  make conversions-flush   # = curl -s -X POST http://{addr}{}",
        local_stack::server::LOCAL_CONVERSIONS_FLUSH_PATH
    );
    println!();
    println!("Routes:");
    for r in local_stack::routes::routes() {
        println!("  {:<6} {}", r.endpoint.method.as_str(), r.endpoint.path);
    }
    println!("\nCtrl-C stops everything.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

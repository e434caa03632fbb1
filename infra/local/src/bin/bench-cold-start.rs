//! Cold-start benchmark: runs each function's release `bootstrap` under the Lambda Runtime API
//! stand-in and measures, per run, the time from process start to its first `GET /next` (init)
//! and to its first posted response; median and p90 of `--runs` runs, plus binary size. A TCP
//! proxy in front of moto counts connections opened before init ended (must be 0: no network
//! during init).
//!
//! Usage: bench-cold-start [--runs N] [--bin-dir target/release] [function ...]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use crm_shared::api::app::load_sdk_config;
use crm_shared::platform::secrets::SecretName;
use local_stack::provision::{provision, ResourceNames};
use local_stack::routes::routes;
use local_stack::runtime_api::{self, RuntimeEvent};
use local_stack::{demo, moto};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const JWT_KEY: &str = "bench-jwt-key-at-least-32-bytes-long";
const ADMIN: &str = "bench-admin-token";
const VERIFY_TOKEN: &str = "bench-verify-token";
/// Non-HTTP functions and the sample (in `events/`) each is invoked with.
const EVENT_SAMPLES: &[(&str, &str)] = &[
    ("crm-events", "crm-lead-created.json"),
    ("meta-spend-sync", "spend-sync-scheduled.json"),
    ("hsm-trigger-evaluator", "hsm-evaluator-scheduled.json"),
    ("meta-conversions", "meta-conversions-scheduled.json"),
];

/// Counts connections through a TCP proxy to `upstream`, with the instant each was opened.
async fn counting_proxy(upstream: SocketAddr) -> std::io::Result<(SocketAddr, Arc<Mutex<Vec<Instant>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let opened = Arc::new(Mutex::new(Vec::new()));
    let log = opened.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            log.lock().unwrap_or_else(|p| p.into_inner()).push(Instant::now());
            tokio::spawn(async move {
                if let Ok(mut out) = TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    Ok((addr, opened))
}

/// An API Gateway HTTP API (v2) event for `method path` with the frontend's headers.
fn http_event(method: &str, path: &str, jwt: &str) -> Value {
    // The webhook's GET is Meta's subscription handshake.
    let query = if path == "/crm/webhooks/meta" && method == "GET" {
        format!("hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444")
    } else {
        String::new()
    };
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {jwt}"),
            "x-admin-token": ADMIN,
            "x-tenant-id": "default",
            "origin": "http://localhost:5173",
            "content-type": "application/json"
        },
        "requestContext": {
            "accountId": "000000000000", "apiId": "bench", "domainName": "bench.local", "domainPrefix": "bench",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" },
            "requestId": "bench", "routeKey": format!("{method} {path}"), "stage": "$default",
            "time": "24/Nov/2026:12:00:00 +0000", "timeEpoch": 0
        },
        "body": if method == "GET" { Value::Null } else { json!("{}") },
        "isBase64Encoded": false
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

struct Sample {
    init_ms: f64,
    first_response_ms: f64,
    conns_before_init: usize,
    status: Option<u64>,
}

impl Sample {
    /// A function that failed a run: it is left out of the table (its error was printed).
    fn failed() -> Self {
        Sample { init_ms: f64::NAN, first_response_ms: f64::NAN, conns_before_init: 0, status: None }
    }
}

async fn run_once(
    bin: &PathBuf,
    name: &str,
    event: Bytes,
    env: &[(String, String)],
    proxy_log: &Arc<Mutex<Vec<Instant>>>,
) -> Result<Sample, BoxError> {
    let (rt_addr, mut rx) = runtime_api::start(event).await?;
    proxy_log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let mut cmd = tokio::process::Command::new(bin);
    cmd.env_clear()
        .envs(env.iter().cloned())
        .env("AWS_LAMBDA_RUNTIME_API", rt_addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let mut init = None;
    let mut response = None;
    let deadline = tokio::time::sleep(Duration::from_secs(15));
    tokio::pin!(deadline);
    while response.is_none() {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(RuntimeEvent::FirstNext(at)) => init = Some(at),
                Some(RuntimeEvent::Response { at, body }) => response = Some((at, body)),
                Some(RuntimeEvent::Error { body, .. }) => return Err(format!("{name} reported an error: {}", String::from_utf8_lossy(&body)).into()),
                None => return Err("runtime stand-in stopped".into()),
            },
            _ = &mut deadline => return Err(format!("{name} gave no response within 15 s").into()),
        }
    }
    let _ = child.kill().await;
    let init_at = init.ok_or("response before init")?;
    let (resp_at, body) = response.ok_or("no response")?;
    let conns_before_init =
        proxy_log.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|t| **t < init_at).count();
    let status = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("statusCode").and_then(Value::as_u64));
    Ok(Sample {
        init_ms: (init_at - started).as_secs_f64() * 1e3,
        first_response_ms: (resp_at - started).as_secs_f64() * 1e3,
        conns_before_init,
        status,
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let mut runs = 20usize;
    let mut bin_dir = PathBuf::from("target/release");
    let mut only: Vec<String> = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).ok_or("--runs N")?,
            "--bin-dir" => bin_dir = args.next().map(PathBuf::from).ok_or("--bin-dir DIR")?,
            other => only.push(other.to_string()),
        }
    }

    let moto_url = moto::spawn_for_process()?;
    std::env::set_var("AWS_ENDPOINT_URL", &moto_url);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
    let sdk = load_sdk_config().await;
    let names = ResourceNames::unique("bench");
    let secrets = vec![(SecretName::JwtSecretKey, JWT_KEY.to_string()), (SecretName::AdminToken, ADMIN.to_string())];
    let provisioned = provision(&sdk, &names, &secrets).await?;
    // The demo tenant's profile, so the deployment-config call finds its company.
    let store = crm_shared::store::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), provisioned.table.clone());
    demo::seed(&store, Utc::now()).await?;
    let upstream: SocketAddr = moto_url.trim_start_matches("http://").parse()?;
    let (proxy, proxy_log) = counting_proxy(upstream).await?;

    let mut env: Vec<(String, String)> = provisioned.env();
    env.extend([
        ("AWS_ENDPOINT_URL".to_string(), format!("http://{proxy}")),
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID".to_string(), "bench".to_string()),
        ("AWS_SECRET_ACCESS_KEY".to_string(), "bench".to_string()),
        ("RUST_LOG".to_string(), "warn".to_string()),
        // Every run is the same tenant: the per-tenant limit would turn later runs into 429s.
        ("RATE_LIMIT_PER_MINUTE".to_string(), "1000000".to_string()),
        ("META_WEBHOOK_VERIFY_TOKEN".to_string(), VERIFY_TOKEN.to_string()),
        ("META_APP_ID".to_string(), "1234567890".to_string()),
        ("META_APP_SECRET".to_string(), "bench-app-secret".to_string()),
        ("META_REDIRECT_URI".to_string(), "http://127.0.0.1:8080/crm/auth/meta/callback".to_string()),
        // WhatsApp senders need a YCloud config; nothing listens at its URL (port 9), so a function
        // that calls YCloud on its first request answers its "provider unreachable" error.
        ("YCLOUD_API_KEY".to_string(), "bench-ycloud-key".to_string()),
        ("YCLOUD_WEBHOOK_SECRET".to_string(), "bench-ycloud-secret".to_string()),
        ("YCLOUD_WHATSAPP_NUMBER".to_string(), "+15550000000".to_string()),
        ("YCLOUD_BASE_URL".to_string(), "http://127.0.0.1:9".to_string()),
    ]);
    let jwt = demo::jwt(JWT_KEY, demo::DEMO_TENANT, "admin", Utc::now(), chrono::Duration::hours(2));

    let functions_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../functions");
    let mut names: Vec<String> = std::fs::read_dir(&functions_dir)?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| only.is_empty() || only.contains(n))
        .collect();
    names.sort();
    let all_routes = routes();

    println!("| function | binary (bytes) | binary (MiB) | init median (ms) | init p90 (ms) | first response median (ms) | first status | connections during init |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    // Each round runs every function once (round-robin), so a burst of noise on the shared machine
    // spreads over all functions instead of landing on the few measured during it.
    let mut benched: Vec<(String, PathBuf, Bytes, Vec<Sample>)> = Vec::new();
    for name in names {
        let bin = bin_dir.join(&name);
        if !bin.exists() {
            eprintln!("skip {name}: {} not built", bin.display());
            continue;
        }
        let event = match all_routes.iter().find(|r| r.endpoint.name == name) {
            Some(r) => http_event(r.endpoint.method.as_str(), r.endpoint.path, &jwt),
            None => {
                let sample = EVENT_SAMPLES
                    .iter()
                    .find(|(f, _)| *f == name)
                    .map(|(_, file)| functions_dir.join("..").join("events").join(file));
                match sample.and_then(|p| std::fs::read_to_string(p).ok()).and_then(|t| serde_json::from_str(&t).ok()) {
                    Some(v) => v,
                    None => {
                        eprintln!("skip {name}: not an HTTP function and no sample event in EVENT_SAMPLES");
                        continue;
                    }
                }
            }
        };
        benched.push((name, bin, Bytes::from(event.to_string()), Vec::new()));
    }
    for _ in 0..runs {
        for (name, bin, event, samples) in benched.iter_mut().filter(|b| b.3.len() < runs) {
            match run_once(bin, name, event.clone(), &local_stack::needs::env_for(name, &env), &proxy_log).await {
                Ok(sample) => samples.push(sample),
                Err(e) => {
                    eprintln!("skip {name}: {e}");
                    samples.clear();
                    samples.resize_with(runs, Sample::failed);
                }
            }
        }
    }
    for (name, bin, _, samples) in benched {
        if samples.iter().any(|s| s.init_ms.is_nan()) {
            continue;
        }
        if let Some(bad) = samples.iter().find(|s| s.status.is_some_and(|c| c >= 500)) {
            eprintln!("warning: {name} answered {:?} during the bench", bad.status);
        }
        let mut init: Vec<f64> = samples.iter().map(|s| s.init_ms).collect();
        let mut first: Vec<f64> = samples.iter().map(|s| s.first_response_ms).collect();
        init.sort_by(f64::total_cmp);
        first.sort_by(f64::total_cmp);
        let conns = samples.iter().map(|s| s.conns_before_init).max().unwrap_or(0);
        let bytes = std::fs::metadata(&bin)?.len();
        let size = bytes as f64 / (1024.0 * 1024.0);
        let mut statuses: Vec<String> =
            samples.iter().map(|s| s.status.map_or_else(|| "-".to_string(), |c| c.to_string())).collect();
        statuses.sort();
        statuses.dedup();
        println!(
            "| {name} | {bytes} | {size:.2} | {:.1} | {:.1} | {:.1} | {} | {conns} |",
            percentile(&init, 0.5),
            percentile(&init, 0.9),
            percentile(&first, 0.5),
            statuses.join("/")
        );
    }
    println!("\n{runs} runs per function, round-robin over the functions; init = process start → first GET /next; first response includes the request's DynamoDB/Secrets Manager/KMS calls to moto on loopback (no Meta connection is seeded: Meta-reading endpoints answer 409 \"not connected\" without calling Meta).");
    Ok(())
}

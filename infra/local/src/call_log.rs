//! Counts a request's DynamoDB calls and their **sequential depth**, as the SDK makes them: an
//! interceptor on the DynamoDB client notes when each operation starts (before serialization) and
//! ends (after its last attempt). Depth = the longest chain of calls each starting after the
//! previous one ended: the round trips a request waits for one after another. Calls in flight
//! together (even when moto, serial, answers them one by one) are one level.
//!
//! Every call also waits a fixed extra delay after its answer (a DynamoDB-like round trip; moto on
//! loopback answers in about a millisecond, less than it takes a debug build to sign and send the
//! calls of one round): so calls issued together are in flight together, and a call started only
//! after another's answer shows as one level deeper.
//!
//! Used by `make bench-dashboard` (the round-trip table of docs/BENCHMARKS.md) and the integration test that
//! holds the dashboard routes to two round trips.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use crm_shared::api::port::Port;
use crm_shared::store::DynamoStore;
use crm_shared::App;

/// One DynamoDB operation: its name and when it was in flight.
#[derive(Debug, Clone)]
pub struct Call {
    pub operation: String,
    pub started: Instant,
    pub ended: Instant,
}

/// The calls recorded since the last [`CallLog::take`].
#[derive(Debug, Clone, Default)]
pub struct CallLog(Arc<Mutex<Vec<Call>>>);

impl CallLog {
    /// The calls so far (oldest first), leaving the log empty.
    pub fn take(&self) -> Vec<Call> {
        let mut calls = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        calls.sort_by_key(|c| c.started);
        calls
    }
}

/// Longest chain of calls where each starts after the previous one ended.
pub fn sequential_depth(calls: &[Call]) -> usize {
    let mut sorted: Vec<&Call> = calls.iter().collect();
    sorted.sort_by_key(|c| c.started);
    let mut depth: Vec<usize> = Vec::with_capacity(sorted.len());
    for (i, c) in sorted.iter().enumerate() {
        let before = (0..i).filter(|&j| sorted[j].ended <= c.started).map(|j| depth[j]).max().unwrap_or(0);
        depth.push(before + 1);
    }
    depth.into_iter().max().unwrap_or(0)
}

/// `GetItem×2, Query, UpdateItem` style summary of the operations.
pub fn operations(calls: &[Call]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in calls {
        match counts.iter_mut().find(|(op, _)| *op == c.operation) {
            Some((_, n)) => *n += 1,
            None => counts.push((c.operation.clone(), 1)),
        }
    }
    counts.sort();
    counts.iter().map(|(op, n)| if *n == 1 { op.clone() } else { format!("{op}×{n}") }).collect::<Vec<_>>().join(", ")
}

/// The read-only routes a dashboard page calls, with a request of each (campaign `1201`).
pub const DASHBOARD_ROUTES: &[(&str, &str)] = &[
    ("marketing-stats", "/crm/marketing/stats?range=30d"),
    ("marketing-stats-roi", "/crm/marketing/stats/roi?range=30d"),
    ("marketing-combined-stats", "/crm/marketing/combined-stats?range=30d"),
    ("marketing-campaigns", "/crm/marketing/campaigns?range=30d"),
    ("marketing-campaign", "/crm/marketing/campaigns/1201?range=30d"),
    ("marketing-campaign-insights", "/crm/marketing/campaigns/1201/insights?range=30d"),
    ("meta-token-status", "/crm/marketing/token-status"),
    ("admin-deployment-config", "/admin/config/deployment"),
    ("automation-logs", "/crm/marketing/automation-logs"),
    ("automation-rules", "/crm/marketing/automation/rules"),
];

/// What one request cost in DynamoDB calls.
#[derive(Debug, Clone)]
pub struct Measured {
    pub status: u16,
    pub calls: usize,
    pub depth: usize,
    pub operations: String,
    pub body: serde_json::Value,
}

/// Runs `req` through the function named `route` (from [`crate::routes::routes`]) and measures
/// the DynamoDB calls it made (`log` must be `app`'s, from [`record_dynamodb_calls`]).
pub async fn measure(app: &App, log: &CallLog, route: &str, req: lambda_http::Request) -> Result<Measured, String> {
    let handler = crate::routes::routes()
        .into_iter()
        .find(|r| r.endpoint.name == route && r.endpoint.method == req.method())
        .map(|r| r.handler)
        .ok_or_else(|| format!("no route {route}"))?;
    log.take();
    let resp = handler(app, req).await;
    let calls = log.take();
    if std::env::var("CALL_LOG_DEBUG").is_ok() {
        let t0 = calls.first().map(|c| c.started);
        for c in &calls {
            let ms = |t: Instant| t0.map_or(0.0, |t0| t.duration_since(t0).as_secs_f64() * 1000.0);
            eprintln!("{route}: {:>12} {:8.1} → {:8.1} ms", c.operation, ms(c.started), ms(c.ended));
        }
    }
    Ok(Measured {
        status: resp.status().as_u16(),
        calls: calls.len(),
        depth: sequential_depth(&calls),
        operations: operations(&calls),
        body: crm_shared::api::http::body_json(&resp),
    })
}

#[derive(Debug, Clone)]
struct StartedAt(Instant);

impl Storable for StartedAt {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug)]
struct Recorder(CallLog);

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "DynamoCallRecorder"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(StartedAt(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        _ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ended = Instant::now();
        let started = cfg.load::<StartedAt>().map_or(ended, |s| s.0);
        let operation = cfg.load::<Metadata>().map_or_else(|| "?".to_string(), |m| m.name().to_string());
        self.0 .0.lock().unwrap_or_else(|p| p.into_inner()).push(Call { operation, started, ended });
        Ok(())
    }
}

/// Adds `delay` after each answer of `inner` (see the module doc).
#[derive(Debug)]
struct Delayed {
    inner: SharedHttpConnector,
    delay: Duration,
}

impl HttpConnector for Delayed {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (answer, delay) = (self.inner.call(request), self.delay);
        HttpConnectorFuture::new(async move {
            let answer = answer.await;
            tokio::time::sleep(delay).await;
            answer
        })
    }
}

/// Points every store port of `app` at a DynamoDB client (over `sdk`, on `app`'s table) that
/// records its calls, each answered `delay` late; returns the log.
pub fn record_dynamodb_calls(app: &mut App, sdk: &SdkConfig, delay: Duration) -> CallLog {
    let log = CallLog::default();
    // The SDK config's client (ours, over the shared reqwest client), or the same one if it names none.
    let inner = sdk.http_client().unwrap_or_else(crm_shared::platform::sdk_config::sdk_http_client);
    let delayed = http_client_fn(move |settings, components| {
        SharedHttpConnector::new(Delayed { inner: inner.http_connector(settings, components), delay })
    });
    let conf =
        aws_sdk_dynamodb::config::Builder::from(sdk).http_client(delayed).interceptor(Recorder(log.clone())).build();
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), app.config.table_name.clone()));
    app.rate_limiter = Port::table(store.clone());
    app.audit = Port::table(store.clone());
    app.connections = Port::table(store.clone());
    app.profiles = Port::table(store.clone());
    app.aggregates = Port::table(store.clone());
    app.spend = Port::table(store.clone());
    app.fx_rates = Port::table(store.clone());
    app.oauth_states = Port::table(store.clone());
    app.connected_index = Port::table(store.clone());
    app.pages = Port::table(store.clone());
    app.lead_inbox = Port::table(store.clone());
    app.due = Port::table(store.clone());
    app.send_claims = Port::table(store.clone());
    app.contacts = Port::table(store.clone());
    app.automation_log = Port::table(store.clone());
    app.automation_rules = Port::table(store.clone());
    app.events = Port::table(store);
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(start_ms: u64, end_ms: u64, t0: Instant) -> Call {
        Call {
            operation: "GetItem".into(),
            started: t0 + Duration::from_millis(start_ms),
            ended: t0 + Duration::from_millis(end_ms),
        }
    }

    #[test]
    fn depth_counts_calls_waited_for_one_after_another() {
        let t0 = Instant::now();
        assert_eq!(sequential_depth(&[]), 0);
        // Three at once, then one after them all: 2.
        let calls = [call(0, 10, t0), call(1, 12, t0), call(2, 8, t0), call(12, 20, t0)];
        assert_eq!(sequential_depth(&calls), 2);
        // A chain of three (each starting when the previous ended), beside a long one: 3.
        let calls = [call(0, 5, t0), call(5, 9, t0), call(9, 30, t0), call(0, 29, t0)];
        assert_eq!(sequential_depth(&calls), 3);
        assert_eq!(operations(&calls), "GetItem×4");
    }
}

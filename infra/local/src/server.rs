//! One HTTP server on localhost that serves every function at its real API route, calling each
//! function's library handler exactly as the Lambda runtime would.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use crm_shared::api::http::{preflight, render_error};
use crm_shared::platform::error::ApiError;
use crm_shared::App;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use lambda_http::Body;
use tokio::net::TcpListener;

use crate::needs::declarations;
use crate::routes::{path_matches, routes, Route};

/// Where the local server accepts CRM domain events (EventBridge's job in AWS).
pub const LOCAL_EVENTS_PATH: &str = "/__local/crm-events";
/// Where the local server runs the HSM trigger evaluator once (the 5-minute schedule's job in AWS).
pub const LOCAL_HSM_EVALUATE_PATH: &str = "/__local/hsm-evaluate";

/// Where the local server runs the Meta spend sync by hand (the hourly schedule's job in AWS).
pub const LOCAL_SPEND_SYNC_PATH: &str = "/__local/spend-sync";

/// Where the local server sends pending conversions to Meta by hand (the 5-minute schedule's job
/// in AWS).
pub const LOCAL_CONVERSIONS_FLUSH_PATH: &str = "/__local/conversions-flush";

/// Where the local server lists what was put on the product bus (`?detail_type=` filters).
pub const LOCAL_BUS_EVENTS_PATH: &str = "/__local/bus-events";

/// API Gateway's own payload limit; the functions apply the product's smaller limit.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

pub struct LocalApi {
    app: App,
    routes: Vec<Route>,
    /// Each function's view of `app`: only the secrets and clients it declares (as in AWS).
    apps: HashMap<&'static str, App>,
    /// What the bus accepted (when the stack wired its local bus).
    bus_log: Option<crate::jobs::BusLog>,
}

impl LocalApi {
    /// Serves every function from `app`, each restricted to the secrets and clients it declares,
    /// so a function that uses one it did not declare fails here as it would in AWS.
    pub fn new(app: App) -> Self {
        let apps =
            declarations().into_iter().map(|(name, needs, wiring)| (name, app.restricted(needs, wiring))).collect();
        Self { app, routes: routes(), apps, bus_log: None }
    }

    /// Also serves [`LOCAL_BUS_EVENTS_PATH`] from `log`.
    pub fn with_bus_log(mut self, log: crate::jobs::BusLog) -> Self {
        self.bus_log = Some(log);
        self
    }

    /// `function`'s App (only its declared secrets).
    fn app_of(&self, function: &str) -> &App {
        self.apps.get(function).unwrap_or_else(|| unreachable!("{function} is missing from needs::declarations"))
    }

    /// Dispatches one request like API Gateway: route by method + path, preflight for known paths.
    pub async fn dispatch(&self, req: lambda_http::Request) -> lambda_http::Response<Body> {
        let path = req.uri().path().to_string();
        if path == LOCAL_EVENTS_PATH {
            return self.put_crm_events(req).await;
        }
        if path == LOCAL_HSM_EVALUATE_PATH {
            return self.hsm_evaluate(req).await;
        }
        if path == LOCAL_SPEND_SYNC_PATH {
            return self.run_spend_sync(req).await;
        }
        if path == LOCAL_CONVERSIONS_FLUSH_PATH {
            return self.conversions_flush(req).await;
        }
        if path == LOCAL_BUS_EVENTS_PATH {
            return self.bus_events(&req);
        }
        let matching: Vec<&Route> = self.routes.iter().filter(|r| path_matches(r.endpoint.path, &path)).collect();
        if matching.is_empty() {
            return render_error(&ApiError::not_found("route_not_found", format!("no route for {path}")));
        }
        if req.method() == http::Method::OPTIONS {
            return preflight(req.headers(), &self.app.config.cors_allowed_origins);
        }
        match matching.iter().find(|r| r.endpoint.method == req.method()) {
            Some(route) => (route.handler)(self.app_of(route.endpoint.name), req).await,
            None => render_error(&ApiError::MethodNotAllowed),
        }
    }

    /// Local stand-in of the EventBridge rule `source = crm` → `crm-events`: the body (one
    /// EventBridge event, an array of them, e.g. a file from `events/`) is handed to the function's
    /// handler as Lambda would. Not an API route: it exists only on the local server. `202` when
    /// an event was parked (its lead has not arrived: counted once it does); a *Scheduled Event*
    /// (`events/crm-events-sweep-scheduled.json`) runs the sweep of parked events.
    async fn put_crm_events(&self, req: lambda_http::Request) -> lambda_http::Response<Body> {
        if req.method() != http::Method::POST {
            return render_error(&ApiError::MethodNotAllowed);
        }
        let payload: serde_json::Value = match serde_json::from_slice(req.body().as_ref()) {
            Ok(v) => v,
            Err(e) => return render_error(&ApiError::bad_request("invalid_json", format!("body is not JSON: {e}"))),
        };
        let result = crm_events::handle_event(self.app_of("crm-events"), payload).await;
        let parked = result.as_ref().is_ok_and(|s| s.parked > 0);
        let mut resp = invocation_reply(result);
        if parked {
            *resp.status_mut() = http::StatusCode::ACCEPTED;
        }
        resp
    }

    /// Local stand-in of the scheduled rule → `hsm-trigger-evaluator`: one run, its summary back.
    async fn hsm_evaluate(&self, req: lambda_http::Request) -> lambda_http::Response<Body> {
        if req.method() != http::Method::POST {
            return render_error(&ApiError::MethodNotAllowed);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(110);
        invocation_reply(
            hsm_trigger_evaluator::handle_event(self.app_of("hsm-trigger-evaluator"), Some(deadline)).await,
        )
    }

    /// Local stand-in of the hourly schedule → `meta-spend-sync` (fan-out, publishing to the bus in
    /// moto) and of the bus rule → `meta-spend-sync` per tenant (moto delivers no events, so every
    /// connected tenant is synced here in turn). The answer is both summaries.
    async fn run_spend_sync(&self, req: lambda_http::Request) -> lambda_http::Response<Body> {
        if req.method() != http::Method::POST {
            return render_error(&ApiError::MethodNotAllowed);
        }
        let sleeper = std::sync::Arc::new(crm_shared::platform::retry::TokioSleeper);
        let result = meta_spend_sync::run_by_hand(self.app_of("meta-spend-sync"), sleeper).await;
        invocation_reply(result)
    }

    /// Local stand-in of the 5-minute schedule → `meta-conversions`: one run, its summary back.
    async fn conversions_flush(&self, req: lambda_http::Request) -> lambda_http::Response<Body> {
        if req.method() != http::Method::POST {
            return render_error(&ApiError::MethodNotAllowed);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        invocation_reply(meta_conversions::handle_event(self.app_of("meta-conversions"), Some(deadline)).await)
    }

    /// The local bus's log: `{source, detail-type, detail}` of every accepted event, oldest first.
    fn bus_events(&self, req: &lambda_http::Request) -> lambda_http::Response<Body> {
        let wanted = req
            .uri()
            .query()
            .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "detail_type"))
            .map(|(_, v)| v.into_owned());
        let log =
            self.bus_log.as_ref().map(|l| l.lock().unwrap_or_else(|p| p.into_inner()).clone()).unwrap_or_default();
        let events: Vec<serde_json::Value> = log
            .iter()
            .filter(|e| wanted.as_ref().is_none_or(|w| &e.detail_type == w))
            .map(|e| {
                let detail = serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or(serde_json::Value::Null);
                serde_json::json!({"source": e.source, "detail-type": e.detail_type, "detail": detail})
            })
            .collect();
        invocation_reply::<_, String>(Ok(events))
    }

    async fn serve_one(
        self: Arc<Self>,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, GATEWAY_MAX_BODY).collect().await {
            Ok(c) => c.to_bytes(),
            Err(_) => return Ok(to_hyper(render_error(&ApiError::PayloadTooLarge { limit: GATEWAY_MAX_BODY }))),
        };
        let body = if body.is_empty() { Body::Empty } else { Body::Binary(body.to_vec()) };
        // API Gateway tells the function who called (the public routes' per-source limit).
        let peer = parts.extensions.get::<crate::http1::PeerAddr>().map(|p| p.0.ip().to_string());
        let mut req = http::Request::from_parts(parts, body);
        if let Some(ip) = peer {
            req = crm_shared::api::http::with_source_address(req, &ip);
        }
        let resp = self.dispatch(req).await;
        Ok(to_hyper(resp))
    }

    /// Serves until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        crate::http1::serve(listener, move |req| self.clone().serve_one(req)).await
    }
}

fn to_hyper(resp: lambda_http::Response<Body>) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = resp.into_parts();
    let bytes = Bytes::copy_from_slice(body.as_ref());
    hyper::Response::from_parts(parts, Full::new(bytes))
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn spawn(app: App, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    spawn_api(LocalApi::new(app), addr).await
}

/// [`spawn`] for a configured [`LocalApi`].
pub async fn spawn_api(api: LocalApi, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(Arc::new(api).serve(listener));
    Ok(bound)
}

/// A local stand-in invocation's answer: its summary in the envelope, or 503 with why it failed
/// (Lambda would retry the invocation; locally the caller sees the reason).
fn invocation_reply<T: serde::Serialize, E: std::fmt::Display>(result: Result<T, E>) -> lambda_http::Response<Body> {
    let (status, body) = match result {
        Ok(summary) => (http::StatusCode::OK, serde_json::json!({"success": true, "data": summary})),
        Err(e) => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"success": false, "error": {"code": "invocation_failed", "message": e.to_string()}, "detail": e.to_string()}),
        ),
    };
    let mut resp = lambda_http::Response::new(Body::Text(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}

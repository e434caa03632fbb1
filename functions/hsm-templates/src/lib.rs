//! `GET /crm/marketing/hsm/templates`: the WhatsApp templates of the YCloud account (`data`: array
//! of `{id, name, category, language, status, components}`), cached in the container for
//! [`CACHE_TTL`] so the rules page can pick from it without hitting YCloud on every render.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crm_shared::api::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::automation::rules::RulesError;
use crm_shared::automation::sender::platform_client;
use crm_shared::automation::ycloud::Template;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde_json::{json, Value};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers) and the YCloud API key.
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken, SecretName::YcloudApiKey];

pub const CACHE_TTL: Duration = Duration::from_secs(60);

pub const ENDPOINT: Endpoint = Endpoint {
    name: "hsm-templates",
    method: Method::GET,
    path: "/crm/marketing/hsm/templates",
    access: Access::AnyRole,
};

static CACHE: Mutex<Option<(Instant, Vec<Template>)>> = Mutex::new(None);

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| list(app, ctx)).await
}

fn cached() -> Option<Vec<Template>> {
    let guard = CACHE.lock().unwrap_or_else(|p| p.into_inner());
    guard.as_ref().filter(|(at, _)| at.elapsed() < CACHE_TTL).map(|(_, t)| t.clone())
}

async fn list(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    ctx.caller()?;
    let templates = match cached() {
        Some(t) => t,
        None => {
            let fresh = platform_client(app).await?.templates().await.map_err(RulesError::from)?;
            *CACHE.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), fresh.clone()));
            fresh
        }
    };
    let data: Vec<Value> = templates
        .iter()
        .map(|t| {
            json!({
                "id": format!("{}:{}", t.name, t.language), "name": t.name, "category": t.category,
                "language": t.language, "status": t.status, "components": t.components,
            })
        })
        .collect();
    Reply::ok(&data)
}

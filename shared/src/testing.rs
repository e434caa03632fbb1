//! Unit-test fixtures shared by every function crate (feature `test-support`, enabled from
//! dev-dependencies only): an in-memory [`App`] at a fixed instant and CRM-shaped requests.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use lambda_http::{Body, Request};
use serde_json::json;

use crate::api::app::{App, InMemory};
use crate::platform::auth::sign_hs256;
use crate::platform::clock::ManualClock;
use crate::platform::config::Config;

pub const UNIT_JWT_KEY: &str = "unit-jwt-key-at-least-32-bytes-long";
pub const UNIT_ADMIN_TOKEN: &str = "unit-admin-token";

/// 2026-11-24T12:00:00Z, the instant every unit-test clock starts at.
pub fn unit_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
}

/// An in-memory App with `TABLE_NAME`, `JWT_SECRET_KEY`, `ADMIN_TOKEN` set, plus `extra` env
/// (an empty value removes a variable). Panics on invalid config: tests only.
pub fn unit_app(extra: &[(&str, &str)]) -> (App, InMemory) {
    unit_app_at(unit_now(), extra)
}

/// [`unit_app`] with its clock at `at`.
pub fn unit_app_at(at: DateTime<Utc>, extra: &[(&str, &str)]) -> (App, InMemory) {
    let (app, mem, _) = unit_app_clocked(at, extra);
    (app, mem)
}

/// [`unit_app_at`] and the hand of its clock (tests move it between runs).
pub fn unit_app_clocked(at: DateTime<Utc>, extra: &[(&str, &str)]) -> (App, InMemory, Arc<ManualClock>) {
    let mut env: HashMap<String, String> =
        [("TABLE_NAME", "t"), ("JWT_SECRET_KEY", UNIT_JWT_KEY), ("ADMIN_TOKEN", UNIT_ADMIN_TOKEN)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    for (k, v) in extra {
        if v.is_empty() {
            env.remove(*k);
        } else {
            env.insert(k.to_string(), v.to_string());
        }
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap_or_else(|e| panic!("unit config: {e}"));
    let clock = Arc::new(ManualClock::new(at));
    let (app, mem) = App::in_memory(config, clock.clone());
    (app, mem, clock)
}

/// A CRM JWT for `tenant`/`role`, valid for a day after [`unit_now`].
pub fn unit_jwt(tenant: i64, role: &str) -> String {
    sign_hs256(
        &json!({"user_id": "u", "role": role, "tenant_id": tenant, "exp": unit_now().timestamp() + 86_400}),
        UNIT_JWT_KEY.as_bytes(),
    )
}

/// A raw request with `headers` and an optional text body.
pub fn unit_request(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(if body.is_empty() { Body::Empty } else { Body::Text(body.into()) })
        .unwrap_or_else(|e| panic!("unit request: {e}"))
}

/// A request as the frontend sends it for `tenant`/`role` (Bearer JWT + admin token).
pub fn caller_request(method: &str, uri: &str, tenant: i64, role: &str, body: &str) -> Request {
    let bearer = format!("Bearer {}", unit_jwt(tenant, role));
    let mut headers = vec![("authorization", bearer.as_str()), ("x-admin-token", UNIT_ADMIN_TOKEN)];
    if !body.is_empty() {
        headers.push(("content-type", "application/json"));
    }
    unit_request(method, uri, &headers, body)
}

/// An active Meta connection of `tenant`, connected and updated at `at`, with no token, scopes,
/// accounts or revision: tests set what they are about with struct update syntax.
pub fn active_connection(tenant: crate::domain::ids::TenantId, at: DateTime<Utc>) -> crate::store::MetaConnection {
    crate::store::MetaConnection {
        tenant_id: tenant,
        token_ciphertext_b64: String::new(),
        status: crate::store::ConnectionStatus::Active,
        meta_user_id: None,
        expires_at: None,
        data_access_expires_at: None,
        scopes: vec![],
        business_id: None,
        business_name: None,
        ad_account_ids: vec![],
        ad_account_name: None,
        connected_at: at,
        connected_by: "u".into(),
        updated_at: at,
        revision: None,
    }
}

//! Unit-test fixtures shared by every function crate (feature `test-support`, enabled from
//! dev-dependencies only): an in-memory [`App`] at a fixed instant and CRM-shaped requests.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use lambda_http::{Body, Request};
use serde_json::json;

use crate::api::app::{App, InMemory};
use crate::domain::ids::TenantId;
use crate::platform::auth::sign_hs256;
use crate::platform::clock::ManualClock;
use crate::platform::config::Config;
use crate::platform::retry::Sleeper;
use crate::store::events::{DeadLetter, EventCommit, EventStore, FoundMarker, Versioned};
use crate::store::parked_events::{Expiry, ParkedEvent, ParkedEvents, Parking};
use crate::store::records::{CartRecord, LeadRecord, LeadgenLink, OpportunityRecord, SaleRecord};
use crate::store::{Conflict, Revision, StoreError, TenantProfile};

/// A [`Sleeper`] that waits for nothing and records every wait asked of it (backoffs, Meta's
/// own waits), for tests of retry policies.
#[derive(Debug, Default)]
pub struct RecordingSleeper(std::sync::Mutex<Vec<std::time::Duration>>);

impl RecordingSleeper {
    /// The waits asked so far, in order.
    pub fn waits(&self) -> Vec<std::time::Duration> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait::async_trait]
impl Sleeper for RecordingSleeper {
    async fn sleep(&self, d: std::time::Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(d);
    }
}

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

/// What a test changes of the event store it wraps in [`Hooked`]; every hook does nothing unless
/// the test says otherwise. Hooks get the wrapped store, to act as another writer on it.
#[async_trait::async_trait]
pub trait EventStoreHooks<S: Sync>: Send + Sync {
    /// Runs before an event is parked.
    async fn before_park(&self, _inner: &S) {}
    /// Runs before a parked event is expired.
    async fn before_expire(&self, _inner: &S) {}
    /// What the caller is told of a commit the store answered `answer` (e.g. a lost answer).
    fn commit_answer(&self, answer: Result<(), Conflict>) -> Result<(), Conflict> {
        answer
    }
}

/// An event store (with its parked events) that forwards every call to `inner`, with `hooks`
/// around the few a test changes: one forwarding implementation instead of one per test.
pub struct Hooked<S, H> {
    pub inner: S,
    pub hooks: H,
}

#[async_trait::async_trait]
impl<S: EventStore + ParkedEvents, H: EventStoreHooks<S>> EventStore for Hooked<S, H> {
    async fn marker(&self, t: TenantId, e: &str) -> Result<Option<FoundMarker>, StoreError> {
        self.inner.marker(t, e).await
    }
    async fn lead(&self, t: TenantId, id: &str) -> Result<Versioned<LeadRecord>, StoreError> {
        self.inner.lead(t, id).await
    }
    async fn leadgen_link(&self, t: TenantId, leadgen: &str) -> Result<Versioned<LeadgenLink>, StoreError> {
        self.inner.leadgen_link(t, leadgen).await
    }
    async fn opportunity(&self, t: TenantId, id: &str) -> Result<Versioned<OpportunityRecord>, StoreError> {
        self.inner.opportunity(t, id).await
    }
    async fn sale(&self, t: TenantId, id: &str) -> Result<Versioned<SaleRecord>, StoreError> {
        self.inner.sale(t, id).await
    }
    async fn cart(&self, t: TenantId, id: &str) -> Result<Versioned<CartRecord>, StoreError> {
        self.inner.cart(t, id).await
    }
    async fn profile(&self, t: TenantId) -> Result<Versioned<TenantProfile>, StoreError> {
        self.inner.profile(t).await
    }
    async fn commit(&self, c: &EventCommit) -> Result<Result<(), Conflict>, StoreError> {
        Ok(self.hooks.commit_answer(self.inner.commit(c).await?))
    }
    async fn dead_letter(&self, l: &DeadLetter) -> Result<String, StoreError> {
        self.inner.dead_letter(l).await
    }
}

#[async_trait::async_trait]
impl<S: EventStore + ParkedEvents, H: EventStoreHooks<S>> ParkedEvents for Hooked<S, H> {
    async fn park(&self, e: &ParkedEvent, lead: Revision) -> Result<Result<Parking, Conflict>, StoreError> {
        self.hooks.before_park(&self.inner).await;
        self.inner.park(e, lead).await
    }
    async fn waiting_for(&self, t: TenantId, lead: &str) -> Result<Vec<ParkedEvent>, StoreError> {
        self.inner.waiting_for(t, lead).await
    }
    async fn parked_events(&self, limit: usize) -> Result<Vec<ParkedEvent>, StoreError> {
        self.inner.parked_events(limit).await
    }
    async fn release(&self, e: &ParkedEvent) -> Result<(), StoreError> {
        self.inner.release(e).await
    }
    async fn expire(
        &self,
        e: &ParkedEvent,
        lead: Revision,
        l: &DeadLetter,
    ) -> Result<Result<Expiry, Conflict>, StoreError> {
        self.hooks.before_expire(&self.inner).await;
        self.inner.expire(e, lead, l).await
    }
}

//! Meta lead-ads webhook: the subscription handshake, signature check, payload parsing, and
//! turning `leadgen` changes into CRM leads through [`crate::events::ingest_lead`].
//!
//! A delivery (`POST`) goes: verify `X-Hub-Signature-256` over the raw body (before anything is
//! parsed; FIELD-NOTES 13) → parse → drop changes whose page no tenant owns ([`crate::meta::pages`],
//! FIELD-NOTES 23) → open one inbox item per lead (`T#{tenant}` / `LEADGEN#{leadgen_id}`) → fetch
//! the still-open leads from Graph with bounded concurrency inside a time budget → ingest →
//! settle the inbox item.
//!
//! - **No lead counted twice**: the lead is `meta:{leadgen_id}` ingested under event id
//!   `meta-leadgen:{leadgen_id}`, so re-deliveries, the same lead in two deliveries and concurrent
//!   deliveries all count it once (the ingest transaction's marker decides); a settled inbox item
//!   also spares Graph calls on re-delivery.
//! - **No lead lost**: the inbox item is written before any Graph call and stays in a sparse
//!   index of open leads (`GSI1PK = LEADGEN#OPEN#T#{tenant}`) until settled. A transient Meta or
//!   storage failure, or a change the time budget did not reach, leaves it `pending` and the
//!   delivery is answered `503`, so Meta re-delivers it (it retries for up to 36 h) and the next
//!   delivery finishes what is open. A token Meta rejects (190), or a tenant that is not connected,
//!   parks the lead as `awaiting_reconnect` (the connection is marked expired) and the delivery is
//!   answered `200` — Meta will not send it again, so the OAuth callback replays the tenant's open
//!   leads ([`replay_open_leads`]) once it reconnects. Leads Meta refuses for good (deleted, no
//!   permission) are settled as `failed` with the reason.
//! - **Answer fast**: at most [`FETCH_CONCURRENCY`] Graph fetches at a time and no new fetch after
//!   [`PROCESSING_BUDGET`], so even a 1,000-change delivery answers well inside API Gateway's 30 s;
//!   what the budget did not reach is finished by Meta's re-delivery.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::app::App;
use crate::domain::ids::TenantId;
use crate::events::{ingest_lead, Applied, EntityId, NewLead};
use crate::meta::graph::{GraphClient, Leadgen, MetaError};
use crate::meta::pages::{is_meta_id, owner_of};
use crate::platform::crypto::{constant_time_eq, verify_hmac_sha256_hex};
use crate::platform::error::ApiError;
use crate::platform::secrets::SecretString;
use crate::store::{attr, is_condition_failure, keys, DynamoStore, MetaConnection, StoreError};

/// Largest delivery accepted: Meta batches up to 1,000 changes (~250 B each) per delivery.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Graph fetches in flight at once per delivery.
pub const FETCH_CONCURRENCY: usize = 16;
/// No new fetch starts after this long; what is left stays open for Meta's re-delivery.
pub const PROCESSING_BUDGET: Duration = Duration::from_secs(8);
/// Settled inbox items are kept a while after Meta's 36 h of retries, then expire.
pub const SETTLED_TTL_DAYS: i64 = 35;
/// Header Meta signs deliveries with.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

// ------------------------------------------------------------------------------------ handshake

/// The `GET` handshake: `hub.mode=subscribe` and a `hub.verify_token` equal (constant time) to
/// ours → the `hub.challenge` to echo; anything else → 403.
pub fn verify_subscription(query: &[(String, String)], expected: Option<&SecretString>) -> Result<String, ApiError> {
    let param = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let refused = || ApiError::forbidden("verification_failed", "webhook verification failed");
    let Some(expected) = expected.filter(|e| !e.expose().is_empty()) else {
        tracing::error!("META_WEBHOOK_VERIFY_TOKEN is not configured; refusing the subscription handshake");
        return Err(refused());
    };
    if param("hub.mode") != Some("subscribe") {
        return Err(refused());
    }
    let token = param("hub.verify_token").unwrap_or("");
    if !constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) {
        return Err(refused());
    }
    // Meta's challenge is a number; anything else is not echoed back into a response body.
    let challenge = param("hub.challenge").unwrap_or("");
    if challenge.is_empty()
        || challenge.len() > 256
        || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(ApiError::bad_request("invalid_challenge", "hub.challenge is missing or not a plain token"));
    }
    Ok(challenge.to_string())
}

// ------------------------------------------------------------------------------------ signature

/// The hex digest of `X-Hub-Signature-256: sha256=<64 hex>`, or `None` when malformed.
pub fn parse_signature(header: &str) -> Option<&str> {
    let hex = header.trim().strip_prefix("sha256=")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Whether `header` is Meta's signature of exactly `body` under the app secret (constant time).
pub fn signature_is_valid(app_secret: &SecretString, body: &[u8], header: Option<&str>) -> bool {
    match header.and_then(parse_signature) {
        Some(hex) => verify_hmac_sha256_hex(app_secret.expose().as_bytes(), body, hex),
        None => false,
    }
}

/// `sha256=<hex>` as Meta sends it (for the sandbox and tests).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(crate::platform::crypto::hmac_sha256(app_secret.as_bytes(), body)))
}

// -------------------------------------------------------------------------------------- payload

/// One `leadgen` change of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadgenChange {
    pub leadgen_id: String,
    pub page_id: String,
    pub form_id: Option<String>,
    pub ad_id: Option<String>,
    /// Epoch seconds Meta put in the change (used when the lead itself has no time).
    pub created_time: Option<i64>,
}

/// A parsed delivery: the distinct leadgen changes, and how many changes were not usable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub changes: Vec<LeadgenChange>,
    /// Changes of other fields (not `leadgen`), ignored.
    pub other_fields: usize,
    /// `leadgen` changes with missing/non-numeric ids or whose `page_id` is not the entry's.
    pub invalid: usize,
}

#[derive(Deserialize)]
struct RawDelivery {
    object: String,
    #[serde(default)]
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    changes: Vec<RawChange>,
}

#[derive(Deserialize)]
struct RawChange {
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: Value,
}

/// Meta sends ids as strings (and as numbers in its dashboard's test deliveries).
fn id_of(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.as_u64()?.to_string(),
        _ => return None,
    };
    is_meta_id(&s).then_some(s)
}

/// Parses a delivery's JSON. Malformed JSON or a body that is not a delivery → 400; changes that
/// are unusable one by one are counted and skipped; the same leadgen id twice is kept once.
pub fn parse_delivery(body: &[u8]) -> Result<Delivery, ApiError> {
    let raw: RawDelivery = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("webhook body is not a Meta delivery: {e}")))?;
    let mut out = Delivery::default();
    if raw.object != "page" {
        out.other_fields = raw.entry.iter().map(|e| e.changes.len()).sum();
        return Ok(out);
    }
    let mut seen = BTreeSet::new();
    for entry in raw.entry {
        let entry_page = id_of(entry.id.as_ref());
        for change in entry.changes {
            if change.field != "leadgen" {
                out.other_fields += 1;
                continue;
            }
            let v = &change.value;
            let (Some(leadgen_id), Some(page_id)) = (id_of(v.get("leadgen_id")), id_of(v.get("page_id"))) else {
                out.invalid += 1;
                continue;
            };
            // The entry is the page the delivery is about; a change naming another page is not trusted.
            if entry_page.as_deref() != Some(page_id.as_str()) {
                out.invalid += 1;
                continue;
            }
            if !seen.insert(leadgen_id.clone()) {
                continue;
            }
            out.changes.push(LeadgenChange {
                leadgen_id,
                page_id,
                form_id: id_of(v.get("form_id")),
                ad_id: id_of(v.get("ad_id")),
                created_time: v.get("created_time").and_then(Value::as_i64),
            });
        }
    }
    Ok(out)
}

// -------------------------------------------------------------------------------- lead mapping

/// Meta's `2026-11-24T12:00:00+0000` (or RFC 3339).
pub fn parse_meta_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn answer(lead: &Leadgen, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| {
        lead.field_data
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(n))
            .and_then(|f| f.values.first())
            .map(|v| v.trim().chars().take(200).collect::<String>())
            .filter(|v| !v.is_empty())
    })
}

/// The CRM lead of a fetched lead-ads lead: id `meta:{leadgen_id}`, source `META_ADS`, the
/// campaign and ad Meta attributes it to, contact fields from the form's answers.
pub fn new_lead(change: &LeadgenChange, lead: &Leadgen, now: DateTime<Utc>) -> Result<NewLead, ApiError> {
    let created_at = parse_meta_time(&lead.created_time)
        .or_else(|| change.created_time.and_then(|s| Utc.timestamp_opt(s, 0).single()))
        .unwrap_or(now);
    let name = answer(lead, &["full_name", "name"]).or_else(|| {
        let parts: Vec<String> =
            [answer(lead, &["first_name"]), answer(lead, &["last_name"])].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let id_or_none = |v: &Option<String>| v.clone().filter(|s| is_meta_id(s));
    let value = json!({
        "id": format!("meta:{}", change.leadgen_id),
        "created_at": created_at,
        "source": "META_ADS",
        "status": "new",
        "name": name,
        "email": answer(lead, &["email"]),
        "phone": answer(lead, &["phone_number", "phone"]),
        "campaign_id": id_or_none(&lead.campaign_id),
        "campaign_name": lead.campaign_name,
        "ad_id": id_or_none(&lead.ad_id).or_else(|| id_or_none(&change.ad_id)),
        "ad_name": lead.ad_name,
    });
    serde_json::from_value(value).map_err(ApiError::internal)
}

/// The ingest event id of a lead: `meta-leadgen:{leadgen_id}`.
pub fn event_id(leadgen_id: &str) -> Result<EntityId, ApiError> {
    EntityId::parse(&format!("meta-leadgen:{leadgen_id}")).map_err(ApiError::internal)
}

// ------------------------------------------------------------------------------------- inbox

/// State of a lead's inbox item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxStatus {
    /// Received, not ingested yet (or a transient failure): the next delivery retries it.
    Pending,
    /// The tenant's token is expired/rejected or Meta is disconnected: retried after reconnect.
    AwaitingReconnect,
    /// Ingested (created, or found already counted).
    Done,
    /// Meta refused the lead for good (deleted, no permission): kept with the reason.
    Failed,
}

impl InboxStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingReconnect => "awaiting_reconnect",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "awaiting_reconnect" => Self::AwaitingReconnect,
            "done" => Self::Done,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
    /// Whether a delivery should (re)try the lead.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::AwaitingReconnect)
    }
}

/// Opens (or finds) the inbox item of `change`; returns its status.
async fn open_inbox(
    store: &DynamoStore,
    tenant: TenantId,
    change: &LeadgenChange,
    now: DateTime<Utc>,
) -> Result<InboxStatus, StoreError> {
    let (pk, sk) = (keys::tenant(tenant), keys::leadgen_inbox(&change.leadgen_id));
    let s = |v: &str| AttributeValue::S(v.to_string());
    let mut item: crate::store::Item = HashMap::from([
        (attr::PK.to_string(), s(&pk)),
        (attr::SK.to_string(), s(&sk)),
        ("status".to_string(), s(InboxStatus::Pending.as_str())),
        ("leadgen_id".to_string(), s(&change.leadgen_id)),
        ("page_id".to_string(), s(&change.page_id)),
        ("received_at".to_string(), s(&now.to_rfc3339())),
        ("last_delivery_at".to_string(), s(&now.to_rfc3339())),
        ("deliveries".to_string(), AttributeValue::N("1".into())),
        (attr::GSI1PK.to_string(), s(&keys::leadgen_open_index(tenant))),
        (attr::GSI1SK.to_string(), s(&format!("{}#{}", now.to_rfc3339(), change.leadgen_id))),
    ]);
    if let Some(form) = &change.form_id {
        item.insert("form_id".into(), s(form));
    }
    let created = store
        .client
        .put_item()
        .table_name(&store.table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", attr::PK)
        .send()
        .await;
    match created {
        Ok(_) => return Ok(InboxStatus::Pending),
        Err(e) if is_condition_failure(&e) => {}
        Err(e) => return Err(StoreError::from_sdk(e)),
    }
    // Known lead (re-delivery or another delivery): count the delivery, read its status.
    let out = store
        .client
        .update_item()
        .table_name(&store.table)
        .key(attr::PK, s(&pk))
        .key(attr::SK, s(&sk))
        .update_expression("SET last_delivery_at = :now ADD deliveries :one")
        .expression_attribute_values(":now", s(&now.to_rfc3339()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .map_err(StoreError::from_sdk)?;
    let status = out.attributes().and_then(|a| a.get("status")).and_then(|v| v.as_s().ok()).map(String::as_str);
    Ok(InboxStatus::parse(status.unwrap_or("pending")))
}

/// Settles (or re-opens) the inbox item after an attempt. Settled items leave the open index.
async fn settle_inbox(
    store: &DynamoStore,
    tenant: TenantId,
    leadgen_id: &str,
    status: InboxStatus,
    reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut upd = store
        .client
        .update_item()
        .table_name(&store.table)
        .key(attr::PK, AttributeValue::S(keys::tenant(tenant)))
        .key(attr::SK, AttributeValue::S(keys::leadgen_inbox(leadgen_id)))
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":status", AttributeValue::S(status.as_str().into()))
        .expression_attribute_values(":now", AttributeValue::S(now.to_rfc3339()))
        .expression_attribute_values(
            ":reason",
            reason.map_or(AttributeValue::Null(true), |r| AttributeValue::S(r.to_string())),
        )
        .expression_attribute_values(":one", AttributeValue::N("1".into()));
    let expr = if status.is_open() {
        // A concurrent delivery that already settled the lead is never re-opened.
        upd = upd
            .condition_expression("#status <> :done AND #status <> :failed")
            .expression_attribute_values(":done", AttributeValue::S(InboxStatus::Done.as_str().into()))
            .expression_attribute_values(":failed", AttributeValue::S(InboxStatus::Failed.as_str().into()));
        "SET #status = :status, updated_at = :now, last_error = :reason ADD attempts :one"
    } else {
        upd = upd
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_names("#gpk", attr::GSI1PK)
            .expression_attribute_names("#gsk", attr::GSI1SK)
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((now + chrono::Duration::days(SETTLED_TTL_DAYS)).timestamp().to_string()),
            );
        "SET #status = :status, updated_at = :now, last_error = :reason, #ttl = :ttl REMOVE #gpk, #gsk ADD attempts :one"
    };
    match upd.update_expression(expr).send().await {
        Ok(_) => Ok(()),
        Err(e) if is_condition_failure(&e) => Ok(()),
        Err(e) => Err(StoreError::from_sdk(e)),
    }
}

/// Up to `limit` open inbox items of `tenant`, oldest first (sparse GSI1; no Scan).
async fn open_items(store: &DynamoStore, tenant: TenantId, limit: i32) -> Result<Vec<LeadgenChange>, StoreError> {
    let out = store
        .client
        .query()
        .table_name(&store.table)
        .index_name("GSI1")
        .key_condition_expression("#gpk = :gpk")
        .expression_attribute_names("#gpk", attr::GSI1PK)
        .expression_attribute_values(":gpk", AttributeValue::S(keys::leadgen_open_index(tenant)))
        .limit(limit)
        .send()
        .await
        .map_err(StoreError::from_sdk)?;
    let s = |i: &crate::store::Item, k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
    Ok(out
        .items()
        .iter()
        .filter_map(|i| {
            Some(LeadgenChange {
                leadgen_id: s(i, "leadgen_id").filter(|id| is_meta_id(id))?,
                page_id: s(i, "page_id").unwrap_or_default(),
                form_id: s(i, "form_id"),
                ad_id: None,
                created_time: None,
            })
        })
        .collect())
}

// ---------------------------------------------------------------------------------- processing

/// What a delivery did, change by change (the `data` of the webhook's answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryReport {
    /// Distinct leadgen changes in the delivery.
    pub received: usize,
    pub created: usize,
    /// Already ingested (re-delivery, or the same lead in another delivery).
    pub duplicates: usize,
    /// Pages no tenant owns (logged by page id, skipped).
    pub unknown_page: usize,
    pub invalid: usize,
    pub awaiting_reconnect: usize,
    pub failed: usize,
    /// Still open after this delivery (transient failure or out of time): Meta must re-deliver.
    pub pending: usize,
}

/// One tenant's Graph access for this delivery.
struct TenantAccess {
    tenant: TenantId,
    /// `None` = not connected or expired: its leads wait for a reconnect.
    token: Option<(MetaConnection, SecretString)>,
    /// Set once Meta answered 190 during this delivery.
    rejected: AtomicBool,
    /// One ingest at a time per tenant: a tenant's leads of one delivery mostly land on the same
    /// day/month aggregate items, and concurrent transactions on them only conflict and retry.
    /// (Fetches stay concurrent; they are the slow part.)
    ingest: tokio::sync::Mutex<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Created,
    Duplicate,
    AwaitingReconnect,
    Failed,
    Pending,
}

async fn tenant_access(app: &App, tenant: TenantId, now: DateTime<Utc>) -> Result<TenantAccess, ApiError> {
    let token = match crate::meta::access::usable_token(app, tenant, now).await {
        Ok(t) => Some(t),
        Err(ApiError::Conflict { code, .. }) => {
            tracing::warn!(tenant_id = tenant.0, reason = code, "lead-ads leads wait for the tenant to reconnect Meta");
            None
        }
        Err(e) => return Err(e),
    };
    Ok(TenantAccess { tenant, token, rejected: AtomicBool::new(false), ingest: tokio::sync::Mutex::new(()) })
}

async fn attempt_lead(
    app: &App,
    store: &DynamoStore,
    graph: &GraphClient,
    access: &TenantAccess,
    change: &LeadgenChange,
    now: DateTime<Utc>,
) -> Attempt {
    let tenant = access.tenant;
    let settle = |status: InboxStatus, reason: Option<&'static str>| async move {
        if let Err(e) = settle_inbox(store, tenant, &change.leadgen_id, status, reason, now).await {
            tracing::error!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, error = %e, "lead inbox item could not be updated");
        }
    };
    let Some((conn, token)) = access.token.as_ref().filter(|_| !access.rejected.load(Ordering::Relaxed)) else {
        settle(InboxStatus::AwaitingReconnect, Some("meta_not_connected_or_expired")).await;
        return Attempt::AwaitingReconnect;
    };
    let lead = match graph.leadgen(token, &change.leadgen_id).await {
        Ok(l) => l,
        Err(err @ MetaError::InvalidToken { .. }) => {
            if !access.rejected.swap(true, Ordering::Relaxed) {
                // Marks the connection expired (token-status then says "reconnect").
                let _ = crate::meta::access::meta_failure(app, conn, err, now).await;
            }
            settle(InboxStatus::AwaitingReconnect, Some("meta_token_rejected")).await;
            return Attempt::AwaitingReconnect;
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, error = %e, "lead fetch failed; left open for Meta's re-delivery");
            settle(InboxStatus::Pending, Some("meta_unavailable")).await;
            return Attempt::Pending;
        }
        Err(e) => {
            tracing::warn!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, error = %e, "Meta refused the lead");
            let reason = match e {
                MetaError::Permission { .. } => "meta_permission_denied",
                _ => "meta_refused",
            };
            settle(InboxStatus::Failed, Some(reason)).await;
            return Attempt::Failed;
        }
    };
    let new = match (new_lead(change, &lead, now), event_id(&change.leadgen_id)) {
        (Ok(l), Ok(e)) => (l, e),
        _ => {
            settle(InboxStatus::Failed, Some("lead_unmappable")).await;
            return Attempt::Failed;
        }
    };
    let ingested = {
        let _one_at_a_time = access.ingest.lock().await;
        ingest_lead(store, tenant, new.1, new.0, now).await
    };
    match ingested {
        Ok(applied) => {
            settle(InboxStatus::Done, None).await;
            if applied == Applied::Applied {
                tracing::info!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, "lead-ads lead created");
                Attempt::Created
            } else {
                Attempt::Duplicate
            }
        }
        Err(e) => {
            tracing::error!(tenant_id = tenant.0, leadgen_id = %change.leadgen_id, error = %e, "lead could not be ingested; left open");
            settle(InboxStatus::Pending, Some("ingest_failed")).await;
            Attempt::Pending
        }
    }
}

/// How much work one delivery may do before answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Graph fetches (and inbox writes) in flight at once.
    pub concurrency: usize,
    /// No new fetch starts after this long.
    pub budget: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { concurrency: FETCH_CONCURRENCY, budget: PROCESSING_BUDGET }
    }
}

/// Processes a verified, parsed delivery (see the module doc) with the default [`Limits`].
pub async fn process_delivery(app: &App, delivery: Delivery, now: DateTime<Utc>) -> Result<DeliveryReport, ApiError> {
    process_delivery_with(app, delivery, now, Limits::default()).await
}

/// [`process_delivery`] with explicit limits. `Err` only for failures before any lead was fetched
/// (storage or secrets down): Meta then re-delivers the whole delivery.
pub async fn process_delivery_with(
    app: &App,
    delivery: Delivery,
    now: DateTime<Utc>,
    limits: Limits,
) -> Result<DeliveryReport, ApiError> {
    let started = tokio::time::Instant::now();
    let concurrency = limits.concurrency.max(1);
    let store = app.dynamo.clone().ok_or_else(|| ApiError::internal("the Meta webhook needs DynamoDB"))?;
    let mut report =
        DeliveryReport { received: delivery.changes.len(), invalid: delivery.invalid, ..Default::default() };

    // Page → tenant, once per distinct page.
    let mut owners: HashMap<String, Option<TenantId>> = HashMap::new();
    for page in delivery.changes.iter().map(|c| c.page_id.clone()).collect::<BTreeSet<_>>() {
        let owner = owner_of(&store, &page).await?.map(|o| o.tenant_id);
        if owner.is_none() {
            tracing::info!(page_id = %page, "lead-ads changes for a page no tenant owns; skipped");
        }
        owners.insert(page, owner);
    }
    let mut by_tenant: BTreeMap<TenantId, Vec<LeadgenChange>> = BTreeMap::new();
    for change in delivery.changes {
        match owners.get(&change.page_id).copied().flatten() {
            Some(t) => by_tenant.entry(t).or_default().push(change),
            None => report.unknown_page += 1,
        }
    }
    if by_tenant.is_empty() {
        return Ok(report);
    }

    // Durable first: every lead has an inbox item before any Graph call.
    let mut open: Vec<(TenantId, LeadgenChange)> = Vec::new();
    for (tenant, changes) in by_tenant {
        let mut set = tokio::task::JoinSet::new();
        for change in changes {
            let store = store.clone();
            set.spawn(async move {
                let status = open_inbox(&store, tenant, &change, now).await;
                (change, status)
            });
            while set.len() >= concurrency {
                if let Some(joined) = set.join_next().await {
                    collect_opened(joined, tenant, &mut open, &mut report)?;
                }
            }
        }
        while let Some(joined) = set.join_next().await {
            collect_opened(joined, tenant, &mut open, &mut report)?;
        }
    }
    if open.is_empty() {
        return Ok(report);
    }

    let graph = Arc::new(crate::meta::access::graph_client(app).await?);
    let mut access: BTreeMap<TenantId, Arc<TenantAccess>> = BTreeMap::new();
    for tenant in open.iter().map(|(t, _)| *t).collect::<BTreeSet<_>>() {
        match tenant_access(app, tenant, now).await {
            Ok(a) => {
                access.insert(tenant, Arc::new(a));
            }
            // One tenant's broken token/KMS/storage does not hold up the others' leads; its own
            // stay pending for the re-delivery.
            Err(e) => {
                tracing::error!(tenant_id = tenant.0, error = %e, "tenant's Meta token unavailable; its leads stay open")
            }
        }
    }

    fetch_and_ingest(app, &store, graph, &access, open, now, limits, started, &mut report).await;
    Ok(report)
}

/// Fetches and ingests `open` leads with bounded concurrency until the budget (counted from
/// `started`) is spent; what was not reached is counted `pending` (its inbox item stays open).
#[allow(clippy::too_many_arguments)]
async fn fetch_and_ingest(
    app: &App,
    store: &DynamoStore,
    graph: Arc<GraphClient>,
    access: &BTreeMap<TenantId, Arc<TenantAccess>>,
    open: Vec<(TenantId, LeadgenChange)>,
    now: DateTime<Utc>,
    limits: Limits,
    started: tokio::time::Instant,
    report: &mut DeliveryReport,
) {
    let concurrency = limits.concurrency.max(1);
    let mut set = tokio::task::JoinSet::new();
    let mut queue = open.into_iter();
    loop {
        while set.len() < concurrency && started.elapsed() < limits.budget {
            let Some((tenant, change)) = queue.next() else { break };
            let Some(acc) = access.get(&tenant).cloned() else {
                report.pending += 1;
                continue;
            };
            let (app, store, graph) = (app.clone(), store.clone(), graph.clone());
            set.spawn(async move { attempt_lead(&app, &store, &graph, &acc, &change, now).await });
        }
        match set.join_next().await {
            Some(Ok(outcome)) => match outcome {
                Attempt::Created => report.created += 1,
                Attempt::Duplicate => report.duplicates += 1,
                Attempt::AwaitingReconnect => report.awaiting_reconnect += 1,
                Attempt::Failed => report.failed += 1,
                Attempt::Pending => report.pending += 1,
            },
            Some(Err(e)) => {
                tracing::error!(error = %e, "lead task failed; left open");
                report.pending += 1;
            }
            None => break,
        }
    }
    // Not reached within the budget: still pending in the inbox.
    let left = queue.count();
    if left > 0 {
        tracing::warn!(left, "processing budget spent; the rest stays open for a re-delivery or replay");
        report.pending += left;
    }
}

/// Most open leads one replay looks at.
pub const REPLAY_BATCH: i32 = 200;
/// Time a replay may spend (it runs inside the OAuth callback).
pub const REPLAY_BUDGET: Duration = Duration::from_secs(5);

/// Processes `tenant`'s open leads (parked while its token was expired, or left pending) with the
/// token it just connected with. Called by the OAuth callback: Meta does not re-deliver a lead we
/// answered 200 for, so a reconnect is what brings parked leads in. Reads only open items (sparse
/// GSI1); what the batch/budget does not reach stays open for the next replay or re-delivery.
pub async fn replay_open_leads(
    app: &App,
    graph: &GraphClient,
    conn: &MetaConnection,
    token: &SecretString,
    now: DateTime<Utc>,
) -> Result<DeliveryReport, ApiError> {
    let started = tokio::time::Instant::now();
    let store = app.dynamo.clone().ok_or_else(|| ApiError::internal("the lead replay needs DynamoDB"))?;
    let tenant = conn.tenant_id;
    let open: Vec<(TenantId, LeadgenChange)> =
        open_items(&store, tenant, REPLAY_BATCH).await?.into_iter().map(|c| (tenant, c)).collect();
    let mut report = DeliveryReport { received: open.len(), ..Default::default() };
    if open.is_empty() {
        return Ok(report);
    }
    let access = TenantAccess {
        tenant,
        token: Some((conn.clone(), token.clone())),
        rejected: AtomicBool::new(false),
        ingest: tokio::sync::Mutex::new(()),
    };
    let access = BTreeMap::from([(tenant, Arc::new(access))]);
    let graph = Arc::new(GraphClient::new(app.http.get().clone(), graph.settings().clone()));
    let limits = Limits { concurrency: FETCH_CONCURRENCY, budget: REPLAY_BUDGET };
    fetch_and_ingest(app, &store, graph, &access, open, now, limits, started, &mut report).await;
    tracing::info!(
        tenant_id = tenant.0,
        replayed = report.received,
        created = report.created,
        still_open = report.pending + report.awaiting_reconnect,
        "open lead-ads leads replayed after connect"
    );
    Ok(report)
}

fn collect_opened(
    joined: Result<(LeadgenChange, Result<InboxStatus, StoreError>), tokio::task::JoinError>,
    tenant: TenantId,
    open: &mut Vec<(TenantId, LeadgenChange)>,
    report: &mut DeliveryReport,
) -> Result<(), ApiError> {
    let (change, status) = joined.map_err(ApiError::internal)?;
    match status? {
        s if s.is_open() => open.push((tenant, change)),
        _ => report.duplicates += 1,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::graph::LeadField;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn handshake_echoes_the_challenge_only_for_subscribe_with_our_token() {
        let ours = SecretString::new("verify-me");
        let ok = q(&[("hub.mode", "subscribe"), ("hub.verify_token", "verify-me"), ("hub.challenge", "1158201444")]);
        assert_eq!(verify_subscription(&ok, Some(&ours)).expect("ok"), "1158201444");
        let wrong = q(&[("hub.mode", "subscribe"), ("hub.verify_token", "nope"), ("hub.challenge", "1")]);
        assert_eq!(verify_subscription(&wrong, Some(&ours)).expect_err("403").status().as_u16(), 403);
        let mode = q(&[("hub.mode", "unsubscribe"), ("hub.verify_token", "verify-me"), ("hub.challenge", "1")]);
        assert_eq!(verify_subscription(&mode, Some(&ours)).expect_err("403").status().as_u16(), 403);
        assert_eq!(verify_subscription(&ok, None).expect_err("unset").status().as_u16(), 403);
        let html = q(&[("hub.mode", "subscribe"), ("hub.verify_token", "verify-me"), ("hub.challenge", "<script>")]);
        assert_eq!(verify_subscription(&html, Some(&ours)).expect_err("400").status().as_u16(), 400);
    }

    #[test]
    fn signature_header_must_be_sha256_and_64_hex() {
        let hex = "a".repeat(64);
        assert_eq!(parse_signature(&format!("sha256={hex}")), Some(hex.as_str()));
        assert_eq!(parse_signature(&format!("sha1={hex}")), None);
        assert_eq!(parse_signature("sha256=abc"), None);
        assert_eq!(parse_signature(&format!("sha256={}", "z".repeat(64))), None);
        assert_eq!(parse_signature(""), None);
    }

    #[test]
    fn signature_covers_the_exact_raw_body() {
        let secret = SecretString::new("app-secret");
        let body = br#"{"object":"page","entry":[]}"#;
        let sig = sign("app-secret", body);
        assert!(signature_is_valid(&secret, body, Some(&sig)));
        assert!(!signature_is_valid(&secret, br#"{"object":"page","entry":[] }"#, Some(&sig)));
        assert!(!signature_is_valid(&SecretString::new("other"), body, Some(&sig)));
        assert!(!signature_is_valid(&secret, body, None));
        assert!(!signature_is_valid(&secret, body, Some(sig.trim_start_matches("sha256="))));
    }

    fn change(leadgen: Value, page: Value) -> Value {
        json!({"field": "leadgen", "value": {"leadgen_id": leadgen, "page_id": page, "form_id": "77", "ad_id": "55", "adgroup_id": "66", "created_time": 1_795_000_000}})
    }

    #[test]
    fn delivery_keeps_distinct_leadgen_changes_of_their_own_page() {
        let body = json!({"object": "page", "entry": [
            {"id": "100", "time": 1, "changes": [change(json!("1"), json!("100")), change(json!(2), json!(100)), change(json!("1"), json!("100"))]},
            {"id": "100", "time": 1, "changes": [change(json!("3"), json!("999")), {"field": "feed", "value": {}}, change(json!("x1"), json!("100"))]},
        ]});
        let d = parse_delivery(body.to_string().as_bytes()).expect("parses");
        let ids: Vec<&str> = d.changes.iter().map(|c| c.leadgen_id.as_str()).collect();
        assert_eq!(ids, vec!["1", "2"]);
        assert_eq!((d.invalid, d.other_fields), (2, 1));
        assert_eq!(d.changes[0].form_id.as_deref(), Some("77"));
        assert_eq!(d.changes[0].created_time, Some(1_795_000_000));
    }

    #[test]
    fn a_full_delivery_of_1000_changes_fits_the_body_limit_and_parses() {
        let changes: Vec<Value> = (0..1000u64)
            .map(|i| change(json!((1_100_000_000_000_000u64 + i).to_string()), json!("1080000000000001")))
            .collect();
        let body =
            json!({"object": "page", "entry": [{"id": "1080000000000001", "time": 1_795_000_000, "changes": changes}]})
                .to_string();
        assert!(body.len() < MAX_BODY_BYTES / 2, "{} bytes", body.len());
        assert!(body.len() > 65_536, "the default MAX_BODY_BYTES would refuse it");
        assert_eq!(parse_delivery(body.as_bytes()).expect("parses").changes.len(), 1000);
    }

    #[test]
    fn malformed_or_foreign_bodies() {
        assert_eq!(parse_delivery(b"{not json").expect_err("400").status().as_u16(), 400);
        assert_eq!(parse_delivery(b"[]").expect_err("400").status().as_u16(), 400);
        let other = parse_delivery(
            br#"{"object":"instagram","entry":[{"id":"1","changes":[{"field":"comments","value":{}}]}]}"#,
        )
        .expect("ok");
        assert!(other.changes.is_empty());
    }

    #[test]
    fn meta_times_parse_with_and_without_colon() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).single().expect("t");
        assert_eq!(parse_meta_time("2026-11-24T15:00:00+0000"), Some(t));
        assert_eq!(parse_meta_time("2026-11-24T12:00:00-0300"), Some(t));
        assert_eq!(parse_meta_time("2026-11-24T15:00:00Z"), Some(t));
        assert_eq!(parse_meta_time("yesterday"), None);
    }

    #[test]
    fn lead_gets_meta_source_attribution_and_contact_answers() {
        let c = LeadgenChange {
            leadgen_id: "444".into(),
            page_id: "100".into(),
            form_id: None,
            ad_id: Some("55".into()),
            created_time: None,
        };
        let lead = Leadgen {
            id: "444".into(),
            created_time: "2026-11-24T15:00:00+0000".into(),
            field_data: vec![
                LeadField { name: "first_name".into(), values: vec!["Ana".into()] },
                LeadField { name: "last_name".into(), values: vec!["Gómez".into()] },
                LeadField { name: "EMAIL".into(), values: vec!["ana@example.com".into()] },
                LeadField { name: "phone_number".into(), values: vec!["+5491100000000".into()] },
            ],
            campaign_id: Some("120200000000001".into()),
            campaign_name: Some("Spring".into()),
            ad_id: None,
            ad_name: None,
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).single().expect("t");
        let l = new_lead(&c, &lead, now).expect("lead");
        assert_eq!(l.id.as_str(), "meta:444");
        assert_eq!(l.source.as_str(), "META_ADS");
        assert_eq!(l.campaign_id.as_ref().map(|t| t.as_str()), Some("120200000000001"));
        assert_eq!(l.ad_id.as_ref().map(|t| t.as_str()), Some("55"), "falls back to the change's ad id");
        assert_eq!(l.name.as_deref(), Some("Ana Gómez"));
        assert_eq!(l.email.as_deref(), Some("ana@example.com"));
        assert_eq!(l.created_at, Utc.with_ymd_and_hms(2026, 11, 24, 15, 0, 0).single().expect("t"));
        assert_eq!(event_id("444").expect("id").as_str(), "meta-leadgen:444");
    }
}

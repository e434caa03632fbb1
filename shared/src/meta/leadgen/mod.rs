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
//!   answered `200` — Meta will not send it again, so the connect's follow-up job replays the tenant's open
//!   leads ([`replay_open_leads`]) once it reconnects. Leads Meta refuses for good (deleted, no
//!   permission) are settled as `failed` with the reason.
//! - **Answer fast**: at most [`FETCH_CONCURRENCY`] Graph fetches at a time and no new fetch after
//!   [`PROCESSING_BUDGET`], so even a 1,000-change delivery answers well inside API Gateway's 30 s;
//!   what the budget did not reach is finished by Meta's re-delivery.
//!
//! - **Webhooks that never came**: the spend sync's tenant mode reconciles ([`reconcile`]): it
//!   re-reads the lead forms of the tenant's pages since the last sweep and ingests what is
//!   missing through the same mapping and ingest, and retries inbox items still open after Meta's
//!   36 h of re-deliveries.
//!
//! Files: [`webhook`] (handshake, signature, payload), [`inbox`] (page routing and the inbox over
//! its store port), [`lead`] (a Graph lead as a CRM lead), [`ingest`] (fetch + ingest with
//! bounded concurrency, replay), [`reconcile`] (lead forms read back, stale inbox items).
//! Everything callers use is re-exported here.

pub mod handoff;
pub mod inbox;
pub mod ingest;
pub mod lead;
pub mod reconcile;
pub mod webhook;

pub use inbox::{InboxStatus, SETTLED_TTL_DAYS};
pub use ingest::{
    process_delivery, process_delivery_with, replay_open_leads, replay_stale_leads, ArrivedLead, DeliveryReport,
    Limits, FETCH_CONCURRENCY, PROCESSING_BUDGET, REPLAY_BATCH, REPLAY_BUDGET, WEBHOOK_RETRY_WINDOW,
};
pub use lead::{event_id, new_lead, parse_meta_time};
pub use reconcile::{reconcile_leads, LeadReconciliation, ReconcileError, SWEEP_OVERLAP};
pub use webhook::{
    parse_delivery, parse_signature, sign, signature_is_valid, verify_signature, verify_subscription, Delivery,
    LeadgenChange, WebhookError, MAX_BODY_BYTES, SIGNATURE_HEADER,
};

//! CRM domain events (`source = "crm"` on the product's EventBridge bus): their schemas, and
//! applying one to the entity items and the tenant's aggregates **idempotently**.
//!
//! - [`schema`]: the EventBridge envelope, [`CrmEvent`] and its bodies, [`Malformed`];
//! - [`decide`](mod@decide): the pure step: given an event and the records it touches as read, the writes;
//! - [`counting`]: the counters and names those writes add to the aggregate items;
//! - [`apply`]: read → decide → commit through the [`crate::store::events::EventStore`] port,
//!   retried when a commit loses a race; [`ingest_lead`] for leads from other paths;
//! - [`dead_letter`](mod@dead_letter): keeping an event that can never be applied;
//! - [`early`]: an opportunity or sale that arrives before its lead is parked, redriven when the
//!   lead comes (or by the sweep), expired and alarmed after [`PARK_LIMIT_DAYS`].
//!
//! One event = one atomic commit: the conditional put of the `EVT#{event_id}` marker, the entity
//! put(s) guarded by the revision read (optimistic lock), and `ADD` on the counters of the
//! affected `AGG#D#…`/`AGG#M#…` items. A re-delivered event fails the marker condition and changes
//! nothing; two concurrent deliveries race on the same marker and exactly one commits (the loser
//! re-reads, sees the marker and stops). Entities also guard on their own ids (a lead is counted
//! once, a sale once), so a producer that re-sends the same fact under a new event id is not
//! double-counted either.
//!
//! Ordering: `lead.updated` / `opportunity.updated` / `cart.updated` carry the entity's `version`
//! (increasing per entity in the CRM); an update older than what is stored is ignored, and an
//! update that arrives before its `*.created` leaves a stub the created event completes. Tenant
//! profiles order by `occurred_at`. Attribution is first touch: a lead's source / campaign / ad are
//! fixed by `lead.created`; opportunities and sales count for their lead's attribution on the local
//! day they happen (created / completed), in the tenant's reporting zone in force when applied.
//! An opportunity or sale that arrives before its lead waits parked for it ([`early`]).

use serde::Serialize;

use crate::store::StoreError;

pub mod apply;
pub mod counting;
pub mod dead_letter;
pub mod decide;
pub mod early;
pub mod schema;

pub use apply::{apply_event, ingest_lead, lead_of, MARKER_TTL_DAYS};
pub use counting::{Attribution, Deltas};
pub use dead_letter::{dead_letter, DEAD_LETTER_TTL_DAYS};
pub use decide::{decide, Decision, Seen};
pub use early::{redrive, Redriven, PARK_LIMIT_DAYS};
pub use schema::{
    envelope_ids, parse_event, CartChange, CompletedSale, CrmEvent, CrmEventKind, LeadChange, Malformed, NewLead,
    NewOpportunity, OpportunityChange, TenantChange, DETAIL_TYPES, EVENT_SOURCE,
};

// The validated ids are `domain`'s; re-exported here, where events' callers look for them.
pub use crate::domain::ids::{EntityId, LeadSource, Status, Tag};

/// Why an event could not be applied *now* (EventBridge / Lambda retry it; then the SQS DLQ).
/// [`ApplyError::LeadNotYetKnown`] is the decide step's: applying parks such an event instead.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0}")]
    Store(#[from] StoreError),
    /// An opportunity or sale whose lead has not arrived yet (events are not ordered).
    #[error("lead {0} is not known yet")]
    LeadNotYetKnown(String),
    #[error("too many concurrent writers on the same items")]
    Contention,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Entity and counters updated.
    Applied,
    /// The event id was applied before: nothing changed.
    Duplicate,
    /// Recorded, but older than the stored state (or a fact already counted): nothing else changed.
    Stale,
    /// Its lead has not arrived: kept (once) until the lead is applied or the limit passes
    /// ([`early`]); nothing counted yet.
    Parked,
}

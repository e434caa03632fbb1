//! The WhatsApp HSM automation's ports (keys in ARCHITECTURE.md "DynamoDB"):
//!
//! - [`due::DueStore`]: `DUE#{trigger}#{entity}` items in the sparse GSI1 by due hour, so the
//!   evaluator reads only what is past due (never all leads);
//! - [`claims::SendClaims`]: `SENT#{trigger}#{entity}`, the conditional claim that is the **only**
//!   gate against a second send (`sending` → `sent` / `retry` / `failed`);
//! - [`contacts::Contacts`]: the per-contact cap (`CONTACT#{phone}`) and opt-outs (`OPTOUT#{phone}`);
//! - [`log::AutomationLog`]: `LOG#{ms}#{id}` entries, newest first, statuses only moving forward,
//!   and the YCloud webhook's event markers;
//! - [`rules::RulesStore`]: the tenant's rules (`HSM#RULES`) and counters (`HSM#COUNTS`).
//!
//! Each is implemented by [`DynamoStore`](crate::store::DynamoStore) and, for tests, by the
//! [`MemoryTable`](crate::store::memory_table::MemoryTable) twin, both held to
//! `store::conformance::{due_items, send_claims, contacts, automation_log, automation_rules}`.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::store::Item;

pub mod claims;
pub mod contacts;
pub mod due;
pub mod log;
pub mod rules;

pub(crate) fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

pub(crate) fn text(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}

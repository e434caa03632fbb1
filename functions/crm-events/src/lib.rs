//! `crm-events`: consumes CRM domain events from the product's EventBridge bus (rule
//! `source = ["crm"]`) and applies each to its entity item and the tenant's aggregates,
//! idempotently (see [`crm_shared::events`]).
//!
//! Failure paths:
//! - a **malformed** event (unknown type, missing/invalid field, unknown currency or zone) can never
//!   succeed: it is logged with its id, written to the dead-letter partition `DLQ#crm-events` in
//!   the table with the reason and payload, and acknowledged — it never fails the invocation nor
//!   blocks the other events of a batch, and nothing of it is applied;
//! - an **early** opportunity or sale (its lead has not arrived yet) is parked, not failed: when
//!   its lead is applied here it is redriven at once, and the schedule's sweep ([`redrive`])
//!   redrives what is left and expires — dead-letters, logs, counts for the alarm — what waited
//!   longer than `PARK_LIMIT_DAYS`;
//! - a **transient** failure (DynamoDB throttled/unavailable, persistent write contention) fails
//!   the invocation after the rest of the batch is processed: Lambda's async retries run it again
//!   (applying is idempotent) and, when they are exhausted, the event lands in the function's SQS
//!   dead-letter queue for redrive.
//!
//! The payload is one EventBridge event; an array of events or an SQS batch (`Records[].body`,
//! e.g. a redrive from the DLQ) is accepted too. A *Scheduled Event* (`source = aws.events`) runs
//! the sweep of parked events.

use crm_shared::api::wiring::Wiring;
use crm_shared::platform::secrets::SecretNeeds;

/// The secrets this function resolves; nothing else is read. None: CRM events come from EventBridge
/// and call no peer.
pub const SECRETS: SecretNeeds = &[];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). Neither KMS nor the bus.
pub const WIRING: Wiring = Wiring::NONE;

pub use crm_shared::flows::crm_events::*;

#[cfg(test)]
mod tests {
    use crm_shared::store::events::dead_letters;
    use crm_shared::testing::unit_app;
    use crm_shared::testing::unit_now;
    use serde_json::{json, Value};

    use super::*;

    fn event(detail_type: &str, event_id: &str, key: &str, body: Value) -> Value {
        json!({"source": "crm", "detail-type": detail_type, "detail": {
            "event_id": event_id, "tenant_id": 5, "occurred_at": "2026-11-20T10:00:00Z", key: body}})
    }

    /// The handler runs on the events port: the in-memory app applies, de-duplicates,
    /// dead-letters and asks for retries like the DynamoDB one (`tests/it/crm_events.rs`).
    #[tokio::test]
    async fn a_batch_is_applied_through_the_events_port() {
        let (app, mem) = unit_app(&[]);
        let lead = event(
            "lead.created",
            "e-1",
            "lead",
            json!({"id": "L-1", "created_at": "2026-11-20T10:00:00Z", "source": "WEBSITE"}),
        );
        let unknown = event("lead.deleted", "e-2", "lead", json!({"id": "L-1"}));
        let s = handle_event(&app, json!([lead.clone(), unknown, lead])).await.expect("batch");
        assert_eq!(s, Summary { applied: 1, duplicate: 1, dead_lettered: 1, ..Summary::default() });
        let dlq = dead_letters(mem.table.as_ref(), unit_now(), unit_now()).await.expect("dead letters");
        assert_eq!(dlq.len(), 1);
        assert!(dlq[0].reason.contains("lead.deleted"), "{}", dlq[0].reason);

        let early_sale = event(
            "sale.completed",
            "e-3",
            "sale",
            json!({"id": "S-1", "lead_id": "L-2", "amount_minor": 100, "currency": "USD", "completed_at": "2026-11-20T11:00:00Z"}),
        );
        let parked = handle_event(&app, early_sale).await.expect("parked, not failed");
        assert_eq!(parked, Summary { parked: 1, ..Summary::default() });
    }

    #[test]
    fn accepts_one_event_an_array_or_an_sqs_redrive_batch() {
        let ev = json!({"source": "crm", "detail-type": "lead.created", "detail": {}});
        assert_eq!(events_of(ev.clone()), vec![ev.clone()]);
        assert_eq!(events_of(json!([ev.clone(), ev.clone()])).len(), 2);
        let sqs =
            json!({"Records": [{"messageId": "m1", "body": ev.to_string()}, {"messageId": "m2", "body": "not json"}]});
        let out = events_of(sqs);
        assert_eq!(out[0], ev);
        // An unreadable record is passed on whole, to be dead-lettered with its reason.
        assert_eq!(out[1]["messageId"], "m2");
    }
}

//! Dead-lettering: a malformed event (it can never be applied) is kept whole with the reason in
//! the dead-letter partition (`DLQ#crm-events`) through the [`EventStore`] port, for inspection
//! and replay, and is acknowledged so it never blocks the rest of its batch.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::events::schema::envelope_ids;
use crate::store::events::{DeadLetter, EventStore};
use crate::store::StoreError;

/// Dead-lettered events are kept this long for inspection and replay.
pub const DEAD_LETTER_TTL_DAYS: i64 = 30;

/// The most of an event's JSON a dead letter keeps.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// The dead letter of `raw`: its envelope ids (a generated id when it has none), the reason, and
/// the payload cut at [`MAX_PAYLOAD_BYTES`] (on a character boundary).
pub fn letter_of(raw: &Value, reason: &str, now: DateTime<Utc>) -> DeadLetter {
    let (event_id, detail_type, tenant_id) = envelope_ids(raw);
    let id = event_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let mut payload = raw.to_string();
    if payload.len() > MAX_PAYLOAD_BYTES {
        let mut cut = MAX_PAYLOAD_BYTES;
        while !payload.is_char_boundary(cut) {
            cut -= 1;
        }
        payload.truncate(cut);
    }
    DeadLetter {
        received_at: now,
        id,
        event_id,
        detail_type,
        tenant_id,
        reason: reason.to_string(),
        payload,
        expires_at: now + Duration::days(DEAD_LETTER_TTL_DAYS),
    }
}

/// Writes a malformed event to the dead-letter partition with the reason; returns its sort key.
pub async fn dead_letter<S: EventStore + ?Sized>(
    store: &S,
    raw: &Value,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    store.dead_letter(&letter_of(raw, reason, now)).await
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use std::sync::Arc;

    use crate::store::events::{dead_letters, MemoryEventStore};
    use crate::store::memory::MemoryStore;
    use crate::store::memory_table::MemoryTable;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("t")
    }

    #[test]
    fn a_letter_keeps_the_envelope_ids_and_a_bounded_payload() {
        let raw = json!({"id": "eb-1", "detail-type": "lead.created", "detail": {"event_id": "e-1", "tenant_id": 4, "pad": "ñ".repeat(40_000)}});
        let l = letter_of(&raw, "why", now());
        assert_eq!((l.id.as_str(), l.event_id.as_deref(), l.tenant_id), ("e-1", Some("e-1"), Some(4)));
        assert_eq!(l.detail_type.as_deref(), Some("lead.created"));
        assert!(l.payload.len() <= MAX_PAYLOAD_BYTES && l.payload.len() > MAX_PAYLOAD_BYTES - 4);
        assert_eq!(l.expires_at, now() + Duration::days(DEAD_LETTER_TTL_DAYS));
        assert_eq!(l.sort_key(), "2026-11-24T12:00:00.000Z#e-1");
        let anonymous = letter_of(&json!("not an event"), "why", now());
        assert_eq!((anonymous.event_id, anonymous.id.len()), (None, 32), "a generated id");
    }

    #[tokio::test]
    async fn dead_letters_go_through_the_port() {
        let table = Arc::new(MemoryTable::default());
        let store = MemoryEventStore::new(table.clone(), Arc::new(MemoryStore::default()));
        let key = dead_letter(&store, &json!({"id": "eb-9"}), "unknown detail-type", now()).await.expect("write");
        let all = dead_letters(table.as_ref(), now(), now()).await.expect("read");
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].sort_key(), all[0].reason.as_str()), (key, "unknown detail-type"));
    }
}

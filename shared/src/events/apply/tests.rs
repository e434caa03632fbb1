//! Applying events through the in-memory twin of the port: idempotency, ordering, races and a
//! lost commit answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use super::*;
use crate::events::parse_event;
use crate::store::aggregates::AggBucket;
use crate::store::events::MemoryEventStore;
use crate::store::memory::MemoryStore;
use crate::store::memory_table::MemoryTable;
use crate::store::parked_events::ParkedEvents;
use crate::store::Conflict;
use crate::testing::{unit_app, unit_now as now, EventStoreHooks, Hooked};

fn crm(detail_type: &str, event_id: &str, body_key: &str, body: Value) -> CrmEvent {
    parse_event(&json!({
        "source": "crm",
        "detail-type": detail_type,
        "detail": {"event_id": event_id, "tenant_id": 3, "occurred_at": "2026-11-20T12:00:00Z", body_key: body},
    }))
    .expect("event")
}

fn lead(id: &str, event_id: &str) -> CrmEvent {
    crm(
        "lead.created",
        event_id,
        "lead",
        json!({"id": id, "created_at": "2026-11-20T10:00:00Z", "source": "META_ADS", "campaign_id": "c1"}),
    )
}

fn sale(id: &str, event_id: &str, amount: i64, minute: u32) -> CrmEvent {
    let at = format!("2026-11-21T10:{minute:02}:00Z");
    crm(
        "sale.completed",
        event_id,
        "sale",
        json!({"id": id, "lead_id": "L-1", "amount_minor": amount, "currency": "USD", "completed_at": at}),
    )
}

/// A twin over its own table, and the table (to read the aggregate items back).
fn twin() -> (MemoryEventStore, Arc<MemoryTable>) {
    let table = Arc::new(MemoryTable::default());
    (MemoryEventStore::new(table.clone(), Arc::new(MemoryStore::default())), table)
}

/// Counter `name` of tenant 3's aggregate item `sk`, as stored.
fn counter(table: &MemoryTable, sk: &str, name: &str) -> i64 {
    let item = table.lock().get("T#3", sk).unwrap_or_default();
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn a_redelivered_event_is_counted_once() {
    let (store, table) = twin();
    assert_eq!(apply_event(&store, &lead("L-1", "e-1"), now()).await.expect("1"), Applied::Applied);
    assert_eq!(apply_event(&store, &lead("L-1", "e-1"), now()).await.expect("2"), Applied::Duplicate);
    // The same fact under another event id is recorded as stale, not counted again.
    assert_eq!(apply_event(&store, &lead("L-1", "e-1-resent"), now()).await.expect("3"), Applied::Stale);
    let marker = store.marker(TenantId(3), "e-1-resent").await.expect("marker").expect("written");
    assert!(marker.stale);
    assert_eq!(counter(&table, "AGG#D#2026-11-20", "leads"), 1);
    assert_eq!(counter(&table, "AGG#M#2026-11", "leads__camp__c1"), 1);
}

#[tokio::test]
async fn a_sale_before_its_lead_is_parked_and_counts_nothing_yet() {
    let (store, table) = twin();
    let s = sale("S-1", "e-s1", 900, 0);
    assert_eq!(apply_event(&store, &s, now()).await.expect("park"), Applied::Parked);
    assert_eq!(apply_event(&store, &s, now()).await.expect("again"), Applied::Parked, "a re-delivery waits too");
    assert_eq!(store.marker(TenantId(3), "e-s1").await.expect("marker"), None);
    assert_eq!(store.sale(TenantId(3), "S-1").await.expect("sale").value, None);
    assert_eq!(counter(&table, "AGG#D#2026-11-21", "sales"), 0);
    let waiting = store.waiting_for(TenantId(3), "L-1").await.expect("parked");
    assert_eq!(waiting.len(), 1, "parked once");
    assert_eq!((waiting[0].event_id.as_str(), waiting[0].parked_at), ("e-s1", now()));
    // Once the lead is there, the same event applies (what a redrive does).
    apply_event(&store, &lead("L-1", "e-1"), now()).await.expect("lead");
    assert_eq!(apply_event(&store, &s, now()).await.expect("retry"), Applied::Applied);
    assert_eq!(counter(&table, "AGG#D#2026-11-21", "revenue__USD__src__META_ADS"), 900);
    let lead = store.lead(TenantId(3), "L-1").await.expect("lead");
    assert_eq!(lead.revision, crate::store::Revision::at(2), "created, then its first sale");
}

#[tokio::test]
async fn an_older_update_is_ignored() {
    let (store, table) = twin();
    let upd = |v: u64, status: &str| {
        crm("lead.updated", &format!("e-u{v}"), "lead", json!({"id": "L-1", "version": v, "status": status}))
    };
    assert_eq!(apply_event(&store, &upd(3, "qualified"), now()).await.expect("v3"), Applied::Applied);
    assert_eq!(counter(&table, "AGG#D#2026-11-20", "leads"), 0, "a stub is not counted");
    assert_eq!(apply_event(&store, &lead("L-1", "e-1"), now()).await.expect("created"), Applied::Applied);
    assert_eq!(apply_event(&store, &upd(2, "contacted"), now()).await.expect("v2"), Applied::Stale);
    let rec = store.lead(TenantId(3), "L-1").await.expect("lead").value.expect("stored");
    assert_eq!((rec.version, rec.status.as_deref(), rec.counted), (3, Some("qualified"), true));
    assert_eq!(counter(&table, "AGG#D#2026-11-20", "leads"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_deliveries_count_exactly_once() {
    let (store, table) = twin();
    let store = Arc::new(store);
    apply_event(store.as_ref(), &lead("L-1", "e-1"), now()).await.expect("lead");
    let mut tasks = Vec::new();
    let mut revenue = 0;
    for i in 0..24_u32 {
        let ev = if i % 3 == 0 {
            sale("S-dup", "e-dup", 5_000, 0)
        } else {
            revenue += 100 + i64::from(i);
            sale(&format!("S-{i}"), &format!("e-sale-{i}"), 100 + i64::from(i), 1 + i)
        };
        let store = store.clone();
        tasks.push(tokio::spawn(async move { apply_event(store.as_ref(), &ev, now()).await }));
    }
    let mut applied = 0;
    for t in tasks {
        if t.await.expect("join").expect("apply") == Applied::Applied {
            applied += 1;
        }
    }
    assert_eq!(applied, 16 + 1, "each distinct sale once, the duplicate once");
    let day = "AGG#D#2026-11-21";
    assert_eq!(counter(&table, day, "sales"), 17);
    assert_eq!(counter(&table, day, "revenue__USD"), revenue + 5_000);
    assert_eq!(counter(&table, day, "customers"), 1);
    let lead = store.lead(TenantId(3), "L-1").await.expect("lead").value.expect("lead");
    assert_eq!(lead.first_sale_at.map(|t| t.to_rfc3339()), Some("2026-11-21T10:00:00+00:00".into()));
}

/// Hooks whose first commit goes through but answers as if it had lost a race (the answer of a
/// DynamoDB transaction lost to a timeout, retried by the SDK into a cancellation).
struct LoseAnswer(AtomicBool);

impl EventStoreHooks<MemoryEventStore> for LoseAnswer {
    fn commit_answer(&self, answer: Result<(), Conflict>) -> Result<(), Conflict> {
        if self.0.swap(false, Ordering::SeqCst) {
            Err(Conflict)
        } else {
            answer
        }
    }
}

#[tokio::test]
async fn a_commit_whose_answer_was_lost_is_still_ours() {
    let (inner, table) = twin();
    let store = Hooked { inner, hooks: LoseAnswer(AtomicBool::new(true)) };
    assert_eq!(apply_event(&store, &lead("L-1", "e-1"), now()).await.expect("apply"), Applied::Applied);
    let store = Hooked { inner: store.inner, hooks: LoseAnswer(AtomicBool::new(true)) };
    assert_eq!(apply_event(&store, &lead("L-1", "e-2"), now()).await.expect("apply"), Applied::Stale);
    assert_eq!(apply_event(&store, &lead("L-1", "e-2"), now()).await.expect("again"), Applied::Duplicate);
    assert_eq!(counter(&table, "AGG#D#2026-11-20", "leads"), 1);
}

/// `App::in_memory` wires the events twin to the profile and aggregate ports' twins: a tenant
/// update is the profile the app reads, its zone places the next lead on its local day, and the
/// dashboard's port reads the counters.
#[tokio::test]
async fn the_in_memory_app_applies_events_against_its_own_profiles() {
    let (app, _mem) = unit_app(&[]);
    let tenant = crm(
        "tenant.updated",
        "e-t",
        "tenant",
        json!({"display_name": "Clinic", "reporting_time_zone": "America/Bogota", "currency": "USD"}),
    );
    assert_eq!(apply_event(app.events.as_ref(), &tenant, now()).await.expect("tenant"), Applied::Applied);
    let profile = app.profiles.get_profile(TenantId(3)).await.expect("get").expect("profile");
    assert_eq!(profile.display_name, "Clinic");
    // 03:00Z on Nov 21 is 22:00 on Nov 20 in Bogotá.
    let late = crm(
        "lead.created",
        "e-late",
        "lead",
        json!({"id": "L-9", "created_at": "2026-11-21T03:00:00Z", "source": "WEBSITE"}),
    );
    let CrmEventKind::LeadCreated(new) = late.kind else { panic!("lead.created") };
    let event_id = EntityId::parse("e-late").expect("id");
    ingest_lead(app.events.as_ref(), TenantId(3), event_id, new, now()).await.expect("ingest");
    // The dashboard's aggregate port reads what the event wrote.
    let nov = |d| chrono::NaiveDate::from_ymd_opt(2026, 11, d).expect("day");
    let (days, _) = app.aggregates.aggregate_items(TenantId(3), AggBucket::Day, nov(20), nov(21)).await.expect("read");
    let leads: Vec<_> = days.iter().map(|d| (d.date, d.counters.get("leads__src__WEBSITE").copied())).collect();
    assert_eq!(leads, vec![(nov(20), Some(1))]);
}

fn lead_with_leadgen(id: &str, event_id: &str, leadgen: &str) -> CrmEvent {
    crm(
        "lead.created",
        event_id,
        "lead",
        json!({"id": id, "created_at": "2026-11-20T10:00:00Z", "source": "META_ADS", "campaign_id": "c1",
               "leadgen_id": leadgen}),
    )
}

fn lead_status(id: &str, event_id: &str, version: u64, status: &str) -> CrmEvent {
    crm("lead.updated", event_id, "lead", json!({"id": id, "version": version, "status": status}))
}

/// The CRM's copy of a Meta lead (its `lead.created` carries the leadgen id) and our Meta lead are
/// one lead, whichever arrives first: counted once; later events naming either id land on it.
#[tokio::test]
async fn the_same_leadgen_id_is_one_lead_whichever_path_came_first() {
    for meta_first in [true, false] {
        let (store, table) = twin();
        let meta = lead_with_leadgen("meta:1100000000000001", "meta-leadgen:1100000000000001", "1100000000000001");
        let crm_copy = lead_with_leadgen("L-77", "e-crm-77", "1100000000000001");
        let (first, second) = if meta_first { (&meta, &crm_copy) } else { (&crm_copy, &meta) };
        assert_eq!(apply_event(&store, first, now()).await.expect("first"), Applied::Applied);
        assert_eq!(apply_event(&store, second, now()).await.expect("second"), Applied::Stale, "an alias, not a lead");
        assert_eq!(apply_event(&store, second, now()).await.expect("again"), Applied::Duplicate);
        assert_eq!(counter(&table, "AGG#D#2026-11-20", "leads"), 1, "counted once (meta first: {meta_first})");
        assert_eq!(counter(&table, "AGG#M#2026-11", "leads__camp__c1"), 1);

        let (holder, alias) =
            if meta_first { ("meta:1100000000000001", "L-77") } else { ("L-77", "meta:1100000000000001") };
        let stored = store.lead(TenantId(3), alias).await.expect("read").value.expect("alias stored");
        assert_eq!((stored.alias_of.as_deref(), stored.counted), (Some(holder), false));
        // The CRM moves its own id on: the one lead changes, whichever id holds it.
        apply_event(&store, &lead_status("L-77", "e-upd-77", 2, "contacted"), now()).await.expect("update");
        let resolved = lead_of(&store, TenantId(3), alias).await.expect("read").value.expect("lead");
        assert_eq!((resolved.lead_id.as_str(), resolved.status.as_deref()), (holder, Some("contacted")));
        let sale = crm(
            "sale.completed",
            "e-sale-77",
            "sale",
            json!({"id": "S-77", "lead_id": "L-77", "amount_minor": 500, "currency": "USD", "completed_at": "2026-11-21T10:00:00Z"}),
        );
        assert_eq!(
            apply_event(&store, &sale, now()).await.expect("sale"),
            Applied::Applied,
            "attributed through the alias"
        );
        assert_eq!(counter(&table, "AGG#M#2026-11", "customers__camp__c1"), 1);
    }
}

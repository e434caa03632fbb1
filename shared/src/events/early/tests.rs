//! Early events on the in-memory twin: parked once, applied once when the lead comes, expired
//! into the dead letters after the limit, and a lead that commits in between never missed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use serde_json::{json, Value};

use super::*;
use crate::domain::ids::TenantId;
use crate::store::events::{dead_letters, MemoryEventStore};
use crate::store::memory::MemoryStore;
use crate::store::memory_table::MemoryTable;
use crate::store::parked_events::Parking;
use crate::testing::{unit_now as now, EventStoreHooks, Hooked};

const T: TenantId = TenantId(4);

fn crm(detail_type: &str, event_id: &str, body_key: &str, body: Value) -> CrmEvent {
    parse_event(&json!({
        "source": "crm",
        "detail-type": detail_type,
        "detail": {"event_id": event_id, "tenant_id": T.0, "occurred_at": "2026-11-20T12:00:00Z", body_key: body},
    }))
    .expect("event")
}

fn lead(id: &str) -> CrmEvent {
    crm(
        "lead.created",
        &format!("e-{id}"),
        "lead",
        json!({"id": id, "created_at": "2026-11-20T10:00:00Z", "source": "META_ADS", "campaign_id": "c1"}),
    )
}

fn sale(id: &str, lead_id: &str, amount: i64) -> CrmEvent {
    crm(
        "sale.completed",
        &format!("e-{id}"),
        "sale",
        json!({"id": id, "lead_id": lead_id, "amount_minor": amount, "currency": "USD", "completed_at": "2026-11-21T10:00:00Z"}),
    )
}

fn twin() -> (MemoryEventStore, Arc<MemoryTable>) {
    let table = Arc::new(MemoryTable::default());
    (MemoryEventStore::new(table.clone(), Arc::new(MemoryStore::default())), table)
}

fn counter(table: &MemoryTable, name: &str) -> i64 {
    let item = table.lock().get(&format!("T#{}", T.0), "AGG#D#2026-11-21").unwrap_or_default();
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Redrives every event parked for `lead_id` as `crm-events` does after applying the lead.
async fn redrive_waiting<S: EventStore + ?Sized>(store: &S, lead_id: &str, at: DateTime<Utc>) -> Vec<Redriven> {
    let mut out = Vec::new();
    for parked in store.waiting_for(T, lead_id).await.expect("waiting") {
        let r = redrive(store, &parked, at).await.expect("redrive");
        if matches!(r, Redriven::Applied(..)) {
            store.release(&parked).await.expect("release");
        }
        out.push(r);
    }
    out
}

#[tokio::test]
async fn a_parked_sale_is_applied_once_when_its_lead_arrives() {
    let (store, table) = twin();
    let s = sale("S-1", "L-1", 900);
    assert_eq!(apply_event(&store, &s, now()).await.expect("park"), Applied::Parked);
    assert_eq!(redrive_waiting(&store, "L-1", now()).await, vec![Redriven::Waiting], "no lead yet");
    assert_eq!(apply_event(&store, &lead("L-1"), now()).await.expect("lead"), Applied::Applied);
    let redriven = redrive_waiting(&store, "L-1", now()).await;
    assert_eq!(redriven, vec![Redriven::Applied(Box::new(s.clone()), Applied::Applied)]);
    assert!(store.waiting_for(T, "L-1").await.expect("waiting").is_empty(), "released");
    assert_eq!(apply_event(&store, &s, now()).await.expect("re-delivery"), Applied::Duplicate);
    assert_eq!((counter(&table, "sales"), counter(&table, "revenue__USD__camp__c1")), (1, 900));
    assert_eq!(counter(&table, "customers__src__META_ADS"), 1);
}

#[tokio::test]
async fn a_redrive_cut_short_before_the_release_applies_nothing_twice() {
    let (store, table) = twin();
    let s = sale("S-1", "L-1", 900);
    apply_event(&store, &s, now()).await.expect("park");
    apply_event(&store, &lead("L-1"), now()).await.expect("lead");
    let parked = store.waiting_for(T, "L-1").await.expect("waiting").remove(0);
    assert!(matches!(redrive(&store, &parked, now()).await, Ok(Redriven::Applied(_, Applied::Applied))));
    // The release never happened (the invocation failed): the sweep finds it again.
    let again = store.parked_events(10).await.expect("sweep");
    assert_eq!(again, vec![parked.clone()]);
    assert!(matches!(redrive(&store, &again[0], now()).await, Ok(Redriven::Applied(_, Applied::Duplicate))));
    assert_eq!(counter(&table, "sales"), 1);
}

#[tokio::test]
async fn an_opportunity_before_its_lead_waits_too() {
    let (store, table) = twin();
    let opp = crm(
        "opportunity.created",
        "e-o1",
        "opportunity",
        json!({"id": "O-1", "lead_id": "L-2", "created_at": "2026-11-21T09:00:00Z"}),
    );
    assert_eq!(apply_event(&store, &opp, now()).await.expect("park"), Applied::Parked);
    apply_event(&store, &lead("L-2"), now()).await.expect("lead");
    assert!(matches!(redrive_waiting(&store, "L-2", now()).await.as_slice(), [Redriven::Applied(..)]));
    assert_eq!(counter(&table, "opps__camp__c1"), 1);
}

#[tokio::test]
async fn a_parked_event_waits_until_its_limit_then_expires_into_the_dead_letters() {
    let (store, table) = twin();
    apply_event(&store, &sale("S-9", "L-never", 500), now()).await.expect("park");
    let parked = store.parked_events(10).await.expect("parked").remove(0);
    assert_eq!(parked.due, now() + Duration::days(PARK_LIMIT_DAYS));
    let almost = parked.due - Duration::seconds(1);
    assert_eq!(redrive(&store, &parked, almost).await.expect("not yet"), Redriven::Waiting);
    assert_eq!(redrive(&store, &parked, parked.due).await.expect("expire"), Redriven::Expired);
    assert_eq!(redrive(&store, &parked, parked.due).await.expect("again"), Redriven::Gone, "expired once");
    assert!(store.parked_events(10).await.expect("parked").is_empty());
    let letters = dead_letters(table.as_ref(), parked.due, parked.due).await.expect("letters");
    assert_eq!(letters.len(), 1);
    let l = &letters[0];
    assert_eq!(
        (l.event_id.as_deref(), l.tenant_id, l.detail_type.as_deref()),
        (Some("e-S-9"), Some(4), Some("sale.completed"))
    );
    assert!(l.reason.contains("lead L-never did not arrive within 7 days"), "{}", l.reason);
    // The payload is the event, ready to replay.
    let replay = parse_event(&serde_json::from_str(&l.payload).expect("json")).expect("event");
    assert_eq!(replay, sale("S-9", "L-never", 500));
    assert_eq!(counter(&table, "sales"), 0, "nothing counted");
}

#[tokio::test]
async fn an_unreadable_parked_event_is_dead_lettered_at_once() {
    let (store, table) = twin();
    let mut parked = parked_of(&sale("S-1", "L-1", 1), "L-1", now()).expect("parked");
    parked.payload = "{\"source\": \"crm\"}".into();
    assert_eq!(store.park(&parked, Revision::ABSENT).await.expect("park"), Ok(Parking::Parked));
    assert_eq!(redrive(&store, &parked, now()).await.expect("redrive"), Redriven::Expired);
    let letters = dead_letters(table.as_ref(), now(), now()).await.expect("letters");
    assert!(letters[0].reason.contains("cannot be read back"), "{}", letters[0].reason);
}

#[tokio::test]
async fn a_lead_committed_while_its_sale_parks_is_not_missed() {
    let (store, table) = interleaved(lead("L-1"));
    store.hooks.before_park.store(true, Ordering::SeqCst);
    // The sale read no lead; the lead commits before the park: the park conflicts, the sale re-reads.
    assert_eq!(apply_event(&store, &sale("S-1", "L-1", 700), now()).await.expect("apply"), Applied::Applied);
    assert!(store.waiting_for(T, "L-1").await.expect("waiting").is_empty(), "never parked");
    assert_eq!(counter(&table, "sales"), 1);
}

#[tokio::test]
async fn a_lead_committed_while_its_sale_expires_wins() {
    let (store, table) = interleaved(lead("L-1"));
    apply_event(&store, &sale("S-1", "L-1", 700), now()).await.expect("park");
    let parked = store.parked_events(10).await.expect("parked").remove(0);
    store.hooks.before_expire.store(true, Ordering::SeqCst);
    assert!(matches!(redrive(&store, &parked, parked.due).await, Ok(Redriven::Applied(_, Applied::Applied))));
    assert!(dead_letters(table.as_ref(), parked.due, parked.due).await.expect("letters").is_empty());
    assert_eq!(counter(&table, "sales"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_and_its_sale_at_the_same_time_count_the_sale_exactly_once() {
    let (store, table) = twin();
    let store = Arc::new(store);
    for round in 0..40 {
        let lead_id = format!("L-{round}");
        let (s, l) = (sale(&format!("S-{round}"), &lead_id, 10), lead(&lead_id));
        let (a, b, waited_for) = (store.clone(), store.clone(), lead_id.clone());
        let child = tokio::spawn(async move { apply_event(a.as_ref(), &s, now()).await });
        let parent = tokio::spawn(async move {
            apply_event(b.as_ref(), &l, now()).await.expect("lead");
            redrive_waiting(b.as_ref(), &waited_for, now()).await
        });
        let child = child.await.expect("join").expect("sale");
        let redriven = parent.await.expect("join");
        let applied_by_redrive =
            redriven.iter().filter(|r| matches!(r, Redriven::Applied(_, Applied::Applied))).count();
        match child {
            Applied::Applied => assert_eq!(applied_by_redrive, 0, "round {round}"),
            Applied::Parked => assert_eq!(applied_by_redrive, 1, "round {round}: parked, so redriven"),
            other => panic!("round {round}: {other:?}"),
        }
        assert!(store.waiting_for(T, &lead_id).await.expect("waiting").is_empty(), "round {round}");
    }
    assert_eq!(counter(&table, "sales"), 40);
    assert_eq!(counter(&table, "revenue__USD"), 400);
}

/// Hooks committing `lead` as "another writer" just before the twin's next park or expiry when
/// armed: the interleaving the lead-revision condition exists for.
struct Interleave {
    lead: CrmEvent,
    before_park: AtomicBool,
    before_expire: AtomicBool,
}

impl Interleave {
    async fn run(&self, armed: &AtomicBool, inner: &MemoryEventStore) {
        if armed.swap(false, Ordering::SeqCst) {
            apply_event(inner, &self.lead, now()).await.expect("the other writer's lead");
        }
    }
}

#[async_trait]
impl EventStoreHooks<MemoryEventStore> for Interleave {
    async fn before_park(&self, inner: &MemoryEventStore) {
        self.run(&self.before_park, inner).await;
    }
    async fn before_expire(&self, inner: &MemoryEventStore) {
        self.run(&self.before_expire, inner).await;
    }
}

/// The twin wrapped in [`Interleave`] hooks for `lead`, and its table.
fn interleaved(lead: CrmEvent) -> (Hooked<MemoryEventStore, Interleave>, Arc<MemoryTable>) {
    let (inner, table) = twin();
    let hooks = Interleave { lead, before_park: AtomicBool::new(false), before_expire: AtomicBool::new(false) };
    (Hooked { inner, hooks }, table)
}

//! The conversions outbox port ([`ConversionStore`]): settings at a revision, items created once
//! (all or none), the tenant's queue in funnel order, settling, the pending mark, the lease and
//! the counters.

use std::collections::BTreeMap;

use chrono::Duration;

use super::{day, t0};
use crate::domain::conversions::{
    ConversionActivity, ConversionItem, ConversionSettings, ConversionState, StageKind, StageMap,
};
use crate::domain::ids::TenantId;
use crate::store::conversions::ConversionStore;
use crate::store::{Conflict, Revision};

fn item(tenant: TenantId, lead: &str, kind: StageKind, stage: &str, state: ConversionState) -> ConversionItem {
    ConversionItem {
        tenant_id: tenant,
        lead_id: lead.into(),
        leadgen_id: "1100000000000001".into(),
        kind,
        stage: stage.into(),
        event_name: stage.into(),
        event_id: format!("{lead}-{stage}"),
        source_event: format!("evt-{lead}-{stage}"),
        event_time: t0(),
        lead_created_at: Some(t0() - Duration::hours(1)),
        value_minor: None,
        currency: None,
        queued_at: t0(),
        state,
        reason: None,
        attempts: 0,
        settled_at: None,
    }
}

pub async fn conversion_store<S: ConversionStore + ?Sized>(store: &S) {
    let (t, other) = (TenantId(9101), TenantId(9102));
    let today = day(2026, 11, 24);
    // Settings: saved at a revision; a save from a stale read conflicts.
    assert_eq!(store.settings_at(t).await.expect("read").0, None);
    let settings = ConversionSettings {
        tenant_id: t,
        enabled: true,
        dataset_id: Some("700000000000001".into()),
        dataset_name: None,
        stages: StageMap::default(),
        test_event_code: Some("TEST1".into()),
        lead_event_source: "CRM".into(),
        updated_at: t0(),
        updated_by: "u1".into(),
    };
    assert_eq!(store.save_settings(&settings, Revision::ABSENT).await.expect("save"), Ok(1));
    assert_eq!(store.save_settings(&settings, Revision::ABSENT).await.expect("save"), Err(Conflict));
    let (read, rev) = store.settings_at(t).await.expect("read");
    assert_eq!((read.as_ref(), rev), (Some(&settings), Revision::at(1)));

    // Items: all or none; the queue in funnel order per lead; other tenants apart.
    let lead_created = item(t, "L1", StageKind::LeadCreated, "lead_created", ConversionState::Pending);
    let sale = item(t, "L1", StageKind::SaleCompleted, "sale_completed", ConversionState::Pending);
    let skipped = item(t, "L2", StageKind::LeadStatus, "status_qualified", ConversionState::Skipped);
    assert_eq!(store.enqueue(t, &[sale.clone(), lead_created.clone()], today).await.expect("enqueue"), Ok(()));
    assert_eq!(store.enqueue(t, std::slice::from_ref(&skipped), today).await.expect("enqueue"), Ok(()));
    let again = item(t, "L1", StageKind::OpportunityCreated, "opportunity_created", ConversionState::Pending);
    assert_eq!(store.enqueue(t, &[again.clone(), sale.clone()], today).await.expect("enqueue"), Err(Conflict));
    let stages: Vec<String> = store.lead_stages(t, "L1").await.expect("stages").into_iter().map(|c| c.stage).collect();
    assert_eq!(stages, ["lead_created", "sale_completed"], "the conflicting batch wrote nothing");
    let pending: Vec<String> = store.pending(t, 10).await.expect("pending").into_iter().map(|c| c.stage).collect();
    assert_eq!(pending, ["lead_created", "sale_completed"], "earlier stages first; skipped items are not queued");
    assert!(store.pending(other, 10).await.expect("pending").is_empty());
    assert_eq!(
        store.counts(t, today, today).await.expect("counts"),
        BTreeMap::from([("skipped__status_qualified".into(), 1)])
    );

    // The tenant is marked; a mark read before another enqueue is not cleared.
    let marks = store.tenants_pending(100).await.expect("marks");
    let mark = marks.iter().find(|m| m.tenant == t).cloned().expect("tenant marked");
    assert_eq!(mark.marked_at, Some(t0()), "marked at the queue time of its items");
    assert!(!marks.iter().any(|m| m.tenant == other));
    let later = item(t, "L3", StageKind::LeadCreated, "lead_created", ConversionState::Pending);
    assert_eq!(store.enqueue(t, std::slice::from_ref(&later), today).await.expect("enqueue"), Ok(()));
    assert!(!store.clear_pending(&mark).await.expect("clear"), "re-marked since it was read");

    // Settling takes items out of the queue and counts them.
    let mut sent = lead_created.clone();
    sent.state = ConversionState::Sent;
    sent.settled_at = Some(t0());
    let mut retried = sale.clone();
    retried.attempts = 1;
    let counters = BTreeMap::from([("sent__lead_created".to_string(), 1)]);
    store.settle(t, &[sent, retried], &counters, today).await.expect("settle");
    let pending = store.pending(t, 10).await.expect("pending");
    assert_eq!(
        pending.iter().map(|c| (c.stage.as_str(), c.attempts)).collect::<Vec<_>>(),
        [("sale_completed", 1), ("lead_created", 0)]
    );
    let counts = store.counts(t, today - Duration::days(6), today).await.expect("counts");
    assert_eq!((counts.get("sent__lead_created"), counts.get("skipped__status_qualified")), (Some(&1), Some(&1)));
    let fresh = store.tenants_pending(100).await.expect("marks").into_iter().find(|m| m.tenant == t).expect("marked");
    assert!(store.clear_pending(&fresh).await.expect("clear"));
    assert!(!store.tenants_pending(100).await.expect("marks").iter().any(|m| m.tenant == t));

    // The lease: one holder at a time until it runs out; released only by its holder.
    let until = t0() + Duration::minutes(5);
    assert!(store.take_lease(t, "a", t0(), until).await.expect("lease"));
    assert!(!store.take_lease(t, "b", t0(), until).await.expect("lease"));
    assert!(store.take_lease(other, "b", t0(), until).await.expect("other tenant's lease"));
    store.release_lease(t, "b").await.expect("release");
    assert!(!store.take_lease(t, "b", t0() + Duration::minutes(1), until).await.expect("still a's"));
    assert!(store
        .take_lease(t, "b", t0() + Duration::minutes(6), t0() + Duration::minutes(11))
        .await
        .expect("expired"));
    store.release_lease(t, "b").await.expect("release");
    assert!(store.take_lease(t, "c", t0(), until).await.expect("released"));

    // Meta's last answer.
    assert_eq!(store.activity(t).await.expect("activity"), ConversionActivity::default());
    let a = ConversionActivity { last_batch_at: Some(t0()), last_events_received: Some(2), ..Default::default() };
    store.put_activity(t, &a).await.expect("put");
    assert_eq!(store.activity(t).await.expect("activity"), a);
    assert_eq!(store.activity(other).await.expect("activity"), ConversionActivity::default());
}

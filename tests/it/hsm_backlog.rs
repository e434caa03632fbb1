//! The evaluator after an outage, against moto and Sandbox YCloud: runs read from the stored
//! watermark, so follow-ups that fell due while no run happened — for weeks — are still sent,
//! each once, oldest first, one bounded window per run.

use chrono::Duration;
use crm_shared::automation::backlog::{hour_of, INDEX_SETTLE};
use crm_shared::automation::evaluator::{Outcome, Settings};
use crm_shared::domain::hsm::TriggerKind;
use integration_tests::{t0, HsmTestEnv};

use crate::automation::{enable_all, lead, run, run_with, sends, settings};

async fn watermark(h: &HsmTestEnv) -> Option<chrono::DateTime<chrono::Utc>> {
    h.env.app.due.watermark().await.expect("watermark")
}

#[tokio::test]
async fn an_evaluator_outage_of_weeks_loses_no_follow_up() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 1).await;
    h.env.clock.set(t0());
    assert_eq!(run(&h).await.items, 0);
    // A few minutes behind the index: the last hour is read again by the next run.
    let before = hour_of(t0() - INDEX_SETTLE);
    assert_eq!(watermark(&h).await, Some(before), "the last run before the outage");
    // Leads keep arriving while no evaluator runs (a broken deploy, a disabled schedule).
    lead(&h, 1, "L-1", "+5491155550301", t0()).await; // due t0 + 24 h
    h.env.clock.set(t0() + Duration::days(9));
    lead(&h, 1, "L-2", "+5491155550302", t0() + Duration::days(9)).await; // due t0 + 10 d

    // 20 days on, far past the first run's 72 h lookback: one week of buckets per run.
    h.env.clock.set(t0() + Duration::days(20));
    let first = run(&h).await;
    assert_eq!(first.count(Outcome::Sent), 1, "{first:?}");
    assert_eq!(
        (sends(&h, 1, TriggerKind::LeadFollowup, "L-1"), sends(&h, 1, TriggerKind::LeadFollowup, "L-2")),
        (1, 0),
        "oldest first"
    );
    assert_eq!(watermark(&h).await, Some(hour_of(before + Duration::days(7) - INDEX_SETTLE)), "one week read");
    let second = run(&h).await;
    assert_eq!(second.count(Outcome::Sent), 1, "{second:?}");
    assert_eq!(sends(&h, 1, TriggerKind::LeadFollowup, "L-2"), 1);
    let third = run(&h).await;
    assert_eq!(third.items, 0);
    assert_eq!(watermark(&h).await, Some(hour_of(t0() + Duration::days(20) - INDEX_SETTLE)), "caught up");
    // Nothing twice.
    run(&h).await;
    assert_eq!(
        (sends(&h, 1, TriggerKind::LeadFollowup, "L-1"), sends(&h, 1, TriggerKind::LeadFollowup, "L-2")),
        (1, 1)
    );
}

#[tokio::test]
async fn a_full_batch_holds_the_watermark_at_what_it_read() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 1).await;
    h.env.clock.set(t0());
    run(&h).await;
    lead(&h, 1, "L-1", "+5491155550311", t0()).await; // due t0 + 1 d
    lead(&h, 1, "L-2", "+5491155550312", t0() + Duration::days(1)).await; // due t0 + 2 d
    h.env.clock.set(t0() + Duration::days(5));
    let one_at_a_time = Settings { batch: 1, read_limit: 1, ..settings() };
    let first = run_with(&h, &one_at_a_time).await;
    assert_eq!((first.items, first.count(Outcome::Sent)), (1, 1));
    assert_eq!(watermark(&h).await, Some(hour_of(t0() + Duration::days(1))), "not past the unread");
    let second = run_with(&h, &one_at_a_time).await;
    assert_eq!(second.count(Outcome::Sent), 1, "{second:?}");
    assert_eq!(sends(&h, 1, TriggerKind::LeadFollowup, "L-2"), 1);
}

#[tokio::test]
async fn an_item_that_shows_up_late_in_a_bucket_already_read_is_still_sent() {
    let h = HsmTestEnv::new().await;
    enable_all(&h, 2).await;
    // A run at 12:02 reads bucket 11 …
    h.env.clock.set(t0() + Duration::minutes(2));
    assert_eq!(run(&h).await.items, 0);
    // … before an item due 11:59:58 lands in it (a slow writer; the index settles).
    let late = crm_shared::store::automation::due::DueItem::new(
        crm_shared::domain::ids::TenantId(2),
        TriggerKind::LeadFollowup,
        "L-late",
        t0() - Duration::seconds(2),
    );
    lead(&h, 2, "L-late", "+5491155550321", t0() - Duration::hours(24) - Duration::seconds(2)).await;
    h.env.app.due.schedule(&late).await.expect("due");
    h.env.clock.set(t0() + Duration::minutes(7));
    let r = run(&h).await;
    assert_eq!(r.count(Outcome::Sent), 1, "the next run read bucket 11 again: {r:?}");
    assert_eq!(sends(&h, 2, TriggerKind::LeadFollowup, "L-late"), 1);
    assert_eq!(watermark(&h).await, Some(hour_of(t0())), "and moves on once 12:05 has passed");
}

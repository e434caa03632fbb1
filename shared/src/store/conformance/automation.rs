//! Conformance of the HSM automation ports: due items, send claims, contacts, log, rules.

use super::*;

/// Due items: scheduled items are found once past due and not before, only in the lookback
/// window, tenants and triggers apart; cancel removes; a replace only applies to the item as read.
pub async fn due_items<S: DueStore>(s: &S) {
    let (a, b) = (TenantId(9101), TenantId(9102));
    let lead = DueItem::new(a, TriggerKind::LeadFollowup, "L-1", t0() + Duration::minutes(30));
    let cart = DueItem::new(b, TriggerKind::AbandonedCart, "C-1", t0() - Duration::hours(3));
    let old = DueItem::new(a, TriggerKind::PostSaleFeedback, "S-1", t0() - Duration::hours(30));
    for i in [&lead, &cart, &old] {
        s.schedule(i).await.expect("schedule");
    }
    let (due, _) = s.past_due(t0(), 24, 100).await.expect("past due");
    assert_eq!(due, vec![cart.clone()], "only the cart is due within 24 h; the lead is not due yet");
    let (due, cost) = s.past_due(t0() + Duration::hours(1), 48, 100).await.expect("past due");
    assert_eq!(due, vec![old.clone(), cart.clone(), lead.clone()], "oldest first");
    assert_eq!(cost.items_read, 3, "reads only due items");
    let (one, _) = s.past_due(t0() + Duration::hours(1), 48, 1).await.expect("limit");
    assert_eq!(one.len(), 1);

    // Rescheduling moves the item to its new bucket; the stale read cannot delete it.
    let later = DueItem { due_at: t0() + Duration::days(2), ..lead.clone() };
    s.schedule(&later).await.expect("reschedule");
    assert!(!s.replace(&lead, None).await.expect("replace"), "rescheduled meanwhile: left alone");
    assert_eq!(s.due_item(a, TriggerKind::LeadFollowup, "L-1").await.expect("get"), Some(later.clone()));
    let deferred = DueItem { due_at: t0() + Duration::days(3), attempts: 1, note: Some("429".into()), ..later.clone() };
    assert!(s.replace(&later, Some(&deferred)).await.expect("defer"));
    assert!(s.replace(&deferred, None).await.expect("settle"));
    assert_eq!(s.due_item(a, TriggerKind::LeadFollowup, "L-1").await.expect("get"), None);

    assert!(s.cancel(b, TriggerKind::AbandonedCart, "C-1").await.expect("cancel"));
    assert!(!s.cancel(b, TriggerKind::AbandonedCart, "C-1").await.expect("cancel twice"));
    assert!(!s.cancel(a, TriggerKind::PostSaleFeedback, "C-1").await.expect("other key"));
    let (due, _) = s.past_due(t0() + Duration::days(5), 200, 100).await.expect("past due");
    assert_eq!(due, vec![old]);
}

/// The evaluator's watermark: none at first, then what was last set (also backwards).
pub async fn due_watermark<S: DueStore>(s: &S) {
    assert_eq!(s.watermark().await.expect("read"), None);
    s.set_watermark(t0()).await.expect("set");
    assert_eq!(s.watermark().await.expect("read"), Some(t0()));
    s.set_watermark(t0() - Duration::hours(5)).await.expect("set back");
    assert_eq!(s.watermark().await.expect("read"), Some(t0() - Duration::hours(5)));
}

fn won(o: ClaimOutcome) -> Option<(SendClaim, bool)> {
    match o {
        ClaimOutcome::Won { claim, unknown_outcome } => Some((claim, unknown_outcome)),
        ClaimOutcome::Lost { .. } => None,
    }
}

/// Send claims: racing claimers → exactly one wins; `sent`/`failed` are final; `retry` is claimable
/// when due; a `sending` claim past its lease is taken over with an unknown outcome; only the
/// holder settles.
pub async fn send_claims<S: SendClaims>(s: &S) {
    let t = TenantId(9201);
    let lease = Duration::minutes(10);
    let trig = TriggerKind::LeadFollowup;
    let (r1, r2, r3, r4) = tokio::join!(
        s.claim(t, trig, "L-1", t0(), lease),
        s.claim(t, trig, "L-1", t0(), lease),
        s.claim(t, trig, "L-1", t0(), lease),
        s.claim(t, trig, "L-1", t0(), lease),
    );
    let winners: Vec<(SendClaim, bool)> = [r1, r2, r3, r4].into_iter().filter_map(|r| won(r.expect("claim"))).collect();
    assert_eq!(winners.len(), 1, "exactly one racing claimer wins");
    let (claim, unknown) = winners[0].clone();
    assert!(!unknown);
    assert_eq!((claim.state, claim.attempts), (ClaimState::Sending, 1));
    assert!(won(s.claim(t, trig, "L-1", t0() + Duration::minutes(5), lease).await.expect("claim")).is_none());
    assert!(won(s.claim(TenantId(9202), trig, "L-1", t0(), lease).await.expect("claim")).is_some(), "tenants apart");

    // Retry later: not before its time, then once.
    let retry = SendClaim {
        state: ClaimState::Retry,
        next_attempt_at: Some(t0() + Duration::hours(1)),
        reason: Some("429".into()),
        ..claim.clone()
    };
    assert!(s.settle(&retry).await.expect("settle"));
    assert!(!s.settle(&SendClaim { state: ClaimState::Sent, ..claim.clone() }).await.expect("settled already"));
    assert!(won(s.claim(t, trig, "L-1", t0() + Duration::minutes(59), lease).await.expect("claim")).is_none());
    let (second, _) =
        won(s.claim(t, trig, "L-1", t0() + Duration::hours(1), lease).await.expect("claim")).expect("won");
    assert_eq!(second.attempts, 2);
    assert_ne!(second.claim_id, claim.claim_id);
    assert!(!s.settle(&SendClaim { state: ClaimState::Sent, ..claim.clone() }).await.expect("stale holder"));

    // Lease ran out while `sending`: taken over, flagged as unknown outcome.
    let later = t0() + Duration::hours(1) + lease;
    let (third, unknown) = won(s.claim(t, trig, "L-1", later, lease).await.expect("claim")).expect("takeover");
    assert!(unknown, "the earlier send's outcome is unknown");
    assert_eq!(third.attempts, 3);
    let sent = SendClaim { state: ClaimState::Sent, message_id: Some("wamid.1".into()), ..third.clone() };
    assert!(s.settle(&sent).await.expect("settle"));
    assert_eq!(s.get_claim(t, trig, "L-1").await.expect("get"), Some(sent));
    assert!(
        won(s.claim(t, trig, "L-1", later + Duration::days(30), lease).await.expect("claim")).is_none(),
        "sent is final"
    );

    let (f, _) = won(s.claim(t, TriggerKind::AbandonedCart, "C-1", t0(), lease).await.expect("claim")).expect("won");
    assert!(s.settle(&SendClaim { state: ClaimState::Failed, ..f }).await.expect("settle"));
    assert!(won(s.claim(t, TriggerKind::AbandonedCart, "C-1", later + Duration::days(1), lease).await.expect("c"))
        .is_none());

    // In doubt: the doubt survives a retry (a failed lookup) and a second takeover, until a
    // webhook's proof settles the claim at rest.
    let opp = TriggerKind::OpportunityReminder;
    let (a, _) = won(s.claim(t, opp, "O-1", t0(), lease).await.expect("claim")).expect("won");
    let (b, unknown) = won(s.claim(t, opp, "O-1", t0() + lease, lease).await.expect("claim")).expect("takeover");
    assert_eq!((unknown, b.in_doubt_since), (true, Some(a.claimed_at)));
    let retry = SendClaim { state: ClaimState::Retry, next_attempt_at: Some(t0() + lease), ..b.clone() };
    assert!(s.settle(&retry).await.expect("lookup failed: retry, still in doubt"));
    let (c, unknown) = won(s.claim(t, opp, "O-1", t0() + lease * 2, lease).await.expect("claim")).expect("won");
    assert_eq!((unknown, c.in_doubt_since), (true, Some(a.claimed_at)), "a retry does not forget the doubt");
    assert!(!s.confirm_sent(&c, "ycm_1", t0()).await.expect("held"), "a held claim is its holder's to settle");
    let rest = SendClaim { state: ClaimState::Retry, next_attempt_at: Some(t0() + lease * 3), ..c.clone() };
    assert!(s.settle(&rest).await.expect("settle"));
    assert!(!s.confirm_sent(&retry, "ycm_1", t0()).await.expect("stale read"), "only the claim as read");
    assert!(s.confirm_sent(&rest, "ycm_1", t0()).await.expect("confirm"));
    let done = s.get_claim(t, opp, "O-1").await.expect("get").expect("claim");
    assert_eq!((done.state, done.message_id.as_deref(), done.in_doubt_since), (ClaimState::Sent, Some("ycm_1"), None));
    assert!(won(s.claim(t, opp, "O-1", t0() + Duration::days(9), lease).await.expect("claim")).is_none());
}

/// Contacts: one holder per window (racing holders → one), own re-reservation allowed, release
/// frees, the window expires; opt-outs per tenant.
pub async fn contacts<S: Contacts>(s: &S) {
    let (t, other) = (TenantId(9301), TenantId(9302));
    let w = Duration::hours(24);
    let phone = "+5491155550101";
    let (x, y) = tokio::join!(
        s.reserve_contact(t, phone, "lead_followup:L-1", t0(), w),
        s.reserve_contact(t, phone, "abandoned_cart:C-1", t0(), w),
    );
    assert!(x.expect("x") ^ y.expect("y"), "exactly one of two racing holders");
    let holder = if s.reserve_contact(t, phone, "lead_followup:L-1", t0(), w).await.expect("again") {
        "lead_followup:L-1"
    } else {
        "abandoned_cart:C-1"
    };
    assert!(!s.reserve_contact(t, phone, "x:1", t0() + Duration::hours(23), w).await.expect("within window"));
    assert!(s.reserve_contact(other, phone, "x:1", t0(), w).await.expect("other tenant"));
    s.release_contact(t, phone, "not-the-holder").await.expect("release");
    assert!(!s.reserve_contact(t, phone, "x:1", t0(), w).await.expect("still held"));
    s.release_contact(t, phone, holder).await.expect("release");
    assert!(s.reserve_contact(t, phone, "x:1", t0(), w).await.expect("free again"));
    assert!(s.reserve_contact(t, phone, "x:2", t0() + Duration::hours(24), w).await.expect("window over"));

    assert!(!s.is_opted_out(t, phone).await.expect("opted out"));
    s.opt_out(t, phone, "inbound STOP", t0()).await.expect("opt out");
    assert!(s.is_opted_out(t, phone).await.expect("opted out"));
    assert!(!s.is_opted_out(other, phone).await.expect("other tenant"));

    assert!(s.tenants_of(phone).await.expect("none yet").is_empty());
    s.record_recipient(t, phone).await.expect("record");
    s.record_recipient(other, phone).await.expect("record");
    s.record_recipient(t, phone).await.expect("again");
    s.record_recipient(t, "+5491155550199").await.expect("another phone");
    let day = t0().date_naive();
    let (x, y, z) =
        tokio::join!(s.take_daily_slot(t, day, 2), s.take_daily_slot(t, day, 2), s.take_daily_slot(t, day, 2));
    assert_eq!([x, y, z].into_iter().filter(|r| *r.as_ref().expect("slot")).count(), 2, "exactly the cap");
    assert!(s.take_daily_slot(t, day.succ_opt().unwrap_or(day), 2).await.expect("next day"));
    assert!(s.take_daily_slot(other, day, 2).await.expect("other tenant"));
    let mut tenants = s.tenants_of(phone).await.expect("tenants");
    tenants.sort_by_key(|t| t.0);
    assert_eq!(tenants, vec![t, other]);
}

fn log_entry(t: TenantId, n: i64) -> LogEntry {
    LogEntry {
        id: format!("e{n:03}"),
        tenant_id: t,
        trigger: TriggerKind::LeadFollowup,
        entity_id: format!("L-{n}"),
        lead_name: Some("Ana".into()),
        template: Some("followup".into()),
        language: Some("es".into()),
        phone_masked: Some("+54•••01".into()),
        status: LogStatus::Sent,
        created_at: t0() + Duration::seconds(n),
        updated_at: t0() + Duration::seconds(n),
        history: vec![],
        reason: None,
        message_id: Some(format!("wamid.{n}")),
        next_attempt_at: None,
    }
}

/// Log: newest first, every entry exactly once across pages while new entries arrive; statuses
/// only move forward; webhook event ids recorded once; tenants apart.
pub async fn automation_log<S: AutomationLog>(s: &S) {
    let (t, other) = (TenantId(9401), TenantId(9402));
    for n in 1..=7 {
        s.append(&log_entry(t, n)).await.expect("append");
    }
    s.append(&log_entry(other, 50)).await.expect("append");
    let (first, cursor) = s.page(t, 3, None).await.expect("page");
    assert_eq!(first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e007", "e006", "e005"]);
    s.append(&log_entry(t, 8)).await.expect("a new entry arrives");
    let mut seen: Vec<String> = first.iter().map(|e| e.id.clone()).collect();
    let mut cursor = cursor;
    while let Some(c) = cursor {
        let (page, next) = s.page(t, 3, Some(&c)).await.expect("page");
        seen.extend(page.iter().map(|e| e.id.clone()));
        cursor = next;
    }
    assert_eq!(seen, ["e007", "e006", "e005", "e004", "e003", "e002", "e001"], "stable, no repeats, no gaps");
    assert_eq!(s.page(t, 100, None).await.expect("page").0.len(), 8);

    let sk = log_entry(t, 2).sort_key();
    let at = t0() + Duration::minutes(1);
    let read = s.advance(t, &sk, LogStatus::Read, at, None).await.expect("advance").expect("entry");
    assert_eq!(read.status, LogStatus::Read);
    let still = s.advance(t, &sk, LogStatus::Delivered, at, None).await.expect("advance").expect("entry");
    assert_eq!(still.status, LogStatus::Read, "read never reverts to delivered");
    assert_eq!(still.history.len(), 1);
    assert_eq!(s.advance(other, &sk, LogStatus::Read, at, None).await.expect("advance"), None, "tenant apart");
    assert_eq!(s.entry(t, &sk).await.expect("entry").map(|e| e.status), Some(LogStatus::Read));
    assert_eq!(s.entry(t, "HSM#RULES").await.expect("not a log key"), None);

    // In flight: rewritten by the evaluator (and settled), never over what a webhook moved on.
    let mut flying = LogEntry { status: LogStatus::Retrying, message_id: None, ..log_entry(t, 30) };
    flying.next_attempt_at = Some(at);
    assert!(s.write_over_in_flight(&flying).await.expect("new"));
    let unknown = LogEntry { status: LogStatus::Unknown, reason: Some("503".into()), ..flying.clone() };
    assert!(s.write_over_in_flight(&unknown).await.expect("in flight → in flight"));
    assert_eq!(s.entry(t, &flying.sort_key()).await.expect("entry").map(|e| e.status), Some(LogStatus::Unknown));
    let delivered = s.advance(t, &flying.sort_key(), LogStatus::Delivered, at, None).await.expect("webhook");
    assert_eq!(delivered.map(|e| e.status), Some(LogStatus::Delivered));
    assert!(!s.write_over_in_flight(&unknown).await.expect("refused"), "a webhook's delivery stays");
    assert_eq!(s.entry(t, &flying.sort_key()).await.expect("entry").map(|e| e.status), Some(LogStatus::Delivered));

    assert!(s.first_delivery(t, "evt-1", t0()).await.expect("first"));
    assert!(!s.first_delivery(t, "evt-1", t0()).await.expect("again"));
    assert!(s.first_delivery(other, "evt-1", t0()).await.expect("other tenant"));
}

/// Rules round-trip per tenant; counters add up per trigger; a save is conditioned on the
/// revision read (of two saves from the same read, the second conflicts and writes nothing).
pub async fn automation_rules<S: RulesStore>(s: &S) {
    let (t, other) = (TenantId(9501), TenantId(9502));
    assert_eq!(s.rules(t).await.expect("rules"), None);
    let set = RuleSet {
        tenant_id: t,
        rules: vec![AutomationRule {
            trigger: TriggerKind::AbandonedCart,
            enabled: true,
            template_name: "cart_reminder".into(),
            language: "es".into(),
            delay_minutes: Some(60),
            quiet_hours: Some(QuietHours { start_hour: 22, end_hour: 8 }),
            variables: vec![],
        }],
        contact_window_hours: Some(12),
        daily_recipient_cap: None,
        updated_at: t0(),
        updated_by: "u1".into(),
    };
    s.put_rules(&set).await.expect("put");
    assert_eq!(s.rules(t).await.expect("rules"), Some(set.clone()));
    assert_eq!(s.rules(other).await.expect("rules"), None);
    for c in [Counter::Triggered, Counter::Triggered, Counter::Sent] {
        s.count(t, TriggerKind::AbandonedCart, c).await.expect("count");
    }
    let counts = s.counts(t).await.expect("counts");
    assert_eq!(counts.get("abandoned_cart_triggered"), Some(&2));
    assert_eq!(counts.get("abandoned_cart_sent"), Some(&1));
    assert!(s.counts(other).await.expect("counts").is_empty());
    automation_rules_saves(s, set).await;
}

async fn automation_rules_saves<S: RulesStore>(s: &S, set: RuleSet) {
    let t = set.tenant_id;
    let (read, rev) = s.rules_at(t).await.expect("read");
    assert_eq!((read.as_ref(), rev), (Some(&set), Revision::at(0)), "seeded without a revision");
    let first = RuleSet { updated_by: "first".into(), ..set.clone() };
    let second = RuleSet { updated_by: "second".into(), contact_window_hours: Some(2), ..set.clone() };
    assert_eq!(s.save_rules(&first, rev).await.expect("save"), Ok(1));
    assert_eq!(s.save_rules(&second, rev).await.expect("save"), Err(Conflict), "same read, second save");
    assert_eq!(s.rules_at(t).await.expect("read"), (Some(first), Revision::at(1)), "the loser wrote nothing");
    assert_eq!(s.save_rules(&second, Revision::at(1)).await.expect("save"), Ok(2), "after a re-read");
    let fresh = RuleSet { tenant_id: TenantId(9503), ..set };
    assert_eq!(s.rules_at(fresh.tenant_id).await.expect("read"), (None, Revision::ABSENT));
    assert_eq!(s.save_rules(&fresh, Revision::ABSENT).await.expect("save"), Ok(1));
    assert_eq!(s.save_rules(&fresh, Revision::ABSENT).await.expect("save"), Err(Conflict), "both read nothing");
}

/// WhatsApp connections: one per tenant, tenants apart, deleted on disconnect; a sender number is
/// claimed by one tenant (of two racing claims one wins; re-claiming one's own is allowed) and
/// released only by its owner.
pub async fn whatsapp_connections<S: WhatsappConnections>(s: &S) {
    let (a, b) = (TenantId(9501), TenantId(9502));
    let number = Phone::parse("+54 11 5555-0199").expect("phone");
    let conn = WhatsappConnection {
        tenant_id: a,
        phone_number: number.clone(),
        waba_id: "waba-a".into(),
        api_key_ciphertext_b64: "Y2lwaGVy".into(),
        api_key_last4: "k001".into(),
        verified_at: t0(),
        connected_by: "u1".into(),
        stop_words: vec!["BASTA".into()],
        webhook_secret_ciphertext_b64: Some("c2VjcmV0".into()),
    };
    assert_eq!(s.whatsapp_connection(a).await.expect("none"), None);
    s.put_whatsapp_connection(&conn).await.expect("put");
    assert_eq!(s.whatsapp_connection(a).await.expect("get"), Some(conn.clone()));
    assert_eq!(s.whatsapp_connection(b).await.expect("other tenant"), None);

    let owner = |t: TenantId| NumberOwner { phone_number: number.clone(), tenant_id: t, registered_at: t0() };
    assert_eq!(s.number_owner(&number).await.expect("none"), None);
    let (oa, ob) = (owner(a), owner(b));
    let (x, y) = tokio::join!(s.claim_number(&oa), s.claim_number(&ob));
    assert!(x.expect("a") ^ y.expect("b"), "exactly one of two racing claims");
    let winner = s.number_owner(&number).await.expect("owner").expect("claimed").tenant_id;
    let loser = if winner == a { b } else { a };
    assert!(s.claim_number(&owner(winner)).await.expect("again"), "re-claiming one's own");
    assert!(!s.claim_number(&owner(loser)).await.expect("taken"));
    s.release_number(&number, loser).await.expect("release by another tenant");
    assert_eq!(s.number_owner(&number).await.expect("owner").map(|o| o.tenant_id), Some(winner), "kept");
    s.release_number(&number, winner).await.expect("release");
    assert_eq!(s.number_owner(&number).await.expect("released"), None);
    assert!(s.claim_number(&owner(loser)).await.expect("free again"));

    s.delete_whatsapp_connection(a).await.expect("delete");
    assert_eq!(s.whatsapp_connection(a).await.expect("deleted"), None);
    s.delete_whatsapp_connection(a).await.expect("deleting nothing is fine");
}

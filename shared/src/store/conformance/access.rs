//! Conformance of the tenancy ports: connections and profiles, connected index, OAuth states,
//! rate limit, audit, Meta page index and lead-ads inbox.

use super::*;

/// Connections and profiles: absent → create (only if absent) → read back with its revision →
/// of two writers with the same read exactly one wins → stale writes refused → a disconnect
/// leaves a tombstone no stale write or create passes → reconnect over the tombstone; tenants
/// apart.
pub async fn connections_and_profiles<S: MetaConnectionStore + TenantProfileStore>(s: &S) {
    let (a, b) = (TenantId(9001), TenantId(9002));
    let empty = s.read_connection(a).await.expect("read");
    assert_eq!((empty.live, empty.revision), (None, Revision::ABSENT));
    let conn = connection(a);
    let r1 = s.put_connection(&conn).await.expect("put").expect("created");
    assert_eq!(s.put_connection(&conn).await.expect("put"), Err(Conflict), "created only if absent");
    let read = s.get_connection(a).await.expect("get").expect("live");
    assert_eq!(read, MetaConnection { revision: Some(r1), ..conn.clone() });
    assert_eq!(s.get_connection(b).await.expect("get"), None, "another tenant sees nothing");

    // Two writers with the same read: exactly one wins, the other must re-read.
    let expired = MetaConnection { status: ConnectionStatus::Invalid, ..read.clone() };
    let selected = MetaConnection { ad_account_ids: vec!["act_2".into()], ..read.clone() };
    let (x, y) = tokio::join!(s.put_connection(&expired), s.put_connection(&selected));
    let (x, y) = (x.expect("put"), y.expect("put"));
    assert!(x.is_ok() ^ y.is_ok(), "exactly one racing write wins ({x:?}, {y:?})");
    let current = s.get_connection(a).await.expect("get").expect("live");
    assert_eq!(current.status == ConnectionStatus::Invalid, x.is_ok());
    assert!(current.revision > read.revision);
    assert_eq!(s.put_connection(&read).await.expect("put"), Err(Conflict), "a stale write is refused");
    assert_eq!(s.delete_connection(&read, t0()).await.expect("delete"), Err(Conflict), "so is a stale delete");

    // Disconnect: nothing readable, and nothing stale passes (update, create, delete).
    s.delete_connection(&current, t0()).await.expect("delete").expect("deleted");
    assert_eq!(s.get_connection(a).await.expect("get"), None);
    let tombstone = s.read_connection(a).await.expect("read");
    assert_eq!(tombstone.live, None);
    assert!(tombstone.revision > Revision::from_read(current.revision), "the tombstone has its own revision");
    assert_eq!(s.put_connection(&current).await.expect("put"), Err(Conflict), "no stale update revives it");
    assert_eq!(s.put_connection(&conn).await.expect("put"), Err(Conflict), "no create that read nothing");
    assert_eq!(s.delete_connection(&current, t0()).await.expect("delete"), Err(Conflict));
    assert_eq!(s.get_connection(a).await.expect("get"), None);
    // A reconnect (which read the tombstone) works.
    let again = MetaConnection { token_ciphertext_b64: "bmV3".into(), revision: tombstone.revision.read(), ..conn };
    s.put_connection(&again).await.expect("put").expect("reconnected");
    let back = s.get_connection(a).await.expect("get").expect("live");
    assert_eq!(back.token_ciphertext_b64, "bmV3");

    let profile = TenantProfile {
        tenant_id: b,
        display_name: "Clínica Ñandú".into(),
        reporting_time_zone: Zone::parse("America/Bogota").ok(),
        currency: Currency::parse("COP").ok(),
        updated_at: t0(),
    };
    assert_eq!(s.get_profile(b).await.expect("get"), None);
    s.put_profile(&profile).await.expect("put");
    assert_eq!(s.get_profile(b).await.expect("get"), Some(profile.clone()));
    assert_eq!(s.get_profile(a).await.expect("get"), None);
    profile_saves(s, profile).await;
}

/// A profile save is conditioned on the revision read: of two saves from one read the second
/// conflicts and writes nothing; from nothing read, only one creates.
async fn profile_saves<S: TenantProfileStore>(s: &S, profile: TenantProfile) {
    let b = profile.tenant_id;
    let (read, rev) = s.profile_at(b).await.expect("read");
    assert_eq!((read.as_ref(), rev), (Some(&profile), Revision::at(0)), "put without a revision");
    let first = TenantProfile { currency: Currency::parse("USD").ok(), ..profile.clone() };
    let second = TenantProfile { currency: Currency::parse("EUR").ok(), ..profile.clone() };
    assert_eq!(s.save_profile(&first, rev).await.expect("save"), Ok(1));
    assert_eq!(s.save_profile(&second, rev).await.expect("save"), Err(Conflict), "same read, second save");
    assert_eq!(s.profile_at(b).await.expect("read"), (Some(first), Revision::at(1)), "the loser wrote nothing");
    assert_eq!(s.save_profile(&second, Revision::at(1)).await.expect("save"), Ok(2), "after a re-read");
    let c = TenantProfile { tenant_id: TenantId(profile.tenant_id.0 + 100), ..profile };
    assert_eq!(s.profile_at(c.tenant_id).await.expect("read"), (None, Revision::ABSENT));
    assert_eq!(s.save_profile(&c, Revision::ABSENT).await.expect("save"), Ok(1));
    assert_eq!(s.save_profile(&c, Revision::ABSENT).await.expect("save"), Err(Conflict), "both read nothing");
}

/// The connected index pages every tenant exactly once, in a stable order.
pub async fn connected_index<S: ConnectedIndex>(s: &S) {
    for t in 9100..9107 {
        s.mark_connected(&ConnectedTenant { tenant_id: TenantId(t), connected_at: t0() }).await.expect("mark");
    }
    s.mark_disconnected(TenantId(9103)).await.expect("unmark");
    s.mark_connected(&ConnectedTenant { tenant_id: TenantId(9100), connected_at: t0() }).await.expect("again");
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let (page, next) = s.connected_page(cursor.as_deref(), 2).await.expect("page");
        assert!(page.len() <= 2);
        seen.extend(page.into_iter().map(|c| c.tenant_id.0));
        pages += 1;
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
        assert!(pages < 10, "paging must end");
    }
    seen.sort_unstable();
    assert_eq!(seen, vec![9100, 9101, 9102, 9104, 9105, 9106]);
}

/// An OAuth state is taken once, and only with its own tenant and user.
pub async fn oauth_states<S: OAuthStateStore>(s: &S) {
    let state = StoredState {
        nonce: "n-conformance".into(),
        tenant_id: TenantId(9200),
        user_id: "u".into(),
        expires_at: t0() + Duration::minutes(10),
    };
    s.save_state(&state).await.expect("save");
    assert_eq!(s.take_state(&state.nonce, TenantId(9201), "u").await.expect("take"), None, "other tenant");
    assert_eq!(s.take_state(&state.nonce, TenantId(9200), "v").await.expect("take"), None, "other user");
    assert_eq!(s.take_state(&state.nonce, TenantId(9200), "u").await.expect("take"), Some(state.clone()));
    assert_eq!(s.take_state(&state.nonce, TenantId(9200), "u").await.expect("take"), None, "single use");
    assert_eq!(s.take_state("never-issued", TenantId(9200), "u").await.expect("take"), None);
}

/// Exactly `limit` requests per tenant per minute; the next minute and other tenants start afresh.
pub async fn rate_limiter<S: RateLimiter>(s: &S) {
    let (t, other) = (RateBucket::tenant(TenantId(9300)), RateBucket::tenant(TenantId(9301)));
    let at = t0() + Duration::seconds(5);
    for remaining in (0..3).rev() {
        assert_eq!(s.check(&t, at, 3).await.expect("check"), RateDecision::Allowed { remaining });
    }
    assert_eq!(s.check(&t, at, 3).await.expect("check"), RateDecision::Limited { retry_after_secs: 55 });
    assert!(matches!(s.check(&other, at, 3).await.expect("check"), RateDecision::Allowed { remaining: 2 }));
    assert!(matches!(s.check(&t, at + Duration::minutes(1), 3).await.expect("check"), RateDecision::Allowed { .. }));
    // A user's bucket on a route is its own: the tenant's exhausted window does not touch it, and
    // neither does the same user on another route.
    let (ana, bob) =
        (RateBucket::user_route(TenantId(9300), "ana", "r1"), RateBucket::user_route(TenantId(9300), "bob", "r1"));
    assert!(matches!(s.check(&ana, at, 1).await.expect("check"), RateDecision::Allowed { .. }));
    assert!(matches!(s.check(&ana, at, 1).await.expect("check"), RateDecision::Limited { .. }));
    assert!(matches!(s.check(&bob, at, 1).await.expect("check"), RateDecision::Allowed { .. }));
    let ana_r2 = RateBucket::user_route(TenantId(9300), "ana", "r2");
    assert!(matches!(s.check(&ana_r2, at, 1).await.expect("check"), RateDecision::Allowed { .. }));
    // A released request is admitted again in the same window, exactly once more.
    s.release(&t, at).await.expect("release");
    assert_eq!(s.check(&t, at, 3).await.expect("check"), RateDecision::Allowed { remaining: 0 });
    assert!(matches!(s.check(&t, at, 3).await.expect("check"), RateDecision::Limited { .. }));
    // Releasing where nothing was counted gives nothing: the budget stays exactly the limit.
    let fresh = RateBucket::tenant(TenantId(9302));
    s.release(&fresh, at).await.expect("release of nothing");
    assert_eq!(s.check(&fresh, at, 1).await.expect("check"), RateDecision::Allowed { remaining: 0 });
    assert!(matches!(s.check(&fresh, at, 1).await.expect("check"), RateDecision::Limited { .. }));
}

fn audit_entry(id: &str, tenant: Option<TenantId>, at: DateTime<Utc>) -> AuditEntry {
    AuditEntry {
        id: id.into(),
        at,
        request_id: format!("req-{id}"),
        tenant_id: tenant,
        user_id: tenant.map(|_| "u".to_string()),
        role: None,
        action: "probe".into(),
        method: "GET".into(),
        route: "/crm/probe".into(),
        status: 200,
        outcome: Outcome::Success,
        error_code: None,
    }
}

/// Audit records come back per tenant, newest first; unauthenticated ones never under a tenant,
/// and per day across all their shards (records of several shards read back together).
pub async fn audit_log<S: AuditLog>(s: &S) {
    let t = TenantId(9400);
    s.record(&audit_entry("a1", Some(t), t0()), 90).await.expect("record");
    s.record(&audit_entry("a2", Some(t), t0() + Duration::seconds(1)), 90).await.expect("record");
    s.record(&audit_entry("x1", Some(TenantId(9401)), t0()), 90).await.expect("record");
    let anon: Vec<String> = (0..6).map(|i| format!("anon{i}")).collect();
    for (i, id) in anon.iter().enumerate() {
        s.record(&audit_entry(id, None, t0() + Duration::seconds(i as i64)), 90).await.expect("record");
    }
    s.record(&audit_entry("anon-next-day", None, t0() + Duration::days(1)), 90).await.expect("record");
    let ids: Vec<String> = s.recent(t, 10).await.expect("recent").into_iter().map(|e| e.id).collect();
    assert_eq!(ids, vec!["a2", "a1"]);
    assert_eq!(s.recent(t, 1).await.expect("recent").len(), 1);

    let shards: std::collections::BTreeSet<u32> =
        anon.iter().map(|id| crate::store::keys::unauthenticated_audit_shard(&format!("req-{id}"))).collect();
    assert!(shards.len() > 1, "the fixture spans several shards: {shards:?}");
    let day = t0().date_naive();
    let read: Vec<String> = s.unauthenticated(day, 100).await.expect("read").into_iter().map(|e| e.id).collect();
    let newest_first: Vec<String> = anon.iter().rev().cloned().collect();
    assert_eq!(read, newest_first, "every shard of the day, newest first, no tenant's record");
    assert_eq!(s.unauthenticated(day, 2).await.expect("read").len(), 2);
    let next: Vec<String> =
        s.unauthenticated(day + Duration::days(1), 10).await.expect("read").into_iter().map(|e| e.id).collect();
    assert_eq!(next, vec!["anon-next-day"]);
}

fn page_owner(page: &str, tenant: i64, name: &str) -> PageOwner {
    PageOwner::new(page, TenantId(tenant), name, t0())
}

/// A free page is claimed; another tenant's claim is refused while the owner holds it; the owner
/// re-claims (renames) it; a claim that expects the current owner takes it over; of two racing
/// claims on a free page exactly one wins; ids that are not Meta ids have no owner.
pub async fn page_index<S: PageIndex>(s: &S) {
    let page = "90000000001";
    assert_eq!(s.owner_of(page).await.expect("get"), None);
    assert!(s.put_if_owner(&page_owner(page, 9700, "Clinic"), TenantId(9700)).await.expect("claim"));
    assert_eq!(s.owner_of(page).await.expect("get"), Some(page_owner(page, 9700, "Clinic")));
    assert!(!s.put_if_owner(&page_owner(page, 9701, "Other"), TenantId(9701)).await.expect("claim"), "owned");
    assert_eq!(s.owner_of(page).await.expect("get").map(|o| o.tenant_id), Some(TenantId(9700)));
    assert!(s.put_if_owner(&page_owner(page, 9700, "Renamed"), TenantId(9700)).await.expect("re-claim"));
    assert_eq!(s.owner_of(page).await.expect("get").map(|o| o.page_name), Some("Renamed".into()));
    assert!(s.put_if_owner(&page_owner(page, 9701, "Taken"), TenantId(9700)).await.expect("take over"));
    assert_eq!(s.owner_of(page).await.expect("get"), Some(page_owner(page, 9701, "Taken")));
    assert!(!s.put_if_owner(&page_owner(page, 9700, "Back"), TenantId(9700)).await.expect("claim"), "no longer");

    let free = "90000000002";
    let (first, second) = (page_owner(free, 9702, "A"), page_owner(free, 9703, "B"));
    let (a, b) = tokio::join!(s.put_if_owner(&first, TenantId(9702)), s.put_if_owner(&second, TenantId(9703)));
    let (a, b) = (a.expect("claim a"), b.expect("claim b"));
    assert!(a ^ b, "exactly one racing claim wins ({a}, {b})");
    let winner = if a { 9702 } else { 9703 };
    assert_eq!(s.owner_of(free).await.expect("get").map(|o| o.tenant_id), Some(TenantId(winner)));

    assert_eq!(s.owner_of("not-a-page").await.expect("get"), None);
    assert!(s.put_if_owner(&page_owner("1#2", 9700, "x"), TenantId(9700)).await.is_err(), "never shapes a key");
    page_state(s).await;
}

/// A tenant's pages are listed (a page taken over leaves the old owner's list); a patch changes
/// only the named fields, keeps the newest last lead, and only while the tenant owns the page;
/// a release deletes the page (token included) only for its owner.
async fn page_state<S: PageIndex>(s: &S) {
    let (mine, other) = (TenantId(9710), TenantId(9711));
    let mut a = page_owner("90000000011", 9710, "A");
    a.token_ciphertext_b64 = Some("Y2lwaGVy".into());
    a.tasks = vec!["ADVERTISE".into(), "MANAGE".into()];
    let b = page_owner("90000000012", 9710, "B");
    for p in [&a, &b] {
        assert!(s.put_if_owner(p, mine).await.expect("claim"));
    }
    assert!(s.put_if_owner(&page_owner("90000000013", 9711, "C"), other).await.expect("claim"));
    let ids = |v: Vec<PageOwner>| v.into_iter().map(|p| p.page_id).collect::<Vec<_>>();
    assert_eq!(ids(s.pages_of(mine).await.expect("list")), vec!["90000000011", "90000000012"]);

    let problem = PageProblem { code: "page_token_invalid".into(), at: t0() };
    let patch = PagePatch {
        problem: Some(Some(problem.clone())),
        lead_access: Some(false),
        subscribed: Some(true),
        subscription_checked_at: Some(t0()),
        last_lead_at: Some(t0() + Duration::hours(2)),
        leads_swept_at: Some(t0() + Duration::hours(1)),
    };
    assert!(s.patch(&a.page_id, mine, &patch).await.expect("patch"));
    let older = PagePatch { last_lead_at: Some(t0()), problem: Some(None), ..PagePatch::default() };
    assert!(s.patch(&a.page_id, mine, &older).await.expect("patch"));
    let mut expected = a.clone();
    patch.apply(&mut expected);
    expected.problem = None;
    assert_eq!(s.owner_of(&a.page_id).await.expect("get"), Some(expected.clone()), "newest last lead kept");
    assert_eq!(expected.last_lead_at, Some(t0() + Duration::hours(2)));
    assert!(!s.patch(&a.page_id, other, &patch).await.expect("patch"), "not the owner");

    assert!(s.put_if_owner(&page_owner(&b.page_id, 9711, "B taken"), mine).await.expect("take over"));
    assert_eq!(ids(s.pages_of(mine).await.expect("list")), vec!["90000000011"]);
    assert_eq!(ids(s.pages_of(other).await.expect("list")), vec!["90000000012", "90000000013"]);

    assert!(!s.release(&a.page_id, other).await.expect("release"), "only the owner releases");
    assert!(s.release(&a.page_id, mine).await.expect("release"));
    assert_eq!(s.owner_of(&a.page_id).await.expect("get"), None);
    assert!(s.pages_of(mine).await.expect("list").is_empty());
}

/// A hand-off is enqueued once per (tenant, lead); it is pending (oldest first, only those older
/// than the cut) until marked sent; tenants are apart.
pub async fn lead_handoffs<S: LeadHandoffs>(s: &S) {
    let (t, other) = (TenantId(9720), TenantId(9721));
    let h = |id: &str, secs: i64| Handoff {
        tenant: t,
        leadgen_id: id.into(),
        detail: format!(r#"{{"leadgen_id":"{id}"}}"#),
        created_at: t0() + Duration::seconds(secs),
        sent_at: None,
    };
    assert!(s.enqueue(&h("1100000000000002", 60)).await.expect("enqueue"));
    assert!(s.enqueue(&h("1100000000000001", 0)).await.expect("enqueue"));
    let again = Handoff { detail: "{}".into(), ..h("1100000000000001", 90) };
    assert!(!s.enqueue(&again).await.expect("enqueue"), "once per lead");
    assert!(s.enqueue(&Handoff { tenant: other, ..h("1100000000000001", 0) }).await.expect("enqueue"));
    let ids = |v: Vec<Handoff>| v.into_iter().map(|h| h.leadgen_id).collect::<Vec<_>>();
    let later = t0() + Duration::hours(1);
    assert_eq!(ids(s.pending(t, later, 10).await.expect("pending")), vec!["1100000000000001", "1100000000000002"]);
    assert_eq!(ids(s.pending(t, t0() + Duration::seconds(30), 10).await.expect("pending")), vec!["1100000000000001"]);
    s.mark_sent(t, "1100000000000001", later).await.expect("sent");
    assert_eq!(ids(s.pending(t, later, 10).await.expect("pending")), vec!["1100000000000002"]);
    let sent = s.get(t, "1100000000000001").await.expect("get").expect("stored");
    assert_eq!((sent.detail.as_str(), sent.sent_at), (r#"{"leadgen_id":"1100000000000001"}"#, Some(later)));
    assert_eq!(ids(s.pending(other, later, 10).await.expect("pending")), vec!["1100000000000001"]);
    assert!(s.mark_sent(t, "1100000000000009", later).await.is_err(), "only a stored hand-off is marked");
}

fn inbox_lead(id: &str) -> InboxLead {
    InboxLead { leadgen_id: id.into(), page_id: "90000000003".into(), form_id: Some("77".into()) }
}

async fn open_ids<S: LeadInbox>(s: &S, tenant: TenantId, limit: usize) -> Vec<String> {
    s.open_items(tenant, limit).await.expect("open items").into_iter().map(|l| l.leadgen_id).collect()
}

/// Opening is once per lead (re-deliveries count, keep the status); open items come back oldest
/// first per tenant; a failed attempt keeps the item open with its reason; settling takes it out
/// of the open list and an open status never re-opens it; an item never opened stays absent.
pub async fn lead_inbox<S: LeadInbox>(s: &S) {
    let (t, other) = (TenantId(9800), TenantId(9801));
    let at = |secs: i64| t0() + Duration::seconds(secs);
    assert_eq!(s.get(t, "1001").await.expect("get"), None);
    for (i, id) in ["1001", "1002", "1003"].into_iter().enumerate() {
        assert_eq!(s.open(t, &inbox_lead(id), at(i as i64)).await.expect("open"), InboxStatus::Pending);
    }
    assert_eq!(s.open(other, &inbox_lead("1001"), at(0)).await.expect("open"), InboxStatus::Pending);
    assert_eq!(s.open(t, &inbox_lead("1001"), at(10)).await.expect("re-open"), InboxStatus::Pending);
    let first = InboxItem {
        lead: inbox_lead("1001"),
        status: InboxStatus::Pending,
        deliveries: 2,
        attempts: 0,
        last_error: None,
    };
    assert_eq!(s.get(t, "1001").await.expect("get"), Some(first));
    assert_eq!(open_ids(s, t, 10).await, vec!["1001", "1002", "1003"], "oldest first");
    assert_eq!(open_ids(s, t, 2).await, vec!["1001", "1002"]);

    s.settle(t, "1002", InboxStatus::AwaitingReconnect, Some("meta_token_rejected"), at(20)).await.expect("park");
    let parked = s.get(t, "1002").await.expect("get").expect("parked");
    assert_eq!((parked.status, parked.attempts), (InboxStatus::AwaitingReconnect, 1));
    assert_eq!(parked.last_error.as_deref(), Some("meta_token_rejected"));
    assert_eq!(s.open(t, &inbox_lead("1002"), at(21)).await.expect("open"), InboxStatus::AwaitingReconnect);

    s.settle(t, "1001", InboxStatus::Done, None, at(30)).await.expect("done");
    s.settle(t, "1001", InboxStatus::Pending, Some("late"), at(31)).await.expect("late attempt is ignored");
    let done = s.get(t, "1001").await.expect("get").expect("done");
    assert_eq!((done.status, done.attempts, done.last_error), (InboxStatus::Done, 1, None));
    assert_eq!(s.open(t, &inbox_lead("1001"), at(32)).await.expect("open"), InboxStatus::Done);
    s.settle(t, "1003", InboxStatus::Failed, Some("meta_refused"), at(33)).await.expect("failed");
    assert_eq!(s.get(t, "1003").await.expect("get").map(|i| i.status), Some(InboxStatus::Failed));
    assert_eq!(open_ids(s, t, 10).await, vec!["1002"], "settled items leave the open list");
    assert_eq!(open_ids(s, other, 10).await, vec!["1001"], "tenants apart");

    s.settle(t, "1999", InboxStatus::Done, None, at(40)).await.expect("settle unknown");
    assert_eq!(s.get(t, "1999").await.expect("get"), None, "never opened: nothing written");

    // Open items by age: only those first received before the bound, oldest first.
    let aged = TenantId(9802);
    for (i, id) in ["2001", "2002", "2003"].into_iter().enumerate() {
        s.open(aged, &inbox_lead(id), at(100 * i as i64)).await.expect("open");
    }
    s.open(aged, &inbox_lead("2001"), at(500)).await.expect("a re-delivery keeps the first receipt");
    let before = |secs| async move {
        let items = s.open_items_received_before(aged, at(secs), 10).await.expect("aged");
        items.into_iter().map(|l| l.leadgen_id).collect::<Vec<_>>()
    };
    assert_eq!(before(150).await, vec!["2001", "2002"]);
    assert_eq!(before(100).await, vec!["2001"], "received exactly at the bound is not before it");
    s.settle(aged, "2001", InboxStatus::Done, None, at(600)).await.expect("done");
    assert_eq!(before(1000).await, vec!["2002", "2003"], "settled items are not open");

    // The sweep mark: absent, set, never moved back; per tenant.
    assert_eq!(s.lead_sweep(aged).await.expect("sweep"), None);
    s.set_lead_sweep(aged, at(3600)).await.expect("set");
    assert_eq!(s.lead_sweep(aged).await.expect("sweep"), Some(at(3600)));
    s.set_lead_sweep(aged, at(60)).await.expect("older");
    assert_eq!(s.lead_sweep(aged).await.expect("sweep"), Some(at(3600)), "an older mark never wins");
    s.set_lead_sweep(aged, at(7200)).await.expect("newer");
    assert_eq!(s.lead_sweep(aged).await.expect("sweep"), Some(at(7200)));
    assert_eq!(s.lead_sweep(other).await.expect("sweep"), None, "tenants apart");
}

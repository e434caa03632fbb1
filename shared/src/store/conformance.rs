//! One conformance suite for every store port: each check runs against the in-memory twin (unit
//! tests, below) and against [`crate::store::DynamoStore`] on moto (`tests/it/store_conformance.rs`),
//! so the twins that handler unit tests rely on behave like DynamoDB. A new port adds its check
//! here and one line to each runner.
//!
//! Checks use tenants from 9000 up, and each runner gives them a fresh store (a fresh table).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::domain::crm::{AdAttribution, CartContents, CartLine, Contact, OpportunityTerms, Payment};
use crate::domain::fx::ScaledRate;
use crate::domain::hsm::{LogStatus, TriggerKind};
use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, MinorUnits};
use crate::domain::zone::Zone;
use crate::store::aggregates::{AggBucket, AggregateStore, Counters, Names};
use crate::store::audit::{AuditEntry, AuditLog, Outcome};
use crate::store::automation::claims::{ClaimOutcome, ClaimState, SendClaim, SendClaims};
use crate::store::automation::contacts::Contacts;
use crate::store::automation::due::{DueItem, DueStore};
use crate::store::automation::log::{AutomationLog, LogEntry};
use crate::store::automation::rules::{AutomationRule, Counter, QuietHours, RuleSet, RulesStore};
use crate::store::connected_index::{ConnectedIndex, ConnectedTenant};
use crate::store::events::{
    dead_letters, DeadLetter, Entity, EventCommit, EventMarker, EventStore, GuardedPut, Versioned,
};
use crate::store::fx_rates::{effective_on, FxRate, FxRateStore, MANUAL_SOURCE};
use crate::store::job_bus::{JobBus, JobEvent, MAX_BATCH};
use crate::store::leadgen_inbox::{InboxItem, InboxLead, InboxStatus, LeadInbox};
use crate::store::oauth_states::{OAuthStateStore, StoredState};
use crate::store::pages::{PageIndex, PageOwner};
use crate::store::ratelimit::{RateBucket, RateDecision, RateLimiter};
use crate::store::records::{CartRecord, CountedAttribution, LeadRecord, OpportunityRecord, SaleRecord};
use crate::store::spend::{DailySpend, SpendRow, SpendStore};
use crate::store::{Conflict, Revision};
use crate::store::{ConnectionStatus, MetaConnection, MetaConnectionStore, TenantProfile, TenantProfileStore};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
}

fn connection(tenant: TenantId) -> MetaConnection {
    MetaConnection {
        tenant_id: tenant,
        token_ciphertext_b64: "Y2lwaGVy".into(),
        status: ConnectionStatus::Active,
        meta_user_id: Some("42".into()),
        expires_at: Some(t0() + Duration::days(60)),
        data_access_expires_at: None,
        scopes: vec!["ads_read".into()],
        business_id: None,
        business_name: None,
        ad_account_ids: vec!["act_1".into()],
        ad_account_name: Some("Main".into()),
        connected_at: t0(),
        connected_by: "u1".into(),
        updated_at: t0(),
    }
}

/// Connections and profiles: absent → put → read back equal → overwrite → delete; tenants apart.
pub async fn connections_and_profiles<S: MetaConnectionStore + TenantProfileStore>(s: &S) {
    let (a, b) = (TenantId(9001), TenantId(9002));
    assert_eq!(s.get_connection(a).await.expect("get"), None);
    let conn = connection(a);
    s.put_connection(&conn).await.expect("put");
    assert_eq!(s.get_connection(a).await.expect("get"), Some(conn.clone()));
    assert_eq!(s.get_connection(b).await.expect("get"), None, "another tenant sees nothing");
    let invalid = MetaConnection { status: ConnectionStatus::Invalid, ..conn };
    s.put_connection(&invalid).await.expect("overwrite");
    assert_eq!(s.get_connection(a).await.expect("get").map(|c| c.status), Some(ConnectionStatus::Invalid));
    s.delete_connection(a).await.expect("delete");
    assert_eq!(s.get_connection(a).await.expect("get"), None);
    s.delete_connection(a).await.expect("deleting what is gone is fine");

    let profile = TenantProfile {
        tenant_id: b,
        display_name: "Clínica Ñandú".into(),
        reporting_time_zone: Zone::parse("America/Bogota").ok(),
        currency: Currency::parse("COP").ok(),
        updated_at: t0(),
    };
    assert_eq!(s.get_profile(b).await.expect("get"), None);
    s.put_profile(&profile).await.expect("put");
    assert_eq!(s.get_profile(b).await.expect("get"), Some(profile));
    assert_eq!(s.get_profile(a).await.expect("get"), None);
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

/// Audit records come back per tenant, newest first; unauthenticated ones never under a tenant.
pub async fn audit_log<S: AuditLog>(s: &S) {
    let t = TenantId(9400);
    s.record(&audit_entry("a1", Some(t), t0()), 90).await.expect("record");
    s.record(&audit_entry("a2", Some(t), t0() + Duration::seconds(1)), 90).await.expect("record");
    s.record(&audit_entry("x1", Some(TenantId(9401)), t0()), 90).await.expect("record");
    s.record(&audit_entry("anon", None, t0()), 90).await.expect("record");
    let ids: Vec<String> = s.recent(t, 10).await.expect("recent").into_iter().map(|e| e.id).collect();
    assert_eq!(ids, vec!["a2", "a1"]);
    assert_eq!(s.recent(t, 1).await.expect("recent").len(), 1);
}

fn page_owner(page: &str, tenant: i64, name: &str) -> PageOwner {
    PageOwner { page_id: page.into(), tenant_id: TenantId(tenant), page_name: name.into(), registered_at: t0() }
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

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// Counters add up per item, names are set, a range returns only its items (oldest first), and
/// tenants never see each other's items.
pub async fn aggregates<S: AggregateStore>(s: &S) {
    let (t, other) = (TenantId(9500), TenantId(9501));
    let c = |pairs: &[(&str, i64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<Counters>();
    let names: Names = [("name__camp__c1".to_string(), "Black Friday".to_string())].into();
    for (d, n) in [(day(2026, 10, 31), 1), (day(2026, 11, 1), 2), (day(2026, 11, 2), 3)] {
        s.add_to_aggregate(t, AggBucket::Day, d, &c(&[("leads", n)]), &Names::new()).await.expect("add");
    }
    s.add_to_aggregate(t, AggBucket::Day, day(2026, 11, 1), &c(&[("leads", 5), ("sales", 1)]), &names)
        .await
        .expect("add");
    s.add_to_aggregate(t, AggBucket::Month, day(2026, 11, 20), &c(&[("leads", 10)]), &Names::new()).await.expect("add");
    s.add_to_aggregate(other, AggBucket::Day, day(2026, 11, 1), &c(&[("leads", 100)]), &Names::new())
        .await
        .expect("add");

    let (items, cost) = s.aggregate_items(t, AggBucket::Day, day(2026, 11, 1), day(2026, 11, 30)).await.expect("read");
    assert_eq!(items.iter().map(|i| i.date).collect::<Vec<_>>(), vec![day(2026, 11, 1), day(2026, 11, 2)]);
    assert_eq!(items[0].counters, c(&[("leads", 7), ("sales", 1)]));
    assert_eq!(items[0].names, names);
    assert_eq!(cost.items_read, 2, "a range reads only its items");
    let (months, _) = s.aggregate_items(t, AggBucket::Month, day(2026, 1, 1), day(2026, 12, 1)).await.expect("read");
    assert_eq!(
        months.iter().map(|i| (i.date, i.counters.clone())).collect::<Vec<_>>(),
        vec![(day(2026, 11, 1), c(&[("leads", 10)]))]
    );
    let (none, _) = s.aggregate_items(t, AggBucket::Day, day(2026, 12, 1), day(2026, 12, 31)).await.expect("read");
    assert!(none.is_empty());
}

fn spend_day(date: NaiveDate, campaigns: &[(&str, i64)], currency: &str) -> DailySpend {
    let row = |id: &str, spend: i64| SpendRow {
        id: id.into(),
        name: format!("Campaign {id}"),
        status: "active".into(),
        campaign_id: None,
        campaign_name: None,
        spend_minor: MinorUnits(spend),
        impressions: 100,
        clicks: 10,
        meta_leads: 1,
        settings: None,
    };
    DailySpend {
        tenant_id: TenantId(9600),
        ad_account_id: "act_9600".into(),
        date,
        currency: Currency::parse(currency).unwrap_or(Currency::USD),
        account_time_zone: Some("America/Bogota".into()),
        attribution_setting: "unified".into(),
        synced_at: t0(),
        campaigns: campaigns.iter().map(|(id, v)| row(id, *v)).collect(),
        ads: vec![],
    }
}

/// A re-run changes nothing, a restated day overwrites, the month stays the sum of its days, and a
/// currency change is refused rather than mixed in.
pub async fn spend<S: SpendStore>(s: &S) {
    let (t, acct) = (TenantId(9600), "act_9600");
    let nov = |d| day(2026, 11, d);
    s.put_daily_spend(&spend_day(nov(1), &[("c1", 1_000), ("c2", 500)], "USD")).await.expect("put");
    s.put_daily_spend(&spend_day(nov(2), &[("c1", 2_000)], "USD")).await.expect("put");
    s.put_daily_spend(&spend_day(nov(2), &[("c1", 2_000)], "USD")).await.expect("re-run");
    s.put_daily_spend(&spend_day(nov(1), &[("c1", 1_200)], "USD")).await.expect("restated");
    let (days, _) = s.spend_days(t, acct, nov(1), nov(30)).await.expect("days");
    assert_eq!(
        days.iter().map(|d| (d.date, d.total_spend().0)).collect::<Vec<_>>(),
        vec![(nov(1), 1_200), (nov(2), 2_000)]
    );
    let (months, _) = s.spend_months(t, acct, nov(1), nov(30)).await.expect("months");
    assert_eq!(months.len(), 1);
    let m = &months[0];
    assert_eq!(
        (m.month, m.campaigns.iter().map(|r| (r.id.as_str(), r.spend_minor.0)).collect::<Vec<_>>()),
        (nov(1), vec![("c1", 3_200)])
    );
    assert_eq!(m.campaigns[0].impressions, 200, "impressions of the restated day are replaced, not added");
    assert_eq!(s.spend_synced_at(t, acct).await.expect("synced"), Some(t0()));
    assert_eq!(s.spend_synced_at(t, "act_other").await.expect("synced"), None);
    assert!(s.put_daily_spend(&spend_day(nov(3), &[("c1", 1)], "EUR")).await.is_err(), "currency change refused");
    let (days, _) = s.spend_days(t, acct, nov(3), nov(3)).await.expect("days");
    assert!(days.is_empty(), "a refused day writes nothing");
}

fn commit(tenant: TenantId, event_id: &str, writer: &str) -> EventCommit {
    EventCommit {
        tenant,
        marker: EventMarker {
            event_id: event_id.into(),
            detail_type: "lead.created".into(),
            applied_at: t0(),
            stale: false,
            writer: writer.into(),
            expires_at: t0() + Duration::days(35),
        },
        puts: Vec::new(),
        aggregates: Default::default(),
        attempt: 1,
    }
}

fn adding(mut c: EventCommit, sk: &str, counters: &[(&str, i64)], names: &[(&str, &str)]) -> EventCommit {
    let a = c.aggregates.entry(sk.to_string()).or_default();
    a.counters.extend(counters.iter().map(|(k, v)| (k.to_string(), *v)));
    a.names.extend(names.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    c
}

fn putting(mut c: EventCommit, entity: Entity, expected: Revision) -> EventCommit {
    c.puts.push(GuardedPut { entity, expected });
    c
}

fn conformance_lead(version: u64) -> LeadRecord {
    LeadRecord {
        lead_id: "L-1".into(),
        version,
        counted: true,
        created_at: Some(t0()),
        source: Some("META_ADS".into()),
        attribution: AdAttribution {
            campaign_id: Some("c1".into()),
            campaign_name: Some("Ñ".into()),
            ..Default::default()
        },
        contact: Contact { name: Some("Ana".into()), ..Default::default() },
        ..Default::default()
    }
}

/// CRM events' port: the marker is exclusive, guarded puts conflict on a stale revision (also a
/// profile the profile port wrote), counters add up, a conflicting commit writes nothing, every
/// record reads back as written, dead letters are kept. `profiles` is the same store's profile
/// port, `items` its aggregate port (what the dashboard reads the counters through).
pub async fn event_store<S: EventStore, P: TenantProfileStore, A: AggregateStore>(s: &S, profiles: &P, items: &A) {
    let t = TenantId(9500);
    let ok = |r: Result<Result<(), Conflict>, crate::store::StoreError>| r.expect("commit");
    let nov24 = day(2026, 11, 24);
    let aggregate = |bucket: AggBucket| async move {
        let (mut found, _) = items.aggregate_items(t, bucket, nov24, nov24).await.expect("aggregates");
        assert!(found.len() <= 1);
        found.pop()
    };

    // The marker: absent, committed once, then every other commit of the event conflicts.
    assert_eq!(s.marker(t, "e-1").await.expect("marker"), None);
    let first = adding(commit(t, "e-1", "w1"), "AGG#D#2026-11-24", &[("leads", 1)], &[]);
    assert_eq!(ok(s.commit(&first).await), Ok(()));
    let found = s.marker(t, "e-1").await.expect("marker").expect("written");
    assert_eq!((found.writer.as_deref(), found.stale), (Some("w1"), false));
    let again = adding(commit(t, "e-1", "w2"), "AGG#D#2026-11-24", &[("leads", 1)], &[]);
    assert_eq!(ok(s.commit(&again).await), Err(Conflict), "the marker is exclusive");
    assert_eq!(s.marker(TenantId(9501), "e-1").await.expect("marker"), None, "markers are per tenant");
    let mut stale = commit(t, "e-stale", "w3");
    stale.marker.stale = true;
    assert_eq!(ok(s.commit(&stale).await), Ok(()));
    assert!(s.marker(t, "e-stale").await.expect("marker").expect("written").stale);

    // Counters add up (also negative deltas) and names are set, last writer wins.
    let more = adding(
        commit(t, "e-2", "w"),
        "AGG#D#2026-11-24",
        &[("leads", 2), ("customers", -1)],
        &[("name__camp__c1", "A")],
    );
    assert_eq!(ok(s.commit(&more).await), Ok(()));
    let renamed = adding(commit(t, "e-3", "w"), "AGG#D#2026-11-24", &[], &[("name__camp__c1", "B")]);
    assert_eq!(ok(s.commit(&renamed).await), Ok(()));
    let day = aggregate(AggBucket::Day).await.expect("item");
    assert_eq!((day.counters.get("leads"), day.counters.get("customers")), (Some(&3), Some(&-1)));
    assert_eq!(day.names.get("name__camp__c1").map(String::as_str), Some("B"));
    assert_eq!(aggregate(AggBucket::Month).await, None);

    // Guarded puts: absent → created at revision 1; a put guarded by a stale revision conflicts.
    assert_eq!(s.lead(t, "L-1").await.expect("lead"), Versioned::default());
    let create = putting(commit(t, "e-4", "w"), Entity::Lead(conformance_lead(1)), Revision::ABSENT);
    assert_eq!(ok(s.commit(&create).await), Ok(()));
    assert_eq!(s.lead(t, "L-1").await.expect("lead"), Versioned::new(conformance_lead(1), Revision::at(1)));
    let recreate = putting(commit(t, "e-5", "w"), Entity::Lead(conformance_lead(2)), Revision::ABSENT);
    assert_eq!(ok(s.commit(&recreate).await), Err(Conflict), "it exists now");
    let update = putting(commit(t, "e-5", "w"), Entity::Lead(conformance_lead(2)), Revision::at(1));
    assert_eq!(ok(s.commit(&update).await), Ok(()));
    let behind = putting(commit(t, "e-6", "w"), Entity::Lead(conformance_lead(3)), Revision::at(1));
    assert_eq!(ok(s.commit(&behind).await), Err(Conflict), "revision 1 is stale");
    assert_eq!(s.lead(t, "L-1").await.expect("lead"), Versioned::new(conformance_lead(2), Revision::at(2)));

    // All or nothing: one stale guard cancels the marker, the other puts and the counters.
    let usd = Currency::parse("USD").expect("usd");
    let sale = SaleRecord {
        sale_id: "S-1".into(),
        lead_id: "L-1".into(),
        opportunity_id: Some("O-1".into()),
        payment: Payment { amount_minor: MinorUnits(900), currency: usd, completed_at: t0() },
        counted_under: CountedAttribution { source: Some("META_ADS".into()), ..Default::default() },
    };
    let mixed = putting(
        putting(
            adding(commit(t, "e-7", "w"), "AGG#D#2026-11-24", &[("sales", 1)], &[("name__ad__1", "x")]),
            Entity::Sale(sale.clone()),
            Revision::ABSENT,
        ),
        Entity::Lead(conformance_lead(9)),
        Revision::at(1),
    );
    assert_eq!(ok(s.commit(&mixed).await), Err(Conflict));
    assert_eq!(s.marker(t, "e-7").await.expect("marker"), None, "no marker");
    assert_eq!(s.sale(t, "S-1").await.expect("sale"), Versioned::default(), "no sale");
    let day = aggregate(AggBucket::Day).await.expect("item");
    assert_eq!((day.counters.get("sales"), day.names.get("name__ad__1")), (None, None), "no counters");
    assert_eq!(s.lead(t, "L-1").await.expect("lead").revision, Revision::at(2));

    // Every record kind reads back as written.
    let opp = OpportunityRecord {
        opportunity_id: "O-1".into(),
        version: 2,
        counted: true,
        lead_id: Some("L-1".into()),
        terms: OpportunityTerms { value_minor: Some(MinorUnits(5)), currency: Some(usd), deadline: Some(t0()) },
        ..Default::default()
    };
    let cart = CartRecord {
        cart_id: "C-1".into(),
        version: 3,
        lead_id: None,
        contents: CartContents {
            items: vec![CartLine { sku: "A".into(), quantity: 2, unit_price_minor: Some(MinorUnits(150)) }],
            currency: None,
            last_activity_at: t0(),
        },
    };
    let all = [Entity::Sale(sale.clone()), Entity::Opportunity(opp.clone()), Entity::Cart(cart.clone())];
    let mut c = commit(t, "e-8", "w");
    c.puts = all.into_iter().map(|entity| GuardedPut { entity, expected: Revision::ABSENT }).collect();
    assert_eq!(ok(s.commit(&c).await), Ok(()));
    assert_eq!(s.sale(t, "S-1").await.expect("sale"), Versioned::new(sale, Revision::at(1)));
    assert_eq!(s.opportunity(t, "O-1").await.expect("opp"), Versioned::new(opp, Revision::at(1)));
    assert_eq!(s.cart(t, "C-1").await.expect("cart"), Versioned::new(cart, Revision::at(1)));

    // The profile is the profile port's item: written there it has no revision (0), and a put
    // there makes a commit guarded by an earlier read conflict.
    let p = TenantId(9502);
    let profile = TenantProfile {
        tenant_id: p,
        display_name: "Before".into(),
        reporting_time_zone: Zone::parse("America/Bogota").ok(),
        currency: None,
        updated_at: t0(),
    };
    assert_eq!(s.profile(p).await.expect("profile"), Versioned::default());
    profiles.put_profile(&profile).await.expect("put");
    assert_eq!(s.profile(p).await.expect("profile"), Versioned::new(profile.clone(), Revision::at(0)));
    let renamed = TenantProfile { display_name: "After".into(), ..profile.clone() };
    let c = putting(commit(p, "e-9", "w"), Entity::Profile(renamed.clone()), Revision::at(0));
    assert_eq!(ok(s.commit(&c).await), Ok(()));
    assert_eq!(profiles.get_profile(p).await.expect("get"), Some(renamed.clone()), "one profile item");
    assert_eq!(s.profile(p).await.expect("profile").revision, Revision::at(1));
    profiles.put_profile(&profile).await.expect("overwrite");
    let c = putting(commit(p, "e-10", "w"), Entity::Profile(renamed), Revision::at(1));
    assert_eq!(ok(s.commit(&c).await), Err(Conflict), "the profile port wrote it since");

    // Dead letters are kept whole, oldest first.
    let letter = |id: &str, at: DateTime<Utc>| DeadLetter {
        received_at: at,
        id: id.into(),
        event_id: Some(id.into()),
        detail_type: Some("lead.deleted".into()),
        tenant_id: Some(9500),
        reason: "unknown detail-type \"lead.deleted\"".into(),
        payload: "{\"source\":\"crm\"}".into(),
        expires_at: at + Duration::days(30),
    };
    let (late, early) = (letter("e-late", t0() + Duration::seconds(1)), letter("e-early", t0()));
    assert_eq!(s.dead_letter(&late).await.expect("dlq"), "2026-11-24T12:00:01.000Z#e-late");
    s.dead_letter(&early).await.expect("dlq");
    let anonymous = DeadLetter { event_id: None, detail_type: None, tenant_id: None, ..letter("gen-1", t0()) };
    s.dead_letter(&anonymous).await.expect("dlq");
    let kept = dead_letters(items, t0(), t0() + Duration::seconds(1)).await.expect("read");
    assert_eq!(kept, vec![early.clone(), anonymous, late]);
    assert_eq!(dead_letters(items, t0(), t0()).await.expect("read").len(), 2, "received in the window");
}

/// The job bus: a full batch is accepted entry by entry; more than [`MAX_BATCH`] is refused
/// whole; an empty batch is a no-op.
/// FX rates: put → read back by pair up to a day, oldest first; same day overwrites; pairs and
/// tenants apart; the effective rate of a day is the last one starting on or before it.
pub async fn fx_rates<S: FxRateStore>(s: &S) {
    let (a, b) = (TenantId(9601), TenantId(9602));
    let (usd, ars, eur) = (Currency::USD, Currency::parse("ARS").expect("ARS"), Currency::parse("EUR").expect("EUR"));
    let day = |m: u32, d: u32| NaiveDate::from_ymd_opt(2026, m, d).expect("day");
    let rate = |t: TenantId, from: Currency, to: Currency, r: &str, eff: NaiveDate| FxRate {
        tenant_id: t,
        from,
        to,
        rate: ScaledRate::parse(r).expect("rate"),
        effective_from: eff,
        source: MANUAL_SOURCE.into(),
        set_by: "u1".into(),
        updated_at: t0(),
    };
    s.put_fx_rates(&[
        rate(a, usd, ars, "1000", day(11, 1)),
        rate(a, usd, ars, "1050.25", day(11, 15)),
        rate(a, eur, ars, "1100", day(11, 1)),
        rate(b, usd, ars, "9", day(11, 1)),
    ])
    .await
    .expect("put");
    s.put_fx_rates(&[rate(a, usd, ars, "1010", day(11, 1))]).await.expect("overwrite");
    let (got, _) = s.fx_rates(a, usd, ars, day(11, 30)).await.expect("read");
    let shown: Vec<(String, NaiveDate)> = got.iter().map(|r| (r.rate.to_string(), r.effective_from)).collect();
    assert_eq!(shown, vec![("1010".into(), day(11, 1)), ("1050.25".into(), day(11, 15))]);
    assert_eq!(effective_on(&got, day(11, 14)).map(|r| r.rate.to_string()), Some("1010".into()));
    assert_eq!(effective_on(&got, day(11, 15)).map(|r| r.rate.to_string()), Some("1050.25".into()));
    assert_eq!(effective_on(&got, day(10, 31)), None);
    let (early, _) = s.fx_rates(a, usd, ars, day(11, 10)).await.expect("read");
    assert_eq!(early.len(), 1, "rates after up_to are not read");
    assert_eq!(s.fx_rates(b, usd, ars, day(11, 30)).await.expect("b").0.len(), 1, "tenants apart");
    assert!(s.fx_rates(a, ars, usd, day(11, 30)).await.expect("inverse").0.is_empty(), "pairs are directed");
}

pub async fn job_bus<B: JobBus>(b: &B) {
    let events: Vec<JobEvent> = (0..MAX_BATCH)
        .map(|i| JobEvent {
            source: "crm-marketing.conformance".into(),
            detail_type: "conformance.checked".into(),
            detail: format!("{{\"tenant_id\":{}}}", 9000 + i),
        })
        .collect();
    assert_eq!(b.put_events(&events).await.expect("a full batch"), Vec::<usize>::new());
    assert_eq!(b.put_events(&[]).await.expect("nothing to put"), Vec::<usize>::new());
    let mut too_many = events.clone();
    too_many.push(events[0].clone());
    assert!(b.put_events(&too_many).await.is_err(), "PutEvents takes at most {MAX_BATCH} entries");
}

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

    assert!(s.first_delivery(t, "evt-1", t0()).await.expect("first"));
    assert!(!s.first_delivery(t, "evt-1", t0()).await.expect("again"));
    assert!(s.first_delivery(other, "evt-1", t0()).await.expect("other tenant"));
}

/// Rules round-trip per tenant; counters add up per trigger.
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
        }],
        contact_window_hours: Some(12),
        daily_recipient_cap: None,
        updated_at: t0(),
        updated_by: "u1".into(),
    };
    s.put_rules(&set).await.expect("put");
    assert_eq!(s.rules(t).await.expect("rules"), Some(set));
    assert_eq!(s.rules(other).await.expect("rules"), None);
    for c in [Counter::Triggered, Counter::Triggered, Counter::Sent] {
        s.count(t, TriggerKind::AbandonedCart, c).await.expect("count");
    }
    let counts = s.counts(t).await.expect("counts");
    assert_eq!(counts.get("abandoned_cart_triggered"), Some(&2));
    assert_eq!(counts.get("abandoned_cart_sent"), Some(&1));
    assert!(s.counts(other).await.expect("counts").is_empty());
}

#[cfg(test)]
mod memory_twins {
    use std::sync::Arc;

    use super::*;
    use crate::store::audit::MemoryAuditLog;
    use crate::store::connected_index::MemoryConnectedIndex;
    use crate::store::events::MemoryEventStore;
    use crate::store::leadgen_inbox::MemoryLeadInbox;
    use crate::store::memory::MemoryStore;
    use crate::store::memory_table::MemoryTable;
    use crate::store::oauth_states::MemoryOAuthStates;
    use crate::store::pages::MemoryPageIndex;
    use crate::store::ratelimit::MemoryRateLimiter;

    #[tokio::test]
    async fn memory_connections_and_profiles_conform() {
        connections_and_profiles(&MemoryStore::default()).await;
    }
    #[tokio::test]
    async fn memory_connected_index_conforms() {
        connected_index(&MemoryConnectedIndex::default()).await;
    }
    #[tokio::test]
    async fn memory_oauth_states_conform() {
        oauth_states(&MemoryOAuthStates::default()).await;
    }
    #[tokio::test]
    async fn memory_rate_limiter_conforms() {
        rate_limiter(&MemoryRateLimiter::default()).await;
    }
    #[tokio::test]
    async fn memory_audit_log_conforms() {
        audit_log(&MemoryAuditLog::default()).await;
    }
    #[tokio::test]
    async fn memory_page_index_conforms() {
        page_index(&MemoryPageIndex::default()).await;
    }
    #[tokio::test]
    async fn memory_lead_inbox_conforms() {
        lead_inbox(&MemoryLeadInbox::default()).await;
    }
    #[tokio::test]
    async fn memory_aggregates_conform() {
        aggregates(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_job_bus_conforms() {
        let bus = crate::store::job_bus::MemoryJobBus::default();
        job_bus(&bus).await;
        assert_eq!(bus.published().len(), MAX_BATCH);
    }
    #[tokio::test]
    async fn memory_fx_rates_conform() {
        fx_rates(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_spend_conforms() {
        spend(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_event_store_conforms() {
        let (table, profiles) = (Arc::new(MemoryTable::default()), Arc::new(MemoryStore::default()));
        let events = MemoryEventStore::new(table.clone(), profiles.clone());
        event_store(&events, profiles.as_ref(), table.as_ref()).await;
    }
    #[tokio::test]
    async fn memory_due_items_conform() {
        due_items(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_send_claims_conform() {
        send_claims(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_contacts_conform() {
        contacts(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_automation_log_conforms() {
        automation_log(&MemoryTable::default()).await;
    }
    #[tokio::test]
    async fn memory_automation_rules_conform() {
        automation_rules(&MemoryTable::default()).await;
    }
}

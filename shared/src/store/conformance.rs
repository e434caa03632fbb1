//! One conformance suite for every store port: each check runs against the in-memory twin (unit
//! tests, below) and against [`crate::store::DynamoStore`] on moto (`tests/it/store_conformance.rs`),
//! so the twins that handler unit tests rely on behave like DynamoDB. A new port adds its check
//! here and one line to each runner.
//!
//! Checks use tenants from 9000 up, and each runner gives them a fresh store (a fresh table).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, MinorUnits};
use crate::domain::zone::Zone;
use crate::store::aggregates::{AggBucket, AggregateStore, Counters, Names};
use crate::store::audit::{AuditEntry, AuditLog, Outcome};
use crate::store::connected_index::{ConnectedIndex, ConnectedTenant};
use crate::store::job_bus::{JobBus, JobEvent, MAX_BATCH};
use crate::store::leadgen_inbox::{InboxItem, InboxLead, InboxStatus, LeadInbox};
use crate::store::oauth_states::{OAuthStateStore, StoredState};
use crate::store::pages::{PageIndex, PageOwner};
use crate::store::ratelimit::{RateDecision, RateLimiter};
use crate::store::spend::{DailySpend, SpendRow, SpendStore};
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
    let (t, other) = (TenantId(9300), TenantId(9301));
    let at = t0() + Duration::seconds(5);
    for remaining in (0..3).rev() {
        assert_eq!(s.check(t, at, 3).await.expect("check"), RateDecision::Allowed { remaining });
    }
    assert_eq!(s.check(t, at, 3).await.expect("check"), RateDecision::Limited { retry_after_secs: 55 });
    assert!(matches!(s.check(other, at, 3).await.expect("check"), RateDecision::Allowed { remaining: 2 }));
    assert!(matches!(s.check(t, at + Duration::minutes(1), 3).await.expect("check"), RateDecision::Allowed { .. }));
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

/// The job bus: a full batch is accepted entry by entry; more than [`MAX_BATCH`] is refused
/// whole; an empty batch is a no-op.
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

#[cfg(test)]
mod memory_twins {
    use super::*;
    use crate::store::audit::MemoryAuditLog;
    use crate::store::connected_index::MemoryConnectedIndex;
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
    async fn memory_spend_conforms() {
        spend(&MemoryTable::default()).await;
    }
}

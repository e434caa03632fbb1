//! The decide step on plain values: each event kind, in and out of order, and the same fact twice.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::domain::crm::{AdAttribution, CartContents, CartLine, Contact, OpportunityTerms, Payment};
use crate::domain::ids::{EntityId, LeadSource, Status, Tag, TenantId};
use crate::domain::money::{Currency, MinorUnits};
use crate::domain::zone::Zone;

const T: TenantId = TenantId(7);

fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).single().expect("time")
}

fn id(s: &str) -> EntityId {
    EntityId::parse(s).expect("id")
}

fn event(kind: CrmEventKind) -> CrmEvent {
    CrmEvent { event_id: id("e-1"), tenant_id: T, occurred_at: at(20, 12), kind }
}

fn usd() -> Currency {
    Currency::parse("USD").expect("usd")
}

fn new_lead(version: u64) -> NewLead {
    NewLead {
        id: id("L-1"),
        version,
        created_at: at(20, 10),
        source: LeadSource::meta_ads(),
        status: Status::new_lead(),
        contact: Contact { name: Some("Ana".into()), phone: Some("+54".into()), email: None },
        attribution: AdAttribution {
            campaign_id: Tag::parse("c1").ok(),
            campaign_name: Some("Spring".into()),
            ad_id: Tag::parse("a1").ok(),
            ad_name: None,
            adset_id: None,
        },
        opted_out: false,
        leadgen_id: None,
    }
}

/// A counted lead of source `source`, as `lead.created` stores it.
fn counted_lead(source: &str) -> LeadRecord {
    LeadRecord {
        lead_id: "L-1".into(),
        version: 1,
        counted: true,
        created_at: Some(at(20, 10)),
        source: Some(source.into()),
        attribution: AdAttribution { campaign_id: Some("c1".into()), ad_id: Some("a1".into()), ..Default::default() },
        status: Some("new".into()),
        ..Default::default()
    }
}

fn seen_lead(lead: LeadRecord, rev: u64) -> Seen {
    Seen { lead: Versioned::new(lead, Revision::at(rev)), ..Default::default() }
}

fn count(d: &Decision, sk: &str, name: &str) -> i64 {
    d.deltas.counters.get(sk).and_then(|c| c.get(name)).copied().unwrap_or(0)
}

fn only_put(d: &Decision) -> (&Entity, Revision) {
    assert_eq!(d.puts.len(), 1, "{:?}", d.puts);
    (&d.puts[0].entity, d.puts[0].expected)
}

fn decided(kind: CrmEventKind, seen: &Seen) -> Decision {
    decide(&event(kind), seen).unwrap_or_else(|e| panic!("{e}"))
}

// ----------------------------------------------------------------------------------------- leads

#[test]
fn a_new_lead_is_counted_once_on_its_local_day_with_its_names() {
    let seen = Seen {
        profile: Versioned::new(
            TenantProfile {
                tenant_id: T,
                display_name: "T".into(),
                reporting_time_zone: Zone::parse("America/Bogota").ok(),
                currency: None,
                updated_at: at(1, 0),
            },
            Revision::at(0),
        ),
        ..Default::default()
    };
    let mut lead = new_lead(1);
    lead.created_at = at(21, 3); // 22:00 on Nov 20 in Bogotá
    let d = decided(CrmEventKind::LeadCreated(lead), &seen);
    assert!(!d.stale);
    let (Entity::Lead(rec), expected) = only_put(&d) else { panic!("a lead put") };
    assert_eq!(expected, Revision::ABSENT, "the lead must still not exist");
    assert!(rec.counted);
    assert_eq!((rec.source.as_deref(), rec.attribution.campaign_id.as_deref()), (Some("META_ADS"), Some("c1")));
    assert_eq!((rec.contact.name.as_deref(), rec.status.as_deref()), (Some("Ana"), Some("new")));
    for sk in ["AGG#D#2026-11-20", "AGG#M#2026-11"] {
        assert_eq!(count(&d, sk, "leads"), 1, "{sk}");
        assert_eq!(count(&d, sk, "leads__src__META_ADS"), 1);
        assert_eq!(count(&d, sk, "leads__camp__c1"), 1);
        assert_eq!(count(&d, sk, "leads__ad__a1"), 1);
        assert_eq!(d.deltas.names[sk]["name__camp__c1"], "Spring");
        assert_eq!(d.deltas.names[sk]["campaign__ad__a1"], "c1");
    }
    assert!(!d.deltas.counters.contains_key("AGG#D#2026-11-21"), "the UTC day is not counted");
}

#[test]
fn a_lead_counted_before_is_stale_under_any_event_id() {
    let d = decided(CrmEventKind::LeadCreated(new_lead(1)), &seen_lead(counted_lead("META_ADS"), 1));
    assert_eq!(d, Decision { stale: true, ..Default::default() });
}

#[test]
fn lead_created_after_a_newer_update_counts_but_keeps_the_updates_fields() {
    let stub = LeadRecord {
        lead_id: "L-1".into(),
        version: 3,
        status: Some("qualified".into()),
        contact: Contact { email: Some("ana@x.io".into()), ..Default::default() },
        ..Default::default()
    };
    let d = decided(CrmEventKind::LeadCreated(new_lead(1)), &seen_lead(stub, 1));
    let (Entity::Lead(rec), expected) = only_put(&d) else { panic!("a lead put") };
    assert_eq!(expected, Revision::at(1), "guarded by the stub's revision");
    assert!(rec.counted);
    assert_eq!((rec.version, rec.status.as_deref()), (3, Some("qualified")));
    assert_eq!(rec.contact.email.as_deref(), Some("ana@x.io"));
    assert_eq!(rec.contact.name, None, "the older created event's contact is not taken");
    assert_eq!(rec.source.as_deref(), Some("META_ADS"), "attribution is the created event's");
    assert_eq!(count(&d, "AGG#D#2026-11-20", "leads"), 1);
}

#[test]
fn lead_updates_apply_newer_versions_only_and_never_count() {
    let change = |version: u64| LeadChange {
        id: id("L-1"),
        version,
        status: Status::parse("contacted").ok(),
        opted_out: Some(true),
        contact: Contact { phone: Some("+1".into()), ..Default::default() },
    };
    let mut stored = counted_lead("WEBSITE");
    stored.version = 2;
    stored.contact = Contact { name: Some("Ana".into()), phone: Some("+54".into()), email: None };
    for old in [1, 2] {
        let d = decided(CrmEventKind::LeadUpdated(change(old)), &seen_lead(stored.clone(), 4));
        assert!(d.stale && d.puts.is_empty(), "version {old}");
    }
    let d = decided(CrmEventKind::LeadUpdated(change(3)), &seen_lead(stored, 4));
    let (Entity::Lead(rec), expected) = only_put(&d) else { panic!("a lead put") };
    assert_eq!(
        (expected, rec.version, rec.status.as_deref(), rec.opted_out),
        (Revision::at(4), 3, Some("contacted"), true)
    );
    assert_eq!(rec.contact, Contact { name: Some("Ana".into()), phone: Some("+1".into()), email: None });
    assert!(d.deltas.counters.is_empty() && !d.stale);

    // Before its lead.created: an uncounted stub.
    let d = decided(CrmEventKind::LeadUpdated(change(3)), &Seen::default());
    let (Entity::Lead(stub), expected) = only_put(&d) else { panic!("a stub put") };
    assert_eq!((expected, stub.counted, stub.source.as_deref()), (Revision::ABSENT, false, None));
}

// --------------------------------------------------------------------------------- opportunities

fn new_opportunity() -> NewOpportunity {
    NewOpportunity {
        id: id("O-1"),
        version: 1,
        lead_id: id("L-1"),
        created_at: at(21, 12),
        status: Status::pending(),
        terms: OpportunityTerms { value_minor: Some(MinorUnits(150_000)), currency: Some(usd()), deadline: None },
    }
}

#[test]
fn an_opportunity_waits_for_its_counted_lead() {
    for seen in [Seen::default(), seen_lead(LeadRecord { lead_id: "L-1".into(), version: 2, ..Default::default() }, 1)]
    {
        let err = decide(&event(CrmEventKind::OpportunityCreated(new_opportunity())), &seen).expect_err("no lead yet");
        assert!(matches!(&err, ApplyError::LeadNotYetKnown(l) if l == "L-1"), "{err}");
    }
}

#[test]
fn an_opportunity_counts_once_for_its_leads_attribution() {
    let d = decided(CrmEventKind::OpportunityCreated(new_opportunity()), &seen_lead(counted_lead("META_ADS"), 1));
    let (Entity::Opportunity(rec), expected) = only_put(&d) else { panic!("an opportunity put") };
    assert_eq!(expected, Revision::ABSENT);
    assert_eq!(rec.counted_under.source.as_deref(), Some("META_ADS"));
    assert_eq!(rec.counted_under.ad_id.as_deref(), Some("a1"));
    assert_eq!((rec.status.as_deref(), rec.terms.value_minor), (Some("pending"), Some(MinorUnits(150_000))));
    assert_eq!(count(&d, "AGG#D#2026-11-21", "opps__camp__c1"), 1);
    assert_eq!(count(&d, "AGG#M#2026-11", "opps"), 1);

    // The same opportunity again (a re-sent fact): stale.
    let mut seen = seen_lead(counted_lead("META_ADS"), 1);
    seen.opportunity = Versioned::new(rec.clone(), Revision::at(1));
    assert!(decided(CrmEventKind::OpportunityCreated(new_opportunity()), &seen).stale);
}

#[test]
fn opportunity_updates_keep_the_newest_version() {
    let stored = OpportunityRecord {
        opportunity_id: "O-1".into(),
        version: 4,
        counted: true,
        status: Some("won".into()),
        terms: OpportunityTerms { value_minor: Some(MinorUnits(5)), currency: Some(usd()), deadline: None },
        ..Default::default()
    };
    let seen = Seen { opportunity: Versioned::new(stored.clone(), Revision::at(2)), ..Default::default() };
    let change = |version: u64, status: &str| OpportunityChange {
        id: id("O-1"),
        version,
        status: Status::parse(status).ok(),
        terms: OpportunityTerms { deadline: Some(at(30, 0)), ..Default::default() },
    };
    assert!(decided(CrmEventKind::OpportunityUpdated(change(3, "lost")), &seen).stale);
    let d = decided(CrmEventKind::OpportunityUpdated(change(5, "lost")), &seen);
    let (Entity::Opportunity(rec), expected) = only_put(&d) else { panic!("an opportunity put") };
    assert_eq!((expected, rec.version, rec.status.as_deref()), (Revision::at(2), 5, Some("lost")));
    assert_eq!(rec.terms, OpportunityTerms { deadline: Some(at(30, 0)), ..stored.terms });

    // A stub before its opportunity.created, which then counts it without losing the newer status.
    let d = decided(CrmEventKind::OpportunityUpdated(change(5, "won")), &Seen::default());
    let (Entity::Opportunity(stub), _) = only_put(&d) else { panic!("a stub put") };
    let mut seen = seen_lead(counted_lead("WEBSITE"), 1);
    seen.opportunity = Versioned::new(stub.clone(), Revision::at(1));
    let d = decided(CrmEventKind::OpportunityCreated(new_opportunity()), &seen);
    let (Entity::Opportunity(rec), expected) = only_put(&d) else { panic!("an opportunity put") };
    assert_eq!((expected, rec.counted, rec.version, rec.status.as_deref()), (Revision::at(1), true, 5, Some("won")));
    assert_eq!(count(&d, "AGG#D#2026-11-21", "opps__src__WEBSITE"), 1);
    assert_eq!(count(&d, "AGG#D#2026-11-21", "opps__camp__c1"), 0, "campaign rows are Meta's");
}

// ----------------------------------------------------------------------------------------- sales

fn sale(sale_id: &str, day: u32, amount: i64) -> CompletedSale {
    CompletedSale {
        id: id(sale_id),
        lead_id: id("L-1"),
        opportunity_id: Some(id("O-1")),
        payment: Payment { amount_minor: MinorUnits(amount), currency: usd(), completed_at: at(day, 12) },
    }
}

#[test]
fn a_sale_before_its_lead_waits_but_a_sale_counted_before_is_stale() {
    let err = decide(&event(CrmEventKind::SaleCompleted(sale("S-1", 22, 900))), &Seen::default()).expect_err("lead");
    assert!(matches!(err, ApplyError::LeadNotYetKnown(_)));
    let stored = SaleRecord {
        sale_id: "S-1".into(),
        lead_id: "L-1".into(),
        opportunity_id: None,
        payment: sale("S-1", 22, 900).payment,
        counted_under: CountedAttribution::default(),
    };
    let seen = Seen { sale: Versioned::new(stored, Revision::at(1)), ..Default::default() };
    assert!(decided(CrmEventKind::SaleCompleted(sale("S-1", 22, 900)), &seen).stale, "even with its lead unknown");
}

#[test]
fn a_first_sale_counts_revenue_and_a_customer() {
    let d = decided(CrmEventKind::SaleCompleted(sale("S-1", 22, 900)), &seen_lead(counted_lead("META_ADS"), 3));
    assert!(!d.stale);
    let [lead_put, sale_put] = &d.puts[..] else { panic!("{:?}", d.puts) };
    let Entity::Lead(lead) = &lead_put.entity else { panic!("lead") };
    assert_eq!((lead_put.expected, lead.first_sale_at), (Revision::at(3), Some(at(22, 12))));
    let Entity::Sale(rec) = &sale_put.entity else { panic!("sale") };
    assert_eq!(sale_put.expected, Revision::ABSENT);
    assert_eq!((rec.opportunity_id.as_deref(), rec.counted_under.campaign_id.as_deref()), (Some("O-1"), Some("c1")));
    for sk in ["AGG#D#2026-11-22", "AGG#M#2026-11"] {
        assert_eq!(count(&d, sk, "sales"), 1);
        assert_eq!(count(&d, sk, "revenue__USD"), 900);
        assert_eq!(count(&d, sk, "revenue__USD__ad__a1"), 900);
        assert_eq!(count(&d, sk, "customers__src__META_ADS"), 1);
    }
}

#[test]
fn an_earlier_sale_arriving_later_moves_the_customer_to_its_day() {
    let mut lead = counted_lead("WEBSITE");
    lead.first_sale_at = Some(at(10, 12));
    let d = decided(CrmEventKind::SaleCompleted(sale("S-0", 5, 200)), &seen_lead(lead.clone(), 2));
    assert_eq!(count(&d, "AGG#D#2026-11-10", "customers"), -1);
    assert_eq!(count(&d, "AGG#D#2026-11-05", "customers"), 1);
    assert_eq!(count(&d, "AGG#M#2026-11", "customers"), 0);
    let aggregates = d.deltas.clone().into_aggregates();
    assert!(!aggregates["AGG#M#2026-11"].counters.contains_key("customers"), "a zero is not written");
    let Entity::Lead(moved) = &d.puts[0].entity else { panic!("lead") };
    assert_eq!(moved.first_sale_at, Some(at(5, 12)));

    // A later sale is revenue, not a new customer, and leaves the lead alone.
    let d = decided(CrmEventKind::SaleCompleted(sale("S-2", 15, 300)), &seen_lead(lead, 2));
    assert_eq!(count(&d, "AGG#D#2026-11-15", "customers"), 0);
    assert_eq!(count(&d, "AGG#D#2026-11-15", "revenue__USD__src__WEBSITE"), 300);
    assert!(matches!(only_put(&d).0, Entity::Sale(_)));
}

// ------------------------------------------------------------------------------- carts, tenants

#[test]
fn carts_take_newer_versions_whole() {
    let change = |version: u64, sku: &str| CartChange {
        id: id("C-1"),
        version,
        lead_id: Some(id("L-1")),
        contents: CartContents {
            items: vec![CartLine { sku: sku.into(), quantity: 1, unit_price_minor: None }],
            currency: Some(usd()),
            last_activity_at: at(20, 18),
        },
    };
    let d = decided(CrmEventKind::CartUpdated(change(3, "A")), &Seen::default());
    let (Entity::Cart(rec), expected) = only_put(&d) else { panic!("a cart put") };
    assert_eq!((expected, rec.version, rec.lead_id.as_deref()), (Revision::ABSENT, 3, Some("L-1")));
    let seen = Seen { cart: Versioned::new(rec.clone(), Revision::at(1)), ..Default::default() };
    assert!(decided(CrmEventKind::CartUpdated(change(3, "B")), &seen).stale);
    let d = decided(CrmEventKind::CartUpdated(change(4, "B")), &seen);
    let (Entity::Cart(rec), expected) = only_put(&d) else { panic!("a cart put") };
    assert_eq!((expected, rec.contents.items[0].sku.as_str()), (Revision::at(1), "B"));
}

#[test]
fn tenant_updates_order_by_occurred_at() {
    let change: TenantChange =
        serde_json::from_value(json!({"display_name": "New", "reporting_time_zone": "America/Bogota"}))
            .expect("change");
    let d = decided(CrmEventKind::TenantUpdated(change.clone()), &Seen::default());
    let (Entity::Profile(p), expected) = only_put(&d) else { panic!("a profile put") };
    assert_eq!(
        (expected, p.tenant_id, p.display_name.as_str(), p.updated_at),
        (Revision::ABSENT, T, "New", at(20, 12))
    );
    assert_eq!(p.reporting_time_zone.map(Zone::name), Some("America/Bogota"));

    let newer =
        TenantProfile { display_name: "Newer".into(), currency: Some(usd()), updated_at: at(20, 12), ..p.clone() };
    let seen = Seen { profile: Versioned::new(newer.clone(), Revision::at(0)), ..Default::default() };
    assert!(decided(CrmEventKind::TenantUpdated(change.clone()), &seen).stale, "same instant is not newer");
    let older = TenantProfile { updated_at: at(19, 0), ..newer };
    let seen = Seen { profile: Versioned::new(older, Revision::at(0)), ..Default::default() };
    let d = decided(CrmEventKind::TenantUpdated(change), &seen);
    let (Entity::Profile(p), expected) = only_put(&d) else { panic!("a profile put") };
    assert_eq!(expected, Revision::at(0), "a profile written without a revision is guarded as such");
    assert_eq!((p.display_name.as_str(), p.currency), ("New", Some(usd())), "fields not in the change are kept");
}

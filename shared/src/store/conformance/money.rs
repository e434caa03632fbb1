//! Conformance of the ports behind the numbers: aggregates, spend, CRM events (and parked early
//! events), FX rates (manual and provider), job bus.

use super::*;

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

/// The event store's commit: exclusive markers, counters and names, guarded puts, all or
/// nothing, every record kind, the profile shared with the profile port, dead letters — one step
/// each, in order (later steps read what earlier ones wrote).
pub async fn event_store<S: EventStore, P: TenantProfileStore, A: AggregateStore>(s: &S, profiles: &P, items: &A) {
    event_markers(s).await;
    event_counters(s, items).await;
    guarded_puts(s).await;
    let sale = all_or_nothing(s, items).await;
    every_record_kind(s, sale).await;
    profile_commits(s, profiles).await;
    dead_letter_order(s, items).await;
}

fn committed(r: Result<Result<(), Conflict>, crate::store::StoreError>) -> Result<(), Conflict> {
    r.expect("commit")
}

/// Tenant 9500's aggregate item of 2026-11-24 in `bucket`, if any.
async fn nov24_item<A: AggregateStore>(
    items: &A,
    bucket: AggBucket,
) -> Option<crate::store::aggregates::AggregateItem> {
    let nov24 = day(2026, 11, 24);
    let (mut found, _) = items.aggregate_items(TenantId(9500), bucket, nov24, nov24).await.expect("aggregates");
    assert!(found.len() <= 1);
    found.pop()
}

/// The marker: absent, committed once, then every other commit of the event conflicts.
async fn event_markers<S: EventStore>(s: &S) {
    let t = TenantId(9500);
    assert_eq!(s.marker(t, "e-1").await.expect("marker"), None);
    let first = adding(commit(t, "e-1", "w1"), "AGG#D#2026-11-24", &[("leads", 1)], &[]);
    assert_eq!(committed(s.commit(&first).await), Ok(()));
    let found = s.marker(t, "e-1").await.expect("marker").expect("written");
    assert_eq!((found.writer.as_deref(), found.stale), (Some("w1"), false));
    let again = adding(commit(t, "e-1", "w2"), "AGG#D#2026-11-24", &[("leads", 1)], &[]);
    assert_eq!(committed(s.commit(&again).await), Err(Conflict), "the marker is exclusive");
    assert_eq!(s.marker(TenantId(9501), "e-1").await.expect("marker"), None, "markers are per tenant");
    let mut stale = commit(t, "e-stale", "w3");
    stale.marker.stale = true;
    assert_eq!(committed(s.commit(&stale).await), Ok(()));
    assert!(s.marker(t, "e-stale").await.expect("marker").expect("written").stale);
}

/// Counters add up (also negative deltas) and names are set, last writer wins.
async fn event_counters<S: EventStore, A: AggregateStore>(s: &S, items: &A) {
    let t = TenantId(9500);
    let more = adding(
        commit(t, "e-2", "w"),
        "AGG#D#2026-11-24",
        &[("leads", 2), ("customers", -1)],
        &[("name__camp__c1", "A")],
    );
    assert_eq!(committed(s.commit(&more).await), Ok(()));
    let renamed = adding(commit(t, "e-3", "w"), "AGG#D#2026-11-24", &[], &[("name__camp__c1", "B")]);
    assert_eq!(committed(s.commit(&renamed).await), Ok(()));
    let day = nov24_item(items, AggBucket::Day).await.expect("item");
    assert_eq!((day.counters.get("leads"), day.counters.get("customers")), (Some(&3), Some(&-1)));
    assert_eq!(day.names.get("name__camp__c1").map(String::as_str), Some("B"));
    assert_eq!(nov24_item(items, AggBucket::Month).await, None);
}

/// Guarded puts: absent → created at revision 1; a put guarded by a stale revision conflicts.
async fn guarded_puts<S: EventStore>(s: &S) {
    let t = TenantId(9500);
    assert_eq!(s.lead(t, "L-1").await.expect("lead"), Versioned::default());
    let create = putting(commit(t, "e-4", "w"), Entity::Lead(conformance_lead(1)), Revision::ABSENT);
    assert_eq!(committed(s.commit(&create).await), Ok(()));
    assert_eq!(s.lead(t, "L-1").await.expect("lead"), Versioned::new(conformance_lead(1), Revision::at(1)));
    let recreate = putting(commit(t, "e-5", "w"), Entity::Lead(conformance_lead(2)), Revision::ABSENT);
    assert_eq!(committed(s.commit(&recreate).await), Err(Conflict), "it exists now");
    let update = putting(commit(t, "e-5", "w"), Entity::Lead(conformance_lead(2)), Revision::at(1));
    assert_eq!(committed(s.commit(&update).await), Ok(()));
    let behind = putting(commit(t, "e-6", "w"), Entity::Lead(conformance_lead(3)), Revision::at(1));
    assert_eq!(committed(s.commit(&behind).await), Err(Conflict), "revision 1 is stale");
    assert_eq!(s.lead(t, "L-1").await.expect("lead"), Versioned::new(conformance_lead(2), Revision::at(2)));
}

/// All or nothing: one stale guard cancels the marker, the other puts and the counters. Returns
/// the sale it tried (the next step writes it).
async fn all_or_nothing<S: EventStore, A: AggregateStore>(s: &S, items: &A) -> SaleRecord {
    let t = TenantId(9500);
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
    assert_eq!(committed(s.commit(&mixed).await), Err(Conflict));
    assert_eq!(s.marker(t, "e-7").await.expect("marker"), None, "no marker");
    assert_eq!(s.sale(t, "S-1").await.expect("sale"), Versioned::default(), "no sale");
    let day = nov24_item(items, AggBucket::Day).await.expect("item");
    assert_eq!((day.counters.get("sales"), day.names.get("name__ad__1")), (None, None), "no counters");
    assert_eq!(s.lead(t, "L-1").await.expect("lead").revision, Revision::at(2));
    sale
}

/// Every record kind reads back as written.
async fn every_record_kind<S: EventStore>(s: &S, sale: SaleRecord) {
    let t = TenantId(9500);
    let usd = Currency::parse("USD").expect("usd");
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
    assert_eq!(committed(s.commit(&c).await), Ok(()));
    assert_eq!(s.sale(t, "S-1").await.expect("sale"), Versioned::new(sale, Revision::at(1)));
    assert_eq!(s.opportunity(t, "O-1").await.expect("opp"), Versioned::new(opp, Revision::at(1)));
    assert_eq!(s.cart(t, "C-1").await.expect("cart"), Versioned::new(cart, Revision::at(1)));
}

/// The profile is the profile port's item: written there it has no revision (0), and a put there
/// makes a commit guarded by an earlier read conflict.
async fn profile_commits<S: EventStore, P: TenantProfileStore>(s: &S, profiles: &P) {
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
    assert_eq!(committed(s.commit(&c).await), Ok(()));
    assert_eq!(profiles.get_profile(p).await.expect("get"), Some(renamed.clone()), "one profile item");
    assert_eq!(s.profile(p).await.expect("profile").revision, Revision::at(1));
    profiles.put_profile(&profile).await.expect("overwrite");
    let c = putting(commit(p, "e-10", "w"), Entity::Profile(renamed), Revision::at(1));
    assert_eq!(committed(s.commit(&c).await), Err(Conflict), "the profile port wrote it since");
}

/// Dead letters are kept whole, oldest first.
async fn dead_letter_order<S: EventStore, A: AggregateStore>(s: &S, items: &A) {
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

/// Parked events: a park is tied to the lead item's revision and kept once per event; reads per
/// lead (prefix-safe, per tenant) and across tenants soonest `due` first; expiry is tied to the
/// lead too and moves the event to the dead letters once; release is idempotent.
pub async fn parked_events<S: EventStore, R: ItemReads>(s: &S, items: &R) {
    let (t, other) = (TenantId(9700), TenantId(9701));
    let parked = |tenant: TenantId, lead: &str, event: &str, due_days: i64| ParkedEvent {
        tenant_id: tenant,
        lead_id: lead.into(),
        event_id: event.into(),
        detail_type: "sale.completed".into(),
        payload: format!("{{\"event\":\"{event}\"}}"),
        parked_at: t0(),
        due: t0() + Duration::days(due_days),
    };
    let park = |p: ParkedEvent, lead: Revision| async move { s.park(&p, lead).await.expect("park") };

    // Kept once: the first park and its due stand.
    let first = parked(t, "L-1", "e-1", 7);
    assert_eq!(park(first.clone(), Revision::ABSENT).await, Ok(Parking::Parked));
    let later = ParkedEvent { parked_at: t0() + Duration::hours(1), due: t0() + Duration::days(8), ..first.clone() };
    assert_eq!(park(later, Revision::ABSENT).await, Ok(Parking::AlreadyParked));
    assert_eq!(s.waiting_for(t, "L-1").await.expect("waiting"), vec![first.clone()]);

    // Tied to the lead: once its item exists, a park that read it absent conflicts.
    let mut lead = conformance_lead(1);
    lead.lead_id = "L-2".into();
    let created = putting(commit(t, "e-lead", "w"), Entity::Lead(lead), Revision::ABSENT);
    assert_eq!(s.commit(&created).await.expect("commit"), Ok(()));
    let second = parked(t, "L-2", "e-2", 3);
    assert_eq!(park(second.clone(), Revision::ABSENT).await, Err(Conflict), "the lead moved");
    assert!(s.waiting_for(t, "L-2").await.expect("waiting").is_empty(), "nothing parked");
    assert_eq!(park(second.clone(), Revision::at(1)).await, Ok(Parking::Parked));

    // Per lead (L-1 is not L-10) and per tenant; across tenants, soonest due first.
    let third = parked(t, "L-10", "e-3", 5);
    let elsewhere = parked(other, "L-1", "e-9", 1);
    assert_eq!(park(third.clone(), Revision::ABSENT).await, Ok(Parking::Parked));
    assert_eq!(park(elsewhere.clone(), Revision::ABSENT).await, Ok(Parking::Parked));
    assert_eq!(s.waiting_for(t, "L-1").await.expect("waiting"), vec![first.clone()]);
    assert_eq!(s.waiting_for(other, "L-1").await.expect("waiting"), vec![elsewhere.clone()]);
    let all = s.parked_events(10).await.expect("all");
    assert_eq!(all, vec![elsewhere, second.clone(), third, first.clone()]);
    assert_eq!(s.parked_events(2).await.expect("some").len(), 2);

    // Expiry is tied to the lead, moves it to the dead letters, and happens once.
    let letter = DeadLetter {
        received_at: t0(),
        id: "e-2".into(),
        event_id: Some("e-2".into()),
        detail_type: Some("sale.completed".into()),
        tenant_id: Some(t.0),
        reason: "lead L-2 did not arrive".into(),
        payload: second.payload.clone(),
        expires_at: t0() + Duration::days(30),
    };
    let (second, letter) = (&second, &letter);
    let expire = |lead: Revision| async move { s.expire(second, lead, letter).await.expect("expire") };
    assert_eq!(expire(Revision::ABSENT).await, Err(Conflict), "the lead moved");
    assert_eq!(s.waiting_for(t, "L-2").await.expect("waiting").len(), 1, "still parked");
    assert_eq!(expire(Revision::at(1)).await, Ok(Expiry::Expired));
    assert!(s.waiting_for(t, "L-2").await.expect("waiting").is_empty());
    let kept = dead_letters(items, t0(), t0()).await.expect("letters");
    assert_eq!(
        kept.iter().map(|l| (l.id.as_str(), l.payload.as_str())).collect::<Vec<_>>(),
        vec![("e-2", "{\"event\":\"e-2\"}")]
    );
    assert_eq!(expire(Revision::at(1)).await, Ok(Expiry::Gone), "once");

    // Released once applied; releasing again is no error.
    s.release(&first).await.expect("release");
    s.release(&first).await.expect("release again");
    assert!(s.waiting_for(t, "L-1").await.expect("waiting").is_empty());
    assert_eq!(s.parked_events(10).await.expect("all").len(), 2);
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

/// Provider rates: a batch of more than one `BatchWriteItem` (25) is stored whole; a pair's days
/// read back oldest first within the range, both ends included; the same day overwrites; quotes,
/// bases and providers are apart.
pub async fn provider_rates<S: ProviderRateStore>(s: &S) {
    let (eur, usd, mxn) = (Currency::parse("EUR").expect("EUR"), Currency::USD, Currency::parse("MXN").expect("MXN"));
    let rate = |provider: &str, base: Currency, quote: Currency, d: NaiveDate, r: &str| ProviderRate {
        provider: provider.into(),
        base,
        quote,
        day: d,
        rate: ScaledRate::parse(r).expect("rate"),
        stored_at: t0(),
    };
    let first = day(2026, 10, 1);
    let mut batch: Vec<ProviderRate> =
        (0..40).map(|i| rate(ECB_SOURCE, eur, usd, first + Duration::days(i), &format!("1.{:04}", 1000 + i))).collect();
    batch.push(rate(ECB_SOURCE, eur, mxn, day(2026, 10, 5), "19.5"));
    batch.push(rate("other", eur, usd, day(2026, 10, 5), "9"));
    batch.push(rate(ECB_SOURCE, usd, eur, day(2026, 10, 5), "0.9"));
    s.put_provider_rates(&batch).await.expect("put");
    let (all, _) = s.provider_rates(ECB_SOURCE, eur, usd, first, day(2026, 12, 31)).await.expect("read");
    assert_eq!(all.len(), 40, "every item of a multi-batch put");
    assert!(all.windows(2).all(|w| w[0].day < w[1].day), "oldest first");
    assert_eq!(all[0], batch[0]);
    let (some, cost) = s.provider_rates(ECB_SOURCE, eur, usd, day(2026, 10, 3), day(2026, 10, 5)).await.expect("read");
    assert_eq!(some.iter().map(|r| r.rate.to_string()).collect::<Vec<_>>(), ["1.1002", "1.1003", "1.1004"]);
    assert_eq!(cost.items_read, 3, "a range reads only its days");
    s.put_provider_rates(&[rate(ECB_SOURCE, eur, usd, day(2026, 10, 3), "1.2")]).await.expect("overwrite");
    let (again, _) = s.provider_rates(ECB_SOURCE, eur, usd, day(2026, 10, 3), day(2026, 10, 3)).await.expect("read");
    assert_eq!(again.iter().map(|r| r.rate.to_string()).collect::<Vec<_>>(), ["1.2"]);
    let one = |provider: &'static str, base: Currency, quote: Currency| async move {
        s.provider_rates(provider, base, quote, day(2026, 10, 5), day(2026, 10, 5)).await.expect("read").0
    };
    assert_eq!(one(ECB_SOURCE, eur, mxn).await.len(), 1, "quotes apart");
    assert_eq!(one("other", eur, usd).await[0].rate.to_string(), "9", "providers apart");
    assert_eq!(one(ECB_SOURCE, usd, eur).await[0].rate.to_string(), "0.9", "bases apart");
    assert!(s
        .provider_rates(ECB_SOURCE, eur, usd, day(2026, 11, 10), day(2026, 11, 1))
        .await
        .expect("read")
        .0
        .is_empty());
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

//! The pure decide step: given an event and the records it touches as read ([`Seen`]), what it
//! writes ([`Decision`]): entity puts guarded by the revisions read, counter deltas and names on
//! the aggregate items, and whether it is stale. No I/O: the apply step (`apply.rs`) reads, decides,
//! commits, and decides again on fresh reads when the commit lost a race.
//!
//! One function per event kind; the ordering rules are in the module docs of [`crate::events`].

use crate::domain::zone::{reporting_zone, Zone};
use crate::events::counting::{Attribution, Deltas};
use crate::events::schema::{
    CartChange, CompletedSale, CrmEvent, CrmEventKind, LeadChange, NewLead, NewOpportunity, OpportunityChange,
    TenantChange,
};
use crate::events::ApplyError;
use crate::marketing::aggregates::counter;
use crate::store::events::{Entity, GuardedPut, Versioned};
use crate::store::records::{CartRecord, CountedAttribution, LeadRecord, LeadgenLink, OpportunityRecord, SaleRecord};
use crate::store::{Revision, TenantProfile};

/// The records an event touches, as read (absent: not stored, or not touched by this kind).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// The lead of a lead event, or the lead an opportunity or sale belongs to.
    pub lead: Versioned<LeadRecord>,
    pub opportunity: Versioned<OpportunityRecord>,
    pub sale: Versioned<SaleRecord>,
    pub cart: Versioned<CartRecord>,
    /// The tenant's profile: its reporting zone decides the local day of counted facts.
    pub profile: Versioned<TenantProfile>,
    /// For a `lead.created` with a leadgen id: the lead that already holds that leadgen id, if any.
    pub link: Versioned<LeadgenLink>,
}

impl Seen {
    fn zone(&self) -> Zone {
        reporting_zone(self.profile.value.as_ref().and_then(|p| p.reporting_time_zone))
    }
}

/// What an event writes besides its marker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub puts: Vec<GuardedPut>,
    pub deltas: Deltas,
    /// Older than the stored state, or a fact already counted: only the marker is written.
    pub stale: bool,
}

impl Decision {
    fn stale() -> Self {
        Decision { stale: true, ..Default::default() }
    }

    fn put(&mut self, entity: Entity, expected: Revision) {
        self.puts.push(GuardedPut { entity, expected });
    }
}

/// Decides every write of `event` from the records it touches.
pub fn decide(event: &CrmEvent, seen: &Seen) -> Result<Decision, ApplyError> {
    Ok(match &event.kind {
        CrmEventKind::LeadCreated(new) => lead_created(new, seen),
        CrmEventKind::LeadUpdated(ch) => lead_updated(ch, seen),
        CrmEventKind::OpportunityCreated(new) => opportunity_created(new, seen)?,
        CrmEventKind::OpportunityUpdated(ch) => opportunity_updated(ch, seen),
        CrmEventKind::SaleCompleted(sale) => sale_completed(sale, seen)?,
        CrmEventKind::CartUpdated(ch) => cart_updated(ch, seen),
        CrmEventKind::TenantUpdated(ch) => tenant_updated(ch, event, seen),
    })
}

/// Counts the lead once (on its local creation day) and fixes its attribution; a newer
/// `lead.updated` that arrived first keeps its fields. A lead whose leadgen id another lead holds
/// already (the CRM's copy of a Meta lead, or the other way round) becomes an alias of that lead:
/// not counted again, no second follow-up.
fn lead_created(new: &NewLead, seen: &Seen) -> Decision {
    let mut rec =
        seen.lead.value.clone().unwrap_or_else(|| LeadRecord { lead_id: new.id.as_str().into(), ..Default::default() });
    if rec.counted || rec.alias_of.is_some() {
        return Decision::stale();
    }
    rec.leadgen_id = new.leadgen_id.as_ref().map(|l| l.as_str().to_string());
    let holder = seen.link.value.as_ref().map(|l| l.lead_id.clone());
    if let Some(holder) = holder.filter(|h| h != new.id.as_str()) {
        rec.alias_of = Some(holder);
        let mut d = Decision { stale: true, ..Decision::default() };
        d.put(Entity::Lead(rec), seen.lead.revision);
        return d;
    }
    let zone = seen.zone();
    rec.counted = true;
    rec.created_at = Some(new.created_at);
    rec.source = Some(new.source.as_str().into());
    rec.attribution = new.attribution.to_plain();
    if new.version > rec.version {
        rec.version = new.version;
        rec.status = Some(new.status.as_str().into());
        rec.opted_out = new.opted_out;
        rec.contact = new.contact.clone();
    }
    let mut d = Decision::default();
    if let Some(a) = Attribution::of(&rec) {
        d.deltas.bump(counter::LEADS, &a, new.created_at, zone, 1);
    }
    d.deltas.name(&new.attribution, new.created_at, zone);
    d.put(Entity::Lead(rec), seen.lead.revision);
    if let (Some(leadgen), None) = (&new.leadgen_id, &seen.link.value) {
        // The first lead with this leadgen id holds it: a racing copy conflicts on the link.
        let link = LeadgenLink { leadgen_id: leadgen.as_str().into(), lead_id: new.id.as_str().into() };
        d.put(Entity::LeadgenLink(link), seen.link.revision);
    }
    d
}

/// Takes a newer version's status, opt-out and contact fields (a stub if the lead is not known yet).
fn lead_updated(ch: &LeadChange, seen: &Seen) -> Decision {
    let mut rec =
        seen.lead.value.clone().unwrap_or_else(|| LeadRecord { lead_id: ch.id.as_str().into(), ..Default::default() });
    if ch.version <= rec.version {
        return Decision::stale();
    }
    rec.version = ch.version;
    if let Some(s) = &ch.status {
        rec.status = Some(s.as_str().into());
    }
    if let Some(o) = ch.opted_out {
        rec.opted_out = o;
    }
    rec.contact.merge(&ch.contact);
    let mut d = Decision::default();
    d.put(Entity::Lead(rec), seen.lead.revision);
    d
}

/// Counts the opportunity once, for its lead's attribution (which must be known by now).
fn opportunity_created(new: &NewOpportunity, seen: &Seen) -> Result<Decision, ApplyError> {
    let mut rec = seen
        .opportunity
        .value
        .clone()
        .unwrap_or_else(|| OpportunityRecord { opportunity_id: new.id.as_str().into(), ..Default::default() });
    if rec.counted {
        return Ok(Decision::stale());
    }
    let attribution = seen
        .lead
        .value
        .as_ref()
        .and_then(Attribution::of)
        .ok_or_else(|| ApplyError::LeadNotYetKnown(new.lead_id.as_str().into()))?;
    rec.counted = true;
    rec.lead_id = Some(new.lead_id.as_str().into());
    rec.created_at = Some(new.created_at);
    rec.counted_under = CountedAttribution::from(&attribution);
    if new.version > rec.version {
        rec.version = new.version;
        rec.status = Some(new.status.as_str().into());
        rec.terms = new.terms.clone();
    }
    let mut d = Decision::default();
    d.deltas.bump(counter::OPPORTUNITIES, &attribution, new.created_at, seen.zone(), 1);
    d.put(Entity::Opportunity(rec), seen.opportunity.revision);
    Ok(d)
}

/// Takes a newer version's status and terms (a stub if the opportunity is not known yet).
fn opportunity_updated(ch: &OpportunityChange, seen: &Seen) -> Decision {
    let mut rec = seen
        .opportunity
        .value
        .clone()
        .unwrap_or_else(|| OpportunityRecord { opportunity_id: ch.id.as_str().into(), ..Default::default() });
    if ch.version <= rec.version {
        return Decision::stale();
    }
    rec.version = ch.version;
    if let Some(s) = &ch.status {
        rec.status = Some(s.as_str().into());
    }
    rec.terms.merge(&ch.terms);
    let mut d = Decision::default();
    d.put(Entity::Opportunity(rec), seen.opportunity.revision);
    d
}

/// Counts the sale and its revenue once; the lead becomes a customer on its earliest sale,
/// whatever the arrival order (an earlier sale arriving later moves the customer to its day).
fn sale_completed(sale: &CompletedSale, seen: &Seen) -> Result<Decision, ApplyError> {
    if seen.sale.value.is_some() {
        return Ok(Decision::stale());
    }
    let not_yet = || ApplyError::LeadNotYetKnown(sale.lead_id.as_str().into());
    let mut lead = seen.lead.value.clone().ok_or_else(not_yet)?;
    let attribution = Attribution::of(&lead).ok_or_else(not_yet)?;
    let zone = seen.zone();
    let at = sale.payment.completed_at;
    let rec = SaleRecord {
        sale_id: sale.id.as_str().into(),
        lead_id: sale.lead_id.as_str().into(),
        opportunity_id: sale.opportunity_id.as_ref().map(|o| o.as_str().into()),
        payment: sale.payment,
        counted_under: CountedAttribution::from(&attribution),
    };
    let mut d = Decision::default();
    d.deltas.bump(counter::SALES, &attribution, at, zone, 1);
    d.deltas.bump(&counter::revenue(sale.payment.currency.code()), &attribution, at, zone, sale.payment.amount_minor.0);
    match lead.first_sale_at {
        None => {
            d.deltas.bump(counter::CUSTOMERS, &attribution, at, zone, 1);
            lead.first_sale_at = Some(at);
            d.put(Entity::Lead(lead), seen.lead.revision);
        }
        Some(first) if at < first => {
            d.deltas.bump(counter::CUSTOMERS, &attribution, first, zone, -1);
            d.deltas.bump(counter::CUSTOMERS, &attribution, at, zone, 1);
            lead.first_sale_at = Some(at);
            d.put(Entity::Lead(lead), seen.lead.revision);
        }
        Some(_) => {}
    }
    d.put(Entity::Sale(rec), Revision::ABSENT);
    Ok(d)
}

/// Replaces the cart with a newer version.
fn cart_updated(ch: &CartChange, seen: &Seen) -> Decision {
    if seen.cart.value.as_ref().is_some_and(|r| ch.version <= r.version) {
        return Decision::stale();
    }
    let rec = CartRecord {
        cart_id: ch.id.as_str().into(),
        version: ch.version,
        lead_id: ch.lead_id.as_ref().map(|l| l.as_str().into()),
        contents: ch.contents.clone(),
    };
    let mut d = Decision::default();
    d.put(Entity::Cart(rec), seen.cart.revision);
    d
}

/// Takes the fields a newer (by `occurred_at`) tenant update has.
fn tenant_updated(ch: &TenantChange, event: &CrmEvent, seen: &Seen) -> Decision {
    let profile = seen.profile.value.clone();
    if profile.as_ref().is_some_and(|p| p.updated_at >= event.occurred_at) {
        return Decision::stale();
    }
    let mut p = profile.unwrap_or_else(|| TenantProfile::empty(event.tenant_id, event.occurred_at));
    if let Some(n) = &ch.display_name {
        p.display_name.clone_from(n);
    }
    if let Some(z) = ch.reporting_time_zone {
        p.reporting_time_zone = Some(z);
    }
    if let Some(c) = ch.currency {
        p.currency = Some(c);
    }
    p.updated_at = event.occurred_at;
    let mut d = Decision::default();
    d.put(Entity::Profile(p), seen.profile.revision);
    d
}

#[cfg(test)]
mod tests;

//! The in-memory twin of [`EventStore`]: the same items as on DynamoDB, in the shared
//! [`MemoryTable`], so the aggregates it writes are what the aggregate port's twin reads.

use std::sync::{Arc, MutexGuard};

use super::*;
use crate::store::dead_letters::dead_letter_item;
use crate::store::memory::MemoryStore;
use crate::store::memory_table::MemoryTable;
use crate::store::parked_events::{Expiry, ParkedEvent, Parking};
use crate::store::ItemReads;

/// The in-memory twin of [`EventStore`]: a commit's conditions are checked and its items written
/// under the table's one lock, so it is all or nothing like the DynamoDB transaction. Reads parse
/// the items with the DynamoDB side's code.
///
/// Tenant profiles are one item in DynamoDB, shared with [`crate::store::TenantProfileStore`];
/// here they are that port's twin's ([`MemoryStore`]), with their revisions: a commit writes the
/// profile there at the next revision (and the item into the table), as DynamoDB's `rev`. Lock
/// order: the table, then the profiles.
#[derive(Debug)]
pub struct MemoryEventStore {
    table: Arc<MemoryTable>,
    profiles: Arc<MemoryStore>,
}

impl Default for MemoryEventStore {
    fn default() -> Self {
        Self::new(Arc::new(MemoryTable::default()), Arc::new(MemoryStore::default()))
    }
}

type Profiles<'a> = MutexGuard<'a, std::collections::HashMap<TenantId, (TenantProfile, u64)>>;

impl MemoryEventStore {
    /// A twin writing into `table` whose tenant profiles are `profiles`' (as
    /// [`crate::App::in_memory`] wires it).
    pub fn new(table: Arc<MemoryTable>, profiles: Arc<MemoryStore>) -> Self {
        Self { table, profiles }
    }

    fn profiles(&self) -> Profiles<'_> {
        self.profiles.profiles.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn profile_revision(profiles: &Profiles<'_>, tenant: TenantId) -> Revision {
        profiles.get(&tenant).map_or(Revision::ABSENT, |(_, rev)| Revision::at(*rev))
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn marker(&self, tenant: TenantId, event_id: &str) -> Result<Option<FoundMarker>, StoreError> {
        read_marker(self.table.as_ref(), tenant, event_id).await
    }
    async fn lead(&self, tenant: TenantId, id: &str) -> Result<Versioned<LeadRecord>, StoreError> {
        read_versioned(self.table.as_ref(), tenant, &keys::lead(id)).await
    }
    async fn leadgen_link(&self, tenant: TenantId, leadgen_id: &str) -> Result<Versioned<LeadgenLink>, StoreError> {
        read_versioned(self.table.as_ref(), tenant, &keys::leadgen_link(leadgen_id)).await
    }
    async fn opportunity(&self, tenant: TenantId, id: &str) -> Result<Versioned<OpportunityRecord>, StoreError> {
        read_versioned(self.table.as_ref(), tenant, &keys::opportunity(id)).await
    }
    async fn sale(&self, tenant: TenantId, id: &str) -> Result<Versioned<SaleRecord>, StoreError> {
        read_versioned(self.table.as_ref(), tenant, &keys::sale(id)).await
    }
    async fn cart(&self, tenant: TenantId, id: &str) -> Result<Versioned<CartRecord>, StoreError> {
        read_versioned(self.table.as_ref(), tenant, &keys::cart(id)).await
    }
    async fn profile(&self, tenant: TenantId) -> Result<Versioned<TenantProfile>, StoreError> {
        let profiles = self.profiles();
        let revision = Self::profile_revision(&profiles, tenant);
        Ok(Versioned { value: profiles.get(&tenant).map(|(p, _)| p.clone()), revision })
    }

    async fn commit(&self, c: &EventCommit) -> Result<Result<(), Conflict>, StoreError> {
        let pk = keys::tenant(c.tenant);
        let mut table = self.table.lock();
        let mut profiles = self.profiles();
        // Every condition first, then every write: nothing is written unless all hold.
        if table.get(&pk, &keys::event_marker(&c.marker.event_id)).is_some() {
            return Ok(Err(Conflict));
        }
        for p in &c.puts {
            let current = match &p.entity {
                Entity::Profile(_) => Self::profile_revision(&profiles, c.tenant),
                e => Revision::of(table.get(&pk, &e.sort_key()).as_ref()),
            };
            if current != p.expected {
                return Ok(Err(Conflict));
            }
        }
        let items: Vec<Item> =
            c.puts.iter().map(|p| Ok(p.expected.stamped(p.entity.to_item(&pk)?))).collect::<Result<_, StoreError>>()?;
        table.put(marker_item(&pk, &c.marker));
        for (p, item) in c.puts.iter().zip(items) {
            if let Entity::Profile(profile) = &p.entity {
                profiles.insert(c.tenant, (profile.clone(), p.expected.next()));
            }
            table.put(item);
        }
        for (sk, a) in c.aggregates.iter().filter(|(_, a)| !a.is_empty()) {
            table.add(&pk, sk, &a.counters, &a.names);
        }
        Ok(Ok(()))
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<String, StoreError> {
        self.table.lock().put(dead_letter_item(letter));
        Ok(letter.sort_key())
    }
}

/// The parked events' twin: the same items in the same table, every condition checked under its lock.
#[async_trait]
impl ParkedEvents for MemoryEventStore {
    async fn park(&self, event: &ParkedEvent, lead: Revision) -> Result<Result<Parking, Conflict>, StoreError> {
        let pk = keys::tenant(event.tenant_id);
        let mut table = self.table.lock();
        if table.get(&pk, &event.sort_key()).is_some() {
            return Ok(Ok(Parking::AlreadyParked));
        }
        if Revision::of(table.get(&pk, &keys::lead(&event.lead_id)).as_ref()) != lead {
            return Ok(Err(Conflict));
        }
        table.put(event.to_item()?);
        Ok(Ok(Parking::Parked))
    }

    async fn waiting_for(&self, tenant: TenantId, lead_id: &str) -> Result<Vec<ParkedEvent>, StoreError> {
        let (from, to) = keys::parked_for_lead(lead_id);
        let (items, _) = self.table.item_range(keys::tenant(tenant), from, to).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn parked_events(&self, limit: usize) -> Result<Vec<ParkedEvent>, StoreError> {
        let items = self.table.lock().gsi1_upto(keys::PARKED_INDEX, "~");
        items.into_iter().take(limit).map(from_item).collect()
    }

    async fn release(&self, event: &ParkedEvent) -> Result<(), StoreError> {
        self.table.lock().remove(&keys::tenant(event.tenant_id), &event.sort_key());
        Ok(())
    }

    async fn expire(
        &self,
        event: &ParkedEvent,
        lead: Revision,
        letter: &DeadLetter,
    ) -> Result<Result<Expiry, Conflict>, StoreError> {
        let pk = keys::tenant(event.tenant_id);
        let mut table = self.table.lock();
        if table.get(&pk, &event.sort_key()).is_none() {
            return Ok(Ok(Expiry::Gone));
        }
        if Revision::of(table.get(&pk, &keys::lead(&event.lead_id)).as_ref()) != lead {
            return Ok(Err(Conflict));
        }
        table.remove(&pk, &event.sort_key());
        table.put(dead_letter_item(letter));
        Ok(Ok(Expiry::Expired))
    }
}

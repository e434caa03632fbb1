//! Per contact (E.164 phone) of a tenant: the cap on automated templates (`CONTACT#{phone}`: who
//! last reserved a send and when — a conditional put is the gate, so two triggers racing for the
//! same contact send one) and opt-outs (`OPTOUT#{phone}`, e.g. an inbound STOP).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::{s, text};
use crate::domain::ids::TenantId;
use crate::store::memory_table::MemoryTable;
use crate::store::{attr, condition_held, is_condition_failure, keys, DynamoStore, Item, StoreError};

#[async_trait]
pub trait Contacts: Send + Sync {
    /// Reserves the contact's next automated send for `holder` (e.g. `{trigger}:{entity}`) unless
    /// another holder reserved it within `window` before `now`. Re-reserving one's own is allowed.
    async fn reserve_contact(
        &self,
        tenant: TenantId,
        phone: &str,
        holder: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<bool, StoreError>;
    /// Gives back `holder`'s reservation (its send did not happen).
    async fn release_contact(&self, tenant: TenantId, phone: &str, holder: &str) -> Result<(), StoreError>;
    async fn opt_out(&self, tenant: TenantId, phone: &str, reason: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn is_opted_out(&self, tenant: TenantId, phone: &str) -> Result<bool, StoreError>;
    /// Takes one of the tenant's `cap` sends of UTC day `day` (Meta's limit on unique recipients a
    /// day; the per-contact cap makes each send a distinct recipient); `false` when none is left.
    async fn take_daily_slot(&self, tenant: TenantId, day: NaiveDate, cap: u32) -> Result<bool, StoreError>;
    /// Notes that `tenant` messaged `phone` (the recipient index).
    async fn record_recipient(&self, tenant: TenantId, phone: &str) -> Result<(), StoreError>;
    /// The tenants that messaged `phone`.
    async fn tenants_of(&self, phone: &str) -> Result<Vec<TenantId>, StoreError>;
}

fn recipient_item(tenant: TenantId, phone: &str) -> Item {
    Item::from([
        (attr::PK.to_string(), s(&keys::recipient_index(phone))),
        (attr::SK.to_string(), s(&keys::tenant(tenant))),
        ("tenant_id".to_string(), AttributeValue::N(tenant.0.to_string())),
    ])
}

fn tenant_of(item: &Item) -> Option<TenantId> {
    item.get("tenant_id").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).map(TenantId)
}

fn ms(at: DateTime<Utc>) -> String {
    at.timestamp_millis().to_string()
}

fn reservation(tenant: TenantId, phone: &str, holder: &str, now: DateTime<Utc>) -> Item {
    Item::from([
        (attr::PK.to_string(), s(&keys::tenant(tenant))),
        (attr::SK.to_string(), s(&keys::contact_send(phone))),
        ("holder".to_string(), s(holder)),
        ("reserved_ms".to_string(), AttributeValue::N(ms(now))),
    ])
}

fn opt_out_item(tenant: TenantId, phone: &str, reason: &str, at: DateTime<Utc>) -> Item {
    Item::from([
        (attr::PK.to_string(), s(&keys::tenant(tenant))),
        (attr::SK.to_string(), s(&keys::opt_out(phone))),
        ("reason".to_string(), s(reason)),
        ("at".to_string(), s(&at.to_rfc3339())),
    ])
}

#[async_trait]
impl Contacts for DynamoStore {
    async fn reserve_contact(
        &self,
        tenant: TenantId,
        phone: &str,
        holder: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(reservation(tenant, phone, holder, now)))
            .condition_expression("attribute_not_exists(#pk) OR #holder = :holder OR #at <= :cutoff")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_names("#at", "reserved_ms")
            .expression_attribute_values(":holder", s(holder))
            .expression_attribute_values(":cutoff", AttributeValue::N(ms(now - window)))
            .send()
            .await;
        condition_held(out)
    }

    async fn release_contact(&self, tenant: TenantId, phone: &str, holder: &str) -> Result<(), StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(&keys::contact_send(phone)))
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", "holder")
            .expression_attribute_values(":holder", s(holder))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn opt_out(&self, tenant: TenantId, phone: &str, reason: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.put_item(opt_out_item(tenant, phone, reason, at)).await
    }

    async fn is_opted_out(&self, tenant: TenantId, phone: &str) -> Result<bool, StoreError> {
        Ok(self.get_item(keys::tenant(tenant), &keys::opt_out(phone)).await?.is_some())
    }

    async fn take_daily_slot(&self, tenant: TenantId, day: NaiveDate, cap: u32) -> Result<bool, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(&keys::automation_day(day)))
            .update_expression("ADD #n :one")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_names("#n", "sends")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":cap", AttributeValue::N(cap.to_string()))
            .send()
            .await;
        condition_held(out)
    }

    async fn record_recipient(&self, tenant: TenantId, phone: &str) -> Result<(), StoreError> {
        self.put_item(recipient_item(tenant, phone)).await
    }

    async fn tenants_of(&self, phone: &str) -> Result<Vec<TenantId>, StoreError> {
        let (items, _) = self.query_between(keys::recipient_index(phone), "T#".into(), "T#~".into()).await?;
        Ok(items.iter().filter_map(tenant_of).collect())
    }
}

#[async_trait]
impl Contacts for MemoryTable {
    async fn reserve_contact(
        &self,
        tenant: TenantId,
        phone: &str,
        holder: &str,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Result<bool, StoreError> {
        let mut table = self.lock();
        let free = match table.get(&keys::tenant(tenant), &keys::contact_send(phone)) {
            None => true,
            Some(i) => {
                let at = i.get("reserved_ms").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
                text(&i, "holder").as_deref() == Some(holder)
                    || at.is_some_and(|at| at <= (now - window).timestamp_millis())
            }
        };
        if free {
            table.put(reservation(tenant, phone, holder, now));
        }
        Ok(free)
    }

    async fn release_contact(&self, tenant: TenantId, phone: &str, holder: &str) -> Result<(), StoreError> {
        let mut table = self.lock();
        let (pk, sk) = (keys::tenant(tenant), keys::contact_send(phone));
        if table.get(&pk, &sk).is_some_and(|i| text(&i, "holder").as_deref() == Some(holder)) {
            table.remove(&pk, &sk);
        }
        Ok(())
    }

    async fn opt_out(&self, tenant: TenantId, phone: &str, reason: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.lock().put(opt_out_item(tenant, phone, reason, at));
        Ok(())
    }

    async fn is_opted_out(&self, tenant: TenantId, phone: &str) -> Result<bool, StoreError> {
        Ok(self.lock().get(&keys::tenant(tenant), &keys::opt_out(phone)).is_some())
    }

    async fn take_daily_slot(&self, tenant: TenantId, day: NaiveDate, cap: u32) -> Result<bool, StoreError> {
        let mut table = self.lock();
        let (pk, sk) = (keys::tenant(tenant), keys::automation_day(day));
        let n = table
            .get(&pk, &sk)
            .and_then(|i| i.get("sends").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()))
            .unwrap_or(0);
        if n >= u64::from(cap) {
            return Ok(false);
        }
        table.add(&pk, &sk, &std::collections::BTreeMap::from([("sends".to_string(), 1)]), &Default::default());
        Ok(true)
    }

    async fn record_recipient(&self, tenant: TenantId, phone: &str) -> Result<(), StoreError> {
        self.lock().put(recipient_item(tenant, phone));
        Ok(())
    }

    async fn tenants_of(&self, phone: &str) -> Result<Vec<TenantId>, StoreError> {
        Ok(self.lock().between(&keys::recipient_index(phone), "T#", "T#~").iter().filter_map(tenant_of).collect())
    }
}

//! The conversions outbox (`meta::conversions`): per tenant its settings (`CONV#SETTINGS`, saved
//! at a revision), one item per (lead, stage) (`CONV#L#{lead}#{rank}#{stage}`), daily outcome
//! counters (`CONV#STAT#{day}`), Meta's last answer (`CONV#LAST`) and the sender's lease
//! (`CONV#LEASE`).
//!
//! Exactly once: an item is created by a transaction whose puts are all conditional on absence,
//! so of every delivery of the same CRM event (and of two events reaching the same stage) one
//! creates it. A pending item sits in GSI1 under `CONVQ#T#{tenant}` (sparse, ordered by lead then
//! funnel rank) until it is settled; the same transaction marks the tenant in
//! `CONVQ#TENANTS#{shard}` so the scheduled sender finds the tenants with work without a scan.
//! One sender per tenant at a time holds the lease; [`ConversionStore::pending`] re-reads the
//! items it lists from the table (consistent) so an index lagging behind a settle never resends.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::conversions::{ConversionActivity, ConversionItem, ConversionSettings, ConversionState};
use crate::domain::ids::TenantId;
use crate::store::memory_table::MemoryTable;
use crate::store::{
    attr, condition_held, from_item, is_transaction_conflict, keys, to_item, Conflict, DynamoStore, Item, Revision,
    StoreError,
};

/// A tenant marked as having pending conversions, with the mark read (cleared only if unchanged)
/// and when it was last set (the queue time of the items that set it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMark {
    pub tenant: TenantId,
    pub mark: String,
    pub marked_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait ConversionStore: Send + Sync {
    /// The settings and the revision they were read at.
    async fn settings_at(&self, tenant: TenantId) -> Result<(Option<ConversionSettings>, Revision), StoreError>;
    /// Saves if the stored settings are still at `expected`; [`Conflict`] when another save came first.
    async fn save_settings(
        &self,
        s: &ConversionSettings,
        expected: Revision,
    ) -> Result<Result<u64, Conflict>, StoreError>;
    /// Every stage item of a lead (any state), in funnel order.
    async fn lead_stages(&self, tenant: TenantId, lead_id: &str) -> Result<Vec<ConversionItem>, StoreError>;
    /// Creates every item of `new` — all or none: [`Conflict`] when one exists by now — adds one
    /// to `{state}__{stage}` on `day` for each, and marks the tenant when one is pending.
    async fn enqueue(
        &self,
        tenant: TenantId,
        new: &[ConversionItem],
        day: NaiveDate,
    ) -> Result<Result<(), Conflict>, StoreError>;
    /// Up to `limit` pending items, by lead then funnel rank, each re-read from the table.
    async fn pending(&self, tenant: TenantId, limit: usize) -> Result<Vec<ConversionItem>, StoreError>;
    /// Writes `items` as they are now (a settled one leaves the queue) and adds `counters` on `day`.
    /// Only the lease holder settles.
    async fn settle(
        &self,
        tenant: TenantId,
        items: &[ConversionItem],
        counters: &BTreeMap<String, i64>,
        day: NaiveDate,
    ) -> Result<(), StoreError>;
    /// Tenants marked as having pending conversions (every shard), up to `limit`.
    async fn tenants_pending(&self, limit: usize) -> Result<Vec<PendingMark>, StoreError>;
    /// Clears the mark unless an enqueue changed it since it was read; whether it was cleared.
    async fn clear_pending(&self, mark: &PendingMark) -> Result<bool, StoreError>;
    /// Takes the tenant's sender lease until `until` unless another holder's is still running.
    async fn take_lease(
        &self,
        tenant: TenantId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn release_lease(&self, tenant: TenantId, holder: &str) -> Result<(), StoreError>;
    /// Counters summed over the days `from..=to`.
    async fn counts(
        &self,
        tenant: TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<String, i64>, StoreError>;
    async fn activity(&self, tenant: TenantId) -> Result<ConversionActivity, StoreError>;
    async fn put_activity(&self, tenant: TenantId, a: &ConversionActivity) -> Result<(), StoreError>;
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Dynamo(e.to_string()))
}

/// The stored item: in the tenant's queue while pending.
fn item_of(c: &ConversionItem) -> Result<Item, StoreError> {
    let mut item = to_item(keys::tenant(c.tenant_id), &keys::conversion(&c.lead_id, c.rank(), &c.stage), c)?;
    if c.state == ConversionState::Pending {
        item.insert(attr::GSI1PK.into(), s(&keys::conversion_queue(c.tenant_id)));
        item.insert(attr::GSI1SK.into(), s(&keys::conversion_queue_sk(&c.lead_id, c.rank(), &c.stage)));
    }
    Ok(item)
}

fn state_counters(new: &[ConversionItem]) -> BTreeMap<String, i64> {
    let mut counters = BTreeMap::new();
    for c in new.iter().filter(|c| c.state != ConversionState::Pending) {
        *counters.entry(c.counter(state_word(c.state))).or_insert(0) += 1;
    }
    counters
}

/// The counter word of a state (`sent`, `skipped`, `failed`).
pub fn state_word(state: ConversionState) -> &'static str {
    match state {
        ConversionState::Pending => "pending",
        ConversionState::Sent => "sent",
        ConversionState::Skipped => "skipped",
        ConversionState::Failed => "failed",
    }
}

/// `ADD` of `counters` (names as placeholders: stage names hold `_` only, but never trust them).
fn counter_update(table: &str, tenant: TenantId, day: NaiveDate, counters: &BTreeMap<String, i64>) -> Option<Update> {
    if counters.is_empty() {
        return None;
    }
    let mut expr = Vec::new();
    let mut u = Update::builder()
        .table_name(table)
        .key(attr::PK, s(&keys::tenant(tenant)))
        .key(attr::SK, s(&keys::conversion_stats(day)));
    for (i, (name, n)) in counters.iter().enumerate() {
        expr.push(format!("#c{i} :c{i}"));
        u = u
            .expression_attribute_names(format!("#c{i}"), name)
            .expression_attribute_values(format!(":c{i}"), AttributeValue::N(n.to_string()));
    }
    u.update_expression(format!("ADD {}", expr.join(", "))).build().ok()
}

fn mark_update(table: &str, tenant: TenantId, at: DateTime<Utc>) -> Result<Update, StoreError> {
    built(
        Update::builder()
            .table_name(table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(keys::CONVERSION_PENDING))
            .update_expression("SET #m = :m, #at = :at, #g = :g, #gs = :gs")
            .expression_attribute_names("#m", "mark")
            .expression_attribute_names("#at", "marked_at")
            .expression_attribute_values(":at", AttributeValue::N(at.timestamp_millis().to_string()))
            .expression_attribute_names("#g", attr::GSI1PK)
            .expression_attribute_names("#gs", attr::GSI1SK)
            .expression_attribute_values(":m", s(&uuid::Uuid::new_v4().simple().to_string()))
            .expression_attribute_values(
                ":g",
                s(&keys::conversion_tenants_index(keys::conversion_tenant_shard(tenant))),
            )
            .expression_attribute_values(":gs", s(&format!("{:020}", tenant.0)))
            .build(),
    )
}

/// When an enqueue marks its tenant: the queue time of its newest item.
fn marked_at(new: &[ConversionItem]) -> DateTime<Utc> {
    new.iter().map(|c| c.queued_at).max().unwrap_or_default()
}

fn counts_of(items: Vec<Item>) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for item in items {
        for (k, v) in item {
            if let Some(n) = v.as_n().ok().and_then(|n| n.parse::<i64>().ok()).filter(|_| k.contains("__")) {
                *out.entry(k).or_insert(0) += n;
            }
        }
    }
    out
}

fn stats_range(from: NaiveDate, to: NaiveDate) -> (String, String) {
    (keys::conversion_stats(from), keys::conversion_stats(to))
}

#[async_trait]
impl ConversionStore for DynamoStore {
    async fn settings_at(&self, tenant: TenantId) -> Result<(Option<ConversionSettings>, Revision), StoreError> {
        let item = self.get_item(keys::tenant(tenant), keys::CONVERSION_SETTINGS).await?;
        let revision = Revision::of(item.as_ref());
        Ok((item.map(from_item).transpose()?, revision))
    }

    async fn save_settings(
        &self,
        c: &ConversionSettings,
        expected: Revision,
    ) -> Result<Result<u64, Conflict>, StoreError> {
        self.put_at_revision(to_item(keys::tenant(c.tenant_id), keys::CONVERSION_SETTINGS, c)?, expected).await
    }

    async fn lead_stages(&self, tenant: TenantId, lead_id: &str) -> Result<Vec<ConversionItem>, StoreError> {
        let (from, to) = keys::conversions_of_lead(lead_id);
        let (items, _) = self.query_between_consistent(keys::tenant(tenant), from, to).await?;
        items.into_iter().map(from_item).collect()
    }

    async fn enqueue(
        &self,
        tenant: TenantId,
        new: &[ConversionItem],
        day: NaiveDate,
    ) -> Result<Result<(), Conflict>, StoreError> {
        if new.is_empty() {
            return Ok(Ok(()));
        }
        let mut tx = self.client.transact_write_items();
        for c in new {
            let put = built(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_of(c)?))
                    .condition_expression("attribute_not_exists(#pk)")
                    .expression_attribute_names("#pk", attr::PK)
                    .build(),
            )?;
            tx = tx.transact_items(TransactWriteItem::builder().put(put).build());
        }
        if new.iter().any(|c| c.state == ConversionState::Pending) {
            let at = marked_at(new);
            tx = tx.transact_items(TransactWriteItem::builder().update(mark_update(&self.table, tenant, at)?).build());
        }
        if let Some(u) = counter_update(&self.table, tenant, day, &state_counters(new)) {
            tx = tx.transact_items(TransactWriteItem::builder().update(u).build());
        }
        match tx.send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) if is_transaction_conflict(&e) => Ok(Err(Conflict)),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    async fn pending(&self, tenant: TenantId, limit: usize) -> Result<Vec<ConversionItem>, StoreError> {
        let listed = self.query_index(&keys::conversion_queue(tenant), limit.clamp(1, 1000)).await?;
        // The index lags the table: re-read each listed item (consistent) and keep the pending.
        let mut fresh: BTreeMap<String, Item> = BTreeMap::new();
        for chunk in listed.chunks(100) {
            let mut keys_and = KeysAndAttributes::builder().consistent_read(true);
            for i in chunk {
                let key: Item =
                    [attr::PK, attr::SK].iter().filter_map(|k| i.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
                keys_and = keys_and.keys(key);
            }
            let mut request = Some(built(keys_and.build())?);
            let mut attempt = 0;
            while let Some(req) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, req)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    if let Some(sk) = item.get(attr::SK).and_then(|v| v.as_s().ok()).cloned() {
                        fresh.insert(sk, item);
                    }
                }
                request = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys().is_empty());
                attempt += 1;
                if request.is_some() && attempt > 5 {
                    return Err(StoreError::Throttled);
                }
            }
        }
        let mut out = Vec::new();
        for i in listed {
            let sk = i.get(attr::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
            if let Some(item) = fresh.remove(&sk) {
                let c: ConversionItem = from_item(item)?;
                if c.state == ConversionState::Pending {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    async fn settle(
        &self,
        tenant: TenantId,
        items: &[ConversionItem],
        counters: &BTreeMap<String, i64>,
        day: NaiveDate,
    ) -> Result<(), StoreError> {
        self.put_items(items.iter().map(item_of).collect::<Result<_, _>>()?).await?;
        if let Some(u) = counter_update(&self.table, tenant, day, counters) {
            let mut req = self.client.update_item().table_name(&self.table);
            req = req.set_key(Some(u.key().clone()));
            req = req
                .update_expression(u.update_expression())
                .set_expression_attribute_names(u.expression_attribute_names().cloned())
                .set_expression_attribute_values(u.expression_attribute_values().cloned());
            req.send().await.map_err(StoreError::from_sdk)?;
        }
        Ok(())
    }

    async fn tenants_pending(&self, limit: usize) -> Result<Vec<PendingMark>, StoreError> {
        let mut out = Vec::new();
        for shard in 0..keys::CONVERSION_TENANT_SHARDS {
            let left = limit.saturating_sub(out.len());
            if left == 0 {
                break;
            }
            let items = self.query_index(&keys::conversion_tenants_index(shard), left).await?;
            out.extend(items.iter().filter_map(mark_of));
        }
        Ok(out)
    }

    async fn clear_pending(&self, mark: &PendingMark) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(mark.tenant)))
            .key(attr::SK, s(keys::CONVERSION_PENDING))
            .condition_expression("#m = :m")
            .expression_attribute_names("#m", "mark")
            .expression_attribute_values(":m", s(&mark.mark))
            .send()
            .await;
        condition_held(res)
    }

    async fn take_lease(
        &self,
        tenant: TenantId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let item: Item = [
            (attr::PK, s(&keys::tenant(tenant))),
            (attr::SK, s(keys::CONVERSION_LEASE)),
            ("holder", s(holder)),
            ("until", AttributeValue::N(until.timestamp_millis().to_string())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #u < :now OR #h = :h")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#u", "until")
            .expression_attribute_names("#h", "holder")
            .expression_attribute_values(":now", AttributeValue::N(now.timestamp_millis().to_string()))
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        condition_held(res)
    }

    async fn release_lease(&self, tenant: TenantId, holder: &str) -> Result<(), StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(keys::CONVERSION_LEASE))
            .condition_expression("#h = :h")
            .expression_attribute_names("#h", "holder")
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        condition_held(res).map(|_| ())
    }

    async fn counts(
        &self,
        tenant: TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let (a, b) = stats_range(from, to);
        let (items, _) = self.query_between(keys::tenant(tenant), a, b).await?;
        Ok(counts_of(items))
    }

    async fn activity(&self, tenant: TenantId) -> Result<ConversionActivity, StoreError> {
        Ok(self
            .get_item(keys::tenant(tenant), keys::CONVERSION_ACTIVITY)
            .await?
            .map(from_item)
            .transpose()?
            .unwrap_or_default())
    }

    async fn put_activity(&self, tenant: TenantId, a: &ConversionActivity) -> Result<(), StoreError> {
        self.put_item(to_item(keys::tenant(tenant), keys::CONVERSION_ACTIVITY, a)?).await
    }
}

fn mark_of(item: &Item) -> Option<PendingMark> {
    let pk = item.get(attr::PK)?.as_s().ok()?;
    let tenant = pk.strip_prefix("T#")?.parse().ok()?;
    let marked_at = item
        .get("marked_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis);
    Some(PendingMark { tenant, mark: item.get("mark")?.as_s().ok()?.clone(), marked_at })
}

/// The in-memory twin keeps the same items in a [`MemoryTable`] (one lock per operation, so each
/// is atomic as the DynamoDB transaction is).
#[async_trait]
impl ConversionStore for MemoryTable {
    async fn settings_at(&self, tenant: TenantId) -> Result<(Option<ConversionSettings>, Revision), StoreError> {
        let item = self.lock().get(&keys::tenant(tenant), keys::CONVERSION_SETTINGS);
        let revision = Revision::of(item.as_ref());
        Ok((item.map(from_item).transpose()?, revision))
    }

    async fn save_settings(
        &self,
        c: &ConversionSettings,
        expected: Revision,
    ) -> Result<Result<u64, Conflict>, StoreError> {
        let item = to_item(keys::tenant(c.tenant_id), keys::CONVERSION_SETTINGS, c)?;
        Ok(self.lock().put_at_revision(item, expected))
    }

    async fn lead_stages(&self, tenant: TenantId, lead_id: &str) -> Result<Vec<ConversionItem>, StoreError> {
        let (from, to) = keys::conversions_of_lead(lead_id);
        self.lock().between(&keys::tenant(tenant), &from, &to).into_iter().map(from_item).collect()
    }

    async fn enqueue(
        &self,
        tenant: TenantId,
        new: &[ConversionItem],
        day: NaiveDate,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let items: Vec<Item> = new.iter().map(item_of).collect::<Result<_, _>>()?;
        let pk = keys::tenant(tenant);
        let mut table = self.lock();
        let sk = |i: &Item| i.get(attr::SK).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        if items.iter().any(|i| table.get(&pk, &sk(i)).is_some()) {
            return Ok(Err(Conflict));
        }
        for i in items {
            table.put(i);
        }
        if new.iter().any(|c| c.state == ConversionState::Pending) {
            let mark = uuid::Uuid::new_v4().simple().to_string();
            let mut item = table.get(&pk, keys::CONVERSION_PENDING).unwrap_or_default();
            item.insert(attr::PK.into(), s(&pk));
            item.insert(attr::SK.into(), s(keys::CONVERSION_PENDING));
            item.insert("mark".into(), s(&mark));
            let at = marked_at(new);
            item.insert("marked_at".into(), AttributeValue::N(at.timestamp_millis().to_string()));
            item.insert(attr::GSI1PK.into(), s(&keys::conversion_tenants_index(keys::conversion_tenant_shard(tenant))));
            item.insert(attr::GSI1SK.into(), s(&format!("{:020}", tenant.0)));
            table.put(item);
        }
        table.add(&pk, &keys::conversion_stats(day), &state_counters(new), &BTreeMap::new());
        Ok(Ok(()))
    }

    async fn pending(&self, tenant: TenantId, limit: usize) -> Result<Vec<ConversionItem>, StoreError> {
        let items = self.lock().gsi1_upto(&keys::conversion_queue(tenant), "~");
        items.into_iter().take(limit.clamp(1, 1000)).map(from_item).collect()
    }

    async fn settle(
        &self,
        tenant: TenantId,
        items: &[ConversionItem],
        counters: &BTreeMap<String, i64>,
        day: NaiveDate,
    ) -> Result<(), StoreError> {
        let stored: Vec<Item> = items.iter().map(item_of).collect::<Result<_, _>>()?;
        let mut table = self.lock();
        for i in stored {
            table.put(i);
        }
        if !counters.is_empty() {
            table.add(&keys::tenant(tenant), &keys::conversion_stats(day), counters, &BTreeMap::new());
        }
        Ok(())
    }

    async fn tenants_pending(&self, limit: usize) -> Result<Vec<PendingMark>, StoreError> {
        let table = self.lock();
        let mut out = Vec::new();
        for shard in 0..keys::CONVERSION_TENANT_SHARDS {
            out.extend(table.gsi1_upto(&keys::conversion_tenants_index(shard), "~").iter().filter_map(mark_of));
        }
        out.truncate(limit);
        Ok(out)
    }

    async fn clear_pending(&self, mark: &PendingMark) -> Result<bool, StoreError> {
        let pk = keys::tenant(mark.tenant);
        let mut table = self.lock();
        let same = table
            .get(&pk, keys::CONVERSION_PENDING)
            .and_then(|i| i.get("mark").and_then(|v| v.as_s().ok()).cloned())
            .is_some_and(|m| m == mark.mark);
        if same {
            table.remove(&pk, keys::CONVERSION_PENDING);
        }
        Ok(same)
    }

    async fn take_lease(
        &self,
        tenant: TenantId,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let pk = keys::tenant(tenant);
        let mut table = self.lock();
        let free = match table.get(&pk, keys::CONVERSION_LEASE) {
            None => true,
            Some(i) => {
                let until = i.get("until").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok());
                let h = i.get("holder").and_then(|v| v.as_s().ok());
                until.is_some_and(|u| u < now.timestamp_millis()) || h.is_some_and(|h| h == holder)
            }
        };
        if free {
            table.put(Item::from([
                (attr::PK.to_string(), s(&pk)),
                (attr::SK.to_string(), s(keys::CONVERSION_LEASE)),
                ("holder".to_string(), s(holder)),
                ("until".to_string(), AttributeValue::N(until.timestamp_millis().to_string())),
            ]));
        }
        Ok(free)
    }

    async fn release_lease(&self, tenant: TenantId, holder: &str) -> Result<(), StoreError> {
        let pk = keys::tenant(tenant);
        let mut table = self.lock();
        let mine = table
            .get(&pk, keys::CONVERSION_LEASE)
            .and_then(|i| i.get("holder").and_then(|v| v.as_s().ok()).cloned())
            .is_some_and(|h| h == holder);
        if mine {
            table.remove(&pk, keys::CONVERSION_LEASE);
        }
        Ok(())
    }

    async fn counts(
        &self,
        tenant: TenantId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let (a, b) = stats_range(from, to);
        Ok(counts_of(self.lock().between(&keys::tenant(tenant), &a, &b)))
    }

    async fn activity(&self, tenant: TenantId) -> Result<ConversionActivity, StoreError> {
        Ok(self
            .lock()
            .get(&keys::tenant(tenant), keys::CONVERSION_ACTIVITY)
            .map(from_item)
            .transpose()?
            .unwrap_or_default())
    }

    async fn put_activity(&self, tenant: TenantId, a: &ConversionActivity) -> Result<(), StoreError> {
        self.lock().put(to_item(keys::tenant(tenant), keys::CONVERSION_ACTIVITY, a)?);
        Ok(())
    }
}

//! An in-memory stand-in for the single table: items by `(PK, SK)` in sort-key order, behind one
//! lock. In-memory twins of ports whose DynamoDB side reads key ranges keep their items here, in
//! exactly the shape the DynamoDB side stores, so both sides parse them with the same code.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use aws_sdk_dynamodb::types::AttributeValue;

use super::{attr, Conflict, Item, Revision};

#[derive(Debug, Default)]
pub struct MemoryTable(Mutex<BTreeMap<(String, String), Item>>);

/// The table while its lock is held: a twin's whole operation runs under one guard, which makes
/// it atomic as a DynamoDB transaction is.
pub struct Locked<'a>(MutexGuard<'a, BTreeMap<(String, String), Item>>);

impl MemoryTable {
    pub fn lock(&self) -> Locked<'_> {
        Locked(self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Locked<'_> {
    pub fn get(&self, pk: &str, sk: &str) -> Option<Item> {
        self.0.get(&(pk.to_string(), sk.to_string())).cloned()
    }

    /// Stores `item` under its own `PK`/`SK` attributes (an item without them is ignored).
    pub fn put(&mut self, item: Item) {
        let key = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
        if let (Some(pk), Some(sk)) = (key(attr::PK), key(attr::SK)) {
            self.0.insert((pk, sk), item);
        }
    }

    /// Stores `item` with the next revision if the stored one is still at `expected` (or still
    /// absent): what [`crate::store::DynamoStore::put_at_revision`] does.
    pub fn put_at_revision(&mut self, item: Item, expected: Revision) -> Result<u64, Conflict> {
        let key = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let (pk, sk) = (key(attr::PK), key(attr::SK));
        if Revision::of(self.get(&pk, &sk).as_ref()) != expected {
            return Err(Conflict);
        }
        self.put(expected.stamped(item));
        Ok(expected.next())
    }

    /// `ADD` of `counters` and `SET` of `names` on the item at `pk`/`sk`, created when missing: what
    /// DynamoDB does with an aggregate item's `counter_update` expression.
    pub fn add(&mut self, pk: &str, sk: &str, counters: &BTreeMap<String, i64>, names: &BTreeMap<String, String>) {
        let mut item = self.get(pk, sk).unwrap_or_else(|| {
            Item::from([
                (attr::PK.to_string(), AttributeValue::S(pk.to_string())),
                (attr::SK.to_string(), AttributeValue::S(sk.to_string())),
            ])
        });
        for (name, n) in counters {
            let old = item.get(name).and_then(|v| v.as_n().ok()).and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
            item.insert(name.clone(), AttributeValue::N((old + n).to_string()));
        }
        for (name, value) in names {
            item.insert(name.clone(), AttributeValue::S(value.clone()));
        }
        self.put(item);
    }

    /// Removes the item at `pk`/`sk`; returns it if there was one.
    pub fn remove(&mut self, pk: &str, sk: &str) -> Option<Item> {
        self.0.remove(&(pk.to_string(), sk.to_string()))
    }

    /// Items whose `GSI1PK` is `gsi_pk` with `GSI1SK <= to`, in `GSI1SK` order (a sparse-index
    /// `Query`; the twin walks its items, DynamoDB reads the index).
    pub fn gsi1_upto(&self, gsi_pk: &str, to: &str) -> Vec<Item> {
        let text = |i: &Item, k: &str| i.get(k).and_then(|v| v.as_s().ok()).cloned();
        let mut hits: Vec<(String, Item)> = self
            .0
            .values()
            .filter(|i| text(i, attr::GSI1PK).as_deref() == Some(gsi_pk))
            .filter_map(|i| text(i, attr::GSI1SK).filter(|sk| sk.as_str() <= to).map(|sk| (sk, i.clone())))
            .collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0));
        hits.into_iter().map(|(_, i)| i).collect()
    }

    /// Items of `pk` with `from <= SK <= to`, in sort-key order (a `Query … BETWEEN`).
    pub fn between(&self, pk: &str, from: &str, to: &str) -> Vec<Item> {
        if from > to {
            return Vec::new();
        }
        let lo = (pk.to_string(), from.to_string());
        let hi = (pk.to_string(), to.to_string());
        self.0.range((Bound::Included(lo), Bound::Included(hi))).map(|(_, v)| v.clone()).collect()
    }
}

#[async_trait::async_trait]
impl super::ItemReads for MemoryTable {
    async fn item(&self, pk: String, sk: &str) -> Result<Option<Item>, super::StoreError> {
        Ok(self.lock().get(&pk, sk))
    }
    async fn item_range(
        &self,
        pk: String,
        from: String,
        to: String,
    ) -> Result<(Vec<Item>, super::ReadCost), super::StoreError> {
        let items = self.lock().between(&pk, &from, &to);
        let cost = super::ReadCost { items_read: items.len() as u64, requests: 1 };
        Ok((items, cost))
    }
}

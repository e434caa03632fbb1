//! The CRM aggregate items the dashboard reads (`AGG#D#{day}` / `AGG#M#{month}` under the tenant):
//! top-level numeric counters updated with `ADD` (top-level because `ADD` on a nested map path
//! fails while the map is missing) and display-name strings `SET` beside them. Counter naming is
//! `marketing::aggregates::counter`'s; this port only moves items.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;

use super::memory_table::MemoryTable;
use super::{attr, keys, DynamoStore, Item, ItemReads, ReadCost, StoreError};
use crate::domain::ids::TenantId;

/// Counter values by attribute name.
pub type Counters = BTreeMap<String, i64>;
/// Display-name attributes of one aggregate item (attribute → value).
pub type Names = BTreeMap<String, String>;

/// Day items or monthly rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggBucket {
    Day,
    Month,
}

impl AggBucket {
    /// The item's sort key for the day (or the month the day is in).
    pub fn sort_key(self, d: NaiveDate) -> String {
        match self {
            AggBucket::Day => keys::agg_day(d),
            AggBucket::Month => keys::agg_month(d),
        }
    }

    fn date_of(self, sk: &str) -> Option<NaiveDate> {
        match self {
            AggBucket::Day => NaiveDate::parse_from_str(sk.strip_prefix("AGG#D#")?, "%Y-%m-%d").ok(),
            AggBucket::Month => {
                NaiveDate::parse_from_str(&format!("{}-01", sk.strip_prefix("AGG#M#")?), "%Y-%m-%d").ok()
            }
        }
    }
}

/// One aggregate item as read: its day (first of the month for rollups), counters and names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AggregateItem {
    pub date: NaiveDate,
    pub counters: Counters,
    pub names: Names,
}

impl AggregateItem {
    fn parse(bucket: AggBucket, item: &Item) -> Option<Self> {
        let date = item.get(attr::SK).and_then(|v| v.as_s().ok()).and_then(|sk| bucket.date_of(sk))?;
        let mut out = AggregateItem { date, ..Default::default() };
        for (k, v) in item {
            if k == attr::PK || k == attr::SK {
                continue;
            }
            if let Some(n) = v.as_n().ok().and_then(|n| n.parse::<i64>().ok()) {
                out.counters.insert(k.clone(), n);
            } else if let Ok(s) = v.as_s() {
                if k.starts_with("name__") || k.starts_with("campaign__ad__") {
                    out.names.insert(k.clone(), s.clone());
                }
            }
        }
        Some(out)
    }
}

/// One update expression with its placeholders.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateExpression {
    /// Empty when there is nothing to update.
    pub expression: String,
    pub names: Vec<(String, String)>,
    pub values: Vec<(String, AttributeValue)>,
}

/// `ADD` of `counters` and `SET` of `names` on one aggregate item. Shared by every writer of
/// aggregate items.
pub fn counter_update(counters: &Counters, names: &Names) -> UpdateExpression {
    let mut out = UpdateExpression { expression: String::new(), names: Vec::new(), values: Vec::new() };
    let mut clauses = Vec::new();
    let adds = counters.iter().map(|(k, n)| (k, AttributeValue::N(n.to_string())));
    let sets = names.iter().map(|(k, v)| (k, AttributeValue::S(v.clone())));
    let parts: [(&str, &str, Vec<_>); 2] = [("ADD", "c", adds.collect()), ("SET", "n", sets.collect())];
    for (verb, tag, attrs) in parts {
        let terms: Vec<String> = attrs
            .into_iter()
            .enumerate()
            .map(|(i, (name, value))| {
                out.names.push((format!("#{tag}{i}"), name.clone()));
                out.values.push((format!(":{tag}{i}"), value));
                if verb == "ADD" {
                    format!("#{tag}{i} :{tag}{i}")
                } else {
                    format!("#{tag}{i} = :{tag}{i}")
                }
            })
            .collect();
        if !terms.is_empty() {
            clauses.push(format!("{verb} {}", terms.join(", ")));
        }
    }
    out.expression = clauses.join(" ");
    out
}

/// Reads (and, outside CRM event transactions, adds to) a tenant's aggregate items.
#[async_trait]
pub trait AggregateStore: ItemReads {
    /// Items of `bucket` whose day (or month) lies in `from..=to`, oldest first, and the read's cost.
    async fn aggregate_items(
        &self,
        tenant: TenantId,
        bucket: AggBucket,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(Vec<AggregateItem>, ReadCost), StoreError> {
        let (items, cost) = self.item_range(keys::tenant(tenant), bucket.sort_key(from), bucket.sort_key(to)).await?;
        Ok((items.iter().filter_map(|i| AggregateItem::parse(bucket, i)).collect(), cost))
    }

    /// Adds `counters` to (and sets `names` on) one item, creating it when missing.
    async fn add_to_aggregate(
        &self,
        tenant: TenantId,
        bucket: AggBucket,
        date: NaiveDate,
        counters: &Counters,
        names: &Names,
    ) -> Result<(), StoreError>;
}

#[async_trait]
impl AggregateStore for DynamoStore {
    async fn add_to_aggregate(
        &self,
        tenant: TenantId,
        bucket: AggBucket,
        date: NaiveDate,
        counters: &Counters,
        names: &Names,
    ) -> Result<(), StoreError> {
        let UpdateExpression { expression: expr, names: attr_names, values } = counter_update(counters, names);
        if expr.is_empty() {
            return Ok(());
        }
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(keys::tenant(tenant)))
            .key(attr::SK, AttributeValue::S(bucket.sort_key(date)))
            .update_expression(expr);
        for (k, v) in attr_names {
            req = req.expression_attribute_names(k, v);
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        req.send().await.map_err(StoreError::from_sdk)?;
        Ok(())
    }
}

#[async_trait]
impl AggregateStore for MemoryTable {
    async fn add_to_aggregate(
        &self,
        tenant: TenantId,
        bucket: AggBucket,
        date: NaiveDate,
        counters: &Counters,
        names: &Names,
    ) -> Result<(), StoreError> {
        self.lock().add(&keys::tenant(tenant), &bucket.sort_key(date), counters, names);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_update_adds_counters_and_sets_names() {
        let counters: Counters = [("leads".to_string(), 2), ("sales".to_string(), -1)].into();
        let names: Names = [("name__camp__c1".to_string(), "Promo".to_string())].into();
        let u = counter_update(&counters, &names);
        assert_eq!(u.expression, "ADD #c0 :c0, #c1 :c1 SET #n0 = :n0");
        assert_eq!(u.names[2], ("#n0".to_string(), "name__camp__c1".to_string()));
        assert_eq!(u.values[1], (":c1".to_string(), AttributeValue::N("-1".into())));
        assert_eq!(counter_update(&Counters::new(), &Names::new()).expression, "");
    }
}

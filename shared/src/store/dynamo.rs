//! The DynamoDB adapter (`DynamoStore`) and the one implementation of each DynamoDB mechanism the
//! ports share: consistent reads, paged queries, conditional-failure detection, revision-guarded
//! puts (optimistic locking) and the retry of transactions that lost a race.

use std::future::Future;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, PutRequest, TransactWriteItem, WriteRequest};

use super::{attr, Item, StoreError};
use crate::platform::retry::{RetryPolicy, Sleeper, TokioSleeper};

/// The DynamoDB adapter of every store port: one client, one table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(pk))
            .key(attr::SK, AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item)
    }

    pub async fn put_item(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    pub async fn delete_item(&self, pk: String, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(pk))
            .key(attr::SK, AttributeValue::S(sk.into()))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// `Query PK = pk AND SK BETWEEN from AND to`, every page; also returns how many items were
    /// read (`ScannedCount`) in how many requests.
    pub async fn query_between(
        &self,
        pk: String,
        from: String,
        to: String,
    ) -> Result<(Vec<Item>, super::ReadCost), StoreError> {
        self.query_range(pk, from, to, false).await
    }

    /// [`Self::query_between`] with strongly consistent reads (twice the read cost): for a read
    /// that must see every write committed before it.
    pub async fn query_between_consistent(
        &self,
        pk: String,
        from: String,
        to: String,
    ) -> Result<(Vec<Item>, super::ReadCost), StoreError> {
        self.query_range(pk, from, to, true).await
    }

    async fn query_range(
        &self,
        pk: String,
        from: String,
        to: String,
        consistent: bool,
    ) -> Result<(Vec<Item>, super::ReadCost), StoreError> {
        let mut items = Vec::new();
        let mut cost = super::ReadCost::default();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :a AND :b")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#sk", attr::SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":a", AttributeValue::S(from.clone()))
                .expression_attribute_values(":b", AttributeValue::S(to.clone()))
                .consistent_read(consistent)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            cost.requests += 1;
            cost.items_read += u64::try_from(out.scanned_count).unwrap_or(0);
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok((items, cost))
    }

    /// The items of GSI1 partition `gsi_pk` in `GSI1SK` order, every page, at most `limit`: the one
    /// paged read of a sparse index (eventually consistent, as every GSI read).
    pub async fn query_index(&self, gsi_pk: &str, limit: usize) -> Result<Vec<Item>, StoreError> {
        let mut out: Vec<Item> = Vec::new();
        let mut start: Option<Item> = None;
        while out.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(attr::GSI1)
                .key_condition_expression("#g = :g")
                .expression_attribute_names("#g", attr::GSI1PK)
                .expression_attribute_values(":g", AttributeValue::S(gsi_pk.to_string()))
                .limit(i32::try_from(limit - out.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Unconditional puts of `items` in `BatchWriteItem`s of 25 (DynamoDB's limit); the items
    /// DynamoDB leaves unprocessed (throttling) are sent again with backoff
    /// ([`BATCH_UNPROCESSED_RETRY`]); still unprocessed after that → [`StoreError::Throttled`].
    pub async fn put_items(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for chunk in items.chunks(BATCH_WRITE_MAX) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|i| {
                    let put = PutRequest::builder().set_item(Some(i.clone())).build();
                    put.map(|p| WriteRequest::builder().put_request(p).build())
                        .map_err(|e| StoreError::Dynamo(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            let mut attempt = 1;
            while !pending.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(StoreError::from_sdk)?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if !BATCH_UNPROCESSED_RETRY.allows_another(attempt) {
                    return Err(StoreError::Throttled);
                }
                TokioSleeper.sleep(BATCH_UNPROCESSED_RETRY.backoff(attempt)).await;
                attempt += 1;
            }
        }
        Ok(())
    }

    /// A put of `item` that only succeeds if the stored item is still as read (`prev`).
    pub fn guarded_put(&self, item: Item, prev: Option<&Item>) -> Result<TransactWriteItem, StoreError> {
        Revision::of(prev).guarded_put(&self.table, item)
    }
}

/// Most writes one `BatchWriteItem` takes.
pub const BATCH_WRITE_MAX: usize = 25;

/// Resends of the items a `BatchWriteItem` left unprocessed.
const BATCH_UNPROCESSED_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 6,
    base_delay: std::time::Duration::from_millis(50),
    max_delay: std::time::Duration::from_secs(1),
    jitter: crate::platform::retry::Jitter::Full,
};

/// Whether a single-item write failed because its condition did not hold (not a real error).
pub fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

/// The outcome of a conditional single-item write: `true` written, `false` its condition did not
/// hold, an error for anything else.
pub fn condition_held<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(StoreError::from_sdk(e)),
    }
}

/// Whether a `TransactWriteItems` failed because a condition did not hold or another transaction
/// touched the same items (then re-read and retry), as opposed to a real error.
pub fn is_transaction_conflict<R>(e: &SdkError<TransactWriteItemsError, R>) -> bool {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(_)) => true,
        Some(other) => matches!(other.code(), Some("TransactionCanceledException" | "TransactionConflictException")),
        None => false,
    }
}

/// The optimistic-lock revision (`rev` attribute) of an item as read: `None` = the item did not
/// exist; `Some(0)` = it exists but was written without a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision(Option<u64>);

impl Default for Revision {
    fn default() -> Self {
        Self::ABSENT
    }
}

impl Revision {
    /// The attribute holding the revision.
    pub const ATTR: &'static str = "rev";
    /// The item did not exist.
    pub const ABSENT: Revision = Revision(None);

    /// An existing item at revision `n` (`0`: written without a revision).
    pub fn at(n: u64) -> Self {
        Revision(Some(n))
    }

    /// The revision a guarded put writes.
    pub fn next(self) -> u64 {
        self.0.unwrap_or(0) + 1
    }

    pub fn of(item: Option<&Item>) -> Self {
        Revision(item.map(|i| i.get(Self::ATTR).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()).unwrap_or(0)))
    }

    /// `item` carrying the next revision: what a guarded put of it stores.
    pub fn stamped(self, mut item: Item) -> Item {
        item.insert(Self::ATTR.into(), AttributeValue::N(self.next().to_string()));
        item
    }

    /// What a read saw, as [`crate::domain::connection::MetaConnection::revision`] keeps it.
    pub fn from_read(read: Option<u64>) -> Self {
        Revision(read)
    }

    /// The stored revision (`None`: nothing was stored).
    pub fn read(self) -> Option<u64> {
        self.0
    }

    /// The condition "the stored item is still at this revision (or still absent)".
    fn condition(self) -> RevisionCondition {
        let (expression, names, value) = match self.0 {
            None => ("attribute_not_exists(#pk)", vec![("#pk", attr::PK)], None),
            Some(0) => (
                "attribute_exists(#pk) AND attribute_not_exists(#rev)",
                vec![("#pk", attr::PK), ("#rev", Self::ATTR)],
                None,
            ),
            Some(r) => (
                "attribute_exists(#pk) AND #rev = :rev",
                vec![("#pk", attr::PK), ("#rev", Self::ATTR)],
                Some((":rev", AttributeValue::N(r.to_string()))),
            ),
        };
        RevisionCondition { expression, names, value }
    }

    /// A transactional put of `item` with the next revision, conditioned on this one still being
    /// the stored one (or on the item still not existing).
    pub fn guarded_put(self, table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
        let RevisionCondition { expression, names, value } = self.condition();
        let mut put =
            Put::builder().table_name(table).set_item(Some(self.stamped(item))).condition_expression(expression);
        for (k, v) in names {
            put = put.expression_attribute_names(k, v);
        }
        if let Some((k, v)) = value {
            put = put.expression_attribute_values(k, v);
        }
        Ok(TransactWriteItem::builder().put(put.build().map_err(|e| StoreError::Dynamo(e.to_string()))?).build())
    }

    /// A transactional check, writing nothing, that the item at `pk`/`sk` is still at this
    /// revision (or still absent): what ties a write elsewhere to the state of this item.
    pub fn condition_check(self, table: &str, pk: String, sk: String) -> Result<TransactWriteItem, StoreError> {
        let RevisionCondition { expression, names, value } = self.condition();
        let mut check = ConditionCheck::builder()
            .table_name(table)
            .key(attr::PK, AttributeValue::S(pk))
            .key(attr::SK, AttributeValue::S(sk))
            .condition_expression(expression);
        for (k, v) in names {
            check = check.expression_attribute_names(k, v);
        }
        if let Some((k, v)) = value {
            check = check.expression_attribute_values(k, v);
        }
        let check = check.build().map_err(|e| StoreError::Dynamo(e.to_string()))?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }
}

/// A [`Revision`]'s condition expression, its attribute names and its one value (if any).
struct RevisionCondition {
    expression: &'static str,
    names: Vec<(&'static str, &'static str)>,
    value: Option<(&'static str, AttributeValue)>,
}

impl DynamoStore {
    /// A single-item put of `item` with the next revision if `expected` is still the stored
    /// revision (or the item still does not exist): the revision written, or [`Conflict`].
    pub async fn put_at_revision(&self, item: Item, expected: Revision) -> Result<Result<u64, Conflict>, StoreError> {
        let RevisionCondition { expression, names, value } = expected.condition();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(expected.stamped(item)))
            .condition_expression(expression);
        for (k, v) in names {
            put = put.expression_attribute_names(k, v);
        }
        if let Some((k, v)) = value {
            put = put.expression_attribute_values(k, v);
        }
        Ok(if condition_held(put.send().await)? { Ok(expected.next()) } else { Err(Conflict) })
    }
}

/// An attempt of an optimistic write lost a race: re-read and decide again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict;

/// Runs `attempt` (given its 1-based number) until it returns `Ok(Ok(value))`, backing off with
/// [`RetryPolicy::TRANSACTION_CONFLICT`] after each `Ok(Err(Conflict))`; `Ok(None)` when every
/// attempt conflicted. Errors end the loop at once.
pub async fn retry_conflicts<T, E, F, Fut>(mut attempt: F) -> Result<Option<T>, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Result<T, Conflict>, E>>,
{
    let policy = RetryPolicy::TRANSACTION_CONFLICT;
    for n in 1..=policy.max_attempts {
        match attempt(n).await? {
            Ok(value) => return Ok(Some(value)),
            Err(Conflict) if policy.allows_another(n) => TokioSleeper.sleep(policy.backoff(n)).await,
            Err(Conflict) => {}
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_reads_absent_unversioned_and_versioned_items() {
        assert_eq!(Revision::of(None), Revision(None));
        let mut item = Item::new();
        assert_eq!(Revision::of(Some(&item)), Revision(Some(0)));
        item.insert("rev".into(), AttributeValue::N("7".into()));
        assert_eq!(Revision::of(Some(&item)), Revision(Some(7)));
    }

    #[tokio::test]
    async fn retry_conflicts_stops_at_success_or_after_the_budget() {
        let mut calls = 0;
        let got: Result<Option<u32>, StoreError> = retry_conflicts(|n| {
            calls += 1;
            async move { Ok(if n < 3 { Err(Conflict) } else { Ok(n) }) }
        })
        .await;
        assert_eq!((got.ok().flatten(), calls), (Some(3), 3));
        let mut calls = 0;
        let never: Result<Option<u32>, StoreError> = retry_conflicts(|_| {
            calls += 1;
            async { Ok(Err(Conflict)) }
        })
        .await;
        assert_eq!((never.ok().flatten(), calls), (None, RetryPolicy::TRANSACTION_CONFLICT.max_attempts));
    }
}

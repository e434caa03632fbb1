//! Single-table DynamoDB access (keys as in ARCHITECTURE.md) behind small ports, so handlers can
//! be unit-tested with the in-memory store and integration-tested against moto.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::ids::TenantId;
use crate::platform::error::{DomainError, Failure};

pub use crate::domain::profile::TenantProfile;
pub use connections::{ConnectionSlot, ConnectionStatus, MetaConnection, MetaConnectionStore};

pub mod aggregates;
pub mod audit;
pub mod automation;
#[cfg(any(test, feature = "test-support"))]
pub mod conformance;
pub mod connections;
pub mod conversions;
pub mod dead_letters;
mod dynamo;
pub mod events;
pub mod fx_rates;
pub mod keys;
pub mod memory_table;
pub mod oauth_states;
pub mod parked_events;
pub mod records;
pub use dynamo::{
    condition_held, is_condition_failure, is_transaction_conflict, retry_conflicts, Conflict, DynamoStore, Revision,
};
pub mod connected_index;
pub mod job_bus;
pub mod lead_handoffs;
pub mod leadgen_inbox;
pub mod pages;
pub mod provider_rates;
pub mod ratelimit;
pub mod spend;
pub mod whatsapp;

pub type Item = HashMap<String, AttributeValue>;

/// Attribute names of the table (also in `infra/template.yaml`).
pub mod attr {
    pub const PK: &str = "PK";
    pub const SK: &str = "SK";
    pub const GSI1PK: &str = "GSI1PK";
    pub const GSI1SK: &str = "GSI1SK";
    /// The sparse global index over `GSI1PK` / `GSI1SK`.
    pub const GSI1: &str = "GSI1";
    /// Epoch seconds; DynamoDB TTL deletes the item some time after.
    pub const TTL: &str = "ttl";
}

/// How many items (DynamoDB `ScannedCount`, plus `GetItem`s) a report read, and in how many calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReadCost {
    pub items_read: u64,
    pub requests: u64,
}

impl ReadCost {
    pub fn add(&mut self, other: ReadCost) {
        self.items_read += other.items_read;
        self.requests += other.requests;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage is busy, retry shortly")]
    Throttled,
    #[error("dynamodb error: {0}")]
    Dynamo(String),
    #[error("stored item is not readable: {0}")]
    Corrupt(String),
    /// A client the function does not declare in its `WIRING` (`api::wiring`).
    #[error("{0} is not wired in this function (its crate's WIRING)")]
    Unwired(&'static str),
}

impl StoreError {
    pub fn from_sdk<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match err.code() {
            Some("ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded") => {
                StoreError::Throttled
            }
            _ => StoreError::Dynamo(DisplayErrorContext(err).to_string()),
        }
    }
}

impl DomainError for StoreError {
    fn failure(&self) -> Failure {
        match self {
            StoreError::Throttled => Failure::Unavailable { retry_after_secs: Some(1) },
            StoreError::Dynamo(_) | StoreError::Corrupt(_) | StoreError::Unwired(_) => Failure::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            StoreError::Throttled => "storage_busy",
            StoreError::Dynamo(_) | StoreError::Corrupt(_) | StoreError::Unwired(_) => "internal_error",
        }
    }
}

#[async_trait]
pub trait TenantProfileStore: Send + Sync {
    async fn get_profile(&self, tenant: TenantId) -> Result<Option<TenantProfile>, StoreError>;
    /// An unconditional put (the profile then has no revision, `0`).
    async fn put_profile(&self, profile: &TenantProfile) -> Result<(), StoreError>;
    /// The profile and the revision it was read at (what a settings save is conditioned on).
    async fn profile_at(&self, tenant: TenantId) -> Result<(Option<TenantProfile>, Revision), StoreError>;
    /// The profile, if the stored one is still at `expected` (or still absent): the revision
    /// written, or [`Conflict`] when another write (a save, an event's commit) came first.
    async fn save_profile(
        &self,
        profile: &TenantProfile,
        expected: Revision,
    ) -> Result<Result<u64, Conflict>, StoreError>;
}

/// Consistent reads of raw items: what ports whose DynamoDB and in-memory sides share their
/// parsing are built on (implemented by [`DynamoStore`] and [`memory_table::MemoryTable`]).
#[async_trait]
pub trait ItemReads: Send + Sync {
    async fn item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError>;
    /// Items of `pk` with `from <= SK <= to`, in sort-key order, and what reading them cost.
    async fn item_range(&self, pk: String, from: String, to: String) -> Result<(Vec<Item>, ReadCost), StoreError>;
}

#[async_trait]
impl ItemReads for DynamoStore {
    async fn item(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        self.get_item(pk, sk).await
    }
    async fn item_range(&self, pk: String, from: String, to: String) -> Result<(Vec<Item>, ReadCost), StoreError> {
        self.query_between(pk, from, to).await
    }
}

/// Serializes `value` and adds the item's keys.
pub fn to_item<T: Serialize>(pk: String, sk: &str, value: &T) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    item.insert(attr::PK.into(), AttributeValue::S(pk));
    item.insert(attr::SK.into(), AttributeValue::S(sk.into()));
    Ok(item)
}

pub fn from_item<T: DeserializeOwned>(mut item: Item) -> Result<T, StoreError> {
    for k in [attr::PK, attr::SK, attr::GSI1PK, attr::GSI1SK, attr::TTL] {
        item.remove(k);
    }
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl TenantProfileStore for DynamoStore {
    async fn get_profile(&self, tenant: TenantId) -> Result<Option<TenantProfile>, StoreError> {
        self.get_item(keys::tenant(tenant), keys::TENANT_PROFILE).await?.map(from_item).transpose()
    }

    async fn put_profile(&self, profile: &TenantProfile) -> Result<(), StoreError> {
        self.put_item(to_item(keys::tenant(profile.tenant_id), keys::TENANT_PROFILE, profile)?).await
    }

    async fn profile_at(&self, tenant: TenantId) -> Result<(Option<TenantProfile>, Revision), StoreError> {
        let item = self.get_item(keys::tenant(tenant), keys::TENANT_PROFILE).await?;
        let revision = Revision::of(item.as_ref());
        Ok((item.map(from_item).transpose()?, revision))
    }

    async fn save_profile(
        &self,
        profile: &TenantProfile,
        expected: Revision,
    ) -> Result<Result<u64, Conflict>, StoreError> {
        self.put_at_revision(to_item(keys::tenant(profile.tenant_id), keys::TENANT_PROFILE, profile)?, expected).await
    }
}

/// In-memory adapters of the ports, for handler unit tests.
#[cfg(any(test, feature = "test-support"))]
pub mod memory {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Default)]
    pub struct MemoryStore {
        /// Connections (and tombstones) with their revisions (see `connections`).
        pub connections: Mutex<HashMap<TenantId, super::connections::MemorySlot>>,
        /// Profiles with their revisions (`0`: put unconditionally), as DynamoDB's `rev`; the
        /// events twin commits into this map too.
        pub profiles: Mutex<HashMap<TenantId, (TenantProfile, u64)>>,
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[async_trait]
    impl TenantProfileStore for MemoryStore {
        async fn get_profile(&self, tenant: TenantId) -> Result<Option<TenantProfile>, StoreError> {
            Ok(lock(&self.profiles).get(&tenant).map(|(p, _)| p.clone()))
        }
        async fn put_profile(&self, profile: &TenantProfile) -> Result<(), StoreError> {
            lock(&self.profiles).insert(profile.tenant_id, (profile.clone(), 0));
            Ok(())
        }
        async fn profile_at(&self, tenant: TenantId) -> Result<(Option<TenantProfile>, Revision), StoreError> {
            Ok(match lock(&self.profiles).get(&tenant) {
                Some((p, rev)) => (Some(p.clone()), Revision::at(*rev)),
                None => (None, Revision::ABSENT),
            })
        }
        async fn save_profile(
            &self,
            profile: &TenantProfile,
            expected: Revision,
        ) -> Result<Result<u64, Conflict>, StoreError> {
            let mut profiles = lock(&self.profiles);
            let current = profiles.get(&profile.tenant_id).map_or(Revision::ABSENT, |(_, rev)| Revision::at(*rev));
            if current != expected {
                return Ok(Err(Conflict));
            }
            profiles.insert(profile.tenant_id, (profile.clone(), expected.next()));
            Ok(Ok(expected.next()))
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::zone::Zone;

    #[test]
    fn item_roundtrip_strips_keys() {
        let p = TenantProfile {
            tenant_id: TenantId(5),
            display_name: "Clínica Demo".into(),
            reporting_time_zone: Zone::parse("America/Argentina/Buenos_Aires").ok(),
            currency: None,
            updated_at: Utc::now(),
        };
        let item = to_item(keys::tenant(p.tenant_id), keys::TENANT_PROFILE, &p).expect("item");
        assert_eq!(item.get("PK"), Some(&AttributeValue::S("T#5".into())));
        assert_eq!(item.get("SK"), Some(&AttributeValue::S("PROFILE".into())));
        let back: TenantProfile = from_item(item).expect("back");
        assert_eq!(back, p);
    }
}

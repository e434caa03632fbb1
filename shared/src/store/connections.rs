//! The tenant's Meta connection (`T#{tenant}` / `META#CONN`) behind a port whose every write is
//! conditional on the revision its writer read (optimistic locking, [`Revision`]):
//!
//! - an update passes only while the stored item is still at the revision read (so it must
//!   exist), a first connection only while nothing is stored;
//! - a disconnect does not delete the item: it leaves a tombstone (no token, a revision of its
//!   own, TTL [`TOMBSTONE_TTL`]), so a writer that read the connection before the disconnect
//!   fails instead of reviving it, and a reconnect (which reads the tombstone) still works.
//!
//! A losing writer gets [`Conflict`] and re-reads; what it decides then is the caller's
//! (`meta::connection_writes`). Reads never show a tombstone as a connection.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::domain::ids::TenantId;
use crate::store::{from_item, keys, to_item, Conflict, DynamoStore, Revision, StoreError};

pub use crate::domain::connection::{ConnectionStatus, MetaConnection};

/// How long a disconnect's tombstone is kept: far longer than any writer can hold a stale read
/// (Lambda runs end within 15 minutes), short enough to leave nothing behind for long.
pub const TOMBSTONE_TTL: Duration = Duration::days(1);

/// The attribute that marks a tombstone (when the tenant disconnected).
const DISCONNECTED_AT: &str = "disconnected_at";

/// What is stored under a tenant's connection key.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSlot {
    /// The live connection (its `revision` set); `None` when never connected or disconnected.
    pub live: Option<MetaConnection>,
    /// The stored item's revision ([`Revision::ABSENT`]: nothing stored). A tombstone has one too,
    /// which is what a reconnect's write expects.
    pub revision: Revision,
}

#[async_trait]
pub trait MetaConnectionStore: Send + Sync {
    /// What is stored for the tenant (consistent read).
    async fn read_connection(&self, tenant: TenantId) -> Result<ConnectionSlot, StoreError>;

    /// The live connection, carrying the revision it was read at.
    async fn get_connection(&self, tenant: TenantId) -> Result<Option<MetaConnection>, StoreError> {
        Ok(self.read_connection(tenant).await?.live)
    }

    /// Stores `conn` if the stored item is still at `conn.revision` (`None`: nothing stored);
    /// returns the revision written, or [`Conflict`] when someone wrote since (re-read, decide
    /// again).
    async fn put_connection(&self, conn: &MetaConnection) -> Result<Result<u64, Conflict>, StoreError>;

    /// Replaces the connection read as `conn` with a tombstone, if it is still at `conn.revision`.
    async fn delete_connection(
        &self,
        conn: &MetaConnection,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Conflict>, StoreError>;
}

#[async_trait]
impl MetaConnectionStore for DynamoStore {
    async fn read_connection(&self, tenant: TenantId) -> Result<ConnectionSlot, StoreError> {
        let Some(item) = self.get_item(keys::tenant(tenant), keys::META_CONNECTION).await? else {
            return Ok(ConnectionSlot { live: None, revision: Revision::ABSENT });
        };
        let revision = Revision::of(Some(&item));
        if item.contains_key(DISCONNECTED_AT) {
            return Ok(ConnectionSlot { live: None, revision });
        }
        let mut conn: MetaConnection = from_item(item)?;
        conn.revision = revision.read();
        Ok(ConnectionSlot { live: Some(conn), revision })
    }

    async fn put_connection(&self, conn: &MetaConnection) -> Result<Result<u64, Conflict>, StoreError> {
        let item = to_item(keys::tenant(conn.tenant_id), keys::META_CONNECTION, conn)?;
        self.put_at_revision(item, Revision::from_read(conn.revision)).await
    }

    async fn delete_connection(
        &self,
        conn: &MetaConnection,
        now: DateTime<Utc>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let mut item = crate::store::Item::new();
        item.insert(crate::store::attr::PK.into(), AttributeValue::S(keys::tenant(conn.tenant_id)));
        item.insert(crate::store::attr::SK.into(), AttributeValue::S(keys::META_CONNECTION.into()));
        item.insert("tenant_id".into(), AttributeValue::N(conn.tenant_id.to_string()));
        item.insert(DISCONNECTED_AT.into(), AttributeValue::S(now.to_rfc3339_opts(SecondsFormat::Millis, true)));
        item.insert(crate::store::attr::TTL.into(), AttributeValue::N((now + TOMBSTONE_TTL).timestamp().to_string()));
        Ok(self.put_at_revision(item, Revision::from_read(conn.revision)).await?.map(|_| ()))
    }
}

/// The in-memory twin's item: the live connection or a tombstone (`None`), and its revision.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySlot {
    pub live: Option<MetaConnection>,
    pub rev: u64,
}

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl MetaConnectionStore for crate::store::memory::MemoryStore {
    async fn read_connection(&self, tenant: TenantId) -> Result<ConnectionSlot, StoreError> {
        let map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        Ok(match map.get(&tenant) {
            None => ConnectionSlot { live: None, revision: Revision::ABSENT },
            Some(slot) => ConnectionSlot {
                live: slot.live.clone().map(|c| MetaConnection { revision: Some(slot.rev), ..c }),
                revision: Revision::at(slot.rev),
            },
        })
    }

    async fn put_connection(&self, conn: &MetaConnection) -> Result<Result<u64, Conflict>, StoreError> {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let stored = map.get(&conn.tenant_id).map(|s| s.rev);
        if stored != conn.revision {
            return Ok(Err(Conflict));
        }
        let rev = Revision::from_read(conn.revision).next();
        map.insert(conn.tenant_id, MemorySlot { live: Some(MetaConnection { revision: None, ..conn.clone() }), rev });
        Ok(Ok(rev))
    }

    async fn delete_connection(
        &self,
        conn: &MetaConnection,
        _now: DateTime<Utc>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        let stored = map.get(&conn.tenant_id).map(|s| s.rev);
        if stored != conn.revision {
            return Ok(Err(Conflict));
        }
        let rev = Revision::from_read(conn.revision).next();
        map.insert(conn.tenant_id, MemorySlot { live: None, rev });
        Ok(Ok(()))
    }
}

//! Writing the tenant's Meta connection while others may be writing it too. Every write is
//! conditional on the revision its writer read ([`crate::store::connections`]); a writer that
//! loses re-reads and decides again here, by one rule: it carries on only onto the **same
//! login** — the same stored token, whose status, account selection or revision changed
//! meanwhile — and never onto a newer login or a disconnect ([`SameLogin::Superseded`]).
//!
//! So a webhook or the spend sync marking a token expired after Meta's code 190 never marks a
//! reconnect's new token, a slow OAuth callback never overwrites a login stored after it began,
//! and nothing revives a connection disconnected after it was read.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::store::{
    retry_conflicts, Conflict, ConnectionSlot, ConnectionStatus, MetaConnection, MetaConnectionStore, StoreError,
};

/// How a write on the connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum SameLogin<T> {
    /// Written (after re-reading, if the same login had been written meanwhile).
    Written(T),
    /// A newer login or a disconnect replaced the connection read: nothing was written.
    Superseded,
}

/// Whether two reads are of the same login (the same stored token: a login stores a new one).
pub fn same_login(a: &MetaConnection, b: &MetaConnection) -> bool {
    a.tenant_id == b.tenant_id && a.token_ciphertext_b64 == b.token_ciphertext_b64
}

/// Every attempt lost a race: the writers are stuck on the item (answered as storage busy).
fn contended() -> StoreError {
    tracing::warn!("Meta connection write kept losing races; giving up");
    StoreError::Throttled
}

/// Runs `write` on the connection read as `read`, then — after each conflict — on the current
/// connection if it is still the same login.
async fn on_same_login<T, W, Fut>(
    connections: &dyn MetaConnectionStore,
    read: &MetaConnection,
    write: W,
) -> Result<SameLogin<T>, StoreError>
where
    W: Fn(MetaConnection) -> Fut,
    Fut: Future<Output = Result<Result<T, Conflict>, StoreError>>,
{
    let write = &write;
    let outcome = retry_conflicts(|attempt| async move {
        let current =
            if attempt == 1 { Some(read.clone()) } else { connections.get_connection(read.tenant_id).await? };
        match current.filter(|c| same_login(c, read)) {
            Some(c) => Ok(write(c).await?.map(SameLogin::Written)),
            None => Ok(Ok(SameLogin::Superseded)),
        }
    })
    .await?;
    outcome.ok_or_else(contended)
}

/// Applies `change` to the connection read as `read` and stores it (see the module doc);
/// returns the stored connection with its new revision.
pub async fn update_connection(
    connections: &dyn MetaConnectionStore,
    read: &MetaConnection,
    change: impl Fn(&mut MetaConnection),
) -> Result<SameLogin<MetaConnection>, StoreError> {
    on_same_login(connections, read, |mut conn| {
        change(&mut conn);
        async move { Ok(connections.put_connection(&conn).await?.map(|rev| MetaConnection { revision: Some(rev), ..conn })) }
    })
    .await
}

/// Marks the login read as `read` expired (Meta rejected its token with code 190); a newer login
/// or a disconnect is left alone.
pub async fn mark_expired(
    connections: &dyn MetaConnectionStore,
    read: &MetaConnection,
    now: DateTime<Utc>,
) -> Result<SameLogin<MetaConnection>, StoreError> {
    update_connection(connections, read, |c| {
        c.status = ConnectionStatus::Invalid;
        c.updated_at = now;
    })
    .await
}

/// Replaces the login read as `read` with the disconnect's tombstone; a newer login is left alone
/// (and a connection someone else disconnected meanwhile is gone already: also `Superseded`).
pub async fn tombstone(
    connections: &dyn MetaConnectionStore,
    read: &MetaConnection,
    now: DateTime<Utc>,
) -> Result<SameLogin<()>, StoreError> {
    on_same_login(connections, read, |conn| async move { connections.delete_connection(&conn, now).await }).await
}

/// Stores a new login over what the OAuth callback read when it began (`slot`). `build` makes
/// the connection from the live one it replaces (to keep its account selection). After a
/// conflict it is stored only if what is there now is still the login read at the start (e.g. a
/// webhook marked that old token expired meanwhile); a login stored or a disconnect made since
/// the callback began wins.
pub async fn store_login(
    connections: &dyn MetaConnectionStore,
    slot: &ConnectionSlot,
    build: impl Fn(Option<&MetaConnection>) -> MetaConnection,
) -> Result<SameLogin<MetaConnection>, StoreError> {
    let first = MetaConnection { revision: slot.revision.read(), ..build(slot.live.as_ref()) };
    if let Ok(rev) = connections.put_connection(&first).await? {
        return Ok(SameLogin::Written(MetaConnection { revision: Some(rev), ..first }));
    }
    let Some(read) = &slot.live else {
        return Ok(SameLogin::Superseded);
    };
    let replaced =
        on_same_login(connections, read, |current| {
            let new = MetaConnection { revision: current.revision, ..build(Some(&current)) };
            async move {
                Ok(connections.put_connection(&new).await?.map(|rev| MetaConnection { revision: Some(rev), ..new }))
            }
        })
        .await?;
    Ok(replaced)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::ids::TenantId;
    use crate::store::memory::MemoryStore;
    use crate::store::Revision;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
    }

    fn login(token: &str) -> MetaConnection {
        MetaConnection {
            token_ciphertext_b64: token.into(),
            meta_user_id: Some("42".into()),
            ..crate::testing::active_connection(TenantId(1), now())
        }
    }

    async fn stored(s: &MemoryStore) -> Option<MetaConnection> {
        s.get_connection(TenantId(1)).await.expect("read")
    }

    #[tokio::test]
    async fn a_stale_mark_expired_carries_on_only_onto_the_same_login() {
        let s = MemoryStore::default();
        s.put_connection(&login("A")).await.expect("put").expect("created");
        let read = stored(&s).await.expect("live");
        // Someone selects accounts meanwhile: same login, so the mark is re-applied.
        let selected = update_connection(&s, &read, |c| c.ad_account_ids = vec!["act_1".into()]).await.expect("sel");
        assert!(matches!(selected, SameLogin::Written(_)));
        assert!(matches!(mark_expired(&s, &read, now()).await.expect("mark"), SameLogin::Written(_)));
        let now_stored = stored(&s).await.expect("live");
        assert_eq!((now_stored.status, now_stored.ad_account_ids.len()), (ConnectionStatus::Invalid, 1));

        // A reconnect stores token B: a mark for token A is dropped.
        let slot = s.read_connection(TenantId(1)).await.expect("slot");
        let b = store_login(&s, &slot, |_| login("B")).await.expect("login");
        assert!(matches!(b, SameLogin::Written(_)));
        assert_eq!(mark_expired(&s, &read, now()).await.expect("mark"), SameLogin::Superseded);
        let live = stored(&s).await.expect("live");
        assert_eq!((live.token_ciphertext_b64.as_str(), live.status), ("B", ConnectionStatus::Active));
    }

    #[tokio::test]
    async fn a_disconnect_is_never_undone_by_a_stale_writer() {
        let s = MemoryStore::default();
        s.put_connection(&login("A")).await.expect("put").expect("created");
        let read = stored(&s).await.expect("live");
        let slot_before = s.read_connection(TenantId(1)).await.expect("slot");
        assert_eq!(tombstone(&s, &read, now()).await.expect("disconnect"), SameLogin::Written(()));
        assert_eq!(stored(&s).await, None);
        assert_eq!(mark_expired(&s, &read, now()).await.expect("mark"), SameLogin::Superseded);
        assert_eq!(update_connection(&s, &read, |_| {}).await.expect("update"), SameLogin::Superseded);
        // A callback that began before the disconnect loses; one that began after it connects.
        assert_eq!(store_login(&s, &slot_before, |_| login("B")).await.expect("stale"), SameLogin::Superseded);
        assert_eq!(stored(&s).await, None);
        let slot_after = s.read_connection(TenantId(1)).await.expect("slot");
        assert_ne!(slot_after.revision, Revision::ABSENT, "the tombstone keeps a revision");
        assert!(matches!(
            store_login(&s, &slot_after, |_| login("C")).await.expect("reconnect"),
            SameLogin::Written(_)
        ));
        assert_eq!(stored(&s).await.map(|c| c.token_ciphertext_b64), Some("C".into()));
    }

    #[tokio::test]
    async fn a_slow_callback_keeps_the_selection_of_the_login_it_replaces_and_loses_to_a_newer_one() {
        let s = MemoryStore::default();
        s.put_connection(&login("A")).await.expect("put").expect("created");
        let slow = s.read_connection(TenantId(1)).await.expect("slot");
        let fast = s.read_connection(TenantId(1)).await.expect("slot");
        // The old token is marked expired meanwhile: the slow callback still stores its login,
        // keeping what it carries over from the current record.
        let a = slow.live.clone().expect("live");
        update_connection(&s, &a, |c| c.ad_account_ids = vec!["act_9".into()]).await.expect("select");
        let keep = |prev: Option<&MetaConnection>| MetaConnection {
            ad_account_ids: prev.map(|p| p.ad_account_ids.clone()).unwrap_or_default(),
            ..login("B")
        };
        let SameLogin::Written(b) = store_login(&s, &slow, keep).await.expect("login") else { panic!("superseded") };
        assert_eq!(b.ad_account_ids, vec!["act_9".to_string()]);
        // The other callback that read token A at the same time loses to B.
        assert_eq!(store_login(&s, &fast, |_| login("C")).await.expect("stale"), SameLogin::Superseded);
        assert_eq!(stored(&s).await.map(|c| c.token_ciphertext_b64), Some("B".into()));
    }
}

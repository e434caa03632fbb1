//! Interleavings of Meta connection writers against moto: every write is conditional on the
//! revision its writer read, so two writers with the same read never both win, a stale "mark
//! expired" never lands on a newer login, and nothing revives a disconnected connection.

use aws_sdk_dynamodb::types::AttributeValue;
use crm_shared::domain::ids::TenantId;
use crm_shared::meta::access::meta_failure;
use crm_shared::meta::connection_writes::{mark_expired, update_connection, SameLogin};
use crm_shared::meta::graph::MetaError;
use crm_shared::store::{Conflict, ConnectionStatus, MetaConnection, MetaConnectionStore, Revision};
use integration_tests::*;

use crate::meta_login::{connection_items, s, token_status};

fn rejected() -> MetaError {
    MetaError::InvalidToken { subcode: Some(460) }
}

async fn live(env: &TestEnv, tenant: i64) -> Option<MetaConnection> {
    env.store.get_connection(TenantId(tenant)).await.expect("read")
}

async fn disconnect(env: &TestEnv, tenant: i64) -> u16 {
    disconnect_as_admin(env, tenant).await.status().as_u16()
}

#[tokio::test]
async fn writers_with_the_same_read_revision_exactly_one_wins() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let read = live(&m.env, 1).await.expect("connected");
    // Four writers (e.g. account selections) from the same read, at once.
    let writes: Vec<MetaConnection> =
        (0..4).map(|i| MetaConnection { ad_account_ids: vec![format!("act_{i}")], ..read.clone() }).collect();
    let racing = writes.iter().map(|w| m.env.store.put_connection(w));
    let results = futures_util::future::join_all(racing).await.into_iter().map(|r| r.expect("put"));
    let won: Vec<usize> = results.enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(won.len(), 1, "exactly one of the racing writers wins");
    let now = live(&m.env, 1).await.expect("live");
    assert_eq!(now.ad_account_ids, vec![format!("act_{}", won[0])]);
    assert_eq!(now.revision, Some(read.revision.unwrap_or(0) + 1));
    // Every loser re-reads: its write at the read revision stays refused.
    assert_eq!(m.env.store.put_connection(&read).await.expect("put"), Err(Conflict));
}

#[tokio::test]
async fn an_expiry_mark_for_the_old_token_does_not_clobber_a_reconnect() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let old = live(&m.env, 1).await.expect("connected");
    oauth_connect(&m.env, 1).await;
    let new = live(&m.env, 1).await.expect("reconnected");
    assert_ne!(new.token_ciphertext_b64, old.token_ciphertext_b64);
    // The webhook / spend sync got code 190 with the token it read before the reconnect.
    let err = meta_failure(m.env.app.connections.as_ref(), &old, rejected(), t0()).await;
    assert_eq!(err.to_string(), crm_shared::meta::error::MetaFlowError::Peer(rejected()).to_string());
    let after = live(&m.env, 1).await.expect("still connected");
    assert_eq!((after.status, after.revision), (ConnectionStatus::Active, new.revision), "nothing written");
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "connected");
    // The same mark with the current read does land.
    assert!(matches!(
        mark_expired(m.env.app.connections.as_ref(), &after, t0()).await.expect("mark"),
        SameLogin::Written(_)
    ));
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "expired");
}

#[tokio::test]
async fn a_write_after_a_disconnect_does_not_revive_the_connection() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let read = live(&m.env, 1).await.expect("connected");
    assert_eq!(disconnect(&m.env, 1).await, 200);
    let conns = m.env.app.connections.as_ref();
    assert_eq!(mark_expired(conns, &read, t0()).await.expect("mark"), SameLogin::Superseded);
    let _ = meta_failure(conns, &read, rejected(), t0()).await;
    let select = update_connection(conns, &read, |c| c.ad_account_ids = vec!["act_1".into()]).await.expect("sel");
    assert_eq!(select, SameLogin::Superseded);
    assert_eq!(m.env.store.put_connection(&read).await.expect("put"), Err(Conflict), "stale update");
    let fresh = MetaConnection { revision: None, ..read.clone() };
    assert_eq!(m.env.store.put_connection(&fresh).await.expect("put"), Err(Conflict), "stale create");
    assert_eq!(live(&m.env, 1).await, None);
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "missing");
    // What is left is a tombstone: no token, a revision, and a TTL.
    let items = connection_items(&m.env, 1).await;
    assert_eq!(items.len(), 1);
    assert!(!items[0].contains_key("token_ciphertext_b64"));
    assert!(!s(&items[0], "disconnected_at").is_empty());
    assert!(num(&items[0], "ttl") > t0().timestamp());
    assert!(num(&items[0], "rev") > read.revision.map(|r| r as i64).unwrap_or(0));
    // Reconnecting after the disconnect works.
    oauth_connect(&m.env, 1).await;
    assert_eq!(token_status(&m.env, 1).await["data"]["status"], "connected");
    assert_eq!(disconnect(&m.env, 1).await, 200, "and disconnecting again");
    assert_eq!(live(&m.env, 1).await, None);
}

#[tokio::test]
async fn a_connection_stored_before_revisions_is_updated_at_revision_zero() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    // As the connection items written before this change look: no `rev` attribute.
    m.env
        .dynamo
        .update_item()
        .table_name(&m.env.resources.table)
        .key("PK", AttributeValue::S("T#1".into()))
        .key("SK", AttributeValue::S("META#CONN".into()))
        .update_expression("REMOVE rev")
        .send()
        .await
        .expect("legacy item");
    let slot = m.env.store.read_connection(TenantId(1)).await.expect("read");
    assert_eq!(slot.revision, Revision::at(0));
    let legacy = slot.live.expect("live");
    assert_eq!(legacy.revision, Some(0));
    let marked = mark_expired(m.env.app.connections.as_ref(), &legacy, t0()).await.expect("mark");
    assert!(matches!(marked, SameLogin::Written(MetaConnection { revision: Some(1), .. })), "{marked:?}");
    assert_eq!(m.env.store.put_connection(&legacy).await.expect("put"), Err(Conflict), "the legacy read is stale now");
}

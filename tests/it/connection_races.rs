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
    let stale = live(&m.env, 1).await.expect("connected");
    let select = |c: &mut MetaConnection| c.ad_account_ids = vec!["act_first".into()];
    let SameLogin::Written(read) =
        update_connection(m.env.app.connections.as_ref(), &stale, select).await.expect("sel")
    else {
        panic!("written")
    };
    let rev = read.revision.expect("a stored revision");
    // Racers at different revisions, at once: a stale read, two writers from the current read
    // (e.g. account selections), one two writes ahead of the store (one ahead would land right
    // after the winner: a chain, not a conflict) and one that believes there is no item. Only a
    // writer at the stored revision may land, and only one of those two.
    let at = |revision: Option<u64>, i: usize| MetaConnection {
        ad_account_ids: vec![format!("act_{i}")],
        revision,
        ..read.clone()
    };
    let writes = [at(stale.revision, 0), at(Some(rev), 1), at(Some(rev + 2), 2), at(Some(rev), 3), at(None, 4)];
    let racing = writes.iter().map(|w| m.env.store.put_connection(w));
    let results: Vec<_> = futures_util::future::join_all(racing).await.into_iter().map(|r| r.expect("put")).collect();
    let won: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(won.len(), 1, "exactly one of the racing writers wins: {results:?}");
    assert!(won[0] == 1 || won[0] == 3, "a writer at the stored revision wins, not {}", won[0]);
    assert_eq!(results[won[0]], Ok(rev + 1));
    let now = live(&m.env, 1).await.expect("live");
    assert_eq!(now.ad_account_ids, vec![format!("act_{}", won[0])]);
    assert_eq!(now.revision, Some(rev + 1));
    // Every loser re-reads: its write at the read revision stays refused.
    assert_eq!(m.env.store.put_connection(&read).await.expect("put"), Err(Conflict));
}

#[tokio::test]
async fn racing_read_modify_writes_of_one_login_each_land_once_at_their_own_revision() {
    let m = MetaTestEnv::new().await;
    oauth_connect(&m.env, 1).await;
    let read = live(&m.env, 1).await.expect("connected");
    let base = read.revision.expect("a stored revision");
    // Four writers from the same read, each adding its account: the losers re-read and re-apply.
    let conns = m.env.app.connections.as_ref();
    let racing = (0..4).map(|i| update_connection(conns, &read, move |c| c.ad_account_ids.push(format!("act_{i}"))));
    let mut revisions: Vec<u64> = futures_util::future::join_all(racing)
        .await
        .into_iter()
        .map(|r| match r.expect("write") {
            SameLogin::Written(c) => c.revision.expect("revision"),
            SameLogin::Superseded => panic!("the same login is never superseded"),
        })
        .collect();
    revisions.sort_unstable();
    assert_eq!(revisions, (base + 1..=base + 4).collect::<Vec<_>>(), "one revision each, none lost");
    let now = live(&m.env, 1).await.expect("live");
    let mut accounts = now.ad_account_ids.clone();
    accounts.sort();
    let mut want: Vec<String> = read.ad_account_ids.iter().cloned().chain((0..4).map(|i| format!("act_{i}"))).collect();
    want.sort();
    assert_eq!(accounts, want, "every writer's change is there");
    assert_eq!(now.revision, Some(base + 4));
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

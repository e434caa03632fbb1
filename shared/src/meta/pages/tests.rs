use chrono::TimeZone;

use super::*;
use crate::platform::crypto::FakeTokenCipher;
use crate::store::memory::MemoryStore;
use crate::store::pages::MemoryPageIndex;
use crate::store::MetaConnection;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("date")
}

fn connection(tenant: TenantId) -> MetaConnection {
    crate::testing::active_connection(tenant, now())
}

fn page(id: &str, name: &str, token: &str) -> FacebookPage {
    FacebookPage {
        access_token: Some(PageToken::new(SecretString::new(token))),
        tasks: vec!["ADVERTISE".into(), "MANAGE".into()],
        ..FacebookPage::named(id, name)
    }
}

struct World {
    pages: MemoryPageIndex,
    conns: MemoryStore,
    cipher: FakeTokenCipher,
}

impl World {
    fn new() -> Self {
        Self { pages: MemoryPageIndex::default(), conns: MemoryStore::default(), cipher: FakeTokenCipher }
    }
    fn deps(&self) -> PageDeps<'_> {
        PageDeps { pages: &self.pages, connections: &self.conns, cipher: &self.cipher }
    }
    async fn owner(&self, id: &str) -> Option<(i64, String, Option<String>)> {
        let owner = self.pages.owner_of(id).await.expect("owner")?;
        let token = page_token(&self.cipher, &owner).await.expect("decrypt").map(|t| t.secret().expose().to_string());
        Some((owner.tenant_id.0, owner.page_name, token))
    }
}

#[tokio::test]
async fn a_page_stays_with_a_connected_owner_and_moves_with_its_token_once_it_disconnects() {
    let w = World::new();
    let (t1, t2) = (TenantId(1), TenantId(2));
    w.conns.put_connection(&connection(t1)).await.expect("connect 1").expect("created");
    w.conns.put_connection(&connection(t2)).await.expect("connect 2").expect("created");
    let p = page("100", "Clinic", "EAAP-one");
    assert_eq!(claim_page(w.deps(), t1, &p, now()).await.expect("claim"), Claim::Claimed);
    let theirs = page("100", "Clinic", "EAAP-two");
    assert_eq!(claim_page(w.deps(), t2, &theirs, now()).await.expect("claim"), Claim::OwnedByAnotherTenant);
    assert_eq!(w.owner("100").await, Some((1, "Clinic".into(), Some("EAAP-one".into()))));
    let stored = w.pages.owner_of("100").await.expect("get").expect("owned");
    assert!(stored.token_ciphertext_b64.as_deref().is_some_and(|c| !c.contains("EAAP")), "token stored sealed");
    assert_eq!(stored.tasks, vec!["ADVERTISE", "MANAGE"]);

    // A reconnect refreshes the token and the name, and keeps the page's marks.
    let marks = PagePatch { last_lead_at: Some(now()), leads_swept_at: Some(now()), ..PagePatch::default() };
    assert!(w.pages.patch("100", t1, &marks).await.expect("patch"));
    let renamed = page("100", "Clinic Norte", "EAAP-three");
    assert_eq!(claim_page(w.deps(), t1, &renamed, now()).await.expect("re-claim"), Claim::Claimed);
    assert_eq!(w.owner("100").await, Some((1, "Clinic Norte".into(), Some("EAAP-three".into()))));
    assert_eq!(w.pages.owner_of("100").await.expect("get").and_then(|o| o.leads_swept_at), Some(now()));

    let live = w.conns.get_connection(t1).await.expect("read").expect("live");
    w.conns.delete_connection(&live, now()).await.expect("disconnect 1").expect("deleted");
    assert_eq!(claim_page(w.deps(), t2, &theirs, now()).await.expect("take over"), Claim::Claimed);
    assert_eq!(w.owner("100").await, Some((2, "Clinic".into(), Some("EAAP-two".into()))), "old token replaced");
    let taken = w.pages.owner_of("100").await.expect("get").expect("owned");
    assert_eq!((taken.leads_swept_at, taken.last_lead_at), (None, None), "the old owner's marks do not move with it");
}

#[tokio::test]
async fn a_page_without_a_token_is_claimed_and_says_so() {
    let w = World::new();
    let bare = FacebookPage::named("200", "No token");
    assert_eq!(claim_page(w.deps(), TenantId(1), &bare, now()).await.expect("claim"), Claim::Claimed);
    let owner = w.pages.owner_of("200").await.expect("get").expect("owned");
    assert_eq!(owner.problem.as_ref().map(|p| p.code.as_str()), Some("page_token_missing"));
    assert_eq!(page_token(&w.cipher, &owner).await.expect("read"), None);
}

#[tokio::test]
async fn a_refused_page_edge_marks_that_page_only() {
    let w = World::new();
    let t = TenantId(1);
    w.conns.put_connection(&connection(t)).await.expect("connect").expect("created");
    for id in ["100", "200"] {
        claim_page(w.deps(), t, &page(id, "P", "EAAP"), now()).await.expect("claim");
    }
    page_failure(&w.pages, t, "100", &MetaError::InvalidToken { subcode: None }, true, now()).await;
    page_failure(&w.pages, t, "200", &MetaError::Permission { code: 200 }, true, now()).await;
    page_failure(&w.pages, t, "200", &MetaError::Transient { code: 2 }, true, now()).await;
    let pages = &w.pages;
    let problem = |id: &'static str| async move {
        let o = pages.owner_of(id).await.expect("get").expect("owned");
        (o.problem.map(|p| p.code), o.lead_access)
    };
    assert_eq!(problem("100").await, (Some("page_token_invalid".into()), None));
    assert_eq!(problem("200").await, (Some("no_lead_access".into()), Some(false)), "a transient error changes nothing");
    let conn = w.conns.get_connection(t).await.expect("read").expect("still there");
    assert_eq!(conn.status, crate::store::ConnectionStatus::Active, "the user connection is untouched");
}

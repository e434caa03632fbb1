//! Rules saves racing, through the handler against moto and Sandbox YCloud: a save whose read was
//! overtaken by another save answers 409 `conflict` with a `detail`, and the other save stands.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use crm_shared::api::port::Port;
use crm_shared::domain::hsm::TriggerKind;
use crm_shared::domain::ids::TenantId;
use crm_shared::store::automation::rules::{Counter, RuleSet, RulesStore};
use crm_shared::store::{Conflict, Revision, StoreError};
use integration_tests::HsmTestEnv;
use serde_json::{json, Value};

/// The rules store, where another save of `racer` (from the same read) lands right after each
/// read: what two managers saving at once look like to the one that writes second.
struct Overtaken {
    inner: Arc<dyn RulesStore>,
    racer: RuleSet,
}

#[async_trait]
impl RulesStore for Overtaken {
    async fn rules(&self, tenant: TenantId) -> Result<Option<RuleSet>, StoreError> {
        self.inner.rules(tenant).await
    }
    async fn rules_at(&self, tenant: TenantId) -> Result<(Option<RuleSet>, Revision), StoreError> {
        let read = self.inner.rules_at(tenant).await?;
        assert_eq!(self.inner.save_rules(&self.racer, read.1).await?, Ok(read.1.next()), "the racer's save");
        Ok(read)
    }
    async fn save_rules(&self, rules: &RuleSet, expected: Revision) -> Result<Result<u64, Conflict>, StoreError> {
        self.inner.save_rules(rules, expected).await
    }
    async fn put_rules(&self, rules: &RuleSet) -> Result<(), StoreError> {
        self.inner.put_rules(rules).await
    }
    async fn count(&self, tenant: TenantId, trigger: TriggerKind, counter: Counter) -> Result<(), StoreError> {
        self.inner.count(tenant, trigger, counter).await
    }
    async fn counts(&self, tenant: TenantId) -> Result<BTreeMap<String, i64>, StoreError> {
        self.inner.counts(tenant).await
    }
}

#[tokio::test]
async fn a_rules_save_overtaken_by_another_is_409_and_the_other_stands() {
    let h = HsmTestEnv::new().await;
    let tenant = 26;
    let save = |app: &crm_shared::App, delay: i64| {
        let body = json!({"rules": [{"trigger_type": "lead_followup", "is_active": true, "template_name": "lead_followup", "language": "es", "delay_minutes": delay}]});
        let req = integration_tests::request(
            "PUT",
            "/crm/marketing/automation/rules",
            Some(&integration_tests::jwt(tenant, "admin")),
            Some(integration_tests::ADMIN_TOKEN),
            Some(body),
        );
        let app = app.clone();
        async move {
            let resp = automation_rules::handle(&app, req).await;
            (resp.status().as_u16(), crm_shared::api::http::body_json(&resp))
        }
    };
    let (status, first) = save(&h.env.app, 60).await;
    assert_eq!(status, 200, "{first}");
    let mut racer = h.env.app.automation_rules.rules(TenantId(tenant)).await.expect("read").expect("saved");
    racer.updated_by = "racer".into();
    racer.contact_window_hours = Some(3);
    let mut app = h.env.app.clone();
    app.automation_rules =
        Port::other(Arc::new(Overtaken { inner: h.env.app.automation_rules.shared(), racer: racer.clone() }));
    let (status, lost): (u16, Value) = save(&app, 90).await;
    assert_eq!(status, 409, "{lost}");
    assert_eq!(lost["error"]["code"], "conflict");
    assert!(lost["detail"].as_str().is_some_and(|d| d.contains("another save")), "{lost}");
    let stored = h.env.app.automation_rules.rules(TenantId(tenant)).await.expect("read");
    assert_eq!(stored, Some(racer), "the racer's save stands, the loser wrote nothing");
    // Without a racer the same save goes through.
    let (status, again) = save(&h.env.app, 90).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["data"][0]["delay_minutes"], 90);
}

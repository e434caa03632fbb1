//! `meta-spend-sync`: one function, two modes chosen by the event.
//!
//! - an EventBridge **Scheduled Event** (hourly rule) → *fan-out*: pages the connected-tenant
//!   index and puts one `spend-sync.requested` event per tenant on the product bus (batches of 10,
//!   refused entries retried); beside it, once per run and never per tenant, the provider FX rates
//!   (ECB) are refreshed ([`crm_shared::marketing::fx::provider`]) — concurrently, so a slow or
//!   failing provider neither delays nor stops the fan-out (logged, `FxProviderFailures`);
//! - a **`spend-sync.requested`** event (bus rule) → *tenant* mode: syncs that tenant's selected
//!   ad accounts ([`crm_shared::meta::insights::sync_tenant`]);
//! - a **`meta.connected`** event (bus rule; put by the OAuth callback after it stored a
//!   connection and redirected the browser) → *connected* mode: the connect's slow follow-up —
//!   the tenant's Facebook Pages claimed, its parked lead-ads leads replayed and their follow-ups
//!   scheduled ([`crm_shared::meta::follow_up`]). A failure (storage, secrets) fails the
//!   invocation: Lambda retries, then the dead-letter queue.
//!
//! The summary is logged as one JSON line. A tenant Meta throttles, or whose sync failed, fails
//! the invocation so Lambda's async retries run it later and, when they are exhausted, the event
//! lands in the function's dead-letter queue (failed tenants stay visible). An expired token is
//! not retried (the connection is marked expired; token-status asks for a reconnect). A tenant
//! whose Meta usage headers reached the ceiling (`deferred`) stopped calling before the wall: the
//! invocation succeeds (no dead letter for a healthy tenant) and the next schedule syncs it.
//!
//! Metrics (EMF, [`crm_shared::platform::metrics`]): per tenant-mode invocation one line with
//! `SpendSyncTenantsOk` (1 when synced) and `SpendSyncTenantsFailed` (1 when failed, throttled or its
//! token expired; both 0 when not connected or deferred), and `SpendSyncLagSeconds`: how old the
//! tenant's oldest `spend_synced_at` was when this run came (absent on its first sync). Measured
//! per tenant because the fan-out reads only the connected index (a freshness read per tenant
//! there would be 10,000 `GetItem`s an hour); CloudWatch's Maximum gives the oldest. Per fan-out:
//! `FxProviderFailures` (0 or 1; nothing when the provider is disabled).

use crm_shared::api::wiring::Wiring;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};

/// The secrets this function resolves; nothing else is read. The Meta app secret
/// (`appsecret_proof`); not an HTTP function, so no caller auth.
pub const SECRETS: SecretNeeds = &[SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS opens stored and Page tokens, seals claimed pages' tokens; the bus takes the fan-out.
pub const WIRING: Wiring = Wiring::ALL;

pub use crm_shared::flows::spend_sync_jobs::*;

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use chrono::TimeZone;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::marketing::fx::provider::ProviderOutcome;
    use crm_shared::meta::insights::{FanOutSummary, TenantOutcome, TenantSync};
    use crm_shared::platform::clock::ManualClock;
    use crm_shared::platform::config::Config;
    use crm_shared::store::connected_index::{ConnectedIndex, ConnectedTenant};
    use crm_shared::testing::RecordingSleeper;
    use crm_shared::App;
    use serde_json::{json, Value};

    use super::*;

    fn app() -> (App, crm_shared::api::app::InMemory) {
        let config = Config::from_lookup_for(SECRETS, |k| match k {
            "TABLE_NAME" => Some("t".into()),
            // No provider: unit tests never call the ECB.
            "FX_PROVIDER_URL" => Some(String::new()),
            _ => None,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        App::in_memory(config, Arc::new(ManualClock::new(now)))
    }

    fn scheduled() -> Value {
        json!({"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
               "account": "1", "time": "2026-11-24T12:00:00Z", "region": "us-east-1",
               "resources": ["arn:aws:events:us-east-1:1:rule/spend-sync"], "detail": {}})
    }

    fn sample(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|e| panic!("sample: {e}"))
    }

    #[test]
    fn the_event_chooses_the_mode() {
        assert_eq!(invocation_of(&scheduled()), Invocation::FanOut);
        assert_eq!(
            invocation_of(&sample(include_str!("../../../events/spend-sync-scheduled.json"))),
            Invocation::FanOut
        );
        assert_eq!(
            invocation_of(&sample(include_str!("../../../events/spend-sync-requested.json"))),
            Invocation::Tenant(TenantId(1))
        );
        assert_eq!(
            invocation_of(&sample(include_str!("../../../events/meta-connected.json"))),
            Invocation::Connected(TenantId(1))
        );
        let req = json!({"detail-type": "spend-sync.requested", "source": "crm-marketing.spend-sync", "detail": {"tenant_id": 7}});
        assert_eq!(invocation_of(&req), Invocation::Tenant(TenantId(7)));
        for bad in [
            json!({"detail-type": "spend-sync.requested", "detail": {"tenant_id": "7"}}),
            json!({"detail-type": "spend-sync.requested", "detail": {}}),
            json!({"detail-type": "meta.connected", "detail": {"tenant_id": 0}}),
            json!({"detail-type": "lead.created", "detail": {}}),
            json!({}),
        ] {
            assert!(matches!(invocation_of(&bad), Invocation::Unrecognised(_)), "{bad}");
        }
    }

    #[tokio::test]
    async fn fan_out_publishes_one_event_per_connected_tenant_in_batches_of_ten() {
        let (app, mem) = app();
        let at = app.clock.now();
        for t in 1..=23 {
            mem.connected_index
                .mark_connected(&ConnectedTenant { tenant_id: TenantId(t), connected_at: at })
                .await
                .ok();
        }
        let sleeper = Arc::new(RecordingSleeper::default());
        let summary = handle_event_with(&app, scheduled(), sleeper.clone()).await.expect("fan-out");
        assert_eq!(
            summary,
            Summary::FanOut {
                fan_out: FanOutSummary { tenants: 23, published: 23, failed: 0, batches: 3 },
                fx_provider: ProviderOutcome::Disabled
            }
        );
        let mut tenants: Vec<i64> = mem
            .job_bus
            .published()
            .iter()
            .map(|e| {
                assert_eq!(
                    (e.source.as_str(), e.detail_type.as_str()),
                    ("crm-marketing.spend-sync", "spend-sync.requested")
                );
                serde_json::from_str::<Value>(&e.detail).ok().and_then(|d| d["tenant_id"].as_i64()).unwrap_or(0)
            })
            .collect();
        tenants.sort_unstable();
        assert_eq!(tenants, (1..=23).collect::<Vec<_>>());
        assert!(sleeper.waits().is_empty(), "nothing refused, nothing waited");
    }

    #[tokio::test]
    async fn refused_entries_are_retried_with_backoff_and_published_once() {
        let (app, mem) = app();
        let at = app.clock.now();
        for t in 1..=12 {
            mem.connected_index
                .mark_connected(&ConnectedTenant { tenant_id: TenantId(t), connected_at: at })
                .await
                .ok();
        }
        mem.job_bus.fail_next.store(3, Ordering::SeqCst);
        let sleeper = Arc::new(RecordingSleeper::default());
        let summary = handle_event_with(&app, scheduled(), sleeper.clone()).await.expect("fan-out");
        let Summary::FanOut { fan_out, .. } = summary else { panic!("fan-out") };
        assert_eq!(fan_out, FanOutSummary { tenants: 12, published: 12, failed: 0, batches: 3 });
        assert_eq!(mem.job_bus.published().len(), 12, "each tenant exactly once");
        assert_eq!(sleeper.waits().len(), 1, "one backoff before the retry");
    }

    #[tokio::test]
    async fn a_tenant_without_a_connection_is_not_an_error() {
        let (app, _) = app();
        let req = json!({"detail-type": "spend-sync.requested", "detail": {"tenant_id": 42}});
        let summary = handle_event_with(&app, req, Arc::new(RecordingSleeper::default())).await.expect("ok");
        let Summary::Tenant(t) = summary else { panic!("tenant mode") };
        assert_eq!(t.outcome, TenantOutcome::NotConnected);
    }

    #[test]
    fn tenant_metrics_count_the_outcome_and_the_lag() {
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        let sync = |outcome: TenantOutcome, previous: Option<i64>| TenantSync {
            tenant_id: 1,
            outcome,
            accounts: vec![],
            leads: None,
            leads_error: None,
            previous_synced_at: previous.map(|s| now - chrono::Duration::seconds(s)),
        };
        let line = |s: TenantSync| -> Value {
            serde_json::from_str(&tenant_metrics(&s, now).render(0)).unwrap_or_else(|e| panic!("{e}"))
        };
        let ok = line(sync(TenantOutcome::Synced, Some(3_700)));
        assert_eq!((ok["SpendSyncTenantsOk"].clone(), ok["SpendSyncTenantsFailed"].clone()), (json!(1.0), json!(0.0)));
        assert_eq!(ok["SpendSyncLagSeconds"], json!(3_700.0));
        assert_eq!(
            ok["_aws"]["CloudWatchMetrics"][0]["Metrics"][2],
            json!({"Name": "SpendSyncLagSeconds", "Unit": "Seconds"})
        );
        for failed in
            [TenantOutcome::Failed, TenantOutcome::TokenExpired, TenantOutcome::Throttled { retry_after_secs: 60 }]
        {
            let v = line(sync(failed, None));
            assert_eq!(
                (v["SpendSyncTenantsOk"].clone(), v["SpendSyncTenantsFailed"].clone()),
                (json!(0.0), json!(1.0))
            );
            assert!(v.get("SpendSyncLagSeconds").is_none(), "no lag before a first sync");
        }
        let idle = line(sync(TenantOutcome::NotConnected, None));
        assert_eq!(
            (idle["SpendSyncTenantsOk"].clone(), idle["SpendSyncTenantsFailed"].clone()),
            (json!(0.0), json!(0.0))
        );
    }

    #[test]
    fn the_provider_metric_counts_failures_only_when_a_provider_is_configured() {
        let value = |o: ProviderOutcome| {
            provider_metrics(&o)
                .map(|l| serde_json::from_str::<Value>(&l.render(0)).unwrap_or_default()["FxProviderFailures"].clone())
        };
        assert_eq!(value(ProviderOutcome::Failed { error: "HTTP 503".into() }), Some(json!(1.0)));
        assert_eq!(value(ProviderOutcome::Refreshed(Default::default())), Some(json!(0.0)));
        assert_eq!(value(ProviderOutcome::Disabled), None);
    }

    #[tokio::test]
    async fn a_connect_follow_up_for_a_tenant_without_a_connection_does_nothing() {
        let (app, _) = app();
        let ev = json!({"detail-type": "meta.connected", "detail": {"tenant_id": 42}});
        let summary = handle_event_with(&app, ev, Arc::new(RecordingSleeper::default())).await.expect("ok");
        let Summary::Connected(done) = summary else { panic!("connected mode") };
        assert_eq!((done.tenant_id, done.skipped, done.pages.claimed), (42, Some("meta_not_connected"), 0));
    }

    #[tokio::test]
    async fn an_unknown_event_is_acknowledged_not_retried() {
        let (app, _) = app();
        let summary = handle_event_with(&app, json!({"detail-type": "x"}), Arc::new(RecordingSleeper::default()))
            .await
            .expect("acknowledged");
        assert!(matches!(summary, Summary::Ignored { .. }));
    }
}

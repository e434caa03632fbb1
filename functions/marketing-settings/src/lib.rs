//! `PATCH /crm/marketing/settings`: `{"reporting_currency":"ARS"}` sets the tenant's reporting
//! currency explicitly (manage roles; unknown code or field → 400 with `detail`). Connecting Meta
//! only defaults it (to the tenant's CRM revenue currency), never switches it.

use crm_shared::api::http::{run_endpoint, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::marketing::settings::{update_settings, SettingsPatch};
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. The JWT key and admin token (its
/// routes authenticate callers).
pub const SECRETS: SecretNeeds = &[SecretName::JwtSecretKey, SecretName::AdminToken];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). Neither KMS nor the bus.
pub const WIRING: Wiring = Wiring::NONE;

pub const ENDPOINT: Endpoint = Endpoint {
    name: "marketing-settings",
    method: Method::PATCH,
    path: "/crm/marketing/settings",
    access: Access::Manage,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_endpoint(app, &ENDPOINT, req, |ctx| patch(app, ctx)).await
}

async fn patch(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let tenant = ctx.caller()?.tenant_id;
    let body: SettingsPatch = ctx.json()?;
    Reply::ok(&update_settings(app.profiles.as_ref(), tenant, body, ctx.now).await?)
}

#[cfg(test)]
mod tests {
    use crm_shared::api::http::body_json;
    use crm_shared::api::port::Port;
    use crm_shared::domain::ids::TenantId;
    use crm_shared::domain::money::Currency;
    use crm_shared::store::{Conflict, Revision, StoreError, TenantProfile, TenantProfileStore};
    use crm_shared::testing::{caller_request, unit_app};

    use super::*;

    #[tokio::test]
    async fn a_manager_sets_the_reporting_currency() {
        let (app, _) = unit_app(&[]);
        let req = |role: &str, body: &str| caller_request("PATCH", "/crm/marketing/settings", 6, role, body);
        let resp = handle(&app, req("ceo", r#"{"reporting_currency":"ars"}"#)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(body_json(&resp)["data"]["reporting_currency"], "ARS");
        let profile = app.profiles.get_profile(TenantId(6)).await.expect("get").expect("profile");
        assert_eq!(profile.currency.map(|c| c.code().to_string()), Some("ARS".into()));
        for bad in [r#"{"reporting_currency":"ARX"}"#, r#"{}"#, r#"{"reporting_currency":"USD","zone":"x"}"#] {
            let resp = handle(&app, req("admin", bad)).await;
            assert_eq!(resp.status(), 400, "{bad}");
            assert!(body_json(&resp)["detail"].as_str().is_some_and(|d| !d.is_empty()));
        }
        assert_eq!(handle(&app, req("setter", r#"{"reporting_currency":"USD"}"#)).await.status(), 403);
    }

    /// The profiles, where another save of `racer` lands right after each read (two managers
    /// saving at once, as the one that writes second sees it).
    struct Overtaken {
        inner: std::sync::Arc<dyn TenantProfileStore>,
        racer: TenantProfile,
    }

    #[async_trait::async_trait]
    impl TenantProfileStore for Overtaken {
        async fn get_profile(&self, tenant: TenantId) -> Result<Option<TenantProfile>, StoreError> {
            self.inner.get_profile(tenant).await
        }
        async fn put_profile(&self, profile: &TenantProfile) -> Result<(), StoreError> {
            self.inner.put_profile(profile).await
        }
        async fn profile_at(&self, tenant: TenantId) -> Result<(Option<TenantProfile>, Revision), StoreError> {
            let read = self.inner.profile_at(tenant).await?;
            assert_eq!(self.inner.save_profile(&self.racer, read.1).await?, Ok(read.1.next()), "the racer's save");
            Ok(read)
        }
        async fn save_profile(
            &self,
            p: &TenantProfile,
            expected: Revision,
        ) -> Result<Result<u64, Conflict>, StoreError> {
            self.inner.save_profile(p, expected).await
        }
    }

    #[tokio::test]
    async fn a_save_overtaken_by_another_is_409_conflict_and_the_other_stands() {
        let (mut app, _) = unit_app(&[]);
        let req = |body: &str| caller_request("PATCH", "/crm/marketing/settings", 6, "ceo", body);
        assert_eq!(handle(&app, req(r#"{"reporting_currency":"ARS"}"#)).await.status(), 200);
        let mut racer = app.profiles.get_profile(TenantId(6)).await.expect("get").expect("profile");
        racer.currency = Some(Currency::parse("MXN").expect("currency"));
        let inner = app.profiles.shared();
        app.profiles = Port::other(std::sync::Arc::new(Overtaken { inner: inner.clone(), racer: racer.clone() }));
        let resp = handle(&app, req(r#"{"reporting_currency":"USD"}"#)).await;
        let body = body_json(&resp);
        assert_eq!(resp.status(), 409, "{body}");
        assert_eq!(body["error"]["code"], "conflict");
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("reload them and save again")), "{body}");
        assert_eq!(inner.get_profile(TenantId(6)).await.expect("get"), Some(racer), "the racer's save stands");
        app.profiles = Port::other(inner);
        assert_eq!(handle(&app, req(r#"{"reporting_currency":"USD"}"#)).await.status(), 200, "after a re-read");
    }
}

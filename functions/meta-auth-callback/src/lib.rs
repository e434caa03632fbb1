//! `GET /crm/auth/meta/callback?code&state`: where Meta sends the admin's browser after login.
//!
//! No JWT (it is Meta's redirect): the signed, single-use state identifies tenant and user, and
//! the browser must present the binding cookie `GET /url` set (else `?error=invalid_state`, the
//! state spent). Every outcome is a 302 to `{FRONTEND_URL}/crm/marketing?success=connected` or
//! `?error=<code>` that also clears the cookie — never a JSON page (a time budget ends slow runs
//! with `?error=auth_failed&reason=meta_timeout`), and never the code or the token anywhere. Page
//! claims and the replay of parked leads run after the redirect (`meta.connected` job, run by
//! meta-spend-sync).

use crm_shared::api::http::{run_landing_endpoint, AuditNote, Endpoint, Reply, RequestCtx};
use crm_shared::api::wiring::Wiring;
use crm_shared::meta::login::{self, LoginRefused};
use crm_shared::meta::login_cookie;
use crm_shared::platform::auth::Access;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};
use crm_shared::{ApiError, App};
use lambda_http::http::{header::SET_COOKIE, Method};
use lambda_http::{Body, Request, Response};

/// The secrets this function resolves; nothing else is read. Public (Meta redirects the browser
/// here): the signed OAuth `state` authenticates the call, so it gets the Meta app secret (state
/// key, code exchange) and never the JWT key or admin token.
pub const SECRETS: SecretNeeds = &[SecretName::MetaAppSecret];

/// The AWS clients built besides DynamoDB and Secrets Manager (`crm_shared::api::wiring`; IAM
/// grants match). KMS seals the new token; the bus takes the `meta.connected` follow-up job.
pub const WIRING: Wiring = Wiring::ALL;

pub const ENDPOINT: Endpoint = Endpoint {
    name: "meta-auth-callback",
    method: Method::GET,
    path: "/crm/auth/meta/callback",
    access: Access::Public,
};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    run_landing_endpoint(app, &ENDPOINT, req, limited, |ctx| callback(app, ctx)).await
}

/// A flood from one address (`PUBLIC_RATE_LIMIT_PER_MINUTE`) still lands on the frontend, with
/// `?error=auth_failed&reason=rate_limited`; the state is not spent, so the user can finish
/// within its 10 minutes.
fn limited(app: &App) -> Reply {
    Reply::redirect(login::frontend_redirect(&app.config.frontend_url, Err(LoginRefused::RateLimited)))
}

async fn callback(app: &App, ctx: RequestCtx) -> Result<Reply, ApiError> {
    let outcome = login::complete_login(app.into(), &ctx.query, &ctx.headers, ctx.now).await;
    if let Err(refused) = outcome.result {
        tracing::info!(outcome = refused.code(), "Meta login failed");
    }
    let note = AuditNote {
        tenant_id: outcome.tenant_id,
        user_id: outcome.user_id,
        error_code: outcome.result.err().map(LoginRefused::code),
    };
    let clear = login_cookie::clear_cookie(&login_cookie::cookie_path(&app.config.meta));
    Ok(Reply::redirect(login::frontend_redirect(&app.config.frontend_url, outcome.result))
        .with_header(SET_COOKIE, &clear)
        .with_audit(note))
}

#[cfg(test)]
mod tests {

    use crm_shared::store::audit::Outcome;

    use crm_shared::testing::unit_app;

    use super::*;

    /// The callback as deployed: only its declared secrets (no JWT key, no admin token).
    fn app(meta_secret: Option<&str>) -> (App, crm_shared::api::app::InMemory) {
        let (app, mem) = unit_app(&[
            ("META_APP_ID", "app"),
            ("META_APP_SECRET", meta_secret.unwrap_or("")),
            ("META_REDIRECT_URI", "http://127.0.0.1:8080/crm/auth/meta/callback"),
        ]);
        (app.restricted(SECRETS, WIRING), mem)
    }

    fn meta_redirect(query: &str) -> Request {
        lambda_http::http::Request::builder()
            .uri(format!("/crm/auth/meta/callback?{query}"))
            .body(Body::Empty)
            .expect("request")
    }

    fn location(resp: &Response<Body>) -> &str {
        resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn when_state_is_forged_should_redirect_with_invalid_state_and_write_nothing() {
        let (app, mem) = app(Some("s"));
        let resp = handle(&app, meta_redirect("code=abc&state=tenant_1")).await;
        assert_eq!(resp.status(), 302);
        assert_eq!(location(&resp), "http://localhost:5173/crm/marketing?error=invalid_state");
        assert!(resp.body().as_ref().is_empty());
        assert_eq!(
            resp.headers()["set-cookie"],
            "crm_meta_oauth=; Max-Age=0; Path=/crm/auth/meta/callback; HttpOnly; Secure; SameSite=Lax",
            "every answer clears the binding cookie"
        );
        assert!(mem.store.connections.lock().map(|c| c.is_empty()).unwrap_or(false));
        let audit = mem.audit.entries();
        assert_eq!((audit[0].outcome, audit[0].error_code.as_deref()), (Outcome::Failed, Some("invalid_state")));
    }

    #[tokio::test]
    async fn when_meta_is_not_configured_should_still_redirect_never_json() {
        let (app, _) = app(None);
        let resp = handle(&app, meta_redirect("code=abc&state=x")).await;
        assert_eq!(resp.status(), 302);
        assert_eq!(location(&resp), "http://localhost:5173/crm/marketing?error=auth_failed");
    }

    #[tokio::test]
    async fn when_user_declines_should_redirect_with_access_denied() {
        let (app, _) = app(Some("s"));
        let resp = handle(&app, meta_redirect("error=access_denied&error_reason=user_denied&state=x")).await;
        assert_eq!(location(&resp), "http://localhost:5173/crm/marketing?error=access_denied");
    }

    /// Log lines written while a test runs (JSON, as in Lambda).
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// Every log line of this test binary: one global subscriber (a thread-local one misses
    /// lines when a parallel test registers the same callsites with no subscriber).
    fn global_logs() -> &'static Captured {
        static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        LOGS.get_or_init(|| {
            let captured = Captured::default();
            let subscriber = tracing_subscriber::fmt().json().with_writer(captured.clone()).finish();
            // Another global subscriber may exist only if another test set one: then capture nothing.
            let _ = tracing::subscriber::set_global_default(subscriber);
            captured
        })
    }

    #[tokio::test]
    async fn a_huge_error_in_the_redirect_is_logged_bounded() {
        use crm_shared::platform::telemetry::PEER_TEXT_MAX_CHARS;
        let captured = global_logs();
        let (app, _) = app(Some("s"));
        let (error, description) = ("E".repeat(20_000), "D".repeat(20_000));
        let resp = handle(&app, meta_redirect(&format!("error={error}&error_description={description}&state=x"))).await;
        assert_eq!(location(&resp), "http://localhost:5173/crm/marketing?error=auth_failed");
        let all = String::from_utf8(captured.0.lock().map(|b| b.clone()).unwrap_or_default()).unwrap_or_default();
        // This test's lines (the other tests' lines carry no run of E's).
        let logs: String = all.lines().filter(|l| l.contains("EEEEEEEE")).collect::<Vec<_>>().join("\n");
        assert!(logs.contains("meta_error") && logs.contains(&"E".repeat(PEER_TEXT_MAX_CHARS)), "{logs}");
        assert!(logs.contains(&"D".repeat(PEER_TEXT_MAX_CHARS)), "error_description logged, bounded");
        for long in ["E", "D"].map(|c| c.repeat(PEER_TEXT_MAX_CHARS + 1)) {
            assert!(!logs.contains(&long), "a peer value longer than the bound reached the log");
        }
        assert!(logs.len() < 10_000, "{} bytes of logs for one refused redirect", logs.len());
    }
}

//! The Meta login: the dialog URL with our signed single-use state (and the cookie binding the
//! login to the browser that asked for it, [`crate::meta::login_cookie`]), and the OAuth callback
//! that turns the dialog's code into a stored, KMS-encrypted long-lived token.
//!
//! The callback always answers with a redirect to the frontend; its failures are [`LoginRefused`]
//! codes. It runs inside a time budget (`META_CALLBACK_BUDGET_MS`, 20 s: API Gateway gives up
//! at 29 s), so the browser gets `?error=auth_failed&reason=meta_timeout` rather than a gateway
//! error; the single-use code is exchanged exactly once (no retry); the connection is written conditionally
//! on what was stored when the callback began ([`crate::meta::connection_writes`]); and the slow
//! follow-up (page claims, replay of parked leads) runs after the redirect as a `meta.connected`
//! job ([`crate::meta::follow_up`]). Never logs the code or a token.

use std::time::Duration as StdDuration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::Serialize;
use url::Url;

use crate::domain::ids::TenantId;
use crate::meta::access::{app_secret, graph_client, single_attempt};
use crate::meta::connection_writes::{store_login, SameLogin};
pub use crate::meta::error::LoginRefused;
use crate::meta::error::MetaFlowError;
use crate::meta::graph::{GraphClient, TokenInfo, OAUTH_SCOPES};
use crate::meta::login_cookie;
use crate::meta::oauth_state::{self, StateClaims, StateKey, StoredState, STATE_TTL_SECS};
use crate::meta::ports::{ConnectionPorts, MetaPorts};
use crate::platform::auth::Caller;
use crate::platform::config::Config;
use crate::platform::secrets::SecretString;
use crate::platform::telemetry::peer_text;
use crate::store::connected_index::ConnectedTenant;
use crate::store::ratelimit::{RateBucket, RateDecision};
use crate::store::{ConnectionSlot, ConnectionStatus, MetaConnection};

/// The callback's route name in rate-limit buckets (its function's name).
const CALLBACK_ROUTE: &str = "meta-auth-callback";

// ------------------------------------------------------------------------------------ login URL

/// `data` of `GET /crm/auth/meta/url`.
#[derive(Debug, Clone, Serialize)]
pub struct AuthUrl {
    pub auth_url: String,
    /// Seconds the URL's state stays valid.
    pub expires_in: i64,
}

/// A started login: the URL for the frontend and the `Set-Cookie` value binding this browser.
#[derive(Debug, Clone)]
pub struct StartedLogin {
    pub url: AuthUrl,
    pub set_cookie: String,
}

/// Issues and stores a single-use state for the caller and builds the Meta login-dialog URL.
pub async fn start_login(
    ports: ConnectionPorts<'_>,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<StartedLogin, MetaFlowError> {
    let meta = &ports.meta.config.meta;
    let app_id = Config::require(&meta.app_id, "META_APP_ID")?;
    let redirect_uri = Config::require(&meta.redirect_uri, "META_REDIRECT_URI")?;
    let key = StateKey::derive(&app_secret(ports.meta).await?);
    let (state, claims) = oauth_state::issue(&key, caller.tenant_id, &caller.user_id, now);
    ports.oauth_states.save_state(&StoredState::from(&claims)).await?;

    let mut url = meta.dialog_base_url.clone();
    let base_path = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{base_path}/{}/dialog/oauth", meta.graph_api_version));
    url.query_pairs_mut()
        .append_pair("client_id", app_id)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("state", &state)
        .append_pair("scope", &OAUTH_SCOPES.join(","))
        .append_pair("response_type", "code");
    let set_cookie = login_cookie::set_cookie(&claims.nonce, &login_cookie::cookie_path(meta), STATE_TTL_SECS);
    Ok(StartedLogin { url: AuthUrl { auth_url: url.into(), expires_in: STATE_TTL_SECS }, set_cookie })
}

// ------------------------------------------------------------------------------------- callback

/// Where the callback sends the browser: `{FRONTEND_URL}/crm/marketing?success=connected` or
/// `?error=<a code the frontend knows>`, plus `&reason=<precise code>` when they differ (e.g.
/// `?error=auth_failed&reason=meta_timeout`).
pub fn frontend_redirect(frontend: &Url, outcome: Result<(), LoginRefused>) -> String {
    let base = frontend.as_str().trim_end_matches('/');
    match outcome {
        Ok(()) => format!("{base}/crm/marketing?success=connected"),
        Err(refused) if refused.frontend_code() == refused.code() => {
            format!("{base}/crm/marketing?error={}", refused.code())
        }
        Err(refused) => format!("{base}/crm/marketing?error={}&reason={}", refused.frontend_code(), refused.code()),
    }
}

/// The callback's outcome and, once the state proved them, the tenant and user (for the audit
/// record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    pub result: Result<(), LoginRefused>,
    pub tenant_id: Option<TenantId>,
    pub user_id: Option<String>,
}

/// Runs the whole callback inside its time budget. `headers` are the request's (the binding
/// cookie).
pub async fn complete_login(
    ports: ConnectionPorts<'_>,
    query: &[(String, String)],
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> LoginOutcome {
    let budget = ports.meta.config.meta.callback_budget;
    let mut who: Option<(TenantId, String)> = None;
    let result = within_budget(budget, complete_login_steps(ports, query, headers, now, &mut who)).await;
    let (tenant_id, user_id) = match who {
        Some((t, u)) => (Some(t), Some(u)),
        None => (None, None),
    };
    LoginOutcome { result, tenant_id, user_id }
}

/// `steps`, or [`LoginRefused::MetaTimeout`] once `budget` is spent. The steps are dropped where
/// they are: a state already taken stays taken, a write already sent may still land (the next
/// login writes over it), and the user starts again.
async fn within_budget<F>(budget: StdDuration, steps: F) -> Result<(), LoginRefused>
where
    F: std::future::Future<Output = Result<(), LoginRefused>>,
{
    match tokio::time::timeout(budget, steps).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(budget_ms = budget.as_millis() as u64, "Meta login ran out of its time budget");
            Err(LoginRefused::MetaTimeout)
        }
    }
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// State → single use → browser binding → code exchange → stored connection → follow-up job.
async fn complete_login_steps(
    ports: ConnectionPorts<'_>,
    query: &[(String, String)],
    headers: &HeaderMap,
    now: DateTime<Utc>,
    who: &mut Option<(TenantId, String)>,
) -> Result<(), LoginRefused> {
    let claims = verified_state(ports, query, now, who).await?;
    let tenant = claims.tenant_id;
    *who = Some((tenant, claims.user_id.clone()));
    tracing::Span::current().record("tenant_id", tenant.0);
    let stored = consume_state(ports, &claims, now).await?;
    // After the state is taken: a state used from a browser without the binding is spent too.
    // Such a callback comes from another browser (a shared or leaked link); the browser that
    // started the login can no longer finish with that state either and simply starts again.
    if !login_cookie::presented(headers, &claims.nonce) {
        tracing::warn!(tenant_id = tenant.0, "OAuth state presented without its browser binding cookie");
        return Err(LoginRefused::InvalidState);
    }

    let code = param(query, "code").filter(|c| c.len() <= 4096).ok_or(LoginRefused::AuthFailed)?;
    // What is stored now: the write below expects it still (a login or disconnect while this
    // callback waits on Meta wins).
    let slot = ports.meta.connections.read_connection(tenant).await.map_err(|e| {
        tracing::error!(error = %e, "connection could not be read");
        LoginRefused::AuthFailed
    })?;
    let graph = graph_client(ports.meta).await.map_err(|e| {
        tracing::error!(error = %e, "Graph client unavailable");
        LoginRefused::AuthFailed
    })?;
    let token = exchange_code(ports.meta, &graph, code, now).await?;
    store_connection(ports, tenant, &slot, stored.user_id, &token, now).await?;
    crate::meta::follow_up::request(ports.job_bus, tenant).await;
    tracing::info!(tenant_id = tenant.0, "Meta connected");
    Ok(())
}

/// The claims of a state whose signature and expiry hold (no database access). A dialog the user
/// declined or Meta failed (`error=`) burns its state, so it cannot be replayed, and ends here.
async fn verified_state(
    ports: ConnectionPorts<'_>,
    query: &[(String, String)],
    now: DateTime<Utc>,
    who: &mut Option<(TenantId, String)>,
) -> Result<StateClaims, LoginRefused> {
    let secret = app_secret(ports.meta).await.map_err(|_| LoginRefused::AuthFailed)?;
    let key = StateKey::derive(&secret);
    let claims = param(query, "state").map(|s| oauth_state::verify(&key, s, now));

    if let Some(error) = param(query, "error") {
        // The user declined (error=access_denied, error_reason=user_denied) or Meta failed.
        if let Some(Ok(c)) = &claims {
            *who = Some((c.tenant_id, c.user_id.clone()));
            let _ = ports.oauth_states.take_state(&c.nonce, c.tenant_id, &c.user_id).await;
        }
        // Meta's (or anyone's) query values: bounded before they reach a log line.
        tracing::info!(
            meta_error = %peer_text(error),
            meta_error_reason = %peer_text(param(query, "error_reason").unwrap_or("")),
            meta_error_description = %peer_text(param(query, "error_description").unwrap_or("")),
            "Meta login was not completed"
        );
        return Err(if error == "access_denied" { LoginRefused::AccessDenied } else { LoginRefused::AuthFailed });
    }
    match claims {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => {
            tracing::info!(reason = %e, "OAuth state refused");
            Err(LoginRefused::InvalidState)
        }
        None => Err(LoginRefused::InvalidState),
    }
}

/// Rate-limits the callback like an authenticated route (the user of the signed state on this
/// route, then the tenant's ceiling), then takes the stored state (once, same tenant and user,
/// not expired: TTL deletion is lazy, so the stored expiry is checked too).
async fn consume_state(
    ports: ConnectionPorts<'_>,
    claims: &StateClaims,
    now: DateTime<Utc>,
) -> Result<StoredState, LoginRefused> {
    let tenant = claims.tenant_id;
    let config = ports.meta.config;
    let limits = [
        (RateBucket::user_route(tenant, &claims.user_id, CALLBACK_ROUTE), config.rate_limit_per_minute),
        (RateBucket::tenant(tenant), config.tenant_rate_limit_per_minute),
    ];
    for (bucket, limit) in limits {
        match ports.rate_limiter.check(&bucket, now, limit).await {
            Ok(RateDecision::Allowed { .. }) => {}
            Ok(RateDecision::Limited { .. }) => return Err(LoginRefused::RateLimited),
            Err(e) => {
                tracing::error!(error = %e, "rate limiter unavailable");
                return Err(LoginRefused::AuthFailed);
            }
        }
    }
    let stored = match ports.oauth_states.take_state(&claims.nonce, tenant, &claims.user_id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::info!("OAuth state unknown, reused or bound to another tenant");
            return Err(LoginRefused::InvalidState);
        }
        Err(e) => {
            tracing::error!(error = %e, "OAuth state could not be consumed");
            return Err(LoginRefused::AuthFailed);
        }
    };
    if stored.expires_at <= now {
        return Err(LoginRefused::InvalidState);
    }
    Ok(stored)
}

/// The long-lived token of a login and what `debug_token` says about it.
struct NewToken {
    token: SecretString,
    info: TokenInfo,
    expires_at: Option<DateTime<Utc>>,
}

/// Code → short-lived → long-lived token, checked with `debug_token` (valid, and ours). The code
/// is single-use, so its exchange is attempted exactly once (a retry after a timeout or a 5xx
/// would only get "code already used"); the other two calls follow the retry policy.
async fn exchange_code(
    meta: MetaPorts<'_>,
    graph: &GraphClient,
    code: &str,
    now: DateTime<Utc>,
) -> Result<NewToken, LoginRefused> {
    let redirect_uri = meta.config.meta.redirect_uri.clone().ok_or_else(|| {
        tracing::error!("META_REDIRECT_URI is not configured");
        LoginRefused::AuthFailed
    })?;
    let short = single_attempt(meta, graph).exchange_code(code, &redirect_uri).await.map_err(|e| {
        tracing::warn!(error = %e, "Meta refused or did not answer the code exchange (not retried)");
        LoginRefused::TokenExchangeFailed
    })?;
    let long = graph.exchange_long_lived(&short.token).await.map_err(|_| LoginRefused::TokenExchangeFailed)?;
    let info = graph.debug_token(&long.token).await.map_err(|_| LoginRefused::AuthFailed)?;
    if !info.is_valid || info.app_id.as_deref().is_some_and(|a| a != graph.settings().app_id) {
        tracing::warn!(is_valid = info.is_valid, "debug_token refused the new token");
        return Err(LoginRefused::AuthFailed);
    }
    let expires_at = info.expires_at.or_else(|| long.expires_at(now));
    Ok(NewToken { token: long.token, info, expires_at })
}

/// Encrypts the token under the tenant's context and stores the connection over what the callback
/// read when it began (`slot`), plus its connected-index entry (first: an entry without a
/// connection is harmless — the spend sync finds nothing to sync — a connection without its entry
/// would never be synced). A re-login of the same Meta user
/// keeps the tenant's selection of business and ad accounts; another Meta user starts from an
/// empty selection. A login stored or a disconnect made while this callback waited on Meta wins:
/// [`LoginRefused::ConnectionChanged`].
async fn store_connection(
    ports: ConnectionPorts<'_>,
    tenant: TenantId,
    slot: &ConnectionSlot,
    connected_by: String,
    new: &NewToken,
    now: DateTime<Utc>,
) -> Result<(), LoginRefused> {
    let ciphertext = ports.meta.cipher.encrypt(tenant, &new.token).await.map_err(|e| {
        tracing::error!(error = %e, "token could not be encrypted");
        LoginRefused::AuthFailed
    })?;
    let info = &new.info;
    let build = |previous: Option<&MetaConnection>| {
        let previous = previous.filter(|p| p.meta_user_id.is_some() && p.meta_user_id == info.user_id);
        MetaConnection {
            tenant_id: tenant,
            token_ciphertext_b64: B64.encode(&ciphertext),
            status: ConnectionStatus::Active,
            meta_user_id: info.user_id.clone(),
            expires_at: new.expires_at,
            data_access_expires_at: info.data_access_expires_at,
            scopes: info.scopes.clone(),
            business_id: previous.and_then(|p| p.business_id.clone()),
            business_name: previous.and_then(|p| p.business_name.clone()),
            ad_account_ids: previous.map(|p| p.ad_account_ids.clone()).unwrap_or_default(),
            ad_account_name: previous.and_then(|p| p.ad_account_name.clone()),
            connected_at: now,
            connected_by: connected_by.clone(),
            updated_at: now,
            revision: None,
        }
    };
    let failed = |e: crate::store::StoreError| {
        tracing::error!(error = %e, "connection could not be stored");
        LoginRefused::AuthFailed
    };
    let entry = ConnectedTenant { tenant_id: tenant, connected_at: now };
    ports.connected_index.mark_connected(&entry).await.map_err(failed)?;
    match store_login(ports.meta.connections, slot, build).await.map_err(failed)? {
        SameLogin::Superseded => {
            tracing::warn!(
                tenant_id = tenant.0,
                "a newer login or a disconnect happened during this callback; it wins"
            );
            Err(LoginRefused::ConnectionChanged)
        }
        SameLogin::Written(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_redirects_to_the_frontend_marketing_page() {
        let f = Url::parse("http://localhost:5173").expect("url");
        assert_eq!(frontend_redirect(&f, Ok(())), "http://localhost:5173/crm/marketing?success=connected");
        assert_eq!(
            frontend_redirect(&f, Err(LoginRefused::InvalidState)),
            "http://localhost:5173/crm/marketing?error=invalid_state"
        );
        let sub = Url::parse("https://crm.example.com/app/").expect("url");
        assert_eq!(
            frontend_redirect(&sub, Err(LoginRefused::AuthFailed)),
            "https://crm.example.com/app/crm/marketing?error=auth_failed"
        );
    }

    #[test]
    fn the_error_is_always_one_the_frontend_knows_with_the_precise_reason_beside_it() {
        // FRONTEND-CONTRACT: the UI knows these (access_denied "may be added").
        let known = ["auth_failed", "token_exchange_failed", "invalid_state", "missing_tenant", "access_denied"];
        let f = Url::parse("http://localhost:5173").expect("url");
        for refused in LoginRefused::ALL {
            let to = Url::parse(&frontend_redirect(&f, Err(refused))).expect("url");
            let q: std::collections::HashMap<String, String> = to.query_pairs().into_owned().collect();
            assert!(known.contains(&q["error"].as_str()), "{refused:?} → {to}");
            let precise = q.get("reason").unwrap_or(&q["error"]);
            assert_eq!(precise, refused.code(), "{refused:?}");
        }
        assert_eq!(
            frontend_redirect(&f, Err(LoginRefused::MetaTimeout)),
            "http://localhost:5173/crm/marketing?error=auth_failed&reason=meta_timeout"
        );
    }
}

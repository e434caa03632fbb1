//! The Meta login: the dialog URL with our signed single-use state, and the OAuth callback that
//! turns the dialog's code into a stored, KMS-encrypted long-lived token (then maps the tenant's
//! pages and replays its parked lead-ads leads). The callback always answers with a redirect to
//! the frontend; its failures are [`LoginRefused`] codes. Never logs the code or a token.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use url::Url;

use crate::api::app::App;
use crate::domain::ids::TenantId;
use crate::meta::access::{app_secret, graph_client};
pub use crate::meta::error::LoginRefused;
use crate::meta::error::MetaFlowError;
use crate::meta::graph::{GraphClient, TokenInfo, OAUTH_SCOPES};
use crate::meta::oauth_state::{self, StateClaims, StateKey, StoredState, STATE_TTL_SECS};
use crate::platform::auth::Caller;
use crate::platform::config::Config;
use crate::platform::secrets::SecretString;
use crate::platform::telemetry::peer_text;
use crate::store::connected_index::ConnectedTenant;
use crate::store::ratelimit::{RateBucket, RateDecision};

/// The callback's route name in rate-limit buckets (its function's name).
const CALLBACK_ROUTE: &str = "meta-auth-callback";
use crate::store::{ConnectionStatus, MetaConnection};

// ------------------------------------------------------------------------------------ login URL

/// `data` of `GET /crm/auth/meta/url`.
#[derive(Debug, Clone, Serialize)]
pub struct AuthUrl {
    pub auth_url: String,
    /// Seconds the URL's state stays valid.
    pub expires_in: i64,
}

/// Issues and stores a single-use state for the caller and builds the Meta login-dialog URL.
pub async fn start_login(app: &App, caller: &Caller, now: DateTime<Utc>) -> Result<AuthUrl, MetaFlowError> {
    let meta = &app.config.meta;
    let app_id = Config::require(&meta.app_id, "META_APP_ID")?;
    let redirect_uri = Config::require(&meta.redirect_uri, "META_REDIRECT_URI")?;
    let key = StateKey::derive(&app_secret(app).await?);
    let (state, claims) = oauth_state::issue(&key, caller.tenant_id, &caller.user_id, now);
    app.oauth_states.save_state(&StoredState::from(&claims)).await?;

    let mut url = meta.dialog_base_url.clone();
    let base_path = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("{base_path}/{}/dialog/oauth", meta.graph_api_version));
    url.query_pairs_mut()
        .append_pair("client_id", app_id)
        .append_pair("redirect_uri", redirect_uri.as_str())
        .append_pair("state", &state)
        .append_pair("scope", &OAUTH_SCOPES.join(","))
        .append_pair("response_type", "code");
    Ok(AuthUrl { auth_url: url.into(), expires_in: STATE_TTL_SECS })
}

// ------------------------------------------------------------------------------------- callback

/// Where the callback sends the browser: `{FRONTEND_URL}/crm/marketing?success=connected` or
/// `?error=<code>`.
pub fn frontend_redirect(frontend: &Url, outcome: Result<(), LoginRefused>) -> String {
    let base = frontend.as_str().trim_end_matches('/');
    match outcome {
        Ok(()) => format!("{base}/crm/marketing?success=connected"),
        Err(refused) => format!("{base}/crm/marketing?error={}", refused.code()),
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

/// Runs the whole callback.
pub async fn complete_login(app: &App, query: &[(String, String)], now: DateTime<Utc>) -> LoginOutcome {
    let mut who: Option<(TenantId, String)> = None;
    let result = complete_login_steps(app, query, now, &mut who).await;
    let (tenant_id, user_id) = match who {
        Some((t, u)) => (Some(t), Some(u)),
        None => (None, None),
    };
    LoginOutcome { result, tenant_id, user_id }
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

/// State → single use → code exchange → stored connection → pages and parked leads.
async fn complete_login_steps(
    app: &App,
    query: &[(String, String)],
    now: DateTime<Utc>,
    who: &mut Option<(TenantId, String)>,
) -> Result<(), LoginRefused> {
    let claims = verified_state(app, query, now, who).await?;
    let tenant = claims.tenant_id;
    *who = Some((tenant, claims.user_id.clone()));
    tracing::Span::current().record("tenant_id", tenant.0);
    let stored = consume_state(app, &claims, now).await?;

    let code = param(query, "code").filter(|c| c.len() <= 4096).ok_or(LoginRefused::AuthFailed)?;
    let graph = graph_client(app).await.map_err(|e| {
        tracing::error!(error = %e, "Graph client unavailable");
        LoginRefused::AuthFailed
    })?;
    let token = exchange_code(app, &graph, code, now).await?;
    let conn = store_connection(app, tenant, stored.user_id, &token, now).await?;
    after_connect(app, &graph, &conn, &token.token, now).await;
    tracing::info!(tenant_id = tenant.0, "Meta connected");
    Ok(())
}

/// The claims of a state whose signature and expiry hold (no database access). A dialog the user
/// declined or Meta failed (`error=`) burns its state, so it cannot be replayed, and ends here.
async fn verified_state(
    app: &App,
    query: &[(String, String)],
    now: DateTime<Utc>,
    who: &mut Option<(TenantId, String)>,
) -> Result<StateClaims, LoginRefused> {
    let secret = app_secret(app).await.map_err(|_| LoginRefused::AuthFailed)?;
    let key = StateKey::derive(&secret);
    let claims = param(query, "state").map(|s| oauth_state::verify(&key, s, now));

    if let Some(error) = param(query, "error") {
        // The user declined (error=access_denied, error_reason=user_denied) or Meta failed.
        if let Some(Ok(c)) = &claims {
            *who = Some((c.tenant_id, c.user_id.clone()));
            let _ = app.oauth_states.take_state(&c.nonce, c.tenant_id, &c.user_id).await;
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
async fn consume_state(app: &App, claims: &StateClaims, now: DateTime<Utc>) -> Result<StoredState, LoginRefused> {
    let tenant = claims.tenant_id;
    let limits = [
        (RateBucket::user_route(tenant, &claims.user_id, CALLBACK_ROUTE), app.config.rate_limit_per_minute),
        (RateBucket::tenant(tenant), app.config.tenant_rate_limit_per_minute),
    ];
    for (bucket, limit) in limits {
        match app.rate_limiter.check(&bucket, now, limit).await {
            Ok(RateDecision::Allowed { .. }) => {}
            Ok(RateDecision::Limited { .. }) => return Err(LoginRefused::RateLimited),
            Err(e) => {
                tracing::error!(error = %e, "rate limiter unavailable");
                return Err(LoginRefused::AuthFailed);
            }
        }
    }
    let stored = match app.oauth_states.take_state(&claims.nonce, tenant, &claims.user_id).await {
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

/// Code → short-lived → long-lived token, checked with `debug_token` (valid, and ours).
async fn exchange_code(
    app: &App,
    graph: &GraphClient,
    code: &str,
    now: DateTime<Utc>,
) -> Result<NewToken, LoginRefused> {
    let redirect_uri = app.config.meta.redirect_uri.clone().ok_or_else(|| {
        tracing::error!("META_REDIRECT_URI is not configured");
        LoginRefused::AuthFailed
    })?;
    let short = graph.exchange_code(code, &redirect_uri).await.map_err(|_| LoginRefused::TokenExchangeFailed)?;
    let long = graph.exchange_long_lived(&short.token).await.map_err(|_| LoginRefused::TokenExchangeFailed)?;
    let info = graph.debug_token(&long.token).await.map_err(|_| LoginRefused::AuthFailed)?;
    if !info.is_valid || info.app_id.as_deref().is_some_and(|a| a != graph.settings().app_id) {
        tracing::warn!(is_valid = info.is_valid, "debug_token refused the new token");
        return Err(LoginRefused::AuthFailed);
    }
    let expires_at = info.expires_at.or_else(|| long.expires_at(now));
    Ok(NewToken { token: long.token, info, expires_at })
}

/// Encrypts the token under the tenant's context and stores the connection (plus its
/// connected-index entry). A re-login of the same Meta user (expired token) keeps the tenant's
/// selection of business and ad accounts; another Meta user starts from an empty selection.
async fn store_connection(
    app: &App,
    tenant: TenantId,
    connected_by: String,
    new: &NewToken,
    now: DateTime<Utc>,
) -> Result<MetaConnection, LoginRefused> {
    let ciphertext = app.cipher.encrypt(tenant, &new.token).await.map_err(|e| {
        tracing::error!(error = %e, "token could not be encrypted");
        LoginRefused::AuthFailed
    })?;
    let previous = app.connections.get_connection(tenant).await.map_err(|e| {
        tracing::error!(error = %e, "connection could not be read");
        LoginRefused::AuthFailed
    })?;
    let info = &new.info;
    let previous = previous.filter(|p| p.meta_user_id.is_some() && p.meta_user_id == info.user_id);
    let conn = MetaConnection {
        tenant_id: tenant,
        token_ciphertext_b64: B64.encode(ciphertext),
        status: ConnectionStatus::Active,
        meta_user_id: info.user_id.clone(),
        expires_at: new.expires_at,
        data_access_expires_at: info.data_access_expires_at,
        scopes: info.scopes.clone(),
        business_id: previous.as_ref().and_then(|p| p.business_id.clone()),
        business_name: previous.as_ref().and_then(|p| p.business_name.clone()),
        ad_account_ids: previous.as_ref().map(|p| p.ad_account_ids.clone()).unwrap_or_default(),
        ad_account_name: previous.as_ref().and_then(|p| p.ad_account_name.clone()),
        connected_at: now,
        connected_by,
        updated_at: now,
    };
    let saved = async {
        app.connections.put_connection(&conn).await?;
        app.connected_index.mark_connected(&ConnectedTenant { tenant_id: tenant, connected_at: now }).await
    };
    saved.await.map_err(|e| {
        tracing::error!(error = %e, "connection could not be stored");
        LoginRefused::AuthFailed
    })?;
    Ok(conn)
}

/// Best effort after a connect: lead-ads webhooks name a page, not a tenant, so the pages this
/// token manages are mapped to the tenant; leads parked while the token was expired are not
/// re-delivered by Meta, so they are replayed now.
async fn after_connect(
    app: &App,
    graph: &GraphClient,
    conn: &MetaConnection,
    token: &SecretString,
    now: DateTime<Utc>,
) {
    let tenant = conn.tenant_id;
    crate::meta::pages::register_managed_pages(app.pages.as_ref(), app.connections.as_ref(), graph, token, tenant, now)
        .await;
    if let Err(e) = crate::meta::leadgen::replay_open_leads(app, graph, conn, token, now).await {
        tracing::warn!(tenant_id = tenant.0, error = %e, "open lead-ads leads could not be replayed; they stay open");
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
}

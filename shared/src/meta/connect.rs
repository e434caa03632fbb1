//! Connecting a tenant's Meta account: the login URL, the OAuth callback, disconnect, listing
//! portfolios and ad accounts, and selecting what the tenant reports on. The functions in
//! `functions/meta-*` are thin wrappers over these.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::api::app::App;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::zone::Zone;
pub use crate::meta::access::{app_secret, graph_client, meta_failure, usable_token};
use crate::meta::graph::{AdAccount, Business, GraphClient, GraphSettings, MetaError, RetryPolicy, OAUTH_SCOPES};
use crate::meta::oauth_state::{self, StateKey, StoredState, STATE_TTL_SECS};
use crate::platform::auth::Caller;
use crate::platform::config::Config;
use crate::platform::error::ApiError;
use crate::platform::secrets::SecretString;
use crate::store::connected_index::ConnectedTenant;
use crate::store::ratelimit::RateDecision;
use crate::store::{ConnectionStatus, MetaConnection, TenantProfile};

/// Most ad accounts one tenant may select.
pub const MAX_SELECTED_ACCOUNTS: usize = 50;

// ------------------------------------------------------------------------------------ login URL

/// `data` of `GET /crm/auth/meta/url`.
#[derive(Debug, Clone, Serialize)]
pub struct AuthUrl {
    pub auth_url: String,
    /// Seconds the URL's state stays valid.
    pub expires_in: i64,
}

/// Issues and stores a single-use state for the caller and builds the Meta login-dialog URL.
pub async fn start_login(app: &App, caller: &Caller, now: DateTime<Utc>) -> Result<AuthUrl, ApiError> {
    let meta = &app.config.meta;
    let app_id = Config::require(&meta.app_id, "META_APP_ID").map_err(ApiError::internal)?;
    let redirect_uri = Config::require(&meta.redirect_uri, "META_REDIRECT_URI").map_err(ApiError::internal)?;
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

/// Error codes of the callback redirect (the frontend knows these).
pub mod redirect_code {
    pub const INVALID_STATE: &str = "invalid_state";
    pub const TOKEN_EXCHANGE_FAILED: &str = "token_exchange_failed";
    pub const AUTH_FAILED: &str = "auth_failed";
    pub const ACCESS_DENIED: &str = "access_denied";
    pub const RATE_LIMITED: &str = "rate_limited";
}

/// Where the callback sends the browser: `{FRONTEND_URL}/crm/marketing?success=connected` or
/// `?error=<code>`.
pub fn frontend_redirect(frontend: &Url, outcome: Result<(), &'static str>) -> String {
    let base = frontend.as_str().trim_end_matches('/');
    match outcome {
        Ok(()) => format!("{base}/crm/marketing?success=connected"),
        Err(code) => format!("{base}/crm/marketing?error={code}"),
    }
}

/// The callback's outcome: the redirect's error code (if any) and, once the state proved them,
/// the tenant and user (for the audit record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    pub result: Result<(), &'static str>,
    pub tenant_id: Option<TenantId>,
    pub user_id: Option<String>,
}

/// Runs the whole callback. Never logs the code or a token.
pub async fn complete_login(app: &App, query: &[(String, String)], now: DateTime<Utc>) -> LoginOutcome {
    let mut who: Option<(TenantId, String)> = None;
    let result = complete_login_steps(app, query, now, &mut who).await;
    let (tenant_id, user_id) = match who {
        Some((t, u)) => (Some(t), Some(u)),
        None => (None, None),
    };
    LoginOutcome { result, tenant_id, user_id }
}

async fn complete_login_steps(
    app: &App,
    query: &[(String, String)],
    now: DateTime<Utc>,
    who: &mut Option<(TenantId, String)>,
) -> Result<(), &'static str> {
    use redirect_code::*;
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());

    let secret = app_secret(app).await.map_err(|_| AUTH_FAILED)?;
    let key = StateKey::derive(&secret);
    let claims = param("state").map(|s| oauth_state::verify(&key, s, now));

    if let Some(error) = param("error") {
        // The user declined (error=access_denied, error_reason=user_denied) or Meta failed:
        // burn the state so it cannot be replayed, write nothing else.
        if let Some(Ok(c)) = &claims {
            *who = Some((c.tenant_id, c.user_id.clone()));
            let _ = app.oauth_states.take_state(&c.nonce, c.tenant_id, &c.user_id).await;
        }
        tracing::info!(meta_error = error, "Meta login was not completed");
        return Err(if error == "access_denied" { ACCESS_DENIED } else { AUTH_FAILED });
    }

    let claims = match claims {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            tracing::info!(reason = %e, "OAuth state refused");
            return Err(INVALID_STATE);
        }
        None => return Err(INVALID_STATE),
    };
    let tenant = claims.tenant_id;
    *who = Some((tenant, claims.user_id.clone()));
    tracing::Span::current().record("tenant_id", tenant.0);
    match app.rate_limiter.check(tenant, now, app.config.rate_limit_per_minute).await {
        Ok(RateDecision::Allowed { .. }) => {}
        Ok(RateDecision::Limited { .. }) => return Err(RATE_LIMITED),
        Err(e) => {
            tracing::error!(error = %e, "rate limiter unavailable");
            return Err(AUTH_FAILED);
        }
    }
    let stored = match app.oauth_states.take_state(&claims.nonce, tenant, &claims.user_id).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            tracing::info!("OAuth state unknown, reused or bound to another tenant");
            return Err(INVALID_STATE);
        }
        Err(e) => {
            tracing::error!(error = %e, "OAuth state could not be consumed");
            return Err(AUTH_FAILED);
        }
    };
    // TTL deletion is lazy: the stored expiry is authoritative too.
    if stored.expires_at <= now {
        return Err(INVALID_STATE);
    }

    let code = param("code").filter(|c| c.len() <= 4096).ok_or(AUTH_FAILED)?;
    let redirect_uri = app.config.meta.redirect_uri.clone().ok_or_else(|| {
        tracing::error!("META_REDIRECT_URI is not configured");
        AUTH_FAILED
    })?;
    let graph = graph_client(app).await.map_err(|e| {
        tracing::error!(error = %e, "Graph client unavailable");
        AUTH_FAILED
    })?;
    let short = graph.exchange_code(code, &redirect_uri).await.map_err(|_| TOKEN_EXCHANGE_FAILED)?;
    let long = graph.exchange_long_lived(&short.token).await.map_err(|_| TOKEN_EXCHANGE_FAILED)?;
    let info = graph.debug_token(&long.token).await.map_err(|_| AUTH_FAILED)?;
    if !info.is_valid || info.app_id.as_deref().is_some_and(|a| a != graph.settings().app_id) {
        tracing::warn!(is_valid = info.is_valid, "debug_token refused the new token");
        return Err(AUTH_FAILED);
    }
    let expires_at = info.expires_at.or_else(|| long.expires_in.filter(|s| *s > 0).map(|s| now + Duration::seconds(s)));

    let ciphertext = app.cipher.encrypt(tenant, &long.token).await.map_err(|e| {
        tracing::error!(error = %e, "token could not be encrypted");
        AUTH_FAILED
    })?;
    let previous = app.connections.get_connection(tenant).await.map_err(|e| {
        tracing::error!(error = %e, "connection could not be read");
        AUTH_FAILED
    })?;
    // A re-login of the same Meta user (expired token) keeps the tenant's selection of business
    // and ad accounts; another Meta user starts from an empty selection.
    let previous = previous.filter(|p| p.meta_user_id.is_some() && p.meta_user_id == info.user_id);
    let conn = MetaConnection {
        tenant_id: tenant,
        token_ciphertext_b64: B64.encode(ciphertext),
        status: ConnectionStatus::Active,
        meta_user_id: info.user_id,
        expires_at,
        data_access_expires_at: info.data_access_expires_at,
        scopes: info.scopes,
        business_id: previous.as_ref().and_then(|p| p.business_id.clone()),
        business_name: previous.as_ref().and_then(|p| p.business_name.clone()),
        ad_account_ids: previous.as_ref().map(|p| p.ad_account_ids.clone()).unwrap_or_default(),
        ad_account_name: previous.as_ref().and_then(|p| p.ad_account_name.clone()),
        connected_at: now,
        connected_by: stored.user_id,
        updated_at: now,
    };
    let saved = async {
        app.connections.put_connection(&conn).await?;
        app.connected_index.mark_connected(&ConnectedTenant { tenant_id: tenant, connected_at: now }).await
    };
    saved.await.map_err(|e| {
        tracing::error!(error = %e, "connection could not be stored");
        AUTH_FAILED
    })?;
    // Lead-ads webhooks name a page, not a tenant: map the pages this token manages to the tenant.
    crate::meta::pages::register_managed_pages(app, &graph, &long.token, tenant, now).await;
    // Leads parked while the token was expired: Meta will not re-deliver them, so bring them in now.
    if app.dynamo.is_some() {
        if let Err(e) = crate::meta::leadgen::replay_open_leads(app, &graph, &conn, &long.token, now).await {
            tracing::warn!(tenant_id = tenant.0, error = %e, "open lead-ads leads could not be replayed; they stay open");
        }
    }
    tracing::info!(tenant_id = tenant.0, "Meta connected");
    Ok(())
}

/// Business Managers the connected user can see.
pub async fn list_portfolios(app: &App, tenant: TenantId, now: DateTime<Utc>) -> Result<Vec<Business>, ApiError> {
    let (conn, token) = usable_token(app, tenant, now).await?;
    let graph = graph_client(app).await?;
    match graph.businesses(&token).await {
        Ok(b) => Ok(b),
        Err(e) => Err(meta_failure(app, &conn, e, now).await),
    }
}

/// A Meta object id as typed by a user: digits only (never a path).
fn meta_id(raw: &str, what: &str) -> Result<String, ApiError> {
    let id = raw.trim();
    if !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit()) {
        Ok(id.to_string())
    } else {
        Err(ApiError::bad_request("invalid_parameter", format!("{what} must be a numeric Meta id")))
    }
}

/// `act_123` or `123` → `act_123`.
pub fn normalize_ad_account_id(raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    let digits = t.strip_prefix("act_").unwrap_or(t);
    meta_id(digits, "ad account id").map(|d| format!("act_{d}")).map_err(|_| {
        ApiError::bad_request("invalid_account_id", format!("{t:?} is not an ad account id (expected act_<digits>)"))
    })
}

async fn visible_accounts(
    graph: &GraphClient,
    token: &SecretString,
    business_id: Option<&str>,
) -> Result<Vec<AdAccount>, MetaError> {
    match business_id {
        Some(b) => graph.business_ad_accounts(token, b).await,
        None => graph.user_ad_accounts(token).await,
    }
}

/// Ad accounts of one business (`portfolio_id`) or of the user.
pub async fn list_ad_accounts(
    app: &App,
    tenant: TenantId,
    portfolio_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<AdAccount>, ApiError> {
    let portfolio = portfolio_id.filter(|p| !p.trim().is_empty()).map(|p| meta_id(p, "portfolio_id")).transpose()?;
    let (conn, token) = usable_token(app, tenant, now).await?;
    let graph = graph_client(app).await?;
    match visible_accounts(&graph, &token, portfolio.as_deref()).await {
        Ok(a) => Ok(a),
        Err(e) => Err(meta_failure(app, &conn, e, now).await),
    }
}

// -------------------------------------------------------------------------------------- connect

/// Body of `POST /crm/marketing/connect`: the frontend's `{account_id, account_name}` or
/// `{business_id, ad_account_ids}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectRequest {
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub account_name: Option<String>,
    #[serde(default)]
    pub business_id: Option<String>,
    #[serde(default)]
    pub ad_account_ids: Option<Vec<String>>,
}

/// `data` of a successful connect.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectResult {
    pub connected: bool,
    pub business_id: Option<String>,
    pub business_name: Option<String>,
    pub ad_account_ids: Vec<String>,
    pub ad_account_name: Option<String>,
    pub primary_account: AdAccount,
    pub reporting_time_zone: Option<Zone>,
    pub currency: Option<Currency>,
}

/// Validates the selection against what the token can see, stores it, and defaults the tenant's
/// reporting time zone and currency to the primary account's (FIELD-NOTES 3).
pub async fn select_accounts(
    app: &App,
    tenant: TenantId,
    req: ConnectRequest,
    now: DateTime<Utc>,
) -> Result<ConnectResult, ApiError> {
    let raw: Vec<String> = match (&req.ad_account_ids, &req.account_id) {
        (Some(ids), _) if !ids.is_empty() => ids.clone(),
        (_, Some(id)) if !id.trim().is_empty() => vec![id.clone()],
        _ => return Err(ApiError::bad_request("missing_account", "account_id or ad_account_ids is required")),
    };
    if raw.len() > MAX_SELECTED_ACCOUNTS {
        return Err(ApiError::bad_request(
            "too_many_accounts",
            format!("at most {MAX_SELECTED_ACCOUNTS} ad accounts can be selected"),
        ));
    }
    let mut ids: Vec<String> = Vec::new();
    for r in &raw {
        let id = normalize_ad_account_id(r)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let business_id =
        req.business_id.as_deref().filter(|b| !b.trim().is_empty()).map(|b| meta_id(b, "business_id")).transpose()?;

    let (conn, token) = usable_token(app, tenant, now).await?;
    let graph = graph_client(app).await?;
    let visible = match visible_accounts(&graph, &token, business_id.as_deref()).await {
        Ok(v) => v,
        Err(MetaError::Permission { .. } | MetaError::Request { .. }) if business_id.is_some() => {
            return Err(ApiError::bad_request(
                "business_not_visible",
                "the business is not visible to the connected Meta user",
            ));
        }
        Err(e) => return Err(meta_failure(app, &conn, e, now).await),
    };
    let mut selected: Vec<&AdAccount> = Vec::new();
    for id in &ids {
        match visible.iter().find(|a| &a.id == id) {
            Some(a) => selected.push(a),
            None => {
                return Err(ApiError::bad_request(
                    "account_not_visible",
                    format!("ad account {id} is not among the accounts the connected Meta user can see"),
                ))
            }
        }
    }
    let primary = selected.first().map(|a| (*a).clone()).ok_or_else(|| ApiError::internal("empty selection"))?;
    // Reports and the spend sync need each account's currency and zone: refuse what we cannot
    // read now, instead of storing it and guessing later.
    let mut primary_settings = None;
    for account in &selected {
        let settings = account_settings(account)?;
        primary_settings.get_or_insert(settings);
    }
    let (primary_zone, primary_currency) = primary_settings.ok_or_else(|| ApiError::internal("empty selection"))?;
    let business_name = match &business_id {
        Some(b) => match graph.businesses(&token).await {
            Ok(list) => list.into_iter().find(|x| &x.id == b).map(|x| x.name),
            Err(e) => {
                tracing::warn!(error = %e, "business name unavailable");
                None
            }
        },
        None => None,
    };

    let mut updated = conn.clone();
    updated.business_id = business_id.clone();
    updated.business_name = business_name.clone();
    updated.ad_account_ids = ids.clone();
    updated.ad_account_name = Some(primary.name.clone()).filter(|n| !n.is_empty()).or_else(|| req.account_name.clone());
    updated.updated_at = now;
    app.connections.put_connection(&updated).await?;
    // Second chance to map the tenant's pages (the callback's listing is best effort).
    crate::meta::pages::register_managed_pages(app, &graph, &token, tenant, now).await;

    let mut profile = app.profiles.get_profile(tenant).await?.unwrap_or_else(|| TenantProfile {
        tenant_id: tenant,
        display_name: String::new(),
        reporting_time_zone: None,
        currency: None,
        updated_at: now,
    });
    if profile.reporting_time_zone.is_none() || profile.currency.is_none() {
        profile.reporting_time_zone = profile.reporting_time_zone.or(Some(primary_zone));
        profile.currency = profile.currency.or(Some(primary_currency));
        profile.updated_at = now;
        app.profiles.put_profile(&profile).await?;
    }
    tracing::info!(tenant_id = tenant.0, accounts = ids.len(), "Meta ad accounts selected");
    Ok(ConnectResult {
        connected: true,
        business_id,
        business_name,
        ad_account_ids: ids,
        ad_account_name: updated.ad_account_name,
        primary_account: primary,
        reporting_time_zone: profile.reporting_time_zone,
        currency: profile.currency,
    })
}

/// An ad account's zone and currency as Meta reports them; one we do not know is a 502 (Meta's
/// answer is unusable), never replaced by a default.
fn account_settings(account: &AdAccount) -> Result<(Zone, Currency), ApiError> {
    let unusable = |what: String| ApiError::BadGateway {
        code: "meta_account_unusable",
        message: format!("Meta reports {what} for ad account {}; it cannot be reported on", account.id),
    };
    let zone = match account.timezone_name.as_deref() {
        Some(name) => Zone::parse(name).map_err(|e| unusable(format!("time zone {:?}", e.0)))?,
        None => return Err(unusable("no time zone".into())),
    };
    let currency = match account.currency.as_deref() {
        Some(code) => Currency::parse(code)
            .map_err(|_| unusable(format!("currency {:?}", code.chars().take(8).collect::<String>())))?,
        None => return Err(unusable("no currency".into())),
    };
    Ok((zone, currency))
}

// ----------------------------------------------------------------------------------- disconnect

/// `data` of `POST /crm/auth/meta/disconnect`.
#[derive(Debug, Clone, Serialize)]
pub struct Disconnected {
    pub disconnected: bool,
    pub was_connected: bool,
    /// Whether Meta confirmed the permission revocation.
    pub revoked_at_meta: bool,
    pub message: String,
}

/// Best-effort `DELETE /me/permissions` at Meta (one attempt), then deletes the stored connection
/// and its index entry whatever Meta said.
pub async fn disconnect(app: &App, tenant: TenantId) -> Result<Disconnected, ApiError> {
    let conn = app.connections.get_connection(tenant).await?;
    let Some(conn) = conn else {
        app.connected_index.mark_disconnected(tenant).await?;
        return Ok(Disconnected {
            disconnected: true,
            was_connected: false,
            revoked_at_meta: false,
            message: "Meta was not connected".into(),
        });
    };
    let revoked = match revoke_at_meta(app, &conn).await {
        Ok(()) => Ok(()),
        Err(reason) => {
            tracing::warn!(reason, "Meta permission revocation failed; disconnecting locally");
            Err(reason)
        }
    };
    app.connected_index.mark_disconnected(tenant).await?;
    app.connections.delete_connection(tenant).await?;
    tracing::info!(tenant_id = tenant.0, revoked_at_meta = revoked.is_ok(), "Meta disconnected");
    Ok(Disconnected {
        disconnected: true,
        was_connected: true,
        revoked_at_meta: revoked.is_ok(),
        message: match revoked {
            Ok(()) => "Meta disconnected and the app's permissions revoked at Meta".into(),
            Err(reason) => format!("Meta disconnected here; revoking at Meta failed ({reason})"),
        },
    })
}

async fn revoke_at_meta(app: &App, conn: &MetaConnection) -> Result<(), &'static str> {
    let ciphertext = B64.decode(&conn.token_ciphertext_b64).map_err(|_| "stored token unreadable")?;
    let token = app.cipher.decrypt(conn.tenant_id, &ciphertext).await.map_err(|_| "stored token unreadable")?;
    let graph = graph_client(app).await.map_err(|_| "Meta client not configured")?;
    let once = RetryPolicy { max_attempts: 1, ..graph.settings().retry.clone() };
    let graph = GraphClient::new(app.http.get().clone(), GraphSettings { retry: once, ..graph.settings().clone() });
    graph.revoke_permissions(&token).await.map_err(|e| match e {
        MetaError::InvalidToken { .. } => "token already invalid at Meta",
        MetaError::Timeout | MetaError::Unreachable | MetaError::Transient { .. } => "Meta unreachable",
        _ => "Meta refused",
    })
}

// -------------------------------------------------------------------------- deployment config

/// `data` of `GET /admin/config/deployment`: the wizard's first call.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentConfig {
    pub company_name: String,
    pub tenant_id: TenantId,
    pub reporting_time_zone: Option<Zone>,
    pub currency: Option<Currency>,
}

pub async fn deployment_config(app: &App, tenant: TenantId) -> Result<DeploymentConfig, ApiError> {
    let profile = app
        .profiles
        .get_profile(tenant)
        .await?
        .filter(|p| !p.display_name.trim().is_empty())
        .ok_or_else(|| ApiError::not_found("tenant_profile_missing", "this account has no company profile yet"))?;
    Ok(DeploymentConfig {
        company_name: profile.display_name,
        tenant_id: tenant,
        reporting_time_zone: profile.reporting_time_zone,
        currency: profile.currency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(currency: Option<&str>, zone: Option<&str>) -> AdAccount {
        AdAccount {
            id: "act_1".into(),
            account_id: "1".into(),
            name: "Main".into(),
            currency: currency.map(str::to_string),
            timezone_name: zone.map(str::to_string),
            account_status: 1,
        }
    }

    #[test]
    fn unknown_account_currency_or_zone_is_refused_with_502() {
        let ok = account_settings(&account(Some("KWD"), Some("Asia/Kuwait"))).expect("known");
        assert_eq!((ok.0.name(), ok.1.code()), ("Asia/Kuwait", "KWD"));
        for bad in [
            account(Some("XYZ"), Some("Asia/Kuwait")),
            account(Some("USD"), Some("Mars/Olympus")),
            account(None, Some("UTC")),
            account(Some("USD"), None),
        ] {
            let err = account_settings(&bad).expect_err("refused");
            assert_eq!((err.status().as_u16(), err.code()), (502, "meta_account_unusable"), "{bad:?}");
        }
    }

    #[test]
    fn ad_account_ids_are_normalized_or_refused() {
        assert_eq!(normalize_ad_account_id("act_123").expect("ok"), "act_123");
        assert_eq!(normalize_ad_account_id(" 123 ").expect("ok"), "act_123");
        for bad in ["", "act_", "act_12x", "../me", "act_1/2", "act_123456789012345678901234567890123"] {
            assert_eq!(normalize_ad_account_id(bad).expect_err(bad).code(), "invalid_account_id", "{bad}");
        }
    }

    #[test]
    fn callback_redirects_to_the_frontend_marketing_page() {
        let f = Url::parse("http://localhost:5173").expect("url");
        assert_eq!(frontend_redirect(&f, Ok(())), "http://localhost:5173/crm/marketing?success=connected");
        assert_eq!(
            frontend_redirect(&f, Err(redirect_code::INVALID_STATE)),
            "http://localhost:5173/crm/marketing?error=invalid_state"
        );
        let sub = Url::parse("https://crm.example.com/app/").expect("url");
        assert_eq!(
            frontend_redirect(&sub, Err("auth_failed")),
            "https://crm.example.com/app/crm/marketing?error=auth_failed"
        );
    }
}

//! Typed configuration, read from the environment once per cold start.
//!
//! Every variable is listed in [`ENV_VARS`] (the table in docs/CONFIGURATION.md and the SAM
//! template follow that list). A missing or invalid value gives one clear error naming the variable.

use std::time::Duration;

use url::Url;

use crate::platform::retry::{Jitter, RetryPolicy};
use crate::platform::secrets::{SecretName, SecretSource, SecretString};

/// The European Central Bank's reference rates of the last 90 days (refreshed hourly, so gaps heal).
pub const DEFAULT_FX_PROVIDER_URL: &str = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml";

/// `(name, default, secret?, what it is)` for every variable the product reads.
pub const ENV_VARS: &[(&str, &str, bool, &str)] = &[
    ("TABLE_NAME", "(required)", false, "DynamoDB single table"),
    ("EVENT_BUS_NAME", "crm-marketing", false, "EventBridge bus for CRM events and job fan-out"),
    ("KMS_KEY_ID", "(required by functions that store Meta tokens)", false, "KMS key id/ARN/alias for Meta tokens"),
    (
        "JWT_SECRET_KEY / JWT_SECRET_KEY_ARN",
        "(required by functions with authenticated routes)",
        true,
        "HS256 key of the CRM's JWTs, at least 32 bytes",
    ),
    ("JWT_ISSUER", "(unset = not checked)", false, "when set, a JWT's iss must equal it"),
    ("JWT_AUDIENCE", "(unset = not checked)", false, "when set, a JWT's aud must contain it"),
    ("ADMIN_TOKEN / ADMIN_TOKEN_ARN", "(unset = every request refused)", true, "expected X-Admin-Token"),
    ("META_APP_ID", "(required by Meta functions)", false, "Meta app id"),
    (
        "META_APP_SECRET / META_APP_SECRET_ARN",
        "(required by Meta functions)",
        true,
        "Meta app secret (appsecret_proof, webhook signatures)",
    ),
    (
        "META_WEBHOOK_VERIFY_TOKEN / META_WEBHOOK_VERIFY_TOKEN_ARN",
        "(required by the Meta webhook)",
        true,
        "hub.verify_token of the lead-ads subscription",
    ),
    ("META_REDIRECT_URI", "(required by Meta OAuth)", false, "our OAuth callback URL registered at Meta"),
    ("META_GRAPH_API_VERSION", "v21.0", false, "Graph API version"),
    ("META_GRAPH_BASE_URL", "https://graph.facebook.com", false, "Graph API base URL"),
    ("META_DIALOG_BASE_URL", "https://www.facebook.com", false, "OAuth dialog base URL"),
    ("META_HTTP_TIMEOUT_MS", "5000", false, "timeout of each Graph API request"),
    ("META_RETRY_MAX_ATTEMPTS", "3", false, "attempts per Graph call on throttling/transient errors"),
    ("META_RETRY_BASE_DELAY_MS", "250", false, "first backoff between Graph attempts (doubles)"),
    (
        "META_RETRY_MAX_DELAY_MS",
        "2000",
        false,
        "longest wait between Graph attempts; a longer wait Meta asks for fails fast with Retry-After",
    ),
    (
        "META_CALLBACK_BUDGET_MS",
        "20000",
        false,
        "time budget of the whole OAuth callback (under API Gateway's 29 s); past it the browser is redirected with ?error=auth_failed&reason=meta_timeout",
    ),
    (
        "META_SYNC_WINDOW_DAYS",
        "28",
        false,
        "trailing days of Meta insights the spend sync re-pulls (Meta restates recent days; at most 1125 = 37 months)",
    ),
    (
        "FX_PROVIDER_URL",
        DEFAULT_FX_PROVIDER_URL,
        false,
        "ECB-format daily reference rates (EUR base) the spend sync's fan-out reads once a run; empty or `off` = \
         no provider (manual rates only)",
    ),
    ("YCLOUD_API_KEY / YCLOUD_API_KEY_ARN", "(required by WhatsApp senders)", true, "YCloud API key"),
    (
        "YCLOUD_WEBHOOK_SECRET / YCLOUD_WEBHOOK_SECRET_ARN",
        "(required by the YCloud webhook)",
        true,
        "YCloud webhook signing secret",
    ),
    ("YCLOUD_WHATSAPP_NUMBER", "(required by WhatsApp senders)", false, "sender number, E.164"),
    ("YCLOUD_BASE_URL", "https://api.ycloud.com", false, "YCloud API base URL"),
    ("FRONTEND_URL", "http://localhost:5173", false, "where OAuth redirects the browser back to"),
    (
        "CORS_ALLOWED_ORIGINS",
        "http://localhost:5173,http://localhost:3000",
        false,
        "comma-separated exact origins allowed with credentials",
    ),
    ("RATE_LIMIT_PER_MINUTE", "100", false, "requests per user per route per minute, across all instances"),
    ("TENANT_RATE_LIMIT_PER_MINUTE", "1000", false, "requests per tenant per minute, all users and routes together"),
    ("PUBLIC_RATE_LIMIT_PER_MINUTE", "600", false, "requests per source address per public route (webhooks, OAuth callback), and refused authentications per source address, per minute"),
    ("MAX_BODY_BYTES", "65536", false, "largest accepted request body"),
    ("AUDIT_RETENTION_DAYS", "90", false, "audit records expire (TTL) after this many days"),
    ("RUST_LOG", "info", false, "log filter: `level` and/or `target=level,...` (tracing Targets syntax)"),
    ("AWS_REGION", "(set by Lambda)", false, "AWS region"),
    ("AWS_ENDPOINT_URL", "(unset in AWS)", false, "SDK endpoint override: moto locally and in tests"),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self { var, reason: reason.into() }
    }
}

#[derive(Debug, Clone)]
pub struct MetaConfig {
    pub app_id: Option<String>,
    pub redirect_uri: Option<Url>,
    pub graph_api_version: String,
    pub graph_base_url: Url,
    pub dialog_base_url: Url,
    /// Timeout of each Graph request.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Trailing days the spend sync re-pulls (`META_SYNC_WINDOW_DAYS`; Meta restates recent days).
    pub sync_window_days: u32,
    /// Time the whole OAuth callback may take (`META_CALLBACK_BUDGET_MS`).
    pub callback_budget: Duration,
}

/// Optional pinning of the CRM's JWTs (`JWT_ISSUER`, `JWT_AUDIENCE`): when set, a token must
/// carry the claim with that value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtConfig {
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

#[derive(Debug, Clone)]
pub struct YcloudConfig {
    pub base_url: Url,
    pub whatsapp_number: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub kms_key_id: Option<String>,
    pub frontend_url: Url,
    pub cors_allowed_origins: Vec<String>,
    /// Per user (JWT subject) per route.
    pub rate_limit_per_minute: u32,
    /// Per tenant, all users and routes together.
    pub tenant_rate_limit_per_minute: u32,
    /// Per source address per public route (the webhooks, the OAuth callback).
    pub public_rate_limit_per_minute: u32,
    pub max_body_bytes: usize,
    pub audit_retention_days: u32,
    pub meta: MetaConfig,
    /// Where the spend sync reads provider FX rates (`FX_PROVIDER_URL`); `None` = disabled.
    pub fx_provider_url: Option<Url>,
    pub ycloud: YcloudConfig,
    pub jwt: JwtConfig,
    /// Where each secret this configuration may resolve comes from (only the declared ones).
    pub secret_sources: Vec<(SecretName, SecretSource)>,
}

impl Config {
    /// Reads the process environment for a function that uses the secrets `needs` (its crate's
    /// `SECRETS`): only those are read, and any other secret set in the environment is an error.
    pub fn from_env(needs: &[SecretName]) -> Result<Self, ConfigError> {
        Self::from_lookup_for(needs, |k| std::env::var(k).ok())
    }

    /// Reads through `get` with every secret allowed (the local stack and tests serve all
    /// functions from one configuration; `App::restricted` narrows it per function).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_lookup_for(&SecretName::ALL, get)
    }

    /// Reads through `get` for a function that uses the secrets `needs`.
    pub fn from_lookup_for(needs: &[SecretName], get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&get);
        Ok(Self {
            table_name: env.opt("TABLE_NAME").ok_or_else(|| ConfigError::new("TABLE_NAME", "is required"))?,
            event_bus_name: env.opt("EVENT_BUS_NAME").unwrap_or_else(|| "crm-marketing".into()),
            kms_key_id: env.opt("KMS_KEY_ID"),
            frontend_url: env.url_or("FRONTEND_URL", "http://localhost:5173")?,
            cors_allowed_origins: cors_origins(&env)?,
            rate_limit_per_minute: env.number("RATE_LIMIT_PER_MINUTE", 100, 1, 1_000_000)? as u32,
            tenant_rate_limit_per_minute: env.number("TENANT_RATE_LIMIT_PER_MINUTE", 1_000, 1, 10_000_000)? as u32,
            public_rate_limit_per_minute: env.number("PUBLIC_RATE_LIMIT_PER_MINUTE", 600, 1, 10_000_000)? as u32,
            max_body_bytes: env.number("MAX_BODY_BYTES", 65_536, 1, 6 * 1024 * 1024)? as usize,
            audit_retention_days: env.number("AUDIT_RETENTION_DAYS", 90, 1, 3650)? as u32,
            meta: MetaConfig::read(&env)?,
            fx_provider_url: fx_provider_url(&env)?,
            ycloud: YcloudConfig {
                base_url: env.url_or("YCLOUD_BASE_URL", "https://api.ycloud.com")?,
                whatsapp_number: env.opt("YCLOUD_WHATSAPP_NUMBER"),
            },
            jwt: JwtConfig { issuer: env.opt("JWT_ISSUER"), audience: env.opt("JWT_AUDIENCE") },
            secret_sources: secret_sources(&env, needs)?,
        })
    }

    /// A required setting for a specific function (e.g. `KMS_KEY_ID` for the OAuth callback).
    pub fn require<'a, T>(value: &'a Option<T>, var: &'static str) -> Result<&'a T, ConfigError> {
        value.as_ref().ok_or_else(|| ConfigError::new(var, "is required by this function"))
    }
}

/// The environment as read through a lookup: trimmed, empty = unset, typed readers that name the
/// variable in every error.
struct Env<'a, F: Fn(&str) -> Option<String>>(&'a F);

impl<F: Fn(&str) -> Option<String>> Env<'_, F> {
    fn opt(&self, k: &str) -> Option<String> {
        (self.0)(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    fn url_or(&self, var: &'static str, default: &str) -> Result<Url, ConfigError> {
        let raw = self.opt(var).unwrap_or_else(|| default.to_string());
        let url = Url::parse(&raw).map_err(|e| ConfigError::new(var, format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(var, "must be an http(s) URL"));
        }
        Ok(url)
    }

    fn number(&self, var: &'static str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let Some(v) = self.opt(var) else {
            return Ok(default);
        };
        let n: u64 = v.parse().map_err(|_| ConfigError::new(var, format!("must be a whole number, got {v:?}")))?;
        if n < min || n > max {
            return Err(ConfigError::new(var, format!("must be between {min} and {max}, got {n}")));
        }
        Ok(n)
    }

    fn millis(&self, var: &'static str, default: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
        self.number(var, default, min, max).map(Duration::from_millis)
    }
}

/// `FX_PROVIDER_URL`: unset → the ECB's; set empty (or `off`) → no provider; else an http(s) URL.
/// (Unlike other variables, empty is not "unset": it is how the template turns the provider off.)
fn fx_provider_url<F: Fn(&str) -> Option<String>>(env: &Env<'_, F>) -> Result<Option<Url>, ConfigError> {
    match (env.0)("FX_PROVIDER_URL").map(|v| v.trim().to_string()) {
        Some(v) if v.is_empty() || v.eq_ignore_ascii_case("off") => Ok(None),
        _ => env.url_or("FX_PROVIDER_URL", DEFAULT_FX_PROVIDER_URL).map(Some),
    }
}

fn cors_origins<F: Fn(&str) -> Option<String>>(env: &Env<'_, F>) -> Result<Vec<String>, ConfigError> {
    let origins = env
        .opt("CORS_ALLOWED_ORIGINS")
        .unwrap_or_else(|| "http://localhost:5173,http://localhost:3000".into())
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect::<Vec<_>>();
    if let Some(bad) = origins.iter().find(|o| *o == "*" || Url::parse(o).is_err()) {
        return Err(ConfigError::new(
            "CORS_ALLOWED_ORIGINS",
            format!("{bad:?} is not an exact origin (credentials forbid '*')"),
        ));
    }
    Ok(origins)
}

impl MetaConfig {
    fn read<F: Fn(&str) -> Option<String>>(env: &Env<'_, F>) -> Result<Self, ConfigError> {
        let redirect_uri = match env.opt("META_REDIRECT_URI") {
            None => None,
            Some(_) => Some(env.url_or("META_REDIRECT_URI", "")?),
        };
        let graph_api_version = env.opt("META_GRAPH_API_VERSION").unwrap_or_else(|| "v21.0".into());
        if !is_graph_version(&graph_api_version) {
            return Err(ConfigError::new(
                "META_GRAPH_API_VERSION",
                format!("expected like v21.0, got {graph_api_version:?}"),
            ));
        }
        Ok(MetaConfig {
            app_id: env.opt("META_APP_ID"),
            redirect_uri,
            graph_api_version,
            graph_base_url: env.url_or("META_GRAPH_BASE_URL", "https://graph.facebook.com")?,
            dialog_base_url: env.url_or("META_DIALOG_BASE_URL", "https://www.facebook.com")?,
            request_timeout: env.millis("META_HTTP_TIMEOUT_MS", 5_000, 100, 60_000)?,
            retry: RetryPolicy {
                max_attempts: env.number("META_RETRY_MAX_ATTEMPTS", 3, 1, 10)? as u32,
                base_delay: env.millis("META_RETRY_BASE_DELAY_MS", 250, 0, 60_000)?,
                max_delay: env.millis("META_RETRY_MAX_DELAY_MS", 2_000, 0, 60_000)?,
                jitter: Jitter::Proportional,
            },
            // Meta serves at most 37 months of insights (FIELD-NOTES 8).
            sync_window_days: env.number("META_SYNC_WINDOW_DAYS", 28, 1, 1125)? as u32,
            // API Gateway answers 503 after 29 s: the callback redirects well before.
            callback_budget: env.millis("META_CALLBACK_BUDGET_MS", 20_000, 100, 25_000)?,
        })
    }
}

/// Where each declared secret comes from: `NAME` (plain) or `NAME_ARN`, never both. The JWT key
/// is required where declared (and a plain one must be long enough); a secret the function did
/// not declare must not be in its environment at all.
fn secret_sources<F: Fn(&str) -> Option<String>>(
    env: &Env<'_, F>,
    needs: &[SecretName],
) -> Result<Vec<(SecretName, SecretSource)>, ConfigError> {
    let mut sources = Vec::new();
    for name in SecretName::ALL {
        let (plain, arn) = (env.opt(name.env_var()), env.opt(name.arn_env_var()));
        if !needs.contains(&name) {
            if let Some(var) = [(plain.is_some(), name.env_var()), (arn.is_some(), name.arn_env_var())]
                .into_iter()
                .find_map(|(set, var)| set.then_some(var))
            {
                return Err(ConfigError::new(var, "is set, but this function does not use it (least privilege)"));
            }
            continue;
        }
        let source = match (plain, arn) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    name.arn_env_var(),
                    format!("set either {} or {}, not both", name.env_var(), name.arn_env_var()),
                ));
            }
            (Some(v), None) => {
                if let Some(reason) = name.unusable(&v) {
                    return Err(ConfigError::new(name.env_var(), reason));
                }
                SecretSource::Plain(SecretString::new(v))
            }
            (None, Some(arn)) => SecretSource::Arn(arn),
            (None, None) => SecretSource::Unset,
        };
        sources.push((name, source));
    }
    if sources.iter().any(|(n, s)| *n == SecretName::JwtSecretKey && *s == SecretSource::Unset) {
        return Err(ConfigError::new("JWT_SECRET_KEY", "is required (or JWT_SECRET_KEY_ARN)"));
    }
    Ok(sources)
}

fn is_graph_version(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let mut parts = rest.split('.');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
        if !a.is_empty() && !b.is_empty() && a.chars().all(|c| c.is_ascii_digit()) && b.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";
    const MIN: &[(&str, &str)] = &[("TABLE_NAME", "t"), ("JWT_SECRET_KEY", KEY)];

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c = load(MIN).expect("valid");
        assert_eq!(c.rate_limit_per_minute, 100);
        assert_eq!(c.meta.graph_api_version, "v21.0");
        assert_eq!(c.meta.graph_base_url.as_str(), "https://graph.facebook.com/");
        assert_eq!(c.cors_allowed_origins, vec!["http://localhost:5173", "http://localhost:3000"]);
        assert_eq!(c.event_bus_name, "crm-marketing");
        assert_eq!(c.max_body_bytes, 65_536);
        assert_eq!(c.meta.sync_window_days, 28);
    }

    #[test]
    fn sync_window_is_capped_at_37_months() {
        let mut pairs = MIN.to_vec();
        pairs.push(("META_SYNC_WINDOW_DAYS", "1125"));
        assert_eq!(load(&pairs).expect("37 months").meta.sync_window_days, 1125);
        let mut pairs = MIN.to_vec();
        pairs.push(("META_SYNC_WINDOW_DAYS", "1126"));
        assert_eq!(load(&pairs).expect_err("past Meta's backfill limit").var, "META_SYNC_WINDOW_DAYS");
    }

    #[test]
    fn missing_table_names_the_variable() {
        let err = load(&[("JWT_SECRET_KEY", KEY)]).expect_err("must fail");
        assert_eq!(err.var, "TABLE_NAME");
        assert!(err.to_string().contains("TABLE_NAME"));
    }

    #[test]
    fn missing_jwt_key_names_the_variable() {
        assert_eq!(load(&[("TABLE_NAME", "t")]).expect_err("must fail").var, "JWT_SECRET_KEY");
    }

    #[test]
    fn jwt_keys_under_32_bytes_are_refused_at_startup() {
        let err = load(&[("TABLE_NAME", "t"), ("JWT_SECRET_KEY", &KEY[..31])]).expect_err("31 bytes");
        assert_eq!(err.var, "JWT_SECRET_KEY");
        assert!(err.reason.contains("32"), "{err}");
        assert!(load(&[("TABLE_NAME", "t"), ("JWT_SECRET_KEY", KEY)]).is_ok(), "32 bytes");
    }

    #[test]
    fn jwt_issuer_and_audience_are_optional() {
        assert_eq!(load(MIN).expect("valid").jwt, JwtConfig::default());
        let mut pairs = MIN.to_vec();
        pairs.extend([("JWT_ISSUER", "crm"), ("JWT_AUDIENCE", "marketing-hub")]);
        let jwt = load(&pairs).expect("valid").jwt;
        assert_eq!((jwt.issuer.as_deref(), jwt.audience.as_deref()), (Some("crm"), Some("marketing-hub")));
    }

    fn load_for(needs: &[SecretName], pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup_for(needs, |k| map.get(k).cloned())
    }

    #[test]
    fn a_function_reads_only_the_secrets_it_declares() {
        let webhook = [SecretName::MetaAppSecret, SecretName::MetaWebhookVerifyToken];
        let c = load_for(&webhook, &[("TABLE_NAME", "t"), ("META_APP_SECRET_ARN", "arn:x")]).expect("no JWT needed");
        let names: Vec<SecretName> = c.secret_sources.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, webhook.to_vec());
        // A secret it did not declare in its environment refuses the start, naming the variable.
        for var in ["JWT_SECRET_KEY_ARN", "ADMIN_TOKEN", "ADMIN_TOKEN_ARN", "YCLOUD_API_KEY"] {
            let err = load_for(&webhook, &[("TABLE_NAME", "t"), (var, KEY)]).expect_err(var);
            assert_eq!(err.var, var);
        }
        // Declared JWT key: required, as before.
        let authed = [SecretName::JwtSecretKey, SecretName::AdminToken];
        assert_eq!(load_for(&authed, &[("TABLE_NAME", "t")]).expect_err("required").var, "JWT_SECRET_KEY");
    }

    #[test]
    fn invalid_number_names_the_variable() {
        let mut pairs = MIN.to_vec();
        pairs.push(("RATE_LIMIT_PER_MINUTE", "lots"));
        assert_eq!(load(&pairs).expect_err("must fail").var, "RATE_LIMIT_PER_MINUTE");
        let mut pairs = MIN.to_vec();
        pairs.push(("RATE_LIMIT_PER_MINUTE", "0"));
        assert_eq!(load(&pairs).expect_err("must fail").var, "RATE_LIMIT_PER_MINUTE");
    }

    #[test]
    fn invalid_url_names_the_variable() {
        let mut pairs = MIN.to_vec();
        pairs.push(("META_GRAPH_BASE_URL", "not a url"));
        assert_eq!(load(&pairs).expect_err("must fail").var, "META_GRAPH_BASE_URL");
        let mut pairs = MIN.to_vec();
        pairs.push(("FRONTEND_URL", "ftp://x"));
        assert_eq!(load(&pairs).expect_err("must fail").var, "FRONTEND_URL");
    }

    #[test]
    fn wildcard_cors_origin_is_rejected() {
        let mut pairs = MIN.to_vec();
        pairs.push(("CORS_ALLOWED_ORIGINS", "*"));
        assert_eq!(load(&pairs).expect_err("must fail").var, "CORS_ALLOWED_ORIGINS");
    }

    #[test]
    fn secret_by_arn_or_plain_but_not_both() {
        let mut pairs = MIN.to_vec();
        pairs.push(("ADMIN_TOKEN_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x"));
        let c = load(&pairs).expect("valid");
        assert!(c.secret_sources.contains(&(
            SecretName::AdminToken,
            SecretSource::Arn("arn:aws:secretsmanager:us-east-1:1:secret:x".into())
        )));
        pairs.push(("ADMIN_TOKEN", "plain"));
        assert_eq!(load(&pairs).expect_err("must fail").var, "ADMIN_TOKEN_ARN");
    }

    #[test]
    fn the_fx_provider_defaults_to_the_ecb_and_empty_turns_it_off() {
        let url = |pairs: &[(&'static str, &'static str)]| load(pairs).map(|c| c.fx_provider_url.map(String::from));
        assert_eq!(url(MIN).expect("valid"), Some(DEFAULT_FX_PROVIDER_URL.to_string()));
        let with = |v: &'static str| [MIN, &[("FX_PROVIDER_URL", v)]].concat();
        assert_eq!(url(&with("")).expect("valid"), None);
        assert_eq!(url(&with(" off ")).expect("valid"), None);
        assert_eq!(
            url(&with("http://127.0.0.1:8092/x.xml")).expect("valid").as_deref(),
            Some("http://127.0.0.1:8092/x.xml")
        );
        assert_eq!(url(&with("ftp://x")).expect_err("must fail").var, "FX_PROVIDER_URL");
    }

    #[test]
    fn graph_version_is_validated() {
        let mut pairs = MIN.to_vec();
        pairs.push(("META_GRAPH_API_VERSION", "21"));
        assert_eq!(load(&pairs).expect_err("must fail").var, "META_GRAPH_API_VERSION");
        let mut pairs = MIN.to_vec();
        pairs.push(("META_GRAPH_API_VERSION", "v22.0"));
        assert_eq!(load(&pairs).expect("valid").meta.graph_api_version, "v22.0");
    }

    #[test]
    fn config_debug_does_not_print_secrets() {
        let mut pairs = MIN.to_vec();
        pairs.push(("ADMIN_TOKEN", "very-secret-admin"));
        let c = load(&pairs).expect("valid");
        assert!(!format!("{c:?}").contains("very-secret-admin"));
    }
}

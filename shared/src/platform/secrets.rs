//! Secrets: plain env locally, Secrets Manager ARNs in AWS, resolved once per container.
//!
//! Resolution is lazy (first request that needs it) so that cold-start init makes no network
//! call; the result is cached for the container's life. A secret that fails to resolve fails the
//! request loudly (500, the variable named in the log) — never a silent fallback to a default.
//!
//! Least privilege by construction: each function declares the secrets it uses (a
//! [`SecretNeeds`] constant in its crate, passed to `App::from_env`); its configuration reads and
//! resolves only those, and refuses to start when the environment hands it any other one. The
//! template drift test (`infra/local/src/template.rs`) holds the SAM template's env vars and
//! `secretsmanager:GetSecretValue` grants to exactly these declarations.

use std::fmt;

use tokio::sync::OnceCell;

/// A secret value. `Debug`/`Display` never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// Where one secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Plain value from the environment (local runs and tests).
    Plain(SecretString),
    /// A Secrets Manager secret ARN (or name); its `SecretString` is the value.
    Arn(String),
    /// Not configured.
    Unset,
}

/// The named secrets of the product; the env var is `NAME` (plain) or `NAME_ARN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretName {
    JwtSecretKey,
    AdminToken,
    MetaAppSecret,
    YcloudApiKey,
    YcloudWebhookSecret,
    MetaWebhookVerifyToken,
}

/// The secrets one function may resolve, declared in its crate (`pub const SECRETS`).
pub type SecretNeeds = &'static [SecretName];

/// What the shared pipeline needs to authenticate a caller (JWT key, admin token): every function
/// with a non-public endpoint declares both; public functions (webhooks, the OAuth callback)
/// declare neither.
pub const CALLER_AUTH: [SecretName; 2] = [SecretName::JwtSecretKey, SecretName::AdminToken];

/// Shortest accepted JWT signing key (HS256: a key shorter than the hash output weakens it).
pub const MIN_JWT_KEY_BYTES: usize = 32;

impl SecretName {
    pub const ALL: [SecretName; 6] = [
        SecretName::JwtSecretKey,
        SecretName::AdminToken,
        SecretName::MetaAppSecret,
        SecretName::YcloudApiKey,
        SecretName::YcloudWebhookSecret,
        SecretName::MetaWebhookVerifyToken,
    ];

    pub fn env_var(self) -> &'static str {
        match self {
            SecretName::JwtSecretKey => "JWT_SECRET_KEY",
            SecretName::AdminToken => "ADMIN_TOKEN",
            SecretName::MetaAppSecret => "META_APP_SECRET",
            SecretName::YcloudApiKey => "YCLOUD_API_KEY",
            SecretName::YcloudWebhookSecret => "YCLOUD_WEBHOOK_SECRET",
            SecretName::MetaWebhookVerifyToken => "META_WEBHOOK_VERIFY_TOKEN",
        }
    }

    pub fn arn_env_var(self) -> &'static str {
        match self {
            SecretName::JwtSecretKey => "JWT_SECRET_KEY_ARN",
            SecretName::AdminToken => "ADMIN_TOKEN_ARN",
            SecretName::MetaAppSecret => "META_APP_SECRET_ARN",
            SecretName::YcloudApiKey => "YCLOUD_API_KEY_ARN",
            SecretName::YcloudWebhookSecret => "YCLOUD_WEBHOOK_SECRET_ARN",
            SecretName::MetaWebhookVerifyToken => "META_WEBHOOK_VERIFY_TOKEN_ARN",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {var} could not be read from Secrets Manager: {reason}")]
    Fetch { var: &'static str, reason: String },
    #[error("secret {var} is empty in Secrets Manager")]
    Empty { var: &'static str },
    #[error("{var} is not configured for this function")]
    NotConfigured { var: &'static str },
    /// The value does not meet the secret's rules (e.g. a JWT key under 32 bytes).
    #[error("secret {var} is not usable: {reason}")]
    Invalid { var: &'static str, reason: String },
}

impl SecretName {
    /// Why `value` cannot be used as this secret (`None` = usable). Checked for plain values at
    /// startup (a config error) and for Secrets Manager values when they are resolved.
    pub fn unusable(self, value: &str) -> Option<String> {
        match self {
            SecretName::JwtSecretKey if value.len() < MIN_JWT_KEY_BYTES => {
                Some(format!("must be at least {MIN_JWT_KEY_BYTES} bytes, got {}", value.len()))
            }
            _ => None,
        }
    }
}

/// All secrets after resolution; `None` = not configured for this function.
#[derive(Debug, Default, Clone)]
pub struct Secrets {
    values: Vec<(SecretName, SecretString)>,
}

impl Secrets {
    pub fn get(&self, name: SecretName) -> Option<&SecretString> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A secret the caller cannot work without: [`SecretError::NotConfigured`] naming its variable.
    pub fn require(&self, name: SecretName) -> Result<&SecretString, SecretError> {
        self.get(name).ok_or(SecretError::NotConfigured { var: name.env_var() })
    }
}

/// Resolves [`SecretSource`]s once and caches them.
pub struct SecretResolver {
    sources: Vec<(SecretName, SecretSource)>,
    client: Option<aws_sdk_secretsmanager::Client>,
    cell: OnceCell<Secrets>,
}

impl fmt::Debug for SecretResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretResolver").field("sources", &self.sources).finish_non_exhaustive()
    }
}

impl SecretResolver {
    pub fn new(sources: Vec<(SecretName, SecretSource)>, client: Option<aws_sdk_secretsmanager::Client>) -> Self {
        Self { sources, client, cell: OnceCell::new() }
    }

    /// The same sources narrowed to `needs` (a function's declaration), resolved afresh: the local
    /// stack serves every function from one configuration and gives each only what it declares.
    pub fn restricted(&self, needs: &[SecretName]) -> Self {
        let sources = self.sources.iter().filter(|(n, _)| needs.contains(n)).cloned().collect();
        Self::new(sources, self.client.clone())
    }

    /// Resolves every configured secret (first call) or returns the cached set.
    pub async fn get(&self) -> Result<&Secrets, SecretError> {
        self.cell.get_or_try_init(|| self.resolve_all()).await
    }

    /// [`Self::get`], a failure logged naming the variable (and answered as a 500 by its
    /// `DomainError` mapping in `platform::error`) — never a fallback.
    pub async fn logged(&self) -> Result<&Secrets, SecretError> {
        // Not through `get`: one async layer less in every handler's future.
        let resolved = self.cell.get_or_try_init(|| self.resolve_all()).await;
        resolved.inspect_err(|e| tracing::error!(error = %e, "secrets unavailable"))
    }

    /// One secret the caller cannot work without (500 naming it when not configured).
    pub async fn required(&self, name: SecretName) -> Result<&SecretString, SecretError> {
        self.logged().await?.require(name)
    }

    async fn resolve_all(&self) -> Result<Secrets, SecretError> {
        let mut values = Vec::new();
        for (name, source) in &self.sources {
            match source {
                SecretSource::Unset => {}
                SecretSource::Plain(v) => values.push((*name, v.clone())),
                SecretSource::Arn(arn) => {
                    let var = name.arn_env_var();
                    let client = self.client.as_ref().ok_or_else(|| SecretError::Fetch {
                        var,
                        reason: "no Secrets Manager client configured".into(),
                    })?;
                    let out =
                        client.get_secret_value().secret_id(arn).send().await.map_err(|e| SecretError::Fetch {
                            var,
                            reason: aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                        })?;
                    let value = out.secret_string().filter(|s| !s.is_empty()).ok_or(SecretError::Empty { var })?;
                    if let Some(reason) = name.unusable(value) {
                        return Err(SecretError::Invalid { var, reason });
                    }
                    values.push((*name, SecretString::new(value)));
                }
            }
        }
        Ok(Secrets { values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_value() {
        let s = SecretString::new("hunter2-super-secret");
        assert!(!format!("{s:?}").contains("hunter2"));
        let r = SecretResolver::new(vec![(SecretName::AdminToken, SecretSource::Plain(s))], None);
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[tokio::test]
    async fn plain_sources_resolve_without_a_client() {
        let r = SecretResolver::new(
            vec![
                (SecretName::JwtSecretKey, SecretSource::Plain(SecretString::new("k"))),
                (SecretName::AdminToken, SecretSource::Unset),
            ],
            None,
        );
        let s = r.get().await.expect("resolves");
        assert_eq!(s.get(SecretName::JwtSecretKey).map(SecretString::expose), Some("k"));
        assert!(s.get(SecretName::AdminToken).is_none());
    }

    #[tokio::test]
    async fn a_restricted_resolver_resolves_only_the_declared_secrets() {
        let r = SecretResolver::new(
            vec![
                (SecretName::JwtSecretKey, SecretSource::Plain(SecretString::new("jwt"))),
                (SecretName::AdminToken, SecretSource::Plain(SecretString::new("admin"))),
                (SecretName::MetaAppSecret, SecretSource::Plain(SecretString::new("meta"))),
            ],
            None,
        );
        let webhook = r.restricted(&[SecretName::MetaAppSecret]);
        let s = webhook.get().await.expect("resolves");
        assert_eq!(s.get(SecretName::MetaAppSecret).map(SecretString::expose), Some("meta"));
        assert!(s.get(SecretName::JwtSecretKey).is_none() && s.get(SecretName::AdminToken).is_none());
        let err = s.require(SecretName::JwtSecretKey).expect_err("not declared");
        assert!(err.to_string().contains("JWT_SECRET_KEY"), "{err}");
    }

    #[test]
    fn jwt_keys_under_32_bytes_are_unusable() {
        assert!(SecretName::JwtSecretKey.unusable(&"k".repeat(31)).is_some());
        assert_eq!(SecretName::JwtSecretKey.unusable(&"k".repeat(32)), None);
        assert_eq!(SecretName::AdminToken.unusable("short"), None, "only the JWT key has a length rule");
    }

    #[tokio::test]
    async fn arn_source_without_client_names_the_variable() {
        let r = SecretResolver::new(vec![(SecretName::JwtSecretKey, SecretSource::Arn("arn:x".into()))], None);
        let err = r.get().await.expect_err("must fail");
        assert!(err.to_string().contains("JWT_SECRET_KEY_ARN"), "{err}");
    }
}

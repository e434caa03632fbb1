//! The AWS SDK config, built from the process env without `aws_config`'s default provider chain.
//!
//! The chain (profiles, SSO, STS web identity, ECS/IMDS…) is never used by a Lambda and cost
//! ~0.4 MB per binary; building [`SdkConfig`] directly lets LTO drop it. Read from the env:
//! - region: `AWS_REGION` (or `AWS_DEFAULT_REGION`);
//! - credentials: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, read on
//!   first use (Lambda sets them for the execution role; the local stack, benches and tests too);
//! - endpoint: `AWS_ENDPOINT_URL` when set (moto locally).
//!
//! Standard retries, timeouts so a stuck call cannot eat the Lambda's budget, and the process's
//! reqwest client as the SDK's HTTP client ([`sdk_http_client`]): the SDK's `default-https-client`
//! would link a second HTTP stack (hyper + h2, its own pool and rustls connector) and aws-lc.

use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::SharedCredentialsProvider;

use crate::platform::http_client::CONNECT_TIMEOUT;
pub use crate::platform::sdk_http::sdk_http_client;

/// The SDK config from the process env (see the module docs). Makes no network call.
pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_from(|name| std::env::var(name).ok())
}

/// [`load_sdk_config`] over any variable lookup (blank values count as unset).
pub fn sdk_config_from(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")).map(Region::new);
    let credentials = EnvironmentVariableCredentialsProvider::new();
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .identity_cache(IdentityCache::lazy().build())
        .retry_config(RetryConfig::standard())
        .timeout_config(timeouts())
        .http_client(sdk_http_client());
    builder.set_endpoint_url(var("AWS_ENDPOINT_URL"));
    builder.build()
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        // The shared client's: one client for every peer (see `sdk_http`).
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> SdkConfig {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        sdk_config_from(|name| vars.get(name).cloned())
    }

    #[test]
    fn region_and_endpoint_come_from_the_env() {
        let sdk = config(&[("AWS_REGION", "eu-west-1"), ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert!(sdk.credentials_provider().is_some());
        assert!(sdk.http_client().is_some(), "the reqwest-based client, not the SDK default");
        assert_eq!(sdk.retry_config().map(|r| r.max_attempts()), Some(3));
        let timeouts = sdk.timeout_config().expect("timeouts");
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(12)));
    }

    #[test]
    fn default_region_is_the_fallback_and_blank_values_are_unset() {
        let sdk = config(&[("AWS_REGION", " "), ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", "")]);
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(sdk.endpoint_url(), None);
        assert!(config(&[]).region().is_none());
    }
}

//! Runtime primitives every layer above may use: typed config and secrets, the API error type,
//! auth (JWT, roles, admin token), crypto (KMS, HMAC), the AWS SDK config, telemetry, the clock and the one
//! retry/backoff policy.
//!
//! Imports only [`crate::domain`]: the store uses the clock and retry policy, so platform sits
//! below it; the HTTP pipeline and app wiring, which use the store, are in `api`.

pub mod auth;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http_client;
pub mod jwt_hs256;
pub mod metrics;
pub mod retry;
pub mod sdk_config;
pub mod sdk_http;
pub mod secrets;
pub mod telemetry;
pub mod tls;

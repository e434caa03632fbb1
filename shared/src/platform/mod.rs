//! Everything a Lambda needs that is not about a feature: typed config and secrets, the app's
//! wiring, the HTTP pipeline (CORS, auth, rate limit, body limits, envelope, audit) and its error
//! type, crypto (KMS, HMAC), telemetry, the clock and the one retry/backoff policy.
//!
//! Imports only [`crate::domain`] and [`crate::store`]; never a feature folder.

pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod error;
pub mod http;
pub mod ratelimit;
pub mod secrets;
pub mod telemetry;

//! `crm-shared`: the common crate every Lambda of the marketing hub stands on.
//!
//! A handler reads like a story: [`http::run_endpoint`] authenticates ([`auth`]), rate-limits
//! ([`ratelimit`]), calls the endpoint's own function with a [`http::RequestCtx`], renders the
//! frontend's envelope ([`error`], [`http`]) and writes an [`audit`] record. Dependencies live in
//! [`app::App`], built once per cold start without network calls.

pub mod app;
pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod connected_index;
pub mod crypto;
pub mod error;
pub mod http;
pub mod meta;
pub mod meta_connect;
pub mod meta_connection;
pub mod meta_leadgen;
pub mod meta_pages;
pub mod oauth_state;
pub mod ratelimit;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod tenant;

pub use app::App;
pub use error::ApiError;
pub mod aggregates;
pub mod crm_events;
pub mod dashboard;
pub mod marketing;
pub mod money;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

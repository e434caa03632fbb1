//! `crm-shared`: the common crate every Lambda of the marketing hub stands on.
//!
//! Folders by what they own, lower ones never importing upper ones (README "Layout" has the map):
//! - [`domain`]: typed values (ids, money, zones, periods) shared by every feature;
//! - [`platform`]: config, secrets, the API error type, auth, crypto, telemetry, clock, retry;
//! - [`store`]: every DynamoDB key, conditional-write and transaction helper, and each store port
//!   (rate limit and audit included) with its DynamoDB and in-memory implementations;
//! - [`api`]: app wiring and the HTTP pipeline (CORS, auth, rate limit, envelope, audit);
//! - [`marketing`]: ROI formulas, aggregates, dashboard views (and the spend sync's place);
//! - [`events`]: CRM domain events: schema, the pure decide step, apply;
//! - [`meta`]: the Graph client, OAuth + state, the connection, accounts, pages, lead ads;
//! - [`automation`]: WhatsApp HSM automation: triggers, scheduling, the evaluator (at-most-once
//!   sends through YCloud), YCloud's webhook, the log and the rules.
//!
//! A handler reads like a story: [`api::http::run_endpoint`] authenticates, rate-limits,
//! calls the endpoint's own function with a [`api::http::RequestCtx`] and renders the
//! frontend's envelope. Dependencies live in [`api::app::App`], built once per cold start
//! without network calls.

pub mod api;
pub mod automation;
pub mod domain;
pub mod events;
pub mod flows;
#[cfg(test)]
mod layering;
pub mod marketing;
pub mod meta;
pub mod platform;
pub mod store;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use api::app::App;
pub use platform::error::ApiError;

//! The edge every HTTP Lambda shares: [`app::App`] (config, clients and store adapters, built
//! once per cold start) and the request pipeline [`http::run_endpoint`] (CORS, auth, rate limit,
//! body limits, envelope, audit).
//!
//! Imports platform, domain and store; never a feature folder.

pub mod app;
pub mod http;
pub mod lambda;
pub mod memo;
pub mod port;
pub mod wiring;

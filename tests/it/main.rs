//! Integration tests: every handler against a real moto server through the real AWS SDK.

mod automation;
mod concurrency;
mod connection_races;
mod crm_events;
mod early_events;
mod foundation;
mod fx_provider;
mod graph_wire;
mod hsm_backlog;
mod isolation;
mod marketing;
mod meta_connection;
mod meta_login;
mod meta_login_hardening;
mod meta_token_check;
mod meta_webhook;
mod metrics;
mod rate_limits;
mod round_trips;
mod spend_sync;
mod store_conformance;
mod whatsapp_tenants;

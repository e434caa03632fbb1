//! Integration tests: every handler against a real moto server through the real AWS SDK.

mod automation;
mod concurrency;
mod crm_events;
mod foundation;
mod marketing;
mod meta_connection;
mod meta_webhook;
mod metrics;
mod round_trips;
mod spend_sync;
mod store_conformance;

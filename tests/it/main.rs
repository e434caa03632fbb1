//! Integration tests: every handler against a real moto server through the real AWS SDK.

mod automation;
mod concurrency;
mod crm_events;
mod foundation;
mod graph_wire;
mod marketing;
mod meta_connection;
mod meta_webhook;
mod spend_sync;
mod store_conformance;

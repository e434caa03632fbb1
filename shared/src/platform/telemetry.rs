//! Structured JSON logs via tracing. Every request runs inside a `request` span carrying
//! `request_id`, `route` and (once verified) `tenant_id`, so each line can be traced and filtered.

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber once (later calls are no-ops, so tests may call it freely).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}

//! Structured JSON logs via tracing. Every request runs inside a `request` span carrying
//! `request_id`, `route` and (once verified) `tenant_id`, so each line can be traced and filtered.
//!
//! `RUST_LOG` is parsed as a [`Targets`] filter: a default `level` and/or comma-separated
//! `target=level` directives (e.g. `warn,crm_shared=debug`). `EnvFilter`'s span/field/regex
//! directives are not supported (they pulled `regex` and its Unicode tables into every binary);
//! an unparsable value falls back to `info`. Release builds compile out `debug` and `trace` events
//! (tracing's `release_max_level_info`, workspace `Cargo.toml`): there `info` is the lowest level.

use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The default filter when `RUST_LOG` is unset or unparsable.
const DEFAULT_FILTER: &str = "info";

/// The log filter for a `RUST_LOG` value (`None`: unset).
pub fn filter_from(spec: Option<&str>) -> Targets {
    spec.map(str::trim)
        .filter(|s| !s.is_empty())
        .and_then(|s| Targets::from_str(s).ok())
        .unwrap_or_else(|| Targets::from_str(DEFAULT_FILTER).unwrap_or_default())
}

/// Installs the JSON subscriber once (later calls are no-ops, so tests may call it freely).
pub fn init() {
    let filter = filter_from(std::env::var("RUST_LOG").ok().as_deref());
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_target(false)
        .with_ansi(false);
    let _ = tracing_subscriber::registry().with(layer).with(filter).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn unset_or_blank_or_invalid_means_info() {
        for spec in [None, Some(""), Some("  "), Some("not a level=!!")] {
            let f = filter_from(spec);
            assert!(f.would_enable("crm_shared::api", &Level::INFO), "{spec:?}");
            assert!(!f.would_enable("crm_shared::api", &Level::DEBUG), "{spec:?}");
        }
    }

    #[test]
    fn a_bare_level_applies_to_every_target() {
        let f = filter_from(Some("warn"));
        assert!(f.would_enable("hyper::proto", &Level::WARN));
        assert!(!f.would_enable("crm_shared::api", &Level::INFO));
    }

    #[test]
    fn target_directives_override_the_default() {
        let f = filter_from(Some("warn,crm_shared=debug,aws_smithy_runtime=off"));
        assert!(f.would_enable("crm_shared::store::keys", &Level::DEBUG));
        assert!(!f.would_enable("crm_shared::store::keys", &Level::TRACE));
        assert!(!f.would_enable("aws_smithy_runtime::client", &Level::ERROR));
        assert!(f.would_enable("reqwest", &Level::WARN));
        assert!(!f.would_enable("reqwest", &Level::INFO));
    }
}

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

/// Longest text a peer controls that goes into a log line or an error message.
pub const PEER_TEXT_MAX_CHARS: usize = 200;

/// `s` ready to log although a peer controls it (the OAuth redirect's `error` and
/// `error_description`, webhook fields, Meta's and YCloud's error messages): at most `max`
/// characters, `…` marking a cut, control characters replaced by `?`. The one place such values
/// are bounded, so a flood of huge values cannot bloat logs (or error bodies).
pub fn bounded(s: &str, max: usize) -> String {
    let clean = |c: char| if c.is_control() { '?' } else { c };
    let mut out: String = s.chars().take(max).map(clean).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// [`bounded`] at [`PEER_TEXT_MAX_CHARS`].
pub fn peer_text(s: &str) -> String {
    bounded(s, PEER_TEXT_MAX_CHARS)
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

    #[test]
    fn peer_text_is_bounded_and_single_line() {
        assert_eq!(peer_text("access_denied"), "access_denied");
        let huge = "x".repeat(1_000_000);
        let cut = peer_text(&huge);
        assert_eq!(cut.chars().count(), PEER_TEXT_MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(peer_text(&"y".repeat(PEER_TEXT_MAX_CHARS)), "y".repeat(PEER_TEXT_MAX_CHARS), "at the bound: uncut");
        assert_eq!(peer_text("a\nfake=\"log\"\r\u{1b}[31m"), "a?fake=\"log\"??[31m");
        assert_eq!(bounded("ñandú", 3), "ñan…", "characters, not bytes");
    }
}

//! Structured JSON logs via tracing. Every request runs inside a `request` span carrying
//! `request_id`, `route` and (once verified) `tenant_id`, so each line can be traced and filtered.

use tracing_subscriber::EnvFilter;

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

#[cfg(test)]
mod tests {
    use super::*;

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

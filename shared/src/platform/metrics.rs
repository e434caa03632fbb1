//! CloudWatch metrics as Embedded Metric Format (EMF) log lines.
//!
//! Lambda ships every stdout line to CloudWatch Logs, and CloudWatch extracts metrics from lines
//! that are JSON objects with an `_aws` block — no API call, no extra latency, no client to build
//! at cold start. One line per [`MetricLine::emit`], written in one `write` so it never interleaves
//! with the tracing logs.
//!
//! Metric names, dimension names **and dimension values** are `&'static str`: they come from our
//! own tables (route names, status classes), never from a request, so no token, secret or phone
//! number can reach a metric. Names used by the template's alarms are constants here.

use std::cell::RefCell;
use std::io::Write;

use serde_json::{json, Map, Value};

/// CloudWatch namespace of every custom metric (the template's alarms use it).
pub const NAMESPACE: &str = "CrmMarketing";

/// Metric names the template's alarms and dashboards refer to. Keep in step with `infra/template.yaml`.
pub mod names {
    pub const REQUESTS: &str = "Requests";
    pub const SPEND_SYNC_TENANTS_OK: &str = "SpendSyncTenantsOk";
    pub const SPEND_SYNC_TENANTS_FAILED: &str = "SpendSyncTenantsFailed";
    pub const SPEND_SYNC_LAG_SECONDS: &str = "SpendSyncLagSeconds";
    /// A spend-sync fan-out whose provider FX rates refresh failed (1; 0 when it worked).
    pub const FX_PROVIDER_FAILURES: &str = "FxProviderFailures";
    pub const HSM_SENDS: &str = "HsmSends";
    pub const HSM_SEND_FAILURES: &str = "HsmSendFailures";
    pub const HSM_DEFERRALS: &str = "HsmDeferrals";
    pub const WEBHOOK_REJECTIONS: &str = "WebhookRejections";
    pub const META_CALLS: &str = "MetaCalls";
    pub const META_THROTTLES: &str = "MetaThrottles";
    pub const META_TOKEN_EXPIRED: &str = "MetaTokenExpired";
    pub const EARLY_EVENTS_EXPIRED: &str = "EarlyEventsExpired";
    /// Handler latency of one request (under the `Requests` dimensions).
    pub const LATENCY_MS: &str = "LatencyMs";
}

/// Dimension names (their values are `&'static str` from our own tables too).
pub mod dims {
    /// The function's name (`marketing-stats`), never the raw path.
    pub const ROUTE: &str = "Route";
    /// `2xx`…`5xx`, from [`super::status_class`].
    pub const STATUS_CLASS: &str = "StatusClass";
    /// Who sent a webhook: `meta` or `ycloud`.
    pub const SOURCE: &str = "Source";
}

/// CloudWatch units we use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF record: a set of dimensions and the metric values measured under them.
#[derive(Debug, Clone, Default)]
pub struct MetricLine {
    dimensions: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, Unit, f64)>,
}

impl MetricLine {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a dimension (at most 30 per line; CloudWatch's limit).
    pub fn dimension(mut self, name: &'static str, value: &'static str) -> Self {
        if self.dimensions.len() < 30 {
            self.dimensions.push((name, value));
        }
        self
    }

    pub fn count(self, name: &'static str, n: u64) -> Self {
        // u64 → f64 is exact far beyond any count we emit.
        self.value(name, Unit::Count, n as f64)
    }

    /// Adds a value (at most 100 per line; CloudWatch's limit). Non-finite values are dropped:
    /// CloudWatch rejects the whole line for them.
    pub fn value(mut self, name: &'static str, unit: Unit, value: f64) -> Self {
        if value.is_finite() && self.values.len() < 100 {
            self.values.push((name, unit, value));
        }
        self
    }

    /// The EMF JSON object, stamped with `timestamp_ms` (Unix epoch milliseconds).
    pub fn render(&self, timestamp_ms: i64) -> String {
        let dimension_names: Vec<&str> = self.dimensions.iter().map(|(name, _)| *name).collect();
        let metrics: Vec<Value> =
            self.values.iter().map(|(name, unit, _)| json!({ "Name": name, "Unit": unit.as_str() })).collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [dimension_names],
                    "Metrics": metrics,
                }],
            }),
        );
        for (name, value) in &self.dimensions {
            root.insert((*name).into(), Value::from(*value));
        }
        for (name, _, value) in &self.values {
            root.insert((*name).into(), json!(value));
        }
        Value::Object(root).to_string()
    }

    /// Writes the line to stdout (where Lambda's log agent picks it up). Nothing to write → no line.
    pub fn emit(self) {
        if self.values.is_empty() {
            return;
        }
        let line = self.render(chrono::Utc::now().timestamp_millis());
        CAPTURE.with(|c| {
            if let Some(lines) = c.borrow_mut().as_mut() {
                lines.push(line.clone());
            }
        });
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(format!("{line}\n").as_bytes());
    }
}

/// Emits one dimensionless counter (what most job metrics are).
pub fn count(name: &'static str, n: u64) {
    MetricLine::new().count(name, n).emit();
}

/// The status class dimension value of an HTTP status.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

thread_local! {
    static CAPTURE: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Starts (or restarts, empty) recording the lines emitted **on this thread** — a test's own
/// lines: `#[tokio::test]` runs the test and every task it spawns on its one thread, so tests
/// running in parallel never see each other's lines. Returns what the previous capture recorded.
pub fn start_capture() -> Vec<String> {
    CAPTURE.with(|c| c.borrow_mut().replace(Vec::new()).unwrap_or_default())
}

/// The lines recorded on this thread since [`start_capture`] (capture stays on).
pub fn captured() -> Vec<String> {
    CAPTURE.with(|c| c.borrow().clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).expect("EMF line is JSON")
    }

    #[test]
    fn a_line_is_valid_emf() {
        let line = MetricLine::new()
            .dimension("Route", "marketing-stats")
            .dimension("StatusClass", status_class(503))
            .count(names::REQUESTS, 1)
            .value("LatencyMs", Unit::Milliseconds, 12.5)
            .render(1_700_000_000_123);
        let v = parse(&line);
        let aws = &v["_aws"];
        assert_eq!(aws["Timestamp"], 1_700_000_000_123i64);
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["Route", "StatusClass"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Requests", "Unit": "Count"}, {"Name": "LatencyMs", "Unit": "Milliseconds"}])
        );
        // Every referenced dimension and metric is a root member (CloudWatch drops the line otherwise).
        assert_eq!(v["Route"], "marketing-stats");
        assert_eq!(v["StatusClass"], "5xx");
        assert_eq!(v["Requests"], 1.0);
        assert_eq!(v["LatencyMs"], 12.5);
    }

    #[test]
    fn a_dimensionless_line_has_one_empty_dimension_set() {
        let v = parse(&MetricLine::new().count(names::SPEND_SYNC_TENANTS_FAILED, 3).render(0));
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]));
        assert_eq!(v[names::SPEND_SYNC_TENANTS_FAILED], 3.0);
    }

    #[test]
    fn non_finite_values_are_dropped_and_empty_lines_not_written() {
        let line = MetricLine::new().value("Lag", Unit::Seconds, f64::NAN);
        assert!(line.values.is_empty());
        line.emit();
        assert!(!captured().iter().any(|l| l.contains("\"Lag\"")));
    }

    #[test]
    fn emitted_lines_are_captured() {
        start_capture();
        MetricLine::new().count(names::HSM_DEFERRALS, 7).emit();
        assert!(captured().iter().any(|l| parse(l)[names::HSM_DEFERRALS] == 7.0));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(302), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(500), "5xx");
    }
}

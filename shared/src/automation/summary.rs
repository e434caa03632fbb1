//! What one evaluator run did: an [`Outcome`] per due item, summed in a [`RunSummary`], and the
//! run's metric line (`HsmSends`, `HsmSendFailures`, `HsmDeferrals`).

use std::collections::HashMap;

use serde::Serialize;

use crate::platform::metrics::{names, MetricLine};

/// What happened to one due item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Sent,
    /// The send had reached YCloud in an earlier attempt: recorded, not repeated.
    FoundSent,
    Deferred,
    Cancelled,
    Skipped,
    Failed,
    /// Given up while YCloud may have the message (no lookup answered): logged `unknown`, never
    /// resent.
    Unknown,
    /// Another run holds or settled the claim.
    Lost,
    /// Left for the next run (deadline near).
    NotStarted,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    pub items: usize,
    pub items_read: u64,
    pub outcomes: HashMap<Outcome, usize>,
}

impl RunSummary {
    pub fn count(&self, o: Outcome) -> usize {
        self.outcomes.get(&o).copied().unwrap_or(0)
    }
}

impl RunSummary {
    /// One dimensionless line per run (zeros included, so the alarms see every run).
    pub fn metric_line(&self) -> MetricLine {
        let n = |o: Outcome| self.count(o) as u64;
        MetricLine::new()
            .count(names::HSM_SENDS, n(Outcome::Sent))
            .count(names::HSM_SEND_FAILURES, n(Outcome::Failed) + n(Outcome::Unknown))
            .count(names::HSM_DEFERRALS, n(Outcome::Deferred))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_one_line_of_sends_failures_and_deferrals() {
        let mut s = RunSummary { items: 7, ..Default::default() };
        for (o, n) in [(Outcome::Sent, 3), (Outcome::FoundSent, 1), (Outcome::Failed, 1), (Outcome::Deferred, 2)] {
            s.outcomes.insert(o, n);
        }
        let v: serde_json::Value = serde_json::from_str(&s.metric_line().render(0)).expect("EMF JSON");
        assert_eq!((v["HsmSends"].clone(), v["HsmSendFailures"].clone()), (3.0.into(), 1.0.into()));
        assert_eq!(v["HsmDeferrals"], 2.0);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().map(Vec::len), Some(3));
        let empty: serde_json::Value =
            serde_json::from_str(&RunSummary::default().metric_line().render(0)).expect("EMF JSON");
        assert_eq!(empty["HsmSends"], 0.0, "an idle run still reports");
    }
}

//! Drift test: the HSM evaluator never overlaps itself (issue 19 item 8). Two runs at once would
//! race over the same due items (the claim keeps that from double sends, but not from double
//! lookups, counters and log rewrites), and an asynchronous retry of a failed run is a second
//! run beside the next scheduled one.

#[cfg(test)]
mod tests {
    use crate::template::{block, property, template_text};

    #[test]
    fn the_evaluator_runs_one_at_a_time_and_is_never_retried_asynchronously() {
        let text = template_text();
        let f = block(&text, "HsmTriggerEvaluatorFunction").expect("the evaluator's function");
        assert_eq!(property(&f, "ReservedConcurrentExecutions"), Some("1"), "reserved concurrency 1");
        let invoke = f.iter().position(|l| l.trim() == "EventInvokeConfig:").expect("EventInvokeConfig");
        assert_eq!(property(&f[invoke..], "MaximumRetryAttempts"), Some("0"), "no asynchronous retries");
        // The schedule stays the only trigger.
        let events = f.iter().position(|l| l.trim() == "Events:").expect("Events");
        let types: Vec<&str> = f[events..].iter().filter_map(|l| l.trim().strip_prefix("Type: ")).collect();
        assert_eq!(types.first(), Some(&"Schedule"), "{types:?}");
    }
}

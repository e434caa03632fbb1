//! A small reader of `infra/template.yaml` (no YAML dependency: the template is ours and keeps a
//! regular shape), so tests can check that code and template agree.

pub mod security;
pub mod wiring;

/// One `AWS::Serverless::Function` of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFunction {
    pub logical_id: String,
    pub binary: Option<String>,
    /// `(METHOD, path)` of its HttpApi events.
    pub routes: Vec<(String, String)>,
    /// Whether a schedule/EventBridge rule invokes it.
    pub has_event_rule: bool,
}

pub fn template_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn value(line: &str, key: &str) -> Option<String> {
    let t = line.trim_start();
    t.strip_prefix(key).and_then(|r| r.strip_prefix(':')).map(|v| v.trim().trim_matches('"').to_string())
}

/// Every serverless function with its binary and HTTP routes.
pub fn functions(text: &str) -> Vec<TemplateFunction> {
    let mut out: Vec<TemplateFunction> = Vec::new();
    let mut current: Option<TemplateFunction> = None;
    let mut pending_path: Option<String> = None;
    let mut in_http_event = false;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if indent == 2 && line.trim_end().ends_with(':') && !line.trim_start().starts_with('#') {
            if let Some(f) = current.take() {
                out.push(f);
            }
            let id = line.trim().trim_end_matches(':').to_string();
            current = Some(TemplateFunction { logical_id: id, binary: None, routes: vec![], has_event_rule: false });
            in_http_event = false;
            continue;
        }
        if indent == 0 && !line.trim().is_empty() {
            if let Some(f) = current.take() {
                out.push(f);
            }
            continue;
        }
        let Some(f) = current.as_mut() else { continue };
        if let Some(t) = value(line, "Type") {
            in_http_event = t == "HttpApi";
            if t == "Schedule" || t == "EventBridgeRule" || t == "ScheduleV2" {
                f.has_event_rule = true;
            }
            if t == "AWS::Serverless::Function" {
                f.binary.get_or_insert_with(String::new);
            }
        }
        if let Some(b) = value(line, "Binary") {
            f.binary = Some(b);
        }
        if in_http_event {
            if let Some(p) = value(line, "Path") {
                pending_path = Some(p);
            }
            if let Some(m) = value(line, "Method") {
                if let Some(p) = pending_path.take() {
                    f.routes.push((m.to_ascii_uppercase(), p));
                }
            }
        }
    }
    if let Some(f) = current.take() {
        out.push(f);
    }
    out.into_iter().filter(|f| f.binary.is_some()).collect()
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Whether a line ends the block opened at `indent` (a key at the same or a lesser indent).
fn closes(line: &str, indent: usize) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#') && indent_of(line) <= indent
}

/// The lines under a key written `  <key>:` at indent 2 (a parameter, a resource, a condition, a
/// loop or a `Globals` section), up to the next key at indent 2 or less.
pub fn block<'a>(text: &'a str, key: &str) -> Option<Vec<&'a str>> {
    let head = format!("  {key}:");
    let mut lines = text.lines().skip_while(|l| l.trim_end() != head);
    lines.next()?;
    Some(lines.take_while(|l| !closes(l, 2)).collect())
}

/// The collection of a `Fn::ForEach::<loop_name>` loop written in block style (`    - - A` then
/// `      - B` lines).
pub fn foreach_collection(text: &str, loop_name: &str) -> Vec<String> {
    let Some(lines) = block(text, &format!("Fn::ForEach::{loop_name}")) else { return vec![] };
    let mut items = Vec::new();
    for line in lines.iter().skip_while(|l| !l.starts_with("    - - ")) {
        if let Some(item) = line.strip_prefix("    - - ").or_else(|| line.strip_prefix("      - ")) {
            items.push(item.trim().to_string());
        } else {
            break;
        }
    }
    items
}

/// Every `AWS::CloudWatch::Alarm` of the template (plain or inside a loop): the lines of its
/// definition from its `Type` line to the next key at a lesser indent.
pub fn alarms(text: &str) -> Vec<Vec<&str>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "Type: AWS::CloudWatch::Alarm" {
            let indent = indent_of(line);
            let body = lines[i + 1..].iter().take_while(|l| !closes(l, indent - 1)).copied().collect();
            out.push(body);
        }
    }
    out
}

/// Logical ids of the resources of a type (keys at indent 2 followed by their `Type` line).
pub fn resources_of_type(text: &str, ty: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .windows(2)
        .filter(|w| indent_of(w[0]) == 2 && w[1].trim() == format!("Type: {ty}"))
        .map(|w| w[0].trim().trim_end_matches(':').to_string())
        .collect()
}

/// The value of `key: value` among `lines` (first occurrence, trimmed, quotes removed).
pub fn property<'a>(lines: &[&'a str], key: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let t = l.trim_start().strip_prefix(key)?.strip_prefix(':')?;
        Some(t.trim().trim_matches('"'))
    })
}

/// `meta-token-status` → `MetaTokenStatusFunction`.
pub fn logical_id(name: &str) -> String {
    let mut id: String = name
        .split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect();
    id.push_str("Function");
    id
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crm_shared::platform::metrics;

    use super::*;
    use crate::routes::routes;

    #[test]
    fn local_routes_equal_template_routes() {
        let text = template_text();
        let from_template: BTreeSet<(String, String)> = functions(&text).into_iter().flat_map(|f| f.routes).collect();
        let served: BTreeSet<(String, String)> =
            routes().iter().map(|r| (r.endpoint.method.as_str().to_string(), r.endpoint.path.to_string())).collect();
        assert_eq!(served, from_template, "infra/local serves different routes than infra/template.yaml declares");
    }

    #[test]
    fn each_http_function_has_its_derived_logical_id_and_binary() {
        let fns = functions(&template_text());
        for (name, served) in crate::routes::routes_by_function() {
            let id = logical_id(name);
            let f = fns.iter().find(|f| f.logical_id == id).unwrap_or_else(|| panic!("{id} missing from template"));
            assert_eq!(f.binary.as_deref(), Some(name), "{id} builds the wrong binary");
            // The same set of routes, each once, on the function's own resource.
            let declared: BTreeSet<&(String, String)> = f.routes.iter().collect();
            assert_eq!(declared.len(), f.routes.len(), "{id} declares a route twice");
            assert_eq!(declared, served.iter().collect::<BTreeSet<_>>(), "{id}");
        }
    }

    #[test]
    fn every_function_crate_is_in_the_template() {
        let fns = functions(&template_text());
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../functions");
        for entry in std::fs::read_dir(dir).expect("functions/") {
            let name = entry.expect("entry").file_name().to_string_lossy().to_string();
            assert!(
                fns.iter().any(|f| f.binary.as_deref() == Some(name.as_str())),
                "functions/{name} has no template resource"
            );
        }
    }

    #[test]
    fn template_env_vars_are_documented_config() {
        let text = template_text();
        let known: Vec<&str> =
            crm_shared::platform::config::ENV_VARS.iter().flat_map(|(n, ..)| n.split(" / ")).collect();
        let mut in_vars = false;
        let mut vars_indent = 0;
        for line in text.lines() {
            let indent = line.len() - line.trim_start().len();
            if line.trim() == "Variables:" {
                in_vars = true;
                vars_indent = indent;
                continue;
            }
            if in_vars {
                if indent <= vars_indent || line.trim().is_empty() {
                    in_vars = false;
                    continue;
                }
                let var = line.trim().split(':').next().unwrap_or("");
                assert!(known.contains(&var), "template sets {var}, which config::ENV_VARS does not document");
            }
        }
    }

    #[test]
    fn configuration_doc_documents_every_env_var() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CONFIGURATION.md"))
            .expect("docs/CONFIGURATION.md");
        for (name, ..) in crm_shared::platform::config::ENV_VARS {
            for var in name.split(" / ") {
                assert!(doc.contains(&format!("`{var}`")), "docs/CONFIGURATION.md's table lacks `{var}`");
            }
        }
    }

    #[test]
    fn no_openssl_anywhere_in_the_dependency_tree() {
        let lock =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).expect("Cargo.lock");
        for banned in ["name = \"openssl\"", "name = \"openssl-sys\"", "name = \"native-tls\""] {
            assert!(!lock.contains(banned), "Cargo.lock contains {banned}: TLS must be rustls only");
        }
    }

    /// What every alarm notifies: the topic when `AlarmTopicArn` is set, nothing otherwise.
    const TOPIC_ACTIONS: &str = "!If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]";

    #[test]
    fn every_function_has_errors_and_throttles_alarms() {
        let text = template_text();
        let listed: BTreeSet<String> = foreach_collection(&text, "FunctionAlarms").into_iter().collect();
        let fns: BTreeSet<String> =
            functions(&text).into_iter().map(|f| f.logical_id.trim_end_matches("Function").to_string()).collect();
        assert!(!fns.is_empty());
        assert_eq!(listed, fns, "Fn::ForEach::FunctionAlarms must list every function of the template, once each");
        let body = block(&text, "Fn::ForEach::FunctionAlarms").expect("loop");
        for (key, metric) in [("${Name}ErrorsAlarm:", "Errors"), ("${Name}ThrottlesAlarm:", "Throttles")] {
            let start = body.iter().position(|l| l.trim_start().trim_start_matches("- ") == key);
            let alarm = &body[start.unwrap_or_else(|| panic!("{key} missing from the loop"))..];
            assert_eq!(property(alarm, "Namespace"), Some("AWS/Lambda"), "{key}");
            assert_eq!(property(alarm, "MetricName"), Some(metric), "{key}");
            assert_eq!(
                property(alarm, "Dimensions"),
                Some(r#"[{ Name: FunctionName, Value: { Ref: !Sub "${Name}Function" } }]"#),
                "{key} must watch the loop's own function"
            );
            assert_eq!(property(alarm, "Threshold"), Some("1"), "{key}: one failure is worth a look");
        }
    }

    #[test]
    fn every_dead_letter_queue_has_an_alarm() {
        let text = template_text();
        let lines: Vec<&str> = text.lines().collect();
        // A dead-letter queue: named so, or named as one (Lambda DeadLetterQueue TargetArn, a
        // rule's DeadLetterConfig Arn, an SQS RedrivePolicy deadLetterTargetArn).
        let is_dlq = |q: &str| {
            q.ends_with("DeadLetterQueue")
                || lines.windows(3).any(|w| {
                    w[0].to_ascii_lowercase().contains("deadletter")
                        && w.iter().any(|l| l.contains(&format!("{q}.Arn")))
                })
        };
        let dlqs: BTreeSet<String> =
            resources_of_type(&text, "AWS::SQS::Queue").into_iter().filter(|q| is_dlq(q)).collect();
        assert!(dlqs.len() >= 2, "expected the crm-events and spend-sync dead-letter queues, found {dlqs:?}");
        let alarmed: BTreeSet<String> = foreach_collection(&text, "DeadLetterAlarms").into_iter().collect();
        assert_eq!(alarmed, dlqs, "Fn::ForEach::DeadLetterAlarms must list every dead-letter queue");
        let body = block(&text, "Fn::ForEach::DeadLetterAlarms").expect("loop");
        assert_eq!(property(&body, "MetricName"), Some("ApproximateNumberOfMessagesVisible"));
        assert_eq!(
            property(&body, "Dimensions"),
            Some(r#"[{ Name: QueueName, Value: !GetAtt [!Sub "${Queue}", QueueName] }]"#)
        );
        assert_eq!(property(&body, "Threshold"), Some("0"));
        assert_eq!(property(&body, "ComparisonOperator"), Some("GreaterThanThreshold"), "any message alarms");
    }

    #[test]
    fn every_alarm_notifies_the_topic_only_under_its_condition() {
        let text = template_text();
        let all = alarms(&text);
        assert!(all.len() >= 6, "expected the loops and the standalone alarms, found {}", all.len());
        for alarm in &all {
            let desc = property(alarm, "AlarmDescription").unwrap_or("?");
            assert_eq!(property(alarm, "AlarmActions"), Some(TOPIC_ACTIONS), "{desc}");
            assert_eq!(property(alarm, "OKActions"), Some(TOPIC_ACTIONS), "{desc}");
            for line in alarm.iter().filter(|l| l.contains("Actions")) {
                let key = line.trim_start().split(':').next().unwrap_or("");
                assert!(["AlarmActions", "OKActions"].contains(&key), "{desc}: unexpected {key}");
            }
            assert_eq!(property(alarm, "TreatMissingData"), Some("notBreaching"), "{desc}");
        }
        let param = block(&text, "AlarmTopicArn").expect("AlarmTopicArn parameter");
        assert_eq!(property(&param, "Default"), Some(""), "the topic is optional");
        assert!(
            text.contains("\n  HasAlarmTopic: !Not [!Equals [!Ref AlarmTopicArn, \"\"]]\n"),
            "condition HasAlarmTopic = AlarmTopicArn set"
        );
    }

    #[test]
    fn named_alarms_watch_what_the_issue_asks() {
        let text = template_text();
        let all = alarms(&text);
        let find = |ns: &str, metric: &str| {
            all.iter().any(|a| {
                a.iter().any(|l| l.trim() == format!("Namespace: {ns}"))
                    && a.iter().any(|l| l.trim() == format!("MetricName: {metric}"))
            })
        };
        assert!(find("AWS/ApiGateway", "5xx") && find("AWS/ApiGateway", "Count"), "API 5xx rate");
        assert!(
            find("AWS/DynamoDB", "ReadThrottleEvents") && find("AWS/DynamoDB", "WriteThrottleEvents"),
            "table throttles"
        );
        assert!(find(metrics::NAMESPACE, metrics::names::SPEND_SYNC_TENANTS_FAILED), "spend-sync failed tenants");
        assert!(find(metrics::NAMESPACE, metrics::names::EARLY_EVENTS_EXPIRED), "early events given up on");
        // Custom-metric alarms use only names the code emits.
        let emitted = [
            metrics::names::REQUESTS,
            metrics::names::SPEND_SYNC_TENANTS_OK,
            metrics::names::SPEND_SYNC_TENANTS_FAILED,
            metrics::names::SPEND_SYNC_LAG_SECONDS,
            metrics::names::HSM_SENDS,
            metrics::names::HSM_SEND_FAILURES,
            metrics::names::HSM_DEFERRALS,
            metrics::names::WEBHOOK_REJECTIONS,
            metrics::names::META_CALLS,
            metrics::names::META_THROTTLES,
            metrics::names::META_TOKEN_EXPIRED,
            metrics::names::EARLY_EVENTS_EXPIRED,
        ];
        for alarm in all.iter().filter(|a| property(a, "Namespace") == Some(metrics::NAMESPACE)) {
            let name = property(alarm, "MetricName").unwrap_or("");
            assert!(emitted.contains(&name), "alarm on {name}, which crm_shared::platform::metrics does not emit");
        }
        // The template's list of custom metrics names each of them.
        for name in emitted {
            assert!(text.contains(&format!("#   {name} ")), "the template's metric comment block lacks {name}");
        }
    }

    #[test]
    fn public_webhooks_crm_events_and_spend_sync_have_reserved_concurrency() {
        let text = template_text();
        for (id, param) in [
            ("MetaWebhookFunction", "WebhookReservedConcurrency"),
            ("YcloudWebhookFunction", "WebhookReservedConcurrency"),
            ("CrmEventsFunction", "CrmEventsReservedConcurrency"),
            // The hourly fan-out's per-tenant runs cannot starve the API and the evaluator.
            ("MetaSpendSyncFunction", "SpendSyncReservedConcurrency"),
        ] {
            let f = block(&text, id).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(property(&f, "ReservedConcurrentExecutions"), Some(format!("!Ref {param}").as_str()), "{id}");
            let p = block(&text, param).unwrap_or_else(|| panic!("parameter {param} missing"));
            let default: u32 = property(&p, "Default").and_then(|d| d.parse().ok()).expect("numeric default");
            assert!((1..=100).contains(&default), "{param}: a sane default, got {default}");
            assert_eq!(property(&p, "MinValue"), Some("1"), "{param}: 0 would stop the function");
        }
        // A throttled tenant run is an async invocation: it waits in Lambda's queue for its event
        // age, then goes to the function's dead-letter queue, never silently dropped.
        let sync = block(&text, "MetaSpendSyncFunction").expect("MetaSpendSyncFunction");
        let age: u32 = property(&sync, "MaximumEventAgeInSeconds").and_then(|a| a.parse().ok()).expect("event age");
        assert!(age >= 3600, "throttled tenant runs need the hour to be retried, got {age} s");
        assert!(sync.iter().any(|l| l.trim() == "DeadLetterQueue:"), "the spend sync dead-letters what ages out");
    }

    #[test]
    fn tracing_is_active_for_every_function() {
        let text = template_text();
        let globals = block(&text, "Function").expect("Globals.Function");
        assert_eq!(property(&globals, "Tracing"), Some("Active"));
        for line in text.lines().filter(|l| l.trim_start().starts_with("Tracing:")) {
            assert_eq!(line.trim(), "Tracing: Active", "a function turns tracing off");
        }
    }

    #[test]
    fn stage_parameters_have_no_localhost_defaults_and_cors_allows_only_used_methods() {
        let text = template_text();
        for name in ["FrontendUrl", "CorsAllowedOrigins"] {
            let p = block(&text, name).unwrap_or_else(|| panic!("parameter {name} missing"));
            assert_eq!(property(&p, "Default"), None, "{name} must be required (no default)");
            let pattern = property(&p, "AllowedPattern").unwrap_or("");
            assert!(pattern.starts_with("^https://"), "{name} must be https-only, pattern {pattern:?}");
        }
        let localhost = text.lines().any(|l| !l.trim_start().starts_with('#') && l.contains("localhost"));
        assert!(!localhost, "no localhost in the deployed template");
        let used: BTreeSet<String> = functions(&text).into_iter().flat_map(|f| f.routes).map(|(m, _)| m).collect();
        let api = block(&text, "HttpApi").expect("HttpApi");
        let allowed: BTreeSet<String> = property(&api, "AllowMethods")
            .expect("AllowMethods")
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        assert_eq!(allowed, used, "CORS AllowMethods must be exactly the routes' methods");
        // The local stack's preflight answers the same methods (plus OPTIONS itself).
        let local: BTreeSet<String> = crm_shared::api::http::ALLOWED_METHODS
            .split(',')
            .map(|m| m.trim().to_string())
            .filter(|m| m != "OPTIONS")
            .collect();
        assert_eq!(local, used, "the local preflight's methods must be the routes' methods");
    }

    #[test]
    fn logical_ids_derive_from_names() {
        assert_eq!(logical_id("meta-token-status"), "MetaTokenStatusFunction");
        assert_eq!(logical_id("hsm-trigger-evaluator"), "HsmTriggerEvaluatorFunction");
    }
}

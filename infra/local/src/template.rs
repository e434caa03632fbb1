//! A small reader of `infra/template.yaml` (no YAML dependency: the template is ours and keeps a
//! regular shape), so tests can check that code and template agree.

pub mod security;

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
    fn readme_documents_every_env_var() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
        for (name, ..) in crm_shared::platform::config::ENV_VARS {
            for var in name.split(" / ") {
                assert!(readme.contains(&format!("`{var}`")), "README's configuration table lacks `{var}`");
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

    #[test]
    fn logical_ids_derive_from_names() {
        assert_eq!(logical_id("meta-token-status"), "MetaTokenStatusFunction");
        assert_eq!(logical_id("hsm-trigger-evaluator"), "HsmTriggerEvaluatorFunction");
    }
}

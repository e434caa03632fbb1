//! The OpenAPI document (`functions/openapi`) against the code: exactly the routes the local stack
//! serves (and so, by `template.rs`, the template declares), each with its function's name and
//! its access policy.

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crm_shared::platform::auth::Access;
    use serde_json::Value;

    use crate::routes::routes;

    fn operations() -> Vec<(String, String, Value)> {
        let doc = openapi::doc::document();
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                out.push((method.to_ascii_uppercase(), path.clone(), op.clone()));
            }
        }
        out
    }

    #[test]
    fn the_document_has_every_served_route_and_no_other() {
        let documented: BTreeSet<(String, String)> = operations().into_iter().map(|(m, p, _)| (m, p)).collect();
        let served: BTreeSet<(String, String)> =
            routes().iter().map(|r| (r.endpoint.method.as_str().to_string(), r.endpoint.path.to_string())).collect();
        let missing: Vec<_> = served.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "undocumented routes: {missing:?}; documented but not served: {extra:?}"
        );
    }

    #[test]
    fn each_operation_names_its_function_and_its_access() {
        let ops = operations();
        for r in routes() {
            let e = r.endpoint;
            let (_, _, op) = ops
                .iter()
                .find(|(m, p, _)| m == e.method.as_str() && p == e.path)
                .unwrap_or_else(|| panic!("{} {} undocumented", e.method, e.path));
            assert_eq!(op["x-function"], e.name, "{} {}", e.method, e.path);
            let security = op["security"].as_array().expect("security");
            let needs_jwt = security.iter().any(|s| s.get("bearerJwt").is_some());
            assert_eq!(
                needs_jwt,
                e.access != Access::Public,
                "{} {}: JWT in the document vs the code",
                e.method,
                e.path
            );
            if needs_jwt {
                let roles: Vec<&str> =
                    op["x-roles"].as_array().expect("x-roles").iter().filter_map(Value::as_str).collect();
                assert_eq!(roles, openapi::doc::ops::roles(e.access), "{} {}", e.method, e.path);
                for code in ["401", "403", "429"] {
                    assert!(op["responses"].get(code).is_some(), "{} {} documents no {code}", e.method, e.path);
                }
            }
        }
    }

    #[test]
    fn path_parameters_match_the_route_template() {
        for (method, path, op) in operations() {
            let in_path: BTreeSet<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_string)
                .collect();
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(in_path, declared, "{method} {path}");
        }
    }
}

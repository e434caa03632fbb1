//! The one list of HTTP functions: each function's [`Endpoint`] and its library handler.
//! Adding a function = one line here, one crate in `functions/`, one resource in the template.
//! A function serving several routes (e.g. `meta-webhook`: GET handshake + POST deliveries) has
//! one [`Route`] per route, all with the function's name and its one handler.

use std::future::Future;
use std::pin::Pin;

use crm_shared::api::http::Endpoint;
use crm_shared::App;
use lambda_http::{Body, Request, Response};

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;
pub type Handler = for<'a> fn(&'a App, Request) -> HandlerFuture<'a>;

pub struct Route {
    pub endpoint: &'static Endpoint,
    pub handler: Handler,
}

/// Every HTTP function, in the order of `infra/template.yaml`.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            endpoint: &meta_token_status::ENDPOINT,
            handler: |app, req| Box::pin(meta_token_status::handle(app, req)),
        },
        Route { endpoint: &meta_auth_url::ENDPOINT, handler: |app, req| Box::pin(meta_auth_url::handle(app, req)) },
        Route {
            endpoint: &meta_auth_callback::ENDPOINT,
            handler: |app, req| Box::pin(meta_auth_callback::handle(app, req)),
        },
        Route {
            endpoint: &meta_auth_disconnect::ENDPOINT,
            handler: |app, req| Box::pin(meta_auth_disconnect::handle(app, req)),
        },
        Route {
            endpoint: &meta_test_connection::ENDPOINT,
            handler: |app, req| Box::pin(meta_test_connection::handle(app, req)),
        },
        Route {
            endpoint: &meta_debug_token::ENDPOINT,
            handler: |app, req| Box::pin(meta_debug_token::handle(app, req)),
        },
        Route { endpoint: &meta_portfolios::ENDPOINT, handler: |app, req| Box::pin(meta_portfolios::handle(app, req)) },
        Route { endpoint: &meta_accounts::ENDPOINT, handler: |app, req| Box::pin(meta_accounts::handle(app, req)) },
        Route { endpoint: &meta_connect::ENDPOINT, handler: |app, req| Box::pin(meta_connect::handle(app, req)) },
        Route {
            endpoint: &admin_deployment_config::ENDPOINT,
            handler: |app, req| Box::pin(admin_deployment_config::handle(app, req)),
        },
        Route {
            endpoint: &marketing_combined_stats::ENDPOINT,
            handler: |app, req| Box::pin(marketing_combined_stats::handle(app, req)),
        },
        Route { endpoint: &marketing_stats::ENDPOINT, handler: |app, req| Box::pin(marketing_stats::handle(app, req)) },
        Route {
            endpoint: &marketing_stats_roi::ENDPOINT,
            handler: |app, req| Box::pin(marketing_stats_roi::handle(app, req)),
        },
        Route {
            endpoint: &marketing_fx_rates::ENDPOINT,
            handler: |app, req| Box::pin(marketing_fx_rates::handle(app, req)),
        },
        Route {
            endpoint: &marketing_campaigns::ENDPOINT,
            handler: |app, req| Box::pin(marketing_campaigns::handle(app, req)),
        },
        Route {
            endpoint: &marketing_campaign::ENDPOINT,
            handler: |app, req| Box::pin(marketing_campaign::handle(app, req)),
        },
        Route {
            endpoint: &marketing_campaign_insights::ENDPOINT,
            handler: |app, req| Box::pin(marketing_campaign_insights::handle(app, req)),
        },
        Route {
            endpoint: &marketing_settings::ENDPOINT,
            handler: |app, req| Box::pin(marketing_settings::handle(app, req)),
        },
        Route {
            endpoint: &meta_webhook::VERIFY_ENDPOINT,
            handler: |app, req| Box::pin(meta_webhook::handle(app, req)),
        },
        Route {
            endpoint: &meta_webhook::DELIVERY_ENDPOINT,
            handler: |app, req| Box::pin(meta_webhook::handle(app, req)),
        },
        Route { endpoint: &ycloud_webhook::ENDPOINT, handler: |app, req| Box::pin(ycloud_webhook::handle(app, req)) },
        Route { endpoint: &automation_logs::ENDPOINT, handler: |app, req| Box::pin(automation_logs::handle(app, req)) },
        Route {
            endpoint: &automation_rules::READ_ENDPOINT,
            handler: |app, req| Box::pin(automation_rules::handle(app, req)),
        },
        Route {
            endpoint: &automation_rules::CREATE_ENDPOINT,
            handler: |app, req| Box::pin(automation_rules::handle(app, req)),
        },
        Route {
            endpoint: &automation_rules::UPDATE_ENDPOINT,
            handler: |app, req| Box::pin(automation_rules::handle(app, req)),
        },
        Route { endpoint: &hsm_templates::ENDPOINT, handler: |app, req| Box::pin(hsm_templates::handle(app, req)) },
        Route {
            endpoint: &whatsapp_connection::READ_ENDPOINT,
            handler: |app, req| Box::pin(whatsapp_connection::handle(app, req)),
        },
        Route {
            endpoint: &whatsapp_connection::CONNECT_ENDPOINT,
            handler: |app, req| Box::pin(whatsapp_connection::handle(app, req)),
        },
        Route {
            endpoint: &whatsapp_connection::DISCONNECT_ENDPOINT,
            handler: |app, req| Box::pin(whatsapp_connection::handle(app, req)),
        },
        Route { endpoint: &meta_datasets::ENDPOINT, handler: |app, req| Box::pin(meta_datasets::handle(app, req)) },
        Route {
            endpoint: &marketing_conversions::READ_ENDPOINT,
            handler: |app, req| Box::pin(marketing_conversions::handle(app, req)),
        },
        Route {
            endpoint: &marketing_conversions::SAVE_ENDPOINT,
            handler: |app, req| Box::pin(marketing_conversions::handle(app, req)),
        },
        Route { endpoint: &openapi::ENDPOINT, handler: |_, req| Box::pin(async move { openapi::handle(&req) }) },
    ]
}

/// Every function's name with its `(METHOD, path)` routes, in the order of [`routes`].
pub fn routes_by_function() -> Vec<(&'static str, Vec<(String, String)>)> {
    let mut out: Vec<(&'static str, Vec<(String, String)>)> = Vec::new();
    for r in routes() {
        let route = (r.endpoint.method.as_str().to_string(), r.endpoint.path.to_string());
        match out.iter_mut().find(|(name, _)| *name == r.endpoint.name) {
            Some((_, list)) => list.push(route),
            None => out.push((r.endpoint.name, vec![route])),
        }
    }
    out
}

/// Whether `pattern` (with `{param}` segments) matches `path`.
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let (p, q) = (pattern.trim_end_matches('/'), path.trim_end_matches('/'));
    let mut ps = p.split('/');
    let mut qs = q.split('/');
    loop {
        match (ps.next(), qs.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a.starts_with('{') && a.ends_with('}') && !b.is_empty() => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns() {
        assert!(path_matches("/crm/marketing/token-status", "/crm/marketing/token-status"));
        assert!(path_matches("/crm/marketing/token-status", "/crm/marketing/token-status/"));
        assert!(path_matches("/a/{id}/b", "/a/42/b"));
        assert!(!path_matches("/a/{id}/b", "/a//b"));
        assert!(!path_matches("/crm/marketing/token-status", "/crm/marketing/token-status/x"));
    }

    #[test]
    fn each_method_and_path_is_served_once() {
        let r = routes();
        for (i, a) in r.iter().enumerate() {
            for b in &r[i + 1..] {
                assert!(
                    a.endpoint.path != b.endpoint.path || a.endpoint.method != b.endpoint.method,
                    "{} {} is served twice",
                    a.endpoint.method,
                    a.endpoint.path
                );
            }
        }
    }

    #[test]
    fn meta_webhook_is_one_function_with_get_and_post() {
        let by_fn = routes_by_function();
        let (_, webhook) = by_fn.iter().find(|(n, _)| *n == "meta-webhook").expect("meta-webhook");
        assert_eq!(
            webhook,
            &vec![
                ("GET".to_string(), "/crm/webhooks/meta".to_string()),
                ("POST".to_string(), "/crm/webhooks/meta".to_string())
            ]
        );
    }
}

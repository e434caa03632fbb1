//! The one list of every function with the secrets and clients it declares (its crate's `SECRETS`
//! and `WIRING`, which its `main.rs` passes to `App::from_env`). The template drift test holds `infra/template.yaml` to
//! it; the local server and the cold-start bench give each function only its share.

use crm_shared::api::wiring::Wiring;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};

/// Every function (crate name) and its declared secrets.
pub fn secret_needs() -> Vec<(&'static str, SecretNeeds)> {
    vec![
        ("admin-deployment-config", admin_deployment_config::SECRETS),
        ("automation-logs", automation_logs::SECRETS),
        ("automation-rules", automation_rules::SECRETS),
        ("crm-events", crm_events::SECRETS),
        ("hsm-templates", hsm_templates::SECRETS),
        ("hsm-trigger-evaluator", hsm_trigger_evaluator::SECRETS),
        ("marketing-campaign", marketing_campaign::SECRETS),
        ("marketing-campaign-insights", marketing_campaign_insights::SECRETS),
        ("marketing-campaigns", marketing_campaigns::SECRETS),
        ("marketing-combined-stats", marketing_combined_stats::SECRETS),
        ("marketing-conversions", marketing_conversions::SECRETS),
        ("marketing-fx-rates", marketing_fx_rates::SECRETS),
        ("marketing-settings", marketing_settings::SECRETS),
        ("marketing-stats", marketing_stats::SECRETS),
        ("marketing-stats-roi", marketing_stats_roi::SECRETS),
        ("meta-accounts", meta_accounts::SECRETS),
        ("meta-auth-callback", meta_auth_callback::SECRETS),
        ("meta-auth-disconnect", meta_auth_disconnect::SECRETS),
        ("meta-auth-url", meta_auth_url::SECRETS),
        ("meta-connect", meta_connect::SECRETS),
        ("meta-conversions", meta_conversions::SECRETS),
        ("meta-datasets", meta_datasets::SECRETS),
        ("meta-debug-token", meta_debug_token::SECRETS),
        ("meta-portfolios", meta_portfolios::SECRETS),
        ("meta-spend-sync", meta_spend_sync::SECRETS),
        ("meta-test-connection", meta_test_connection::SECRETS),
        ("meta-token-status", meta_token_status::SECRETS),
        ("meta-webhook", meta_webhook::SECRETS),
        ("openapi", openapi::SECRETS),
        ("whatsapp-connection", whatsapp_connection::SECRETS),
        ("ycloud-webhook", ycloud_webhook::SECRETS),
    ]
}

/// Every function (crate name) and the AWS clients it declares besides DynamoDB and Secrets
/// Manager (its crate's `WIRING`, which its `main.rs` passes to `App::from_env`). The template
/// drift test (`template::wiring`) holds its IAM statements to it; the local server gives each
/// function only these clients.
pub fn wirings() -> Vec<(&'static str, Wiring)> {
    vec![
        ("admin-deployment-config", admin_deployment_config::WIRING),
        ("automation-logs", automation_logs::WIRING),
        ("automation-rules", automation_rules::WIRING),
        ("crm-events", crm_events::WIRING),
        ("hsm-templates", hsm_templates::WIRING),
        ("hsm-trigger-evaluator", hsm_trigger_evaluator::WIRING),
        ("marketing-campaign", marketing_campaign::WIRING),
        ("marketing-campaign-insights", marketing_campaign_insights::WIRING),
        ("marketing-campaigns", marketing_campaigns::WIRING),
        ("marketing-combined-stats", marketing_combined_stats::WIRING),
        ("marketing-conversions", marketing_conversions::WIRING),
        ("marketing-fx-rates", marketing_fx_rates::WIRING),
        ("marketing-settings", marketing_settings::WIRING),
        ("marketing-stats", marketing_stats::WIRING),
        ("marketing-stats-roi", marketing_stats_roi::WIRING),
        ("meta-accounts", meta_accounts::WIRING),
        ("meta-auth-callback", meta_auth_callback::WIRING),
        ("meta-auth-disconnect", meta_auth_disconnect::WIRING),
        ("meta-auth-url", meta_auth_url::WIRING),
        ("meta-connect", meta_connect::WIRING),
        ("meta-conversions", meta_conversions::WIRING),
        ("meta-datasets", meta_datasets::WIRING),
        ("meta-debug-token", meta_debug_token::WIRING),
        ("meta-portfolios", meta_portfolios::WIRING),
        ("meta-spend-sync", meta_spend_sync::WIRING),
        ("meta-test-connection", meta_test_connection::WIRING),
        ("meta-token-status", meta_token_status::WIRING),
        ("meta-webhook", meta_webhook::WIRING),
        ("openapi", Wiring::NONE), // no App: a static document
        ("whatsapp-connection", whatsapp_connection::WIRING),
        ("ycloud-webhook", ycloud_webhook::WIRING),
    ]
}

/// The clients `function` declares (none for an unknown name).
pub fn wiring_of(function: &str) -> Wiring {
    wirings().into_iter().find(|(n, _)| *n == function).map_or(Wiring::NONE, |(_, w)| w)
}

/// The secrets `function` declares (`None` for an unknown name).
pub fn needs_of(function: &str) -> Option<SecretNeeds> {
    secret_needs().into_iter().find(|(n, _)| *n == function).map(|(_, needs)| needs)
}

/// `env` without the secret variables `function` does not declare: what its template resource
/// sets (a function refuses to start with an undeclared secret in its environment).
pub fn env_for(function: &str, env: &[(String, String)]) -> Vec<(String, String)> {
    let needs = needs_of(function).unwrap_or(&[]);
    let undeclared = |var: &str| {
        SecretName::ALL.iter().any(|n| !needs.contains(n) && (n.env_var() == var || n.arn_env_var() == var))
    };
    env.iter().filter(|(k, _)| !undeclared(k)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use crm_shared::platform::auth::Access;
    use crm_shared::platform::secrets::CALLER_AUTH;

    use super::*;
    use crate::routes::routes;

    #[test]
    fn every_function_crate_declares_its_secrets_here() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../functions");
        let mut crates: Vec<String> = std::fs::read_dir(dir)
            .expect("functions/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
            .collect();
        crates.sort();
        let mut listed: Vec<String> = secret_needs().iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(listed, crates, "infra/local/src/needs.rs must list every function crate");
        let mut wired: Vec<String> = wirings().iter().map(|(n, _)| n.to_string()).collect();
        wired.sort();
        assert_eq!(wired, crates, "infra/local/src/needs.rs must list every function crate's WIRING");
    }

    /// The pipeline needs the JWT key and admin token for any non-public route; a function whose
    /// routes are all public (webhooks, the OAuth callback) must not hold either.
    #[test]
    fn caller_auth_secrets_go_exactly_to_functions_with_authenticated_routes() {
        for (name, needs) in secret_needs() {
            let mine: Vec<Access> =
                routes().iter().filter(|r| r.endpoint.name == name).map(|r| r.endpoint.access).collect();
            let authenticated = mine.iter().any(|a| *a != Access::Public);
            for secret in CALLER_AUTH {
                assert_eq!(needs.contains(&secret), authenticated, "{name}: {secret:?}");
            }
        }
        for public in ["meta-webhook", "meta-auth-callback", "ycloud-webhook"] {
            let needs = needs_of(public).expect("listed");
            assert!(!needs.contains(&SecretName::JwtSecretKey) && !needs.contains(&SecretName::AdminToken), "{public}");
        }
    }

    #[test]
    fn env_for_drops_only_undeclared_secrets() {
        let env: Vec<(String, String)> = [
            ("TABLE_NAME", "t"),
            ("JWT_SECRET_KEY_ARN", "arn:jwt"),
            ("ADMIN_TOKEN", "a"),
            ("META_APP_SECRET_ARN", "arn:meta"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let keys = |f: &str| env_for(f, &env).into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(keys("meta-auth-callback"), vec!["TABLE_NAME", "META_APP_SECRET_ARN"]);
        assert_eq!(
            keys("meta-accounts"),
            vec!["TABLE_NAME", "JWT_SECRET_KEY_ARN", "ADMIN_TOKEN", "META_APP_SECRET_ARN"]
        );
    }
}

//! The one list of every function with the secrets and clients it declares (its crate's `SECRETS`
//! and `WIRING`, which its `main.rs` passes to `App::from_env`). The template drift test holds `infra/template.yaml` to
//! it; the local server and the cold-start bench give each function only its share.

use crm_shared::api::wiring::Wiring;
use crm_shared::platform::secrets::{SecretName, SecretNeeds};

/// Every function (crate name) with what its crate declares: `(name, SECRETS, WIRING)`, one row
/// per function crate.
macro_rules! declared {
    ($($name:literal => $krate:ident,)*) => {
        vec![$(($name, $krate::SECRETS, $krate::WIRING)),*]
    };
}

/// Every function (crate name), its declared secrets and the AWS clients it declares besides
/// DynamoDB and Secrets Manager (its crate's `SECRETS` and `WIRING`, which its `main.rs` passes to
/// `App::from_env`).
pub fn declarations() -> Vec<(&'static str, SecretNeeds, Wiring)> {
    declared! {
        "admin-deployment-config" => admin_deployment_config,
        "automation-logs" => automation_logs,
        "automation-rules" => automation_rules,
        "crm-events" => crm_events,
        "hsm-templates" => hsm_templates,
        "hsm-trigger-evaluator" => hsm_trigger_evaluator,
        "marketing-campaign" => marketing_campaign,
        "marketing-campaign-insights" => marketing_campaign_insights,
        "marketing-campaigns" => marketing_campaigns,
        "marketing-combined-stats" => marketing_combined_stats,
        "marketing-conversions" => marketing_conversions,
        "marketing-fx-rates" => marketing_fx_rates,
        "marketing-settings" => marketing_settings,
        "marketing-stats" => marketing_stats,
        "marketing-stats-roi" => marketing_stats_roi,
        "meta-accounts" => meta_accounts,
        "meta-auth-callback" => meta_auth_callback,
        "meta-auth-disconnect" => meta_auth_disconnect,
        "meta-auth-url" => meta_auth_url,
        "meta-connect" => meta_connect,
        "meta-conversions" => meta_conversions,
        "meta-datasets" => meta_datasets,
        "meta-debug-token" => meta_debug_token,
        "meta-portfolios" => meta_portfolios,
        "meta-spend-sync" => meta_spend_sync,
        "meta-test-connection" => meta_test_connection,
        "meta-token-status" => meta_token_status,
        "meta-webhook" => meta_webhook,
        "openapi" => openapi,
        "whatsapp-connection" => whatsapp_connection,
        "ycloud-webhook" => ycloud_webhook,
    }
}

/// Every function and its declared secrets.
pub fn secret_needs() -> Vec<(&'static str, SecretNeeds)> {
    declarations().into_iter().map(|(name, needs, _)| (name, needs)).collect()
}

/// Every function and its declared clients. The template drift test (`template::wiring`) holds its
/// IAM statements to them; the local server gives each function only these clients.
pub fn wirings() -> Vec<(&'static str, Wiring)> {
    declarations().into_iter().map(|(name, _, wiring)| (name, wiring)).collect()
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
        let mut listed: Vec<String> = declarations().iter().map(|(n, _, _)| n.to_string()).collect();
        listed.sort();
        assert_eq!(listed, crates, "infra/local/src/needs.rs must list every function crate");
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

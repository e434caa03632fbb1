//! The Meta connection: token status, OAuth login and callback, disconnect, the live token check
//! (test-connection, debug/token), the account picker, the tenant's deployment config, and the
//! lead-ads webhook.

use crm_shared::platform::auth::Access;
use serde_json::{json, Value};

use super::ops::{Guard, Op};
use super::schema::*;

const ANY: Guard = Guard::Jwt(Access::AnyRole);
const MANAGE: Guard = Guard::Jwt(Access::Manage);

pub fn schemas() -> Vec<(&'static str, Value)> {
    let token_status = object(&[
        ("status", one_of_strings(&["connected", "expired", "missing"])),
        ("connected", boolean()),
        ("expires_at", nullable(date_time())),
        ("expires_soon", described(boolean(), "expires in less than 7 days")),
        ("days_left", nullable(int())),
        ("data_access_expires_at", nullable(date_time())),
        ("needs_reconnect", boolean()),
        ("scopes", array(string())),
        ("business_id", nullable(string())),
        ("business_name", nullable(string())),
        ("ad_account_ids", array(string())),
        ("ad_account_name", nullable(string())),
        ("connected_at", nullable(date_time())),
        ("ad_account_selected", described(boolean(), "false after a login whose account choice was abandoned")),
        ("reason", connection_reason()),
        ("message", described(nullable(string()), "`reason` for a person")),
        ("lead_ads", described(nullable(reference("LeadAdsStatus")), "`null` without a connection")),
    ]);
    let ad_account = object(&[
        ("id", described(json!({"type": "string", "pattern": "^act_[0-9]+$"}), "`act_<account_id>`")),
        ("account_id", string()),
        ("name", string()),
        ("currency", nullable(string())),
        ("timezone_name", nullable(string())),
        ("account_status", described(int(), "Meta's number: 1 = active, 2 = disabled, 3 = unsettled, …")),
    ]);
    let delivery_report = object(&[
        ("received", int()),
        ("created", int()),
        ("duplicates", int()),
        ("unknown_page", int()),
        ("invalid", int()),
        ("awaiting_reconnect", int()),
        ("failed", int()),
        ("pending", int()),
    ]);
    vec![
        ("TokenStatus", token_status),
        ("LeadAdsStatus", lead_ads_status()),
        ("TokenCheck", token_check()),
        ("ConnectionTest", connection_test()),
        ("AdAccount", ad_account),
        ("Business", object(&[("id", string()), ("name", string())])),
        ("DeliveryReport", delivery_report),
    ]
}

/// `data` of `GET /crm/auth/meta/debug/token` (`meta::token_check::TokenCheck`).
fn token_check() -> Value {
    object(&[
        ("valid", described(boolean(), "Meta accepts the token and it was issued to this app")),
        (
            "status",
            described(
                one_of_strings(&["connected", "expired"]),
                "the connection's state after the check (as token-status)",
            ),
        ),
        ("needs_reconnect", boolean()),
        ("checked_at", date_time()),
        ("app_id", described(nullable(string()), "the app Meta says the token belongs to")),
        ("app_id_matches", boolean()),
        ("meta_user_id", described(nullable(string()), "the login's (app-scoped) Meta user id, as Meta reports it")),
        ("scopes", array(string())),
        ("missing_scopes", described(array(string()), "permissions the product asks for that the token lacks")),
        ("expires_at", described(nullable(date_time()), "`null`: Meta reports no expiry")),
        ("data_access_expires_at", nullable(date_time())),
        ("marked_expired", described(boolean(), "this check marked the stored connection expired")),
        ("lead_ads", nullable(reference("LeadAdsStatus"))),
    ])
}

/// The tenant's Facebook Pages and the features the login's scopes allow
/// (`meta::lead_ads_status::LeadAdsStatus`): never a token.
fn lead_ads_status() -> Value {
    let page = object(&[
        ("page_id", string()),
        ("name", string()),
        ("subscribed", described(boolean(), "Meta confirmed this app receives the page's lead webhooks")),
        ("subscription_checked_at", nullable(date_time())),
        ("lead_access", described(nullable(boolean()), "`false`: Meta refused the leads (Leads Access Manager, page task)")),
        ("has_page_token", boolean()),
        (
            "problem",
            described(
                nullable(string()),
                "what last went wrong on the page: page_token_invalid, page_token_missing, page_permission_missing, no_lead_access, subscription_failed, page_request_refused",
            ),
        ),
        ("problem_at", nullable(date_time())),
        ("last_lead_at", nullable(date_time())),
        ("leads_swept_at", nullable(date_time())),
    ]);
    let feature = object(&[
        ("feature", one_of_strings(&["ad_insights", "business_portfolios", "lead_ads"])),
        ("ok", boolean()),
        ("missing_scopes", array(string())),
        ("message", described(nullable(string()), "what to do when a permission is missing")),
    ]);
    object(&[
        ("pages", array(page)),
        ("pages_ok", described(boolean(), "every page subscribed and without a problem (and at least one)")),
        ("features", array(feature)),
    ])
}

/// `data` of `GET /crm/auth/meta/test-connection` (`meta::token_check::ConnectionTest`).
fn connection_test() -> Value {
    object(&[
        ("connected", described(boolean(), "the connection is usable after the check (token-status `connected`)")),
        ("valid", described(boolean(), "Meta accepts the token and it was issued to this app")),
        ("status", one_of_strings(&["connected", "expired"])),
        ("needs_reconnect", boolean()),
        ("checked_at", date_time()),
        ("expires_at", nullable(date_time())),
        ("missing_scopes", array(string())),
        (
            "ad_account_id",
            described(nullable(string()), "the primary selected ad account (`null` before one is selected)"),
        ),
        (
            "ad_account_reachable",
            described(
                nullable(boolean()),
                "the token can read it; `null` when not checked (no account, token invalid)",
            ),
        ),
        ("message", described(string(), "the verdict in a sentence")),
        ("lead_ads", nullable(reference("LeadAdsStatus"))),
    ])
}

fn connect_request() -> Value {
    let ids = json!({"type": ["array", "null"], "items": {"type": "string"}});
    input(
        &[],
        &[
            ("account_id", described(nullable(string()), "`act_…` (the frontend's wizard)")),
            ("account_name", nullable(string())),
            ("business_id", described(nullable(string()), "with `ad_account_ids`")),
            ("ad_account_ids", ids),
            (
                "reporting_currency",
                described(nullable(currency()), "sets the reporting currency explicitly (ISO 4217)"),
            ),
        ],
        false,
    )
}

fn connect_result() -> Value {
    object(&[
        ("connected", boolean()),
        ("business_id", nullable(string())),
        ("business_name", nullable(string())),
        ("ad_account_ids", array(string())),
        ("ad_account_name", nullable(string())),
        ("primary_account", reference("AdAccount")),
        ("reporting_time_zone", nullable(string())),
        ("currency", nullable(string())),
    ])
}

fn redirect() -> Value {
    json!({
        "description": "always a redirect: `{FRONTEND_URL}/crm/marketing?success=connected` or `?error=<code>` (`invalid_state`, `access_denied`, `token_exchange_failed`, `auth_failed`, `missing_tenant`)",
        "headers": {"Location": {"required": true, "schema": {"type": "string"}}},
    })
}

pub fn operations() -> Vec<Op> {
    vec![
        Op::new("GET", "/crm/marketing/token-status", "meta-token-status", ANY, "Meta connection state of the tenant")
            .ok_with(reference("TokenStatus"), &[("needs_reconnect", boolean()), ("days_left", nullable(int()))]),
        Op::new("GET", "/crm/auth/meta/url", "meta-auth-url", MANAGE, "Meta login-dialog URL")
            .describe("Our own signed, single-use state bound to tenant and user; any incoming `state` is ignored.")
            .query("state", string(), "ignored (the frontend sends `tenant_<x>`)")
            .ok(object(&[("auth_url", json!({"type": "string", "format": "uri"})), ("expires_in", int())]))
            .errors(&[502, 503]),
        Op::new("GET", "/crm/auth/meta/callback", "meta-auth-callback", Guard::Public, "Meta's OAuth redirect")
            .describe("No JWT: the signed, single-use state identifies tenant and user. Never a JSON page: every outcome, a refusal by the per-source rate limit included, is a redirect to the frontend with `?success=connected` or `?error=` a code the frontend knows (`invalid_state`, `access_denied`, `token_exchange_failed`, `auth_failed`), plus `&reason=` (`rate_limited`, `meta_timeout`, `connection_changed`) when `error` is `auth_failed`.")
            .query("code", string(), "Meta's authorization code")
            .query("state", string(), "the state issued by `/crm/auth/meta/url`")
            .query("error", string(), "set by Meta when the user declined")
            .query("error_reason", string(), "Meta's reason")
            .query("error_description", string(), "Meta's text")
            .response(302, redirect()),
        Op::new("POST", "/crm/auth/meta/disconnect", "meta-auth-disconnect", MANAGE, "Disconnect Meta")
            .describe("Best-effort `DELETE /me/permissions` at Meta, then the stored connection is deleted.")
            .ok(object(&[
                ("disconnected", boolean()),
                ("was_connected", boolean()),
                ("revoked_at_meta", boolean()),
                ("message", string()),
            ])),
        Op::new("GET", "/crm/auth/meta/test-connection", "meta-test-connection", ANY, "Live check of the Meta connection")
            .describe("`debug_token` on the stored token, then one read of the primary ad account with it; never the token. Meta rejecting the token marks the connection expired (token-status then says `expired`); 409 `meta_connection_changed` when a newer login or a disconnect landed during the check.")
            .ok(reference("ConnectionTest"))
            .errors(&[409, 502, 503]),
        Op::new("GET", "/crm/auth/meta/debug/token", "meta-debug-token", ANY, "What Meta's debug_token says about the stored token")
            .describe("Valid, app, Meta user, scopes (and the missing ones), expiry and data-access expiry, asked of Meta now; never the token or its `appsecret_proof`. Meta calling the token invalid marks the connection expired; moved dates and scopes are stored. 409 `meta_not_connected` without a connection.")
            .ok(reference("TokenCheck"))
            .errors(&[409, 502, 503]),
        Op::new("GET", "/crm/marketing/meta-portfolios", "meta-portfolios", ANY, "Business Managers of the connected user")
            .ok(array(reference("Business")))
            .errors(&[409, 502, 503]),
        Op::new("GET", "/crm/marketing/meta-accounts", "meta-accounts", ANY, "Ad accounts of a business or of the user")
            .query("portfolio_id", json!({"type": "string", "pattern": "^[0-9]+$"}), "a business id (digits); else the user's accounts")
            .example("portfolio_id", json!("9100000000001"))
            .ok(array(reference("AdAccount")))
            .errors(&[400, 409, 502, 503]),
        Op::new("POST", "/crm/marketing/connect", "meta-connect", MANAGE, "Select the ad accounts to report on")
            .describe("`{account_id, account_name}` or `{business_id, ad_account_ids}`; ids must be visible to the stored token (else 400).")
            .body(connect_request())
            .body_example(json!({"account_id": "act_5100000001001", "account_name": "Owned account 1 of business 1"}))
            .ok(connect_result())
            .errors(&[409, 502, 503]),
        Op::new("GET", "/admin/config/deployment", "admin-deployment-config", ANY, "The tenant's display name and reporting settings")
            .describe("Never a 404: a tenant without a stored (named) profile gets the company name `Mi empresa` and `profile_stored: false`. Every key of `data` is repeated at the top level of the body (the connect wizard reads `company_name` there).")
            .ok_with(object(&deployment_config()), &deployment_config()),
    ]
}

/// The keys of `GET /admin/config/deployment`, in `data` and again at the top level.
fn deployment_config() -> Vec<(&'static str, Value)> {
    vec![
        ("company_name", described(string(), "the stored display name, else `Mi empresa`")),
        ("tenant_id", int()),
        ("reporting_time_zone", nullable(string())),
        ("currency", nullable(string())),
        ("profile_stored", described(boolean(), "whether `company_name` comes from a stored profile")),
    ]
}

/// Why a `connected` Meta connection does not work yet (`null` when it does, or when `status`
/// already says why).
pub fn connection_reason() -> Value {
    nullable(one_of_strings(&["no_ad_account_selected"]))
}

/// Meta's lead-ads delivery. Parsed leniently, as Meta's own test deliveries vary: other
/// `object`s and fields are ignored, a `leadgen` change without usable ids is counted `invalid`.
fn delivery() -> Value {
    let any = |text: &str| json!({"description": text});
    let change_value =
        any("`{leadgen_id, page_id, form_id, ad_id, adgroup_id, created_time}`; ids as strings or numbers");
    let change =
        input(&[], &[("field", described(string(), "`leadgen` (others are ignored)")), ("value", change_value)], false);
    let entry = input(&[], &[("id", any("the page id")), ("time", any("ignored")), ("changes", array(change))], false);
    input(&[("object", described(string(), "`page` for lead ads"))], &[("entry", array(entry))], false)
}

/// `events/meta-leadgen-webhook.json`: two leads of the sandbox's page.
fn sample_delivery() -> Value {
    serde_json::from_str(include_str!("../../../../events/meta-leadgen-webhook.json")).unwrap_or(Value::Null)
}

pub fn webhook_operations() -> Vec<Op> {
    let path = "/crm/webhooks/meta";
    vec![
        Op::new("GET", path, "meta-webhook", Guard::Public, "Meta's subscription handshake")
            .query("hub.mode", string(), "`subscribe`")
            .query("hub.verify_token", string(), "must equal the configured verify token")
            .query("hub.challenge", string(), "echoed back as plain text (digits only)")
            .example("hub.mode", json!("subscribe"))
            .example("hub.challenge", json!("1158201444"))
            .response(200, json!({"description": "the challenge", "content": {"text/plain": {"schema": string()}}}))
            .errors(&[400, 403, 429, 500]),
        Op::new("POST", path, "meta-webhook", Guard::Signed("metaSignature"), "Signed lead-ads deliveries")
            .describe("Leads become `META_ADS` CRM leads idempotently; leads still open → 503 so Meta re-delivers.")
            .body(delivery())
            .body_example(sample_delivery())
            .ok(reference("DeliveryReport"))
            .errors(&[503]),
    ]
}

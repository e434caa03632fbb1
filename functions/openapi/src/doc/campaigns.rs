//! The campaigns API (`crm_shared::marketing::campaigns`), the manual FX rates and the reporting
//! settings.

use crm_shared::marketing::campaigns::{MAX_LIMIT, STATUSES};
use crm_shared::marketing::fx::MAX_RATES_PER_REQUEST;
use crm_shared::platform::auth::Access;
use serde_json::{json, Value};

use super::dashboard::with_range;
use super::ops::{Guard, Op};
use super::schema::*;

/// The examples use the local stack's demo data (`make dev`), so they work there.
const DEMO_CAMPAIGN: &str = "120210000000001";

/// Meta's status words of a campaign.
const META_STATUSES: &[&str] = &["ACTIVE", "PAUSED", "ARCHIVED", "DELETED", "UNKNOWN"];

/// Meta's delivery numbers beside the CRM's, for one campaign (or one day of it).
fn performance() -> Vec<(&'static str, Value)> {
    vec![
        ("currency", currency()),
        ("spend", number()),
        ("spend_minor", minor()),
        ("spend_billed_currency", nullable(currency())),
        ("spend_billed_minor", nullable(int())),
        ("impressions", int()),
        ("clicks", int()),
        ("ctr", nullable(number())),
        ("cpc", nullable(number())),
        ("cpc_minor", nullable(int())),
        ("cpm", nullable(number())),
        ("cpm_minor", nullable(int())),
        ("meta_leads", int()),
        ("leads", int()),
        ("crm_leads", int()),
        ("lead_gap", described(int(), "Meta-reported leads minus CRM leads")),
        ("opportunities", int()),
        ("sales", int()),
        ("revenue", number()),
        ("revenue_minor", minor()),
        ("roi", nullable(number())),
        ("roi_percentage", nullable(number())),
        ("roas", nullable(number())),
        ("cpa", nullable(number())),
        ("cpa_minor", nullable(int())),
        ("reason", nullable(string())),
    ]
}

pub fn schemas() -> Vec<(&'static str, Value)> {
    let mut item = vec![
        ("id", string()),
        ("name", string()),
        ("status", one_of_strings(META_STATUSES)),
        ("status_normalized", string()),
    ];
    item.extend(performance());
    let mut day = vec![("date", date())];
    day.extend(performance());
    let freshness = object(&[("spend_synced_at", nullable(date_time())), ("source", string())]);
    let period = object(&[("from", date()), ("to", date()), ("time_zone", string())]);
    vec![
        ("Performance", object(&performance())),
        ("CampaignListItem", object(&item)),
        ("CampaignDay", object(&day)),
        ("Freshness", freshness),
        ("PeriodRange", period),
    ]
}

/// The list's top-level keys beside `data` (the rows).
fn list_about() -> Vec<(&'static str, Value)> {
    vec![
        ("total", int()),
        ("limit", int()),
        ("offset", int()),
        ("next_offset", nullable(int())),
        ("status_filter", nullable(string())),
        ("currency", currency()),
        ("time_range", string()),
        ("period", reference("PeriodRange")),
        ("fx", reference("Fx")),
        ("freshness", reference("Freshness")),
    ]
}

fn detail() -> Value {
    object(&[
        ("id", string()),
        ("name", string()),
        ("status", one_of_strings(META_STATUSES)),
        ("status_normalized", string()),
        ("objective", nullable(string())),
        ("daily_budget", nullable(number())),
        ("daily_budget_minor", nullable(int())),
        ("lifetime_budget", nullable(number())),
        ("lifetime_budget_minor", nullable(int())),
        ("budget_currency", nullable(currency())),
        ("start_time", nullable(date_time())),
        ("end_time", nullable(date_time())),
        ("performance", reference("Performance")),
        ("time_range", string()),
        ("period", reference("PeriodRange")),
        ("fx", reference("Fx")),
        ("freshness", reference("Freshness")),
    ])
}

fn insights() -> Value {
    object(&[
        ("id", string()),
        ("name", string()),
        ("time_range", string()),
        ("granularity", one_of_strings(&["day", "month"])),
        ("period", reference("PeriodRange")),
        ("currency", currency()),
        ("insights", array(reference("CampaignDay"))),
        ("fx", reference("Fx")),
        ("freshness", reference("Freshness")),
    ])
}

fn rates_request() -> Value {
    let rate = input(
        &[
            ("from", currency()),
            ("to", currency()),
            (
                "rate",
                described(json!({"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,9})?$"}), "units of `to` per `from`"),
            ),
            ("effective_from", date()),
        ],
        &[],
        false,
    );
    let rates = json!({"type": "array", "items": rate, "minItems": 1, "maxItems": MAX_RATES_PER_REQUEST});
    input(&[("rates", rates)], &[], false)
}

fn rates_saved() -> Value {
    let rate = object(&[
        ("from", currency()),
        ("to", currency()),
        ("rate", string()),
        ("rate_scaled", described(int(), "rate × `rate_scale`, exact")),
        ("rate_scale", int()),
        ("effective_from", date()),
        ("source", string()),
    ]);
    object(&[("rates", array(rate)), ("saved", int())])
}

pub fn operations() -> Vec<Op> {
    let any = Guard::Jwt(Access::AnyRole);
    let manage = Guard::Jwt(Access::Manage);
    let id = json!({"type": "string", "pattern": "^[0-9]+$", "description": "a Meta campaign id (digits)"});
    let limit = json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT});
    vec![
        with_range(Op::new("GET", "/crm/marketing/campaigns", "marketing-campaigns", any, "Campaign rows by spend"), "30d")
            .query("status", one_of_strings(STATUSES), "filter on the normalized status")
            .query("limit", limit, "page size (50)")
            .query("offset", json!({"type": "integer", "minimum": 0, "maximum": 100_000}), "rows to skip")
            .ok_with(array(reference("CampaignListItem")), &list_about()),
        with_range(Op::new("GET", "/crm/marketing/campaigns/{id}", "marketing-campaign", any, "One campaign"), "30d")
            .path_param("id", id.clone(), "campaign id")
            .example("id", json!(DEMO_CAMPAIGN))
            .ok(detail())
            .errors(&[404]),
        with_range(
            Op::new("GET", "/crm/marketing/campaigns/{id}/insights", "marketing-campaign-insights", any, "One campaign by day"),
            "30d",
        )
        .path_param("id", id, "campaign id")
        .example("id", json!(DEMO_CAMPAIGN))
        .example("time_range", json!("last_90d"))
        .ok(insights())
        .errors(&[404]),
        Op::new("PUT", "/crm/marketing/fx-rates", "marketing-fx-rates", manage, "Set manual exchange rates")
            .describe("All rates are validated before any is written; the dashboards convert foreign spend at the rate effective on each day.")
            .body(rates_request())
            .body_example(json!({"rates": [{"from": "USD", "to": "ARS", "rate": "1050.25", "effective_from": "2026-11-01"}]}))
            .ok(rates_saved()),
        Op::new("PATCH", "/crm/marketing/settings", "marketing-settings", manage, "Set the reporting currency")
            .describe("409 `conflict` (nothing written) when the tenant's profile was written (another save, a CRM event) between this save's read and its write: reload and save again.")
            .body(input(&[], &[("reporting_currency", currency())], true))
            .body_example(json!({"reporting_currency": "ARS"}))
            .ok(object(&[
                ("reporting_currency", currency()),
                ("previous_reporting_currency", nullable(currency())),
                ("reporting_time_zone", nullable(string())),
            ]))
            .errors(&[409]),
    ]
}

//! The three dashboard views (`/combined-stats`, `/stats`, `/stats/roi`) and their blocks, as
//! `crm_shared::marketing::dashboard::views` builds them: the frontend's fields with their types,
//! the exact values (`*_minor`, `null` where a ratio is undefined) beside them.

use crm_shared::domain::period::ALLOWED_RANGES;
use crm_shared::platform::auth::Access;
use serde_json::{json, Value};

use super::ops::{Guard, Op};
use super::schema::*;

/// `time_range` / `range` (+ `from`/`to`): the period parameters every dashboard route reads.
pub fn with_range(op: Op, default: &str) -> Op {
    let range = one_of_strings(ALLOWED_RANGES);
    op.query("time_range", range.clone(), &format!("the period (default `{default}`); `custom` needs `from` and `to`"))
        .query("range", range, "alias of `time_range` (must agree when both are given)")
        .query("from", date(), "first day, with `time_range=custom`")
        .query("to", date(), "last day, with `time_range=custom` (at most 37 months after `from`)")
        .errors(&[400])
}

/// A money amount in major units beside its exact minor units and null-able ratios: the fields
/// `(name, schema)` of one dashboard row.
fn row() -> Value {
    object(&[
        ("ad_id", described(string(), "campaign id for campaign rows, ad id for creatives")),
        ("ad_name", string()),
        ("campaign_name", string()),
        ("status", described(string(), "`active`, `paused`, `archived`, … (`unknown` without synced spend)")),
        ("currency", currency()),
        ("spend", number()),
        ("spend_minor", minor()),
        ("leads", int()),
        ("opportunities", int()),
        ("sales", int()),
        ("revenue", number()),
        ("revenue_minor", minor()),
        ("roi", described(number(), "(revenue − spend) / spend; 0 when undefined")),
        ("roi_ratio", nullable(number())),
        ("roas", nullable(number())),
        ("cpa_minor", nullable(int())),
        ("reason", nullable(string())),
        ("spend_billed_currency", currency()),
        ("spend_billed_minor", minor()),
        ("meta_leads", int()),
        ("impressions", int()),
        ("clicks", int()),
    ])
}

fn fx() -> Value {
    let rate = object(&[
        ("from", currency()),
        ("to", currency()),
        ("rate", described(string(), "decimal: units of `to` per unit of `from`")),
        ("effective_from", date()),
        ("source", string()),
    ]);
    let missing = object(&[
        ("from", currency()),
        ("to", currency()),
        ("days", array(date())),
        ("unconverted_spend_minor", minor()),
    ]);
    object(&[
        ("reporting_currency", currency()),
        ("converted_currencies", array(currency())),
        ("complete", boolean()),
        ("converted_spend_minor", minor()),
        ("rates", array(rate)),
        ("missing_rates", array(missing)),
        ("reason", nullable(string())),
    ])
}

fn roi(with_campaigns: bool) -> Value {
    let mut fields = vec![
        ("total_spend", number()),
        ("total_revenue", number()),
        ("currency", currency()),
        ("cpa", described(number(), "0 when there are no leads (the exact value is `cpa_minor`)")),
        ("leads", int()),
        ("leads_converted", int()),
        ("patients_converted", described(int(), "alias of `leads_converted`")),
        ("is_connected", boolean()),
        ("ad_account_id", nullable(string())),
        ("time_range", string()),
        ("total_spend_minor", minor()),
        ("total_revenue_minor", minor()),
        ("cpa_minor", nullable(int())),
        ("cost_per_opportunity_minor", nullable(int())),
        ("roas", nullable(number())),
        ("roi_percent", nullable(number())),
        ("roi_ratio", nullable(number())),
        ("reason", nullable(string())),
        ("fx", reference("Fx")),
        ("ltv_minor", nullable(int())),
        ("paying_customers", int()),
        ("opportunities", int()),
        ("sales", int()),
        ("attribution", reference("Attribution")),
        ("other_currencies", array(reference("OtherCurrency"))),
        ("period", reference("Period")),
        ("spend_synced_at", nullable(date_time())),
    ];
    if with_campaigns {
        fields.push(("campaigns", array(reference("Row"))));
    }
    object(&fields)
}

pub fn schemas() -> Vec<(&'static str, Value)> {
    let period =
        object(&[("name", string()), ("from", date()), ("to", date()), ("days", int()), ("time_zone", string())]);
    let attribution =
        object(&[("crm_rule", string()), ("lead_source", string()), ("meta_attribution_setting", string())]);
    let other_currency = object(&[
        ("currency", currency()),
        ("revenue_minor", minor()),
        ("revenue", number()),
        ("spend_minor", minor()),
        ("spend", number()),
        ("roas", nullable(number())),
        ("roi_percent", nullable(number())),
        ("spend_converted_to_reporting_currency", boolean()),
    ]);
    let campaigns_block = object(&[
        ("campaigns", array(reference("Row"))),
        ("creatives", array(reference("Row"))),
        ("account_total_spend", number()),
        ("account_total_spend_minor", minor()),
        ("currency", currency()),
    ]);
    let connection = object(&[
        ("status", one_of_strings(&["connected", "expired", "missing"])),
        ("connected", boolean()),
        ("needs_reconnect", boolean()),
        ("expires_at", nullable(date_time())),
        ("ad_account_id", nullable(string())),
        ("ad_account_ids", array(string())),
        ("ad_account_selected", boolean()),
        ("reason", super::meta::connection_reason()),
        ("message", nullable(string())),
    ]);
    vec![
        ("Period", period),
        ("Fx", fx()),
        ("Attribution", attribution),
        ("OtherCurrency", other_currency),
        ("Row", row()),
        ("CampaignsBlock", campaigns_block),
        ("Roi", roi(false)),
        ("ConnectionSummary", connection),
    ]
}

fn series() -> Value {
    let point = object(&[
        ("date", date()),
        ("leads", int()),
        ("opportunities", int()),
        ("sales", int()),
        ("revenue_minor", minor()),
        ("revenue", number()),
        ("spend_minor", minor()),
        ("spend", number()),
    ]);
    object(&[("granularity", one_of_strings(&["day", "month"])), ("currency", currency()), ("points", array(point))])
}

fn stats() -> Value {
    object(&[
        ("time_range", string()),
        ("period", reference("Period")),
        ("currency", currency()),
        ("meta_connected", boolean()),
        ("meta_connection", reference("ConnectionSummary")),
        ("spend_synced_at", nullable(date_time())),
        ("leads", int()),
        ("leads_all_sources", int()),
        ("leads_by_source", json!({"type": "object", "additionalProperties": {"type": "integer"}})),
        ("opportunities", int()),
        ("sales", int()),
        ("paying_customers", int()),
        ("revenue", number()),
        ("revenue_minor", minor()),
        ("spend", number()),
        ("spend_minor", minor()),
        ("cpa", nullable(number())),
        ("cpa_minor", nullable(int())),
        ("roas", nullable(number())),
        ("roi_percent", nullable(number())),
        ("reason", nullable(string())),
        ("fx", reference("Fx")),
        ("lead_to_opportunity_rate", nullable(number())),
        ("opportunity_to_sale_rate", nullable(number())),
        ("series", series()),
        ("roi", reference("Roi")),
        ("campaigns", reference("CampaignsBlock")),
        ("other_currencies", array(reference("OtherCurrency"))),
        ("attribution", reference("Attribution")),
    ])
}

fn combined() -> Value {
    let meta = object(&[
        ("meta_connected", boolean()),
        ("ad_account_selected", described(boolean(), "false: connected, but no ad account chosen yet")),
        ("currency", currency()),
        ("roi", reference("Roi")),
        ("campaigns", reference("CampaignsBlock")),
        ("spend_synced_at", nullable(date_time())),
        ("connection", reference("ConnectionSummary")),
    ]);
    let totals = object(&[
        ("meta_connected", boolean()),
        ("google_connected", json!({"const": false})),
        ("total_platforms", int()),
        ("currency", currency()),
        ("total_spend", number()),
        ("total_spend_minor", minor()),
        ("total_leads", int()),
    ]);
    object(&[
        ("time_range", string()),
        ("period", reference("Period")),
        // The same object as `meta.roi` (the hub's ROI card reads `data.roi`).
        ("roi", reference("Roi")),
        ("meta", meta),
        ("google", object(&[("connected", json!({"const": false}))])),
        ("combined", totals),
    ])
}

pub fn operations() -> Vec<Op> {
    let any = Guard::Jwt(Access::AnyRole);
    let google = json!({"type": "string", "description": "accepted and ignored (no Google Ads here)"});
    vec![
        with_range(
            Op::new(
                "GET",
                "/crm/marketing/combined-stats",
                "marketing-combined-stats",
                any,
                "The dashboard's main load",
            ),
            "all",
        )
        .query("google_date_range", google.clone(), "ignored")
        .ok(combined()),
        with_range(
            Op::new("GET", "/crm/marketing/stats", "marketing-stats", any, "Funnel, money, ratios and series"),
            "7d",
        )
        .query("google_date_range", google.clone(), "ignored")
        .ok(stats()),
        with_range(
            Op::new(
                "GET",
                "/crm/marketing/stats/roi",
                "marketing-stats-roi",
                any,
                "ROI, CPA, ROAS, LTV and per-campaign rows",
            ),
            "30d",
        )
        .query("google_date_range", google, "ignored")
        .ok(roi(true)),
    ]
}

//! Conversions back to Meta (`/crm/marketing/conversions`, `/crm/marketing/meta-datasets`).

use crm_shared::meta::conversions::settings::MAX_STATUS_STAGES;
use crm_shared::platform::auth::Access;
use serde_json::{json, Value};

use super::ops::{Guard, Op};
use super::schema::*;

const PATH: &str = "/crm/marketing/conversions";
const FUNCTION: &str = "marketing-conversions";

fn map_of(values: Value) -> Value {
    json!({"type": "object", "additionalProperties": values})
}

fn stages() -> Value {
    object(&[
        (
            "lead_created",
            described(nullable(string()), "stage name of `lead.created` (default \"Initial lead\"); null: not sent"),
        ),
        (
            "opportunity_created",
            described(nullable(string()), "stage name of `opportunity.created` (default \"Sales opportunity\")"),
        ),
        (
            "sale_completed",
            described(
                nullable(string()),
                "stage name of `sale.completed`, sent with value and currency (default \"Converted\")",
            ),
        ),
        ("lead_status", described(map_of(string()), "a lead status (as `lead.updated` sends it) → its stage name")),
    ])
}

pub fn schemas() -> Vec<(&'static str, Value)> {
    let counts = object(&[("sent", int()), ("skipped", int()), ("failed", int())]);
    let view = object(&[
        ("enabled", boolean()),
        ("dataset_id", nullable(string())),
        ("dataset_name", nullable(string())),
        ("stages", stages()),
        ("test_event_code", nullable(string())),
        ("lead_event_source", described(string(), "`custom_data.lead_event_source`: the CRM's name")),
        ("status", one_of_strings(&["active", "inactive"])),
        (
            "reason",
            described(
                nullable(one_of_strings(&["disabled", "no_dataset", "meta_not_connected", "meta_reconnect_required"])),
                "why nothing is sent, when nothing is",
            ),
        ),
        (
            "counts_7d",
            described(
                map_of(counts),
                "per stage key (`lead_created`, `status_qualified`, …): outcomes over the last 7 days",
            ),
        ),
        (
            "last_batch",
            nullable(object(&[
                ("at", date_time()),
                ("events_sent", nullable(int())),
                ("events_received", described(nullable(int()), "Meta's `events_received`")),
                ("fbtrace_id", nullable(string())),
            ])),
        ),
        ("last_error", nullable(object(&[("at", date_time()), ("message", nullable(string()))]))),
        ("updated_at", nullable(date_time())),
        ("revision", nullable(int())),
    ]);
    let dataset = object(&[("id", string()), ("name", nullable(string())), ("ad_account_id", string())]);
    vec![("ConversionSettings", view), ("MetaDatasets", object(&[("datasets", array(dataset))]))]
}

fn save_input() -> Value {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 64});
    let stages = input(
        &[],
        &[
            ("lead_created", nullable(name.clone())),
            ("opportunity_created", nullable(name.clone())),
            ("sale_completed", nullable(name.clone())),
            (
                "lead_status",
                json!({"type": "object", "additionalProperties": name.clone(), "maxProperties": MAX_STATUS_STAGES}),
            ),
        ],
        true,
    );
    input(
        &[("enabled", boolean())],
        &[
            (
                "dataset_id",
                described(
                    nullable(json!({"type": "string", "pattern": "^[0-9]{1,32}$"})),
                    "one of `GET /crm/marketing/meta-datasets`",
                ),
            ),
            ("stages", nullable(stages)),
            (
                "test_event_code",
                described(
                    nullable(json!({"type": "string", "maxLength": 32})),
                    "routes events to Events Manager's test view",
                ),
            ),
            ("lead_event_source", nullable(name)),
        ],
        true,
    )
}

pub fn operations() -> Vec<Op> {
    let manage = Guard::Jwt(Access::Manage);
    vec![
        Op::new("GET", "/crm/marketing/meta-datasets", "meta-datasets", manage, "Datasets conversions can go to")
            .describe("The datasets (pixels) of the selected Meta ad accounts, each once. Meta not connected or expired → 409.")
            .ok(reference("MetaDatasets"))
            .errors(&[403, 409, 502, 503]),
        Op::new("GET", PATH, FUNCTION, Guard::Jwt(Access::AnyRole), "Conversions API for CRM settings")
            .describe("The dataset, stage map and test event code; whether events flow now and why not; counts per stage over 7 days; Meta's answer to the last batch.")
            .ok(reference("ConversionSettings")),
        Op::new("PUT", PATH, FUNCTION, manage, "Send the CRM stages of Meta leads back to Meta")
            .describe("Saved after Meta confirms the dataset belongs to a selected ad account (400 `dataset_not_available`); Meta not connected → 409; a concurrent save → 409 `conversions_changed`. Nothing is stored on a refusal.")
            .body(save_input())
            .body_example(json!({"enabled": true, "dataset_id": "7005100000001001", "stages": {"lead_status": {"qualified": "Qualified lead"}}}))
            .ok(reference("ConversionSettings"))
            .errors(&[400, 403, 409, 502, 503]),
    ]
}

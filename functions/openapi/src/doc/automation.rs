//! WhatsApp automation: the log, the rules, the YCloud templates and YCloud's webhook.

use crm_shared::automation::logs::{DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};
use crm_shared::domain::crm_field::CrmField;
use crm_shared::domain::hsm::{LogStatus, TriggerKind};
use crm_shared::platform::auth::Access;
use serde_json::{json, Value};

use super::ops::{Guard, Op};
use super::schema::*;

fn log_statuses() -> Value {
    let names: Vec<&str> = LogStatus::ALL.iter().map(|s| s.as_str()).collect();
    described(
        one_of_strings(&names),
        "`pending` / `retrying` / `unknown`: in flight (see `next_attempt_at` and `error`); then `sent` → `delivered` → `read`, or `failed` / `skipped` / `cancelled`",
    )
}

fn fields() -> Vec<&'static str> {
    CrmField::ALL.iter().map(|f| f.as_str()).collect()
}

fn triggers() -> Value {
    let names: Vec<&str> = TriggerKind::ALL.iter().map(|t| t.as_str()).collect();
    one_of_strings(&names)
}

pub fn schemas() -> Vec<(&'static str, Value)> {
    let quiet = object(&[("start_hour", int()), ("end_hour", int())]);
    let history = object(&[("status", log_statuses()), ("at", date_time())]);
    let log = object(&[
        ("id", string()),
        ("lead_name", nullable(string())),
        ("trigger_type", triggers()),
        ("status", log_statuses()),
        ("created_at", date_time()),
        ("updated_at", date_time()),
        ("template_name", nullable(string())),
        ("language", nullable(string())),
        ("entity_id", string()),
        ("phone", described(nullable(string()), "masked: country code and last 2 digits")),
        ("error", nullable(string())),
        ("message_id", nullable(string())),
        ("next_attempt_at", described(nullable(date_time()), "when an in-flight entry is tried next")),
        ("status_history", array(history)),
    ]);
    let rule = object(&[
        ("id", triggers()),
        ("name", string()),
        ("trigger_type", triggers()),
        ("is_active", boolean()),
        ("trigger_count", int()),
        ("template_name", nullable(string())),
        ("language", nullable(string())),
        ("delay_minutes", int()),
        ("quiet_hours", reference("QuietHours")),
        (
            "variables",
            described(
                nullable(json!({"type": "object", "additionalProperties": one_of_strings(&fields())})),
                "`{\"1\": \"first_name\", …}`: the CRM field of each template variable (null: no rule saved)",
            ),
        ),
        ("success_count", int()),
        ("error_count", int()),
        ("skipped_count", int()),
    ]);
    let template = object(&[
        ("id", described(string(), "`{name}:{language}`")),
        ("name", string()),
        ("category", nullable(string())),
        ("language", string()),
        ("status", described(string(), "`APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, …")),
        ("components", json!({"description": "YCloud's components, as YCloud gives them"})),
    ]);
    let outcome = object_with_optional(
        &[("event_type", string()), ("duplicate", boolean()), ("opted_out_tenants", int())],
        &[("status", described(string(), "the log entry's status after a message update"))],
    );
    vec![
        ("QuietHours", quiet),
        ("AutomationLogEntry", log),
        ("AutomationRule", rule),
        ("HsmTemplate", template),
        ("YcloudWebhookOutcome", outcome),
    ]
}

fn rules_input() -> Value {
    let hours = json!({"type": "integer", "minimum": 0, "maximum": 23});
    let quiet = input(&[("start_hour", hours.clone()), ("end_hour", hours)], &[], false);
    let alias = |of: &str, schema: Value| described(schema, &format!("alias of `{of}`"));
    let mut rule = input(
        &[],
        &[
            ("trigger_type", triggers()),
            ("trigger", alias("trigger_type", triggers())),
            ("is_active", described(nullable(boolean()), "default true")),
            ("enabled", alias("is_active", nullable(boolean()))),
            ("template_name", described(string(), "required: an approved template of the YCloud account")),
            ("template", alias("template_name", string())),
            ("language", described(nullable(string()), "default `es`")),
            ("delay_minutes", nullable(json!({"type": "integer", "minimum": 0, "maximum": 60 * 24 * 90}))),
            ("quiet_hours", nullable(quiet)),
            (
                "variables",
                described(
                    nullable(json!({"type": "object", "additionalProperties": one_of_strings(&fields())})),
                    "`{\"1\": \"first_name\", \"2\": \"appointment_time\"}`: every variable of the template's body must be mapped (else 400); absent: `{{1}}` is the first name",
                ),
            ),
        ],
        false,
    );
    rule["anyOf"] = json!([{"required": ["trigger_type"]}, {"required": ["trigger"]}]);
    input(
        &[("rules", json!({"type": "array", "items": rule, "minItems": 1}))],
        &[
            ("contact_window_hours", nullable(json!({"type": "integer", "minimum": 0, "maximum": 720}))),
            ("daily_recipient_cap", nullable(json!({"type": "integer", "minimum": 1}))),
        ],
        false,
    )
}

/// YCloud's event: only `id` is required; other types and fields are accepted and ignored.
fn ycloud_event() -> Value {
    let any = |text: &str| json!({"description": text});
    let kinds = ["whatsapp.message.updated", "whatsapp.inbound_message.received"];
    input(
        &[("id", json!({"type": "string", "minLength": 1}))],
        &[
            ("type", any(&format!("{} (others are ignored)", kinds.join(", ")))),
            ("whatsappMessage", any("`{id, externalId (ours), status, errorCode, errorMessage}`")),
            ("whatsappInboundMessage", any("`{from, to, type, text: {body}, button: {text, payload}, interactive}`: a stop reply opts the sender out of the tenant whose number it reached")),
        ],
        false,
    )
}

pub fn operations() -> Vec<Op> {
    let any = Guard::Jwt(Access::AnyRole);
    let manage = Guard::Jwt(Access::Manage);
    let rules_path = "/crm/marketing/automation/rules";
    let save = |method: &'static str| {
        Op::new(method, rules_path, "automation-rules", manage, "Save automation rules")
            .describe("Replaces the triggers named and keeps the others; the template must exist at YCloud (else 400). 409 `conflict` (nothing written) when another save landed between this one's read and its write: reload and save again.")
            .body(rules_input())
            .body_example(json!({"rules": [{"trigger_type": "lead_followup", "is_active": true, "template_name": "lead_followup", "language": "es", "delay_minutes": 1440}]}))
            .ok(array(reference("AutomationRule")))
            .errors(&[409, 502, 503])
    };
    vec![
        Op::new("POST", "/crm/webhooks/ycloud", "ycloud-webhook", Guard::Signed("ycloudSignature"), "YCloud's webhook")
            .describe(
                "Message statuses move the automation log forward only; an inbound stop word opts the contact out.",
            )
            .body(ycloud_event())
            .body_example(json!({
                "id": "evt_0001", "type": "whatsapp.inbound_message.received",
                "whatsappInboundMessage": {"from": "+5491155550101", "text": {"body": "STOP"}}
            }))
            .ok(reference("YcloudWebhookOutcome"))
            .errors(&[503]),
        Op::new(
            "GET",
            "/crm/marketing/automation-logs",
            "automation-logs",
            any,
            "The WhatsApp automation log, newest first",
        )
        .query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
            &format!("page size ({DEFAULT_LIMIT})"),
        )
        .query("cursor", string(), "the previous page's `next_cursor` (signed, opaque)")
        .query("offset", json!({"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}), "entries to skip")
        .errors(&[400])
        .ok_with(array(reference("AutomationLogEntry")), &[("next_cursor", nullable(string()))]),
        Op::new("GET", rules_path, "automation-rules", any, "Every trigger's rule and counts")
            .ok(array(reference("AutomationRule"))),
        save("POST"),
        save("PUT"),
        Op::new(
            "GET",
            "/crm/marketing/hsm/templates",
            "hsm-templates",
            any,
            "WhatsApp templates of the tenant's WhatsApp Business Account",
        )
        .describe("The tenant's own connection (or the platform's account in a single-business deployment); empty when WhatsApp is not connected. Cached 60 s per WABA per container. Paging stops after 6 s: the pages read by then are answered (not cached), 503 when none was.")
        .ok(array(reference("HsmTemplate")))
        .errors(&[502, 503]),
    ]
}

//! Facts of YCloud's published API (`api/openapi.yaml` of YCloud-Developers/ycloud-sdk-go, v2),
//! written out by hand for the parts we use — the send request, the message object, a page, the
//! template, the error answer and the webhook events — and a checker that holds a JSON value to
//! them: required fields present, no field the spec does not define, types, enums, bounds.
//!
//! The spec does not publish `GET /v2/whatsapp/messages` (only send, send-directly and retrieve);
//! its list behaviour is FIELD-NOTES 30, and its query and answer are held to the facts every
//! published list shares (`page` 1–100, `limit` 1–100, `includeTotal`; a `Page` of
//! `WhatsappMessage` items).

use serde_json::Value;

/// A value's type in the spec.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    /// `format: date-time` (RFC 3339).
    DateTime,
    Bool,
    /// An integer within bounds.
    Int {
        min: i64,
        max: i64,
    },
    Enum(&'static [&'static str]),
    Obj(&'static Schema),
    Arr(&'static Ty),
    /// An object the spec leaves open (`type: object`).
    AnyObj,
}

/// An object schema: its required fields and every field we may meet.
#[derive(Debug)]
pub struct Schema {
    pub name: &'static str,
    pub required: &'static [&'static str],
    pub fields: &'static [(&'static str, Ty)],
}

/// `WhatsappMessageType`.
pub const MESSAGE_TYPES: &[&str] = &[
    "template",
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "interactive",
    "contacts",
    "reaction",
];
/// `WhatsappMessageStatus`.
pub const MESSAGE_STATUSES: &[&str] = &["accepted", "failed", "sent", "delivered", "read"];
/// `WhatsappTemplateStatus`.
pub const TEMPLATE_STATUSES: &[&str] =
    &["PENDING", "REJECTED", "APPROVED", "PAUSED", "DISABLED", "ARCHIVED", "IN_APPEAL", "DELETED"];

pub static LANGUAGE: Schema = Schema {
    name: "WhatsappMessageTemplate.language",
    required: &["code"],
    fields: &[("code", Ty::Str), ("policy", Ty::Str)],
};

pub static PARAMETER: Schema = Schema {
    name: "WhatsappMessageTemplateComponentParameter",
    // `type` is documented "**Required.**"; `text` when `type` = `text`.
    required: &["type"],
    fields: &[
        (
            "type",
            Ty::Enum(&[
                "text",
                "image",
                "gif",
                "video",
                "document",
                "payload",
                "coupon_code",
                "limited_time_offer",
                "action",
                "order_status",
                "location",
                "group_id",
            ]),
        ),
        ("text", Ty::Str),
        ("payload", Ty::Str),
    ],
};

pub static COMPONENT: Schema = Schema {
    name: "WhatsappMessageTemplateComponent",
    required: &["type"],
    fields: &[
        ("type", Ty::Enum(&["header", "body", "button", "limited_time_offer", "carousel", "order_status"])),
        ("sub_type", Ty::Enum(&["quick_reply", "url", "copy_code", "catalog", "mpm", "flow", "order_details"])),
        ("index", Ty::Int { min: 0, max: 9 }),
        ("parameters", Ty::Arr(&Ty::Obj(&PARAMETER))),
    ],
};

pub static MESSAGE_TEMPLATE: Schema = Schema {
    name: "WhatsappMessageTemplate",
    required: &["name", "language"],
    fields: &[("name", Ty::Str), ("language", Ty::Obj(&LANGUAGE)), ("components", Ty::Arr(&Ty::Obj(&COMPONENT)))],
};

/// `WhatsappMessageSendRequest` (the fields a template send may carry).
pub static SEND_REQUEST: Schema = Schema {
    name: "WhatsappMessageSendRequest",
    required: &["from", "type"],
    fields: &[
        ("from", Ty::Str),
        ("to", Ty::Str),
        ("type", Ty::Enum(MESSAGE_TYPES)),
        ("template", Ty::Obj(&MESSAGE_TEMPLATE)),
        ("externalId", Ty::Str),
        ("filterUnsubscribed", Ty::Bool),
        ("filterBlocked", Ty::Bool),
        ("useDirectSend", Ty::Bool),
    ],
};

pub static WHATSAPP_API_ERROR: Schema = Schema {
    name: "WhatsappApiError",
    required: &["code", "message"],
    fields: &[
        ("code", Ty::Str),
        ("message", Ty::Str),
        ("type", Ty::Str),
        ("error_subcode", Ty::Str),
        ("error_user_msg", Ty::Str),
        ("error_user_title", Ty::Str),
        ("fbtrace_id", Ty::Str),
        ("error_data", Ty::AnyObj),
    ],
};

/// `WhatsappMessage` (the fields of a template message).
pub static MESSAGE: Schema = Schema {
    name: "WhatsappMessage",
    required: &["id", "wabaId", "from"],
    fields: &[
        ("id", Ty::Str),
        ("wamid", Ty::Str),
        ("wabaId", Ty::Str),
        ("from", Ty::Str),
        ("to", Ty::Str),
        ("type", Ty::Enum(MESSAGE_TYPES)),
        ("template", Ty::Obj(&MESSAGE_TEMPLATE)),
        ("externalId", Ty::Str),
        ("status", Ty::Enum(MESSAGE_STATUSES)),
        ("errorCode", Ty::Str),
        ("errorMessage", Ty::Str),
        ("createTime", Ty::DateTime),
        ("updateTime", Ty::DateTime),
        ("sendTime", Ty::DateTime),
        ("deliverTime", Ty::DateTime),
        ("readTime", Ty::DateTime),
        ("whatsappApiError", Ty::Obj(&WHATSAPP_API_ERROR)),
    ],
};

/// `Page` with `WhatsappMessage` items (what the message list answers).
pub static MESSAGE_PAGE: Schema = Schema {
    name: "Page<WhatsappMessage>",
    required: &["offset", "limit", "length"],
    fields: &[
        ("offset", Ty::Int { min: 0, max: i64::MAX }),
        ("limit", Ty::Int { min: 1, max: 100 }),
        ("length", Ty::Int { min: 0, max: 100 }),
        ("total", Ty::Int { min: 0, max: i64::MAX }),
        ("items", Ty::Arr(&Ty::Obj(&MESSAGE))),
    ],
};

pub static TEMPLATE_COMPONENT: Schema = Schema {
    name: "WhatsappTemplateComponent",
    required: &[],
    fields: &[
        (
            "type",
            Ty::Enum(&[
                "BODY",
                "HEADER",
                "FOOTER",
                "BUTTONS",
                "LIMITED_TIME_OFFER",
                "CAROUSEL",
                "CALL_PERMISSION_REQUEST",
            ]),
        ),
        ("format", Ty::Enum(&["TEXT", "IMAGE", "GIF", "VIDEO", "DOCUMENT", "LOCATION"])),
        ("text", Ty::Str),
    ],
};

pub static TEMPLATE: Schema = Schema {
    name: "WhatsappTemplate",
    required: &["wabaId", "name", "language"],
    fields: &[
        ("wabaId", Ty::Str),
        ("name", Ty::Str),
        ("language", Ty::Str),
        ("category", Ty::Enum(&["AUTHENTICATION", "MARKETING", "UTILITY"])),
        ("status", Ty::Enum(TEMPLATE_STATUSES)),
        ("components", Ty::Arr(&Ty::Obj(&TEMPLATE_COMPONENT))),
        ("reason", Ty::Str),
        ("createTime", Ty::DateTime),
        ("updateTime", Ty::DateTime),
    ],
};

pub static TEMPLATE_PAGE: Schema = Schema {
    name: "WhatsappTemplatePage",
    required: &["offset", "limit", "length"],
    fields: &[
        ("offset", Ty::Int { min: 0, max: i64::MAX }),
        ("limit", Ty::Int { min: 1, max: 100 }),
        ("length", Ty::Int { min: 0, max: 100 }),
        ("total", Ty::Int { min: 0, max: i64::MAX }),
        ("items", Ty::Arr(&Ty::Obj(&TEMPLATE))),
    ],
};

pub static ERROR: Schema = Schema {
    name: "Error",
    required: &["code", "status"],
    fields: &[
        ("status", Ty::Int { min: 400, max: 599 }),
        ("code", Ty::Str),
        ("message", Ty::Str),
        ("target", Ty::Str),
        ("docUrl", Ty::Str),
        ("requestId", Ty::Str),
        ("whatsappApiError", Ty::Obj(&WHATSAPP_API_ERROR)),
    ],
};

pub static ERROR_RESPONSE: Schema =
    Schema { name: "ErrorResponse", required: &["error"], fields: &[("error", Ty::Obj(&ERROR))] };

pub static INBOUND_TEXT: Schema =
    Schema { name: "WhatsappInboundMessageText", required: &[], fields: &[("body", Ty::Str)] };

pub static INBOUND_MESSAGE: Schema = Schema {
    name: "WhatsappInboundMessage",
    required: &["id"],
    fields: &[
        ("id", Ty::Str),
        ("wamid", Ty::Str),
        ("wabaId", Ty::Str),
        ("from", Ty::Str),
        ("to", Ty::Str),
        ("sendTime", Ty::DateTime),
        (
            "type",
            Ty::Enum(&[
                "text",
                "image",
                "video",
                "audio",
                "document",
                "sticker",
                "contacts",
                "location",
                "interactive",
                "button",
                "reaction",
                "request_welcome",
                "order",
                "system",
                "unsupported",
            ]),
        ),
        ("text", Ty::Obj(&INBOUND_TEXT)),
        ("button", Ty::AnyObj),
        ("interactive", Ty::AnyObj),
    ],
};

/// `Event` (the webhook body) with the two kinds we consume.
pub static EVENT: Schema = Schema {
    name: "Event",
    required: &["id", "type", "apiVersion", "createTime"],
    fields: &[
        ("id", Ty::Str),
        (
            "type",
            Ty::Enum(&["whatsapp.message.updated", "whatsapp.inbound_message.received", "whatsapp.template.reviewed"]),
        ),
        ("apiVersion", Ty::Str),
        ("createTime", Ty::DateTime),
        ("whatsappMessage", Ty::Obj(&MESSAGE)),
        ("whatsappInboundMessage", Ty::Obj(&INBOUND_MESSAGE)),
    ],
};

/// Every way `v` breaks `schema` (empty: it holds), with the path to each.
pub fn violations(v: &Value, schema: &Schema) -> Vec<String> {
    let mut out = Vec::new();
    check_obj(v, schema, schema.name, &mut out);
    out
}

fn check_obj(v: &Value, schema: &Schema, at: &str, out: &mut Vec<String>) {
    let Some(obj) = v.as_object() else {
        out.push(format!("{at}: not an object"));
        return;
    };
    for r in schema.required {
        if obj.get(*r).is_none_or(Value::is_null) {
            out.push(format!("{at}.{r}: required, missing"));
        }
    }
    for (k, val) in obj {
        match schema.fields.iter().find(|(f, _)| f == k) {
            None => out.push(format!("{at}.{k}: not in the spec")),
            Some((_, ty)) if !val.is_null() => check(val, *ty, &format!("{at}.{k}"), out),
            Some(_) => {}
        }
    }
}

fn check(v: &Value, ty: Ty, at: &str, out: &mut Vec<String>) {
    let ok = match ty {
        Ty::Str => v.is_string(),
        Ty::DateTime => v.as_str().is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
        Ty::Bool => v.is_boolean(),
        Ty::Int { min, max } => v.as_i64().is_some_and(|n| (min..=max).contains(&n)),
        Ty::Enum(values) => v.as_str().is_some_and(|s| values.contains(&s)),
        Ty::AnyObj => v.is_object(),
        Ty::Obj(schema) => {
            check_obj(v, schema, at, out);
            true
        }
        Ty::Arr(item) => match v.as_array() {
            Some(items) => {
                for (i, x) in items.iter().enumerate() {
                    check(x, *item, &format!("{at}[{i}]"), out);
                }
                true
            }
            None => false,
        },
    };
    if !ok {
        out.push(format!("{at}: {v} is not {ty:?}", ty = short(ty)));
    }
}

fn short(ty: Ty) -> String {
    match ty {
        Ty::Obj(s) => s.name.to_string(),
        Ty::Arr(_) => "an array".into(),
        other => format!("{other:?}"),
    }
}

/// The list query facts: `page` and `limit` integers 1–100, `includeTotal` a boolean, and only the
/// filters YCloud applies to messages (`filter.to`, `filter.wabaId`) — anything else it ignores
/// silently, so sending it would be a lookup that does not do what it says.
pub fn list_query_violations(q: &std::collections::HashMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in q {
        let ok = match k.as_str() {
            "page" | "limit" => v.parse::<i64>().is_ok_and(|n| (1..=100).contains(&n)),
            "includeTotal" => v == "true" || v == "false",
            "filter.to" | "filter.wabaId" => !v.is_empty(),
            _ => false,
        };
        if !ok {
            out.push(format!("query {k}={v}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_checker_finds_missing_unknown_and_mistyped_fields() {
        let ok = json!({"id": "m1", "wabaId": "w", "from": "+1", "status": "accepted", "createTime": "2026-11-24T12:00:00Z"});
        assert!(violations(&ok, &MESSAGE).is_empty());
        let bad = json!({"id": "m1", "from": "+1", "status": "queued", "createTime": "yesterday", "extra": 1});
        let v = violations(&bad, &MESSAGE);
        assert_eq!(v.len(), 4, "{v:?}");
        let err = json!({"error": {"status": 400, "code": "X", "whatsappApiError": {"code": 131050, "message": "m"}}});
        assert_eq!(violations(&err, &ERROR_RESPONSE).len(), 1, "a numeric WhatsApp code is not the spec's string");
    }
}

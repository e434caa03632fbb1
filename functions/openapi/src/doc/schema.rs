//! Small builders of JSON Schema (2020-12, as OpenAPI 3.1 uses it), so the document reads like the
//! shapes it describes.

use serde_json::{json, Map, Value};

pub fn string() -> Value {
    json!({"type": "string"})
}
pub fn int() -> Value {
    json!({"type": "integer"})
}
pub fn number() -> Value {
    json!({"type": "number"})
}
pub fn boolean() -> Value {
    json!({"type": "boolean"})
}
pub fn date() -> Value {
    json!({"type": "string", "format": "date"})
}
pub fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}
/// An ISO 4217 code.
pub fn currency() -> Value {
    json!({"type": "string", "pattern": "^[A-Z]{3}$"})
}
/// Integer minor units of a currency (money is exact).
pub fn minor() -> Value {
    json!({"type": "integer", "description": "minor units of the currency (exact)"})
}
pub fn one_of_strings(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}
pub fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}
pub fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}
pub fn described(mut schema: Value, text: &str) -> Value {
    schema["description"] = json!(text);
    schema
}

/// `schema` or `null` (JSON Schema type arrays for plain types, `anyOf` otherwise).
pub fn nullable(schema: Value) -> Value {
    let plain = schema.get("type").and_then(Value::as_str).map(str::to_string);
    match plain {
        Some(t) if schema.get("enum").is_none() => {
            let mut s = schema;
            s["type"] = json!([t, "null"]);
            s
        }
        _ => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

/// A response object whose every listed field is always present (the handlers build them so)
/// and which has no other field: a field the code adds without documenting it fails the contract
/// fuzzer.
pub fn object(fields: &[(&str, Value)]) -> Value {
    object_with_optional(fields, &[])
}

/// A response object with always-present `fields` and sometimes-absent `optional` ones, and no
/// other.
pub fn object_with_optional(fields: &[(&str, Value)], optional: &[(&str, Value)]) -> Value {
    let mut props = Map::new();
    for (k, v) in fields.iter().chain(optional) {
        props.insert((*k).to_string(), v.clone());
    }
    let required: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

/// A request body object: unknown fields refused (400) when `closed`, ignored otherwise.
pub fn input(required: &[(&str, Value)], optional: &[(&str, Value)], closed: bool) -> Value {
    let mut s = object_with_optional(required, optional);
    if !closed {
        if let Some(m) = s.as_object_mut() {
            m.remove("additionalProperties");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_uses_type_arrays_for_plain_types_and_any_of_otherwise() {
        assert_eq!(nullable(int()), json!({"type": ["integer", "null"]}));
        assert_eq!(nullable(one_of_strings(&["a"]))["anyOf"][1], json!({"type": "null"}));
        assert_eq!(nullable(reference("X"))["anyOf"][0], reference("X"));
    }

    #[test]
    fn objects_require_their_fields_but_not_the_optional_ones() {
        let o = object_with_optional(&[("a", int())], &[("b", string())]);
        assert_eq!(o["required"], json!(["a"]));
        assert_eq!(o["properties"]["b"], string());
        assert_eq!(o["additionalProperties"], json!(false), "responses are described completely");
        assert!(input(&[("a", int())], &[], false).get("additionalProperties").is_none());
    }
}

//! One operation of the document: its route, who may call it (from the same [`Access`] the
//! endpoint declares), parameters, body and responses (the success envelope of
//! `crm_shared::api::http::Reply`, the error envelope of `crm_shared::ApiError`).

use crm_shared::platform::auth::{Access, Role};
use serde_json::{json, Map, Value};

use super::schema::{date_time, object};

/// Every role of the CRM and the frontend, as the JWT's `role` claim spells them.
pub const ROLES: [&str; 7] = ["ceo", "secretary", "professional", "setter", "closer", "admin", "marketing"];

/// How a caller proves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// The CRM's JWT (bearer or `access_token` cookie) plus `X-Admin-Token`, with a role policy.
    Jwt(Access),
    /// Nothing (Meta's browser redirect, the webhook handshake, this document).
    Public,
    /// A signature over the raw body, checked before anything is parsed (security scheme name).
    Signed(&'static str),
}

/// The roles `access` admits.
pub fn roles(access: Access) -> Vec<&'static str> {
    ROLES
        .into_iter()
        .filter(|r| serde_json::from_value::<Role>(json!(r)).is_ok_and(|role| access.allows(role)))
        .collect()
}

pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub function: &'static str,
    guard: Guard,
    summary: &'static str,
    description: Option<String>,
    params: Vec<Value>,
    body: Option<Value>,
    responses: Map<String, Value>,
}

fn error_ref(code: u16) -> Value {
    let name = match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        429 => "TooManyRequests",
        500 => "InternalError",
        502 => "BadGateway",
        503 => "Unavailable",
        other => panic!("no shared response for {other}"),
    };
    json!({"$ref": format!("#/components/responses/{name}")})
}

impl Op {
    pub fn new(
        method: &'static str,
        path: &'static str,
        function: &'static str,
        guard: Guard,
        summary: &'static str,
    ) -> Self {
        let mut op = Self {
            method,
            path,
            function,
            guard,
            summary,
            description: None,
            params: vec![],
            body: None,
            responses: Map::new(),
        };
        let errors: &[u16] = match guard {
            Guard::Jwt(_) => &[401, 403, 429, 500],
            Guard::Public => &[],
            Guard::Signed(_) => &[401, 429, 500],
        };
        op = op.errors(errors);
        op
    }

    pub fn describe(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    fn param(mut self, place: &str, name: &str, required: bool, schema: Value, text: &str) -> Self {
        self.params
            .push(json!({"name": name, "in": place, "required": required, "schema": schema, "description": text}));
        self
    }

    /// An optional query parameter (add `.errors(&[400])` where the endpoint validates it).
    pub fn query(self, name: &str, schema: Value, text: &str) -> Self {
        self.param("query", name, false, schema, text)
    }

    pub fn path_param(self, name: &str, schema: Value, text: &str) -> Self {
        self.param("path", name, true, schema, text).errors(&[400])
    }

    /// A JSON request body (malformed → 400, too large → 413, not JSON → 415).
    pub fn body(mut self, schema: Value) -> Self {
        self.body = Some(json!({"required": true, "content": {"application/json": {"schema": schema}}}));
        self.errors(&[400, 413, 415])
    }

    /// A documented example of a parameter (also what the contract fuzzer tries first).
    pub fn example(mut self, name: &str, value: Value) -> Self {
        if let Some(p) = self.params.iter_mut().find(|p| p["name"] == name) {
            p["example"] = value;
        }
        self
    }

    /// A documented example of the request body.
    pub fn body_example(mut self, value: Value) -> Self {
        if let Some(b) = self.body.as_mut() {
            b["content"]["application/json"]["example"] = value;
        }
        self
    }

    /// `200` with `data` in the success envelope.
    pub fn ok(self, data: Value) -> Self {
        self.ok_with(data, &[])
    }

    /// `200` with `data` in the envelope and `extra` top-level keys beside it (the `Envelope`
    /// component spelled out, so that no undocumented key passes).
    pub fn ok_with(self, data: Value, extra: &[(&str, Value)]) -> Self {
        let mut fields = vec![("success", json!({"const": true})), ("data", data), ("timestamp", date_time())];
        fields.extend(extra.iter().cloned());
        let schema = object(&fields);
        self.response(200, json!({"description": "success", "content": {"application/json": {"schema": schema}}}))
    }

    pub fn errors(mut self, codes: &[u16]) -> Self {
        for c in codes {
            self.responses.insert(c.to_string(), error_ref(*c));
        }
        self
    }

    pub fn response(mut self, code: u16, value: Value) -> Self {
        self.responses.insert(code.to_string(), value);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut op = json!({
            "operationId": format!("{}.{}", self.function, self.method.to_ascii_lowercase()),
            "summary": self.summary,
            "x-function": self.function,
            "responses": self.responses,
        });
        if let Some(d) = &self.description {
            op["description"] = json!(d);
        }
        if !self.params.is_empty() {
            op["parameters"] = json!(self.params);
        }
        if let Some(b) = &self.body {
            op["requestBody"] = b.clone();
        }
        match self.guard {
            Guard::Jwt(access) => {
                op["security"] = json!([{"bearerJwt": [], "adminToken": []}, {"cookieJwt": [], "adminToken": []}]);
                op["x-roles"] = json!(roles(access));
            }
            Guard::Public => op["security"] = json!([]),
            Guard::Signed(scheme) => op["security"] = json!([{ scheme: [] }]),
        }
        op
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_access_policy() {
        assert_eq!(roles(Access::Manage), vec!["ceo", "admin", "marketing"]);
        assert_eq!(roles(Access::AnyRole), ROLES.to_vec());
    }

    #[test]
    fn an_operation_documents_its_guard_and_errors() {
        let op =
            Op::new("GET", "/x", "x", Guard::Jwt(Access::Manage), "x").path_param("q", json!({}), "q").ok(json!({}));
        let v = op.to_json();
        assert_eq!(v["x-roles"], json!(["ceo", "admin", "marketing"]));
        for code in ["200", "400", "401", "403", "429", "500"] {
            assert!(v["responses"].get(code).is_some(), "{code}");
        }
        let public = Op::new("GET", "/y", "y", Guard::Public, "y").to_json();
        assert_eq!(public["security"], json!([]));
    }
}

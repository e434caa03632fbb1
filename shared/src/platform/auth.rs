//! The CRM's own JWT (HS256, alg pinned), the `X-Admin-Token` check and the role policy.
//!
//! The caller's tenant comes only from the verified token. `X-Tenant-ID` (the frontend always
//! sends `default`) is ignored on purpose.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::ids::TenantId;
use crate::platform::crypto::{constant_time_eq, hmac_sha256, verify_hmac_sha256};
use crate::platform::error::ApiError;

/// base64url, padding tolerated on input, never written.
pub const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Roles of the CRM (`ceo`…`closer`) and of the frontend (`admin`, `marketing`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ceo,
    Secretary,
    Professional,
    Setter,
    Closer,
    Admin,
    Marketing,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ceo => "ceo",
            Role::Secretary => "secretary",
            Role::Professional => "professional",
            Role::Setter => "setter",
            Role::Closer => "closer",
            Role::Admin => "admin",
            Role::Marketing => "marketing",
        }
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No JWT: Meta's OAuth redirect and signed webhooks (which verify their own signatures).
    Public,
    /// Any CRM role may read.
    AnyRole,
    /// Changing the Meta connection or automation rules: `ceo`, `admin`, `marketing`.
    Manage,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        match self {
            Access::Public | Access::AnyRole => true,
            Access::Manage => matches!(role, Role::Ceo | Role::Admin | Role::Marketing),
        }
    }
}

/// The verified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant_id: TenantId,
    pub user_id: String,
    pub email: Option<String>,
    pub role: Role,
}

/// Claims as the CRM issues them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub role: Value,
    pub tenant_id: Value,
    pub exp: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<Value>,
}

fn invalid(message: &str) -> ApiError {
    ApiError::unauthorized("invalid_token", message)
}

/// Signs claims with HS256 (the CRM's job in production; used here for the demo JWT and tests).
pub fn sign_hs256(claims: &Value, key: &[u8]) -> String {
    let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = B64URL.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    format!("{signing_input}.{}", B64URL.encode(hmac_sha256(key, signing_input.as_bytes())))
}

/// Verifies an HS256 JWT and returns the caller. Any other `alg` (including `none`) is refused.
pub fn verify_jwt(token: &str, key: &[u8], now: DateTime<Utc>) -> Result<Caller, ApiError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("malformed token"));
    };
    let header: Value = B64URL
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("malformed token header"))?;
    // Pin the algorithm: the header cannot choose how it is verified.
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(invalid("unsupported token algorithm"));
    }
    let signature = B64URL.decode(s).map_err(|_| invalid("malformed token signature"))?;
    if !verify_hmac_sha256(key, format!("{h}.{p}").as_bytes(), &signature) {
        return Err(invalid("invalid token signature"));
    }

    let claims: Claims = B64URL
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| invalid("malformed token claims"))?;

    let exp = claims.exp.as_i64().ok_or_else(|| invalid("token has no valid exp"))?;
    if now.timestamp() >= exp {
        return Err(ApiError::unauthorized("token_expired", "token has expired"));
    }
    if let Some(nbf) = claims.nbf.as_ref().and_then(Value::as_i64) {
        if now.timestamp() < nbf {
            return Err(invalid("token not yet valid"));
        }
    }
    // tenant_id must be a JSON integer; a string "42" is a different (unsigned-off) shape.
    let tenant_id = match &claims.tenant_id {
        Value::Number(n) => n.as_i64().filter(|t| *t > 0).map(TenantId),
        _ => None,
    }
    .ok_or_else(|| invalid("token has no integer tenant_id"))?;
    let user_id = match claims.user_id.as_ref().or(claims.sub.as_ref()) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(invalid("token has no user_id")),
    };
    let role: Role = serde_json::from_value(claims.role.clone())
        .map_err(|_| ApiError::forbidden("role_not_allowed", "unknown role"))?;
    Ok(Caller { tenant_id, user_id, email: claims.email, role })
}

/// The token from `Authorization: Bearer …`, else from the `access_token` cookie.
pub fn bearer_or_cookie(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            let t = v[7..].trim();
            if !t.is_empty() {
                return Some(t.to_string());
            }
        }
    }
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "access_token")
        .map(|(_, v)| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

/// `X-Admin-Token` must equal `ADMIN_TOKEN`; unset `ADMIN_TOKEN` refuses everything (fail closed).
pub fn check_admin_token(headers: &HeaderMap, expected: Option<&str>) -> Result<(), ApiError> {
    let Some(expected) = expected.filter(|e| !e.is_empty()) else {
        return Err(ApiError::forbidden("admin_token_not_configured", "admin access is disabled on this deployment"));
    };
    let given = headers.get("x-admin-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    if given.is_empty() {
        return Err(ApiError::unauthorized("missing_admin_token", "X-Admin-Token header is required"));
    }
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ApiError::unauthorized("invalid_admin_token", "X-Admin-Token is not valid"));
    }
    Ok(())
}

/// Who the request is from: admin token, then the JWT (role not yet checked).
pub fn identify(
    headers: &HeaderMap,
    jwt_key: &[u8],
    admin_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    check_admin_token(headers, admin_token)?;
    let token =
        bearer_or_cookie(headers).ok_or_else(|| ApiError::unauthorized("missing_token", "authentication required"))?;
    verify_jwt(&token, jwt_key, now)
}

/// The endpoint's role policy.
pub fn authorize(caller: &Caller, access: Access) -> Result<(), ApiError> {
    if access.allows(caller.role) {
        Ok(())
    } else {
        Err(ApiError::forbidden("role_not_allowed", format!("role {} may not do this", caller.role.as_str())))
    }
}

/// The whole check for an authenticated endpoint: admin token, JWT, role.
pub fn authenticate(
    headers: &HeaderMap,
    access: Access,
    jwt_key: &[u8],
    admin_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    let caller = identify(headers, jwt_key, admin_token, now)?;
    authorize(&caller, access)?;
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use http::HeaderValue;
    use serde_json::json;

    use super::*;

    const KEY: &[u8] = b"test-jwt-key";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().expect("valid date")
    }

    fn claims(role: &str) -> Value {
        json!({"user_id": "u-1", "email": "a@b.c", "role": role, "tenant_id": 42, "exp": now().timestamp() + 3600})
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("header"));
        }
        h
    }

    fn code(r: Result<Caller, ApiError>) -> (u16, &'static str) {
        let e = r.expect_err("must be rejected");
        (e.status().as_u16(), e.code())
    }

    #[test]
    fn accepts_valid_token_with_integer_tenant() {
        let c = verify_jwt(&sign_hs256(&claims("admin"), KEY), KEY, now()).expect("valid");
        assert_eq!(
            c,
            Caller { tenant_id: TenantId(42), user_id: "u-1".into(), email: Some("a@b.c".into()), role: Role::Admin }
        );
    }

    #[test]
    fn accepts_sub_as_user_id() {
        let t = sign_hs256(&json!({"sub": "7", "role": "ceo", "tenant_id": 3, "exp": now().timestamp() + 60}), KEY);
        assert_eq!(verify_jwt(&t, KEY, now()).expect("valid").user_id, "7");
    }

    #[test]
    fn rejects_expired_token() {
        let mut c = claims("admin");
        c["exp"] = json!(now().timestamp() - 1);
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), KEY, now())), (401, "token_expired"));
    }

    #[test]
    fn rejects_token_without_exp() {
        let mut c = claims("admin");
        c.as_object_mut().expect("object").remove("exp");
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), KEY, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_wrong_key() {
        assert_eq!(code(verify_jwt(&sign_hs256(&claims("admin"), b"other"), KEY, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_alg_none() {
        let header = B64URL.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = B64URL.encode(claims("admin").to_string());
        let token = format!("{header}.{payload}.");
        assert_eq!(code(verify_jwt(&token, KEY, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_wrong_alg_even_with_valid_hs256_signature() {
        // Same HMAC over the input, but the header claims HS512/RS256: the header may not choose.
        for alg in ["HS512", "RS256", "hs256"] {
            let header = B64URL.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let payload = B64URL.encode(claims("admin").to_string());
            let mac = hmac_sha256(KEY, format!("{header}.{payload}").as_bytes());
            let token = format!("{header}.{payload}.{}", B64URL.encode(mac));
            assert_eq!(code(verify_jwt(&token, KEY, now())), (401, "invalid_token"), "{alg}");
        }
    }

    #[test]
    fn rejects_tampered_claims() {
        let t = sign_hs256(&claims("setter"), KEY);
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64URL.encode(claims("admin").to_string());
        parts[1] = &forged;
        assert_eq!(code(verify_jwt(&parts.join("."), KEY, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_missing_tenant() {
        let mut c = claims("admin");
        c.as_object_mut().expect("object").remove("tenant_id");
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), KEY, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_string_tenant() {
        let mut c = claims("admin");
        c["tenant_id"] = json!("42");
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), KEY, now())), (401, "invalid_token"));
        c["tenant_id"] = json!(4.5);
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), KEY, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_unknown_role_and_garbage() {
        assert_eq!(code(verify_jwt(&sign_hs256(&claims("root"), KEY), KEY, now())), (403, "role_not_allowed"));
        assert_eq!(code(verify_jwt("not-a-jwt", KEY, now())), (401, "invalid_token"));
        assert_eq!(code(verify_jwt("a.b.c.d", KEY, now())), (401, "invalid_token"));
    }

    #[test]
    fn reads_token_from_cookie_when_no_header() {
        let t = sign_hs256(&claims("admin"), KEY);
        let h = headers(&[("cookie", &format!("theme=dark; access_token={t}; other=1"))]);
        assert_eq!(bearer_or_cookie(&h).as_deref(), Some(t.as_str()));
        let h = headers(&[("authorization", "Bearer hdr"), ("cookie", "access_token=ck")]);
        assert_eq!(bearer_or_cookie(&h).as_deref(), Some("hdr"));
        assert_eq!(bearer_or_cookie(&headers(&[("authorization", "Basic abc")])), None);
    }

    #[test]
    fn admin_token_checks() {
        assert_eq!(
            check_admin_token(&headers(&[("x-admin-token", "s3cret")]), Some("s3cret")).map_err(|e| e.code()),
            Ok(())
        );
        let e = check_admin_token(&headers(&[("x-admin-token", "s3cre")]), Some("s3cret")).expect_err("wrong");
        assert_eq!((e.status().as_u16(), e.code()), (401, "invalid_admin_token"));
        let e = check_admin_token(&headers(&[]), Some("s3cret")).expect_err("missing");
        assert_eq!((e.status().as_u16(), e.code()), (401, "missing_admin_token"));
    }

    #[test]
    fn unset_admin_token_refuses_everything() {
        for configured in [None, Some("")] {
            let e = check_admin_token(&headers(&[("x-admin-token", "")]), configured).expect_err("refused");
            assert_eq!((e.status().as_u16(), e.code()), (403, "admin_token_not_configured"));
            let e = check_admin_token(&headers(&[("x-admin-token", "anything")]), configured).expect_err("refused");
            assert_eq!(e.status().as_u16(), 403);
        }
    }

    #[test]
    fn role_policy_for_manage_endpoints() {
        let t = sign_hs256(&claims("setter"), KEY);
        let h = headers(&[("x-admin-token", "a"), ("authorization", &format!("Bearer {t}"))]);
        assert_eq!(code(authenticate(&h, Access::Manage, KEY, Some("a"), now())), (403, "role_not_allowed"));
        assert!(authenticate(&h, Access::AnyRole, KEY, Some("a"), now()).is_ok());
        for role in ["ceo", "admin", "marketing"] {
            let t = sign_hs256(&claims(role), KEY);
            let h = headers(&[("x-admin-token", "a"), ("authorization", &format!("Bearer {t}"))]);
            assert!(authenticate(&h, Access::Manage, KEY, Some("a"), now()).is_ok(), "{role}");
        }
    }

    #[test]
    fn x_tenant_id_header_is_ignored() {
        let t = sign_hs256(&claims("admin"), KEY);
        let h = headers(&[("x-admin-token", "a"), ("authorization", &format!("Bearer {t}")), ("x-tenant-id", "99")]);
        assert_eq!(authenticate(&h, Access::AnyRole, KEY, Some("a"), now()).expect("ok").tenant_id, TenantId(42));
    }

    #[test]
    fn missing_token_is_401() {
        let h = headers(&[("x-admin-token", "a")]);
        assert_eq!(code(authenticate(&h, Access::AnyRole, KEY, Some("a"), now())), (401, "missing_token"));
    }
}

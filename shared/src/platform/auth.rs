//! The CRM's own JWT (HS256, alg pinned; signature, algorithm and issuer/audience checks by the
//! `jsonwebtoken` crate, times and claim shapes here), the `X-Admin-Token` check and the role
//! policy.
//!
//! The caller's tenant comes only from the verified token. `X-Tenant-ID` (the frontend always
//! sends `default`) is ignored on purpose.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

use crate::domain::ids::TenantId;
use crate::platform::crypto::constant_time_eq;
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

/// How the CRM's JWTs are checked: the HS256 key, and the issuer and audience a token must carry
/// when configured (`JWT_ISSUER`, `JWT_AUDIENCE`; unset = not checked).
#[derive(Clone, Copy)]
pub struct JwtRules<'a> {
    pub key: &'a [u8],
    pub issuer: Option<&'a str>,
    pub audience: Option<&'a str>,
}

impl std::fmt::Debug for JwtRules<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtRules").field("issuer", &self.issuer).field("audience", &self.audience).finish()
    }
}

impl<'a> JwtRules<'a> {
    /// Only the key (no issuer or audience pinned).
    pub fn new(key: &'a [u8]) -> Self {
        Self { key, issuer: None, audience: None }
    }

    pub fn with_issuer(self, issuer: Option<&'a str>) -> Self {
        Self { issuer, ..self }
    }

    pub fn with_audience(self, audience: Option<&'a str>) -> Self {
        Self { audience, ..self }
    }

    /// `jsonwebtoken`'s checks: HS256 only (the header cannot choose), the signature, and the
    /// pinned issuer/audience. Times are ours ([`check_times`]): they use the injected clock and
    /// refuse a non-integer `exp`/`nbf`/`iat`, where the crate reads the system clock and rounds
    /// a fractional `exp`.
    fn validation(&self) -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v.validate_nbf = false;
        v.leeway = 0;
        v.validate_aud = self.audience.is_some();
        if let Some(iss) = self.issuer {
            v.set_issuer(&[iss]);
            v.required_spec_claims.insert("iss".into());
        }
        if let Some(aud) = self.audience {
            v.set_audience(&[aud]);
            v.required_spec_claims.insert("aud".into());
        }
        v
    }
}

fn invalid(message: &str) -> ApiError {
    ApiError::unauthorized("invalid_token", message)
}

/// What a refusal of `jsonwebtoken` tells the caller (always 401 `invalid_token`).
fn refused(e: &jsonwebtoken::errors::Error) -> ApiError {
    match e.kind() {
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            invalid("unsupported token algorithm")
        }
        ErrorKind::InvalidSignature => invalid("invalid token signature"),
        ErrorKind::InvalidIssuer => invalid("token issuer is not accepted"),
        ErrorKind::InvalidAudience => invalid("token audience is not accepted"),
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => invalid("token has no iss"),
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => invalid("token has no aud"),
        _ => invalid("malformed token"),
    }
}

/// Signs claims with HS256 (the CRM's job in production; used here for the demo JWT and tests).
/// Claims that cannot be serialized give an empty (never valid) token.
pub fn sign_hs256(claims: &Value, key: &[u8]) -> String {
    crate::platform::jwt_hs256::install();
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(key)).unwrap_or_default()
}

/// A time claim: absent, or a JSON integer (a float or string is refused, not ignored).
fn time_claim(claims: &Value, name: &str) -> Result<Option<i64>, ApiError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| invalid(&format!("token {name} is not an integer"))),
    }
}

/// `exp` required and in the future, `nbf` (if any) reached, `iat` (if any) an integer.
fn check_times(claims: &Value, now: DateTime<Utc>) -> Result<(), ApiError> {
    let exp = time_claim(claims, "exp")?.ok_or_else(|| invalid("token has no valid exp"))?;
    let nbf = time_claim(claims, "nbf")?;
    time_claim(claims, "iat")?;
    if now.timestamp() >= exp {
        return Err(ApiError::unauthorized("token_expired", "token has expired"));
    }
    if nbf.is_some_and(|nbf| now.timestamp() < nbf) {
        return Err(invalid("token not yet valid"));
    }
    Ok(())
}

/// Verifies an HS256 JWT and returns the caller. Any other `alg` (including `none`) is refused.
pub fn verify_jwt(token: &str, rules: &JwtRules<'_>, now: DateTime<Utc>) -> Result<Caller, ApiError> {
    crate::platform::jwt_hs256::install();
    let claims = jsonwebtoken::decode::<Value>(token, &DecodingKey::from_secret(rules.key), &rules.validation())
        .map_err(|e| refused(&e))?
        .claims;
    if !claims.is_object() {
        return Err(invalid("malformed token claims"));
    }
    // The crate accepts an issuer list containing ours; the CRM's `iss` is one string.
    if rules.issuer.is_some_and(|iss| claims.get("iss").and_then(Value::as_str) != Some(iss)) {
        return Err(invalid("token issuer is not accepted"));
    }
    check_times(&claims, now)?;
    caller_of(&claims)
}

/// Tenant, user and role of verified claims.
fn caller_of(claims: &Value) -> Result<Caller, ApiError> {
    // tenant_id must be a JSON integer; a string "42" is a different (unsigned-off) shape.
    let tenant_id = match claims.get("tenant_id") {
        Some(Value::Number(n)) => n.as_i64().filter(|t| *t > 0).map(TenantId),
        _ => None,
    }
    .ok_or_else(|| invalid("token has no integer tenant_id"))?;
    let user_id = match claims.get("user_id").filter(|v| !v.is_null()).or_else(|| claims.get("sub")) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(invalid("token has no user_id")),
    };
    let role: Role = claims
        .get("role")
        .and_then(|r| serde_json::from_value(r.clone()).ok())
        .ok_or_else(|| ApiError::forbidden("role_not_allowed", "unknown role"))?;
    let email = claims.get("email").and_then(Value::as_str).map(str::to_string);
    Ok(Caller { tenant_id, user_id, email, role })
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
    rules: &JwtRules<'_>,
    admin_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    check_admin_token(headers, admin_token)?;
    let token =
        bearer_or_cookie(headers).ok_or_else(|| ApiError::unauthorized("missing_token", "authentication required"))?;
    verify_jwt(&token, rules, now)
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
    rules: &JwtRules<'_>,
    admin_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Caller, ApiError> {
    let caller = identify(headers, rules, admin_token, now)?;
    authorize(&caller, access)?;
    Ok(caller)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use http::HeaderValue;
    use serde_json::json;

    use base64::Engine;

    use super::*;
    use crate::platform::crypto::hmac_sha256;

    const KEY: &[u8] = b"test-jwt-key-of-at-least-32-bytes";
    const RULES: JwtRules<'static> = JwtRules { key: KEY, issuer: None, audience: None };

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
        let c = verify_jwt(&sign_hs256(&claims("admin"), KEY), &RULES, now()).expect("valid");
        assert_eq!(
            c,
            Caller { tenant_id: TenantId(42), user_id: "u-1".into(), email: Some("a@b.c".into()), role: Role::Admin }
        );
    }

    #[test]
    fn accepts_sub_as_user_id() {
        let t = sign_hs256(&json!({"sub": "7", "role": "ceo", "tenant_id": 3, "exp": now().timestamp() + 60}), KEY);
        assert_eq!(verify_jwt(&t, &RULES, now()).expect("valid").user_id, "7");
    }

    #[test]
    fn rejects_expired_token() {
        let mut c = claims("admin");
        c["exp"] = json!(now().timestamp() - 1);
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), &RULES, now())), (401, "token_expired"));
    }

    #[test]
    fn rejects_token_without_exp() {
        let mut c = claims("admin");
        c.as_object_mut().expect("object").remove("exp");
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), &RULES, now())), (401, "invalid_token"));
    }

    fn refused(claims: &Value, rules: &JwtRules<'_>) -> (u16, &'static str, String) {
        let e = verify_jwt(&sign_hs256(claims, KEY), rules, now()).expect_err("must be rejected");
        (e.status().as_u16(), e.code(), e.to_string())
    }

    #[test]
    fn time_claims_must_be_integers() {
        for (name, bad) in [
            ("exp", json!(now().timestamp() as f64 + 3600.5)),
            ("exp", json!((now().timestamp() + 3600).to_string())),
            ("nbf", json!("yesterday")),
            ("nbf", json!(1.5)),
            ("nbf", json!({"t": 1})),
            ("iat", json!("now")),
            ("iat", json!(now().timestamp() as f64 - 0.5)),
        ] {
            let mut c = claims("admin");
            c[name] = bad.clone();
            let (status, code, _) = refused(&c, &RULES);
            assert_eq!((status, code), (401, "invalid_token"), "{name} = {bad}");
        }
        let mut ok = claims("admin");
        ok["nbf"] = json!(now().timestamp() - 10);
        ok["iat"] = json!(now().timestamp() - 10);
        assert!(verify_jwt(&sign_hs256(&ok, KEY), &RULES, now()).is_ok(), "integer nbf/iat in the past");
    }

    #[test]
    fn a_token_before_its_nbf_is_refused_and_valid_from_it() {
        let mut c = claims("admin");
        c["nbf"] = json!(now().timestamp() + 1);
        let (_, code, msg) = refused(&c, &RULES);
        assert_eq!(code, "invalid_token");
        assert!(msg.contains("not yet valid"), "{msg}");
        c["nbf"] = json!(now().timestamp());
        assert!(verify_jwt(&sign_hs256(&c, KEY), &RULES, now()).is_ok());
    }

    #[test]
    fn the_boundary_second_of_exp_is_expired() {
        let mut c = claims("admin");
        c["exp"] = json!(now().timestamp());
        assert_eq!(refused(&c, &RULES).1, "token_expired", "no leeway");
        c["exp"] = json!(now().timestamp() + 1);
        assert!(verify_jwt(&sign_hs256(&c, KEY), &RULES, now()).is_ok());
    }

    #[test]
    fn issuer_is_checked_only_when_configured() {
        let pinned = RULES.with_issuer(Some("https://crm.example.com"));
        let mut c = claims("admin");
        assert!(verify_jwt(&sign_hs256(&c, KEY), &RULES, now()).is_ok(), "unset: any or no iss");
        assert!(refused(&c, &pinned).2.contains("no iss"), "configured: iss required");
        c["iss"] = json!("https://evil.example.com");
        assert!(refused(&c, &pinned).2.contains("issuer is not accepted"));
        c["iss"] = json!(["https://crm.example.com", "https://evil.example.com"]);
        assert_eq!(refused(&c, &pinned).1, "invalid_token", "iss is one string, not a list");
        c["iss"] = json!("https://crm.example.com");
        assert!(verify_jwt(&sign_hs256(&c, KEY), &pinned, now()).is_ok());
        c["iss"] = json!("https://anything.example.com");
        assert!(verify_jwt(&sign_hs256(&c, KEY), &RULES, now()).is_ok());
    }

    #[test]
    fn audience_is_checked_only_when_configured() {
        let pinned = RULES.with_audience(Some("marketing-hub"));
        let mut c = claims("admin");
        assert!(refused(&c, &pinned).2.contains("no aud"), "configured: aud required");
        c["aud"] = json!("billing");
        assert!(refused(&c, &pinned).2.contains("audience is not accepted"));
        c["aud"] = json!(["billing", "marketing-hub"]);
        assert!(verify_jwt(&sign_hs256(&c, KEY), &pinned, now()).is_ok(), "one of several audiences");
        c["aud"] = json!("marketing-hub");
        assert!(verify_jwt(&sign_hs256(&c, KEY), &pinned, now()).is_ok());
        // Unset: a token's aud is not looked at (the CRM may add one before this service pins it).
        c["aud"] = json!("billing");
        assert!(verify_jwt(&sign_hs256(&c, KEY), &RULES, now()).is_ok());
    }

    #[test]
    fn rejects_wrong_key() {
        assert_eq!(code(verify_jwt(&sign_hs256(&claims("admin"), b"other"), &RULES, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_alg_none() {
        let header = B64URL.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = B64URL.encode(claims("admin").to_string());
        let token = format!("{header}.{payload}.");
        assert_eq!(code(verify_jwt(&token, &RULES, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_wrong_alg_even_with_valid_hs256_signature() {
        // Same HMAC over the input, but the header claims HS512/RS256: the header may not choose.
        for alg in ["HS512", "RS256", "hs256"] {
            let header = B64URL.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let payload = B64URL.encode(claims("admin").to_string());
            let mac = hmac_sha256(KEY, format!("{header}.{payload}").as_bytes());
            let token = format!("{header}.{payload}.{}", B64URL.encode(mac));
            assert_eq!(code(verify_jwt(&token, &RULES, now())), (401, "invalid_token"), "{alg}");
        }
    }

    #[test]
    fn rejects_tampered_claims() {
        let t = sign_hs256(&claims("setter"), KEY);
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64URL.encode(claims("admin").to_string());
        parts[1] = &forged;
        assert_eq!(code(verify_jwt(&parts.join("."), &RULES, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_missing_tenant() {
        let mut c = claims("admin");
        c.as_object_mut().expect("object").remove("tenant_id");
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), &RULES, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_string_tenant() {
        let mut c = claims("admin");
        c["tenant_id"] = json!("42");
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), &RULES, now())), (401, "invalid_token"));
        c["tenant_id"] = json!(4.5);
        assert_eq!(code(verify_jwt(&sign_hs256(&c, KEY), &RULES, now())), (401, "invalid_token"));
    }

    #[test]
    fn rejects_unknown_role_and_garbage() {
        assert_eq!(code(verify_jwt(&sign_hs256(&claims("root"), KEY), &RULES, now())), (403, "role_not_allowed"));
        assert_eq!(code(verify_jwt("not-a-jwt", &RULES, now())), (401, "invalid_token"));
        assert_eq!(code(verify_jwt("a.b.c.d", &RULES, now())), (401, "invalid_token"));
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
        assert_eq!(code(authenticate(&h, Access::Manage, &RULES, Some("a"), now())), (403, "role_not_allowed"));
        assert!(authenticate(&h, Access::AnyRole, &RULES, Some("a"), now()).is_ok());
        for role in ["ceo", "admin", "marketing"] {
            let t = sign_hs256(&claims(role), KEY);
            let h = headers(&[("x-admin-token", "a"), ("authorization", &format!("Bearer {t}"))]);
            assert!(authenticate(&h, Access::Manage, &RULES, Some("a"), now()).is_ok(), "{role}");
        }
    }

    #[test]
    fn x_tenant_id_header_is_ignored() {
        let t = sign_hs256(&claims("admin"), KEY);
        let h = headers(&[("x-admin-token", "a"), ("authorization", &format!("Bearer {t}")), ("x-tenant-id", "99")]);
        assert_eq!(authenticate(&h, Access::AnyRole, &RULES, Some("a"), now()).expect("ok").tenant_id, TenantId(42));
    }

    #[test]
    fn missing_token_is_401() {
        let h = headers(&[("x-admin-token", "a")]);
        assert_eq!(code(authenticate(&h, Access::AnyRole, &RULES, Some("a"), now())), (401, "missing_token"));
    }
}

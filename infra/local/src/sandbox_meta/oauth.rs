//! Sandbox Meta's OAuth side: the login dialog, code and token exchange, `debug_token`, and
//! checking a call's token and `appsecret_proof`.

use super::*;

impl SandboxMeta {
    pub(super) fn dialog(&self, state: &mut SandboxState, q: &HashMap<String, String>) -> Resp {
        if q.get("client_id") != Some(&self.app_id) {
            return html(StatusCode::BAD_REQUEST, "Invalid App ID: the app id is not valid.");
        }
        let Some(redirect_uri) = q.get("redirect_uri").and_then(|r| Url::parse(r).ok()) else {
            return html(StatusCode::BAD_REQUEST, "URL blocked: redirect_uri is missing or invalid.");
        };
        let mut target = redirect_uri.clone();
        {
            let mut pairs = target.query_pairs_mut();
            if state.decline_next_dialog > 0 {
                state.decline_next_dialog -= 1;
                pairs
                    .append_pair("error", "access_denied")
                    .append_pair("error_code", "200")
                    .append_pair("error_description", "Permissions error")
                    .append_pair("error_reason", "user_denied");
            } else {
                let code = random_token("AQ");
                let requested: Vec<String> =
                    q.get("scope").map(|s| s.split(',').map(|x| x.trim().to_string()).collect()).unwrap_or_default();
                let scopes = requested.into_iter().filter(|s| state.granted_scopes.contains(s)).collect();
                state
                    .codes
                    .insert(code.clone(), CodeGrant { redirect_uri: redirect_uri.to_string(), scopes, used: false });
                pairs.append_pair("code", &code);
            }
            if let Some(s) = q.get("state") {
                pairs.append_pair("state", s);
            }
        }
        redirect(target.as_str())
    }

    pub(super) fn access_token(&self, state: &mut SandboxState, q: &HashMap<String, String>) -> Resp {
        if q.get("client_id") != Some(&self.app_id) {
            return graph_error(
                StatusCode::BAD_REQUEST,
                101,
                None,
                "OAuthException",
                "Error validating application. Invalid application ID.",
            );
        }
        if q.get("client_secret") != Some(&self.app_secret) {
            return graph_error(StatusCode::BAD_REQUEST, 1, None, "OAuthException", "Error validating client secret.");
        }
        let now = state.now();
        // Meta's answer to a reused (or, with the switch, refused) authorization code.
        let code_used = || {
            graph_error(
                StatusCode::BAD_REQUEST,
                100,
                Some(36009),
                "OAuthException",
                "This authorization code has been used.",
            )
        };
        if let Some(code) = q.get("code") {
            if state.fail_exchange_next > 0 {
                state.fail_exchange_next -= 1;
                return code_used();
            }
            let grant = match state.codes.get_mut(code) {
                Some(g) if !g.used => g,
                Some(_) => return code_used(),
                None => {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        100,
                        None,
                        "OAuthException",
                        "Invalid verification code format.",
                    )
                }
            };
            if q.get("redirect_uri") != Some(&grant.redirect_uri) {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    Some(36008),
                    "OAuthException",
                    "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
                );
            }
            grant.used = true;
            let scopes = grant.scopes.clone();
            let token = random_token("EAAS");
            state.tokens.insert(
                token.clone(),
                TokenGrant {
                    user_id: SANDBOX_USER_ID.into(),
                    scopes,
                    expires_at: now + SHORT_LIVED_SECS,
                    revoked: false,
                },
            );
            return json_resp(
                StatusCode::OK,
                json!({"access_token": token, "token_type": "bearer", "expires_in": SHORT_LIVED_SECS}),
            );
        }
        if q.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
            let short = q.get("fb_exchange_token").and_then(|t| state.tokens.get(t)).cloned();
            return match short {
                Some(g) if !g.revoked && g.expires_at > now => {
                    let token = random_token("EAAL");
                    state.tokens.insert(token.clone(), TokenGrant { expires_at: now + LONG_LIVED_SECS, ..g });
                    let expires_in = state.long_lived_expires_in.clone().unwrap_or(json!(LONG_LIVED_SECS));
                    json_resp(
                        StatusCode::OK,
                        json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in}),
                    )
                }
                _ => graph_error(
                    StatusCode::BAD_REQUEST,
                    190,
                    None,
                    "OAuthException",
                    "Invalid OAuth access token - Cannot parse access token",
                ),
            };
        }
        graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "OAuthException",
            "Missing redirect_uri, code or grant_type parameter.",
        )
    }

    pub(super) fn debug_token(&self, state: &SandboxState, q: &HashMap<String, String>) -> Resp {
        let app_token = format!("{}|{}", self.app_id, self.app_secret);
        let Some(access) = q.get("access_token") else {
            return graph_error(
                StatusCode::BAD_REQUEST,
                104,
                None,
                "OAuthException",
                "An access token is required to request this resource.",
            );
        };
        if *access != app_token {
            return graph_error(
                StatusCode::BAD_REQUEST,
                190,
                None,
                "OAuthException",
                "Invalid OAuth access token signature.",
            );
        }
        if q.get("appsecret_proof").is_some_and(|p| *p != self.proof(access)) {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "GraphMethodException",
                "Invalid appsecret_proof provided in the API argument",
            );
        }
        let now = state.now();
        let data = match q.get("input_token").and_then(|t| state.tokens.get(t)) {
            Some(g) => json!({
                "app_id": self.app_id,
                "type": "USER",
                "application": "Sandbox CRM",
                "data_access_expires_at": now + DATA_ACCESS_SECS,
                "expires_at": if state.debug_never_expires { 0 } else { g.expires_at },
                "is_valid": !g.revoked && !state.reject_tokens && g.expires_at > now,
                "issued_at": now,
                "scopes": g.scopes,
                "user_id": g.user_id,
            }),
            None => json!({
                "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
                "is_valid": false,
                "scopes": [],
            }),
        };
        json_resp(StatusCode::OK, json!({ "data": data }))
    }

    /// The user behind a call's token, or Meta's error.
    pub(super) fn authenticate(&self, state: &SandboxState, q: &HashMap<String, String>) -> Result<String, Box<Resp>> {
        let Some(token) = q.get("access_token") else {
            return Err(Box::new(graph_error(
                StatusCode::BAD_REQUEST,
                2500,
                None,
                "OAuthException",
                "An active access token must be used to query information about the current user.",
            )));
        };
        let grant = state.tokens.get(token).filter(|g| !g.revoked && g.expires_at > state.now());
        let Some(grant) = grant.filter(|_| !state.reject_tokens) else {
            return Err(Box::new(session_invalidated()));
        };
        self.check_proof(q, token)?;
        Ok(grant.user_id.clone())
    }

    /// Every call with a token must carry its `appsecret_proof` (HMAC-SHA256 of the token with
    /// the app secret); a wrong or missing one is Meta's code 100.
    pub(super) fn check_proof(&self, q: &HashMap<String, String>, token: &str) -> Result<(), Box<Resp>> {
        if q.get("appsecret_proof") == Some(&self.proof(token)) {
            return Ok(());
        }
        Err(Box::new(graph_error(
            StatusCode::BAD_REQUEST,
            100,
            None,
            "GraphMethodException",
            "Invalid appsecret_proof provided in the API argument",
        )))
    }
}

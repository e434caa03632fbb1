//! Sandbox Meta's Graph API routes: businesses, ad accounts, pages, campaigns and ads, insights
//! (sync and async report jobs), lead forms and leads, permissions.

use super::*;

impl SandboxMeta {
    /// One page of `all`, with Meta's cursors and a `next` URL that carries the query (token included).
    pub(super) fn page(&self, state: &SandboxState, path: &str, q: &HashMap<String, String>, all: Vec<Value>) -> Resp {
        let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok()).unwrap_or(25).clamp(1, state.page_size.max(1));
        let start = q
            .get("after")
            .and_then(|a| hex::decode(a).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(0)
            .min(all.len());
        let end = (start + limit).min(all.len());
        let cursor = |i: usize| hex::encode(i.to_string());
        let mut body = json!({ "data": all[start..end].to_vec() });
        if end > start {
            body["paging"] = json!({"cursors": {"before": cursor(start), "after": cursor(end)}});
        }
        if end < all.len() {
            let base = if state.poison_next { Url::parse("http://attacker.invalid:9") } else { Ok(self.url.clone()) };
            if let Ok(mut next) = base {
                next.set_path(path);
                {
                    let mut pairs = next.query_pairs_mut();
                    for (k, v) in q.iter().filter(|(k, _)| *k != "after") {
                        pairs.append_pair(k, v);
                    }
                    pairs.append_pair("after", &cursor(end));
                }
                body["paging"]["next"] = json!(next.as_str());
            }
        }
        json_resp(StatusCode::OK, body)
    }

    pub(super) async fn answer(&self, req: hyper::Request<Incoming>) -> Resp {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let mut query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        if let Some(control) = path.strip_prefix("/__sandbox/") {
            return self.control(&method, control, &query);
        }
        // Secrets never in the URL: tokens come in `Authorization: Bearer`, the code exchange
        // as a POST form (stricter than Meta, which also takes them in the query, so tests prove
        // the product sends none). The header's token then stands in for `access_token` below,
        // and goes into `paging.next` as Meta puts it there.
        if let Some(resp) = refuse_secrets_in_url(&query) {
            lock(&self.state).calls.push(format!("{method} {path}"));
            return resp;
        }
        let bearer = bearer_token(req.headers());
        let body = match RequestBody::read(req).await {
            Ok(b) => b,
            Err(resp) => {
                lock(&self.state).calls.push(format!("{method} {path}"));
                return *resp;
            }
        };
        if let Some(token) = bearer {
            query.insert("access_token".into(), token);
        }
        let delay = {
            let mut state = lock(&self.state);
            state.calls.push(format!("{method} {path}"));
            if state.delay_next > 0 {
                state.delay_next -= 1;
                Some(std::time::Duration::from_millis(state.delay_ms))
            } else {
                (state.latency_ms > 0).then(|| std::time::Duration::from_millis(state.latency_ms))
            }
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        let mut state = lock(&self.state);
        let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        // The version prefix is optional, as at Meta.
        let segs: &[&str] = match segs.first() {
            Some(v) if v.starts_with('v') && v[1..].contains('.') => &segs[1..],
            _ => &segs[..],
        };
        if method == Method::GET && segs == ["dialog", "oauth"] {
            return self.dialog(&mut state, &query);
        }
        if state.transient_next > 0 {
            state.transient_next -= 1;
            return graph_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                2,
                None,
                "OAuthException",
                "An unexpected error has occurred. Please retry your request later.",
            );
        }
        if state.throttle_next > 0 {
            state.throttle_next -= 1;
            let mut r = graph_error(
                StatusCode::BAD_REQUEST,
                state.throttle_code,
                None,
                "OAuthException",
                "There have been too many calls from this ad-account. Please wait a bit and try again.",
            );
            let usage = json!({ business_id(1): [{
                "type": "ads_management", "call_count": 100, "total_cputime": 40, "total_time": 60,
                "estimated_time_to_regain_access": state.throttle_wait_minutes,
            }]});
            if let Ok(v) = header::HeaderValue::from_str(&usage.to_string()) {
                r.headers_mut().insert("x-business-use-case-usage", v);
            }
            return r;
        }
        match (method.clone(), segs) {
            (Method::POST, ["oauth", "access_token"]) if matches!(body, RequestBody::Form(_)) => {
                self.access_token(&mut state, &body.form())
            }
            (_, ["oauth", "access_token"]) => graph_error(
                StatusCode::BAD_REQUEST,
                100,
                None,
                "OAuthException",
                "Sandbox Meta: the token exchange must be a POST with a form body",
            ),
            (Method::GET, ["debug_token"]) => self.debug_token(&state, &query),
            (m, rest) => {
                if let Some(resp) = self.page_edge(&mut state, &m, rest, &path, &query) {
                    return resp;
                }
                let user = match self.authenticate(&state, &query) {
                    Ok(u) => u,
                    Err(resp) => return *resp,
                };
                match (m, rest) {
                    (Method::GET, ["me", "businesses"]) => {
                        let all: Vec<Value> = (1..=state.businesses)
                            .map(|i| json!({"id": business_id(i), "name": format!("Sandbox Business {i}")}))
                            .collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, ["me", "adaccounts"]) => {
                        let mut all = Vec::new();
                        for i in 1..=state.businesses {
                            all.extend(state.owned(i));
                            all.extend(state.client(i));
                        }
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [b, edge @ ("owned_ad_accounts" | "client_ad_accounts")]) => {
                        match state.business_exists(b) {
                            Some(i) => {
                                let all = if *edge == "owned_ad_accounts" { state.owned(i) } else { state.client(i) };
                                self.page(&state, &path, &query, all)
                            }
                            None => graph_error(
                                StatusCode::BAD_REQUEST,
                                100,
                                Some(33),
                                "GraphMethodException",
                                &format!("Unsupported get request. Object with ID '{b}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
                            ),
                        }
                    }
                    (Method::GET, ["me", "accounts"]) => self.me_accounts(&mut state, &user, &path, &query),
                    (Method::GET, [act, "adspixels"]) if is_act(act) => self.adspixels(&state, act, &path, &query),
                    (Method::POST, [dataset, "events"]) => self.conversion_events(&mut state, dataset, &query, &body),
                    (Method::GET, [act]) if state.hidden_accounts.iter().any(|h| h == act) => graph_error(
                        StatusCode::BAD_REQUEST,
                        100,
                        Some(33),
                        "GraphMethodException",
                        &format!("Unsupported get request. Object with ID '{act}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
                    ),
                    (Method::GET, [act]) if is_act(act) => {
                        let (currency, tz) = state.account_currency_zone(act);
                        json_resp(StatusCode::OK, json!({"id": act, "currency": currency, "timezone_name": tz}))
                    }
                    (Method::GET, [act, edge @ ("campaigns" | "ads")]) if is_act(act) => {
                        let all: Vec<Value> = sandbox_campaigns(act)
                            .iter()
                            .enumerate()
                            .flat_map(|(k, c)| {
                                if *edge == "campaigns" {
                                    vec![sandbox_campaign_object(k, c)]
                                } else {
                                    c.ads.iter().map(|a| json!({"id": a.id, "name": a.name, "effective_status": a.status, "campaign_id": c.id})).collect()
                                }
                            })
                            .collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [act, "insights"]) if is_act(act) => {
                        let mut recorded = query.clone();
                        recorded.remove("access_token");
                        recorded.remove("appsecret_proof");
                        state.insights_queries.push(recorded);
                        match insights(&state, act, &query) {
                            Ok(all) => self.page(&state, &path, &query, all),
                            Err(resp) => *resp,
                        }
                    }
                    (Method::POST, [act, "insights"]) if is_act(act) => {
                        let mut recorded = query.clone();
                        recorded.remove("access_token");
                        recorded.remove("appsecret_proof");
                        state.insights_queries.push(recorded.clone());
                        let days = match insights(&state, act, &query) {
                            Ok(_) => range_days(&query),
                            Err(resp) => return *resp,
                        };
                        let id = (2_300_000_000_000_001u64 + state.report_jobs.len() as u64).to_string();
                        let fails = state.fail_async_jobs > 0;
                        state.fail_async_jobs = state.fail_async_jobs.saturating_sub(1);
                        let job = SandboxJob {
                            act: act.to_string(),
                            query: recorded,
                            polls_left: state.async_job_polls,
                            fails,
                            never_completes: state.slow_jobs_above_days.is_some_and(|max| days > max),
                        };
                        state.report_jobs.insert(id.clone(), job);
                        json_resp(StatusCode::OK, json!({"report_run_id": id}))
                    }
                    (Method::GET, [job]) if state.report_jobs.contains_key(*job) => {
                        if state.async_2601_next > 0 {
                            state.async_2601_next -= 1;
                            return graph_error(
                                StatusCode::BAD_REQUEST,
                                2601,
                                None,
                                "OAuthException",
                                "Error accessing adreport job.",
                            );
                        }
                        let Some(j) = state.report_jobs.get_mut(*job) else {
                            return graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", "no such job");
                        };
                        let (status, pct) = if j.never_completes {
                            ("Job Running", 50)
                        } else if j.polls_left > 0 {
                            j.polls_left -= 1;
                            ("Job Running", if j.polls_left == 0 { 100 } else { 50 })
                        } else if j.fails {
                            ("Job Failed", 100)
                        } else {
                            ("Job Completed", 100)
                        };
                        json_resp(
                            StatusCode::OK,
                            json!({"id": job, "async_status": status, "async_percent_completion": pct}),
                        )
                    }
                    (Method::GET, [job, "insights"]) if state.report_jobs.contains_key(*job) => {
                        let Some(j) = state.report_jobs.get(*job).cloned() else {
                            return graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", "no such job");
                        };
                        if j.polls_left > 0 || j.fails || j.never_completes {
                            return graph_error(StatusCode::BAD_REQUEST, 100, None, "OAuthException", "job not completed");
                        }
                        match insights(&state, &j.act, &j.query) {
                            Ok(all) => self.page(&state, &path, &query, all),
                            Err(resp) => *resp,
                        }
                    }
                    (Method::DELETE, ["me", "permissions"]) => {
                        for t in state.tokens.values_mut().filter(|t| t.user_id == user) {
                            t.revoked = true;
                        }
                        // The user's Page tokens die with the app's permissions.
                        state.revoke_page_tokens_of_user(&user);
                        state.permissions_revoked += 1;
                        json_resp(StatusCode::OK, json!({"success": true}))
                    }
                    _ => graph_error(StatusCode::BAD_REQUEST, 2500, None, "OAuthException", "Unknown path components"),
                }
            }
        }
    }
}

/// Query parameters that carry secrets (Sandbox Meta refuses them in any URL).
pub const SECRET_QUERY_PARAMS: [&str; 4] = ["access_token", "client_secret", "code", "fb_exchange_token"];

/// An error naming the first secret found in a Graph URL's query, if any.
fn refuse_secrets_in_url(query: &HashMap<String, String>) -> Option<Resp> {
    let found = SECRET_QUERY_PARAMS.iter().find(|p| query.contains_key(**p))?;
    Some(graph_error(
        StatusCode::BAD_REQUEST,
        100,
        None,
        "OAuthException",
        &format!("Sandbox Meta: {found} in the query string is refused (tokens go in Authorization: Bearer, the token exchange in a POST form)"),
    ))
}

/// The token of `Authorization: Bearer …` (or Meta's older `OAuth …`).
fn bearer_token(headers: &http::HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth"))
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// The largest request body Sandbox Meta reads (a 1,000-event Conversions API batch is about
/// 300–500 KB); a larger one is refused with code 100 before anything else is looked at.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A request body, read once and parsed by its `Content-Type`.
pub(super) enum RequestBody {
    /// No body, or one of another content type (ignored, as before).
    Other,
    /// `application/x-www-form-urlencoded`.
    Form(HashMap<String, String>),
    /// `application/json`: the parsed value, or `None` when it is not JSON.
    Json(Option<Value>),
}

impl RequestBody {
    /// Reads at most [`MAX_BODY_BYTES`]; over it, Meta's code 100 "request too large".
    async fn read(req: hyper::Request<Incoming>) -> Result<Self, Box<Resp>> {
        use http_body_util::BodyExt;
        let content_type =
            req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let bytes = match http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES).collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
                return Err(Box::new(graph_error(
                    StatusCode::BAD_REQUEST,
                    100,
                    None,
                    "OAuthException",
                    &format!("(#100) Sandbox Meta: request too large (over {MAX_BODY_BYTES} bytes)"),
                )));
            }
            // A body that broke off: as if none came.
            Err(_) => Bytes::new(),
        };
        Ok(if content_type.starts_with("application/x-www-form-urlencoded") {
            Self::Form(url::form_urlencoded::parse(&bytes).into_owned().collect())
        } else if content_type.starts_with("application/json") {
            Self::Json(serde_json::from_slice(&bytes).ok())
        } else {
            Self::Other
        })
    }

    /// The form's fields (empty for any other body).
    pub(super) fn form(&self) -> HashMap<String, String> {
        match self {
            Self::Form(f) => f.clone(),
            _ => HashMap::new(),
        }
    }
}

//! Sandbox Meta's Graph API routes: businesses, ad accounts, pages, campaigns and ads, insights
//! (sync and async report jobs), lead forms and leads, permissions.

use super::*;

impl SandboxMeta {
    pub(super) async fn answer(&self, req: hyper::Request<Incoming>) -> Resp {
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        if let Some(control) = path.strip_prefix("/__sandbox/") {
            return self.control(&method, control, &query);
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
            (Method::GET, ["oauth", "access_token"]) => self.access_token(&mut state, &query),
            (Method::GET, ["debug_token"]) => self.debug_token(&state, &query),
            (m, rest) => {
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
                    (Method::GET, ["me", "accounts"]) => {
                        let all: Vec<Value> =
                            state.pages.iter().map(|(id, name)| json!({"id": id, "name": name})).collect();
                        self.page(&state, &path, &query, all)
                    }
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
                    (Method::GET, [page, "leadgen_forms"]) if is_numeric(page) => {
                        let mut forms: Vec<String> =
                            state.leads.values().filter(|l| l.page_id == *page).map(|l| l.form_id.clone()).collect();
                        if state.pages.iter().any(|(id, _)| id == page) {
                            forms.push(SANDBOX_FORM_ID.to_string());
                        }
                        forms.sort();
                        forms.dedup();
                        let all = forms
                            .iter()
                            .map(|f| json!({"id": f, "name": format!("Sandbox form {f}"), "status": "ACTIVE"}))
                            .collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [form, "leads"]) if is_numeric(form) => {
                        let after = match created_after(&query) {
                            Ok(a) => a,
                            Err(resp) => return *resp,
                        };
                        let mut leads: Vec<&SandboxLead> = state
                            .leads
                            .values()
                            .filter(|l| l.form_id == *form && after.is_none_or(|a| l.created_time > a))
                            .collect();
                        // Newest first, as Meta lists them.
                        leads.sort_by(|a, b| b.created_time.cmp(&a.created_time).then_with(|| a.id.cmp(&b.id)));
                        let all = leads.iter().map(|l| with_fields(l, &query)).collect();
                        self.page(&state, &path, &query, all)
                    }
                    (Method::GET, [id]) if id.bytes().all(|b| b.is_ascii_digit()) => match state.leads.get(*id) {
                        Some(lead) => json_resp(StatusCode::OK, with_fields(lead, &query)),
                        None => graph_error(
                            StatusCode::BAD_REQUEST,
                            100,
                            Some(33),
                            "GraphMethodException",
                            &format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
                        ),
                    },
                    (Method::DELETE, ["me", "permissions"]) => {
                        for t in state.tokens.values_mut().filter(|t| t.user_id == user) {
                            t.revoked = true;
                        }
                        state.permissions_revoked += 1;
                        json_resp(StatusCode::OK, json!({"success": true}))
                    }
                    _ => graph_error(StatusCode::BAD_REQUEST, 2500, None, "OAuthException", "Unknown path components"),
                }
            }
        }
    }
}

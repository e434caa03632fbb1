//! Sandbox Meta's switches (`/__sandbox/…`): throttling, failures, restated days, leads.

use super::*;

impl SandboxMeta {
    /// `POST /__sandbox/configure?throttle_next=2&…`, `POST /__sandbox/reset`, `GET /__sandbox/state`,
    /// `POST /__sandbox/leads?page_id=&campaign_id=&ad_id=&name=` (a new lead and its signed delivery),
    /// `GET /__sandbox/conversions` (the Conversions API events received: `{events, requests, duplicates}`).
    pub(super) fn control(&self, method: &Method, what: &str, q: &HashMap<String, String>) -> Resp {
        let mut s = lock(&self.state);
        match (method, what) {
            (&Method::POST, "reset") => {
                let keep_tokens = std::mem::take(&mut s.tokens);
                let keep_leads = std::mem::take(&mut s.leads);
                *s = SandboxState { tokens: keep_tokens, leads: keep_leads, ..SandboxState::default() };
            }
            (&Method::POST, "configure") => {
                let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
                if let Some(n) = num("throttle_next") {
                    s.throttle_next = n as u32;
                }
                if let Some(n) = num("throttle_wait_minutes") {
                    s.throttle_wait_minutes = n;
                }
                if let Some(n) = num("delay_next") {
                    s.delay_next = n as u32;
                }
                if let Some(n) = num("delay_ms") {
                    s.delay_ms = n.min(120_000);
                }
                if let Some(n) = num("transient_next") {
                    s.transient_next = n as u32;
                }
                if let Some(n) = num("fail_exchange_next") {
                    s.fail_exchange_next = n as u32;
                }
                if let Some(n) = num("decline_next_dialog") {
                    s.decline_next_dialog = n as u32;
                }
                if let Some(n) = num("businesses") {
                    s.businesses = n.min(1_000) as u32;
                }
                if let Some(n) = num("owned_accounts_per_business") {
                    s.owned_accounts_per_business = n.min(999) as u32;
                }
                if let Some(n) = num("client_accounts_per_business") {
                    s.client_accounts_per_business = n.min(999) as u32;
                }
                if let Some(n) = num("page_size") {
                    s.page_size = n.clamp(1, 500) as usize;
                }
                if let Some(n) = num("max_insights_days") {
                    s.max_insights_days = Some(n.max(1) as i64);
                }
                if let Some(n) = num("async_job_polls") {
                    s.async_job_polls = n.min(100) as u32;
                }
                if let Some(n) = num("fail_async_jobs") {
                    s.fail_async_jobs = n as u32;
                }
                if let Some(n) = num("async_2601_next") {
                    s.async_2601_next = n as u32;
                }
                if let Some(n) = num("slow_jobs_above_days") {
                    s.slow_jobs_above_days = Some(n as i64);
                }
                if let Some(v) = q.get("usage_pct") {
                    s.usage_pct = v.parse::<u32>().ok().map(|p| p.min(200));
                }
                if let Some(d) =
                    q.get("restate_day").and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                {
                    s.restated_days.push(d);
                }
                if let Some(v) = q.get("reject_tokens") {
                    s.reject_tokens = v == "true" || v == "1";
                }
            }
            (&Method::POST, "leads") => {
                let page = q.get("page_id").map(String::as_str).unwrap_or(SANDBOX_PAGE_ID);
                if !page.bytes().all(|b| b.is_ascii_digit()) {
                    return json_resp(StatusCode::BAD_REQUEST, json!({"error": "page_id must be numeric"}));
                }
                let name = q.get("name").map(String::as_str).unwrap_or("Sandbox Lead");
                let lead = s.add_lead(
                    page,
                    q.get("campaign_id").map(String::as_str),
                    q.get("ad_id").map(String::as_str),
                    name,
                );
                drop(s);
                let (body, signature) = self.signed_leadgen_delivery(&[lead.id.as_str()]);
                return json_resp(
                    StatusCode::OK,
                    json!({
                        "leadgen_id": lead.id,
                        "delivery": String::from_utf8_lossy(&body),
                        "x_hub_signature_256": signature,
                    }),
                );
            }
            (&Method::GET, "conversions") => return json_resp(StatusCode::OK, s.conversions_json()),
            (&Method::GET, "state") => {}
            _ => return json_resp(StatusCode::NOT_FOUND, json!({"error": "unknown sandbox control"})),
        }
        json_resp(
            StatusCode::OK,
            json!({
                "throttle_next": s.throttle_next,
                "throttle_wait_minutes": s.throttle_wait_minutes,
                "transient_next": s.transient_next,
                "reject_tokens": s.reject_tokens,
                "fail_exchange_next": s.fail_exchange_next,
                "decline_next_dialog": s.decline_next_dialog,
                "businesses": s.businesses,
                "owned_accounts_per_business": s.owned_accounts_per_business,
                "client_accounts_per_business": s.client_accounts_per_business,
                "page_size": s.page_size,
                "calls": s.calls.len(),
                "leads": s.leads.len(),
                "permissions_revoked": s.permissions_revoked,
                "conversions": s.conversions.len(),
            }),
        )
    }
}

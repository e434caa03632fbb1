//! Sandbox Meta's Facebook Pages, as strict as Meta about them:
//!
//! - `GET /me/accounts` (user token, `pages_show_list`) lists the user's pages with a **Page
//!   token** each (`access_token`) and the user's `tasks` on it;
//! - page edges take **only that page's token**: `/{page}/leadgen_forms` (task `ADVERTISE`,
//!   `leads_retrieval` + `pages_manage_ads` + `pages_read_engagement` + `pages_show_list`),
//!   `/{form}/leads` and `/{leadgen_id}` (the lead permissions plus `ads_management`, and the
//!   page's Leads Access Manager), `/{page}/subscribed_apps` GET/POST/DELETE (task `MANAGE`,
//!   `MODERATE` or `CREATE_CONTENT`, `pages_manage_metadata` + `pages_show_list`). A user token
//!   there answers Meta's `(#190) This method must be called with a Page Access Token`, a
//!   missing permission `(#200) Requires … permission`, a missing task or a Leads Access Manager
//!   refusal code 200, ids that are not numeric code 100;
//! - a page token inherits its user token's scopes and dies with the user's permissions
//!   (`DELETE /me/permissions`) or by [`SandboxState::revoke_page_tokens`];
//! - `leadgen` webhooks are built only for pages this app is subscribed to
//!   ([`SandboxMeta::leadgen_delivery`]): Meta delivers nothing for the others.

use super::*;

/// A Page token the sandbox handed out.
#[derive(Debug, Clone)]
pub(super) struct PageGrant {
    pub page_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

/// Every task a page admin has (Meta's names).
pub const ALL_TASKS: [&str; 6] = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"];

const LEAD_FORM_SCOPES: [&str; 4] = ["leads_retrieval", "pages_manage_ads", "pages_read_engagement", "pages_show_list"];
const LEAD_READ_SCOPES: [&str; 5] =
    ["leads_retrieval", "pages_manage_ads", "pages_read_engagement", "pages_show_list", "ads_management"];
const SUBSCRIPTION_SCOPES: [&str; 2] = ["pages_manage_metadata", "pages_show_list"];

fn page_token_required() -> Resp {
    graph_error(
        StatusCode::BAD_REQUEST,
        190,
        None,
        "OAuthException",
        "(#190) This method must be called with a Page Access Token",
    )
}

pub(super) fn not_found(id: &str) -> Resp {
    graph_error(
        StatusCode::BAD_REQUEST,
        100,
        Some(33),
        "GraphMethodException",
        &format!("Unsupported get request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."),
    )
}

pub(super) fn permission(message: &str) -> Resp {
    graph_error(StatusCode::FORBIDDEN, 200, None, "OAuthException", message)
}

impl SandboxState {
    /// The user's tasks on `page` (all of them unless a test took some away).
    pub fn tasks_of(&self, page: &str) -> Vec<String> {
        self.page_tasks.get(page).cloned().unwrap_or_else(|| ALL_TASKS.iter().map(|t| t.to_string()).collect())
    }

    /// Meta invalidates every token of `page` (its edges answer 190 from now on).
    pub fn revoke_page_tokens(&mut self, page: &str) {
        for g in self.page_tokens.values_mut().filter(|g| g.page_id == page) {
            g.revoked = true;
        }
    }

    /// Every Page token handed out to `user` stops working.
    pub(super) fn revoke_page_tokens_of_user(&mut self, user: &str) {
        for g in self.page_tokens.values_mut().filter(|g| g.user_id == user) {
            g.revoked = true;
        }
    }

    /// Page tokens handed out for `page` and still valid.
    pub fn live_page_tokens(&self, page: &str) -> Vec<String> {
        self.page_tokens.iter().filter(|(_, g)| g.page_id == page && !g.revoked).map(|(t, _)| t.clone()).collect()
    }

    /// Whether this app receives `page`'s `leadgen` webhooks.
    pub fn subscribed_to_leadgen(&self, page: &str) -> bool {
        self.subscriptions.get(page).is_some_and(|f| f.iter().any(|x| x == "leadgen"))
    }

    /// The page a form belongs to (its leads' page; the sandbox form is on the user's first page).
    fn page_of_form(&self, form: &str) -> Option<String> {
        self.leads
            .values()
            .find(|l| l.form_id == form)
            .map(|l| l.page_id.clone())
            .or_else(|| (form == SANDBOX_FORM_ID).then(|| self.pages.first().map(|(p, _)| p.clone())).flatten())
    }
}

impl SandboxMeta {
    /// `GET /me/accounts` for `user`: one fresh Page token per page, with the user's scopes.
    pub(super) fn me_accounts(
        &self,
        state: &mut SandboxState,
        user: &str,
        path: &str,
        query: &HashMap<String, String>,
    ) -> Resp {
        let Some(scopes) = user_scopes(state, query) else {
            return page_token_required();
        };
        if !scopes.iter().any(|s| s == "pages_show_list") {
            return permission("(#200) Requires pages_show_list permission to list the user's pages");
        }
        let pages = state.pages.clone();
        let mut all = Vec::new();
        for (id, name) in pages {
            let token = random_token("EAAP");
            let grant =
                PageGrant { page_id: id.clone(), user_id: user.to_string(), scopes: scopes.clone(), revoked: false };
            state.page_tokens.insert(token.clone(), grant);
            all.push(json!({"id": id, "name": name, "access_token": token, "tasks": state.tasks_of(&id)}));
        }
        self.page(state, path, query, all)
    }

    /// A page edge, if `segs` is one: answered here with the page's token rules; `None` for
    /// everything else (user and app edges).
    pub(super) fn page_edge(
        &self,
        state: &mut SandboxState,
        method: &Method,
        segs: &[&str],
        path: &str,
        query: &HashMap<String, String>,
    ) -> Option<Resp> {
        let is_page_token = query.get("access_token").is_some_and(|t| state.page_tokens.contains_key(t));
        let (id, edge) = match segs {
            [id, edge @ ("leadgen_forms" | "leads" | "subscribed_apps")] => (*id, Some(*edge)),
            [id] if state.leads.contains_key(*id) || (is_page_token && *method == Method::GET) => (*id, None),
            _ => return None,
        };
        if !is_numeric(id) {
            return Some(not_found(id));
        }
        // The page the object belongs to.
        let page = match edge {
            Some("leads") => state.page_of_form(id),
            None => state.leads.get(id).map(|l| l.page_id.clone()),
            _ => Some(id.to_string()),
        };
        let Some(page) = page else { return Some(not_found(id)) };
        let grant = match self.page_grant(state, query, &page) {
            Ok(g) => g,
            Err(resp) => return Some(*resp),
        };
        Some(match (method.clone(), edge) {
            (Method::GET, Some("leadgen_forms")) => {
                if let Err(resp) = require(&grant, &LEAD_FORM_SCOPES, state, &page, &["ADVERTISE"]) {
                    return Some(*resp);
                }
                self.lead_forms(state, &page, path, query)
            }
            (Method::GET, Some("leads")) | (Method::GET, None) => {
                if let Err(resp) = require(&grant, &LEAD_READ_SCOPES, state, &page, &["ADVERTISE"]) {
                    return Some(*resp);
                }
                if state.no_lead_access.contains(&page) {
                    return Some(permission(
                        "(#200) The user does not have leads access on this page (Leads Access Manager)",
                    ));
                }
                if edge.is_some() {
                    self.form_leads(state, id, path, query)
                } else {
                    match state.leads.get(id) {
                        Some(lead) => json_resp(StatusCode::OK, with_fields(lead, query)),
                        None => not_found(id),
                    }
                }
            }
            (m, Some("subscribed_apps")) => {
                if let Err(resp) =
                    require(&grant, &SUBSCRIPTION_SCOPES, state, &page, &["MANAGE", "MODERATE", "CREATE_CONTENT"])
                {
                    return Some(*resp);
                }
                self.subscribed_apps(state, &m, &page, query)
            }
            _ => graph_error(StatusCode::BAD_REQUEST, 2500, None, "OAuthException", "Unknown path components"),
        })
    }

    /// The page token of the call, valid for `page`; a user token (or none) answers Meta's 190.
    fn page_grant(
        &self,
        state: &SandboxState,
        q: &HashMap<String, String>,
        page: &str,
    ) -> Result<PageGrant, Box<Resp>> {
        let Some(token) = q.get("access_token") else { return Err(Box::new(page_token_required())) };
        let Some(grant) = state.page_tokens.get(token).filter(|g| g.page_id == page) else {
            return Err(Box::new(page_token_required()));
        };
        if grant.revoked || state.reject_tokens {
            return Err(Box::new(session_invalidated()));
        }
        self.check_proof(q, token)?;
        Ok(grant.clone())
    }

    fn lead_forms(&self, state: &SandboxState, page: &str, path: &str, query: &HashMap<String, String>) -> Resp {
        let mut forms: Vec<String> =
            state.leads.values().filter(|l| l.page_id == page).map(|l| l.form_id.clone()).collect();
        if state.page_of_form(SANDBOX_FORM_ID).as_deref() == Some(page) {
            forms.push(SANDBOX_FORM_ID.to_string());
        }
        forms.sort();
        forms.dedup();
        let all =
            forms.iter().map(|f| json!({"id": f, "name": format!("Sandbox form {f}"), "status": "ACTIVE"})).collect();
        self.page(state, path, query, all)
    }

    fn form_leads(&self, state: &SandboxState, form: &str, path: &str, query: &HashMap<String, String>) -> Resp {
        let after = match created_after(query) {
            Ok(a) => a,
            Err(resp) => return *resp,
        };
        let mut leads: Vec<&SandboxLead> =
            state.leads.values().filter(|l| l.form_id == form && after.is_none_or(|a| l.created_time > a)).collect();
        // Newest first, as Meta lists them.
        leads.sort_by(|a, b| b.created_time.cmp(&a.created_time).then_with(|| a.id.cmp(&b.id)));
        let all = leads.iter().map(|l| with_fields(l, query)).collect();
        self.page(state, path, query, all)
    }

    fn subscribed_apps(
        &self,
        state: &mut SandboxState,
        method: &Method,
        page: &str,
        query: &HashMap<String, String>,
    ) -> Resp {
        match *method {
            Method::GET => {
                let data: Vec<Value> = state
                    .subscriptions
                    .get(page)
                    .map(|fields| vec![json!({"id": self.app_id, "name": "Sandbox app", "subscribed_fields": fields})])
                    .unwrap_or_default();
                json_resp(StatusCode::OK, json!({ "data": data }))
            }
            Method::POST => {
                let fields: Vec<String> = query
                    .get("subscribed_fields")
                    .map(|f| f.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
                    .unwrap_or_default();
                const KNOWN: [&str; 4] = ["leadgen", "feed", "messages", "mention"];
                if fields.is_empty() || fields.iter().any(|f| !KNOWN.contains(&f.as_str())) {
                    return graph_error(
                        StatusCode::BAD_REQUEST,
                        100,
                        None,
                        "OAuthException",
                        "(#100) Param subscribed_fields must be one of {leadgen, feed, messages, mention}",
                    );
                }
                let entry = state.subscriptions.entry(page.to_string()).or_default();
                for f in fields {
                    if !entry.contains(&f) {
                        entry.push(f);
                    }
                }
                json_resp(StatusCode::OK, json!({"success": true}))
            }
            Method::DELETE => {
                state.subscriptions.remove(page);
                json_resp(StatusCode::OK, json!({"success": true}))
            }
            _ => graph_error(StatusCode::BAD_REQUEST, 2500, None, "OAuthException", "Unknown path components"),
        }
    }
}

/// The scopes of the call's user token (`None`: not a user token).
pub(super) fn user_scopes(state: &SandboxState, q: &HashMap<String, String>) -> Option<Vec<String>> {
    q.get("access_token").and_then(|t| state.tokens.get(t)).map(|g| g.scopes.clone())
}

/// The page token's scopes include `scopes` and the user has one of `tasks` on the page.
fn require(
    grant: &PageGrant,
    scopes: &[&str],
    state: &SandboxState,
    page: &str,
    tasks: &[&str],
) -> Result<(), Box<Resp>> {
    if let Some(missing) = scopes.iter().find(|s| !grant.scopes.iter().any(|g| g == *s)) {
        return Err(Box::new(permission(&format!("(#200) Requires {missing} permission to manage the object"))));
    }
    let have = state.tasks_of(page);
    if !tasks.iter().any(|t| have.iter().any(|h| h == t)) {
        return Err(Box::new(permission(&format!(
            "(#200) The user must be able to perform one of the tasks {} on the page",
            tasks.join(", ")
        ))));
    }
    Ok(())
}

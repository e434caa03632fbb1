//! Page edges of the Graph client: lead-ads leads, lead forms, a form's leads and the page's
//! webhook subscription. Each takes the Page's own token ([`PageToken`]), never the user's.

use http::Method;
use serde_json::Value;

use super::client::{numeric, Call, GraphClient};
use super::errors::MetaError;
use super::wire::{
    LeadForm, Leadgen, PageToken, SubscribedApp, FORM_LEAD_FIELDS, LEADGEN_FIELDS, LEAD_FORM_FIELDS, PAGE_LIMIT,
};

impl GraphClient {
    /// One lead-ads lead (`GET /{leadgen_id}`, with the lead's Page token); `leadgen_id` must be
    /// numeric (never a path).
    pub async fn leadgen(&self, page: &PageToken, leadgen_id: &str) -> Result<Leadgen, MetaError> {
        numeric(leadgen_id, "leadgen id")?;
        let v = self.get(leadgen_id, &[("fields", LEADGEN_FIELDS)], page.secret(), "leadgen.get").await?;
        serde_json::from_value(v).map_err(|_| MetaError::InvalidResponse)
    }

    /// Lead forms of a Facebook Page (`/{page_id}/leadgen_forms`, Page token), all pages of results.
    pub async fn lead_forms(&self, page: &PageToken, page_id: &str) -> Result<Vec<LeadForm>, MetaError> {
        numeric(page_id, "page id")?;
        self.get_all(
            &format!("{page_id}/leadgen_forms"),
            &[("fields", LEAD_FORM_FIELDS), ("limit", PAGE_LIMIT)],
            page.secret(),
            "page.leadgen_forms",
        )
        .await
    }

    /// Leads of a form created after `since` (`/{form_id}/leads` with `filtering` on
    /// `time_created`, the form's Page token), all pages of results.
    pub async fn form_leads(
        &self,
        page: &PageToken,
        form_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Leadgen>, MetaError> {
        numeric(form_id, "form id")?;
        let filtering = serde_json::json!([{
            "field": "time_created", "operator": "GREATER_THAN", "value": since.timestamp()
        }])
        .to_string();
        self.get_all(
            &format!("{form_id}/leads"),
            &[("fields", FORM_LEAD_FIELDS), ("filtering", &filtering), ("limit", PAGE_LIMIT)],
            page.secret(),
            "form.leads",
        )
        .await
    }

    /// Subscribes this app to the page's `leadgen` webhooks (`POST /{page_id}/subscribed_apps`,
    /// Page token, `pages_manage_metadata`): Meta delivers lead webhooks only for subscribed pages.
    pub async fn subscribe_leadgen(&self, page: &PageToken, page_id: &str) -> Result<(), MetaError> {
        numeric(page_id, "page id")?;
        let path = format!("{page_id}/subscribed_apps");
        let v = self.post(&path, &[("subscribed_fields", "leadgen")], page.secret(), "page.subscribe").await?;
        match v.get("success").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            _ => Err(MetaError::InvalidResponse),
        }
    }

    /// The apps subscribed to the page's webhooks (`GET /{page_id}/subscribed_apps`, Page token).
    pub async fn page_subscriptions(&self, page: &PageToken, page_id: &str) -> Result<Vec<SubscribedApp>, MetaError> {
        numeric(page_id, "page id")?;
        let path = format!("{page_id}/subscribed_apps");
        self.get_all(&path, &[("fields", "id,subscribed_fields")], page.secret(), "page.subscriptions").await
    }

    /// Whether this app receives the page's `leadgen` webhooks, as Meta says.
    pub async fn leadgen_subscribed(&self, page: &PageToken, page_id: &str) -> Result<bool, MetaError> {
        let apps = self.page_subscriptions(page, page_id).await?;
        Ok(apps.iter().any(|a| a.id == self.settings().app_id && a.subscribed_fields.iter().any(|f| f == "leadgen")))
    }

    /// Removes this app's webhook subscription from the page (`DELETE /{page_id}/subscribed_apps`).
    pub async fn unsubscribe(&self, page: &PageToken, page_id: &str) -> Result<(), MetaError> {
        numeric(page_id, "page id")?;
        let mut url = self.url(&format!("{page_id}/subscribed_apps"), &[])?;
        self.authorize(&mut url, page.secret());
        self.send(Call::bearer(Method::DELETE, url, page.secret()), "page.unsubscribe").await.map(|_| ())
    }
}

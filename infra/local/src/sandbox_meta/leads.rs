//! Sandbox Meta's lead-ads leads: what `GET /{leadgen_id}` answers and what a `leadgen`
//! webhook carries, created by tests, `POST /__sandbox/leads` or the demo's seed.

use super::*;

/// A lead-ads lead held by the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLead {
    pub id: String,
    pub page_id: String,
    pub form_id: String,
    pub campaign_id: String,
    pub adset_id: String,
    pub ad_id: String,
    /// Epoch seconds.
    pub created_time: i64,
    /// `(field name, answer)` pairs, e.g. `("full_name", "Ana Gómez")`.
    pub answers: Vec<(String, String)>,
}

impl SandboxLead {
    /// The object `GET /{leadgen_id}` returns (before `fields` filtering).
    pub(super) fn graph_object(&self) -> Value {
        let created = chrono::DateTime::from_timestamp(self.created_time, 0)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S+0000").to_string())
            .unwrap_or_default();
        json!({
            "id": self.id,
            "created_time": created,
            "form_id": self.form_id,
            "campaign_id": self.campaign_id,
            "campaign_name": format!("Sandbox campaign {}", self.campaign_id),
            "adset_id": self.adset_id,
            "adset_name": format!("Sandbox ad set {}", self.adset_id),
            "ad_id": self.ad_id,
            "ad_name": format!("Sandbox ad {}", self.ad_id),
            "is_organic": false,
            "platform": "fb",
            "field_data": self.answers.iter().map(|(k, v)| json!({"name": k, "values": [v]})).collect::<Vec<_>>(),
        })
    }

    /// The `value` of the `leadgen` change Meta posts for this lead.
    pub fn change_value(&self) -> Value {
        json!({
            "leadgen_id": self.id,
            "page_id": self.page_id,
            "form_id": self.form_id,
            "ad_id": self.ad_id,
            "adgroup_id": self.adset_id,
            "created_time": self.created_time,
        })
    }
}

impl SandboxState {
    /// Creates a lead on `page_id` attributed to `campaign_id` / `ad_id` (sandbox defaults when
    /// `None`), created now; returns it. Ids are sequential, numeric, as at Meta.
    pub fn add_lead(
        &mut self,
        page_id: &str,
        campaign_id: Option<&str>,
        ad_id: Option<&str>,
        name: &str,
    ) -> SandboxLead {
        let id = (1_100_000_000_000_001u64 + self.leads.len() as u64 + 100).to_string();
        self.add_lead_with_id(&id, page_id, campaign_id, ad_id, name)
    }

    /// [`Self::add_lead`] with a given leadgen id.
    pub fn add_lead_with_id(
        &mut self,
        id: &str,
        page_id: &str,
        campaign_id: Option<&str>,
        ad_id: Option<&str>,
        name: &str,
    ) -> SandboxLead {
        let slug: String = name.to_ascii_lowercase().chars().filter(char::is_ascii_alphanumeric).collect();
        let lead = SandboxLead {
            id: id.to_string(),
            page_id: page_id.to_string(),
            form_id: SANDBOX_FORM_ID.to_string(),
            campaign_id: campaign_id.unwrap_or(SANDBOX_CAMPAIGN_ID).to_string(),
            adset_id: SANDBOX_ADSET_ID.to_string(),
            ad_id: ad_id.unwrap_or(SANDBOX_AD_ID).to_string(),
            created_time: self.now(),
            answers: vec![
                ("full_name".into(), name.to_string()),
                ("email".into(), format!("{slug}@example.com")),
                ("phone_number".into(), "+5491100000000".into()),
            ],
        };
        self.leads.insert(lead.id.clone(), lead.clone());
        lead
    }

    /// The leads of `events/meta-leadgen-webhook.json` (for `make dev`).
    pub fn seed_demo_leads(&mut self) {
        for (i, id) in DEMO_LEADGEN_IDS.iter().enumerate() {
            if !self.leads.contains_key(*id) {
                self.add_lead_with_id(id, SANDBOX_PAGE_ID, None, None, &format!("Demo Lead {}", i + 1));
            }
        }
    }
}

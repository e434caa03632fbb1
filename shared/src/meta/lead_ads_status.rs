//! What token-status and the token check say about lead ads: each of the tenant's pages
//! (subscribed to `leadgen` or not, lead access, its last problem, the last lead seen) and which
//! features the login's scopes allow. Never a token.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::ids::TenantId;
use crate::meta::scopes::{feature_access, FeatureAccess};
use crate::store::pages::{PageIndex, PageOwner};
use crate::store::StoreError;

/// One page as the tenant sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageStatus {
    pub page_id: String,
    pub name: String,
    /// Meta confirmed this app receives the page's lead webhooks.
    pub subscribed: bool,
    pub subscription_checked_at: Option<DateTime<Utc>>,
    /// `true`/`false` once Meta answered a lead read; `None` before.
    pub lead_access: Option<bool>,
    /// A Page token is stored for the page.
    pub has_page_token: bool,
    /// What last went wrong on the page (`page_token_invalid`, `no_lead_access`, …), if anything.
    pub problem: Option<String>,
    pub problem_at: Option<DateTime<Utc>>,
    pub last_lead_at: Option<DateTime<Utc>>,
    pub leads_swept_at: Option<DateTime<Utc>>,
}

impl From<PageOwner> for PageStatus {
    fn from(p: PageOwner) -> Self {
        Self {
            has_page_token: p.token_ciphertext_b64.is_some(),
            page_id: p.page_id,
            name: p.page_name,
            subscribed: p.subscribed,
            subscription_checked_at: p.subscription_checked_at,
            lead_access: p.lead_access,
            problem_at: p.problem.as_ref().map(|x| x.at),
            problem: p.problem.map(|x| x.code),
            last_lead_at: p.last_lead_at,
            leads_swept_at: p.leads_swept_at,
        }
    }
}

/// Lead ads of a tenant at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeadAdsStatus {
    pub pages: Vec<PageStatus>,
    /// Every page is subscribed and has no problem (and there is at least one).
    pub pages_ok: bool,
    pub features: Vec<FeatureAccess>,
}

impl LeadAdsStatus {
    /// The status of `pages` (as the page index holds them) with the features `scopes` allow.
    pub fn of(pages: Vec<PageOwner>, scopes: &[String]) -> Self {
        let pages: Vec<PageStatus> = pages.into_iter().map(PageStatus::from).collect();
        let pages_ok = !pages.is_empty() && pages.iter().all(|p| p.subscribed && p.problem.is_none());
        Self { pages, pages_ok, features: feature_access(scopes) }
    }
}

/// The tenant's pages from the page index, and the features `scopes` allow.
pub async fn lead_ads_status(
    pages: &dyn PageIndex,
    tenant: TenantId,
    scopes: &[String],
) -> Result<LeadAdsStatus, StoreError> {
    Ok(LeadAdsStatus::of(pages.pages_of(tenant).await?, scopes))
}

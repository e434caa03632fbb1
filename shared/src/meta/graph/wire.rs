//! What Graph sends and the product reads: the fields asked for, tokens, token debug info,
//! businesses, ad accounts, pages, lead-ads leads, and the paged-list envelope.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::errors::MetaError;
use crate::domain::crm::AdAttribution;
use crate::platform::clock::after_seconds;
use crate::platform::secrets::SecretString;

/// Scopes the product asks for: insights (`ads_read`), business listing (`business_management`),
/// and lead ads: the Page list and its tokens (`pages_show_list`), lead forms and leads
/// (`leads_retrieval`, `pages_read_engagement`, `pages_manage_ads`, `ads_management` — Meta's
/// lead-retrieval guide), and the page's `leadgen` webhook subscription (`pages_manage_metadata`).
/// Which feature needs which is [`crate::meta::scopes`]'.
pub const OAUTH_SCOPES: &[&str] = &[
    "ads_read",
    "business_management",
    "leads_retrieval",
    "pages_show_list",
    "pages_read_engagement",
    "pages_manage_metadata",
    "pages_manage_ads",
    "ads_management",
];

/// Fields of a Facebook Page the product reads: the Page's own access token (page edges take
/// only it) and the tasks the user may perform on it.
pub const PAGE_FIELDS: &str = "id,name,access_token,tasks";
/// Fields of a lead-ads lead (`GET /{leadgen_id}`) the product reads.
pub const LEADGEN_FIELDS: &str = "created_time,field_data,campaign_id,campaign_name,adset_id,ad_id,ad_name";
/// Fields of a lead read from a form's `leads` edge (reconciliation): the lead's plus its form.
pub const FORM_LEAD_FIELDS: &str = "id,created_time,field_data,campaign_id,campaign_name,adset_id,ad_id,ad_name";
/// Fields of a lead form (`/{page_id}/leadgen_forms`) the product reads.
pub const LEAD_FORM_FIELDS: &str = "id,status";
/// Fields of an ad account the product reads.
pub const AD_ACCOUNT_FIELDS: &str = "id,account_id,name,currency,timezone_name,account_status";
/// Page size asked of Meta for list calls.
pub const PAGE_LIMIT: &str = "100";

/// An access token as Meta hands it out.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: SecretString,
    pub expires_in: Option<i64>,
}

impl AccessToken {
    /// When it expires by its `expires_in`: `None` when Meta sent none, a non-positive one, or one
    /// too large to be a date (checked arithmetic: a huge value never panics).
    pub fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expires_in.filter(|s| *s > 0).and_then(|s| after_seconds(now, s))
    }
}

/// What `debug_token` says about a token.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub is_valid: bool,
    pub app_id: Option<String>,
    pub user_id: Option<String>,
    /// `None` = never expires (Meta sends 0).
    pub expires_at: Option<DateTime<Utc>>,
    pub data_access_expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

/// A Business Manager (portfolio), as the frontend reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Business {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// An ad account, as the frontend reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdAccount {
    /// `act_<account_id>`.
    pub id: String,
    pub account_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub timezone_name: Option<String>,
    /// 1 = active, 2 = disabled, 3 = unsettled, … (Meta's numbers).
    #[serde(default)]
    pub account_status: i64,
}

/// A Facebook Page the connected user manages (lead-ads webhooks are per page), as
/// `/me/accounts` lists it: with the Page's access token (long-lived when the user token is) and
/// the user's tasks on it (`ADVERTISE`, `MANAGE`, …).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FacebookPage {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub access_token: Option<PageToken>,
    #[serde(default)]
    pub tasks: Vec<String>,
}

impl FacebookPage {
    /// A page as the product names it (tests, the sandbox): no token, no tasks.
    pub fn named(id: &str, name: &str) -> Self {
        Self { id: id.into(), name: name.into(), access_token: None, tasks: Vec::new() }
    }
}

/// A Facebook Page's access token. Page edges (`/{page}/leadgen_forms`, `/{form}/leads`,
/// `/{leadgen_id}`, `/{page}/subscribed_apps`) take only this type, so the user's token can
/// never reach one (Meta answers a user token there with code 190 although the user token is
/// fine: FIELD-NOTES 25). `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct PageToken(SecretString);

impl PageToken {
    pub fn new(token: SecretString) -> Self {
        Self(token)
    }
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl std::fmt::Debug for PageToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageToken(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for PageToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| PageToken(SecretString::new(s)))
    }
}

/// An app subscribed to a page's webhooks (`GET /{page}/subscribed_apps`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SubscribedApp {
    pub id: String,
    #[serde(default)]
    pub subscribed_fields: Vec<String>,
}

/// One answer of a lead-ads form field (`field_data[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadField {
    pub name: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// A lead-ads lead as `GET /{leadgen_id}?fields=`[`LEADGEN_FIELDS`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leadgen {
    pub id: String,
    /// Meta's `2026-11-24T12:00:00+0000` (no colon in the offset).
    pub created_time: String,
    #[serde(default)]
    pub field_data: Vec<LeadField>,
    /// `campaign_id`, `campaign_name`, `ad_id`, `ad_name` (top-level in Graph's answer).
    #[serde(flatten)]
    pub attribution: AdAttribution,
}

/// A lead-ads form of a page (`/{page_id}/leadgen_forms`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LeadForm {
    pub id: String,
    /// `ACTIVE`, `ARCHIVED`, … (leads of archived forms are still read).
    #[serde(default)]
    pub status: Option<String>,
}

/// One page of a paged edge.
#[derive(Deserialize)]
pub(super) struct Page<T> {
    #[serde(default = "Vec::new")]
    pub(super) data: Vec<T>,
    #[serde(default)]
    pub(super) paging: Option<Paging>,
}

#[derive(Deserialize)]
pub(super) struct Paging {
    #[serde(default)]
    pub(super) next: Option<String>,
}

/// Epoch seconds → time; Meta's `0` means "never".
pub(super) fn epoch(secs: Option<i64>) -> Option<DateTime<Utc>> {
    secs.filter(|s| *s > 0).and_then(|s| Utc.timestamp_opt(s, 0).single())
}

/// `{"access_token": "...", "expires_in": 5183944}`.
pub(super) fn parse_token(v: Value) -> Result<AccessToken, MetaError> {
    let token =
        v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty()).ok_or(MetaError::InvalidResponse)?;
    Ok(AccessToken { token: SecretString::new(token), expires_in: v.get("expires_in").and_then(Value::as_i64) })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default()
    }

    #[test]
    fn expires_in_becomes_a_date_with_checked_arithmetic() {
        let t =
            |v: Value| parse_token(json!({"access_token": "EAAL", "expires_in": v})).expect("token").expires_at(now());
        assert_eq!(t(json!(5_183_944)), Some(now() + Duration::seconds(5_183_944)));
        // Huge, negative, fractional or foreign values: no expiry known, and no panic.
        for v in
            [json!(i64::MAX), json!(u64::MAX), json!(1e300), json!(-5), json!(0), json!("60"), json!(10_i64.pow(15))]
        {
            assert_eq!(t(v.clone()), None, "{v}");
        }
    }

    #[test]
    fn epoch_seconds_out_of_range_are_no_date() {
        assert_eq!(epoch(Some(0)), None, "Meta's 0 = never");
        assert_eq!(epoch(Some(i64::MAX)), None);
        assert_eq!(epoch(Some(1_795_000_000)).map(|d| d.timestamp()), Some(1_795_000_000));
    }
}

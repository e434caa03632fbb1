//! Conversions back to Meta (Conversions API for CRM, FIELD-NOTES 35–38): a tenant's settings —
//! the dataset, the stage map, a test event code — and one outbox item per (lead, stage), as
//! stored. The planning and sending live in `meta::conversions`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::ids::TenantId;

/// `custom_data.lead_event_source` when the tenant names no CRM.
pub const DEFAULT_LEAD_EVENT_SOURCE: &str = "CRM Marketing Hub";

/// Which CRM events become which Meta stage names. `None` = that event is not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageMap {
    #[serde(default)]
    pub lead_created: Option<String>,
    #[serde(default)]
    pub opportunity_created: Option<String>,
    #[serde(default)]
    pub sale_completed: Option<String>,
    /// A lead's status (lower-case word, as the CRM sends it) → stage name.
    #[serde(default)]
    pub lead_status: BTreeMap<String, String>,
}

impl Default for StageMap {
    /// Meta's own example funnel: "Initial lead" → "Sales opportunity" → "Converted".
    fn default() -> Self {
        Self {
            lead_created: Some("Initial lead".into()),
            opportunity_created: Some("Sales opportunity".into()),
            sale_completed: Some("Converted".into()),
            lead_status: BTreeMap::new(),
        }
    }
}

/// Where a stage sits in the funnel: earlier stages of a lead are sent before later ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageKind {
    LeadCreated,
    /// A mapped lead status (between the initial lead and the opportunity).
    LeadStatus,
    OpportunityCreated,
    SaleCompleted,
}

impl StageKind {
    pub fn rank(self) -> u8 {
        match self {
            Self::LeadCreated => 10,
            Self::LeadStatus => 20,
            Self::OpportunityCreated => 30,
            Self::SaleCompleted => 40,
        }
    }
}

/// A tenant's conversions settings (`T#{tenant}` / `CONV#SETTINGS`, saved at a revision).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionSettings {
    pub tenant_id: TenantId,
    pub enabled: bool,
    /// The dataset (pixel) events go to; numeric.
    #[serde(default)]
    pub dataset_id: Option<String>,
    #[serde(default)]
    pub dataset_name: Option<String>,
    #[serde(default)]
    pub stages: StageMap,
    /// Routes events to Events Manager's test view while set.
    #[serde(default)]
    pub test_event_code: Option<String>,
    /// `custom_data.lead_event_source`: the CRM's name.
    #[serde(default = "default_source")]
    pub lead_event_source: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

fn default_source() -> String {
    DEFAULT_LEAD_EVENT_SOURCE.into()
}

/// Where an outbox item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionState {
    Pending,
    Sent,
    /// Not sent, by rule (outside Meta's window, before the lead's creation, after a later stage,
    /// conversions turned off): `reason` says which.
    Skipped,
    /// Meta refused it (the request was invalid): `reason` has Meta's code.
    Failed,
}

/// One stage of one Meta lead on its way to Meta (`T#{tenant}` / `CONV#L#{lead}#{rank}#{stage}`):
/// created once, by the CRM event that first reached the stage (or as an earlier stage filled
/// in before it), pending in the tenant's queue until it is sent or skipped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionItem {
    pub tenant_id: TenantId,
    /// The lead (the one holding the leadgen id; a CRM copy's events resolve to it).
    pub lead_id: String,
    /// Meta's lead id (digits): `user_data.lead_id`.
    pub leadgen_id: String,
    pub kind: StageKind,
    /// `lead_created`, `opportunity_created`, `sale_completed` or `status_{status}`.
    pub stage: String,
    pub event_name: String,
    /// Sent to Meta as `event_id`: stable per (tenant, CRM event, stage).
    pub event_id: String,
    /// The CRM event that created it (`fill:{event}` for an earlier stage filled in).
    pub source_event: String,
    /// When the CRM recorded the stage (`event_time`).
    pub event_time: DateTime<Utc>,
    #[serde(default)]
    pub lead_created_at: Option<DateTime<Utc>>,
    /// A sale's amount, in minor units of `currency`.
    #[serde(default)]
    pub value_minor: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub state: ConversionState,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub settled_at: Option<DateTime<Utc>>,
}

impl ConversionItem {
    pub fn rank(&self) -> u8 {
        self.kind.rank()
    }

    /// Per-stage counter name of an outcome (`sent__lead_created`), safe in an attribute name.
    pub fn counter(&self, outcome: &str) -> String {
        format!("{outcome}__{}", self.stage)
    }
}

/// What Meta answered for the last batch, or the last failure (`T#{tenant}` / `CONV#LAST`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionActivity {
    #[serde(default)]
    pub last_batch_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_batch_sent: Option<u32>,
    /// Meta's `events_received` for that batch.
    #[serde(default)]
    pub last_events_received: Option<u32>,
    #[serde(default)]
    pub last_fbtrace_id: Option<String>,
    #[serde(default)]
    pub last_error_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_error: Option<String>,
}

//! `GET/PUT /crm/marketing/conversions`: the input a manager sends (validated whole before
//! anything is read or written), the error it can meet, and the view the frontend reads — the
//! settings, why nothing is sent when nothing is, counts per stage over 7 days and Meta's answer
//! to the last batch.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::domain::conversions::{ConversionActivity, ConversionSettings, StageMap, DEFAULT_LEAD_EVENT_SOURCE};
use crate::domain::ids::{is_meta_id, Status, TenantId};
use crate::meta::error::MetaFlowError;
use crate::platform::error::{DomainError, Failure};
use crate::store::StoreError;

/// Most lead statuses a tenant can map to stages.
pub const MAX_STATUS_STAGES: usize = 20;
const MAX_NAME: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum ConversionsError {
    #[error("{0}")]
    Invalid(String),
    #[error("dataset {0} is not among the datasets of the selected ad accounts")]
    DatasetNotAvailable(String),
    #[error("the conversions settings were changed meanwhile; reload and try again")]
    Changed,
    #[error(transparent)]
    Meta(#[from] MetaFlowError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DomainError for ConversionsError {
    fn failure(&self) -> Failure {
        match self {
            Self::Invalid(_) | Self::DatasetNotAvailable(_) => Failure::BadRequest,
            Self::Changed => Failure::Conflict,
            Self::Meta(e) => e.failure(),
            Self::Store(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_conversions",
            Self::DatasetNotAvailable(_) => "dataset_not_available",
            Self::Changed => "conversions_changed",
            Self::Meta(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }
}

/// The stage names a manager sets; an absent field keeps Meta's default name, `null` turns the
/// stage off.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagesInput {
    #[serde(default, with = "nullable")]
    pub lead_created: Option<Option<String>>,
    #[serde(default, with = "nullable")]
    pub opportunity_created: Option<Option<String>>,
    #[serde(default, with = "nullable")]
    pub sale_completed: Option<Option<String>>,
    #[serde(default)]
    pub lead_status: BTreeMap<String, String>,
}

mod nullable {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::<String>::deserialize(d)?))
    }
}

/// `PUT /crm/marketing/conversions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub enabled: bool,
    #[serde(default)]
    pub dataset_id: Option<String>,
    #[serde(default)]
    pub stages: Option<StagesInput>,
    #[serde(default)]
    pub test_event_code: Option<String>,
    #[serde(default)]
    pub lead_event_source: Option<String>,
}

fn name(what: &str, v: &str) -> Result<String, ConversionsError> {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > MAX_NAME || t.chars().any(char::is_control) {
        return Err(ConversionsError::Invalid(format!("{what} must be 1–{MAX_NAME} printable characters")));
    }
    Ok(t.to_string())
}

fn stage_name(
    what: &str,
    v: Option<Option<String>>,
    default: Option<String>,
) -> Result<Option<String>, ConversionsError> {
    match v {
        None => Ok(default),
        Some(None) => Ok(None),
        Some(Some(n)) => name(what, &n).map(Some),
    }
}

impl SettingsInput {
    /// The settings this input asks for (everything but the dataset's membership, checked with
    /// Meta by the caller).
    pub fn into_settings(
        self,
        tenant: TenantId,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<ConversionSettings, ConversionsError> {
        if let Some(d) = &self.dataset_id {
            if !is_meta_id(d) {
                return Err(ConversionsError::Invalid("dataset_id must be a numeric Meta dataset id".into()));
            }
        }
        let defaults = StageMap::default();
        let input = self.stages.unwrap_or_default();
        if input.lead_status.len() > MAX_STATUS_STAGES {
            return Err(ConversionsError::Invalid(format!("at most {MAX_STATUS_STAGES} lead statuses can be mapped")));
        }
        let mut lead_status = BTreeMap::new();
        for (status, stage) in input.lead_status {
            let s = Status::parse(&status)
                .map_err(|_| ConversionsError::Invalid(format!("lead status {status:?} is not a status word")))?;
            lead_status.insert(s.as_str().to_string(), name("a status stage name", &stage)?);
        }
        let stages = StageMap {
            lead_created: stage_name("stages.lead_created", input.lead_created, defaults.lead_created)?,
            opportunity_created: stage_name(
                "stages.opportunity_created",
                input.opportunity_created,
                defaults.opportunity_created,
            )?,
            sale_completed: stage_name("stages.sale_completed", input.sale_completed, defaults.sale_completed)?,
            lead_status,
        };
        let mut names: Vec<&String> = [&stages.lead_created, &stages.opportunity_created, &stages.sale_completed]
            .into_iter()
            .flatten()
            .chain(stages.lead_status.values())
            .collect();
        let before = names.len();
        names.sort();
        names.dedup();
        if names.len() != before {
            return Err(ConversionsError::Invalid("every stage needs its own name".into()));
        }
        let test_event_code = match self.test_event_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) if c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphanumeric()) => Some(c.to_string()),
            Some(_) => return Err(ConversionsError::Invalid("test_event_code must be 1–32 letters or digits".into())),
        };
        let lead_event_source = match self.lead_event_source {
            Some(s) => name("lead_event_source", &s)?,
            None => DEFAULT_LEAD_EVENT_SOURCE.to_string(),
        };
        Ok(ConversionSettings {
            tenant_id: tenant,
            enabled: self.enabled,
            dataset_id: self.dataset_id,
            dataset_name: None,
            stages,
            test_event_code,
            lead_event_source,
            updated_at: now,
            updated_by: user.to_string(),
        })
    }
}

/// A dataset the tenant can send to, as `GET /crm/marketing/meta-datasets` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetView {
    pub id: String,
    pub name: Option<String>,
    pub ad_account_id: String,
}

/// Names the dataset from the tenant's datasets, or refuses one it cannot send to.
pub fn check_dataset(settings: &mut ConversionSettings, datasets: &[DatasetView]) -> Result<(), ConversionsError> {
    let Some(id) = settings.dataset_id.clone() else { return Ok(()) };
    let found = datasets.iter().find(|d| d.id == id).ok_or(ConversionsError::DatasetNotAvailable(id))?;
    settings.dataset_name = found.name.clone();
    Ok(())
}

/// Outcome counts of one stage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StageCounts {
    pub sent: i64,
    pub skipped: i64,
    pub failed: i64,
}

/// Whether events can flow now, and if not why (`disabled`, `no_dataset`, `meta_not_connected`,
/// `meta_reconnect_required`).
pub fn status(settings: Option<&ConversionSettings>, meta: Option<&str>) -> (&'static str, Option<&'static str>) {
    match settings {
        None => ("inactive", Some("disabled")),
        Some(s) if !s.enabled => ("inactive", Some("disabled")),
        Some(s) if s.dataset_id.is_none() => ("inactive", Some("no_dataset")),
        Some(_) => match meta {
            Some("missing") | None => ("inactive", Some("meta_not_connected")),
            Some("expired") => ("inactive", Some("meta_reconnect_required")),
            Some(_) => ("active", None),
        },
    }
}

/// The `data` of `GET /crm/marketing/conversions`. `meta` is the connection's token state
/// (`connected`, `expired`, `missing`); `counts` the 7-day counters (`{outcome}__{stage}`).
pub fn view(
    settings: Option<&ConversionSettings>,
    revision: Option<u64>,
    meta: Option<&str>,
    counts: &BTreeMap<String, i64>,
    activity: &ConversionActivity,
) -> Value {
    let shown = settings.cloned();
    let stages = shown.as_ref().map(|s| s.stages.clone()).unwrap_or_default();
    let (state, reason) = status(settings, meta);
    let mut per_stage: BTreeMap<String, StageCounts> = BTreeMap::new();
    for (key, n) in counts {
        let Some((outcome, stage)) = key.split_once("__") else { continue };
        let c = per_stage.entry(stage.to_string()).or_default();
        match outcome {
            "sent" => c.sent += n,
            "skipped" => c.skipped += n,
            "failed" => c.failed += n,
            _ => {}
        }
    }
    json!({
        "enabled": shown.as_ref().is_some_and(|s| s.enabled),
        "dataset_id": shown.as_ref().and_then(|s| s.dataset_id.clone()),
        "dataset_name": shown.as_ref().and_then(|s| s.dataset_name.clone()),
        "stages": stages,
        "test_event_code": shown.as_ref().and_then(|s| s.test_event_code.clone()),
        "lead_event_source": shown.as_ref().map_or(DEFAULT_LEAD_EVENT_SOURCE.to_string(), |s| s.lead_event_source.clone()),
        "status": state,
        "reason": reason,
        "counts_7d": per_stage,
        "last_batch": activity.last_batch_at.map(|at| json!({
            "at": at,
            "events_sent": activity.last_batch_sent,
            "events_received": activity.last_events_received,
            "fbtrace_id": activity.last_fbtrace_id,
        })),
        "last_error": activity.last_error_at.map(|at| json!({"at": at, "message": activity.last_error})),
        "updated_at": shown.as_ref().map(|s| s.updated_at),
        "revision": revision,
    })
}

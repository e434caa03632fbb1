//! The tenant's automation rules as the API reads and writes them (`/crm/marketing/automation/rules`):
//! every trigger is listed (absent ones as disabled, with the default delay), with its counts; a
//! save (`{"rules": [...]}`, POST or PUT) replaces the triggers it names and keeps the others,
//! after validation: known trigger, each once, non-negative delay, a template name and language,
//! quiet hours within 0–23, the template must exist in the tenant's WhatsApp account for that
//! language, and every variable of its body must be mapped to a CRM field (`variables`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::automation::template_vars;
use crate::automation::triggers::{default_delay, DEFAULT_QUIET_HOURS};
use crate::automation::ycloud::{Template, YcloudError};
use crate::domain::hsm::TriggerKind;
use crate::domain::ids::TenantId;
use crate::platform::error::{DomainError, Failure};
use crate::store::automation::rules::{AutomationRule, QuietHours, RuleSet, RulesStore};
use crate::store::{Conflict, Revision, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Ycloud(#[from] YcloudError),
    #[error("the rules were changed by another save while this one was made; reload them and save again")]
    Conflict,
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl DomainError for RulesError {
    fn failure(&self) -> Failure {
        match self {
            Self::Invalid(_) => Failure::BadRequest,
            Self::Conflict => Failure::Conflict,
            Self::Ycloud(e) => e.failure(),
            Self::Store(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_rule",
            Self::Conflict => "conflict",
            Self::Ycloud(e) => e.code(),
            Self::Store(e) => e.code(),
        }
    }
}

/// One rule as the client sends it (the frontend's names, with ours accepted beside them).
#[derive(Debug, Clone, Deserialize)]
pub struct RuleInput {
    #[serde(alias = "trigger")]
    pub trigger_type: String,
    #[serde(alias = "enabled", default)]
    pub is_active: Option<bool>,
    #[serde(alias = "template", default)]
    pub template_name: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub delay_minutes: Option<i64>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// `{"1": "first_name", "2": "appointment_time"}`: the CRM field of each template variable.
    #[serde(default)]
    pub variables: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RulesInput {
    pub rules: Vec<RuleInput>,
    #[serde(default)]
    pub contact_window_hours: Option<u32>,
    #[serde(default)]
    pub daily_recipient_cap: Option<u32>,
}

/// A save of `input` over what the request read (`read`: the rules and their revision, from
/// [`RulesStore::rules_at`]): the rules saved, or [`RulesError::Conflict`] (409, nothing
/// written) when another save landed since that read — of two saves from one read, one wins.
pub async fn save(
    store: &dyn RulesStore,
    tenant: TenantId,
    read: (Option<RuleSet>, Revision),
    input: RulesInput,
    templates: &[Template],
    by: &str,
    now: DateTime<Utc>,
) -> Result<RuleSet, RulesError> {
    let (current, revision) = read;
    let set = validate(tenant, current, input, templates, by, now)?;
    store.save_rules(&set, revision).await?.map_err(|Conflict| RulesError::Conflict)?;
    Ok(set)
}

/// Validates `input` against the templates YCloud has and merges it into `current`.
pub fn validate(
    tenant: TenantId,
    current: Option<RuleSet>,
    input: RulesInput,
    templates: &[Template],
    by: &str,
    now: DateTime<Utc>,
) -> Result<RuleSet, RulesError> {
    if input.rules.is_empty() {
        return Err(RulesError::Invalid("rules must not be empty".into()));
    }
    let mut set = current.unwrap_or(RuleSet {
        tenant_id: tenant,
        rules: vec![],
        contact_window_hours: None,
        daily_recipient_cap: None,
        updated_at: now,
        updated_by: by.into(),
    });
    let mut seen = Vec::new();
    for r in input.rules {
        let trigger = TriggerKind::parse(r.trigger_type.trim()).ok_or_else(|| {
            RulesError::Invalid(format!(
                "unknown trigger_type {:?}; expected one of lead_followup, opportunity_reminder, post_sale_feedback, abandoned_cart",
                r.trigger_type
            ))
        })?;
        if seen.contains(&trigger) {
            return Err(RulesError::Invalid(format!("{trigger} is given twice")));
        }
        seen.push(trigger);
        if r.delay_minutes.is_some_and(|d| d < 0) {
            return Err(RulesError::Invalid(format!("{trigger}: delay_minutes must not be negative")));
        }
        if r.delay_minutes.is_some_and(|d| d > 60 * 24 * 90) {
            return Err(RulesError::Invalid(format!("{trigger}: delay_minutes must be at most 90 days")));
        }
        if r.quiet_hours.is_some_and(|q| q.start_hour > 23 || q.end_hour > 23) {
            return Err(RulesError::Invalid(format!("{trigger}: quiet hours must be within 0–23")));
        }
        let template = r.template_name.as_deref().map(str::trim).unwrap_or_default().to_string();
        if template.is_empty() {
            return Err(RulesError::Invalid(format!("{trigger}: template_name must not be empty")));
        }
        let language = r.language.as_deref().map(str::trim).filter(|l| !l.is_empty()).unwrap_or("es").to_string();
        let Some(found) = templates.iter().find(|t| t.name == template && t.language == language) else {
            return Err(RulesError::Invalid(format!(
                "{trigger}: template {template:?} ({language}) was not found in the WhatsApp account"
            )));
        };
        let variables = match &r.variables {
            Some(m) => template_vars::parse_mapping(m).map_err(|e| RulesError::Invalid(format!("{trigger}: {e}")))?,
            None => vec![],
        };
        template_vars::check_mapping(&variables, found).map_err(|e| RulesError::Invalid(format!("{trigger}: {e}")))?;
        let rule = AutomationRule {
            trigger,
            enabled: r.is_active.unwrap_or(true),
            template_name: template,
            language,
            delay_minutes: r.delay_minutes,
            quiet_hours: r.quiet_hours,
            variables,
        };
        set.rules.retain(|x| x.trigger != trigger);
        set.rules.push(rule);
    }
    if let Some(h) = input.contact_window_hours {
        if h > 24 * 30 {
            return Err(RulesError::Invalid("contact_window_hours must be at most 720".into()));
        }
        set.contact_window_hours = Some(h);
    }
    if let Some(cap) = input.daily_recipient_cap {
        if cap == 0 {
            return Err(RulesError::Invalid("daily_recipient_cap must be positive".into()));
        }
        set.daily_recipient_cap = Some(cap);
    }
    set.rules.sort_by_key(|r| r.trigger);
    set.updated_at = now;
    set.updated_by = by.into();
    Ok(set)
}

fn label(t: TriggerKind) -> &'static str {
    match t {
        TriggerKind::LeadFollowup => "Lead follow-up (24 h, still new)",
        TriggerKind::OpportunityReminder => "Opportunity reminder (2 h before the deadline)",
        TriggerKind::PostSaleFeedback => "Post-sale feedback (7 days after the sale)",
        TriggerKind::AbandonedCart => "Abandoned cart (48 h without activity)",
    }
}

/// Every trigger's rule with its counts, in the frontend's shape (plus ours).
pub fn view(set: Option<&RuleSet>, counts: &BTreeMap<String, i64>) -> Vec<Value> {
    TriggerKind::ALL
        .into_iter()
        .map(|t| {
            let rule = set.and_then(|s| s.rule(t));
            let count = |what: &str| counts.get(&format!("{}_{what}", t.as_str())).copied().unwrap_or(0);
            let q = rule.and_then(|r| r.quiet_hours).unwrap_or(DEFAULT_QUIET_HOURS);
            json!({
                "id": t.as_str(),
                "name": label(t),
                "trigger_type": t.as_str(),
                "is_active": rule.is_some_and(|r| r.enabled),
                "trigger_count": count("sent") + count("failed") + count("skipped"),
                "template_name": rule.map(|r| r.template_name.clone()),
                "language": rule.map(|r| r.language.clone()),
                "delay_minutes": rule.and_then(|r| r.delay_minutes).unwrap_or(default_delay(t).num_minutes()),
                "quiet_hours": {"start_hour": q.start_hour, "end_hour": q.end_hour},
                "variables": rule.map(|r| template_vars::effective(&r.variables)
                    .iter()
                    .enumerate()
                    .map(|(i, f)| ((i + 1).to_string(), f.as_str()))
                    .collect::<BTreeMap<_, _>>()),
                "success_count": count("sent"),
                "error_count": count("failed"),
                "skipped_count": count("skipped"),
            })
        })
        .collect()
}

/// The rules answer for `tenant`.
pub async fn read(store: &dyn RulesStore, tenant: TenantId) -> Result<Vec<Value>, RulesError> {
    let (set, counts) = tokio::try_join!(store.rules(tenant), store.counts(tenant))?;
    Ok(view(set.as_ref(), &counts))
}

#[derive(Debug, Serialize)]
pub struct Saved {
    pub rules: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn templates() -> Vec<Template> {
        vec![Template {
            name: "followup".into(),
            language: "es".into(),
            category: None,
            status: "APPROVED".into(),
            components: Value::Null,
        }]
    }

    fn input(v: Value) -> RulesInput {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn of_two_saves_from_one_read_the_second_is_a_409_conflict_and_writes_nothing() {
        let store = crate::store::memory_table::MemoryTable::default();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        let t = TenantId(3);
        let body = |enabled: bool| {
            input(
                json!({"rules": [{"trigger_type": "lead_followup", "template_name": "followup", "is_active": enabled}]}),
            )
        };
        let read = store.rules_at(t).await.expect("read");
        let first = save(&store, t, read.clone(), body(true), &templates(), "ana", now).await.expect("first save");
        let second = save(&store, t, read, body(false), &templates(), "bob", now).await.expect_err("same read");
        assert!(matches!(second, RulesError::Conflict));
        assert_eq!((second.failure(), second.code()), (Failure::Conflict, "conflict"));
        assert!(second.to_string().contains("reload them and save again"), "{second}");
        assert_eq!(store.rules(t).await.expect("rules"), Some(first.clone()), "the first save stands");
        // A save from a fresh read goes through.
        let fresh = store.rules_at(t).await.expect("read");
        let third = save(&store, t, fresh, body(false), &templates(), "bob", now).await.expect("re-read save");
        assert_eq!(store.rules(t).await.expect("rules"), Some(third));
    }

    #[test]
    fn a_template_variable_without_a_field_is_refused_and_a_mapping_is_kept() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        let two = vec![Template {
            name: "turno".into(),
            language: "es".into(),
            category: None,
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": "Hola {{1}}, tu turno es el {{2}}"}]),
        }];
        let body = json!({"rules": [{"trigger_type": "opportunity_reminder", "template_name": "turno"}]});
        let err = validate(TenantId(1), None, input(body), &two, "u", now).expect_err("{{2}} unmapped");
        assert!(err.to_string().contains("{{2}}"), "{err}");
        let body = json!({"rules": [{"trigger_type": "opportunity_reminder", "template_name": "turno",
            "variables": {"1": "first_name", "2": "appointment_time"}}]});
        let set = validate(TenantId(1), None, input(body), &two, "u", now).expect("mapped");
        let rule = set.rule(TriggerKind::OpportunityReminder).expect("rule");
        assert_eq!(rule.variables, vec![template_vars::CrmField::FirstName, template_vars::CrmField::AppointmentTime]);
        let view = view(Some(&set), &BTreeMap::new());
        assert_eq!(view[1]["variables"], json!({"1": "first_name", "2": "appointment_time"}));
    }

    #[test]
    fn invalid_rules_are_refused_with_why() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).single().unwrap_or_default();
        let t = TenantId(1);
        let cases = [
            (json!({"rules": [{"trigger_type": "birthday", "template_name": "followup"}]}), "unknown trigger_type"),
            (
                json!({"rules": [{"trigger_type": "lead_followup", "template_name": "followup", "delay_minutes": -5}]}),
                "negative",
            ),
            (json!({"rules": [{"trigger_type": "lead_followup", "template_name": " "}]}), "must not be empty"),
            (json!({"rules": [{"trigger_type": "lead_followup", "template_name": "nope"}]}), "not found"),
            (
                json!({"rules": [{"trigger_type": "lead_followup", "template_name": "followup", "language": "en"}]}),
                "not found",
            ),
            (json!({"rules": []}), "must not be empty"),
            (
                json!({"rules": [{"trigger_type": "lead_followup", "template_name": "followup"}, {"trigger": "lead_followup", "template": "followup"}]}),
                "twice",
            ),
        ];
        for (body, why) in cases {
            let err = validate(t, None, input(body.clone()), &templates(), "u", now).expect_err(&body.to_string());
            assert!(err.to_string().contains(why), "{body}: {err}");
        }
        let ok = validate(
            t,
            None,
            input(json!({"rules": [{"trigger_type": "lead_followup", "template_name": "followup", "is_active": true, "delay_minutes": 60}]})),
            &templates(),
            "u",
            now,
        )
        .expect("valid");
        assert_eq!(ok.rules.len(), 1);
        assert_eq!(ok.rules[0].delay_minutes, Some(60));
        let listed = view(Some(&ok), &BTreeMap::from([("lead_followup_sent".to_string(), 3)]));
        assert_eq!(listed.len(), 4);
        assert_eq!(listed[0]["is_active"], true);
        assert_eq!(listed[0]["trigger_count"], 3);
        assert_eq!(listed[1]["is_active"], false);
    }
}

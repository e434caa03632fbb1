//! A tenant's automation rules (`T#{tenant}` / `HSM#RULES`: every trigger's settings in one item,
//! validated by `automation::rules` before they are put) and its counters per trigger
//! (`HSM#COUNTS`, top-level `ADD` counters `{trigger}_{counter}`). A save is conditioned on the
//! revision (`rev`) it read, so of two saves from the same read one wins, the other conflicts.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::s;
use crate::domain::crm_field::CrmField;
use crate::domain::hsm::TriggerKind;
use crate::domain::ids::TenantId;
use crate::store::memory_table::MemoryTable;
use crate::store::{attr, from_item, keys, to_item, Conflict, DynamoStore, Revision, StoreError};

/// Local hours `[start, end)` in which nothing is sent (wrapping midnight when start > end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start_hour: u8,
    pub end_hour: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationRule {
    pub trigger: TriggerKind,
    pub enabled: bool,
    pub template_name: String,
    pub language: String,
    /// Overrides the trigger's default delay (minutes).
    #[serde(default)]
    pub delay_minutes: Option<i64>,
    /// Overrides the default quiet hours (21:00–09:00 in the contact's zone).
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// The CRM field of each template variable, `{{1}}` first (empty: `{{1}}` is the first name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<CrmField>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    pub tenant_id: TenantId,
    pub rules: Vec<AutomationRule>,
    /// At most one automated template per contact per this many hours (default 24).
    #[serde(default)]
    pub contact_window_hours: Option<u32>,
    /// Most automated sends (distinct recipients) a UTC day (Meta's messaging tier; default
    /// `automation::evaluator::DEFAULT_DAILY_RECIPIENT_CAP`).
    #[serde(default)]
    pub daily_recipient_cap: Option<u32>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl RuleSet {
    pub fn rule(&self, trigger: TriggerKind) -> Option<&AutomationRule> {
        self.rules.iter().find(|r| r.trigger == trigger)
    }
}

/// What the counters count per trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counter {
    Triggered,
    Sent,
    Failed,
    Skipped,
}

impl Counter {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

fn counter_name(trigger: TriggerKind, c: Counter) -> String {
    format!("{}_{}", trigger.as_str(), c.as_str())
}

#[async_trait]
pub trait RulesStore: Send + Sync {
    async fn rules(&self, tenant: TenantId) -> Result<Option<RuleSet>, StoreError>;
    /// The rules and the revision they were read at (what a save is conditioned on).
    async fn rules_at(&self, tenant: TenantId) -> Result<(Option<RuleSet>, Revision), StoreError>;
    /// A save: the rules, if the stored ones are still at `expected` (or still absent) — the
    /// revision written, or [`Conflict`] when another save came first.
    async fn save_rules(&self, rules: &RuleSet, expected: Revision) -> Result<Result<u64, Conflict>, StoreError>;
    /// An unconditional put (seeding: tests, the demo); saves use [`Self::save_rules`].
    async fn put_rules(&self, rules: &RuleSet) -> Result<(), StoreError>;
    async fn count(&self, tenant: TenantId, trigger: TriggerKind, counter: Counter) -> Result<(), StoreError>;
    /// `{trigger}_{counter}` → count (absent = 0).
    async fn counts(&self, tenant: TenantId) -> Result<BTreeMap<String, i64>, StoreError>;
}

fn counts_of(item: Option<crate::store::Item>) -> BTreeMap<String, i64> {
    item.into_iter()
        .flatten()
        .filter(|(k, _)| k != attr::PK && k != attr::SK)
        .filter_map(|(k, v)| v.as_n().ok().and_then(|n| n.parse().ok()).map(|n| (k, n)))
        .collect()
}

#[async_trait]
impl RulesStore for DynamoStore {
    async fn rules(&self, tenant: TenantId) -> Result<Option<RuleSet>, StoreError> {
        self.get_item(keys::tenant(tenant), keys::AUTOMATION_RULES).await?.map(from_item).transpose()
    }

    async fn rules_at(&self, tenant: TenantId) -> Result<(Option<RuleSet>, Revision), StoreError> {
        let item = self.get_item(keys::tenant(tenant), keys::AUTOMATION_RULES).await?;
        let revision = Revision::of(item.as_ref());
        Ok((item.map(from_item).transpose()?, revision))
    }

    async fn save_rules(&self, rules: &RuleSet, expected: Revision) -> Result<Result<u64, Conflict>, StoreError> {
        self.put_at_revision(to_item(keys::tenant(rules.tenant_id), keys::AUTOMATION_RULES, rules)?, expected).await
    }

    async fn put_rules(&self, rules: &RuleSet) -> Result<(), StoreError> {
        self.put_item(to_item(keys::tenant(rules.tenant_id), keys::AUTOMATION_RULES, rules)?).await
    }

    async fn count(&self, tenant: TenantId, trigger: TriggerKind, counter: Counter) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(&keys::tenant(tenant)))
            .key(attr::SK, s(keys::AUTOMATION_COUNTS))
            .update_expression("ADD #c :one")
            .expression_attribute_names("#c", counter_name(trigger, counter))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    async fn counts(&self, tenant: TenantId) -> Result<BTreeMap<String, i64>, StoreError> {
        Ok(counts_of(self.get_item(keys::tenant(tenant), keys::AUTOMATION_COUNTS).await?))
    }
}

#[async_trait]
impl RulesStore for MemoryTable {
    async fn rules(&self, tenant: TenantId) -> Result<Option<RuleSet>, StoreError> {
        self.lock().get(&keys::tenant(tenant), keys::AUTOMATION_RULES).map(from_item).transpose()
    }

    async fn rules_at(&self, tenant: TenantId) -> Result<(Option<RuleSet>, Revision), StoreError> {
        let item = self.lock().get(&keys::tenant(tenant), keys::AUTOMATION_RULES);
        let revision = Revision::of(item.as_ref());
        Ok((item.map(from_item).transpose()?, revision))
    }

    async fn save_rules(&self, rules: &RuleSet, expected: Revision) -> Result<Result<u64, Conflict>, StoreError> {
        let item = to_item(keys::tenant(rules.tenant_id), keys::AUTOMATION_RULES, rules)?;
        Ok(self.lock().put_at_revision(item, expected))
    }

    async fn put_rules(&self, rules: &RuleSet) -> Result<(), StoreError> {
        self.lock().put(to_item(keys::tenant(rules.tenant_id), keys::AUTOMATION_RULES, rules)?);
        Ok(())
    }

    async fn count(&self, tenant: TenantId, trigger: TriggerKind, counter: Counter) -> Result<(), StoreError> {
        let counters = BTreeMap::from([(counter_name(trigger, counter), 1)]);
        self.lock().add(&keys::tenant(tenant), keys::AUTOMATION_COUNTS, &counters, &BTreeMap::new());
        Ok(())
    }

    async fn counts(&self, tenant: TenantId) -> Result<BTreeMap<String, i64>, StoreError> {
        Ok(counts_of(self.lock().get(&keys::tenant(tenant), keys::AUTOMATION_COUNTS)))
    }
}

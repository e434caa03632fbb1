//! The log side of the protocol: one entry per send. While the send is in flight the entry says
//! so (`pending` / `retrying` / `unknown`, with its reason and next attempt) and is rewritten in
//! place; its outcome (`sent`, `failed`, …) lands on the same entry. A status webhook may have
//! moved the entry on meanwhile (a message in doubt that was delivered): what it wrote stays.
//! Outcomes are counted per rule; in-flight states are not.

use chrono::{DateTime, Utc};

use super::check::Facts;
use super::Run;
use crate::domain::hsm::LogStatus;
use crate::store::automation::due::DueItem;
use crate::store::automation::log::{LogEntry, StatusChange};
use crate::store::automation::rules::Counter;
use crate::store::StoreError;

/// One line of the log: what happened and what comes next.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub status: LogStatus,
    pub reason: Option<String>,
    pub message_id: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl Line {
    pub fn outcome(status: LogStatus, reason: Option<String>) -> Self {
        Self { status, reason, message_id: None, next_attempt_at: None }
    }
}

impl Run<'_> {
    /// Writes `line` for `item` onto the send's entry (`existing`, the claim's `log_sk`) or a new
    /// one; the entry's sort key.
    pub(super) async fn record(
        &self,
        item: &DueItem,
        facts: &Facts,
        line: Line,
        existing: Option<&str>,
    ) -> Result<String, StoreError> {
        let log = &self.ports.automation_log;
        let current = match existing {
            Some(sk) => log.entry(item.tenant_id, sk).await?,
            None => None,
        };
        if let Some(c) = current.as_ref().filter(|c| !c.status.in_flight()) {
            // Settled already (an earlier run, or a webhook proved the message went out).
            return Ok(c.sort_key());
        }
        let change = StatusChange { status: line.status, at: self.now };
        let entry = match current {
            Some(c) => {
                let mut history = c.history.clone();
                history.push(change);
                LogEntry {
                    status: line.status,
                    updated_at: self.now,
                    history,
                    reason: line.reason,
                    message_id: line.message_id.or(c.message_id.clone()),
                    next_attempt_at: line.next_attempt_at,
                    ..c
                }
            }
            None => self.new_entry(item, facts, line, change),
        };
        let written = if entry.status.in_flight() || existing.is_some() {
            log.write_over_in_flight(&entry).await?
        } else {
            log.append(&entry).await?;
            true
        };
        if written {
            self.count(item, entry.status).await?;
        }
        Ok(entry.sort_key())
    }

    fn new_entry(&self, item: &DueItem, facts: &Facts, line: Line, change: StatusChange) -> LogEntry {
        let rule = facts.rule.as_ref();
        LogEntry {
            id: uuid::Uuid::new_v4().simple().to_string(),
            tenant_id: item.tenant_id,
            trigger: item.trigger,
            entity_id: item.entity_id.clone(),
            lead_name: facts.lead_name.clone(),
            template: rule.map(|r| r.template_name.clone()),
            language: rule.map(|r| r.language.clone()),
            phone_masked: facts.phone.as_ref().map(crate::domain::hsm::Phone::masked),
            status: line.status,
            created_at: self.now,
            updated_at: self.now,
            history: vec![change],
            reason: line.reason,
            message_id: line.message_id,
            next_attempt_at: line.next_attempt_at,
        }
    }

    async fn count(&self, item: &DueItem, status: LogStatus) -> Result<(), StoreError> {
        let counter = match status {
            LogStatus::Sent | LogStatus::Delivered | LogStatus::Read => Counter::Sent,
            LogStatus::Failed => Counter::Failed,
            LogStatus::Skipped | LogStatus::Cancelled => Counter::Skipped,
            LogStatus::Pending | LogStatus::Retrying | LogStatus::Unknown => return Ok(()),
        };
        self.ports.automation_rules.count(item.tenant_id, item.trigger, counter).await
    }
}

//! Step 1, **check**: whether a due item is to be sent now, before anything is claimed. The rule
//! (missing or disabled → dropped), the condition on the entity as it is now (stopped → cancelled,
//! not yet → later), the contact's phone and opt-out, the template (`APPROVED` → send, `PAUSED` →
//! later, anything else → dropped) and quiet hours (→ later).

use chrono::{DateTime, Duration, Utc};

use super::{Outcome, Run, DEFAULT_DAILY_RECIPIENT_CAP};
use crate::automation::triggers::{check, quiet_until, Check, Watched, DEFAULT_QUIET_HOURS};
use crate::automation::ycloud::Template;
use crate::domain::hsm::{LogStatus, Phone, TriggerKind};
use crate::domain::zone::reporting_zone;
use crate::events::lead_of;
use crate::store::automation::due::DueItem;
use crate::store::automation::rules::AutomationRule;
use crate::store::records::LeadRecord;
use crate::store::StoreError;

/// What a log entry says about the send, as far as the check got.
#[derive(Debug, Clone, Default)]
pub(super) struct Facts {
    pub rule: Option<AutomationRule>,
    pub lead_name: Option<String>,
    pub phone: Option<Phone>,
}

/// An item that passed every check: what the send needs.
#[derive(Debug, Clone)]
pub(super) struct Ready {
    pub rule: AutomationRule,
    pub phone: Phone,
    pub lead_name: Option<String>,
    /// `{{n}}` placeholders of the template's body.
    pub placeholders: usize,
    /// The contact cap's window and the tenant's daily cap (its rules, else the defaults).
    pub contact_window: Duration,
    pub daily_cap: u32,
}

impl Ready {
    pub fn facts(&self) -> Facts {
        Facts { rule: Some(self.rule.clone()), lead_name: self.lead_name.clone(), phone: Some(self.phone.clone()) }
    }

    /// The body parameters: the lead's first name for `{{1}}`.
    pub fn body_params(&self) -> Vec<String> {
        let first = self.lead_name.as_deref().and_then(|n| n.split_whitespace().next()).unwrap_or("cliente");
        [first.to_string()].into_iter().take(self.placeholders).collect()
    }
}

/// What the check decided.
#[derive(Debug)]
pub(super) enum Verdict {
    Send(Box<Ready>),
    /// Not now: the item moves to `at` (no claim, no log entry).
    Later {
        at: DateTime<Utc>,
        note: &'static str,
    },
    /// Not at all: logged with `status` and `reason`, the item removed.
    Drop {
        facts: Facts,
        status: LogStatus,
        reason: String,
        outcome: Outcome,
    },
}

fn skip(facts: Facts, reason: impl Into<String>) -> Verdict {
    Verdict::Drop { facts, status: LogStatus::Skipped, reason: reason.into(), outcome: Outcome::Skipped }
}

impl Run<'_> {
    pub(super) async fn check(&self, item: &DueItem) -> Result<Verdict, StoreError> {
        let t = item.tenant_id;
        let Some(set) = self.rules.get(&t).and_then(Option::as_ref) else {
            return Ok(skip(Facts::default(), "no rule for this trigger"));
        };
        let Some(rule) = set.rule(item.trigger) else {
            return Ok(skip(Facts::default(), "no rule for this trigger"));
        };
        let mut facts = Facts { rule: Some(rule.clone()), ..Facts::default() };
        if !rule.enabled {
            return Ok(skip(facts, "rule disabled"));
        }
        // The condition, on the entity as it is now.
        let watched = self.watched(item).await?;
        let lead: Option<LeadRecord> = match watched.as_ref().and_then(Watched::lead_id) {
            // An opportunity's or a sale's lead may be named by its other id (the CRM's copy of a
            // Meta lead): the one lead, with its phone.
            Some(id) => lead_of(self.app.events.as_ref(), t, id).await?.value,
            None => None,
        };
        facts.lead_name = lead.as_ref().and_then(|l| l.contact.name.clone());
        match check(item.trigger, watched.as_ref(), rule.delay_minutes.map(Duration::minutes), self.now) {
            Check::Stopped(why) => {
                let (status, outcome) = (LogStatus::Cancelled, Outcome::Cancelled);
                return Ok(Verdict::Drop { facts, status, reason: why.into(), outcome });
            }
            Check::NotYet(at) => return Ok(Verdict::Later { at, note: "not due yet" }),
            Check::Holds => {}
        }
        // The contact.
        let raw_phone = lead.as_ref().and_then(|l| l.contact.phone.clone());
        let Some(phone) = raw_phone.as_deref().and_then(|p| Phone::parse(p).ok()) else {
            let why = if raw_phone.is_some() { "invalid phone number (not E.164)" } else { "no phone number" };
            return Ok(skip(facts, why));
        };
        facts.phone = Some(phone.clone());
        if lead.as_ref().is_some_and(|l| l.opted_out) || self.app.contacts.is_opted_out(t, phone.as_str()).await? {
            return Ok(skip(facts, "opted out"));
        }
        // The template.
        let template = self.templates.iter().find(|tp| tp.name == rule.template_name && tp.language == rule.language);
        let placeholders = match template.map(|tp| tp.status.to_ascii_uppercase()) {
            Some(s) if s == "APPROVED" => template.map_or(0, Template::body_placeholders),
            Some(s) if s == "PAUSED" => {
                return Ok(Verdict::Later { at: self.now + Duration::hours(1), note: "template paused" })
            }
            None => return Ok(skip(facts, "template not found")),
            Some(s) => return Ok(skip(facts, format!("template is {s}"))),
        };
        if let Some(at) = self.quiet_until(item, rule).await? {
            return Ok(Verdict::Later { at, note: "quiet hours" });
        }
        let contact_window =
            set.contact_window_hours.map_or(self.settings.contact_window, |h| Duration::hours(h.into()));
        let daily_cap = set.daily_recipient_cap.unwrap_or(DEFAULT_DAILY_RECIPIENT_CAP);
        let lead_name = facts.lead_name;
        let ready = Ready { rule: rule.clone(), phone, lead_name, placeholders, contact_window, daily_cap };
        Ok(Verdict::Send(Box::new(ready)))
    }

    /// The end of the quiet hours `now` falls in (the tenant's reporting zone), if it does.
    async fn quiet_until(&self, item: &DueItem, rule: &AutomationRule) -> Result<Option<DateTime<Utc>>, StoreError> {
        let zone = self.app.profiles.get_profile(item.tenant_id).await?.and_then(|p| p.reporting_time_zone);
        Ok(quiet_until(self.now, reporting_zone(zone), rule.quiet_hours.unwrap_or(DEFAULT_QUIET_HOURS)))
    }

    async fn watched(&self, item: &DueItem) -> Result<Option<Watched>, StoreError> {
        let (t, id) = (item.tenant_id, item.entity_id.as_str());
        let ev = &self.app.events;
        Ok(match item.trigger {
            TriggerKind::LeadFollowup => ev.lead(t, id).await?.value.map(Watched::Lead),
            TriggerKind::OpportunityReminder => ev.opportunity(t, id).await?.value.map(Watched::Opportunity),
            TriggerKind::PostSaleFeedback => ev.sale(t, id).await?.value.map(Watched::Sale),
            TriggerKind::AbandonedCart => ev.cart(t, id).await?.value.map(Watched::Cart),
        })
    }
}

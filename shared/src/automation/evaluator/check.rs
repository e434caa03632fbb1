//! Step 1, **check**: whether a due item is to be sent now, before anything is claimed. The rule
//! (missing or disabled → dropped), the tenant's WhatsApp account (none → dropped,
//! `whatsapp_not_connected`; unusable now → left for the next run), the condition on the entity as
//! it is now (stopped → cancelled, not yet → later), the contact's phone, opt-out and quiet hours
//! in the contact's zone ([`crate::automation::contact_policy`]; → dropped / later), the template
//! (`APPROVED` → send with its variables filled, `PAUSED` → later, anything else → dropped).

use chrono::{DateTime, Duration, Utc};

use super::{Outcome, Run, DEFAULT_DAILY_RECIPIENT_CAP};
use crate::automation::contact_policy::{contact_hold, Hold};
use crate::automation::senders::{Sender, NOT_CONNECTED};
use crate::automation::template_vars::template_params;
use crate::automation::triggers::{check, Check, Watched};
use crate::automation::ycloud::Template;
use crate::domain::hsm::{LogStatus, Phone, TriggerKind};
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
    /// The template body's parameters (`{{1}}`, `{{2}}`, …) as the rule maps them, sanitised.
    pub params: Vec<String>,
    /// The contact cap's window and the tenant's daily cap (its rules, else the defaults).
    pub contact_window: Duration,
    pub daily_cap: u32,
}

impl Ready {
    pub fn facts(&self) -> Facts {
        Facts { rule: Some(self.rule.clone()), lead_name: self.lead_name.clone(), phone: Some(self.phone.clone()) }
    }

    /// The body parameters.
    pub fn body_params(&self) -> Vec<String> {
        self.params.clone()
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
    /// Not in this run, nothing changed (the tenant's account cannot be used right now).
    Leave,
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
        // The tenant's WhatsApp account.
        let templates = match self.senders.get(t) {
            Sender::Ready { templates, .. } => templates,
            Sender::NotConnected => return Ok(skip(facts, NOT_CONNECTED)),
            Sender::Unavailable(why) => {
                tracing::warn!(tenant_id = t.0, reason = %why, "whatsapp account unavailable; item left for the next run");
                return Ok(Verdict::Leave);
            }
        };
        // The condition, on the entity as it is now.
        let watched = self.watched(item).await?;
        let lead: Option<LeadRecord> = match watched.as_ref().and_then(Watched::lead_id) {
            // An opportunity's or a sale's lead may be named by its other id (the CRM's copy of a
            // Meta lead): the one lead, with its phone.
            Some(id) => lead_of(self.ports.events, t, id).await?.value,
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
        // Opt-outs (of this number), and quiet hours in the contact's zone.
        let lead_opted_out = lead.as_ref().is_some_and(|l| l.opted_out);
        let zone = match contact_hold(self.ports, t, &phone, lead_opted_out, rule.quiet_hours, self.now).await? {
            Ok(zone) => zone,
            Err(Hold::OptedOut) => return Ok(skip(facts, "opted out")),
            Err(Hold::QuietUntil(at)) => return Ok(Verdict::Later { at, note: "quiet hours" }),
        };
        // The template.
        let template = templates.iter().find(|tp| tp.name == rule.template_name && tp.language == rule.language);
        let placeholders = match template.map(|tp| tp.status.to_ascii_uppercase()) {
            Some(s) if s == "APPROVED" => template.map_or(0, Template::body_placeholders),
            Some(s) if s == "PAUSED" => {
                return Ok(Verdict::Later { at: self.now + Duration::hours(1), note: "template paused" })
            }
            None => return Ok(skip(facts, "template not found")),
            Some(s) => return Ok(skip(facts, format!("template is {s}"))),
        };
        let contact_window =
            set.contact_window_hours.map_or(self.settings.contact_window, |h| Duration::hours(h.into()));
        let daily_cap = set.daily_recipient_cap.unwrap_or(DEFAULT_DAILY_RECIPIENT_CAP);
        let lead_name = facts.lead_name;
        let params =
            template_params(&rule.variables, placeholders, watched.as_ref(), lead.as_ref(), &rule.language, zone);
        let ready = Ready { rule: rule.clone(), phone, lead_name, params, contact_window, daily_cap };
        Ok(Verdict::Send(Box::new(ready)))
    }

    async fn watched(&self, item: &DueItem) -> Result<Option<Watched>, StoreError> {
        let (t, id) = (item.tenant_id, item.entity_id.as_str());
        let ev = &self.ports.events;
        Ok(match item.trigger {
            TriggerKind::LeadFollowup => ev.lead(t, id).await?.value.map(Watched::Lead),
            TriggerKind::OpportunityReminder => ev.opportunity(t, id).await?.value.map(Watched::Opportunity),
            TriggerKind::PostSaleFeedback => ev.sale(t, id).await?.value.map(Watched::Sale),
            TriggerKind::AbandonedCart => ev.cart(t, id).await?.value.map(Watched::Cart),
        })
    }
}

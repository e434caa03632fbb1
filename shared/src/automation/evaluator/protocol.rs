//! Steps 2–4, **claim → send → settle**, for an item the check cleared, and the three moves every
//! branch ends in: [`Run::retry_later`], [`Run::release_contact`], [`Run::drop_item`].
//!
//! An unknown outcome (a 5xx, 408, timeout or dropped answer after the request was written; a
//! holder that died mid-send) is stored on the claim (`in_doubt_since`): every later attempt looks
//! the message up first and sends only when YCloud answered that it does not have it. A lookup
//! without an answer keeps the doubt and is tried again at the next attempt; when the attempts
//! are spent the send is logged `unknown` and never resent.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use super::check::{Ready, Verdict};
use super::record::Line;
use super::{EvalError, Outcome, Run};
use crate::automation::external_id::external_id;
use crate::automation::fair::after_daily_cap;
use crate::automation::ycloud::{Message, TemplateMessage, YcloudError};
use crate::domain::hsm::LogStatus;
use crate::store::automation::claims::{ClaimOutcome, ClaimState, SendClaim};
use crate::store::automation::due::DueItem;
use crate::store::StoreError;

/// An item this run holds the claim of.
struct Claimed<'i> {
    item: &'i DueItem,
    ready: Ready,
    claim: SendClaim,
    xid: String,
}

impl Claimed<'_> {
    /// When the attempt that may have reached YCloud was claimed, if one may have.
    fn doubt(&self) -> Option<DateTime<Utc>> {
        self.claim.in_doubt_since
    }
}

/// A later attempt: when, why, what the log shows meanwhile, whether it spends an attempt and
/// whether YCloud may already have the message.
struct Later {
    at: DateTime<Utc>,
    reason: String,
    status: LogStatus,
    counts: bool,
    in_doubt_since: Option<DateTime<Utc>>,
}

impl Later {
    fn pending(at: DateTime<Utc>, reason: &str) -> Self {
        Self { at, reason: reason.into(), status: LogStatus::Pending, counts: false, in_doubt_since: None }
    }
}

impl Run<'_> {
    /// One due item through the protocol.
    pub(super) async fn process(&self, item: &DueItem) -> Result<Outcome, EvalError> {
        let ready = match self.check(item).await? {
            Verdict::Send(ready) => *ready,
            Verdict::Later { at, note } => return Ok(self.defer(item, at, false, note).await?),
            Verdict::Leave => return Ok(Outcome::NotStarted),
            Verdict::Drop { facts, status, reason, outcome } => {
                self.record(item, &facts, Line::outcome(status, Some(reason)), None).await?;
                self.drop_item(item).await?;
                return Ok(outcome);
            }
        };
        if self.deadline.is_some_and(|d| Instant::now() + self.settings.stop_margin >= d) {
            return Ok(Outcome::NotStarted);
        }
        let Some(c) = self.claim(item, ready).await? else {
            return Ok(Outcome::Lost);
        };
        if let Some(since) = c.doubt() {
            let Some(api) = self.api(item.tenant_id) else { return Ok(Outcome::NotStarted) };
            match api.find_by_external_id(&c.ready.phone, &c.xid, since).await {
                Ok(Some(found)) => return self.settle_sent(c, found, Outcome::FoundSent).await,
                // YCloud answered that it does not have it: sending is safe.
                Ok(None) => {}
                Err(e) => return self.transient(c, &YcloudError::UnknownOutcome { reason: lookup_reason(&e) }).await,
            }
        }
        if let Some(outcome) = self.reserve(&c).await? {
            return Ok(outcome);
        }
        self.send(c).await
    }

    /// Step 2: the claim. A loser leaves the item (and drops it when the claim is settled).
    async fn claim<'i>(&self, item: &'i DueItem, ready: Ready) -> Result<Option<Claimed<'i>>, StoreError> {
        let claims = &self.ports.send_claims;
        match claims.claim(item.tenant_id, item.trigger, &item.entity_id, self.now, self.settings.lease).await? {
            ClaimOutcome::Won { claim, .. } => {
                let xid = external_id(item.tenant_id, item.trigger, &item.entity_id);
                Ok(Some(Claimed { item, ready, claim, xid }))
            }
            ClaimOutcome::Lost { current } => {
                if current.is_some_and(|c| matches!(c.state, ClaimState::Sent | ClaimState::Failed)) {
                    self.drop_item(item).await?;
                }
                Ok(None)
            }
        }
    }

    /// The contact cap and the tenant's daily cap; `Some` when the send waits for either.
    async fn reserve(&self, c: &Claimed<'_>) -> Result<Option<Outcome>, EvalError> {
        let (t, phone) = (c.item.tenant_id, c.ready.phone.as_str());
        let contacts = &self.ports.contacts;
        if !contacts.reserve_contact(t, phone, &c.xid, self.now, c.ready.contact_window).await? {
            let why = "contact got an automated message within the window";
            return Ok(Some(self.retry_later(c, Later::pending(self.now + Duration::hours(1), why)).await?));
        }
        let cap = c.ready.daily_cap;
        if !contacts.take_daily_slot(t, self.now.date_naive(), cap).await? {
            self.release_contact(c).await?;
            tracing::warn!(tenant_id = t.0, cap, "daily recipient cap reached (Meta messaging tier); sends deferred");
            let later = Later::pending(after_daily_cap(self.now, &c.xid), "daily recipient cap reached");
            return Ok(Some(self.retry_later(c, later).await?));
        }
        Ok(None)
    }

    /// Step 3: the send, then step 4 by what YCloud answered.
    async fn send(&self, c: Claimed<'_>) -> Result<Outcome, EvalError> {
        let msg = TemplateMessage {
            to: c.ready.phone.clone(),
            template: c.ready.rule.template_name.clone(),
            language: c.ready.rule.language.clone(),
            body_params: c.ready.body_params(),
            external_id: c.xid.clone(),
        };
        let t = c.item.tenant_id;
        // The check step resolved the tenant's account: it is there for the whole run.
        let Some(api) = self.api(t) else { return Ok(Outcome::NotStarted) };
        // Where an inbound STOP from this phone applies (written before the send can reach it).
        self.ports.contacts.record_recipient(t, msg.to.as_str()).await?;
        let err = match api.send_template(&msg).await {
            Ok(m) => return self.settle_sent(c, m, Outcome::Sent).await,
            Err(e) => e,
        };
        if !matches!(err, YcloudError::UnknownOutcome { .. }) {
            // YCloud said it did not take the message: the contact is free again.
            self.release_contact(&c).await?;
        }
        match err {
            YcloudError::OptedOut => {
                self.ports.contacts.opt_out(t, msg.to.as_str(), "whatsapp 131050", self.now).await?;
                let why = "the contact stopped marketing messages (131050)".to_string();
                self.give_up(c, LogStatus::Skipped, why, Outcome::Skipped).await
            }
            YcloudError::TemplatePaused => {
                Ok(self.retry_later(&c, Later::pending(self.now + Duration::hours(1), "template paused")).await?)
            }
            YcloudError::RetryMuchLater => {
                let later = Later {
                    counts: true,
                    ..Later::pending(self.now + Duration::hours(24), "marketing limit (131049)")
                };
                Ok(self.retry_later(&c, later).await?)
            }
            e @ YcloudError::Rejected { .. } => {
                self.give_up(c, LogStatus::Failed, e.to_string(), Outcome::Failed).await
            }
            e => {
                // An unknown outcome is in doubt from this attempt's claim on.
                let c = match e {
                    YcloudError::UnknownOutcome { .. } => {
                        let since = c.claim.in_doubt_since.unwrap_or(c.claim.claimed_at);
                        Claimed { claim: SendClaim { in_doubt_since: Some(since), ..c.claim }, ..c }
                    }
                    _ => Claimed { claim: SendClaim { in_doubt_since: None, ..c.claim }, ..c },
                };
                self.transient(c, &e).await
            }
        }
    }

    /// Step 4 for a message YCloud has (sent now, or found by the lookup).
    async fn settle_sent(&self, c: Claimed<'_>, m: Message, outcome: Outcome) -> Result<Outcome, EvalError> {
        let line = Line { message_id: Some(m.id.clone()), ..Line::outcome(LogStatus::Sent, None) };
        let sk = self.record(c.item, &c.ready.facts(), line, c.claim.log_sk.as_deref()).await?;
        let sent = SendClaim {
            state: ClaimState::Sent,
            message_id: Some(m.id),
            log_sk: Some(sk),
            in_doubt_since: None,
            updated_at: self.now,
            ..c.claim
        };
        self.settle_claim(c.item, &sent).await?;
        self.drop_item(c.item).await?;
        Ok(outcome)
    }

    /// A failure that may pass: tried again with backoff, or given up after the budget — as
    /// `unknown` (never resent) when YCloud may have the message.
    async fn transient(&self, c: Claimed<'_>, err: &YcloudError) -> Result<Outcome, EvalError> {
        let attempt = c.item.attempts + 1;
        let in_doubt_since = c.doubt();
        if attempt >= self.settings.max_attempts {
            let why = format!("gave up after {attempt} attempts: {err}");
            return match in_doubt_since {
                Some(_) => self.give_up(c, LogStatus::Unknown, format!("{why}; not resent"), Outcome::Unknown).await,
                None => self.give_up(c, LogStatus::Failed, why, Outcome::Failed).await,
            };
        }
        let mut wait = Duration::from_std(self.settings.retry.backoff(attempt)).unwrap_or(Duration::minutes(5));
        if let YcloudError::Transient { retry_after: Some(ra), .. } = err {
            wait = wait.max(Duration::from_std(*ra).unwrap_or_default());
        }
        let status = if in_doubt_since.is_some() { LogStatus::Unknown } else { LogStatus::Retrying };
        tracing::info!(trigger = %c.item.trigger, attempt, error = %err, "send deferred");
        let later = Later { at: self.now + wait, reason: err.to_string(), status, counts: true, in_doubt_since };
        Ok(self.retry_later(&c, later).await?)
    }

    /// Settles the claim as final (`failed`; the doubt, if any, kept for a webhook to settle),
    /// logs `status`, drops the item.
    async fn give_up(&self, c: Claimed<'_>, status: LogStatus, why: String, o: Outcome) -> Result<Outcome, EvalError> {
        let line = Line::outcome(status, Some(why.clone()));
        let sk = self.record(c.item, &c.ready.facts(), line, c.claim.log_sk.as_deref()).await?;
        let failed = SendClaim {
            state: ClaimState::Failed,
            log_sk: Some(sk),
            reason: Some(why),
            next_attempt_at: None,
            updated_at: self.now,
            ..c.claim
        };
        self.settle_claim(c.item, &failed).await?;
        self.drop_item(c.item).await?;
        Ok(o)
    }

    /// **Retry later**: the claim at rest as `retry` (in doubt or not) from `later.at`, the log's
    /// in-flight entry, the due item moved there.
    async fn retry_later(&self, c: &Claimed<'_>, later: Later) -> Result<Outcome, StoreError> {
        let line = Line {
            status: later.status,
            reason: Some(later.reason.clone()),
            message_id: None,
            next_attempt_at: Some(later.at),
        };
        let sk = self.record(c.item, &c.ready.facts(), line, c.claim.log_sk.as_deref()).await?;
        let retry = SendClaim {
            state: ClaimState::Retry,
            next_attempt_at: Some(later.at),
            reason: Some(later.reason.clone()),
            log_sk: Some(sk),
            in_doubt_since: later.in_doubt_since,
            updated_at: self.now,
            ..c.claim.clone()
        };
        self.settle_claim(c.item, &retry).await?;
        self.defer(c.item, later.at, later.counts, &later.reason).await
    }

    /// **Release the contact**: the contact cap's hold of this send, after YCloud said no.
    async fn release_contact(&self, c: &Claimed<'_>) -> Result<(), StoreError> {
        self.ports.contacts.release_contact(c.item.tenant_id, c.ready.phone.as_str(), &c.xid).await
    }

    /// **Drop the due item**: nothing more to do for it.
    async fn drop_item(&self, item: &DueItem) -> Result<(), StoreError> {
        self.ports.due.replace(item, None).await.map(|_| ())
    }

    /// Moves the item to `at` (deferred); `attempt` counts it against the retry budget.
    async fn defer(&self, item: &DueItem, at: DateTime<Utc>, attempt: bool, note: &str) -> Result<Outcome, StoreError> {
        let attempts = item.attempts + u32::from(attempt);
        let next = DueItem { due_at: at, attempts, note: Some(note.to_string()), ..item.clone() };
        self.ports.due.replace(item, Some(&next)).await?;
        Ok(Outcome::Deferred)
    }

    async fn settle_claim(&self, item: &DueItem, settled: &SendClaim) -> Result<(), StoreError> {
        if !self.ports.send_claims.settle(settled).await? {
            tracing::warn!(trigger = %item.trigger, "claim was taken over before it was settled");
        }
        Ok(())
    }
}

fn lookup_reason(e: &YcloudError) -> String {
    format!("lookup without an answer: {e}")
}

//! When each trigger is due and whether its condition still holds, on the entity as stored (pure):
//!
//! | trigger | due | holds while |
//! |---|---|---|
//! | `lead_followup` | lead created + 24 h | the lead is still `new` |
//! | `opportunity_reminder` | deadline − 2 h | the opportunity is still `pending` and its deadline not passed |
//! | `post_sale_feedback` | sale completed + 7 days | always |
//! | `abandoned_cart` | last cart activity + 48 h | the cart still has items |
//!
//! A rule's `delay_minutes` replaces the delay (for the reminder: the lead time before the deadline).
//! Also quiet hours: when a send inside them may go out.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};

use crate::domain::hsm::TriggerKind;
use crate::domain::zone::Zone;
use crate::store::automation::rules::QuietHours;
use crate::store::records::{CartRecord, LeadRecord, OpportunityRecord, SaleRecord};

/// Quiet hours unless the rule says otherwise: 21:00–09:00 local.
pub const DEFAULT_QUIET_HOURS: QuietHours = QuietHours { start_hour: 21, end_hour: 9 };

/// The trigger's delay unless its rule overrides it.
pub fn default_delay(trigger: TriggerKind) -> Duration {
    match trigger {
        TriggerKind::LeadFollowup => Duration::hours(24),
        TriggerKind::OpportunityReminder => Duration::hours(2),
        TriggerKind::PostSaleFeedback => Duration::days(7),
        TriggerKind::AbandonedCart => Duration::hours(48),
    }
}

/// The entity a trigger watches, as stored.
#[derive(Debug, Clone, PartialEq)]
pub enum Watched {
    Lead(LeadRecord),
    Opportunity(OpportunityRecord),
    Sale(SaleRecord),
    Cart(CartRecord),
}

impl Watched {
    /// The lead whose contact gets the message.
    pub fn lead_id(&self) -> Option<&str> {
        match self {
            Watched::Lead(l) => Some(&l.lead_id),
            Watched::Opportunity(o) => o.lead_id.as_deref(),
            Watched::Sale(s) => Some(&s.lead_id),
            Watched::Cart(c) => c.lead_id.as_deref(),
        }
    }
}

/// What the condition says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Due and holding: send.
    Holds,
    /// Holding but not due until then (e.g. a deadline moved later): reschedule.
    NotYet(DateTime<Utc>),
    /// The condition stopped holding: cancel (with why).
    Stopped(&'static str),
}

/// When `trigger` is due for `entity` (`None`: never, e.g. an opportunity without a deadline).
pub fn due_at(trigger: TriggerKind, entity: &Watched, delay: Option<Duration>) -> Option<DateTime<Utc>> {
    let delay = delay.unwrap_or_else(|| default_delay(trigger));
    match (trigger, entity) {
        (TriggerKind::LeadFollowup, Watched::Lead(l)) => l.created_at.map(|c| c + delay),
        (TriggerKind::OpportunityReminder, Watched::Opportunity(o)) => o.terms.deadline.map(|d| d - delay),
        (TriggerKind::PostSaleFeedback, Watched::Sale(s)) => Some(s.payment.completed_at + delay),
        (TriggerKind::AbandonedCart, Watched::Cart(c)) => Some(c.contents.last_activity_at + delay),
        _ => None,
    }
}

fn status_is(status: Option<&String>, word: &str) -> bool {
    status.is_some_and(|s| s.eq_ignore_ascii_case(word))
}

/// Re-checks `trigger` on the current `entity` at `now` (`None` entity: it is gone).
pub fn check(trigger: TriggerKind, entity: Option<&Watched>, delay: Option<Duration>, now: DateTime<Utc>) -> Check {
    let Some(entity) = entity else {
        return Check::Stopped("the entity no longer exists");
    };
    let holds = match (trigger, entity) {
        (TriggerKind::LeadFollowup, Watched::Lead(l)) => {
            (l.counted && status_is(l.status.as_ref(), "new")).then_some(()).ok_or("the lead is no longer new")
        }
        (TriggerKind::OpportunityReminder, Watched::Opportunity(o)) => {
            if !status_is(o.status.as_ref(), "pending") {
                Err("the opportunity is no longer pending")
            } else if o.terms.deadline.is_none_or(|d| d <= now) {
                Err("the opportunity's deadline has passed or is unknown")
            } else {
                Ok(())
            }
        }
        (TriggerKind::PostSaleFeedback, Watched::Sale(_)) => Ok(()),
        (TriggerKind::AbandonedCart, Watched::Cart(c)) => {
            (!c.contents.items.is_empty()).then_some(()).ok_or("the cart is empty or was bought")
        }
        _ => Err("the entity does not match the trigger"),
    };
    if let Err(why) = holds {
        return Check::Stopped(why);
    }
    match due_at(trigger, entity, delay) {
        None => Check::Stopped("the entity has no due time"),
        Some(at) if at > now => Check::NotYet(at),
        Some(_) => Check::Holds,
    }
}

/// If `now` falls inside `quiet` (local hours in `tz`, wrapping midnight when start > end), when
/// the window ends; `None` if a send may go out now.
pub fn quiet_until(now: DateTime<Utc>, tz: Zone, quiet: QuietHours) -> Option<DateTime<Utc>> {
    let (start, end) = (u32::from(quiet.start_hour), u32::from(quiet.end_hour));
    if start == end {
        return None;
    }
    let local = now.with_timezone(&tz);
    let h = local.hour();
    let inside = if start < end { h >= start && h < end } else { h >= start || h < end };
    if !inside {
        return None;
    }
    let end_time = NaiveTime::from_hms_opt(end, 0, 0)?;
    let mut day = local.date_naive();
    if h >= end {
        day = day.succ_opt()?;
    }
    Some(first_instant_at_or_after(tz, day.and_time(end_time)))
}

/// The first instant whose local time in `tz` is `local` or later: `local` itself (its earlier
/// reading in a fold), or where a DST gap that swallows `local` ends — never an instant before it,
/// which would still be inside quiet hours.
fn first_instant_at_or_after(tz: Zone, local: chrono::NaiveDateTime) -> DateTime<Utc> {
    let mut t = local;
    // Gaps are at most a few hours; step a minute at a time until the wall clock exists again.
    for _ in 0..=24 * 60 {
        if let Some(at) = tz.from_local_datetime(&t).earliest() {
            return at.with_timezone(&Utc);
        }
        t += Duration::minutes(1);
    }
    // Not reachable for IANA zones (no gap lasts a day); the naive time read as UTC plus a day.
    local.and_utc() + Duration::days(1)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::crm::{CartContents, CartLine, OpportunityTerms};

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).single().unwrap_or_default()
    }

    fn lead(status: &str) -> Watched {
        Watched::Lead(LeadRecord {
            lead_id: "L-1".into(),
            counted: true,
            created_at: Some(at(10)),
            status: Some(status.into()),
            ..Default::default()
        })
    }

    #[test]
    fn lead_followup_fires_at_24h_while_new() {
        let l = lead("new");
        assert_eq!(
            check(TriggerKind::LeadFollowup, Some(&l), None, at(10) + Duration::hours(23)),
            Check::NotYet(at(10) + Duration::hours(24))
        );
        assert_eq!(check(TriggerKind::LeadFollowup, Some(&l), None, at(10) + Duration::hours(24)), Check::Holds);
        assert!(matches!(
            check(TriggerKind::LeadFollowup, Some(&lead("contacted")), None, at(12) + Duration::days(2)),
            Check::Stopped(_)
        ));
        assert!(matches!(check(TriggerKind::LeadFollowup, None, None, at(12)), Check::Stopped(_)));
    }

    #[test]
    fn opportunity_reminder_fires_2h_before_the_deadline_while_pending() {
        let opp = |status: &str| {
            Watched::Opportunity(OpportunityRecord {
                opportunity_id: "O-1".into(),
                status: Some(status.into()),
                terms: OpportunityTerms { deadline: Some(at(18)), ..Default::default() },
                ..Default::default()
            })
        };
        let t = TriggerKind::OpportunityReminder;
        assert_eq!(check(t, Some(&opp("pending")), None, at(15)), Check::NotYet(at(16)));
        assert_eq!(check(t, Some(&opp("pending")), None, at(16)), Check::Holds);
        assert!(matches!(check(t, Some(&opp("won")), None, at(16)), Check::Stopped(_)));
        assert!(matches!(check(t, Some(&opp("pending")), None, at(18)), Check::Stopped(_)));
    }

    #[test]
    fn abandoned_cart_needs_items_and_48h_quiet() {
        let cart = |n: usize| {
            Watched::Cart(CartRecord {
                cart_id: "C-1".into(),
                version: 1,
                lead_id: Some("L-1".into()),
                contents: CartContents {
                    items: (0..n).map(|_| CartLine { sku: "A".into(), quantity: 1, unit_price_minor: None }).collect(),
                    currency: None,
                    last_activity_at: at(0),
                },
            })
        };
        let t = TriggerKind::AbandonedCart;
        assert_eq!(
            check(t, Some(&cart(1)), None, at(0) + Duration::hours(47)),
            Check::NotYet(at(0) + Duration::hours(48))
        );
        assert_eq!(check(t, Some(&cart(1)), None, at(0) + Duration::hours(48)), Check::Holds);
        assert!(matches!(check(t, Some(&cart(0)), None, at(0) + Duration::hours(48)), Check::Stopped(_)));
        assert_eq!(check(t, Some(&cart(1)), Some(Duration::hours(1)), at(1)), Check::Holds, "delay override");
    }

    #[test]
    fn a_quiet_window_ending_in_a_dst_gap_ends_when_the_gap_does() {
        // Santiago (Chile) springs forward at 00:00 → 01:00 on 2026-09-06 (first Sunday of
        // September): a window ending at midnight local ends at the gap's end, 04:00 UTC (01:00 local).
        let tz = Zone::parse("America/Santiago").expect("zone");
        let quiet = QuietHours { start_hour: 22, end_hour: 0 };
        let before = Utc.with_ymd_and_hms(2026, 9, 6, 2, 30, 0).single().expect("time"); // 22:30 local
        let ends = quiet_until(before, tz, quiet).expect("inside quiet hours");
        assert_eq!(ends, Utc.with_ymd_and_hms(2026, 9, 6, 4, 0, 0).single().expect("time"));
        assert!(quiet_until(ends, tz, quiet).is_none(), "the end is outside the window");
        assert!(quiet_until(ends - Duration::minutes(1), tz, quiet).is_some(), "a minute before is quiet");
    }

    #[test]
    fn a_quiet_window_across_a_dst_fold_ends_at_its_first_end_and_holds_through_the_repeat() {
        // Santiago falls back at 00:00 → 23:00 on 2026-04-05 (03:00 UTC): 23:00–23:59 of the 4th
        // happens twice (UTC−3, then UTC−4).
        let tz = Zone::parse("America/Santiago").expect("zone");
        let utc = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 4, 5, h, m, 0).single().expect("time");
        let ends_at_23 = QuietHours { start_hour: 22, end_hour: 23 };
        assert_eq!(quiet_until(utc(1, 30), tz, ends_at_23), Some(utc(2, 0)), "the first 23:00");
        assert_eq!(quiet_until(utc(3, 30), tz, ends_at_23), None, "the repeated 23:30 is after the window");
        // A night window entered in the repeated hour ends at 07:00 local (UTC−4) = 11:00 UTC.
        assert_eq!(quiet_until(utc(3, 30), tz, QuietHours { start_hour: 23, end_hour: 7 }), Some(utc(11, 0)));
    }

    #[test]
    fn quiet_hours_wrap_midnight_in_the_local_zone() {
        let tz = Zone::parse("America/Argentina/Buenos_Aires").unwrap_or(Zone::UTC);
        // 01:00 UTC = 22:00 in Buenos Aires (UTC−3): quiet until 09:00 local = 12:00 UTC.
        assert_eq!(quiet_until(at(1), tz, DEFAULT_QUIET_HOURS), Some(at(12)));
        // 11:00 UTC = 08:00 local: still quiet until 12:00 UTC.
        assert_eq!(quiet_until(at(11), tz, DEFAULT_QUIET_HOURS), Some(at(12)));
        assert_eq!(quiet_until(at(12), tz, DEFAULT_QUIET_HOURS), None);
        assert_eq!(quiet_until(at(23), tz, DEFAULT_QUIET_HOURS), None, "20:00 local");
        // 00:30 UTC = 21:30 local on the 23rd → 09:00 local on the 24th.
        let late = Utc.with_ymd_and_hms(2026, 11, 24, 0, 30, 0).single().unwrap_or_default();
        assert_eq!(quiet_until(late, tz, DEFAULT_QUIET_HOURS), Some(at(12)));
        assert_eq!(quiet_until(at(3), Zone::UTC, QuietHours { start_hour: 1, end_hour: 5 }), Some(at(5)));
    }
}

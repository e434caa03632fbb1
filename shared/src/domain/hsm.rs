//! Values of the WhatsApp HSM automation that the store and the automation folder share: the
//! trigger kinds, the statuses of a log entry (ordered: a status never moves backwards) and E.164
//! phone numbers.

use serde::{Deserialize, Serialize};

/// What makes an automated template message due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// Lead still `new` 24 h after its creation.
    LeadFollowup,
    /// Opportunity still pending, 2 h before its deadline.
    OpportunityReminder,
    /// 7 days after a completed sale.
    PostSaleFeedback,
    /// Cart with items and 48 h without activity.
    AbandonedCart,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 4] =
        [Self::LeadFollowup, Self::OpportunityReminder, Self::PostSaleFeedback, Self::AbandonedCart];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LeadFollowup => "lead_followup",
            Self::OpportunityReminder => "opportunity_reminder",
            Self::PostSaleFeedback => "post_sale_feedback",
            Self::AbandonedCart => "abandoned_cart",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of an automation log entry. In-flight statuses (`pending`, `retrying`, `unknown`) come
/// first and may replace one another; delivery statuses are ordered (`sent` < `delivered` <
/// `read`; `failed` is final unless a later delivery proves otherwise); the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStatus {
    /// Accepted by YCloud (or `sent` per its webhook).
    Sent,
    Delivered,
    Read,
    Failed,
    /// Not sent on purpose (opted out, invalid phone, disabled rule, unapproved template, cap).
    Skipped,
    /// The condition stopped holding (lead contacted, cart bought, …).
    Cancelled,
    /// Claimed, waiting for its next attempt (contact cap, daily cap, paused template).
    Pending,
    /// A send was refused for now (429, refused connection, …); retried at its next attempt.
    Retrying,
    /// A send whose outcome is unknown (5xx, timeout after the request left): looked up at its next
    /// attempt and never sent again while YCloud may have it. Final when the retry budget is
    /// spent without an answer (a later status webhook still settles it).
    Unknown,
}

impl LogStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Unknown => "unknown",
        }
    }

    pub const ALL: [LogStatus; 9] = [
        Self::Sent,
        Self::Delivered,
        Self::Read,
        Self::Failed,
        Self::Skipped,
        Self::Cancelled,
        Self::Pending,
        Self::Retrying,
        Self::Unknown,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Waiting for a later attempt: the evaluator may still rewrite it (rank 0).
    pub fn in_flight(self) -> bool {
        self.rank() == 0
    }

    /// Position in the delivery order: an update only applies to a higher rank. `failed` ranks
    /// above `sent` (a failure after acceptance) but below `delivered`/`read` (YCloud does not keep
    /// order: a `delivered` after a `failed` is the truth).
    pub fn rank(self) -> u8 {
        match self {
            Self::Pending | Self::Retrying | Self::Unknown => 0,
            Self::Sent => 1,
            Self::Failed => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Skipped | Self::Cancelled => 5,
        }
    }
}

/// A phone number in E.164 (`+` then 8–15 digits, no leading zero), in the form WhatsApp uses
/// for the line ([`crate::domain::phone::whatsapp_form`]: Argentina's `9`, Mexico's `1`, Brazil's
/// ninth digit), so every store key, index and comparison meets one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an E.164 phone number")]
pub struct InvalidPhone;

impl Phone {
    /// Accepts `+` and digits, ignoring spaces, dashes, dots and parentheses; answers WhatsApp's form.
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let cleaned: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let digits = cleaned.strip_prefix('+').ok_or(InvalidPhone)?;
        let ok =
            (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
        if ok {
            Ok(Phone(format!("+{}", crate::domain::phone::whatsapp_form(digits))))
        } else {
            Err(InvalidPhone)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs and the API: country code and last 2 digits only (`+54•••••••12`).
    pub fn masked(&self) -> String {
        let d = &self.0;
        let keep_head = 3.min(d.len());
        let keep_tail = 2.min(d.len().saturating_sub(keep_head));
        format!("{}{}{}", &d[..keep_head], "•".repeat(d.len() - keep_head - keep_tail), &d[d.len() - keep_tail..])
    }
}

impl TryFrom<String> for Phone {
    type Error = InvalidPhone;
    fn try_from(s: String) -> Result<Self, InvalidPhone> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_round_trip() {
        for t in TriggerKind::ALL {
            assert_eq!(TriggerKind::parse(t.as_str()), Some(t));
        }
        assert_eq!(TriggerKind::parse("birthday"), None);
    }

    #[test]
    fn statuses_never_go_backwards_by_rank() {
        assert!(LogStatus::Read.rank() > LogStatus::Delivered.rank());
        assert!(LogStatus::Delivered.rank() > LogStatus::Failed.rank());
        assert!(LogStatus::Failed.rank() > LogStatus::Sent.rank());
        for s in [LogStatus::Pending, LogStatus::Retrying, LogStatus::Unknown] {
            assert!(s.in_flight() && s.rank() < LogStatus::Sent.rank(), "{s:?} is overtaken by any outcome");
        }
        assert!(LogStatus::ALL.iter().filter(|s| s.in_flight()).count() == 3);
        for s in LogStatus::ALL {
            assert_eq!(LogStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn phones_are_e164_or_refused() {
        assert_eq!(Phone::parse("+54 9 11 5555-0101").map(|p| p.as_str().to_string()), Ok("+5491155550101".into()));
        for bad in ["5491155550101", "+0123456789", "+12", "+54911abc0101", "", "+1234567890123456"] {
            assert_eq!(Phone::parse(bad), Err(InvalidPhone), "{bad}");
        }
        // Argentina and Mexico written either way are one phone.
        assert_eq!(Phone::parse("+54 11 5555-0101"), Phone::parse("+54 9 11 5555 0101"));
        assert_eq!(Phone::parse("+52 55 1234 5678"), Phone::parse("+52 1 55 1234 5678"));
        let p = Phone::parse("+5491155550101").expect("phone");
        assert_eq!(p.masked(), "+54•••••••••01");
    }
}

//! One outbox item as a Conversions API event (FIELD-NOTES 35, 38): `action_source:
//! system_generated`, `user_data.lead_id` (Meta's lead id as a number, never hashed),
//! `custom_data.event_source: crm` and `lead_event_source`, value and currency on a sale.
//!
//! Privacy: [`UserData`] is the only way to fill `user_data`, and it holds a lead id or SHA-256
//! hashes of Meta's normalised email/phone — raw contact data cannot be put in it.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::conversions::ConversionItem;
use crate::domain::money::{Currency, MinorUnits};

/// Meta's lead ids have 15 to 17 digits.
pub fn lead_id_number(leadgen_id: &str) -> Option<u64> {
    (15..=17).contains(&leadgen_id.len()).then(|| leadgen_id.parse().ok()).flatten()
}

/// `user_data`: a lead id, or (for leads without one) hashed contact points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserData {
    LeadId(u64),
    /// SHA-256 hex of the normalised email and/or phone ([`hashed_email`], [`hashed_phone`]).
    Hashed {
        em: Option<String>,
        ph: Option<String>,
    },
}

impl UserData {
    /// Hashes whatever contact points are given; `None` when nothing usable is left.
    pub fn from_contact(email: Option<&str>, phone: Option<&str>) -> Option<Self> {
        let em = email.and_then(hashed_email);
        let ph = phone.and_then(hashed_phone);
        (em.is_some() || ph.is_some()).then_some(Self::Hashed { em, ph })
    }

    fn to_json(&self) -> Value {
        match self {
            Self::LeadId(id) => json!({ "lead_id": id }),
            Self::Hashed { em, ph } => {
                let mut m = Map::new();
                if let Some(e) = em {
                    m.insert("em".into(), json!([e]));
                }
                if let Some(p) = ph {
                    m.insert("ph".into(), json!([p]));
                }
                Value::Object(m)
            }
        }
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Meta's email normalisation (trim, lower-case), hashed; `None` for something that is not one.
pub fn hashed_email(raw: &str) -> Option<String> {
    let e = raw.trim().to_lowercase();
    (e.contains('@') && !e.contains(char::is_whitespace)).then(|| sha256_hex(&e))
}

/// Meta's phone normalisation (digits only, with the country code, no leading zeros), hashed.
pub fn hashed_phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_start_matches('0');
    (digits.len() >= 7).then(|| sha256_hex(digits))
}

/// Why an item cannot become an event (it is skipped with this reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsendable {
    /// The leadgen id is not Meta's 15–17 digits.
    InvalidLeadId,
    /// A sale value in a currency we do not know.
    InvalidValue,
}

impl Unsendable {
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidLeadId => "invalid_lead_id",
            Self::InvalidValue => "invalid_value",
        }
    }
}

/// The event Meta receives for `item`.
pub fn event_json(item: &ConversionItem, lead_event_source: &str) -> Result<Value, Unsendable> {
    let lead_id = lead_id_number(&item.leadgen_id).ok_or(Unsendable::InvalidLeadId)?;
    let mut custom = json!({ "event_source": "crm", "lead_event_source": lead_event_source });
    if let (Some(minor), Some(code)) = (item.value_minor, item.currency.as_deref()) {
        let currency = Currency::parse(code).map_err(|_| Unsendable::InvalidValue)?;
        if minor < 0 {
            return Err(Unsendable::InvalidValue);
        }
        custom["value"] = json!(MinorUnits(minor).to_major_f64(currency));
        custom["currency"] = json!(currency.code());
    }
    Ok(json!({
        "event_name": item.event_name,
        "event_time": item.event_time.timestamp(),
        "event_id": item.event_id,
        "action_source": "system_generated",
        "user_data": UserData::LeadId(lead_id).to_json(),
        "custom_data": custom,
    }))
}

/// Meta discards events older than this (FIELD-NOTES 36).
pub const MAX_EVENT_AGE_DAYS: i64 = 7;

/// Whether Meta would still take an event that happened at `at` if sent at `now` (a minute of
/// margin so a request in flight does not cross the line).
pub fn within_window(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    at > now - chrono::Duration::days(MAX_EVENT_AGE_DAYS) + chrono::Duration::minutes(1)
        && at <= now + chrono::Duration::seconds(60)
}

/// The request body of one batch.
pub fn batch_body(events: Vec<Value>, test_event_code: Option<&str>) -> Value {
    let mut body = json!({ "data": events });
    if let Some(code) = test_event_code {
        body["test_event_code"] = json!(code);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_points_are_hashed_after_metas_normalisation() {
        // Known answers: `printf 'ana@example.com' | sha256sum`, `printf '5491155550101' | sha256sum`.
        assert_eq!(
            hashed_email("  Ana@Example.COM ").as_deref(),
            Some("8e43ca37701228e74983efdbd0cff5c16b3b1e5d4e29a7c05626d4d25a018e11")
        );
        assert_eq!(
            hashed_phone("+54 9 11 5555-0101").as_deref(),
            Some("e2c3d22c449bdcafa162d329dc93938dcd76d7ecedca50919398e13957154de2")
        );
        assert_eq!(hashed_email("not an email"), None);
        assert_eq!(hashed_phone("12"), None);
        let data = UserData::from_contact(Some("ana@example.com"), None).expect("hashed");
        let json = data.to_json().to_string();
        assert!(!json.contains("ana@"), "{json}");
    }
}

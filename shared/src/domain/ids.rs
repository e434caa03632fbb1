//! Identity types that carry meaning: a tenant is an integer id, never a free string; the ids,
//! tags, sources and statuses of CRM entities are validated strings, safe in keys and counter names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A CRM tenant. Comes only from a verified JWT (or a signed state / stored index), never from
/// the request body or `X-Tenant-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub i64);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for TenantId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(TenantId)
    }
}

/// Whether `id` looks like a Meta object id (page, lead, business, …): 1–32 digits, so it can
/// never shape another key or a Graph path.
pub fn is_meta_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A Meta ad account id, always `act_<digits>`. Serialized as that string (stored and sent
/// unchanged), so a value of the type is always safe in a key or a Graph path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AdAccountId(String);

/// Not an ad account id: the input, trimmed (for the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ad account id (expected act_<digits>)")]
pub struct InvalidAdAccountId(pub String);

impl AdAccountId {
    /// `act_123` or `123` (as users type it) → `act_123`.
    pub fn parse(raw: &str) -> Result<Self, InvalidAdAccountId> {
        let t = raw.trim();
        let digits = t.strip_prefix("act_").unwrap_or(t);
        if is_meta_id(digits) {
            Ok(Self(format!("act_{digits}")))
        } else {
            Err(InvalidAdAccountId(t.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdAccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AdAccountId {
    type Error = InvalidAdAccountId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<AdAccountId> for String {
    fn from(id: AdAccountId) -> Self {
        id.0
    }
}

/// A string that is not a valid value of one of the validated id types below.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}")]
pub struct InvalidId {
    pub what: &'static str,
    pub value: String,
}

fn valid_token(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
}

/// Declares a string newtype whose `parse`/`Deserialize` normalise and validate the input, so a
/// value of the type is always safe to use in keys and counter names.
macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $what:literal, $normalize:expr, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                let s: String = ($normalize)(raw);
                if ($valid)(s.as_str()) {
                    Ok(Self(s))
                } else {
                    Err(InvalidId { what: $what, value: s })
                }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

validated_string!(
    /// An id the CRM gives an entity (`LEAD#{id}` etc.): 1–128 of `[A-Za-z0-9_.:-]`.
    EntityId, "id", |s: &str| s.to_string(), |s: &str| valid_token(s, 128)
);

validated_string!(
    /// A Meta campaign / ad id (used inside counter names): 1–64 safe characters.
    Tag, "tag", |s: &str| s.to_string(), |s: &str| valid_token(s, 64)
);

validated_string!(
    /// A Meta lead-ads lead id (`leadgen_id`): digits only (Meta's are 15–17), so it can shape a
    /// key. The join key between a Meta lead and the CRM's own copy of it (FIELD-NOTES 29).
    LeadgenId, "leadgen id", |s: &str| s.trim().to_string(), is_meta_id
);

validated_string!(
    /// Lead source, upper-case (`META_ADS`, `WEBSITE`, `REFERRAL`, …).
    LeadSource, "lead source", |s: &str| s.trim().to_ascii_uppercase(),
    |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
);

impl LeadSource {
    /// The source of leads from Meta lead ads (the only source counted per campaign and ad).
    pub const META_ADS: &'static str = "META_ADS";

    pub fn meta_ads() -> Self {
        LeadSource(Self::META_ADS.into())
    }
}

validated_string!(
    /// A status word (`new`, `contacted`, `qualified`, `pending`, `won`, …): lower-case token.
    Status, "status", |s: &str| s.trim().to_ascii_lowercase(),
    |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
);

impl Status {
    /// A lead's status until the CRM says otherwise.
    pub fn new_lead() -> Self {
        Status("new".into())
    }
    /// An opportunity's status until the CRM says otherwise.
    pub fn pending() -> Self {
        Status("pending".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_ids_are_digits_only() {
        assert!(is_meta_id("1080000000000001"));
        for bad in ["", "12a", "1#2", "../x", "123456789012345678901234567890123"] {
            assert!(!is_meta_id(bad), "{bad}");
        }
    }

    #[test]
    fn ad_account_ids_are_normalized_or_refused() {
        assert_eq!(AdAccountId::parse("act_123").map(String::from), Ok("act_123".to_string()));
        assert_eq!(AdAccountId::parse(" 123 ").map(String::from), Ok("act_123".to_string()));
        for bad in ["", "act_", "act_12x", "../me", "act_1/2", "act_123456789012345678901234567890123"] {
            assert!(AdAccountId::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&AdAccountId::parse("9").expect("id")).expect("json");
        assert_eq!(json, "\"act_9\"", "stored and sent as the plain string");
        assert!(serde_json::from_str::<AdAccountId>("\"act_x\"").is_err());
    }

    #[test]
    fn validated_ids_normalise_and_refuse_unsafe_values() {
        assert_eq!(LeadSource::parse(" meta_ads ").map(|s| s.as_str().to_string()), Ok("META_ADS".into()));
        assert_eq!(Status::parse("Won").map(|s| s.as_str().to_string()), Ok("won".into()));
        assert_eq!(EntityId::parse("meta:123_4.5-6").map(|s| s.as_str().len()), Ok(14));
        let err = EntityId::parse("bad id").expect_err("space");
        assert_eq!(err.to_string(), "invalid id \"bad id\"");
        assert!(Tag::parse(&"x".repeat(65)).is_err());
        assert!(serde_json::from_value::<Tag>(serde_json::json!("c#1")).is_err());
        assert_eq!(LeadSource::meta_ads().as_str(), LeadSource::META_ADS);
    }
}

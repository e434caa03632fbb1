//! Identity types that carry meaning: a tenant is an integer id, never a free string.

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
}

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

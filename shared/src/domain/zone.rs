//! Time zones (IANA): a [`Zone`] is a zone we know, parsed once at the edge (a CRM event, Meta's
//! ad account, a manager's setting) and stored by name; an unknown name is refused there, never
//! replaced later by a default.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// An IANA time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Zone(Tz);

/// A zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IANA time zone")]
pub struct UnknownZone(pub String);

impl Zone {
    pub const UTC: Zone = Zone(Tz::UTC);

    pub fn parse(name: &str) -> Result<Self, UnknownZone> {
        name.trim().parse::<Tz>().map(Zone).map_err(|_| UnknownZone(name.chars().take(64).collect()))
    }
    pub fn tz(self) -> Tz {
        self.0
    }
    pub fn name(self) -> &'static str {
        self.0.name()
    }
    /// The calendar day `at` falls on in this zone.
    pub fn local_day(self, at: DateTime<Utc>) -> NaiveDate {
        local_day(at, self.0)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Zone::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The tenant's reporting zone: the profile's, UTC while none is set (the connect flow sets it
/// from the primary ad account's `timezone_name`, FIELD-NOTES 3).
pub fn reporting_zone(zone: Option<Zone>) -> Tz {
    zone.unwrap_or(Zone::UTC).tz()
}

/// The calendar day `at` falls on in `tz`.
pub fn local_day(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn zone(name: &str) -> Option<Zone> {
        Some(Zone::parse(name).expect("known zone"))
    }

    #[test]
    fn lead_at_2330_local_lands_on_local_day() {
        let tz = reporting_zone(zone("America/Bogota")); // UTC-5, no DST
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 30, 0).single().expect("utc"); // 23:30 on the 24th
        assert_eq!(local_day(at, tz), d(2026, 11, 24));
        let tokyo = reporting_zone(zone("Asia/Tokyo")); // UTC+9: 15:30 UTC on the 24th is 00:30 on the 25th
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 15, 30, 0).single().expect("utc");
        assert_eq!(local_day(at, tokyo), d(2026, 11, 25));
        assert_eq!(local_day(at, reporting_zone(None)), d(2026, 11, 24));
    }

    #[test]
    fn unknown_zones_are_refused_and_known_ones_round_trip() {
        assert_eq!(Zone::parse("Mars/Olympus"), Err(UnknownZone("Mars/Olympus".into())));
        let z = Zone::parse("America/Argentina/Buenos_Aires").expect("known");
        assert_eq!(serde_json::to_value(z).expect("ser"), serde_json::json!("America/Argentina/Buenos_Aires"));
        assert_eq!(serde_json::from_value::<Zone>(serde_json::json!("Asia/Tokyo")).expect("de").name(), "Asia/Tokyo");
        assert!(serde_json::from_value::<Zone>(serde_json::json!("Not/AZone")).is_err());
    }
}

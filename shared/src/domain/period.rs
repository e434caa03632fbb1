//! Reporting periods: the range names the API accepts (`time_range=` / `range=`, plus `from` /
//! `to` for `custom`) and their resolution to local calendar days of the tenant's zone.

use chrono::{Datelike, Duration, Months, NaiveDate};
use serde::Serialize;

/// A range query the API cannot accept (a 400 with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRange(pub String);

/// Meta's `date_preset=maximum` reaches back 37 months (FIELD-NOTES 8); so do we.
pub const MAX_RANGE_MONTHS: u32 = 37;
/// Up to this many days a report reads daily items and gives a daily series; longer ranges read
/// monthly rollups for full months (so `all` stays ≤ ~100 items) and give a monthly series.
pub const MAX_DAILY_SERIES_DAYS: i64 = 92;

/// The time-range names the API accepts (`time_range=` or `range=`).
pub const ALLOWED_RANGES: &[&str] =
    &["last_30d", "last_90d", "this_year", "all", "7d", "30d", "90d", "this_month", "last_month", "custom"];

/// A requested period, before it is resolved against "today" in the tenant's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// The last `n` days including today.
    LastDays(u32),
    ThisMonth,
    LastMonth,
    ThisYear,
    /// Since the tenant's first data, capped at [`MAX_RANGE_MONTHS`].
    All,
    Custom {
        from: NaiveDate,
        to: NaiveDate,
    },
}

/// An inclusive range of local calendar days, plus the name it was asked by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    /// The name as requested (`last_30d`, `custom`, …).
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }
    pub fn contains(&self, d: NaiveDate) -> bool {
        self.from <= d && d <= self.to
    }
}

fn invalid(message: impl Into<String>) -> InvalidRange {
    InvalidRange(message.into())
}

fn parse_date(name: &str, v: Option<&str>) -> Result<NaiveDate, InvalidRange> {
    let v = v.ok_or_else(|| invalid(format!("time_range=custom needs {name}=YYYY-MM-DD")))?;
    NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| invalid(format!("{name} must be a date YYYY-MM-DD")))
}

/// The query parameters a marketing endpoint accepts, besides the range.
const OTHER_PARAMS: &[&str] = &["google_date_range"];

/// Reads the range from `time_range=` or `range=` (`default` when neither is given). Unknown
/// values, `from`/`to` without `custom`, malformed dates and unknown parameters are 400s.
pub fn parse_range(query: &[(String, String)], default: &str) -> Result<(String, RangeSpec), InvalidRange> {
    for (k, _) in query {
        if !["time_range", "range", "from", "to"].contains(&k.as_str()) && !OTHER_PARAMS.contains(&k.as_str()) {
            return Err(invalid(format!(
                "unknown query parameter {k:?}; accepted: time_range (or range), from, to (with time_range=custom)"
            )));
        }
    }
    let get = |name: &str| -> Result<Option<&str>, InvalidRange> {
        let mut vals = query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = vals.next();
        if vals.next().is_some() {
            return Err(invalid(format!("{name} is given more than once")));
        }
        Ok(first)
    };
    let name = match (get("time_range")?, get("range")?) {
        (Some(a), Some(b)) if a != b => return Err(invalid("time_range and range disagree; give one of them")),
        (Some(a), _) | (None, Some(a)) => a.trim().to_string(),
        (None, None) => default.to_string(),
    };
    let (from, to) = (get("from")?, get("to")?);
    let spec = match name.as_str() {
        "7d" => RangeSpec::LastDays(7),
        "30d" | "last_30d" => RangeSpec::LastDays(30),
        "90d" | "last_90d" => RangeSpec::LastDays(90),
        "this_month" => RangeSpec::ThisMonth,
        "last_month" => RangeSpec::LastMonth,
        "this_year" => RangeSpec::ThisYear,
        "all" => RangeSpec::All,
        "custom" => {
            let (from, to) = (parse_date("from", from)?, parse_date("to", to)?);
            if from > to {
                return Err(invalid("from must not be after to"));
            }
            if from.checked_add_months(Months::new(MAX_RANGE_MONTHS)).is_none_or(|limit| to >= limit) {
                return Err(invalid(format!("custom ranges may span at most {MAX_RANGE_MONTHS} months")));
            }
            RangeSpec::Custom { from, to }
        }
        other => {
            return Err(invalid(format!("time_range {other:?} is not one of: {}", ALLOWED_RANGES.join(", "))));
        }
    };
    if !matches!(spec, RangeSpec::Custom { .. }) && (from.is_some() || to.is_some()) {
        return Err(invalid("from and to are only accepted with time_range=custom"));
    }
    Ok((name, spec))
}

/// First day of the earliest month `all` may reach: 37 calendar months including the current.
pub fn all_range_floor(today: NaiveDate) -> NaiveDate {
    let first_of_month = today.with_day(1).unwrap_or(today);
    first_of_month.checked_sub_months(Months::new(MAX_RANGE_MONTHS - 1)).unwrap_or(first_of_month)
}

/// Resolves `spec` to local days. `first_data` is the first local day with data (for `all`).
pub fn resolve_period(name: &str, spec: RangeSpec, today: NaiveDate, first_data: Option<NaiveDate>) -> Period {
    let first_of_month = today.with_day(1).unwrap_or(today);
    let (from, to) = match spec {
        RangeSpec::LastDays(n) => (today - Duration::days(i64::from(n.max(1)) - 1), today),
        RangeSpec::ThisMonth => (first_of_month, today),
        RangeSpec::LastMonth => {
            let end = first_of_month - Duration::days(1);
            (end.with_day(1).unwrap_or(end), end)
        }
        RangeSpec::ThisYear => (NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today), today),
        RangeSpec::All => {
            let floor = all_range_floor(today);
            (first_data.map_or(today, |d| d.clamp(floor, today)), today)
        }
        RangeSpec::Custom { from, to } => (from, to),
    };
    Period { name: name.to_string(), from, to }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("date")
    }

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn period(pairs: &[(&str, &str)], today: NaiveDate) -> Result<Period, InvalidRange> {
        let (name, spec) = parse_range(&q(pairs), "30d")?;
        Ok(resolve_period(&name, spec, today, Some(d(2024, 2, 10))))
    }

    #[test]
    fn frontend_and_spec_range_names_resolve() {
        let today = d(2026, 11, 24);
        let p = period(&[("time_range", "last_30d")], today).expect("ok");
        assert_eq!((p.from, p.to, p.days()), (d(2026, 10, 26), today, 30));
        let p = period(&[("range", "7d")], today).expect("ok");
        assert_eq!((p.from, p.days()), (d(2026, 11, 18), 7));
        assert_eq!(period(&[("range", "last_90d")], today).expect("ok").days(), 90);
        let p = period(&[("range", "this_month")], today).expect("ok");
        assert_eq!((p.from, p.to), (d(2026, 11, 1), today));
        let p = period(&[("range", "last_month")], today).expect("ok");
        assert_eq!((p.from, p.to), (d(2026, 10, 1), d(2026, 10, 31)));
        let p = period(&[("range", "this_year")], today).expect("ok");
        assert_eq!(p.from, d(2026, 1, 1));
        let p = period(&[("time_range", "custom"), ("from", "2026-01-05"), ("to", "2026-02-04")], today).expect("ok");
        assert_eq!((p.from, p.to, p.name.as_str()), (d(2026, 1, 5), d(2026, 2, 4), "custom"));
        let p = period(&[], today).expect("default");
        assert_eq!((p.name.as_str(), p.days()), ("30d", 30));
        // The frontend sends google_date_range to combined-stats; it is ignored.
        assert!(period(&[("time_range", "all"), ("google_date_range", "30d")], today).is_ok());
    }

    #[test]
    fn all_starts_at_first_data_capped_at_37_months() {
        let today = d(2026, 11, 24);
        let p = period(&[("time_range", "all")], today).expect("ok");
        assert_eq!(p.from, d(2024, 2, 10));
        let (n, s) = parse_range(&q(&[("time_range", "all")]), "30d").expect("ok");
        assert_eq!(resolve_period(&n, s, today, Some(d(2019, 1, 1))).from, d(2023, 11, 1));
        assert_eq!(resolve_period(&n, s, today, None).from, today);
    }

    #[test]
    fn bad_range_values_are_400_listing_the_allowed() {
        let today = d(2026, 11, 24);
        let err = period(&[("time_range", "forever")], today).expect_err("bad");
        assert!(err.to_string().contains("last_30d, last_90d, this_year, all, 7d"), "{err}");
        for bad in [
            vec![("time_range", "custom")],
            vec![("time_range", "custom"), ("from", "2026-13-01"), ("to", "2026-12-01")],
            vec![("time_range", "custom"), ("from", "2026-02-01"), ("to", "2026-01-01")],
            vec![("time_range", "custom"), ("from", "2020-01-01"), ("to", "2023-02-01")],
            vec![("time_range", "30d"), ("from", "2026-01-01")],
            vec![("time_range", "30d"), ("range", "7d")],
            vec![("time_range", "30d"), ("time_range", "30d")],
            vec![("tenant_id", "2")],
        ] {
            assert!(period(&bad, today).is_err(), "{bad:?} must be rejected");
        }
        // 37 months exactly minus a day is fine.
        assert!(period(&[("time_range", "custom"), ("from", "2020-01-01"), ("to", "2023-01-31")], today).is_ok());
    }
}

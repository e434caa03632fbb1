//! Money as integer minor units plus an ISO 4217 currency — never floats (f64 appears only at the
//! edge, for the frontend's major-unit numbers and display ratios).
//!
//! Amounts in different currencies are never added: every sum in this crate is keyed by currency.
//!
//! **Overflow.** Amounts arrive as `i64` minor units after saturating conversions (a peer's
//! decimal, a rate), and every sum of them saturates too ([`MinorUnits::saturating_add`],
//! [`saturating_sum`]): a total past ±9.2 × 10^18 minor units (92 quadrillion dollars — no real
//! spend or revenue) stays at the bound. It never wraps (a negative spend would invert ROI) and
//! never fails the request (a 5xx for bad data would hide every other number of the dashboard);
//! a figure at the bound marks corrupt input.

use std::fmt;

use serde::{Deserialize, Serialize};

/// ISO 4217 currencies we accept, with their minor-unit exponent. Codes not listed here are
/// rejected (a sale in an unknown currency is a malformed event, not a guess).
const EXPONENTS: &[(&str, u32)] = &[
    // exponent 0
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("UYI", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    // exponent 3
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
    // exponent 4
    ("CLF", 4),
    ("UYW", 4),
    // exponent 2 (the common case; the currencies Meta ad accounts and our tenants use)
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("GTQ", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("KES", 2),
    ("LKR", 2),
    ("MAD", 2),
    ("MOP", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PEN", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("UYU", 2),
    ("VES", 2),
    ("ZAR", 2),
];

/// An ISO 4217 currency code we know the minor-unit exponent of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: [u8; 3],
    exponent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ISO 4217 currency code {0:?}")]
pub struct UnknownCurrency(pub String);

impl Currency {
    /// The fallback reporting currency when a tenant has none configured and no data says otherwise.
    pub const USD: Currency = Currency { code: *b"USD", exponent: 2 };
    /// The base of the ECB's reference rates.
    pub const EUR: Currency = Currency { code: *b"EUR", exponent: 2 };

    pub fn parse(code: &str) -> Result<Self, UnknownCurrency> {
        let upper = code.trim().to_ascii_uppercase();
        EXPONENTS
            .iter()
            .find(|(c, _)| *c == upper)
            .and_then(|(c, e)| {
                let b = c.as_bytes();
                (b.len() == 3).then(|| Currency { code: [b[0], b[1], b[2]], exponent: *e })
            })
            .ok_or(UnknownCurrency(code.to_string()))
    }

    pub fn code(&self) -> &str {
        // Built only from the ASCII table above.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Digits after the decimal point (JPY 0, USD 2, KWD 3).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Minor units per major unit.
    pub fn scale(&self) -> i64 {
        10_i64.pow(self.exponent)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency's minor units (cents, yen, fils).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MinorUnits(pub i64);

impl MinorUnits {
    pub const ZERO: MinorUnits = MinorUnits(0);

    /// Major units as a float, for the frontend's numbers only (derived at the edge).
    pub fn to_major_f64(self, currency: Currency) -> f64 {
        self.0 as f64 / currency.scale() as f64
    }

    /// `self / n` rounded half away from zero; `None` when `n == 0`.
    pub fn div_round(self, n: i64) -> Option<MinorUnits> {
        if n == 0 {
            return None;
        }
        Some(MinorUnits(div_round_half_away(self.0 as i128, n as i128) as i64))
    }

    pub fn checked_add(self, other: MinorUnits) -> Option<MinorUnits> {
        self.0.checked_add(other.0).map(MinorUnits)
    }

    /// `self + other`, held at the `i64` bounds (see the module doc's "Overflow").
    pub fn saturating_add(self, other: MinorUnits) -> MinorUnits {
        MinorUnits(self.0.saturating_add(other.0))
    }
}

/// The sum of minor-unit amounts (or counts), held at the `i64` bounds instead of wrapping or
/// panicking (see the module doc's "Overflow").
pub fn saturating_sum(values: impl IntoIterator<Item = i64>) -> i64 {
    values.into_iter().fold(0, i64::saturating_add)
}

/// Integer division rounded half away from zero. `d` must be non-zero.
pub fn div_round_half_away(n: i128, d: i128) -> i128 {
    let q = n / d;
    let r = n % d;
    if 2 * r.abs() >= d.abs() {
        if (n < 0) == (d < 0) {
            q + 1
        } else {
            q - 1
        }
    } else {
        q
    }
}

/// An amount with its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Money {
    pub amount_minor: MinorUnits,
    pub currency: Currency,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_sums_hold_at_the_bounds_instead_of_wrapping() {
        assert_eq!(MinorUnits(i64::MAX - 1).saturating_add(MinorUnits(5)), MinorUnits(i64::MAX));
        assert_eq!(MinorUnits(i64::MIN + 1).saturating_add(MinorUnits(-5)), MinorUnits(i64::MIN));
        assert_eq!(MinorUnits(2).saturating_add(MinorUnits(3)), MinorUnits(5));
        assert_eq!(saturating_sum([i64::MAX, 1, 1]), i64::MAX);
        assert_eq!(saturating_sum([i64::MIN, -1]), i64::MIN);
        assert_eq!(saturating_sum([1_000, 250, -50]), 1_200);
        assert_eq!(saturating_sum(Vec::new()), 0);
    }

    #[test]
    fn currencies_know_their_minor_unit_exponent() {
        assert_eq!(Currency::parse("JPY").map(|c| c.exponent()), Ok(0));
        assert_eq!(Currency::parse("usd").map(|c| c.exponent()), Ok(2));
        assert_eq!(Currency::parse("KWD").map(|c| c.exponent()), Ok(3));
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn major_units_use_the_exponent() {
        let jpy = Currency::parse("JPY").expect("jpy");
        let kwd = Currency::parse("KWD").expect("kwd");
        let usd = Currency::parse("USD").expect("usd");
        assert_eq!(MinorUnits(1500).to_major_f64(jpy), 1500.0);
        assert_eq!(MinorUnits(1500).to_major_f64(kwd), 1.5);
        assert_eq!(MinorUnits(1999).to_major_f64(usd), 19.99);
    }

    #[test]
    fn division_rounds_half_away_from_zero() {
        assert_eq!(MinorUnits(10).div_round(4), Some(MinorUnits(3))); // 2.5 -> 3
        assert_eq!(MinorUnits(10).div_round(3), Some(MinorUnits(3))); // 3.33 -> 3
        assert_eq!(MinorUnits(-10).div_round(4), Some(MinorUnits(-3)));
        assert_eq!(MinorUnits(5).div_round(0), None);
    }

    #[test]
    fn currency_serializes_as_its_code() {
        let c = Currency::parse("eur").expect("eur");
        assert_eq!(serde_json::to_string(&c).expect("json"), "\"EUR\"");
        let back: Currency = serde_json::from_str("\"EUR\"").expect("back");
        assert_eq!(back, c);
        assert!(serde_json::from_str::<Currency>("\"ABC\"").is_err());
    }
}

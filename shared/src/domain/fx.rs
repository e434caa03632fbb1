//! Exchange rates as exact scaled integers (never `f64`): a rate is "units of `to` per one unit of
//! `from`" times [`RATE_SCALE`], parsed from a decimal string, and conversions of minor units are
//! integer arithmetic rounded half away from zero.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::money::{div_round_half_away, Currency, MinorUnits};

/// Decimal places a rate keeps (rate × 10^9).
pub const RATE_DECIMALS: u32 = 9;
pub const RATE_SCALE: i128 = 1_000_000_000;
/// Largest rate accepted (e.g. 1 BTC-like unit in VES would still fit; keeps i128 math far from overflow).
const MAX_RATE_UNITS: i128 = 1_000_000_000_000;

/// A positive rate × 10^9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScaledRate(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid rate {0:?}: a positive decimal string with at most 9 decimals, e.g. \"1050.25\"")]
pub struct InvalidRate(pub String);

impl ScaledRate {
    /// `"1050.25"` → 1_050_250_000_000. Digits and one optional `.` only: no sign, exponent or
    /// separators; more than 9 decimals, zero and absurdly large values are refused.
    pub fn parse(raw: &str) -> Result<Self, InvalidRate> {
        let bad = || InvalidRate(raw.chars().take(40).collect());
        let s = raw.trim();
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if s.contains('.') && frac.is_empty() {
            return Err(bad());
        }
        if frac.len() > RATE_DECIMALS as usize || int.len() > 13 {
            return Err(bad());
        }
        let int_v: i128 = int.parse().map_err(|_| bad())?;
        let frac_v: i128 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|_| bad())? };
        if int_v > MAX_RATE_UNITS {
            return Err(bad());
        }
        let scaled = int_v * RATE_SCALE + frac_v;
        if scaled <= 0 {
            return Err(bad());
        }
        i64::try_from(scaled).map(ScaledRate).map_err(|_| bad())
    }

    /// One unit per unit (a base currency against itself).
    pub const ONE: ScaledRate = ScaledRate(RATE_SCALE as i64);

    /// The cross rate `from → to` out of two rates quoted against one base (`base → from` and
    /// `base → to`, e.g. the ECB's EUR → USD and EUR → MXN): `to_per_base / from_per_base`, kept at
    /// 9 decimals, rounded half away from zero (both are positive, so half up) — one rounding, of
    /// the rate itself; the conversion that applies it rounds once more, to minor units. `None`
    /// when the result would round to 0 or not fit. With `base_to_from` = [`Self::ONE`] (from is
    /// the base) the result is `base_to_to` exactly.
    pub fn cross(base_to_from: ScaledRate, base_to_to: ScaledRate) -> Option<ScaledRate> {
        if base_to_from.0 <= 0 || base_to_to.0 <= 0 {
            return None;
        }
        let v = div_round_half_away(i128::from(base_to_to.0) * RATE_SCALE, i128::from(base_to_from.0));
        i64::try_from(v).ok().filter(|v| *v > 0).map(ScaledRate)
    }

    /// Converts `amount` (minor units of `from`) into minor units of `to`:
    /// `amount × rate × 10^exp(to) / (10^9 × 10^exp(from))`, rounded half away from zero.
    pub fn convert(self, amount: MinorUnits, from: Currency, to: Currency) -> MinorUnits {
        let num = i128::from(amount.0) * i128::from(self.0) * 10_i128.pow(to.exponent());
        let den = RATE_SCALE * 10_i128.pow(from.exponent());
        let v = div_round_half_away(num, den);
        MinorUnits(i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }))
    }
}

impl fmt::Display for ScaledRate {
    /// The exact decimal, trailing zeros trimmed (`1050.25`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = RATE_SCALE as i64;
        let (int, frac) = (self.0 / scale, self.0 % scale);
        if frac == 0 {
            return write!(f, "{int}");
        }
        let frac = format!("{frac:09}");
        write!(f, "{int}.{}", frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(c: &str) -> Currency {
        Currency::parse(c).expect("currency")
    }

    #[test]
    fn rates_parse_exactly_or_are_refused() {
        assert_eq!(ScaledRate::parse("1050.25").expect("ok").0, 1_050_250_000_000);
        assert_eq!(ScaledRate::parse("0.000000001").expect("ok").0, 1);
        assert_eq!(ScaledRate::parse(" 7 ").expect("ok").0, 7_000_000_000);
        assert_eq!(ScaledRate::parse("1050.25").expect("ok").to_string(), "1050.25");
        for bad in ["", "0", "0.0", "-1", "+1", "1e3", "1,5", ".5", "5.", "1.0000000001", "NaN", "99999999999999"] {
            assert!(ScaledRate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cross_rates_divide_two_base_rates_rounding_the_ninth_decimal_half_up() {
        let r = |s: &str| ScaledRate::parse(s).expect("rate");
        // EUR→USD 1.0823, EUR→MXN 19.5432: USD→MXN = 19.5432 / 1.0823 = 18.057100619…
        assert_eq!(ScaledRate::cross(r("1.0823"), r("19.5432")), Some(r("18.057100619")));
        // USD→EUR = 1 / 1.0823 = 0.9239582370… (10th decimal 0: down); 1/3 and 2/3 round at
        // the 9th decimal: 0.333333333 and 0.666666667.
        assert_eq!(ScaledRate::cross(r("1.0823"), ScaledRate::ONE), Some(r("0.923958237")));
        assert_eq!(ScaledRate::cross(r("3"), ScaledRate::ONE), Some(r("0.333333333")));
        assert_eq!(ScaledRate::cross(r("3"), r("2")), Some(r("0.666666667")));
        // From the base itself: the quoted rate, exactly.
        assert_eq!(ScaledRate::cross(ScaledRate::ONE, r("19.5432")), Some(r("19.5432")));
        // Exactly half at the 10th decimal goes up: 0.000000001 / 2 = 0.0000000005 → 0.000000001.
        assert_eq!(ScaledRate::cross(r("2"), r("0.000000001")), Some(ScaledRate(1)));
        // Too small to show at 9 decimals, or nonsense inputs: no rate.
        assert_eq!(ScaledRate::cross(r("3"), r("0.000000001")), None);
        assert_eq!(ScaledRate::cross(ScaledRate(0), r("1")), None);
        assert_eq!(ScaledRate::cross(r("1"), ScaledRate(-5)), None);
    }

    #[test]
    fn conversion_is_integer_math_rounded_half_away_from_zero() {
        let r = ScaledRate::parse("1050.25").expect("ok");
        // 100.00 USD → 105,025.00 ARS.
        assert_eq!(r.convert(MinorUnits(10_000), cur("USD"), cur("ARS")), MinorUnits(10_502_500));
        // 0.01 USD → 10.5025 ARS → 10.50 (1050.25 cents → 1050); 0.03 → 31.5075 → 31.51.
        assert_eq!(r.convert(MinorUnits(1), cur("USD"), cur("ARS")), MinorUnits(1_050));
        assert_eq!(r.convert(MinorUnits(3), cur("USD"), cur("ARS")), MinorUnits(3_151));
        // Half away from zero: 0.5 → 1, −0.5 → −1.
        let half = ScaledRate::parse("0.5").expect("ok");
        assert_eq!(half.convert(MinorUnits(1), cur("USD"), cur("EUR")), MinorUnits(1));
        assert_eq!(half.convert(MinorUnits(-1), cur("USD"), cur("EUR")), MinorUnits(-1));
        // Exponents: 1,000 JPY at 0.0067 USD → 6.70 USD; 1.000 KWD at 3.25 USD → 3.25 USD.
        let jpy = ScaledRate::parse("0.0067").expect("ok");
        assert_eq!(jpy.convert(MinorUnits(1_000), cur("JPY"), cur("USD")), MinorUnits(670));
        let kwd = ScaledRate::parse("3.25").expect("ok");
        assert_eq!(kwd.convert(MinorUnits(1_000), cur("KWD"), cur("USD")), MinorUnits(325));
    }
}

//! The ROI formulas (periods and zones are `domain::period` / `domain::zone`).
//!
//! Formulas (SPEC "ROI", adapted from the seed), on Meta-attributed data (`lead_source = META_ADS`):
//! `CPA = spend / leads` (null without leads), `ROAS = revenue / spend`,
//! `ROI % = (revenue − spend) / spend × 100` (both null without spend). Money stays integer minor
//! units; ratios are derived from integers and rounded for display (ratios 4 decimals, percentages
//! 2 decimals), so there is never a division by zero or a NaN.
//!
//! Multiple currencies: amounts in different currencies are never added. Each report has one
//! *reporting currency* (the tenant profile's, else the primary ad account's, else the only revenue
//! currency seen, else USD); headline figures and ratios use only amounts in that currency, and
//! amounts in any other currency are listed per currency beside them (`other_currencies`).

use crate::domain::money::{div_round_half_away, MinorUnits};

/// Rounds for display: `decimals` digits, half away from zero, computed on integers.
fn rounded_ratio(num: i128, den: i128, scale: i128) -> Option<f64> {
    if den == 0 {
        return None;
    }
    let scaled = div_round_half_away(num * scale, den);
    Some(scaled as f64 / scale as f64)
}

/// `spend / leads` in minor units; `None` without leads.
pub fn cpa(spend: MinorUnits, leads: i64) -> Option<MinorUnits> {
    spend.div_round(leads)
}

/// `revenue / spend` as a ratio (4 decimals); `None` without spend.
pub fn roas(revenue: MinorUnits, spend: MinorUnits) -> Option<f64> {
    rounded_ratio(i128::from(revenue.0), i128::from(spend.0), 10_000)
}

/// `(revenue − spend) / spend` as a ratio (4 decimals; the frontend shows 1.5 as "+150 %").
pub fn roi_ratio(revenue: MinorUnits, spend: MinorUnits) -> Option<f64> {
    rounded_ratio(i128::from(revenue.0) - i128::from(spend.0), i128::from(spend.0), 10_000)
}

/// `(revenue − spend) / spend × 100` (2 decimals); `None` without spend.
pub fn roi_percent(revenue: MinorUnits, spend: MinorUnits) -> Option<f64> {
    rounded_ratio((i128::from(revenue.0) - i128::from(spend.0)) * 100, i128::from(spend.0), 100)
}

/// `part / whole × 100` (2 decimals); `None` when `whole` is 0.
pub fn rate_percent(part: i64, whole: i64) -> Option<f64> {
    rounded_ratio(i128::from(part) * 100, i128::from(whole), 100)
}

/// Minor units to the frontend's major-unit number (display only).
pub fn major(amount: MinorUnits, currency: crate::domain::money::Currency) -> f64 {
    amount.to_major_f64(currency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpa_is_null_without_leads() {
        assert_eq!(cpa(MinorUnits(10_000), 0), None);
        assert_eq!(cpa(MinorUnits(10_000), 3), Some(MinorUnits(3_333)));
        assert_eq!(cpa(MinorUnits(0), 4), Some(MinorUnits(0)));
    }

    #[test]
    fn roi_is_null_without_spend() {
        assert_eq!(roi_percent(MinorUnits(5_000), MinorUnits(0)), None);
        assert_eq!(roi_ratio(MinorUnits(5_000), MinorUnits(0)), None);
        assert_eq!(roas(MinorUnits(5_000), MinorUnits(0)), None);
    }

    #[test]
    fn roi_roas_from_hand_computed_fixture() {
        // spend 400.00, revenue 1000.00: ROAS 2.5, ROI 150 %, ratio 1.5.
        assert_eq!(roas(MinorUnits(100_000), MinorUnits(40_000)), Some(2.5));
        assert_eq!(roi_percent(MinorUnits(100_000), MinorUnits(40_000)), Some(150.0));
        assert_eq!(roi_ratio(MinorUnits(100_000), MinorUnits(40_000)), Some(1.5));
        // Loss: spend 300, revenue 100: ROI -66.67 %, ratio -0.6667.
        assert_eq!(roi_percent(MinorUnits(100), MinorUnits(300)), Some(-66.67));
        assert_eq!(roi_ratio(MinorUnits(100), MinorUnits(300)), Some(-0.6667));
        assert_eq!(roas(MinorUnits(0), MinorUnits(300)), Some(0.0));
    }

    #[test]
    fn conversion_rates_are_percentages_or_null() {
        assert_eq!(rate_percent(1, 3), Some(33.33));
        assert_eq!(rate_percent(2, 3), Some(66.67));
        assert_eq!(rate_percent(0, 0), None);
    }
}

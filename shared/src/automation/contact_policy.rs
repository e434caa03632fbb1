//! Whether a contact may get an automated template now: not opted out (the lead's flag, or an
//! opt-out recorded for the phone by the tenant — STOP to the tenant's number), and not inside
//! quiet hours **in the contact's zone** (from the phone's country, `domain::phone::zones_of`;
//! where the country spans several zones and the tenant is not in one of them, the window holds
//! while it holds in any of them and ends when it has ended in all — the stricter reading).
//! Called right before the claim of each send.

use chrono::{DateTime, Utc};

use crate::automation::ports::SendPorts;
use crate::automation::triggers::{quiet_until, DEFAULT_QUIET_HOURS};
use crate::domain::hsm::Phone;
use crate::domain::ids::TenantId;
use crate::domain::phone::zones_of;
use crate::domain::zone::{reporting_zone, Zone};
use crate::store::automation::rules::QuietHours;
use crate::store::StoreError;

/// Why a contact is not messaged now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    OptedOut,
    /// Inside quiet hours until then.
    QuietUntil(DateTime<Utc>),
}

/// When quiet hours `quiet` end for a contact in `zones` at `now` (`None`: not quiet anywhere):
/// the first instant at which none of the zones is inside its window (a zone whose window opens as
/// another's closes keeps the contact quiet).
pub fn quiet_until_in(now: DateTime<Utc>, zones: &[Zone], quiet: QuietHours) -> Option<DateTime<Utc>> {
    let mut at = now;
    // Each step moves past one zone's window; a handful of zones never needs more steps than this.
    for _ in 0..=zones.len() * 2 {
        match zones.iter().filter_map(|z| quiet_until(at, *z, quiet)).max() {
            Some(until) if until > at => at = until,
            _ => break,
        }
    }
    (at > now).then_some(at)
}

/// The zones quiet hours are read in for `phone`, given the tenant's reporting zone.
pub fn contact_zones(phone: &Phone, tenant_zone: Option<Zone>) -> Vec<Zone> {
    zones_of(phone.as_str().trim_start_matches('+'), reporting_zone(tenant_zone))
}

/// Whether `phone` may be messaged by `tenant` now (`lead_opted_out`: the lead's own flag):
/// `Ok(zone)` — yes, and the contact's zone (dates in the message are written in it) — or why not.
pub async fn contact_hold(
    ports: SendPorts<'_>,
    tenant: TenantId,
    phone: &Phone,
    lead_opted_out: bool,
    quiet: Option<QuietHours>,
    now: DateTime<Utc>,
) -> Result<Result<Zone, Hold>, StoreError> {
    if lead_opted_out || ports.contacts.is_opted_out(tenant, phone.as_str()).await? {
        return Ok(Err(Hold::OptedOut));
    }
    let tenant_zone = ports.profiles.get_profile(tenant).await?.and_then(|p| p.reporting_time_zone);
    let zones = contact_zones(phone, tenant_zone);
    if let Some(until) = quiet_until_in(now, &zones, quiet.unwrap_or(DEFAULT_QUIET_HOURS)) {
        return Ok(Err(Hold::QuietUntil(until)));
    }
    Ok(Ok(zones.first().copied().unwrap_or(reporting_zone(tenant_zone))))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, 0, 0).single().unwrap_or_default()
    }

    #[test]
    fn quiet_hours_are_read_in_the_contacts_zone_not_the_tenants() {
        let madrid = Zone::parse("Europe/Madrid").ok();
        let ar = Phone::parse("+54 9 11 5555 0101").expect("phone");
        let zones = contact_zones(&ar, madrid);
        // 23:00 UTC: midnight in Madrid (quiet there) but 20:00 in Buenos Aires: may send.
        assert_eq!(quiet_until_in(at(23), &zones, DEFAULT_QUIET_HOURS), None);
        // 01:00 UTC: 22:00 in Buenos Aires: quiet until 09:00 there (12:00 UTC).
        assert_eq!(quiet_until_in(at(1), &zones, DEFAULT_QUIET_HOURS), Some(at(12)));
    }

    #[test]
    fn a_country_with_several_zones_takes_the_stricter_window() {
        // Mexico from a tenant in Bogotá: Cancún (UTC−5) and Tijuana (UTC−8) disagree; quiet
        // until it is 09:00 in the last of them.
        let mx = Phone::parse("+52 1 55 1234 5678").expect("phone");
        let zones = contact_zones(&mx, Zone::parse("America/Bogota").ok());
        assert!(zones.len() > 1);
        // 14:30 UTC: 09:30 in Cancún (may send) but 06:30 in Tijuana (quiet until 17:00 UTC).
        let t = at(14) + chrono::Duration::minutes(30);
        assert_eq!(quiet_until_in(t, &zones, DEFAULT_QUIET_HOURS), Some(at(17)));
        // A tenant in Mexico City: its zone is one of Mexico's, so only it is used (08:30 there:
        // quiet until 09:00, 15:00 UTC).
        let zones = contact_zones(&mx, Zone::parse("America/Mexico_City").ok());
        assert_eq!(quiet_until_in(t, &zones, DEFAULT_QUIET_HOURS), Some(at(15)));
    }

    #[test]
    fn a_window_that_opens_in_one_zone_as_it_closes_in_another_keeps_the_contact_quiet() {
        // Chile from Madrid: Santiago's 22:00–00:00 ends at 04:00 UTC on 2026-09-06 (its DST gap),
        // when Easter Island is at 23:00, inside its own window until 05:00 UTC.
        let cl = Phone::parse("+56 9 1234 5678").expect("phone");
        let zones = contact_zones(&cl, Zone::parse("Europe/Madrid").ok());
        let utc = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 9, 6, h, m, 0).single().unwrap_or_default();
        let q = QuietHours { start_hour: 22, end_hour: 0 };
        assert_eq!(quiet_until_in(utc(2, 30), &zones, q), Some(utc(5, 0)));
        assert_eq!(quiet_until_in(utc(5, 0), &zones, q), None);
    }
}

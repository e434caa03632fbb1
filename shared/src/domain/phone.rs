//! Phone numbers as WhatsApp writes them, and where they are.
//!
//! [`whatsapp_form`] turns the digits of an E.164 number into the one form WhatsApp uses for that
//! line (its `wa_id`), so a lead stored one way matches an inbound message written another way
//! (opt-outs, the contact cap, the recipient index all key on it):
//!
//! | country | stored | WhatsApp's form | rule |
//! |---|---|---|---|
//! | Argentina `54` | `54 11 5555 0101`, `54 0 11 15 5555 0101` | `54 9 11 5555 0101` | a mobile line has `9` after `54`; the trunk `0` and the local `15` mobile prefix go |
//! | Mexico `52` | `52 55 5555 0101` | `52 1 55 5555 0101` | a 10-digit national number gets WhatsApp's `1` |
//! | Brazil `55` | `55 11 5555 0101` (mobile range 6–9) | `55 11 9 5555 0101` | the ninth digit of mobiles |
//!
//! [`zones_of`] says which IANA zone(s) a number's country uses (quiet hours in the contact's zone).

use crate::domain::zone::Zone;

/// The WhatsApp form of `digits` (an E.164 number without `+`); other countries are unchanged.
pub fn whatsapp_form(digits: &str) -> String {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.to_string();
    }
    if let Some(national) = digits.strip_prefix("54") {
        return format!("54{}", argentina(national));
    }
    if let Some(national) = digits.strip_prefix("52") {
        if national.len() == 10 {
            return format!("521{national}");
        }
    }
    if let Some(national) = digits.strip_prefix("55") {
        // Area code (2 digits) + 8-digit subscriber number in the mobile range.
        if national.len() == 10 && national[2..].starts_with(['6', '7', '8', '9']) {
            return format!("55{}9{}", &national[..2], &national[2..]);
        }
    }
    digits.to_string()
}

/// Argentina: `9` + area code + subscriber number, without the trunk `0` or the `15` that follows
/// the area code in the national mobile form (area codes are 2–4 digits; the number after the
/// area code and `15` is 6–8 digits, 10 digits in all without them).
fn argentina(national: &str) -> String {
    let n = national.strip_prefix('0').unwrap_or(national);
    let n = n.strip_prefix('9').filter(|rest| rest.len() >= 10).unwrap_or(n);
    if n.len() == 12 {
        // `15` after a 2-, 3- or 4-digit area code.
        for area in [2, 3, 4] {
            if n[area..].starts_with("15") {
                return format!("9{}{}", &n[..area], &n[area + 2..]);
            }
        }
    }
    if n.len() == 10 {
        return format!("9{n}");
    }
    n.to_string()
}

/// Calling code → IANA zones of that country (the first is its most populous). Countries with one
/// civil time (Argentina's zones all keep Buenos Aires' clock) list one.
const COUNTRY_ZONES: &[(&str, &[&str])] = &[
    (
        "1",
        &[
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "Pacific/Honolulu",
            "America/Puerto_Rico",
        ],
    ),
    ("7", &["Europe/Moscow"]),
    ("30", &["Europe/Athens"]),
    ("31", &["Europe/Amsterdam"]),
    ("32", &["Europe/Brussels"]),
    ("33", &["Europe/Paris"]),
    ("34", &["Europe/Madrid", "Atlantic/Canary"]),
    ("39", &["Europe/Rome"]),
    ("41", &["Europe/Zurich"]),
    ("44", &["Europe/London"]),
    ("49", &["Europe/Berlin"]),
    ("51", &["America/Lima"]),
    (
        "52",
        &[
            "America/Mexico_City",
            "America/Cancun",
            "America/Monterrey",
            "America/Chihuahua",
            "America/Hermosillo",
            "America/Mazatlan",
            "America/Tijuana",
        ],
    ),
    ("53", &["America/Havana"]),
    ("54", &["America/Argentina/Buenos_Aires"]),
    (
        "55",
        &[
            "America/Sao_Paulo",
            "America/Manaus",
            "America/Cuiaba",
            "America/Fortaleza",
            "America/Belem",
            "America/Rio_Branco",
            "America/Noronha",
        ],
    ),
    ("56", &["America/Santiago", "America/Punta_Arenas", "Pacific/Easter"]),
    ("57", &["America/Bogota"]),
    ("58", &["America/Caracas"]),
    ("351", &["Europe/Lisbon", "Atlantic/Azores"]),
    ("502", &["America/Guatemala"]),
    ("503", &["America/El_Salvador"]),
    ("504", &["America/Tegucigalpa"]),
    ("505", &["America/Managua"]),
    ("506", &["America/Costa_Rica"]),
    ("507", &["America/Panama"]),
    ("591", &["America/La_Paz"]),
    ("593", &["America/Guayaquil", "Pacific/Galapagos"]),
    ("595", &["America/Asuncion"]),
    ("598", &["America/Montevideo"]),
    ("1809", &["America/Santo_Domingo"]),
    ("1829", &["America/Santo_Domingo"]),
    ("1849", &["America/Santo_Domingo"]),
    ("1787", &["America/Puerto_Rico"]),
    ("1939", &["America/Puerto_Rico"]),
];

/// The zones of the country of `digits` (E.164 without `+`; longest calling code first), empty
/// when the country is not known here.
pub fn country_zones(digits: &str) -> Vec<Zone> {
    COUNTRY_ZONES
        .iter()
        .filter(|(code, _)| digits.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .map(|(_, zones)| zones.iter().filter_map(|z| Zone::parse(z).ok()).collect())
        .unwrap_or_default()
}

/// Where quiet hours are read for a contact with number `digits`: the country's zone; where the
/// country spans several, the tenant's zone when it is one of them, otherwise all of them (the
/// caller applies the strictest); the tenant's zone for a country not known here.
pub fn zones_of(digits: &str, tenant_zone: Zone) -> Vec<Zone> {
    let zones = country_zones(digits);
    match zones.len() {
        0 => vec![tenant_zone],
        1 => zones,
        _ if zones.contains(&tenant_zone) => vec![tenant_zone],
        _ => zones,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argentina_mobiles_take_the_9_and_lose_0_and_15() {
        for stored in ["541155550101", "5491155550101", "5401155550101", "54111555550101", "540111555550101"] {
            assert_eq!(whatsapp_form(stored), "5491155550101", "{stored}");
        }
        // A 3-digit area code (Mendoza 261) and a 4-digit one (2954) with the 15.
        assert_eq!(whatsapp_form("54261155123456"), "5492615123456");
        assert_eq!(whatsapp_form("5429541512345"), "5429541512345", "11 digits: left as written");
        assert_eq!(whatsapp_form("542954151234"), "5492954151234", "10 digits: a 9 added");
    }

    #[test]
    fn mexico_numbers_take_whatsapps_1() {
        assert_eq!(whatsapp_form("525512345678"), "5215512345678");
        assert_eq!(whatsapp_form("5215512345678"), "5215512345678");
    }

    #[test]
    fn brazil_mobiles_take_the_ninth_digit_landlines_do_not() {
        assert_eq!(whatsapp_form("551198765432"), "5511998765432");
        assert_eq!(whatsapp_form("5511998765432"), "5511998765432");
        assert_eq!(whatsapp_form("551132345678"), "551132345678", "landline range 2–5");
    }

    #[test]
    fn other_countries_are_unchanged() {
        assert_eq!(whatsapp_form("34612345678"), "34612345678");
        assert_eq!(whatsapp_form("16315551111"), "16315551111");
    }

    #[test]
    fn every_listed_zone_is_known() {
        for (code, zones) in COUNTRY_ZONES {
            for z in *zones {
                assert!(Zone::parse(z).is_ok(), "{code}: {z}");
            }
        }
    }

    #[test]
    fn contact_zones_follow_the_country_and_the_tenant_only_where_it_spans_several() {
        let z = |n: &str| Zone::parse(n).expect("zone");
        let madrid = z("Europe/Madrid");
        assert_eq!(zones_of("5491155550101", madrid), vec![z("America/Argentina/Buenos_Aires")]);
        assert_eq!(zones_of("18095551234", madrid), vec![z("America/Santo_Domingo")], "longest code wins");
        assert_eq!(zones_of("34612345678", madrid), vec![madrid], "tenant's zone is one of Spain's");
        assert_eq!(zones_of("34612345678", z("America/Bogota")).len(), 2, "both Spanish zones");
        assert_eq!(zones_of("99912345678", madrid), vec![madrid], "unknown country: tenant's zone");
    }
}

//! Template variables: a rule maps each body variable of its template (`{{1}}`, `{{2}}`, …) to a
//! CRM field ([`CrmField`]); a save whose template needs a variable the rule does not map is
//! refused ([`check_mapping`]); a send fills them from the entity, formatted for the rule's
//! language ([`template_params`]). Every value is sanitised first: a name keeps letters, spaces,
//! `'` and `-` (at most [`MAX_NAME_CHARS`]), and anything that looks like a link (`http`, `www.`,
//! `x.com`) is replaced by the neutral word — a lead form must not make the business send a
//! branded WhatsApp carrying someone else's text or URL.
//!
//! A rule saved before variables existed maps nothing; its `{{1}}` is the first name (as before).

use crate::automation::triggers::Watched;
use crate::automation::ycloud::Template;
pub use crate::domain::crm_field::CrmField;
use crate::domain::money::{Currency, MinorUnits};
use crate::domain::zone::Zone;
use crate::store::records::LeadRecord;
use chrono::{DateTime, Utc};

/// Longest name value sent.
pub const MAX_NAME_CHARS: usize = 40;

/// The fields a rule's variables map to, `{{1}}` first (empty: the first name for `{{1}}`).
pub fn effective(variables: &[CrmField]) -> Vec<CrmField> {
    if variables.is_empty() {
        vec![CrmField::FirstName]
    } else {
        variables.to_vec()
    }
}

/// `{"1": "first_name", "2": "appointment_time"}` → the fields in variable order; a gap, an index
/// out of 1–20 or an unknown field is refused (with why).
pub fn parse_mapping(input: &std::collections::BTreeMap<String, String>) -> Result<Vec<CrmField>, String> {
    let mut out = Vec::new();
    for n in 1..=input.len() {
        let field = input.get(&n.to_string()).ok_or_else(|| {
            format!("variables must be numbered 1..{} without gaps (got {:?})", input.len(), input.keys())
        })?;
        let f = CrmField::parse(field).ok_or_else(|| {
            let known: Vec<&str> = CrmField::ALL.iter().map(|f| f.as_str()).collect();
            format!("variable {{{{{n}}}}}: unknown field {field:?}; expected one of {}", known.join(", "))
        })?;
        out.push(f);
    }
    if out.len() > 20 {
        return Err("at most 20 variables".into());
    }
    Ok(out)
}

/// Whether `variables` covers every body variable `template` needs (why not, otherwise).
pub fn check_mapping(variables: &[CrmField], template: &Template) -> Result<(), String> {
    let needed = template.body_placeholders();
    let mapped = effective(variables).len();
    if needed > mapped {
        return Err(format!(
            "template {:?} ({}) uses {needed} variables but the rule maps {mapped}; map {{{{{}}}}}..{{{{{needed}}}}} to CRM fields",
            template.name,
            template.language,
            mapped + 1
        ));
    }
    Ok(())
}

/// The body parameters of a send: `placeholders` values, each field formatted for `language` in
/// `zone` and sanitised.
pub fn template_params(
    variables: &[CrmField],
    placeholders: usize,
    watched: Option<&Watched>,
    lead: Option<&LeadRecord>,
    language: &str,
    zone: Zone,
) -> Vec<String> {
    effective(variables).into_iter().take(placeholders).map(|f| value(f, watched, lead, language, zone)).collect()
}

fn neutral(language: &str) -> &'static str {
    if language.starts_with("en") {
        "customer"
    } else {
        "cliente"
    }
}

fn value(field: CrmField, watched: Option<&Watched>, lead: Option<&LeadRecord>, language: &str, zone: Zone) -> String {
    let name = lead.and_then(|l| l.contact.name.as_deref()).and_then(sanitise_name);
    let money = |m: Option<(MinorUnits, Currency)>| m.map(|(a, c)| format_money(a, c, language));
    let v = match field {
        CrmField::FirstName => name.and_then(|n| n.split_whitespace().next().map(str::to_string)),
        CrmField::FullName => name,
        CrmField::AppointmentTime => match watched {
            Some(Watched::Opportunity(o)) => o.terms.deadline.map(|d| format_time(d, zone, language)),
            _ => None,
        },
        CrmField::OpportunityValue => match watched {
            Some(Watched::Opportunity(o)) => money(o.terms.value_minor.zip(o.terms.currency)),
            _ => None,
        },
        CrmField::CartTotal => match watched {
            Some(Watched::Cart(c)) => {
                let total = c
                    .contents
                    .items
                    .iter()
                    .filter_map(|l| l.unit_price_minor.map(|p| p.0.saturating_mul(i64::from(l.quantity))))
                    .fold(0i64, i64::saturating_add);
                money(c.contents.currency.map(|cur| (MinorUnits(total), cur)))
            }
            _ => None,
        },
        CrmField::SaleAmount => match watched {
            Some(Watched::Sale(s)) => money(Some((s.payment.amount_minor, s.payment.currency))),
            _ => None,
        },
    };
    v.unwrap_or_else(|| neutral(language).to_string())
}

/// Whether `s` looks like it carries a link or a domain.
fn looks_like_link(s: &str) -> bool {
    let lower = s.to_lowercase();
    if lower.contains("http") || lower.contains("www") || lower.contains("://") || lower.contains('@') {
        return true;
    }
    // `word.tld`: a dot with letters on both sides.
    let chars: Vec<char> = lower.chars().collect();
    chars.windows(3).any(|w| w[0].is_alphanumeric() && w[1] == '.' && w[2].is_alphabetic())
}

/// A name as it may be sent: letters, spaces, `'` and `-`, at most [`MAX_NAME_CHARS`]; `None`
/// when nothing is left or it looks like a link.
pub fn sanitise_name(raw: &str) -> Option<String> {
    if looks_like_link(raw) {
        return None;
    }
    let kept: String = raw.chars().map(|c| if c.is_alphabetic() || c == '\'' || c == '-' { c } else { ' ' }).collect();
    let words: Vec<&str> = kept.split_whitespace().collect();
    let mut out = String::new();
    for w in words {
        let next = if out.is_empty() { w.to_string() } else { format!("{out} {w}") };
        if next.chars().count() > MAX_NAME_CHARS {
            break;
        }
        out = next;
    }
    (!out.is_empty()).then_some(out)
}

/// `1234.50 ARS` as `$ 1.234,50` (Spanish, Portuguese) or `$1,234.50` (English); the currency's
/// code where it has no common symbol.
pub fn format_money(amount: MinorUnits, currency: Currency, language: &str) -> String {
    let exp = currency.exponent();
    let scale = currency.scale().max(1);
    let (neg, abs) = (amount.0 < 0, amount.0.unsigned_abs());
    let (major, minor) = (abs / scale.unsigned_abs(), abs % scale.unsigned_abs());
    let english = language.starts_with("en");
    let (group, decimal) = if english { (',', '.') } else { ('.', ',') };
    let digits = major.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let number = if exp == 0 { grouped } else { format!("{grouped}{decimal}{minor:0width$}", width = exp as usize) };
    let symbol = match currency.code() {
        "USD" | "ARS" | "MXN" | "CLP" | "COP" | "UYU" => "$",
        "EUR" => "€",
        "BRL" => "R$",
        other => other,
    };
    let sign = if neg { "-" } else { "" };
    if english && symbol.len() <= 3 && !symbol.chars().all(|c| c.is_ascii_uppercase()) {
        format!("{sign}{symbol}{number}")
    } else {
        format!("{sign}{symbol} {number}")
    }
}

/// `at` in `zone` as `07/12/2026 15:30` (day first) or `12/07/2026 3:30 PM` (English).
pub fn format_time(at: DateTime<Utc>, zone: Zone, language: &str) -> String {
    let local = at.with_timezone(&zone);
    if language.starts_with("en") {
        local.format("%m/%d/%Y %-I:%M %p").to_string()
    } else {
        local.format("%d/%m/%Y %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn template(body: &str) -> Template {
        Template {
            name: "turno".into(),
            language: "es".into(),
            category: None,
            status: "APPROVED".into(),
            components: json!([{"type": "BODY", "text": body}]),
        }
    }

    #[test]
    fn names_keep_letters_and_lose_links_and_noise() {
        assert_eq!(sanitise_name("  María-José   O'Neill "), Some("María-José O'Neill".into()));
        assert_eq!(sanitise_name("Ana <b>123</b>"), Some("Ana b b".into()));
        for link in ["https://evil.example/pay", "www.banco-falso.com", "visit evil.com now", "a@b.co"] {
            assert_eq!(sanitise_name(link), None, "{link}");
        }
        assert_eq!(sanitise_name("1234 !!!"), None);
        let long = "Alejandro ".repeat(10);
        assert!(sanitise_name(&long).is_some_and(|n| n.chars().count() <= MAX_NAME_CHARS));
    }

    #[test]
    fn a_mapping_must_cover_every_variable_of_the_body() {
        let two = template("Hola {{1}}, tu turno es el {{2}}");
        assert!(check_mapping(&[], &template("Hola {{1}}")).is_ok(), "the old default maps {{1}}");
        let err = check_mapping(&[], &two).expect_err("{{2}} unmapped");
        assert!(err.contains("{{2}}"), "{err}");
        assert!(check_mapping(&[CrmField::FirstName, CrmField::AppointmentTime], &two).is_ok());
    }

    #[test]
    fn mappings_parse_in_order_and_refuse_gaps_and_unknown_fields() {
        let m = |pairs: &[(&str, &str)]| {
            parse_mapping(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
        };
        assert_eq!(m(&[("2", "cart_total"), ("1", "first_name")]), Ok(vec![CrmField::FirstName, CrmField::CartTotal]));
        assert!(m(&[("1", "first_name"), ("3", "cart_total")]).is_err(), "gap");
        assert!(m(&[("1", "password")]).is_err(), "unknown field");
    }

    #[test]
    fn money_and_times_follow_the_language_and_zone() {
        let ars = Currency::parse("ARS").expect("ARS");
        assert_eq!(format_money(MinorUnits(123_450), ars, "es"), "$ 1.234,50");
        assert_eq!(format_money(MinorUnits(123_450), Currency::parse("USD").expect("USD"), "en"), "$1,234.50");
        assert_eq!(format_money(MinorUnits(1_500), Currency::parse("JPY").expect("JPY"), "es"), "JPY 1.500");
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 18, 30, 0).single().expect("time");
        let ba = Zone::parse("America/Argentina/Buenos_Aires").expect("zone");
        assert_eq!(format_time(at, ba, "es"), "07/12/2026 15:30");
        assert_eq!(format_time(at, ba, "en"), "12/07/2026 3:30 PM");
    }
}

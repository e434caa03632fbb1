//! The European Central Bank's reference-rate XML (`eurofxref-daily.xml`, `eurofxref-hist-90d.xml`,
//! `eurofxref-hist.xml` — one format), read by a small hand parser instead of an XML crate: the
//! format is tiny and fixed, and every Lambda links the one crate.
//!
//! ```xml
//! <gesmes:Envelope xmlns:gesmes="…" xmlns="…"><gesmes:subject>Reference rates</gesmes:subject>
//!   <Cube>
//!     <Cube time="2026-11-24"><Cube currency="USD" rate="1.0823"/><Cube currency="JPY" rate="161.25"/>…</Cube>
//!     <Cube time="2026-11-21">…</Cube>
//!   </Cube>
//! </gesmes:Envelope>
//! ```
//!
//! Each rate is "units of the currency per 1 EUR", a decimal string parsed exactly into a
//! [`ScaledRate`] (no float). Attributes may be quoted with `'` (the daily file) or `"` (the
//! history files). Strict where it matters: a document that is cut short (no closing envelope), a
//! day cube without a valid `time`, a rate outside a day, a day or currency given twice, or no rate
//! at all refuses the whole document ([`EcbError`]) — nothing of it is stored. A currency we do not
//! know (e.g. a discontinued one) or an unreadable rate value is skipped and counted.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::domain::fx::ScaledRate;
use crate::domain::money::Currency;

/// Days a document may hold (the full history since 1999 has about 7,000).
const MAX_DAYS: usize = 20_000;

/// One business day of reference rates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcbDay {
    pub day: NaiveDate,
    /// Units of the currency per 1 EUR, × 10^9, by currency.
    pub rates: BTreeMap<Currency, ScaledRate>,
}

/// A parsed document: its days (oldest first) and what was skipped (`"XYZ@2026-11-24"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcbRates {
    pub days: Vec<EcbDay>,
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcbError {
    #[error("ECB rates document is malformed at byte {at}: {what}")]
    Malformed { at: usize, what: &'static str },
    #[error("ECB rates document holds no rate")]
    Empty,
}

/// One tag of the document.
struct Tag<'a> {
    at: usize,
    name: &'a str,
    closing: bool,
    self_closing: bool,
    attrs: &'a str,
}

/// Reads an ECB reference-rates document.
pub fn parse(doc: &str) -> Result<EcbRates, EcbError> {
    let mut out = EcbRates::default();
    let mut days: BTreeMap<NaiveDate, EcbDay> = BTreeMap::new();
    let mut day: Option<EcbDay> = None;
    let (mut depth, mut envelope_closed) = (0usize, false);
    for tag in tags(doc) {
        let tag = tag?;
        let bad = |what| EcbError::Malformed { at: tag.at, what };
        if tag.name.ends_with("Envelope") && tag.closing {
            envelope_closed = true;
        }
        if tag.name != "Cube" {
            continue;
        }
        if tag.closing {
            match (depth, day.take()) {
                (0, _) => return Err(bad("</Cube> without its <Cube>")),
                (2, Some(d)) => {
                    if days.insert(d.day, d).is_some() {
                        return Err(bad("a day is given twice"));
                    }
                    if days.len() > MAX_DAYS {
                        return Err(bad("too many days"));
                    }
                }
                (_, open) => day = open,
            }
            depth -= 1;
            continue;
        }
        let attr = |name: &str| attribute(tag.attrs, name).map_err(|()| bad("an attribute is not quoted"));
        match (attr("time")?, attr("currency")?, &mut day) {
            (Some(time), None, None) if depth == 1 && !tag.self_closing => {
                let d = NaiveDate::parse_from_str(time, "%Y-%m-%d").map_err(|_| bad("time is not YYYY-MM-DD"))?;
                day = Some(EcbDay { day: d, rates: BTreeMap::new() });
            }
            (None, Some(code), Some(open)) if depth == 2 && tag.self_closing => {
                let rate = attr("rate")?.ok_or_else(|| bad("a currency without a rate"))?;
                match (Currency::parse(code), ScaledRate::parse(rate)) {
                    (Ok(c), Ok(r)) => {
                        if open.rates.insert(c, r).is_some() {
                            return Err(bad("a currency is given twice in a day"));
                        }
                    }
                    _ => out.skipped.push(format!("{}@{}", code.chars().take(8).collect::<String>(), open.day)),
                }
            }
            (None, None, None) if depth == 0 && !tag.self_closing => {}
            _ => return Err(bad("a <Cube> out of place")),
        }
        if !tag.self_closing {
            depth += 1;
        }
    }
    if depth != 0 || !envelope_closed {
        return Err(EcbError::Malformed { at: doc.len(), what: "the document is cut short" });
    }
    out.days = days.into_values().filter(|d| !d.rates.is_empty()).collect();
    if out.days.is_empty() {
        return Err(EcbError::Empty);
    }
    Ok(out)
}

/// The tags of `doc` in order (declarations, comments and text skipped).
fn tags(doc: &str) -> impl Iterator<Item = Result<Tag<'_>, EcbError>> {
    let mut pos = 0;
    std::iter::from_fn(move || loop {
        let start = pos + doc[pos..].find('<')?;
        let rest = &doc[start..];
        let cut = |what| Some(Err(EcbError::Malformed { at: start, what }));
        let skip_to = |end: &str| rest.find(end).map(|i| start + i + end.len());
        if rest.starts_with("<?") || rest.starts_with("<!--") || rest.starts_with("<!") {
            let end = if rest.starts_with("<?") {
                "?>"
            } else if rest.starts_with("<!--") {
                "-->"
            } else {
                ">"
            };
            match skip_to(end) {
                Some(next) => pos = next,
                None => return cut("an unclosed declaration or comment"),
            }
            continue;
        }
        let Some(len) = tag_len(rest) else { return cut("an unclosed tag") };
        pos = start + len;
        let inner = &rest[1..len - 1];
        let closing = inner.starts_with('/');
        let self_closing = !closing && inner.ends_with('/');
        let body = inner.trim_start_matches('/').trim_end_matches('/');
        let name_len = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
        let (name, attrs) = body.split_at(name_len);
        if name.is_empty() || (closing && !attrs.trim().is_empty()) {
            return cut("a tag without a name");
        }
        return Some(Ok(Tag { at: start, name, closing, self_closing, attrs }));
    })
}

/// Length of the tag at the start of `s` up to its `>` (quoted values may hold `>`).
fn tag_len(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '<') => return None,
            (None, '>') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// The value of attribute `name` in `attrs` (`name='v'` or `name="v"`, spaces around `=` allowed);
/// `Err` when an attribute's value is not quoted.
fn attribute<'a>(attrs: &'a str, name: &str) -> Result<Option<&'a str>, ()> {
    let mut rest = attrs.trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or(())?;
        let key = rest[..eq].trim();
        let after = rest[eq + 1..].trim_start();
        let quote = after.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or(())?;
        let close = after[1..].find(quote).ok_or(())?;
        if key == name {
            return Ok(Some(&after[1..1 + close]));
        }
        rest = after[close + 2..].trim_start();
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daily file as the ECB serves it (single quotes, tabs, one day).
    const DAILY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n\t<gesmes:subject>Reference rates</gesmes:subject>\n\t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n\t<Cube>\n\t\t<Cube time='2024-06-28'>\n\t\t\t<Cube currency='USD' rate='1.0705'/>\n\t\t\t<Cube currency='JPY' rate='171.94'/>\n\t\t\t<Cube currency='GBP' rate='0.84638'/>\n\t\t\t<Cube currency='ISK' rate='148.90'/>\n\t\t\t<Cube currency='IDR' rate='17487.21'/>\n\t\t\t<Cube currency='MXN' rate='19.5654'/>\n\t\t\t<Cube currency='BRL' rate='5.8915'/>\n\t\t</Cube>\n\t</Cube>\n</gesmes:Envelope>";

    /// The history files' shape: double quotes, newest day first, several days.
    const HIST: &str = r#"<?xml version="1.0" encoding="UTF-8"?><gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><gesmes:subject>Reference rates</gesmes:subject><gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender><Cube><Cube time="2026-11-24"><Cube currency="USD" rate="1.0823"/><Cube currency="MXN" rate="19.5432"/></Cube><Cube time="2026-11-21"><Cube currency="USD" rate="1.0811"/><Cube currency="HRK" rate="7.5345"/><Cube currency="MXN" rate="19.4"/></Cube></Cube></gesmes:Envelope>"#;

    fn cur(c: &str) -> Currency {
        Currency::parse(c).expect("currency")
    }

    fn rate(s: &str) -> ScaledRate {
        ScaledRate::parse(s).expect("rate")
    }

    #[test]
    fn the_daily_file_reads_exactly() {
        let got = parse(DAILY).expect("parsed");
        assert_eq!(got.days.len(), 1);
        let d = &got.days[0];
        assert_eq!(d.day, NaiveDate::from_ymd_opt(2024, 6, 28).expect("day"));
        assert_eq!(d.rates.len(), 7);
        assert_eq!(d.rates[&cur("USD")], rate("1.0705"));
        assert_eq!(d.rates[&cur("GBP")].0, 846_380_000, "trailing zeros kept exactly");
        assert_eq!(d.rates[&cur("IDR")].0, 17_487_210_000_000);
        assert!(got.skipped.is_empty());
    }

    #[test]
    fn the_history_files_read_oldest_first_and_skip_unknown_currencies() {
        let got = parse(HIST).expect("parsed");
        let days: Vec<String> = got.days.iter().map(|d| d.day.to_string()).collect();
        assert_eq!(days, ["2026-11-21", "2026-11-24"]);
        assert_eq!(got.days[0].rates.keys().map(Currency::code).collect::<Vec<_>>(), ["MXN", "USD"]);
        assert_eq!(got.days[1].rates[&cur("MXN")], rate("19.5432"));
        assert_eq!(got.skipped, ["HRK@2026-11-21"], "a currency we do not know is skipped, not fatal");
    }

    #[test]
    fn spacing_and_comments_do_not_matter() {
        let doc = "<!-- cache --><Envelope><Cube >\n<Cube time = \"2026-01-02\" >\n<Cube rate=\"2\"  currency='USD' />\n</Cube></Cube></Envelope>";
        let got = parse(doc).expect("parsed");
        assert_eq!(got.days[0].rates[&Currency::USD], rate("2"));
    }

    #[test]
    fn bad_rate_values_are_skipped_and_counted() {
        let doc = HIST.replace(r#"rate="1.0811""#, r#"rate="N/A""#).replace(r#"rate="19.4""#, r#"rate="-19.4""#);
        let got = parse(&doc).expect("parsed");
        assert_eq!(got.skipped, ["USD@2026-11-21", "HRK@2026-11-21", "MXN@2026-11-21"]);
        assert_eq!(got.days.len(), 1, "a day left without any rate is dropped");
    }

    #[test]
    fn malformed_documents_are_refused_whole() {
        let cases: Vec<(String, &str)> = vec![
            (HIST[..HIST.len() - 30].to_string(), "cut inside the cubes"),
            (HIST.replace("</gesmes:Envelope>", ""), "no closing envelope"),
            (HIST.replace(r#"time="2026-11-21""#, r#"time="21/11/2026""#), "a bad date"),
            (HIST.replace(r#"<Cube time="2026-11-21">"#, "<Cube>"), "a day without time"),
            (HIST.replace(r#"time="2026-11-21""#, r#"time="2026-11-24""#), "a day twice"),
            (HIST.replace(r#"currency="HRK""#, r#"currency="USD""#), "a currency twice in a day"),
            (HIST.replace(r#"rate="19.5432""#, "rate=19.5432"), "an unquoted value"),
            (HIST.replace(r#"rate="19.5432""#, r#"rate="19.5432"#), "an unclosed quote"),
            (HIST.replace(r#"<Cube currency="MXN" rate="19.5432"/>"#, r#"<Cube currency="MXN"/>"#), "no rate"),
            (HIST.replacen("<Cube>", "", 1), "rates outside a day"),
            (HIST.replace("</Cube></Cube></gesmes", "</Cube></Cube></Cube></gesmes"), "an extra </Cube>"),
            ("<html><body>Service unavailable</body></html>".to_string(), "an error page"),
            (String::new(), "nothing"),
            ("<Envelope><Cube></Cube></Envelope>".to_string(), "no day"),
            ("<Envelope><Cube><Cube time=\"2026-01-02\"".to_string(), "an unclosed tag"),
            ("<Envelope><Cube><Cube time=\"2026-01-02\"><</Cube></Cube></Envelope>".to_string(), "a stray <"),
        ];
        for (doc, what) in cases {
            assert!(parse(&doc).is_err(), "{what} must be refused");
        }
    }
}

//! Sandbox ECB: the European Central Bank's reference-rate files over real HTTP, with
//! deterministic rates, for `make dev` and the integration tests (`FX_PROVIDER_URL` points here).
//!
//! - `GET /stats/eurofxref/eurofxref-hist-90d.xml`: the business days of the 90 days up to
//!   "today", newest first, attributes in double quotes (as the ECB's history files);
//! - `GET /stats/eurofxref/eurofxref-daily.xml`: the latest business day, single quotes (as the
//!   ECB's daily file);
//! - rates ([`sandbox_ecb_rate`]): EUR → [`SANDBOX_ECB_CURRENCIES`], each its base value plus
//!   0.0010 × (day of year mod 10), 4 decimals; **no rate** on Saturdays, Sundays and the TARGET
//!   holidays Jan 1, May 1, Dec 25 and Dec 26 (the gaps a conversion bridges with its look-back);
//! - switches ([`SandboxEcbState`], or `POST /__sandbox/configure?fail_next=&down=&malformed_next=&today=`,
//!   `POST /__sandbox/reset`, `GET /__sandbox/state`): answer 503 to the next N requests or to all
//!   (`down=true`), answer a document cut short, and which day is "today".

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use http::{header, Method, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde_json::json;
use tokio::net::TcpListener;
use url::Url;

pub const HIST_90D_PATH: &str = "/stats/eurofxref/eurofxref-hist-90d.xml";
pub const DAILY_PATH: &str = "/stats/eurofxref/eurofxref-daily.xml";

/// The currencies the sandbox quotes (units per 1 EUR, before the daily step), 4 decimals.
pub const SANDBOX_ECB_CURRENCIES: &[(&str, &str)] = &[
    ("USD", "1.0800"),
    ("JPY", "160.0000"),
    ("GBP", "0.8500"),
    ("CHF", "0.9500"),
    ("SEK", "11.2000"),
    ("PLN", "4.3000"),
    ("CAD", "1.4700"),
    ("AUD", "1.6500"),
    ("BRL", "5.9000"),
    ("MXN", "19.5000"),
    ("CNY", "7.8000"),
    ("INR", "90.0000"),
    ("KRW", "1450.0000"),
    ("ZAR", "19.8000"),
];

/// Whether the ECB publishes on `day` (no weekends, no TARGET holidays of fixed date).
pub fn is_ecb_business_day(day: NaiveDate) -> bool {
    let holiday = matches!((day.month(), day.day()), (1, 1) | (5, 1) | (12, 25) | (12, 26));
    !holiday && !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// The sandbox's EUR → `currency` rate of `day` as the file shows it (`None`: not quoted or not
/// a business day).
pub fn sandbox_ecb_rate(currency: &str, day: NaiveDate) -> Option<String> {
    let base = SANDBOX_ECB_CURRENCIES.iter().find(|(c, _)| *c == currency)?.1;
    if !is_ecb_business_day(day) {
        return None;
    }
    let units: i64 = base.replace('.', "").parse().ok()?;
    let v = units + 10 * i64::from(day.ordinal() % 10);
    Some(format!("{}.{:04}", v / 10_000, v % 10_000))
}

#[derive(Debug, Default)]
pub struct SandboxEcbState {
    /// "Today" (`None` = the wall clock's UTC day).
    pub today: Option<NaiveDate>,
    /// The next N requests answer 503.
    pub fail_next: u32,
    /// Every request answers 503.
    pub down: bool,
    /// The next N documents are cut short (malformed).
    pub malformed_next: u32,
    /// File requests received (switches not counted).
    pub requests: u32,
}

impl SandboxEcbState {
    fn today(&self) -> NaiveDate {
        self.today.unwrap_or_else(|| chrono::Utc::now().date_naive())
    }
}

#[derive(Clone)]
pub struct SandboxEcb {
    pub url: Url,
    state: Arc<Mutex<SandboxEcbState>>,
}

impl std::fmt::Debug for SandboxEcb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxEcb").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

type Resp = Response<Full<Bytes>>;

fn lock(m: &Mutex<SandboxEcbState>) -> MutexGuard<'_, SandboxEcbState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    r
}

/// The document of `days` (newest first), attributes quoted with `q`.
pub fn ecb_document(days: &[NaiveDate], q: char) -> String {
    let mut doc = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<gesmes:Envelope xmlns:gesmes=\"http://www.gesmes.org/xml/2002-08-01\" \
         xmlns=\"http://www.ecb.int/vocabulary/2002-08-01/eurofxref\">\n\t<gesmes:subject>Reference rates</gesmes:subject>\n\
         \t<gesmes:Sender>\n\t\t<gesmes:name>European Central Bank</gesmes:name>\n\t</gesmes:Sender>\n\t<Cube>\n",
    );
    for day in days {
        doc.push_str(&format!("\t\t<Cube time={q}{day}{q}>\n"));
        for (c, _) in SANDBOX_ECB_CURRENCIES {
            if let Some(rate) = sandbox_ecb_rate(c, *day) {
                doc.push_str(&format!("\t\t\t<Cube currency={q}{c}{q} rate={q}{rate}{q}/>\n"));
            }
        }
        doc.push_str("\t\t</Cube>\n");
    }
    doc.push_str("\t</Cube>\n</gesmes:Envelope>\n");
    doc
}

impl SandboxEcb {
    /// Starts on `addr` (port 0 = any free port) in the background.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let url = Url::parse(&format!("http://{}", listener.local_addr()?)).map_err(std::io::Error::other)?;
        let sandbox = Self { url, state: Arc::new(Mutex::new(SandboxEcbState::default())) };
        let server = sandbox.clone();
        tokio::spawn(crate::http1::serve(listener, move |req| {
            let s = server.clone();
            async move { Ok::<_, std::convert::Infallible>(s.handle(&req)) }
        }));
        Ok(sandbox)
    }

    /// Reads or changes the switches.
    pub fn with<R>(&self, f: impl FnOnce(&mut SandboxEcbState) -> R) -> R {
        f(&mut lock(&self.state))
    }

    pub fn base_url(&self) -> String {
        self.url.as_str().trim_end_matches('/').to_string()
    }

    /// What `FX_PROVIDER_URL` is set to: the 90-day history.
    pub fn hist_90d_url(&self) -> String {
        format!("{}{HIST_90D_PATH}", self.base_url())
    }

    /// The business days the 90-day history serves now, oldest first.
    pub fn hist_days(&self) -> Vec<NaiveDate> {
        let today = lock(&self.state).today();
        (0..90).rev().map(|back| today - Duration::days(back)).filter(|d| is_ecb_business_day(*d)).collect()
    }

    fn handle(&self, req: &hyper::Request<Incoming>) -> Resp {
        let path = req.uri().path().to_string();
        if let Some(what) = path.strip_prefix("/__sandbox/") {
            let q: std::collections::HashMap<String, String> = req
                .uri()
                .query()
                .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default();
            return self.control(req.method(), what, &q);
        }
        let mut days = self.hist_days();
        let mut s = lock(&self.state);
        s.requests += 1;
        if s.down || s.fail_next > 0 {
            s.fail_next = s.fail_next.saturating_sub(1);
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/html",
                "<html><body>Service Unavailable</body></html>".into(),
            );
        }
        days.reverse(); // newest first, as the ECB lists them
        let doc = match (req.method(), path.as_str()) {
            (&Method::GET, HIST_90D_PATH) => ecb_document(&days, '"'),
            (&Method::GET, DAILY_PATH) => ecb_document(&days[..days.len().min(1)], '\''),
            _ => return answer(StatusCode::NOT_FOUND, "text/html", "<html><body>Not Found</body></html>".into()),
        };
        if s.malformed_next > 0 {
            s.malformed_next -= 1;
            return answer(StatusCode::OK, "text/xml", doc[..doc.len() / 2].to_string());
        }
        answer(StatusCode::OK, "text/xml", doc)
    }

    fn control(&self, method: &Method, what: &str, q: &std::collections::HashMap<String, String>) -> Resp {
        let mut s = lock(&self.state);
        match (method, what) {
            (&Method::POST, "reset") => *s = SandboxEcbState { today: s.today, ..SandboxEcbState::default() },
            (&Method::POST, "configure") => {
                let num = |k: &str| q.get(k).and_then(|v| v.parse::<u32>().ok());
                if let Some(n) = num("fail_next") {
                    s.fail_next = n;
                }
                if let Some(n) = num("malformed_next") {
                    s.malformed_next = n;
                }
                if let Some(v) = q.get("down") {
                    s.down = v == "true" || v == "1";
                }
                if let Some(d) = q.get("today").and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
                    s.today = Some(d);
                }
            }
            (&Method::GET, "state") => {}
            _ => {
                return answer(
                    StatusCode::NOT_FOUND,
                    "application/json",
                    json!({"error": "unknown sandbox control"}).to_string(),
                )
            }
        }
        let state = json!({
            "today": s.today(), "fail_next": s.fail_next, "down": s.down,
            "malformed_next": s.malformed_next, "requests": s.requests,
        });
        answer(StatusCode::OK, "application/json", state.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, m, d).expect("day")
    }

    #[test]
    fn rates_are_deterministic_with_weekend_and_holiday_gaps() {
        // 2026-11-24 is a Tuesday, day 328 of the year: 1.0800 + 0.0010 × 8.
        assert_eq!(sandbox_ecb_rate("USD", day(11, 24)).as_deref(), Some("1.0880"));
        assert_eq!(sandbox_ecb_rate("KRW", day(11, 24)).as_deref(), Some("1450.0080"));
        assert_eq!(sandbox_ecb_rate("USD", day(11, 21)), None, "Saturday");
        assert_eq!(sandbox_ecb_rate("USD", day(11, 22)), None, "Sunday");
        assert_eq!(sandbox_ecb_rate("USD", day(12, 25)), None, "Christmas");
        assert_eq!(sandbox_ecb_rate("ARS", day(11, 24)), None, "not quoted");
    }

    #[test]
    fn the_documents_read_back_through_the_products_parser() {
        let days = [day(11, 24), day(11, 23), day(11, 20)];
        for q in ['"', '\''] {
            let parsed = crm_shared::marketing::fx::ecb::parse(&ecb_document(&days, q)).expect("parsed");
            assert_eq!(parsed.days.len(), 3);
            assert_eq!(parsed.days[2].rates.len(), SANDBOX_ECB_CURRENCIES.len());
            assert!(parsed.skipped.is_empty());
        }
    }
}

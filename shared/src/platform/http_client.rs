//! The one outbound HTTP client of a process: reqwest over rustls on ring, HTTP/1.1 only.
//!
//! Meta, YCloud, the ECB and the AWS SDK (through `platform::sdk_http`) all use it, so a
//! binary links one HTTP stack and the system's trust roots are loaded once per cold start.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use crate::platform::config::ConfigError;

/// Time to open a TCP connection (and TLS) to any peer, AWS included.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Whole-request bound for callers that set none of their own (peers set theirs per request; the
/// SDK's calls are bounded by its attempt and operation timeouts).
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The process's reqwest client (its connection pool is reused across invocations).
///
/// A client that cannot be built fails the cold start with a clear error, never a silent fallback
/// to a client without timeouts. Per-request timeouts are set by each peer's client (e.g. the
/// Graph client in `meta`).
#[derive(Debug, Clone)]
pub struct HttpClient(reqwest::Client);

static SHARED: OnceLock<reqwest::Client> = OnceLock::new();

impl HttpClient {
    /// The process-wide client, built on first call (loads the system's trust roots).
    pub fn shared() -> Result<Self, ConfigError> {
        if let Some(client) = SHARED.get() {
            return Ok(HttpClient(client.clone()));
        }
        let built = Self::new()?;
        Ok(HttpClient(SHARED.get_or_init(|| built.0).clone()))
    }

    /// A new client with its own connection pool (most code wants [`HttpClient::shared`]).
    pub fn new() -> Result<Self, ConfigError> {
        install_crypto_provider();
        let builder = match system_ca_bundle() {
            Some(roots) => reqwest::Client::builder().tls_certs_only(roots),
            None => reqwest::Client::builder(),
        };
        builder
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(DEFAULT_REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map(HttpClient)
            .map_err(|e| ConfigError::new("outbound HTTP client", format!("could not be built: {e}")))
    }

    pub fn get(&self) -> &reqwest::Client {
        &self.0
    }
}

/// Why a peer's response body was not read ([`read_capped`]).
#[derive(Debug)]
pub enum BodyError {
    /// Longer than the cap (declared in `Content-Length` or counted while streaming).
    TooLarge { limit: usize },
    /// The connection failed or timed out mid-body.
    Read(reqwest::Error),
}

/// A peer's response body, at most `limit` bytes: a longer one is refused as soon as it is
/// known to be (by its `Content-Length`, else while streaming), so a peer can never make a
/// function buffer more than `limit`. Every peer client reads its bodies through this.
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Where Linux distributions keep the system's CA bundle (Amazon Linux, as on Lambda; Debian and
/// Ubuntu; SUSE; Alpine), after `SSL_CERT_FILE`.
const CA_BUNDLES: [&str; 4] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The trust roots from the first CA bundle file found. Without it reqwest's platform verifier
/// reads that bundle *and* every file of the certificates directory (~290 files on Debian), which
/// was most of a cold start's init. `None` (no readable, non-empty bundle): the platform verifier.
fn system_ca_bundle() -> Option<Vec<reqwest::Certificate>> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    ca_bundle(from_env.into_iter().chain(CA_BUNDLES.iter().map(PathBuf::from)))
}

/// The certificates of the first readable file of `paths` (`None` if it holds none).
fn ca_bundle(paths: impl IntoIterator<Item = PathBuf>) -> Option<Vec<reqwest::Certificate>> {
    let pem = paths.into_iter().find_map(|path| std::fs::read(path).ok())?;
    let roots: Vec<_> =
        pem_certificates(&pem).iter().filter_map(|der| reqwest::Certificate::from_der(der).ok()).collect();
    (!roots.is_empty()).then_some(roots)
}

const PEM_BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const PEM_END: &[u8] = b"-----END CERTIFICATE-----";

/// The DER of each `CERTIFICATE` block of a PEM bundle (RFC 7468), in order; other blocks, text
/// between blocks and blocks that are not valid base64 are skipped.
///
/// A CA bundle is public, so this decodes with the plain (fast) base64 engine: rustls' own PEM
/// reader is constant-time, as private keys need, and at `opt-level = "z"` it was ~9 M of a cold
/// start's ~12 M instructions (docs/BENCHMARKS.md). A unit test holds it to that reader.
pub(crate) fn pem_certificates(pem: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    use memchr::memmem::find;
    let mut out = Vec::new();
    let mut rest = pem;
    // Markers and line ends are found with memchr's vectorised search: a byte-at-a-time scan of
    // the ~220 KB bundle was ~1.7 M instructions at `opt-level = "z"`.
    while let Some(start) = find(rest, PEM_BEGIN) {
        let body = &rest[start + PEM_BEGIN.len()..];
        let Some(end) = find(body, PEM_END) else { break };
        let (block, mut text, mut from) = (&body[..end], Vec::with_capacity(end), 0);
        for to in memchr::memchr_iter(b'\n', block).chain([block.len()]) {
            text.extend_from_slice(block[from..to].trim_ascii());
            from = to + 1;
        }
        out.extend(base64::engine::general_purpose::STANDARD.decode(&text));
        rest = &body[end + PEM_END.len()..];
    }
    out
}

/// Installs [`crate::platform::tls::provider`] (ring) as rustls' process-wide crypto provider,
/// which reqwest (built with `rustls-no-provider`) uses. Idempotent; call before building any
/// `reqwest::Client`.
pub fn install_crypto_provider() {
    // Err only when a provider is already installed, which is the state we want.
    let _ = crate::platform::tls::provider().install_default();
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::{BufRead, BufReader, Write};

    use super::*;

    /// A one-shot local HTTP server answering `200` with `body`, declaring its length or sending
    /// it chunked; its base URL.
    pub(crate) fn serve_once(body: Vec<u8>, declare_length: bool) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let head = if declare_length {
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len())
            } else {
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".into()
            };
            let _ = stream.write_all(head.as_bytes());
            if declare_length {
                let _ = stream.write_all(&body);
            } else {
                for chunk in body.chunks(64 * 1024) {
                    let _ = stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes());
                    let _ = stream.write_all(chunk);
                    let _ = stream.write_all(b"\r\n");
                }
                let _ = stream.write_all(b"0\r\n\r\n");
            }
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_cap_and_refused_past_it() {
        install_crypto_provider();
        let http = reqwest::Client::new();
        for declare_length in [true, false] {
            let get = |body: Vec<u8>| {
                let url = serve_once(body, declare_length);
                let http = http.clone();
                async move { read_capped(http.get(url).send().await.expect("answer"), 1_000).await }
            };
            let at_cap = get(vec![b'x'; 1_000]).await.expect("1,000 bytes fit");
            assert_eq!(at_cap.len(), 1_000);
            let over = get(vec![b'x'; 1_001]).await;
            assert!(matches!(over, Err(BodyError::TooLarge { limit: 1_000 })), "{declare_length}: {over:?}");
            let far_over = get(vec![b'x'; 300_000]).await;
            assert!(matches!(far_over, Err(BodyError::TooLarge { .. })), "{declare_length}: {far_over:?}");
        }
    }

    /// PEM bundles decoded by rustls' own (constant-time) reader, the reference for ours.
    fn reference(pem: &[u8]) -> Vec<Vec<u8>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::CertificateDer;
        CertificateDer::pem_slice_iter(pem).filter_map(Result::ok).map(|c| c.to_vec()).collect()
    }

    #[test]
    fn pem_certificates_match_the_reference_reader() {
        // Known answer: "AQID" is the bytes 1, 2, 3; CRLF, indentation, comments (not UTF-8), other block
        // kinds and a block that is not base64 are handled as RFC 7468 readers do.
        let pem = b"# Issuer: Example\r\n-----BEGIN CERTIFICATE-----\r\nAQ\r\n ID\r\n-----END CERTIFICATE-----\r\n\
            -----BEGIN PRIVATE KEY-----\nBAUG\n-----END PRIVATE KEY-----\n\
            text between (\xe9t\xe9, not UTF-8)\n-----BEGIN CERTIFICATE-----\nBAUGBw==\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(pem), vec![vec![1, 2, 3], vec![4, 5, 6, 7]]);
        assert_eq!(pem_certificates(pem), reference(pem));
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\nAQID").is_empty(), "an unterminated block");
        // The machine's own bundle, where it has one at a known place: the same certificates.
        if let Some(system) = CA_BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file()) {
            let pem = std::fs::read(&system).expect("read");
            let ours = pem_certificates(&pem);
            assert!(ours.len() > 10, "{} certificates in {}", ours.len(), system.display());
            assert_eq!(ours, reference(&pem), "{}", system.display());
        }
    }

    #[test]
    fn the_first_readable_bundle_is_used_and_one_without_certificates_is_none() {
        let dir = std::env::temp_dir().join(format!("crm-ca-bundle-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let missing = dir.join("missing.pem");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").expect("write");
        assert!(ca_bundle([missing.clone(), empty.clone()]).is_none(), "a file without certificates");
        assert!(ca_bundle([missing.clone()]).is_none());
        // The machine's own bundle, where it has one at a known place.
        if let Some(system) = CA_BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file()) {
            let roots = ca_bundle([missing, system.clone()]).expect("the system bundle");
            assert!(roots.len() > 10, "{} roots in {}", roots.len(), system.display());
            install_crypto_provider();
            assert!(reqwest::Client::builder().tls_certs_only(roots).build().is_ok());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

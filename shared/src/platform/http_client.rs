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
    paths
        .into_iter()
        .find_map(|path| std::fs::read(path).ok())
        .and_then(|pem| reqwest::Certificate::from_pem_bundle(&pem).ok())
        .filter(|roots| !roots.is_empty())
}

/// Installs ring as rustls' process-wide crypto provider, which reqwest (built with
/// `rustls-no-provider`) uses. Idempotent; call before building any `reqwest::Client`.
pub fn install_crypto_provider() {
    // Err only when a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

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

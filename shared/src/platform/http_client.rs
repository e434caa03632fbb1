//! The one outbound HTTP client of a process: reqwest over rustls on ring, HTTP/1.1 only.
//!
//! Meta, YCloud, the ECB and the AWS SDK (through `platform::sdk_http`) all use it, so a
//! binary links one HTTP stack and the system's trust roots are loaded once per cold start.

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
        reqwest::Client::builder()
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

/// Installs ring as rustls' process-wide crypto provider, which reqwest (built with
/// `rustls-no-provider`) uses. Idempotent; call before building any `reqwest::Client`.
pub fn install_crypto_provider() {
    // Err only when a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

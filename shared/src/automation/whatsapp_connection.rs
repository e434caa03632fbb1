//! A tenant's WhatsApp connection (`PUT`/`GET`/`DELETE /crm/marketing/whatsapp`): its own YCloud
//! API key, sender number and WhatsApp Business Account (WABA).
//!
//! A `PUT` is verified against YCloud before anything is stored: the key must list the WABA's
//! numbers (`GET /v2/whatsapp/phoneNumbers?filter.wabaId=`) and the number must be among them —
//! a refused key or a number not in that WABA → 400 with why, YCloud down → 503, a number another
//! tenant connected → 409. Then the number is claimed in the number → tenant index (inbound
//! webhooks are routed by it), the key is encrypted with KMS under the tenant's context and only
//! its last 4 characters are kept in clear; the key is never answered or logged. A `DELETE`
//! removes the connection and releases the number.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::automation::ports::WhatsappPorts;
use crate::automation::stop_words;
use crate::automation::ycloud::{YcloudClient, YcloudError};
use crate::domain::hsm::Phone;
use crate::domain::ids::TenantId;
use crate::platform::crypto::CryptoError;
use crate::platform::error::{DomainError, Failure};
use crate::platform::secrets::SecretString;
use crate::store::whatsapp::{NumberOwner, WhatsappConnection};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("{0}")]
    Invalid(String),
    #[error("YCloud refused the API key (check it in YCloud's console → Developers → API keys)")]
    KeyRefused,
    #[error("{0}")]
    NotInAccount(String),
    #[error("this number is connected by another business")]
    NumberTaken,
    #[error("YCloud could not be reached to verify the connection; try again ({0})")]
    Unavailable(YcloudError),
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl DomainError for ConnectionError {
    fn failure(&self) -> Failure {
        match self {
            Self::Invalid(_) | Self::KeyRefused | Self::NotInAccount(_) => Failure::BadRequest,
            Self::NumberTaken => Failure::Conflict,
            Self::Unavailable(_) => Failure::Unavailable { retry_after_secs: Some(30) },
            Self::Crypto(_) => Failure::Internal,
            Self::Store(e) => e.failure(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_whatsapp_connection",
            Self::KeyRefused => "ycloud_key_refused",
            Self::NotInAccount(_) => "number_not_in_account",
            Self::NumberTaken => "number_taken",
            Self::Unavailable(_) => "ycloud_unavailable",
            Self::Crypto(_) => "internal_error",
            Self::Store(e) => e.code(),
        }
    }
}

/// The `PUT` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectInput {
    pub api_key: String,
    pub phone_number: String,
    pub waba_id: String,
    /// The tenant's stop words (absent or empty: the defaults).
    #[serde(default)]
    pub stop_words: Option<Vec<String>>,
    /// The signing secret of the webhook endpoint the tenant created in its YCloud account
    /// (pointing at `/crm/webhooks/ycloud`); absent: deliveries are checked with the platform's.
    #[serde(default)]
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for ConnectInput {
    // The key and the webhook secret are never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectInput").field("phone_number", &self.phone_number).finish_non_exhaustive()
    }
}

/// A connection as asked, checked.
struct Checked {
    key: SecretString,
    phone: Phone,
    waba: String,
    words: Vec<String>,
    webhook_secret: Option<SecretString>,
}

fn checked(input: ConnectInput) -> Result<Checked, ConnectionError> {
    let key = input.api_key.trim();
    if key.is_empty() || key.len() > 256 || !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ConnectionError::Invalid("api_key must be a YCloud API key (1–256 visible characters)".into()));
    }
    let phone = Phone::parse(&input.phone_number)
        .map_err(|_| ConnectionError::Invalid("phone_number must be E.164, e.g. +5491155550101".into()))?;
    let waba = input.waba_id.trim();
    if waba.is_empty() || waba.len() > 64 || !waba.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(ConnectionError::Invalid("waba_id must be a WhatsApp Business Account id".into()));
    }
    let words =
        stop_words::validate(input.stop_words.as_deref().unwrap_or_default()).map_err(ConnectionError::Invalid)?;
    let webhook_secret = match input.webhook_secret.as_deref().map(str::trim) {
        None => None,
        Some(s) if (8..=256).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic()) => {
            Some(SecretString::new(s))
        }
        Some(_) => {
            return Err(ConnectionError::Invalid("webhook_secret must be 8–256 visible characters".into()));
        }
    };
    Ok(Checked { key: SecretString::new(key), phone, waba: waba.to_string(), words, webhook_secret })
}

/// Checks with YCloud that `key` holds `phone` in `waba`.
async fn verify(
    ports: WhatsappPorts<'_>,
    key: &SecretString,
    phone: &Phone,
    waba: &str,
) -> Result<(), ConnectionError> {
    let client =
        YcloudClient::new(ports.http.get().clone(), ports.config.ycloud.base_url.clone(), key.clone(), phone.as_str());
    let numbers = client.phone_numbers(waba).await.map_err(|e| match e {
        YcloudError::Unauthorized => ConnectionError::KeyRefused,
        YcloudError::Transient { .. } | YcloudError::UnknownOutcome { .. } => ConnectionError::Unavailable(e),
        other => ConnectionError::NotInAccount(format!("YCloud refused the WABA {waba:?}: {other}")),
    })?;
    let held = numbers.iter().any(|n| n.waba_id == waba && Phone::parse(&n.phone_number).ok().as_ref() == Some(phone));
    if !held {
        return Err(ConnectionError::NotInAccount(format!(
            "{} is not a number of WhatsApp Business Account {waba:?} in this YCloud account",
            phone.masked()
        )));
    }
    Ok(())
}

/// `PUT`: verifies, claims the number, stores the connection; answers its view.
pub async fn connect(
    ports: WhatsappPorts<'_>,
    tenant: TenantId,
    by: &str,
    input: ConnectInput,
    now: DateTime<Utc>,
) -> Result<Value, ConnectionError> {
    let Checked { key, phone, waba, words, webhook_secret } = checked(input)?;
    verify(ports, &key, &phone, &waba).await?;
    // Encrypted before anything is written: a KMS failure leaves no claim behind.
    let ciphertext = ports.cipher.encrypt(tenant, &key).await?;
    let webhook_ciphertext = match &webhook_secret {
        Some(s) => Some(B64.encode(ports.cipher.encrypt(tenant, s).await?)),
        None => None,
    };
    let owner = NumberOwner { phone_number: phone.clone(), tenant_id: tenant, registered_at: now };
    if !ports.connections.claim_number(&owner).await? {
        return Err(ConnectionError::NumberTaken);
    }
    let last4: String = key.expose().chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let previous = ports.connections.whatsapp_connection(tenant).await?;
    let conn = WhatsappConnection {
        tenant_id: tenant,
        phone_number: phone.clone(),
        waba_id: waba,
        api_key_ciphertext_b64: B64.encode(ciphertext),
        api_key_last4: last4,
        verified_at: now,
        connected_by: by.to_string(),
        stop_words: words,
        webhook_secret_ciphertext_b64: webhook_ciphertext,
    };
    ports.connections.put_whatsapp_connection(&conn).await?;
    if let Some(old) = previous.filter(|p| p.phone_number != phone) {
        ports.connections.release_number(&old.phone_number, tenant).await?;
    }
    tracing::info!(tenant_id = tenant.0, number = %phone.masked(), "whatsapp connected");
    Ok(view(Some(&conn)))
}

/// `DELETE`: removes the connection and releases its number.
pub async fn disconnect(ports: WhatsappPorts<'_>, tenant: TenantId) -> Result<Value, ConnectionError> {
    if let Some(conn) = ports.connections.whatsapp_connection(tenant).await? {
        ports.connections.delete_whatsapp_connection(tenant).await?;
        ports.connections.release_number(&conn.phone_number, tenant).await?;
        tracing::info!(tenant_id = tenant.0, number = %conn.phone_number.masked(), "whatsapp disconnected");
    }
    Ok(view(None))
}

/// The answer of every method: never the key, only its last 4 characters.
pub fn view(conn: Option<&WhatsappConnection>) -> Value {
    match conn {
        None => json!({"connected": false, "status": "not_connected"}),
        Some(c) => {
            let words: Vec<String> = if c.stop_words.is_empty() {
                stop_words::DEFAULT_STOP_WORDS.iter().map(|w| w.to_string()).collect()
            } else {
                c.stop_words.clone()
            };
            json!({
                "connected": true,
                "status": "connected",
                "phone_number": c.phone_number.as_str(),
                "waba_id": c.waba_id,
                "api_key_masked": format!("••••{}", c.api_key_last4),
                "last_verified_at": c.verified_at,
                "connected_by": c.connected_by,
                "stop_words": words,
                "webhook_secret_set": c.webhook_secret_ciphertext_b64.is_some(),
            })
        }
    }
}

async fn decrypt(ports: WhatsappPorts<'_>, tenant: TenantId, b64: &str) -> Result<SecretString, CryptoError> {
    let ciphertext = B64.decode(b64).map_err(|_| CryptoError::Decrypt("ciphertext is not base64".into()))?;
    ports.cipher.decrypt(tenant, &ciphertext).await
}

/// The connection's API key, decrypted under its tenant's context.
pub async fn api_key(ports: WhatsappPorts<'_>, conn: &WhatsappConnection) -> Result<SecretString, CryptoError> {
    decrypt(ports, conn.tenant_id, &conn.api_key_ciphertext_b64).await
}

/// The connection's webhook signing secret, if the tenant set one.
pub async fn webhook_secret(
    ports: WhatsappPorts<'_>,
    conn: &WhatsappConnection,
) -> Result<Option<SecretString>, CryptoError> {
    match &conn.webhook_secret_ciphertext_b64 {
        Some(b64) => Ok(Some(decrypt(ports, conn.tenant_id, b64).await?)),
        None => Ok(None),
    }
}

/// The tenant's YCloud client (its key, number and WABA), if it connected WhatsApp.
pub async fn tenant_client(
    ports: WhatsappPorts<'_>,
    tenant: TenantId,
) -> Result<Option<YcloudClient>, ConnectionError> {
    let Some(conn) = ports.connections.whatsapp_connection(tenant).await? else {
        return Ok(None);
    };
    let key = api_key(ports, &conn).await?;
    let client = YcloudClient::new(
        ports.http.get().clone(),
        ports.config.ycloud.base_url.clone(),
        key,
        conn.phone_number.as_str(),
    )
    .for_waba(conn.waba_id.clone());
    Ok(Some(client))
}

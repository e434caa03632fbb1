//! Meta tokens under KMS (encryption context = tenant), HMAC signing and constant-time compares.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::ids::TenantId;
use crate::platform::secrets::SecretString;

/// Equal in constant time, also for different lengths (both sides are hashed first).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    bool::from(ha.as_slice().ct_eq(hb.as_slice()))
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Checks a raw HMAC-SHA256 signature in constant time.
pub fn verify_hmac_sha256(key: &[u8], data: &[u8], signature: &[u8]) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.verify_slice(signature).is_ok()
}

/// Checks a hex HMAC-SHA256 signature in constant time.
pub fn verify_hmac_sha256_hex(key: &[u8], data: &[u8], signature_hex: &str) -> bool {
    hex::decode(signature_hex.trim()).is_ok_and(|sig| verify_hmac_sha256(key, data, &sig))
}

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("token could not be encrypted: {0}")]
    Encrypt(String),
    /// Wrong tenant context, tampered or foreign ciphertext.
    #[error("token could not be decrypted: {0}")]
    Decrypt(String),
    #[error("KMS_KEY_ID is not configured for this function")]
    NoKey,
    /// The function does not declare KMS in its `WIRING` (`api::wiring`).
    #[error("KMS is not wired in this function (its crate's WIRING)")]
    Unwired,
}

/// Encrypts Meta access tokens so that only their own tenant's context decrypts them.
#[async_trait]
pub trait TokenCipher: Send + Sync {
    async fn encrypt(&self, tenant: TenantId, token: &SecretString) -> Result<Vec<u8>, CryptoError>;
    async fn decrypt(&self, tenant: TenantId, ciphertext: &[u8]) -> Result<SecretString, CryptoError>;
}

/// KMS `Encrypt`/`Decrypt` with `EncryptionContext = {"tenant_id": "<id>"}` (tokens are < 4 KiB,
/// so no envelope is needed).
#[derive(Debug, Clone)]
pub struct KmsTokenCipher {
    client: aws_sdk_kms::Client,
    key_id: Option<String>,
}

impl KmsTokenCipher {
    pub fn new(client: aws_sdk_kms::Client, key_id: Option<String>) -> Self {
        Self { client, key_id }
    }
}

const CONTEXT_KEY: &str = "tenant_id";

#[async_trait]
impl TokenCipher for KmsTokenCipher {
    async fn encrypt(&self, tenant: TenantId, token: &SecretString) -> Result<Vec<u8>, CryptoError> {
        let key = self.key_id.as_deref().ok_or(CryptoError::NoKey)?;
        let out = self
            .client
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(token.expose().as_bytes()))
            .encryption_context(CONTEXT_KEY, tenant.to_string())
            .send()
            .await
            .map_err(|e| CryptoError::Encrypt(aws_sdk_kms::error::DisplayErrorContext(e).to_string()))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| CryptoError::Encrypt("KMS returned no ciphertext".into()))
    }

    async fn decrypt(&self, tenant: TenantId, ciphertext: &[u8]) -> Result<SecretString, CryptoError> {
        let mut req = self
            .client
            .decrypt()
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context(CONTEXT_KEY, tenant.to_string());
        // Pin the key when known, so a ciphertext under another key is refused too.
        if let Some(key) = &self.key_id {
            req = req.key_id(key);
        }
        let out = req
            .send()
            .await
            .map_err(|e| CryptoError::Decrypt(aws_sdk_kms::error::DisplayErrorContext(e).to_string()))?;
        let plain = out
            .plaintext
            .map(Blob::into_inner)
            .ok_or_else(|| CryptoError::Decrypt("KMS returned no plaintext".into()))?;
        String::from_utf8(plain)
            .map(SecretString::new)
            .map_err(|_| CryptoError::Decrypt("plaintext is not UTF-8".into()))
    }
}

/// A stand-in cipher for unit tests: binds the tenant into the "ciphertext" and refuses others.
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default, Clone)]
pub struct FakeTokenCipher;

#[cfg(any(test, feature = "test-support"))]
#[async_trait]
impl TokenCipher for FakeTokenCipher {
    async fn encrypt(&self, tenant: TenantId, token: &SecretString) -> Result<Vec<u8>, CryptoError> {
        let mut out = format!("fake:{tenant}:").into_bytes();
        out.extend(token.expose().bytes().rev());
        Ok(out)
    }
    async fn decrypt(&self, tenant: TenantId, ciphertext: &[u8]) -> Result<SecretString, CryptoError> {
        let prefix = format!("fake:{tenant}:");
        let rest =
            ciphertext.strip_prefix(prefix.as_bytes()).ok_or_else(|| CryptoError::Decrypt("wrong tenant".into()))?;
        Ok(SecretString::new(String::from_utf8_lossy(rest).chars().rev().collect::<String>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_handles_lengths() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn hmac_hex_roundtrip_and_forgery() {
        let sig = hex::encode(hmac_sha256(b"k", b"body"));
        assert!(verify_hmac_sha256_hex(b"k", b"body", &sig));
        assert!(!verify_hmac_sha256_hex(b"k", b"body!", &sig));
        assert!(!verify_hmac_sha256_hex(b"other", b"body", &sig));
        assert!(!verify_hmac_sha256_hex(b"k", b"body", "zz"));
        assert!(verify_hmac_sha256(b"k", b"body", &hmac_sha256(b"k", b"body")));
        assert!(!verify_hmac_sha256(b"k", b"body", &hmac_sha256(b"k", b"body")[..31]));
    }

    #[tokio::test]
    async fn fake_cipher_binds_tenant() {
        let c = FakeTokenCipher;
        let ct = c.encrypt(TenantId(1), &SecretString::new("tok")).await.expect("enc");
        assert_eq!(c.decrypt(TenantId(1), &ct).await.expect("dec").expose(), "tok");
        assert!(c.decrypt(TenantId(2), &ct).await.is_err());
    }
}

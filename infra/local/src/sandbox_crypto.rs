//! The sandboxes' own signatures, written from the peers' public docs on the `hmac`/`sha2` crates
//! rather than borrowed from the product: a wrong format on the product side then fails against
//! the sandbox instead of passing on both sides. Each format is pinned by a known-answer vector
//! computed outside Rust (Python's `hmac`, `openssl dgst -sha256 -hmac`); the product holds the
//! same vectors (`shared/tests/signature_vectors.rs`).
//!
//! - Meta webhooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`;
//! - Meta Graph calls: `appsecret_proof = hex HMAC-SHA256(key = app secret, message = access token)`;
//! - YCloud webhooks: `YCloud-Signature: t=<unix seconds>,s=<hex HMAC-SHA256(webhook secret,
//!   "{t}.{raw body}")>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Lower-case hex HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else { unreachable!("HMAC accepts any key length") };
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Meta's `X-Hub-Signature-256` header value for a webhook delivery's raw body.
pub fn meta_webhook_signature(app_secret: &str, raw_body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256_hex(app_secret.as_bytes(), raw_body))
}

/// Meta's `appsecret_proof` of an access token.
pub fn meta_appsecret_proof(app_secret: &str, access_token: &str) -> String {
    hmac_sha256_hex(app_secret.as_bytes(), access_token.as_bytes())
}

/// YCloud's `YCloud-Signature` header value for a raw body sent at `t` (unix seconds).
pub fn ycloud_signature(secret: &str, t: i64, raw_body: &[u8]) -> String {
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(raw_body);
    format!("t={t},s={}", hmac_sha256_hex(secret.as_bytes(), &signed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors below were computed with Python 3:
    /// `hmac.new(key.encode(), msg.encode(), hashlib.sha256).hexdigest()`.
    const META_SECRET: &str = "sandbox-app-secret-kat";
    const META_BODY: &str = r#"{"object":"page","entry":[{"id":"1080000000000001","time":1764000000,"changes":[{"field":"leadgen","value":{"leadgen_id":"1100000000000101","page_id":"1080000000000001"}}]}]}"#;

    #[test]
    fn hmac_sha256_matches_rfc_4231_test_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn meta_webhook_signature_known_answer() {
        assert_eq!(
            meta_webhook_signature(META_SECRET, META_BODY.as_bytes()),
            "sha256=3dc463ab761b59dc8b2bc9b788a197423194cd5ca9d094996801db6c9aa48b52"
        );
    }

    #[test]
    fn meta_appsecret_proof_known_answer() {
        assert_eq!(
            meta_appsecret_proof(META_SECRET, "EAAB-kat-user-token"),
            "f6ac460bb0ec001c5ba856522c3d6c556bd4f8d872cfefc973df1321f2e50c01"
        );
    }

    #[test]
    fn ycloud_signature_known_answer() {
        // Also `printf '1764000000.%s' "$body" | openssl dgst -sha256 -hmac whsec_kat_ycloud`.
        assert_eq!(
            ycloud_signature(
                "whsec_kat_ycloud",
                1_764_000_000,
                br#"{"id":"evt_kat_1","type":"whatsapp.message.updated"}"#
            ),
            "t=1764000000,s=f04be6d6f1e1eafc11027203133cdeeccf874d85fc8205fd811ec0597ca034c3"
        );
        assert_eq!(
            crate::sandbox_ycloud::sign(
                "whsec_kat_ycloud",
                1_764_000_000,
                br#"{"id":"evt_kat_1","type":"whatsapp.message.updated"}"#
            ),
            "t=1764000000,s=f04be6d6f1e1eafc11027203133cdeeccf874d85fc8205fd811ec0597ca034c3"
        );
    }

    #[tokio::test]
    async fn sandbox_meta_signs_deliveries_with_the_documented_format() {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let meta = crate::sandbox_meta::SandboxMeta::start(addr, "1234567890", META_SECRET).await.expect("sandbox");
        assert_eq!(
            meta.sign_webhook(META_BODY.as_bytes()),
            "sha256=3dc463ab761b59dc8b2bc9b788a197423194cd5ca9d094996801db6c9aa48b52"
        );
    }
}

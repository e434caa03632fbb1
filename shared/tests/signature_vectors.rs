//! Known-answer vectors for the signatures the product checks and makes, computed outside Rust
//! (Python 3: `hmac.new(key.encode(), msg.encode(), hashlib.sha256).hexdigest()`; the YCloud one
//! also with `openssl dgst -sha256 -hmac`). The sandboxes hold the same vectors against their own
//! implementation (`infra/local/src/sandbox_crypto.rs`), so a wrong format on either side fails.

use chrono::{TimeZone, Utc};
use crm_shared::automation::webhook as ycloud;
use crm_shared::meta::graph::appsecret_proof;
use crm_shared::meta::leadgen::{self, WebhookError};
use crm_shared::platform::secrets::SecretString;

const META_SECRET: &str = "sandbox-app-secret-kat";
const META_BODY: &str = r#"{"object":"page","entry":[{"id":"1080000000000001","time":1764000000,"changes":[{"field":"leadgen","value":{"leadgen_id":"1100000000000101","page_id":"1080000000000001"}}]}]}"#;
const META_SIGNATURE: &str = "sha256=3dc463ab761b59dc8b2bc9b788a197423194cd5ca9d094996801db6c9aa48b52";

const YCLOUD_SECRET: &str = "whsec_kat_ycloud";
const YCLOUD_T: i64 = 1_764_000_000;
const YCLOUD_BODY: &str = r#"{"id":"evt_kat_1","type":"whatsapp.message.updated"}"#;
const YCLOUD_SIGNATURE: &str = "t=1764000000,s=f04be6d6f1e1eafc11027203133cdeeccf874d85fc8205fd811ec0597ca034c3";

#[test]
fn meta_webhook_signature_known_answer() {
    let secret = SecretString::new(META_SECRET);
    assert_eq!(leadgen::sign(META_SECRET, META_BODY.as_bytes()), META_SIGNATURE);
    assert!(leadgen::verify_signature(&secret, META_BODY.as_bytes(), Some(META_SIGNATURE)).is_ok());
    // One flipped hex digit, the bare hex without `sha256=`, or a changed body: refused.
    let flipped = META_SIGNATURE.replace("sha256=3d", "sha256=3e");
    assert!(matches!(
        leadgen::verify_signature(&secret, META_BODY.as_bytes(), Some(&flipped)),
        Err(WebhookError::InvalidSignature)
    ));
    let bare = META_SIGNATURE.trim_start_matches("sha256=");
    assert!(matches!(
        leadgen::verify_signature(&secret, META_BODY.as_bytes(), Some(bare)),
        Err(WebhookError::InvalidSignature)
    ));
    assert!(matches!(
        leadgen::verify_signature(&secret, META_BODY.replace("101", "102").as_bytes(), Some(META_SIGNATURE)),
        Err(WebhookError::InvalidSignature)
    ));
}

#[test]
fn meta_appsecret_proof_known_answer() {
    let proof = appsecret_proof(&SecretString::new(META_SECRET), &SecretString::new("EAAB-kat-user-token"));
    assert_eq!(proof, "f6ac460bb0ec001c5ba856522c3d6c556bd4f8d872cfefc973df1321f2e50c01");
}

#[test]
fn ycloud_webhook_signature_known_answer() {
    let now = Utc.timestamp_opt(YCLOUD_T + 60, 0).single().unwrap_or_default();
    let body = YCLOUD_BODY.as_bytes();
    assert!(ycloud::verify_signature(YCLOUD_SECRET, Some(YCLOUD_SIGNATURE), body, now).is_ok());
    // HMAC of the body alone (no `"{t}."` prefix), computed the same way: refused.
    let body_only = "t=1764000000,s=6ff60078b22db8a8312c63c6e9b9c2094b6e264430bc9e71b34912844a9ffc81";
    assert!(matches!(
        ycloud::verify_signature(YCLOUD_SECRET, Some(body_only), body, now),
        Err(ycloud::WebhookError::BadSignature)
    ));
    // The same signature with another timestamp: refused (the timestamp is signed).
    let moved = YCLOUD_SIGNATURE.replace("t=1764000000", "t=1764000001");
    assert!(matches!(
        ycloud::verify_signature(YCLOUD_SECRET, Some(&moved), body, now),
        Err(ycloud::WebhookError::BadSignature)
    ));
}

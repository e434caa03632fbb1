//! The crypto `jsonwebtoken` runs on here: HS256 only, on the `hmac`/`sha2` crates we already
//! link. The crate's own `rust_crypto` backend dispatches on the token's algorithm at run time, so
//! it links RSA, ECDSA (P-256, P-384) and EdDSA verification into every binary whether or not a
//! key of that kind can exist: measured +0.43 MB per function. Every other algorithm is refused
//! here with `InvalidAlgorithm` (the validation pins HS256 anyway).

use std::sync::Once;

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::signature::{Error as SignatureError, Signer, Verifier};
use jsonwebtoken::Algorithm;
use sha2::Sha256;

/// An HMAC-SHA256 key, as signer and verifier.
struct Hs256(Hmac<Sha256>);

impl Hs256 {
    fn new(algorithm: &Algorithm, key: &[u8]) -> Result<Self> {
        if *algorithm != Algorithm::HS256 {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        Hmac::new_from_slice(key).map(Self).map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn mac(&self, msg: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(msg);
        mac
    }
}

impl Signer<Vec<u8>> for Hs256 {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, SignatureError> {
        Ok(self.mac(msg).finalize().into_bytes().to_vec())
    }
}

impl JwtSigner for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl Verifier<Vec<u8>> for Hs256 {
    /// Constant time (`Mac::verify_slice`).
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), SignatureError> {
        self.mac(msg).verify_slice(signature).map_err(|_| SignatureError::new())
    }
}

impl JwtVerifier for Hs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: |alg, key| Ok(Box::new(Hs256::new(alg, key.as_bytes())?)),
    verifier_factory: |alg, key| Ok(Box::new(Hs256::new(alg, key.try_get_as_bytes()?)?)),
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes [`PROVIDER`] the process's `jsonwebtoken` crypto (idempotent; called before every use).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Only this module installs one; a second install cannot happen.
        let _ = PROVIDER.install_default();
    });
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{decode, encode, DecodingKey, EncodingKey, Header, Validation};
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn hs256_signs_and_verifies_and_other_algorithms_are_refused() {
        install();
        let key = b"a-key-of-at-least-thirty-two-bytes!!";
        let claims = json!({"sub": "u1"});
        let token = encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(key)).expect("sign");
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        let read = decode::<Value>(&token, &DecodingKey::from_secret(key), &v).expect("verify");
        assert_eq!(read.claims, claims);
        let other = decode::<Value>(&token, &DecodingKey::from_secret(b"another-key-of-thirty-two-bytes!!!!"), &v);
        assert_eq!(other.map_err(|e| e.into_kind()).err(), Some(ErrorKind::InvalidSignature));
        let hs512 = encode(&Header::new(Algorithm::HS512), &claims, &EncodingKey::from_secret(key));
        assert_eq!(hs512.map_err(|e| e.into_kind()).err(), Some(ErrorKind::InvalidAlgorithm));
    }
}

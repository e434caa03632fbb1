//! Which AWS clients a function builds beyond DynamoDB and Secrets Manager, declared next to its
//! `SECRETS`: `pub const WIRING: Wiring` — KMS for the token cipher, EventBridge for the job bus.
//!
//! Its `main.rs` passes the declaration as a const generic (`App::from_env::<{ WIRING.bits() }>`),
//! so each bootstrap instantiates `App::wired` (`api::app`) for its own wiring only: a
//! client it does not declare is never constructed, and LTO drops its SDK code and adapter. Its
//! port is then [`Unwired`], which answers every call with an error naming the client (logged;
//! a 500 through the error mapping) — never a silent fallback. The local server and the tests give
//! each function its declared wiring too (`App::restricted`), and the drift test
//! (`infra/local/src/template/wiring.rs`) holds each declaration to the function's IAM statements
//! (`kms:*` ⇔ `kms`, `events:PutEvents` ⇔ `bus`).

use async_trait::async_trait;

use crate::domain::ids::TenantId;
use crate::platform::crypto::{CryptoError, TokenCipher};
use crate::platform::secrets::SecretString;
use crate::store::job_bus::{JobBus, JobEvent};
use crate::store::StoreError;

/// The optional clients a function builds (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wiring {
    /// KMS: the token cipher (Meta tokens, Page tokens, YCloud keys).
    pub kms: bool,
    /// EventBridge: the job bus (`events:PutEvents`).
    pub bus: bool,
}

impl Wiring {
    /// Neither client.
    pub const NONE: Self = Self { kms: false, bus: false };
    /// Every client: the local stack, tests and benches.
    pub const ALL: Self = Self { kms: true, bus: true };

    /// The declaration as a const generic argument.
    pub const fn bits(self) -> u8 {
        (self.kms as u8) | ((self.bus as u8) << 1)
    }

    pub const fn from_bits(bits: u8) -> Self {
        Self { kms: bits & 1 != 0, bus: bits & 2 != 0 }
    }
}

/// The port of a client the function does not wire: every call fails, logged, naming it.
#[derive(Debug, Clone, Copy)]
pub struct Unwired;

fn refused(client: &'static str) {
    tracing::error!(client, "called a client this function does not wire (its crate's WIRING)");
}

#[async_trait]
impl TokenCipher for Unwired {
    async fn encrypt(&self, _: TenantId, _: &SecretString) -> Result<Vec<u8>, CryptoError> {
        refused("KMS");
        Err(CryptoError::Unwired)
    }

    async fn decrypt(&self, _: TenantId, _: &[u8]) -> Result<SecretString, CryptoError> {
        refused("KMS");
        Err(CryptoError::Unwired)
    }
}

#[async_trait]
impl JobBus for Unwired {
    async fn put_events(&self, _: &[JobEvent]) -> Result<Vec<usize>, StoreError> {
        refused("EventBridge");
        Err(StoreError::Unwired("EventBridge (the job bus)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::error::{DomainError, Failure};

    #[test]
    fn the_bits_carry_each_client() {
        for w in [Wiring::NONE, Wiring::ALL, Wiring { kms: true, bus: false }, Wiring { kms: false, bus: true }] {
            assert_eq!(Wiring::from_bits(w.bits()), w);
        }
        assert_eq!((Wiring::NONE.bits(), Wiring { kms: true, bus: false }.bits(), Wiring::ALL.bits()), (0, 1, 3));
    }

    #[tokio::test]
    async fn an_unwired_client_fails_naming_itself_as_an_internal_error() {
        let err = Unwired.decrypt(TenantId(1), b"x").await.expect_err("refused");
        assert!(err.to_string().contains("KMS is not wired"), "{err}");
        assert!(Unwired.encrypt(TenantId(1), &SecretString::new("t")).await.is_err());
        let err = Unwired.put_events(&[]).await.expect_err("refused");
        assert!(err.to_string().contains("EventBridge (the job bus) is not wired"), "{err}");
        assert_eq!((err.failure(), err.code()), (Failure::Internal, "internal_error"));
    }

    /// A function restricted to a wiring without KMS opens no stored token: the flow fails naming
    /// KMS (a 500), where the same App with KMS wired reads the token.
    #[tokio::test]
    async fn a_restricted_app_gets_unwired_ports_for_what_it_does_not_declare() {
        use crate::meta::access::stored_token;
        use crate::meta::error::MetaFlowError;
        use base64::Engine;

        let (app, mem) = crate::testing::unit_app(&[]);
        let sealed = app.cipher.encrypt(TenantId(7), &SecretString::new("tok")).await.expect("sealed");
        let conn = crate::store::MetaConnection {
            token_ciphertext_b64: base64::engine::general_purpose::STANDARD.encode(sealed),
            ..crate::testing::active_connection(TenantId(7), crate::testing::unit_now())
        };
        let wired = app.restricted(&[], Wiring { kms: true, bus: false });
        assert_eq!(stored_token((&wired).into(), &conn).await.expect("opened").expose(), "tok");
        let unwired = app.restricted(&[], Wiring { kms: false, bus: true });
        let err = stored_token((&unwired).into(), &conn).await.expect_err("no KMS");
        assert!(matches!(err, MetaFlowError::Crypto(CryptoError::Unwired)), "{err:?}");
        assert_eq!(err.failure(), Failure::Internal);
        unwired.job_bus.put_events(&[]).await.expect("the bus stays wired");
        let no_bus = wired.job_bus.put_events(&[]).await.expect_err("no bus");
        assert!(matches!(no_bus, StoreError::Unwired(_)));
        assert!(mem.job_bus.published().is_empty());
    }
}

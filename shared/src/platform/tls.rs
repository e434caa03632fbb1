//! The TLS crypto of every outbound connection (AWS, Meta, YCloud, the ECB): rustls on *ring*,
//! with only what those peers need.
//!
//! rustls' `ring::default_provider()` also offers ChaCha20-Poly1305 and X25519, and verifies
//! Ed25519 certificates. Every peer we call negotiates AES-GCM with ECDHE on P-256 (the suites and
//! group TLS 1.3 makes mandatory, RFC 8446 §9.1, and what TLS 1.2 servers offer), and no public CA
//! issues Ed25519 certificates; linking the others cost every bootstrap ~60 KB. What stays:
//! - suites: TLS 1.3 AES-128/256-GCM; TLS 1.2 ECDHE-ECDSA and ECDHE-RSA with AES-128/256-GCM;
//! - key exchange: P-256, P-384;
//! - certificate signatures: ECDSA (P-256, P-384) and RSA (PKCS#1 v1.5, PSS), as webpki checks them.

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::{CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, WebPkiSupportedAlgorithms};
use rustls::pki_types::PrivateKeyDer;
use rustls::sign::SigningKey;
use rustls::SignatureScheme;
use webpki::ring as algs;

/// The process's TLS crypto (see the module docs).
pub fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURES,
        secure_random: &Ring,
        key_provider: &Ring,
    }
}

/// Certificate and handshake signatures, by TLS scheme (for TLS 1.2 the curve is not fixed by
/// the scheme, so each ECDSA scheme accepts both curves).
static SIGNATURES: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        algs::ECDSA_P256_SHA256,
        algs::ECDSA_P256_SHA384,
        algs::ECDSA_P384_SHA256,
        algs::ECDSA_P384_SHA384,
        algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
        algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
        algs::RSA_PKCS1_2048_8192_SHA256,
        algs::RSA_PKCS1_2048_8192_SHA384,
        algs::RSA_PKCS1_2048_8192_SHA512,
        algs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
        algs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
        algs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    ],
    mapping: &[
        (SignatureScheme::ECDSA_NISTP384_SHA384, &[algs::ECDSA_P384_SHA384, algs::ECDSA_P256_SHA384]),
        (SignatureScheme::ECDSA_NISTP256_SHA256, &[algs::ECDSA_P256_SHA256, algs::ECDSA_P384_SHA256]),
        (SignatureScheme::RSA_PSS_SHA512, &[algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA384, &[algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY]),
        (SignatureScheme::RSA_PSS_SHA256, &[algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[algs::RSA_PKCS1_2048_8192_SHA512]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[algs::RSA_PKCS1_2048_8192_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[algs::RSA_PKCS1_2048_8192_SHA256]),
    ],
};

/// *ring*'s system randomness; no private keys (we never present a client certificate).
#[derive(Debug)]
struct Ring;

impl SecureRandom for Ring {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        use ring::rand::SecureRandom as _;
        ring::rand::SystemRandom::new().fill(buf).map_err(|_| GetRandomFailed)
    }
}

impl KeyProvider for Ring {
    fn load_private_key(&self, _key: PrivateKeyDer<'static>) -> Result<std::sync::Arc<dyn SigningKey>, rustls::Error> {
        Err(rustls::Error::General("this process presents no client certificate".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use rustls::{ClientConfig, ClientConnection, ProtocolVersion, RootCertStore, ServerConfig, ServerConnection};

    use super::*;

    const CA: &[u8] = include_bytes!("tls_fixtures/ca.pem");
    const CERT: &[u8] = include_bytes!("tls_fixtures/localhost.pem");
    const KEY: &[u8] = include_bytes!("tls_fixtures/localhost.key");

    /// A one-connection TLS server on loopback with the test certificate and `server`'s crypto,
    /// echoing one line; its port.
    fn serve_once(server: CryptoProvider, versions: &[&'static rustls::SupportedProtocolVersion]) -> u16 {
        let cert = CertificateDer::from_pem_slice(CERT).expect("cert");
        let key = PrivateKeyDer::from_pem_slice(KEY).expect("key");
        let config = ServerConfig::builder_with_provider(Arc::new(server))
            .with_protocol_versions(versions)
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("server config");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            let Ok((mut tcp, _)) = listener.accept() else { return };
            let mut conn = ServerConnection::new(Arc::new(config)).expect("server conn");
            let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
            let mut buf = [0u8; 5];
            if tls.read_exact(&mut buf).is_ok() {
                let _ = tls.write_all(&buf);
            }
        });
        port
    }

    /// Connects with [`provider`], trusting the test CA; the negotiated (version, suite).
    fn connect(port: u16) -> Result<(ProtocolVersion, rustls::CipherSuite), String> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(CA).expect("ca")).expect("root");
        let config = ClientConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").expect("name");
        let mut conn = ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        tls.write_all(b"hello").map_err(|e| e.to_string())?;
        let mut echoed = [0u8; 5];
        tls.read_exact(&mut echoed).map_err(|e| e.to_string())?;
        assert_eq!(&echoed, b"hello");
        let version = conn.protocol_version().ok_or("no version")?;
        let suite = conn.negotiated_cipher_suite().ok_or("no suite")?.suite();
        Ok((version, suite))
    }

    #[test]
    fn handshakes_over_tls_1_3_and_1_2_with_aes_gcm_and_p256() {
        let peer = rustls::crypto::ring::default_provider();
        let tls13 = connect(serve_once(peer.clone(), &[&rustls::version::TLS13])).expect("TLS 1.3");
        assert_eq!(tls13, (ProtocolVersion::TLSv1_3, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256));
        let tls12 = connect(serve_once(peer, &[&rustls::version::TLS12])).expect("TLS 1.2");
        assert_eq!(tls12, (ProtocolVersion::TLSv1_2, rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256));
    }

    #[test]
    fn a_peer_offering_only_what_was_left_out_is_refused() {
        let only = |suites, kx: Vec<&'static dyn rustls::crypto::SupportedKxGroup>| CryptoProvider {
            cipher_suites: suites,
            kx_groups: kx,
            ..rustls::crypto::ring::default_provider()
        };
        let chacha = only(vec![cipher_suite::TLS13_CHACHA20_POLY1305_SHA256], vec![kx_group::SECP256R1]);
        assert!(connect(serve_once(chacha, &[&rustls::version::TLS13])).is_err(), "ChaCha20 only");
        let x25519 = only(vec![cipher_suite::TLS13_AES_128_GCM_SHA256], vec![kx_group::X25519]);
        assert!(connect(serve_once(x25519, &[&rustls::version::TLS13])).is_err(), "X25519 only");
    }

    #[test]
    fn no_client_key_is_ever_loaded() {
        let key = PrivateKeyDer::from_pem_slice(KEY).expect("key");
        assert!(provider().key_provider.load_private_key(key).is_err());
        let mut buf = [0u8; 32];
        provider().secure_random.fill(&mut buf).expect("random");
        assert_ne!(buf, [0u8; 32]);
    }
}

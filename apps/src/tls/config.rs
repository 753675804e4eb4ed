//! The TLS settings both ends use: rustls with the ring provider, TLS 1.3 only, the SHA-256
//! cipher suites (so every transcript hash a signer sees is 32 bytes), no resumption, no
//! tickets: every connection is a full handshake with a signature.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::key::KeyType;
use super::signer::{certified_key, Signer};

/// The provider: ring, with only the SHA-256 TLS 1.3 suites.
pub fn provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites = vec![
        rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
        rustls::crypto::ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(p)
}

#[derive(Debug)]
struct OneCert(Arc<CertifiedKey>);

impl ResolvesServerCert for OneCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The server's configuration: `cert`, with signatures from `signer` (a key of `key_type`).
pub fn server_config(
    cert: CertificateDer<'static>,
    signer: Arc<dyn Signer>,
    key_type: KeyType,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(OneCert(certified_key(cert, signer, key_type))));
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

//! rustls's signing hook: a `SigningKey` whose signatures come from a key home.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;
use rustls::{SignatureAlgorithm, SignatureScheme};

use super::{policy, Signer};
use crate::tls::key::KeyType;

/// The serving side's stand-in for the private key: it holds no key, only the way to a signer.
#[derive(Debug, Clone)]
pub struct HomeKey {
    signer: Arc<dyn Signer>,
    key_type: KeyType,
}

impl HomeKey {
    /// A hook that asks `signer`, whose key is of `key_type`.
    pub fn new(signer: Arc<dyn Signer>, key_type: KeyType) -> HomeKey {
        HomeKey { signer, key_type }
    }
}

impl rustls::sign::SigningKey for HomeKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        let scheme = self.key_type.scheme();
        offered.contains(&scheme).then(|| {
            Box::new(HomeSigner {
                signer: self.signer.clone(),
                scheme,
            }) as Box<dyn rustls::sign::Signer>
        })
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.key_type {
            KeyType::Rsa2048 => SignatureAlgorithm::RSA,
            KeyType::P256 => SignatureAlgorithm::ECDSA,
        }
    }
}

#[derive(Debug)]
struct HomeSigner {
    signer: Arc<dyn Signer>,
    scheme: SignatureScheme,
}

impl rustls::sign::Signer for HomeSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let hash = policy::transcript_hash(message).ok_or_else(|| {
            rustls::Error::General(
                "asked to sign something other than a TLS 1.3 server CertificateVerify".into(),
            )
        })?;
        self.signer
            .sign_hash(hash)
            .map_err(|e| rustls::Error::General(e.to_string()))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// The certificate with the hook as its key, for a server's certificate resolver.
pub fn certified_key(
    cert: CertificateDer<'static>,
    signer: Arc<dyn Signer>,
    key_type: KeyType,
) -> Arc<CertifiedKey> {
    Arc::new(CertifiedKey::new(
        vec![cert],
        Arc::new(HomeKey::new(signer, key_type)),
    ))
}

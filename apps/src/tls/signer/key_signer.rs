//! The signing itself, as it runs inside a signer (or in the serving context for the
//! `in-process` home): the parsed key and [`policy`](super::policy)'s rules.

use super::policy;
use super::SignError;
use crate::tls::key::{KeyType, SecretKey};

/// A parsed private key that signs transcript hashes.
#[derive(Debug)]
pub struct KeySigner {
    signer: Box<dyn rustls::sign::Signer>,
}

impl KeySigner {
    /// Parses `key` (which must be of `key_type`) with ring.
    pub fn new(key: &SecretKey, key_type: KeyType) -> Result<KeySigner, SignError> {
        let parsed = rustls::crypto::ring::sign::any_supported_type(&key.der())
            .map_err(|e| SignError::Key(e.to_string()))?;
        let signer = parsed.choose_scheme(&[key_type.scheme()]).ok_or_else(|| {
            SignError::Key(format!(
                "the key cannot sign with {:?} (is it a {} key?)",
                key_type.scheme(),
                key_type.name()
            ))
        })?;
        Ok(KeySigner { signer })
    }

    /// Signs the server CertificateVerify content for `hash`, or refuses a `hash` of the wrong
    /// length.
    pub fn sign_hash(&self, hash: &[u8]) -> Result<Vec<u8>, SignError> {
        policy::check_hash(hash).map_err(SignError::Refused)?;
        self.signer
            .sign(&policy::certificate_verify_content(hash))
            .map_err(|e| SignError::Failed(e.to_string()))
    }
}

//! The `in-process` home: the key parsed in the serving context, as every ordinary server has
//! it.

use super::{KeySigner, SignError, Signer};
use crate::tls::key::{KeyType, SecretKey};

/// The key and its parsed form, both in this process.
#[derive(Debug)]
pub struct InProcess {
    signer: KeySigner,
    /// The key document, kept on the heap as an ordinary server keeps the key it loaded.
    _document: Vec<u8>,
}

impl InProcess {
    /// Parses `key` here.
    pub fn new(key: SecretKey, key_type: KeyType) -> Result<InProcess, SignError> {
        Ok(InProcess {
            signer: KeySigner::new(&key, key_type)?,
            _document: key.pkcs8().to_vec(),
        })
    }
}

impl Signer for InProcess {
    fn sign_hash(&self, hash: &[u8]) -> Result<Vec<u8>, SignError> {
        self.signer.sign_hash(hash)
    }

    fn pid(&self) -> Option<u32> {
        None
    }
}

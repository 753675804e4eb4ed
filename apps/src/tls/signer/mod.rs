//! Where the private key lives, and the hook through which rustls gets signatures from it.
//!
//! ```text
//!   rustls handshake ─ CertificateVerify content ─► HomeKey (the hook, serving side)
//!        strip the TLS 1.3 prefix, keep the 32-byte transcript hash
//!        │
//!        ├─ in-process: KeySigner in this context (the usual server)
//!        ├─ lwc:        hash in a SharedRegion, lwc::switch into the signing lwC, signature back
//!        ├─ process:    hash over a socketpair to a signer process (privilege separation)
//!        └─ thread:     the same socketpair protocol to a signer thread (hand-off, no isolation)
//!                       signer: policy check (hash length) ─ build content ─ ring signs
//! ```
//!
//! In the `lwc` and `process` homes the signer is made from the serving context's one copy of
//! the key (its [`SecretKey`] pages, which the fork copies), and the serving context then zeroes
//! and unmaps that copy: it never parsed the key, so no other copy exists on its side. The
//! signing lwC is restricted to SWITCH (the serving context can neither overlay its memory nor
//! run system calls in it) and, like every lwC, is non-dumpable in a group without the
//! capabilities that read other processes; the signer process is made non-dumpable and the
//! serving process drops those capabilities, as an OpenSSH-style privilege-separated server
//! would.

mod hook;
mod in_process;
mod key_signer;
mod lwc_home;
pub mod policy;
mod socket;

pub use hook::{certified_key, HomeKey};
pub use key_signer::KeySigner;

use std::fmt::Debug;

use crate::tls::key::{KeyType, SecretKey};

/// Where the private key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyHome {
    /// In the serving context, as in every ordinary server.
    InProcess,
    /// In a signing lwC; the serving context holds no copy.
    Lwc,
    /// In a separate signer process over a socketpair (privilege separation).
    Process,
    /// In a signer thread of the serving process (the hand-off without the isolation).
    Thread,
}

impl KeyHome {
    /// Every home, in plan order.
    pub const ALL: [KeyHome; 4] = [
        KeyHome::InProcess,
        KeyHome::Lwc,
        KeyHome::Process,
        KeyHome::Thread,
    ];

    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            KeyHome::InProcess => "in-process",
            KeyHome::Lwc => "lwc",
            KeyHome::Process => "process",
            KeyHome::Thread => "thread",
        }
    }

    /// The home called `name`.
    pub fn parse(name: &str) -> Option<KeyHome> {
        KeyHome::ALL.into_iter().find(|h| h.name() == name)
    }

    /// Whether this home keeps the key out of the serving context's memory.
    pub fn isolates(self) -> bool {
        matches!(self, KeyHome::Lwc | KeyHome::Process)
    }
}

/// Why a signature was not made, or a signer not started.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signer refused the request (its policy's reason).
    #[error("signer {0}")]
    Refused(String),
    /// The key could not be parsed or cannot sign with the scheme its type needs.
    #[error("private key: {0}")]
    Key(String),
    /// The signature operation failed.
    #[error("sign: {0}")]
    Failed(String),
    /// The channel to the signer failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The lwC runtime failed.
    #[error(transparent)]
    Lwc(#[from] lwc::Error),
    /// The signer answered something that is not a reply of the protocol.
    #[error("signer protocol: {0}")]
    Protocol(String),
}

impl SignError {
    fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> SignError {
        move |source| SignError::Io { op, source }
    }
}

/// A started key home: signs transcript hashes for the serving context.
pub trait Signer: Send + Sync + Debug {
    /// Signs the server CertificateVerify content for `hash` (the signer checks the length).
    fn sign_hash(&self, hash: &[u8]) -> Result<Vec<u8>, SignError>;
    /// The signer's process id, when it is a process of its own (`lwc`, `process`).
    fn pid(&self) -> Option<u32>;
    /// The signing lwC, for the `lwc` home.
    fn lwc(&self) -> Option<lwc::Lwc> {
        None
    }
}

/// Starts `home` with `key` (of `key_type`). For the isolating homes the serving context's copy
/// of the key is wiped before this returns. `lwc` and `process` fork, so they fail in a
/// multi-threaded process; `lwc` starts an lwC group if none runs (better: `lwc::init` first);
/// `process` drops this process's capabilities that read other processes.
pub fn start(
    home: KeyHome,
    key: SecretKey,
    key_type: KeyType,
) -> Result<Box<dyn Signer>, SignError> {
    Ok(match home {
        KeyHome::InProcess => Box::new(in_process::InProcess::new(key, key_type)?),
        KeyHome::Lwc => Box::new(lwc_home::LwcSigner::start(key, key_type)?),
        KeyHome::Process => Box::new(socket::SocketSigner::process(key, key_type)?),
        KeyHome::Thread => Box::new(socket::SocketSigner::thread(key, key_type)?),
    })
}

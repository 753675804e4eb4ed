//! The server's identity: a certificate and its private key, made at start or loaded.
//!
//! The private key lives only on pages of its own ([`SecretKey`], an `lwc::Pages` mapping),
//! never on the heap: it is read straight into them from a file or a pipe, so a key home that
//! must leave the serving context without the key can wipe and unmap the one copy it had.
//! Generation (P-256 by rcgen; RSA-2048 by RustCrypto's `rsa`, since rcgen's ring backend
//! cannot make RSA keys) uses heap temporaries that nobody wipes, so [`Identity::generate`]
//! runs it in a forked child that sends the PKCS#8 document and the certificate back through
//! a pipe and exits.
//!
//! ```text
//!   serving process ──fork──► generator: make key + self-signed cert ─► pipe ─► _exit(0)
//!     │  read(cert) into a Vec, read(key) into SecretKey pages        │
//!     └──────────────────────── waitpid ◄─────────────────────────────┘
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::SignatureScheme;

use super::sys::{self, Forked};

/// The names the certificate is valid for (loopback only).
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// Largest key document accepted (an RSA-4096 PKCS#8 is ~2.4 KB).
const MAX_KEY_BYTES: usize = 16 * 1024;
/// Largest certificate accepted.
const MAX_CERT_BYTES: usize = 64 * 1024;

/// The kind of private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// RSA with a 2048-bit modulus, signing with RSA-PSS and SHA-256.
    Rsa2048,
    /// ECDSA on NIST P-256 with SHA-256.
    P256,
}

impl KeyType {
    /// Every key type, in plan order.
    pub const ALL: [KeyType; 2] = [KeyType::Rsa2048, KeyType::P256];

    /// The name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Rsa2048 => "rsa2048",
            KeyType::P256 => "p256",
        }
    }

    /// The key type called `name`.
    pub fn parse(name: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The one TLS 1.3 signature scheme every key home signs with for this key type.
    pub fn scheme(self) -> SignatureScheme {
        match self {
            KeyType::Rsa2048 => SignatureScheme::RSA_PSS_SHA256,
            KeyType::P256 => SignatureScheme::ECDSA_NISTP256_SHA256,
        }
    }
}

/// Why an identity could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Key or certificate generation failed.
    #[error("generate a {key_type} key and certificate: {reason}")]
    Generate {
        /// The key type asked for.
        key_type: &'static str,
        /// What failed.
        reason: String,
    },
    /// A system call or file operation failed.
    #[error("{op}: {source}")]
    Io {
        /// The operation, with its object.
        op: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The input is not a usable key or certificate.
    #[error("{0}")]
    Invalid(String),
}

fn io_err(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> KeyError {
    move |source| KeyError::Io {
        op: op.into(),
        source,
    }
}

/// A PKCS#8 private-key document on pages of its own, zeroed before they are unmapped.
#[derive(Debug)]
pub struct SecretKey {
    pages: lwc::Pages,
    len: usize,
}

impl SecretKey {
    /// Reads exactly `len` bytes of key document from `from` straight into fresh pages.
    fn read_from(from: &mut impl Read, len: usize, what: &str) -> Result<SecretKey, KeyError> {
        if len == 0 || len > MAX_KEY_BYTES {
            return Err(KeyError::Invalid(format!(
                "{what}: a key document of {len} bytes (expected 1 to {MAX_KEY_BYTES})"
            )));
        }
        let mut pages = lwc::Pages::new(len).map_err(|e| KeyError::Io {
            op: "map pages for the private key".into(),
            source: std::io::Error::other(e),
        })?;
        // read(2) straight into the pages: no buffer in between holds a copy.
        from.read_exact(&mut pages.as_mut_slice()[..len])
            .map_err(io_err(format!("read the private key from {what}")))?;
        Ok(SecretKey { pages, len })
    }

    /// The PKCS#8 document.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pages.as_slice()[..self.len]
    }

    /// The document as rustls takes it (borrowed: no copy).
    pub fn der(&self) -> PrivateKeyDer<'_> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8()))
    }

    /// Zeroes the pages and unmaps them (what dropping does; named for the call sites where
    /// dropping the key is the point).
    pub fn wipe(self) {
        drop(self)
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.pages.as_mut_slice().fill(0);
        // The munmap that follows is an opaque call on these pages; the fence keeps the zeroing
        // from being reordered past it or elided.
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// A certificate and its private key.
#[derive(Debug)]
pub struct Identity {
    /// The self-signed certificate (DER), valid for [`SERVER_NAMES`].
    pub cert: CertificateDer<'static>,
    /// The private key.
    pub key: SecretKey,
    /// The key's type.
    pub key_type: KeyType,
}

/// A key and certificate made in this process, on the heap (for the generator child and for
/// tests, which need the key's bytes to look for them).
#[derive(Debug, Clone)]
pub struct PlainIdentity {
    /// The PKCS#8 private-key document.
    pub pkcs8: Vec<u8>,
    /// The self-signed certificate (DER).
    pub cert: Vec<u8>,
}

/// Makes a key of `key_type` and a self-signed certificate for it, in this process.
pub fn generate_plain(key_type: KeyType) -> Result<PlainIdentity, KeyError> {
    let fail = |reason: String| KeyError::Generate {
        key_type: key_type.name(),
        reason,
    };
    let key_pair = match key_type {
        KeyType::P256 => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| fail(e.to_string()))?,
        KeyType::Rsa2048 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|e| fail(e.to_string()))?;
            let doc = key.to_pkcs8_der().map_err(|e| fail(e.to_string()))?;
            let der = PrivatePkcs8KeyDer::from(doc.as_bytes());
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
                .map_err(|e| fail(e.to_string()))?
        }
    };
    let names = SERVER_NAMES
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>();
    let params = rcgen::CertificateParams::new(names).map_err(|e| fail(e.to_string()))?;
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| fail(e.to_string()))?;
    Ok(PlainIdentity {
        pkcs8: key_pair.serialize_der(),
        cert: cert.der().to_vec(),
    })
}

fn read_len(from: &mut impl Read, what: &str) -> Result<usize, KeyError> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len).map_err(io_err(format!(
        "read the length of {what} from the generator"
    )))?;
    Ok(u32::from_le_bytes(len) as usize)
}

impl Identity {
    /// Makes a fresh key of `key_type` and a self-signed certificate in a forked child (see
    /// the module's picture), so no stray copy of the key stays in this process.
    ///
    /// Fails in a multi-threaded process (it forks).
    pub fn generate(key_type: KeyType) -> Result<Identity, KeyError> {
        let (read_end, write_end) = rustix::pipe::pipe().map_err(|e| io_err("pipe")(e.into()))?;
        match sys::fork().map_err(io_err("fork the key generator"))? {
            Forked::Child => {
                drop(read_end);
                let code = match send_generated(key_type, write_end) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("key generator: {e}");
                        1
                    }
                };
                sys::exit_now(code)
            }
            Forked::Parent(pid) => {
                drop(write_end);
                let received = receive_generated(key_type, read_end);
                let status = rustix::process::waitpid(
                    Some(
                        rustix::process::Pid::from_raw(pid as i32)
                            .ok_or_else(|| KeyError::Invalid(format!("fork returned pid {pid}")))?,
                    ),
                    rustix::process::WaitOptions::empty(),
                )
                .map_err(|e| io_err("wait for the key generator")(e.into()))?;
                let ok = status.and_then(|(_, s)| s.exit_status()) == Some(0);
                match received {
                    Ok(identity) if ok => Ok(identity),
                    Ok(_) => Err(KeyError::Generate {
                        key_type: key_type.name(),
                        reason: format!("the generator ended with {status:?}"),
                    }),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Loads a PKCS#8 DER key and a DER certificate. The key goes from the file straight into
    /// its pages.
    pub fn load(key_type: KeyType, key: &Path, cert: &Path) -> Result<Identity, KeyError> {
        let cert_bytes = std::fs::read(cert).map_err(io_err(format!("read {}", cert.display())))?;
        if cert_bytes.len() > MAX_CERT_BYTES {
            return Err(KeyError::Invalid(format!(
                "{}: a certificate of {} bytes",
                cert.display(),
                cert_bytes.len()
            )));
        }
        let mut file = File::open(key).map_err(io_err(format!("open {}", key.display())))?;
        let len = file
            .metadata()
            .map_err(io_err(format!("stat {}", key.display())))?
            .len() as usize;
        let key = SecretKey::read_from(&mut file, len, &key.display().to_string())?;
        Ok(Identity {
            cert: CertificateDer::from(cert_bytes),
            key,
            key_type,
        })
    }

    /// The certificate in PEM, for `openssl -CAfile` and `curl --cacert`.
    pub fn cert_pem(&self) -> String {
        cert_pem(&self.cert)
    }
}

/// A DER certificate in PEM.
pub fn cert_pem(cert: &[u8]) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in cert.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn send_generated(key_type: KeyType, to: OwnedFd) -> Result<(), KeyError> {
    let plain = generate_plain(key_type)?;
    let mut out = File::from(to);
    let mut message = Vec::new();
    for part in [&plain.cert, &plain.pkcs8] {
        message.extend_from_slice(&(part.len() as u32).to_le_bytes());
        message.extend_from_slice(part);
    }
    out.write_all(&message)
        .map_err(io_err("send the key and certificate"))
}

fn receive_generated(key_type: KeyType, from: OwnedFd) -> Result<Identity, KeyError> {
    let mut input = File::from(from);
    let cert_len = read_len(&mut input, "the certificate")?;
    if cert_len > MAX_CERT_BYTES {
        return Err(KeyError::Invalid(format!(
            "the generator sent a certificate of {cert_len} bytes"
        )));
    }
    let mut cert = vec![0u8; cert_len];
    input
        .read_exact(&mut cert)
        .map_err(io_err("read the certificate from the generator"))?;
    let key_len = read_len(&mut input, "the key")?;
    let key = SecretKey::read_from(&mut input, key_len, "the generator")?;
    Ok(Identity {
        cert: CertificateDer::from(cert),
        key,
        key_type,
    })
}

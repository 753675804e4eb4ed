//! A TLS server whose private key lives where you choose, and the handshake driver that
//! loads it: the paper's OpenSSL-in-a-signing-lwC experiment, with rustls.
//!
//! ```text
//!   start(): pin ─ [lwc::init] ─ identity (made in a forked child, or loaded) ─ signer::start
//!            (the key moves to its home; isolating homes wipe the serving copy) ─ bind
//!   TlsServer::run_for(): mio loop · rustls ServerConnection per client · signing hook → home
//!   client::drive(): C connections, full handshakes, GET, response, closed loop
//! ```
//!
//! Modules, top down: [`server`] (the event loop) and [`client`] (the driver) use [`config`]
//! (rustls settings both ends share), which uses [`signer`] (the key homes and the hook), which
//! uses [`key`] (certificate and key pages); `sys` holds the unsafe process calls.

pub mod client;
pub mod config;
pub mod key;
pub mod serve;
pub mod server;
pub mod signer;
pub(crate) mod sys;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

use key::{Identity, KeyError, KeyType};
use server::{Limits, TlsServer};
use signer::{KeyHome, SignError, Signer};

/// Where the server's key and certificate come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A fresh key and self-signed certificate, made at start.
    Generate,
    /// A PKCS#8 DER key file and a DER certificate file.
    Files {
        /// The key.
        key: PathBuf,
        /// The certificate.
        cert: PathBuf,
    },
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where the key lives.
    pub home: KeyHome,
    /// The key's type.
    pub key_type: KeyType,
    /// Where the key comes from.
    pub source: KeySource,
    /// Address to listen on (loopback; port 0 for any).
    pub addr: SocketAddr,
    /// The CPU the server and its signer run on (`None`: the current one).
    pub cpu: Option<usize>,
    /// Limits per connection.
    pub limits: Limits,
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The key or certificate.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The key home.
    #[error("start the {home} signer: {source}")]
    Signer {
        /// The home.
        home: &'static str,
        /// What failed.
        #[source]
        source: SignError,
    },
    /// The lwC group.
    #[error("start the lwC group: {0}")]
    Lwc(#[from] lwc::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// A system call.
    #[error("{op}: {source}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A started server and what it is made of.
pub struct Started {
    /// The server, bound, not yet serving.
    pub server: TlsServer,
    /// Its key home.
    pub signer: Arc<dyn Signer>,
    /// Its certificate.
    pub cert: CertificateDer<'static>,
    /// The pid of the serving context (in the `lwc` home, the group's first lwC, not the
    /// process that called `start`).
    pub serving_pid: u32,
}

/// Starts a server as `opts` says. Key generation and the `lwc` and `process` homes fork, so
/// they fail in a multi-threaded process. In the `lwc` home this call returns in the group's
/// first lwC; the caller's original process stays behind as the group's guardian.
pub fn start(opts: &ServeOptions) -> Result<Started, StartError> {
    if let Some(cpu) = opts.cpu {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set).map_err(|e| StartError::Io {
            op: "pin the server",
            source: e.into(),
        })?;
    }
    if opts.home == KeyHome::Lwc {
        // Before the key exists: the guardian and supervisor that init forks never see it.
        lwc::init(&lwc::GroupConfig {
            cpus: opts.cpu.into_iter().collect(),
            ..lwc::GroupConfig::default()
        })?;
    }
    let identity = match &opts.source {
        KeySource::Generate => Identity::generate(opts.key_type)?,
        KeySource::Files { key, cert } => Identity::load(opts.key_type, key, cert)?,
    };
    let Identity {
        cert,
        key,
        key_type,
    } = identity;
    let signer: Arc<dyn Signer> = signer::start(opts.home, key, key_type)
        .map_err(|source| StartError::Signer {
            home: opts.home.name(),
            source,
        })?
        .into();
    let config = config::server_config(cert.clone(), signer.clone(), key_type)?;
    let server = TlsServer::bind(opts.addr, config, opts.limits).map_err(|e| StartError::Io {
        op: "bind the server",
        source: e,
    })?;
    Ok(Started {
        server,
        signer,
        cert,
        serving_pid: std::process::id(),
    })
}

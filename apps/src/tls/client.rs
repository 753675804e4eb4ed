//! The handshake driver: a rustls client that keeps C connections busy over loopback, each
//! doing a full handshake, one GET and reading the response to the end, closed loop, bounded
//! in count and time.
//!
//! ```text
//!   slot 1..C: connect ─ handshake (latency: connect → handshake done) ─ GET ─ read to EOF ─┐
//!        ▲                                                                              │
//!        └──────────────────────── next connection, until the count or the time is up ───┘
//! ```
//!
//! [`Verify::Full`] checks the certificate chain and every handshake signature (what the tests
//! use). A load generator that verified every signature would measure its own CPU: a P-256
//! verification costs more than the signature it checks. [`Verify::Pinned`] accepts only the
//! server's exact certificate and verifies one handshake signature in `every`, so a signer
//! that stopped producing valid signatures still fails the run.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::config::provider;
use super::key::SERVER_NAMES;

/// How the driver checks the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// webpki verification against the certificate as the only root, every signature checked.
    Full,
    /// The exact certificate only; one signature in `every` checked.
    Pinned {
        /// Check every this many handshake signatures (1: all).
        every: u64,
    },
}

/// What to drive.
#[derive(Debug, Clone, Copy)]
pub struct DriveOptions {
    /// Connections kept busy at once.
    pub connections: usize,
    /// Stop after this many completed connections.
    pub max_handshakes: u64,
    /// Stop after this long.
    pub duration: Duration,
}

/// What a drive measured.
#[derive(Debug, Clone, Default)]
pub struct DriveReport {
    /// Connections that completed handshake, request and response.
    pub completed: u64,
    /// Connections that failed (TLS error, reset, a response that is not 200).
    pub failed: u64,
    /// The first failure's reason.
    pub first_failure: Option<String>,
    /// Time from the first connect to the last completion.
    pub elapsed: Duration,
    /// Handshake latency of every completed connection, µs (connect → handshake done).
    pub latencies_us: Vec<f64>,
}

impl DriveReport {
    /// Completed connections per second.
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A client configuration for a server with certificate `cert`.
pub fn client_config(
    cert: &CertificateDer<'static>,
    verify: Verify,
) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut config = match verify {
        Verify::Full => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(cert.clone())?;
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Verify::Pinned { every } => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                cert: cert.clone(),
                every: every.max(1),
                seen: AtomicU64::new(0),
                algorithms: provider().signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    every: u64,
    seen: AtomicU64,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if self
            .seen
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.every)
        {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        } else {
            Ok(HandshakeSignatureValid::assertion())
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

struct Slot {
    sock: TcpStream,
    tls: rustls::ClientConnection,
    started: Instant,
    handshake_us: Option<f64>,
    sent: bool,
    response: Vec<u8>,
}

enum Step {
    Pending,
    Done(Result<f64, String>),
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// Drives `addr` with `config` as `opts` says.
pub fn drive(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    opts: DriveOptions,
) -> io::Result<DriveReport> {
    let name = ServerName::try_from(SERVER_NAMES[0]).map_err(io::Error::other)?;
    let mut poll = Poll::new()?;
    let registry = poll.registry().try_clone()?;
    let mut events = Events::with_capacity(256);
    let mut slots: HashMap<Token, Slot> = HashMap::new();
    let mut report = DriveReport::default();
    let start = Instant::now();
    let end = start + opts.duration;
    let mut next_token = 0usize;
    let mut open = |slots: &mut HashMap<Token, Slot>| -> io::Result<()> {
        let mut sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        let tls = rustls::ClientConnection::new(config.clone(), name.clone())
            .map_err(io::Error::other)?;
        let token = Token(next_token);
        next_token += 1;
        registry.register(&mut sock, token, Interest::READABLE | Interest::WRITABLE)?;
        slots.insert(
            token,
            Slot {
                sock,
                tls,
                started: Instant::now(),
                handshake_us: None,
                sent: false,
                response: Vec::new(),
            },
        );
        Ok(())
    };
    let budget = |r: &DriveReport, open: usize| r.completed + r.failed + open as u64;
    while budget(&report, slots.len()) < opts.max_handshakes
        && slots.len() < opts.connections.max(1)
    {
        open(&mut slots)?;
    }
    while !slots.is_empty() {
        let now = Instant::now();
        if now >= end + Duration::from_secs(5) {
            // In-flight connections that the server never finished: failures, not a hang.
            report.failed += slots.len() as u64;
            report
                .first_failure
                .get_or_insert_with(|| "the server stopped answering".into());
            break;
        }
        match poll.poll(&mut events, Some(Duration::from_millis(100))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let mut finished = Vec::new();
        for ev in events.iter() {
            if let Some(slot) = slots.get_mut(&ev.token()) {
                if let Step::Done(r) = slot.progress() {
                    finished.push((ev.token(), r));
                }
            }
        }
        for (token, result) in finished {
            if let Some(mut slot) = slots.remove(&token) {
                let _ = registry.deregister(&mut slot.sock);
            }
            match result {
                Ok(us) => {
                    report.completed += 1;
                    report.latencies_us.push(us);
                    report.elapsed = start.elapsed();
                }
                Err(why) => {
                    report.failed += 1;
                    report.first_failure.get_or_insert(why);
                }
            }
            if Instant::now() < end && budget(&report, slots.len()) < opts.max_handshakes {
                open(&mut slots)?;
            }
        }
    }
    if report.elapsed.is_zero() {
        report.elapsed = start.elapsed();
    }
    Ok(report)
}

impl Slot {
    fn progress(&mut self) -> Step {
        let mut eof = false;
        loop {
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(_) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        return Step::Done(Err(format!("TLS: {e}")));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Step::Done(Err(format!("read: {e}"))),
            }
        }
        if self.handshake_us.is_none() && !self.tls.is_handshaking() {
            self.handshake_us = Some(self.started.elapsed().as_secs_f64() * 1e6);
        }
        if self.handshake_us.is_some() && !self.sent {
            if let Err(e) = self.tls.writer().write_all(GET) {
                return Step::Done(Err(format!("write: {e}")));
            }
            self.sent = true;
        }
        let mut buf = [0u8; 4096];
        loop {
            match self.tls.reader().read(&mut buf) {
                Ok(0) => return self.finish(),
                Ok(n) => self.response.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // The peer closed without close_notify: what arrived is judged as it is.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return self.finish(),
                Err(e) => return Step::Done(Err(format!("read: {e}"))),
            }
        }
        if eof {
            return self.finish();
        }
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Step::Done(Err(format!("write: {e}"))),
            }
        }
        Step::Pending
    }

    /// The connection ended: a success if it carried a whole 200 response.
    fn finish(&mut self) -> Step {
        let ok = self.response.starts_with(b"HTTP/1.1 200 ")
            && self.response.ends_with(super::server::BODY);
        Step::Done(match self.handshake_us {
            Some(us) if ok => Ok(us),
            Some(_) => Err(format!(
                "a response that is not the 200 page ({} bytes)",
                self.response.len()
            )),
            None => Err("closed during the handshake".into()),
        })
    }
}

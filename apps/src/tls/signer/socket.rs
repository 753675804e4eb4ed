//! The `process` and `thread` homes: a signer at the other end of a socketpair.
//!
//! ```text
//!   serving side ── SEQPACKET: SIGN ‖ the transcript hash ──► signer (process or thread)
//!                ◄─ SEQPACKET: status byte ‖ signature, or ‖ reason of a refusal
//! ```
//!
//! The protocol is the same for both, so `thread` minus `in-process` is the cost of the
//! hand-off alone and `process` minus `thread` the cost of the separate address space.
//! The signer process is what an OpenSSH-style privilege-separated server runs: forked from
//! the serving process with the key's pages, non-dumpable, killed when its parent dies, with
//! every descriptor closed but its end of the pair; the serving process then wipes its copy
//! and drops the capabilities that read other processes.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Mutex;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

use super::{KeySigner, SignError, Signer};
use crate::tls::key::{KeyType, SecretKey};
use crate::tls::sys::{self, Forked};

/// The tag of a signing request (so an empty hash is not an empty message, which a
/// SEQPACKET reader cannot tell from the end of the stream).
const SIGN: u8 = 1;
const OK: u8 = 0;
const REFUSED: u8 = 1;
const FAILED: u8 = 2;
/// Largest request read (longer ones arrive cut and are refused by length).
const MAX_REQUEST: usize = 1024;
/// Largest reply (an RSA-4096 signature is 512 bytes).
const MAX_REPLY: usize = 2048;

/// The serving side of a socketpair signer.
#[derive(Debug)]
pub struct SocketSigner {
    sock: Mutex<OwnedFd>,
    pid: Option<u32>,
}

fn pair() -> Result<(OwnedFd, OwnedFd), SignError> {
    rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| SignError::io("socketpair")(e.into()))
}

impl SocketSigner {
    /// Forks a signer process with `key`; wipes this process's copy and drops the
    /// capabilities that read other processes.
    /// Fails in a multi-threaded process (it forks).
    pub fn process(key: SecretKey, key_type: KeyType) -> Result<SocketSigner, SignError> {
        let (ours, theirs) = pair()?;
        match sys::fork().map_err(SignError::io("fork the signer"))? {
            Forked::Child => {
                drop(ours);
                let code = match harden_signer_process(&theirs) {
                    Ok(()) => {
                        serve(key, key_type, &theirs);
                        0
                    }
                    Err(e) => {
                        eprintln!("signer process: {e}");
                        1
                    }
                };
                sys::exit_now(code)
            }
            Forked::Parent(pid) => {
                drop(theirs);
                key.wipe();
                drop_reading_capabilities()?;
                let signer = SocketSigner {
                    sock: Mutex::new(ours),
                    pid: Some(pid),
                };
                // A first request proves the signer parsed its key (its refusal is the answer
                // expected for an empty hash); a key error comes back as Failed.
                match signer.sign_hash(&[]) {
                    Err(SignError::Refused(_)) => Ok(signer),
                    Err(e) => Err(e),
                    Ok(_) => Err(SignError::Protocol("signed an empty hash".into())),
                }
            }
        }
    }

    /// Starts a signer thread with `key`, and wipes the caller's copy (the thread parses
    /// its own; the address space is shared, so this isolates nothing).
    pub fn thread(key: SecretKey, key_type: KeyType) -> Result<SocketSigner, SignError> {
        let (ours, theirs) = pair()?;
        let signer = KeySigner::new(&key, key_type)?;
        key.wipe();
        std::thread::Builder::new()
            .name("tls-signer".into())
            .spawn(move || serve_parsed(Ok(signer), &theirs))
            .map_err(SignError::io("spawn the signer thread"))?;
        Ok(SocketSigner {
            sock: Mutex::new(ours),
            pid: None,
        })
    }
}

impl Signer for SocketSigner {
    fn sign_hash(&self, hash: &[u8]) -> Result<Vec<u8>, SignError> {
        if hash.len() > MAX_REQUEST {
            return Err(SignError::Refused(format!(
                "refused: a request of {} bytes",
                hash.len()
            )));
        }
        let mut request = Vec::with_capacity(1 + hash.len());
        request.push(SIGN);
        request.extend_from_slice(hash);
        let sock = self.sock.lock().unwrap_or_else(|p| p.into_inner());
        rustix::net::send(&*sock, &request, SendFlags::empty())
            .map_err(|e| SignError::io("send to the signer")(e.into()))?;
        let mut reply = [0u8; MAX_REPLY];
        let (n, _) = rustix::net::recv(&*sock, &mut reply[..], RecvFlags::empty())
            .map_err(|e| SignError::io("receive from the signer")(e.into()))?;
        let (status, body) = reply[..n]
            .split_first()
            .ok_or_else(|| SignError::Protocol("the signer closed its end".into()))?;
        let text = || String::from_utf8_lossy(body).into_owned();
        match *status {
            OK => Ok(body.to_vec()),
            REFUSED => Err(SignError::Refused(text())),
            FAILED => Err(SignError::Failed(text())),
            s => Err(SignError::Protocol(format!("status {s}"))),
        }
    }

    fn pid(&self) -> Option<u32> {
        self.pid
    }
}

/// The signer process's own protection, before it touches the key.
fn harden_signer_process(sock: &OwnedFd) -> std::io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    // The parent may have died before the signal was armed.
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        return Err(std::io::Error::other("the serving process is gone"));
    }
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    sys::close_all_but(&[2, sock.as_raw_fd()])
}

/// Drops, from every set and the bounding set, the capabilities with which a process reads
/// another one's memory or descriptors (what lwc's groups drop at `init`).
fn drop_reading_capabilities() -> Result<(), SignError> {
    use rustix::thread::CapabilitySet;
    let readers = CapabilitySet::SYS_PTRACE
        | CapabilitySet::SYS_ADMIN
        | CapabilitySet::PERFMON
        | CapabilitySet::CHECKPOINT_RESTORE
        | CapabilitySet::BPF
        | CapabilitySet::SYS_RAWIO;
    for cap in readers.iter() {
        // EPERM without CAP_SETPCAP (an unprivileged process, which holds none anyway), EINVAL
        // on a kernel that lacks the capability: neither is an error here.
        let _ = rustix::thread::remove_capability_from_bounding_set(cap);
    }
    let mut sets =
        rustix::thread::capabilities(None).map_err(|e| SignError::io("capget")(e.into()))?;
    sets.effective -= readers;
    sets.permitted -= readers;
    sets.inheritable -= readers;
    rustix::thread::set_capabilities(None, sets).map_err(|e| SignError::io("capset")(e.into()))
}

/// The signer loop: parse the key, wipe its pages, answer requests until the peer is gone.
fn serve(key: SecretKey, key_type: KeyType, sock: &OwnedFd) {
    let signer = KeySigner::new(&key, key_type);
    key.wipe();
    serve_parsed(signer, sock)
}

fn serve_parsed(signer: Result<KeySigner, SignError>, sock: &OwnedFd) {
    let mut request = [0u8; 1 + MAX_REQUEST];
    loop {
        let n = match rustix::net::recv(sock, &mut request[..], RecvFlags::empty()) {
            Ok((0, _)) | Err(_) => return,
            Ok((n, _)) => n,
        };
        let signed = match (&signer, request[0]) {
            (Ok(s), SIGN) => s.sign_hash(&request[1..n]),
            (Ok(_), tag) => Err(SignError::Refused(format!(
                "refused: unknown request {tag}"
            ))),
            (Err(e), _) => Err(SignError::Key(e.to_string())),
        };
        let (status, body) = match signed {
            Ok(sig) => (OK, sig),
            Err(SignError::Refused(why)) => (REFUSED, why.into_bytes()),
            Err(e) => (FAILED, e.to_string().into_bytes()),
        };
        let mut reply = Vec::with_capacity(1 + body.len());
        reply.push(status);
        reply.extend_from_slice(&body[..body.len().min(MAX_REPLY - 1)]);
        if rustix::net::send(sock, &reply, SendFlags::empty()).is_err() {
            return;
        }
    }
}

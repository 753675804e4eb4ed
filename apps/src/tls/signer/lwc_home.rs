//! The `lwc` home: the key in a signing lwC, as in the paper's OpenSSL experiment.
//!
//! ```text
//!   serving lwC                                  signing lwC (created with the key pages)
//!   create(share region, fds: stderr only) ───► parks; parses the key, wipes its pages
//!   wipe + unmap the key pages; restrict(SWITCH)
//!   switch(HELLO)                         ───► [OK, pid]
//!   region[0..32] = hash; switch(SIGN, 32) ───► check length, build content, sign
//!   signature = region[SIG_AT..][..len]   ◄─── [OK, len]   (or [REFUSED, len of reason])
//! ```
//!
//! # Safety
//! `lwc::create` returns twice, like fork, and needs a single-threaded caller:
//! [`LwcSigner::start`] checks the thread count first. The spec unmaps nothing, so no Rust
//! reference can point at missing memory. The child branch never returns from `start`: it
//! serves until its creator is gone and ends with `_exit`.
#![allow(unsafe_code)]

use std::sync::Mutex;

use lwc::{Args, Created, Files, Options, Rights, SharedRegion, Spec};

use super::{KeySigner, SignError, Signer};
use crate::tls::key::{KeyType, SecretKey};
use crate::tls::sys;

const OP_HELLO: u64 = 1;
const OP_SIGN: u64 = 2;
const OK: u64 = 0;
const REFUSED: u64 = 1;
const FAILED: u64 = 2;

/// Size of the shared region: the request at 0, the reply at [`SIG_AT`].
const REGION_BYTES: usize = 4096;
/// Largest request the signer reads (anything longer is refused unread).
const MAX_REQUEST: usize = 1024;
/// Where the reply (signature or refusal) starts.
const SIG_AT: usize = 2048;

/// The serving side of a signing lwC.
#[derive(Debug)]
pub struct LwcSigner {
    child: lwc::Lwc,
    region: SharedRegion,
    pid: u32,
    /// One request at a time in the shared region.
    turn: Mutex<()>,
}

impl LwcSigner {
    /// Creates the signing lwC from `key`, then wipes this context's copy. Fails in a
    /// multi-threaded process.
    pub fn start(key: SecretKey, key_type: KeyType) -> Result<LwcSigner, SignError> {
        sys::single_threaded("the lwc key home").map_err(SignError::io("lwc::create"))?;
        let region = SharedRegion::new(REGION_BYTES)?;
        let spec = Spec::new().share(&region).files(Files::Only(vec![2]));
        // SAFETY: single-threaded (checked above); the spec unmaps nothing; the child branch
        // below only runs the signer loop and leaves with _exit.
        match unsafe { lwc::create(&spec, &Options::new()) }? {
            Created::Child { caller, args } => serve(key, key_type, &region, caller, args),
            Created::Parent(child) => {
                // The paper's algorithm: the signer has its copy; drop ours, then every right
                // but switching into it.
                key.wipe();
                lwc::restrict(&child, Rights::SWITCH)?;
                let signer = LwcSigner {
                    child,
                    region,
                    pid: 0,
                    turn: Mutex::new(()),
                };
                let hello = lwc::switch(&child, Args([OP_HELLO, 0, 0, 0, 0, 0]))?;
                let pid = signer.reply(hello.args).map(|_| hello.args.0[2] as u32)?;
                Ok(LwcSigner { pid, ..signer })
            }
        }
    }

    /// The signature or refusal that `reply` announces.
    fn reply(&self, reply: Args) -> Result<Vec<u8>, SignError> {
        let [status, len, ..] = reply.0;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= REGION_BYTES - SIG_AT)
            .ok_or_else(|| SignError::Protocol(format!("a reply of {len} bytes")))?;
        let mut body = vec![0u8; len];
        self.region.read(SIG_AT, &mut body)?;
        let text = || String::from_utf8_lossy(&body).into_owned();
        match status {
            OK => Ok(body),
            REFUSED => Err(SignError::Refused(text())),
            FAILED => Err(SignError::Failed(text())),
            s => Err(SignError::Protocol(format!("status {s}"))),
        }
    }
}

impl Signer for LwcSigner {
    fn sign_hash(&self, hash: &[u8]) -> Result<Vec<u8>, SignError> {
        if hash.len() > MAX_REQUEST {
            return Err(SignError::Refused(format!(
                "refused: a request of {} bytes",
                hash.len()
            )));
        }
        let _turn = self.turn.lock().unwrap_or_else(|p| p.into_inner());
        self.region.write(0, hash)?;
        let back = lwc::switch(&self.child, Args([OP_SIGN, hash.len() as u64, 0, 0, 0, 0]))?;
        self.reply(back.args)
    }

    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    fn lwc(&self) -> Option<lwc::Lwc> {
        Some(self.child)
    }
}

/// The signing lwC: parse the key, wipe the pages it came on, answer requests until the
/// creator is gone.
fn serve(
    key: SecretKey,
    key_type: KeyType,
    region: &SharedRegion,
    caller: lwc::Lwc,
    first: Args,
) -> ! {
    let signer = KeySigner::new(&key, key_type);
    key.wipe();
    let answer = |status: u64, body: &[u8], extra: u64| {
        let body = &body[..body.len().min(REGION_BYTES - SIG_AT)];
        match region.write(SIG_AT, body) {
            Ok(()) => Args([status, body.len() as u64, extra, 0, 0, 0]),
            Err(_) => Args([FAILED, 0, extra, 0, 0, 0]),
        }
    };
    let outcome = |r: Result<Vec<u8>, SignError>, extra: u64| match r {
        Ok(sig) => answer(OK, &sig, extra),
        Err(SignError::Refused(why)) => answer(REFUSED, why.as_bytes(), extra),
        Err(e) => answer(FAILED, e.to_string().as_bytes(), extra),
    };
    let handle = |args: Args| -> Args {
        let [op, len, ..] = args.0;
        match (op, &signer) {
            (OP_HELLO, Ok(_)) => answer(OK, &[], u64::from(std::process::id())),
            (_, Err(e)) => answer(FAILED, e.to_string().as_bytes(), 0),
            (OP_SIGN, Ok(s)) => {
                let Some(len) = usize::try_from(len).ok().filter(|l| *l <= MAX_REQUEST) else {
                    return answer(
                        REFUSED,
                        format!("refused: a request of {len} bytes").as_bytes(),
                        0,
                    );
                };
                let mut hash = vec![0u8; len];
                match region.read(0, &mut hash) {
                    Ok(()) => outcome(s.sign_hash(&hash), 0),
                    Err(e) => answer(FAILED, e.to_string().as_bytes(), 0),
                }
            }
            (op, Ok(_)) => answer(
                REFUSED,
                format!("refused: unknown request {op}").as_bytes(),
                0,
            ),
        }
    };
    let mut reply = handle(first);
    loop {
        match lwc::switch(&caller, reply) {
            Ok(next) => reply = handle(next.args),
            Err(_) => sys::exit_now(0),
        }
    }
}

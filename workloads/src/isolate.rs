//! Running a measurement in a forked child and getting its [`Outcome`] back.
//!
//! ```text
//!   caller ──fork──► child: f() ─► Outcome JSON (length-prefixed) ─► pipe ─► _exit(0)
//!     │                                                               │
//!     └──────────── read one message, waitpid ◄───────────────────────┘
//! ```
//!
//! The lwc backends need this: `lwc::init` turns the calling process into a group supervisor and
//! continues in another pid, so it must run in a process of its own. Whichever process ends up
//! running the rest of `f` (the lwC holding control) writes the message and exits normally. The
//! message is the same [`Outcome`] the worker sends the harness: one wire type for both hops.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::experiment::{os, MeasureError, Outcome};
use crate::sys;
use model::exit;

fn send<T: Serialize>(fd: OwnedFd, r: Result<T, MeasureError>) -> i32 {
    let Ok(body) = serde_json::to_vec(&MeasureError::outcome(r)) else {
        return i32::from(exit::CHILD_UNENCODABLE);
    };
    let mut file = std::fs::File::from(fd);
    let len = (body.len() as u64).to_le_bytes();
    match file.write_all(&len).and_then(|()| file.write_all(&body)) {
        Ok(()) => i32::from(exit::SUCCESS),
        Err(_) => i32::from(exit::CHILD_UNWRITABLE),
    }
}

/// Runs `f` in a forked child of this (single-threaded) process and returns its result.
///
/// Errors: the fork is refused when the process has other threads; a child that dies without a
/// result gives [`MeasureError::Os`] naming its exit status; an error returned by `f` comes back
/// as the same variant for `Unavailable` and `BadPoint`, as `Failed` with its message otherwise.
pub fn run_isolated<T, F>(f: F) -> Result<T, MeasureError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Result<T, MeasureError>,
{
    let (read_end, write_end) = rustix::pipe::pipe().map_err(|e| os("pipe", e))?;
    let pid = {
        let child = move || send(write_end, f());
        sys::fork_with(child).map_err(|e| os("fork", e))?
    };
    // The child's copy of `read_end` is closed by `_exit`; our `write_end` was moved into the
    // closure, which the parent drops here (so EOF comes when the child side is gone).
    let mut file = std::fs::File::from(read_end);
    let mut len = [0u8; 8];
    let received = file.read_exact(&mut len).and_then(|()| {
        let mut body = vec![0u8; u64::from_le_bytes(len) as usize];
        file.read_exact(&mut body).map(|()| body)
    });
    drop(file);
    let status = sys::wait_exit_code(pid);
    let body = match (received, status) {
        (Ok(body), _) => body,
        (Err(_), Ok(code)) => {
            return Err(os(
                "isolated worker",
                std::io::Error::other(format!("exited with status {code} and no result")),
            ))
        }
        (Err(_), Err(e)) => return Err(os("isolated worker", e)),
    };
    let outcome: Outcome<T> = serde_json::from_slice(&body)
        .map_err(|e| os("isolated worker result", std::io::Error::other(e)))?;
    MeasureError::from_outcome(outcome)
}

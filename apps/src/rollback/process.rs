//! The processes of the rollback handler: forking it (and, for the `fork` strategy, its
//! per-session workers), waiting for them, and leaving a forked child without unwinding.
//!
//! ```text
//!   driver (a single-threaded worker) ──fork──► handler (own process group)
//!                                                 └──fork──► session worker   (`fork` only)
//! ```
//!
//! # Safety
//! `fork` is only sound here in a single-threaded process: a child gets a copy of every lock
//! another thread held at the fork and may deadlock on one (malloc's, stdout's). [`fork`]
//! checks that the caller has exactly one thread and refuses otherwise. A child never returns
//! into its parent's stack frames: it runs its closure and leaves with `_exit` ([`exit_now`]),
//! so destructors and `atexit` handlers are not run twice.
//!
//! # References
//! fork(2), _exit(2), waitpid(2), setpgid(2).
#![allow(unsafe_code)]

use std::io;
use std::time::Duration;

use rustix::process::{Pid, Signal, WaitOptions};

use super::RollbackError;

/// Exit code of a child whose closure panicked.
pub const PANICKED: i32 = 101;

/// The calling process's thread count (`/proc/self/task`), retried for up to 100 ms because a
/// thread that was just joined can linger there for a moment.
fn threads() -> io::Result<usize> {
    let mut n = 0;
    for _ in 0..100 {
        n = std::fs::read_dir("/proc/self/task")?.count();
        if n == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(n)
}

/// Proof that the process had one thread when it was made; a holder starts no thread while it
/// keeps it, so forks made under it skip the check (the `fork` strategy forks per session, and
/// must not pay a read of /proc that the lwC strategies do not pay either).
pub struct SingleThreaded {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SingleThreaded {
    /// Checks that the calling process has exactly one thread.
    pub fn check() -> Result<Self, RollbackError> {
        let n = threads().map_err(|e| RollbackError::os("reading /proc/self/task", e))?;
        if n != 1 {
            return Err(RollbackError::MultiThreaded(n));
        }
        Ok(SingleThreaded {
            _not_send: std::marker::PhantomData,
        })
    }
}

/// Forks; the child runs `child` and `_exit`s with the code it returns ([`PANICKED`] if it
/// panics). Returns the child's pid in the parent.
pub fn fork(_single: &SingleThreaded, child: impl FnOnce() -> i32) -> Result<Pid, RollbackError> {
    // SAFETY: the process is single-threaded (`SingleThreaded` was checked, and its holder starts
    // no thread), so the child inherits no lock held by another thread; the child never returns
    // from this function (it `_exit`s below).
    let raw = unsafe { libc::fork() };
    match raw {
        -1 => Err(RollbackError::os("fork", io::Error::last_os_error())),
        0 => {
            let code =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(PANICKED);
            exit_now(code)
        }
        pid => {
            Pid::from_raw(pid).ok_or_else(|| RollbackError::os("fork", io::Error::other("bad pid")))
        }
    }
}

/// Leaves the calling process at once with `code` (`_exit(2)`): no destructors, no `atexit`.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes a plain integer and never returns; skipping destructors is the point.
    unsafe { libc::_exit(code) }
}

/// Makes the calling process the leader of a new process group, so that whoever started it
/// can end everything it forked with one signal.
pub fn own_process_group() -> Result<(), RollbackError> {
    rustix::process::setpgid(None, None).map_err(|e| RollbackError::os("setpgid", e.into()))
}

/// Waits for `pid` and returns its exit code; a death by signal is an error naming it.
pub fn wait_exit_code(pid: Pid) -> Result<i32, RollbackError> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    return Ok(code);
                }
                if let Some(sig) = status.terminating_signal() {
                    return Err(RollbackError::Died(format!(
                        "pid {} killed by signal {sig}",
                        pid.as_raw_nonzero()
                    )));
                }
            }
            Ok(None) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(RollbackError::os("waitpid", e.into())),
        }
    }
}

/// Kills the process group `pgid` (SIGKILL) and reaps its leader; for clean-up, errors ignored.
pub fn kill_group(pgid: Pid) {
    let _ = rustix::process::kill_process_group(pgid, Signal::KILL);
    let _ = rustix::process::waitpid(Some(pgid), WaitOptions::empty());
}

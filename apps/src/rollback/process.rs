//! The processes of the rollback handler: forking it (and, for the `fork` strategy, its
//! per-session workers), waiting for them, ending their process group.
//!
//! ```text
//!   driver (a single-threaded worker) ──fork──► handler (own process group)
//!                                                 └──fork──► session worker   (`fork` only)
//! ```
//!
//! The fork itself is `crate::sys`'s, which checks that the process is single-threaded.

use rustix::process::{Pid, Signal, WaitOptions};

use super::RollbackError;
use crate::sys;

/// Proof that the process had one thread when it was made; a holder starts no thread while it
/// keeps it, so forks made under it skip the check (the `fork` strategy forks per session, and
/// must not pay a read of /proc that the lwC strategies do not pay either).
pub struct SingleThreaded {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SingleThreaded {
    /// Checks that the calling process has exactly one thread.
    pub fn check() -> Result<Self, RollbackError> {
        sys::ensure_single_threaded().map_err(|e| RollbackError::os("fork", e))?;
        Ok(SingleThreaded {
            _not_send: std::marker::PhantomData,
        })
    }
}

/// Forks; the child runs `child` and `_exit`s with the code it returns (101 if it panics).
/// Returns the child's pid in the parent.
pub fn fork(_single: &SingleThreaded, child: impl FnOnce() -> i32) -> Result<Pid, RollbackError> {
    sys::fork(true, child).map_err(|e| RollbackError::os("fork", e))
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

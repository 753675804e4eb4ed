//! `seccomp-unotify`: a supervisor process with no lwC runtime, deciding each trapped call of
//! its sandbox child from the policy. It is the floor under `lwc-systrap`: the same kernel
//! path (the filter, the listener, one wake-up each way on one CPU), without the runtime's
//! bookkeeping.
//!
//! ```text
//!   supervisor (parent)                                sandbox (child)
//!   wait for the listener's number in the window ◄──── seccomp(NEW_LISTENER): store fd+1
//!   pidfd_getfd(child, fd)
//!   loop: poll ─► NOTIF_RECV ◄──────────────────────── openat(...) blocks
//!         decide (path read from the window)
//!         NOTIF_SEND(CONTINUE | errno) ──────────────► returns
//!   poll: POLLHUP (the sandbox is gone) ─► done
//! ```
//! Each round polls before receiving, as lwC's monitor does, so the two differ by the runtime
//! alone.

use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lwc::seccomp;
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags};

use super::mechanism::{os, reply, MonitorError};
use super::policy::Policy;
use super::sandbox::listener_word;
use super::sys;

/// How long the supervisor waits for the sandbox to install its filter, and for any one call.
const PATIENCE: Duration = Duration::from_secs(10);

/// Serves the sandbox `child` until it is gone. Returns early (Ok) when the sandbox failed
/// before its filter was installed: its exit status says why.
pub(crate) fn serve(window: &sys::Shared, child: Pid, policy: &Policy) -> Result<(), MonitorError> {
    let Some(listener) = take_listener(window, child)? else {
        return Ok(());
    };
    let mut failures = 0;
    loop {
        let mut fds = [PollFd::new(&listener, PollFlags::IN)];
        let timeout = rustix::time::Timespec {
            tv_sec: PATIENCE.as_secs() as i64,
            tv_nsec: 0,
        };
        let ready =
            rustix::event::poll(&mut fds, Some(&timeout)).map_err(|e| MonitorError::Os {
                op: "poll",
                source: e.into(),
            })?;
        if ready == 0 {
            return Err(MonitorError::Sandbox(format!(
                "no call from the sandbox for {PATIENCE:?}"
            )));
        }
        if !fds[0].revents().contains(PollFlags::IN) {
            return Ok(()); // hang-up: every process under the filter is gone
        }
        let n = match seccomp::receive(&listener) {
            Ok(n) => n,
            // The sandbox died between the poll and the receive: the next poll says so.
            Err(_) if failures < 100 => {
                failures += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let verdict = policy.decide(n.nr, &n.args, window);
        seccomp::respond(&listener, n.id, reply(verdict))?;
    }
}

/// Waits for the listener's number in the window and takes a copy of it from the sandbox;
/// None when the sandbox reports it has none.
fn take_listener(window: &sys::Shared, child: Pid) -> Result<Option<OwnedFd>, MonitorError> {
    let word = listener_word(window).map_err(os("window"))?;
    let start = Instant::now();
    let number = loop {
        match word.load(Ordering::Acquire) {
            0 if start.elapsed() < PATIENCE => std::thread::sleep(Duration::from_micros(50)),
            0 => {
                return Err(MonitorError::Sandbox(
                    "the sandbox never installed its filter".into(),
                ))
            }
            u64::MAX => return Ok(None),
            v => break (v - 1) as i32,
        }
    };
    // A sandbox that made no trapped call may be gone already (ESRCH): nothing to serve.
    let taken = rustix::process::pidfd_open(child, PidfdFlags::empty())
        .and_then(|pidfd| rustix::process::pidfd_getfd(&pidfd, number, PidfdGetfdFlags::empty()));
    match taken {
        Ok(listener) => Ok(Some(listener)),
        Err(rustix::io::Errno::SRCH) => Ok(None),
        Err(e) => Err(MonitorError::Os {
            op: "pidfd_getfd",
            source: e.into(),
        }),
    }
}

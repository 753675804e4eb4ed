//! `ptrace`: a tracer deciding each call its tracee's filter hands it (`SECCOMP_RET_TRACE`,
//! seen as a `PTRACE_EVENT_SECCOMP` stop), as strace-style sandboxes do.
//!
//! ```text
//!   tracer (parent)                                   tracee (child)
//!   waitpid: SIGSTOP ◄──────────────────────────────── PTRACE_TRACEME; raise(SIGSTOP)
//!   SETOPTIONS(TRACESECCOMP | EXITKILL); CONT          no_new_privs; filter: trace all
//!   loop: waitpid ◄─ PTRACE_EVENT_SECCOMP ──────────── openat(...) stops
//!         GETREGS; decide (path read from the window)
//!         deny: orig_rax = -1, rax = -errno; SETREGS
//!         CONT ──────────────────────────────────────► runs (or is skipped) and returns
//! ```
//! A denied call is skipped: with the number set to -1 the kernel runs nothing and returns the
//! value left in `rax`.

use rustix::process::Pid;

use super::mechanism::{os, MonitorError};
use super::policy::{Policy, Verdict};
use super::sys;

/// Serves the tracee `child` until it ends; returns its final wait status (it is reaped here).
pub(crate) fn serve(
    child: Pid,
    policy: &Policy,
    window: &sys::Shared,
) -> Result<i32, MonitorError> {
    let first = sys::wait(child).map_err(os("waitpid"))?;
    if !libc::WIFSTOPPED(first) {
        return Ok(first); // it failed before stopping for us
    }
    sys::set_trace_options(child, libc::PTRACE_O_TRACESECCOMP | libc::PTRACE_O_EXITKILL)
        .map_err(os("PTRACE_SETOPTIONS"))?;
    sys::cont(child, 0).map_err(os("PTRACE_CONT"))?;
    loop {
        let status = sys::wait(child).map_err(os("waitpid"))?;
        if !libc::WIFSTOPPED(status) {
            return Ok(status);
        }
        let signal = libc::WSTOPSIG(status);
        if signal == libc::SIGTRAP && status >> 16 == libc::PTRACE_EVENT_SECCOMP {
            decide(child, policy, window)?;
            sys::cont(child, 0).map_err(os("PTRACE_CONT"))?;
        } else {
            // Another signal: deliver it as it came.
            sys::cont(child, signal).map_err(os("PTRACE_CONT"))?;
        }
    }
}

/// Decides the call the tracee is stopped in, and skips it with the errno if denied.
fn decide(child: Pid, policy: &Policy, window: &sys::Shared) -> Result<(), MonitorError> {
    let mut regs = sys::get_regs(child).map_err(os("PTRACE_GETREGS"))?;
    let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9];
    if let Verdict::Deny(e) = policy.decide(regs.orig_rax as i64, &args, window) {
        regs.orig_rax = u64::MAX; // -1: run nothing
        regs.rax = (-(e as i64)) as u64;
        sys::set_regs(child, &regs).map_err(os("PTRACE_SETREGS"))?;
    }
    Ok(())
}

//! seccomp filters with user notification: how a SYSTRAP lwC's system calls reach its monitor.
//!
//! ```text
//!   sandboxed lwC                         kernel                    monitor lwC
//!   syscall(nr, args) ──► filter: USER_NOTIF ──► listener fd ──► NOTIF_RECV (nr, args)
//!        (blocked)                                              decide: run / fake / deny
//!   returns ◄──────────────────────────────────────────────── NOTIF_SEND (CONTINUE | val | errno)
//! ```

use crate::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The first of the system call numbers the runtime uses for its own hand-offs between a
/// sandboxed lwC and its monitor: `MARKER_NR + kind`, with the switch's six words as arguments,
/// so a sandbox never writes the switchboard. They are no real system calls (well below the x32
/// bit, far above the table), so the filter traps them without shadowing a call the program
/// makes.
pub(crate) const MARKER_NR: i64 = 0x000c_a100;
/// How many marker numbers there are (`kind` < this).
pub(crate) const MARKERS: i64 = 16;

/// The hand-off kind a marker call carries, if `nr` is one.
pub(crate) fn marker_kind(nr: i64) -> Option<u32> {
    (MARKER_NR..MARKER_NR + MARKERS)
        .contains(&nr)
        .then(|| (nr - MARKER_NR) as u32)
}

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0: u32 = 16;
const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | 0x30 | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

/// Which system calls a filter sends to the monitor.
#[derive(Debug, Clone)]
pub(crate) enum TrapSet {
    /// Every call except the few the runtime itself needs to park and exit.
    All,
    /// Only these numbers.
    Only(Vec<i64>),
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}

/// Builds the classic-BPF program of a SYSTRAP lwC.
///
/// `handoff_fd` is the one socket on which `sendmsg` is let through untrapped, so the new lwC
/// can hand its listener to the monitor before the monitor listens (the monitor then closes
/// its end, and later sends on it fail with EPIPE).
pub(crate) fn trap_filter(set: &TrapSet, handoff_fd: i32) -> Vec<libc::sock_filter> {
    let notify = libc::SECCOMP_RET_USER_NOTIF;
    let allow = libc::SECCOMP_RET_ALLOW;
    let mut p = vec![
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, OFF_NR),
        // x32 system calls would bypass number checks: refuse them.
        libc::sock_filter {
            code: BPF_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        stmt(BPF_RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        // MARKER_NR <= nr < MARKER_NR + MARKERS: the runtime's hand-offs.
        libc::sock_filter {
            code: BPF_JGE_K,
            jt: 0,
            jf: 2,
            k: MARKER_NR as u32,
        },
        libc::sock_filter {
            code: BPF_JGE_K,
            jt: 1,
            jf: 0,
            k: (MARKER_NR + MARKERS) as u32,
        },
        stmt(BPF_RET_K, notify),
    ];
    // What the runtime needs to park (futex) and to end (exit, exit_group, sigreturn).
    for nr in [
        libc::SYS_futex,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_rt_sigreturn,
        libc::SYS_restart_syscall,
    ] {
        p.push(jeq(nr as u32, 0, 1));
        p.push(stmt(BPF_RET_K, allow));
    }
    // sendmsg on the hand-off socket only.
    p.push(jeq(libc::SYS_sendmsg as u32, 0, 4));
    p.push(stmt(BPF_LD_W_ABS, OFF_ARG0));
    p.push(jeq(handoff_fd as u32, 0, 1));
    p.push(stmt(BPF_RET_K, allow));
    p.push(stmt(BPF_LD_W_ABS, OFF_NR));
    match set {
        TrapSet::All => p.push(stmt(BPF_RET_K, notify)),
        TrapSet::Only(nrs) => {
            for &nr in nrs {
                p.push(jeq(nr as u32, 0, 1));
                p.push(stmt(BPF_RET_K, notify));
            }
            p.push(stmt(BPF_RET_K, allow));
        }
    }
    p
}

/// Installs `prog` on the calling process and returns the user-notification listener.
/// The caller must have set no_new_privs (or hold CAP_SYS_ADMIN).
pub(crate) fn install_with_listener(prog: &[libc::sock_filter]) -> Result<OwnedFd> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points at a live filter array for the duration of the call; the kernel
    // copies it.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &fprog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("seccomp(SECCOMP_SET_MODE_FILTER)"));
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// One trapped system call, as the monitor receives it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Notification {
    /// The kernel's cookie for the answer.
    pub(crate) id: u64,
    /// The system call number.
    pub(crate) nr: i64,
    /// Its six arguments.
    pub(crate) args: [u64; 6],
}

/// Receives the next notification (blocks).
pub(crate) fn receive(listener: &OwnedFd) -> Result<Notification> {
    // SAFETY: seccomp_notif is plain data; zero is a valid value.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    super::retry_eintr("SECCOMP_IOCTL_NOTIF_RECV", || {
        // SAFETY: the kernel requires a zeroed seccomp_notif: every try gets a fresh one.
        n = unsafe { std::mem::zeroed() };
        // SAFETY: a valid, zeroed seccomp_notif out-struct for NOTIF_RECV.
        unsafe {
            libc::ioctl(
                listener.as_raw_fd(),
                libc::SECCOMP_IOCTL_NOTIF_RECV as _,
                &mut n as *mut libc::seccomp_notif,
            ) as i64
        }
    })?;
    let mut args = [0u64; 6];
    args.copy_from_slice(&n.data.args);
    Ok(Notification {
        id: n.id,
        nr: n.data.nr as i64,
        args,
    })
}

/// How the monitor answers a trapped call.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    /// Let the kernel run the call in the trapped process.
    Continue,
    /// The call returns this value without running.
    Value(i64),
    /// The call fails with this errno without running.
    Errno(i32),
}

/// Answers notification `id`. Returns false when the trapped process is gone (ENOENT).
pub(crate) fn respond(listener: &OwnedFd, id: u64, reply: Reply) -> Result<bool> {
    let (val, error, flags) = match reply {
        Reply::Continue => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        Reply::Value(v) => (v, 0, 0),
        Reply::Errno(e) => (0, -e.abs(), 0),
    };
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: a valid seccomp_notif_resp for NOTIF_SEND.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SEND as _,
            &mut resp as *mut libc::seccomp_notif_resp,
        )
    };
    if r == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) {
        return Ok(false);
    }
    Err(Error::Os {
        op: "SECCOMP_IOCTL_NOTIF_SEND",
        source: e,
    })
}

//! seccomp filters with user notification: how a SYSTRAP lwC's system calls reach its monitor.
//!
//! ```text
//!   sandboxed lwC                         kernel                    monitor lwC
//!   syscall(nr, args) ──► filter: USER_NOTIF ──► listener fd ──► NOTIF_RECV (nr, args)
//!        (blocked)                                              decide: run / fake / deny
//!   returns ◄──────────────────────────────────────────────── NOTIF_SEND (CONTINUE | val | errno)
//! ```
//!
//! The classic-BPF building blocks, the installation and the notification calls are public
//! (`lwc::seccomp`), so that a program comparing SYSTRAP with raw seccomp (a filter that decides
//! in the kernel, a user-notification supervisor, a ptrace tracer) builds its filters from the
//! same pieces, with the same guard against the 32-bit and x32 system-call ABIs.

use crate::sys::process::{self, Forked};
use crate::sys::{fd, futex, mem};
use crate::{Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;

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
const BPF_AND_K: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
/// Offset of the low 32 bits of the second argument (futex's `op`) in `seccomp_data`.
const OFF_ARG1: u32 = OFF_ARG0 + 8;

/// The futex operations a sandbox may run untrapped: waits and wakes, shared or private, with
/// either clock — what the runtime's parking (and a program's locks, and `futex_waitv`'s
/// companions) use. The others act on words other than the caller's own: a requeue
/// (`FUTEX_CMP_REQUEUE`) moves a parked sibling's waiters off its word, so no wake reaches it
/// again; `WAKE_OP` writes a word; the PI operations take over a lock.
const FUTEX_OPS_ALLOWED: [u32; 4] = [
    libc::FUTEX_WAIT as u32,
    libc::FUTEX_WAKE as u32,
    libc::FUTEX_WAIT_BITSET as u32,
    libc::FUTEX_WAKE_BITSET as u32,
];
/// The flag bits of a futex `op` that do not change what it does.
const FUTEX_OP_FLAGS: u32 = (libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) as u32;

/// Which system calls a filter sends to the monitor.
#[derive(Debug, Clone)]
pub(crate) enum TrapSet {
    /// Every call except the few the runtime itself needs to park and exit.
    All,
    /// Only these numbers.
    Only(Vec<i64>),
}

/// One BPF statement (`code`, `k`), no jumps.
pub fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// `if A == k` skip `jt` instructions, else skip `jf`.
pub fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}

/// Loads the system call number into A.
pub fn load_nr() -> libc::sock_filter {
    stmt(BPF_LD_W_ABS, OFF_NR)
}

/// Loads the low 32 bits of argument `i` (0–5) into A (flags, descriptors and `int`s; a pointer
/// is only a number here: a filter cannot read what it points at).
pub fn load_arg_low(i: u32) -> libc::sock_filter {
    stmt(BPF_LD_W_ABS, OFF_ARG0 + 8 * i)
}

/// `A &= k`.
pub fn and(k: u32) -> libc::sock_filter {
    stmt(BPF_AND_K, k)
}

/// Ends the filter with `action` (`SECCOMP_RET_*`, with an errno or data in the low bits).
pub fn ret(action: u32) -> libc::sock_filter {
    stmt(BPF_RET_K, action)
}

/// The guard every filter here starts with: a call made through another ABI than x86_64's
/// (`int 0x80`, i386 numbers) kills the process, and an x32 number (`nr | 0x4000_0000`, which
/// would otherwise slip past every number check) fails with ENOSYS. Leaves the number in A.
pub fn native_abi_only() -> Vec<libc::sock_filter> {
    vec![
        stmt(BPF_LD_W_ABS, OFF_ARCH),
        jeq(AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, OFF_NR),
        libc::sock_filter {
            code: BPF_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        stmt(BPF_RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
    ]
}

/// Builds the classic-BPF program of a SYSTRAP lwC. Nothing is let through by descriptor
/// number: the listener is handed over by a helper that the filter does not cover (see
/// [`install_and_hand_over`]).
pub(crate) fn trap_filter(set: &TrapSet) -> Vec<libc::sock_filter> {
    let notify = libc::SECCOMP_RET_USER_NOTIF;
    let allow = libc::SECCOMP_RET_ALLOW;
    let mut p = native_abi_only();
    p.extend([
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
    ]);
    // futex with the operations of FUTEX_OPS_ALLOWED only; any other goes to the monitor when
    // every call does (or the program asked for futex), else fails with ENOSYS.
    let futex_trapped = match set {
        TrapSet::All => true,
        TrapSet::Only(nrs) => nrs.contains(&libc::SYS_futex),
    };
    let refused = if futex_trapped {
        notify
    } else {
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
    };
    let checks = FUTEX_OPS_ALLOWED.len() as u8;
    p.push(jeq(libc::SYS_futex as u32, 0, checks + 4));
    p.push(stmt(BPF_LD_W_ABS, OFF_ARG1));
    p.push(stmt(BPF_AND_K, !FUTEX_OP_FLAGS));
    for (i, op) in FUTEX_OPS_ALLOWED.iter().enumerate() {
        // Jump over the remaining checks and the refusal, to the allow.
        p.push(jeq(*op, checks - i as u8, 0));
    }
    p.push(stmt(BPF_RET_K, refused));
    p.push(stmt(BPF_RET_K, allow));
    // What the runtime needs to end (exit, exit_group, sigreturn); futex_waitv only waits.
    for nr in [
        libc::SYS_futex_waitv,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_rt_sigreturn,
        libc::SYS_restart_syscall,
    ] {
        p.push(jeq(nr as u32, 0, 1));
        p.push(stmt(BPF_RET_K, allow));
    }
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

/// Installs `prog` on the calling process and sends its listener over `hs` to the monitor,
/// which cannot listen before it has it. Every call the process makes from the filter's
/// installation on is trapped, `sendmsg` included, so the sending is done by a helper forked
/// just before, which shares our descriptor table (CLONE_FILES) but not the filter: it waits
/// for the listener's number on a shared futex word, sends it, and exits. The caller must have
/// set no_new_privs (or hold CAP_SYS_ADMIN).
pub(crate) fn install_and_hand_over(prog: &[libc::sock_filter], hs: &OwnedFd) -> Result<()> {
    /// The word's values besides a listener's number + 1.
    const WAITING: u32 = 0;
    const FAILED: u32 = u32::MAX;
    let page = mem::SharedWord::new()?;
    let word = page.word();
    // SAFETY: a new lwC in its setup is single-threaded; the helper runs only the code below
    // (raw calls on the shared table and word) and exits.
    match unsafe { process::fork_sharing_files() }? {
        Forked::Child => {
            while word.load(Ordering::Acquire) == WAITING {
                futex::wait(word, WAITING, None);
            }
            let v = word.load(Ordering::Acquire);
            if v == FAILED {
                process::exit_now(0); // the lwC reports the failure itself
            }
            // SAFETY: the lwC stored the listener's number after seccomp returned it; the
            // table is shared, and the lwC keeps it open until we are reaped.
            let listener = unsafe { BorrowedFd::borrow_raw(v as i32 - 1) };
            if fd::send(hs, b"L", &[listener]).is_err() {
                // Its every call is trapped now, and nobody holds the listener: end it, so
                // its monitor sees end-of-file instead of waiting forever.
                process::kill(process::getppid(), libc::SIGKILL);
            }
            process::exit_now(0)
        }
        Forked::Parent(helper) => {
            let installed = install_with_listener(prog);
            let v = installed
                .as_ref()
                .map_or(FAILED, |l| l.as_raw_fd() as u32 + 1);
            word.store(v, Ordering::Release);
            futex::wake(word, 1);
            // Trapped from here on (if installed): the monitor, once it has the listener,
            // lets the rest of the setup run.
            process::wait_child(helper, true);
            installed.map(drop)
        }
    }
}

/// Installs `prog` on the calling process and returns the user-notification listener.
/// The caller must have set no_new_privs (or hold CAP_SYS_ADMIN).
fn install_with_listener(prog: &[libc::sock_filter]) -> Result<OwnedFd> {
    install(prog, true)?.ok_or(Error::Invalid {
        op: "seccomp(SECCOMP_SET_MODE_FILTER)",
        reason: "no listener came back".into(),
    })
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: installs `prog` on the calling thread for
/// good (it is inherited by every child), with a user-notification listener when `listener`
/// (`SECCOMP_FILTER_FLAG_NEW_LISTENER`), which is returned. The caller must have set
/// no_new_privs (`prctl(PR_SET_NO_NEW_PRIVS)`) or hold CAP_SYS_ADMIN.
///
/// # References
/// seccomp(2), seccomp_unotify(2).
pub fn install(prog: &[libc::sock_filter], listener: bool) -> Result<Option<OwnedFd>> {
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
            if listener {
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
            } else {
                0
            },
            &fprog as *const libc::sock_fprog,
        )
    };
    if fd < 0 {
        return Err(Error::last_os("seccomp(SECCOMP_SET_MODE_FILTER)"));
    }
    // SAFETY: with NEW_LISTENER the value is a fresh descriptor we own.
    Ok(listener.then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

/// One trapped system call, as the monitor receives it.
#[derive(Debug, Clone, Copy)]
pub struct Notification {
    /// The kernel's cookie for the answer.
    pub id: u64,
    /// The system call number.
    pub nr: i64,
    /// Its six arguments.
    pub args: [u64; 6],
}

/// Receives the next notification from `listener` (`SECCOMP_IOCTL_NOTIF_RECV`; blocks).
pub fn receive(listener: &OwnedFd) -> Result<Notification> {
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
pub enum Reply {
    /// Let the kernel run the call in the trapped process.
    Continue,
    /// The call returns this value without running.
    Value(i64),
    /// The call fails with this errno without running.
    Errno(i32),
}

/// Answers notification `id` (a trapped call that makes a descriptor, such as memfd_create)
/// by installing a copy of `fd` in the trapped process, close-on-exec, as the call's value.
/// Returns the number it has there; ENOENT when the process is gone.
pub(crate) fn answer_with_fd(listener: &OwnedFd, id: u64, fd: BorrowedFd<'_>) -> Result<i32> {
    let mut add = libc::seccomp_notif_addfd {
        id,
        flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
        srcfd: fd.as_raw_fd() as u32,
        newfd: 0,
        newfd_flags: libc::O_CLOEXEC as u32,
    };
    // SAFETY: a valid seccomp_notif_addfd for NOTIF_ADDFD; the kernel only reads it.
    let r = unsafe {
        libc::ioctl(
            listener.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_ADDFD as _,
            &mut add as *mut libc::seccomp_notif_addfd,
        )
    };
    if r < 0 {
        return Err(Error::last_os("SECCOMP_IOCTL_NOTIF_ADDFD"));
    }
    Ok(r)
}

/// Answers notification `id` (`SECCOMP_IOCTL_NOTIF_SEND`). Returns false when the trapped
/// process is gone (ENOENT).
pub fn respond(listener: &OwnedFd, id: u64, reply: Reply) -> Result<bool> {
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

//! The only place in `apps` that uses `unsafe`: fork, `_exit`, the signal mask, closing an
//! inherited descriptor in a child, the fork-like `lwc::create`, and `lwc::Snapshot::take`,
//! which returns twice.
//!
//! # Safety
//!
//! - `fork` is sound here only in a single-threaded process (a child of a multi-threaded one can
//!   deadlock on a lock another thread held): [`fork`] checks `/proc/self/task` first and refuses
//!   otherwise, and the child leaves with `_exit`, never returning into the caller's frames.
//! - [`create_lwc`] and [`take_snapshot`] rely on the lwC group, which refuses to start in a
//!   multi-threaded process, and on their callers, who start no thread in a group; the caller of
//!   [`take_snapshot`] keeps no value written after it across a rollback.
//! - [`close_inherited`] closes descriptor numbers in a forked child whose owning objects (copied
//!   with the parent's memory) the child never uses or drops: it leaves with `_exit`.
//! - The signal calls take pointers to `sigset_t` values that live across the call.
//!
//! # References
//! fork(2), _exit(2), sigprocmask(2), sigtimedwait(2), signal(2), close(2).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use rustix::process::Pid;

/// Leaves the calling process at once (`_exit(2)`): no destructors, no `atexit` handlers.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes an integer and never returns; skipping destructors is the point.
    unsafe { libc::_exit(code) }
}

/// Fails unless the calling process has exactly one thread (a thread just joined may linger in
/// `/proc/self/task` for a moment, so this retries for up to 100 ms).
pub(crate) fn ensure_single_threaded() -> io::Result<()> {
    let mut threads = 0;
    for _ in 0..100 {
        threads = std::fs::read_dir("/proc/self/task")?.count();
        if threads == 1 {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err(io::Error::other(format!(
        "refusing to fork: the process has {threads} threads (fork is only safe with one)"
    )))
}

/// Forks; the child runs `child` and `_exit`s with the code it returns (101 if it panics).
/// Returns the child's pid in the parent. Refuses when the process has other threads, unless
/// `checked` says the caller checked once and has started no thread since.
pub(crate) fn fork(checked: bool, child: impl FnOnce() -> i32) -> io::Result<Pid> {
    if !checked {
        ensure_single_threaded()?;
    }
    // SAFETY: the process is single-threaded (checked above or by the caller), so the child
    // inherits no lock held by another thread; the child never returns from here (`_exit`).
    let raw = unsafe { libc::fork() };
    match raw {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
            exit_now(code)
        }
        pid => Pid::from_raw(pid).ok_or_else(|| io::Error::other("fork returned a bad pid")),
    }
}

/// Closes descriptor numbers this forked child inherited and will never use. The objects that
/// own them in the copied memory are never dropped: the child leaves with [`exit_now`].
pub(crate) fn close_inherited(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: see the module's Safety section; closing a number that is not open is EBADF.
        unsafe { libc::close(fd) };
    }
}

fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: `sigemptyset` initialises the zeroed set it is given; `sigaddset` adds valid
    // signal numbers to it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread, so [`wait_for_stop_signal`] takes them.
pub(crate) fn block_stop_signals() -> io::Result<()> {
    let set = sigset(&[libc::SIGINT, libc::SIGTERM]);
    // SAFETY: `set` lives across the call; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Gives a forked child the default signal state a worker wants: nothing blocked, SIGINT
/// ignored (a terminal's ^C reaches the whole process group; the server's parent takes it and
/// stops the workers in order), SIGPIPE ignored (a vanished client is a write error).
pub(crate) fn worker_signals() -> io::Result<()> {
    let empty = sigset(&[]);
    // SAFETY: `empty` lives across the call; SIG_IGN is a valid disposition for both signals.
    unsafe {
        let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    Ok(())
}

/// Ignores SIGPIPE in the calling process (a peer that closed turns a write into EPIPE).
pub(crate) fn ignore_sigpipe() {
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Waits up to `timeout` for a blocked SIGINT or SIGTERM; returns it, or `None` on time-out.
pub(crate) fn wait_for_stop_signal(timeout: Duration) -> io::Result<Option<i32>> {
    let set = sigset(&[libc::SIGINT, libc::SIGTERM]);
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: `set` and `ts` live across the call; a null siginfo pointer is allowed.
    let rc = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    if rc >= 0 {
        return Ok(Some(rc));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(None),
        _ => Err(e),
    }
}

/// `lwc::create` for a caller inside a single-threaded lwC group.
pub(crate) fn create_lwc(spec: &lwc::Spec, opts: &lwc::Options) -> lwc::Result<lwc::Created> {
    // SAFETY: the worker that calls this runs an lwC group, which refused to start unless the
    // process was single-threaded, and starts no thread in it.
    unsafe { lwc::create(spec, opts) }
}

/// `lwc::Snapshot::take` for the rollback handler: it runs in a single-threaded lwC group and
/// relies on nothing it writes after the take surviving a rollback (its state is meant to go
/// back; its channel was opened before).
pub(crate) fn take_snapshot(strategy: lwc::Strategy) -> lwc::Result<lwc::Taken> {
    // SAFETY: the group refused to start unless the process was single-threaded, and the
    // handler starts no thread; returning twice is what the caller wants, and it keeps no value
    // written after this call across a rollback.
    unsafe { lwc::Snapshot::take(strategy) }
}

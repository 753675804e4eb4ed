//! The few process operations the key homes need that have no safe wrapper: fork, `_exit`,
//! closing every inherited descriptor but a few.
//!
//! # Safety
//! `fork` is only sound in a single-threaded process (the child gets one thread, and any lock
//! another thread held stays locked there): [`fork`] counts this process's threads first and
//! refuses when there is more than one (no other thread exists to start one in between).
//! `_exit` ends the process without running destructors or atexit handlers, which is what a
//! forked child that must not flush its parent's buffers wants.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

/// Which side of a fork this is.
pub(crate) enum Forked {
    /// The new process.
    Child,
    /// The caller, with the child's pid.
    Parent(u32),
}

/// The number of threads of this process.
pub(crate) fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// An error unless this process is single-threaded (what forking needs).
pub(crate) fn single_threaded(op: &str) -> io::Result<()> {
    match thread_count()? {
        1 => Ok(()),
        n => Err(io::Error::other(format!(
            "{op} forks, and this process has {n} threads"
        ))),
    }
}

/// fork(2), refused in a multi-threaded process.
pub(crate) fn fork() -> io::Result<Forked> {
    single_threaded("fork")?;
    // SAFETY: this process has one thread (checked above; only it could start another), so
    // the child's only thread finds no lock held by a thread that does not exist there.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as u32)),
    }
}

/// Ends this process at once with `code` (no destructors, no atexit handlers, no flush).
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an integer and does not return.
    unsafe { libc::_exit(code) }
}

/// Closes every descriptor of this process except `keep`.
pub(crate) fn close_all_but(keep: &[RawFd]) -> io::Result<()> {
    let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in open.into_iter().filter(|fd| !keep.contains(fd)) {
        // SAFETY: closing a descriptor number; nothing in this (forked, single-threaded)
        // process uses the closed ones afterwards (the directory's own descriptor is already
        // closed, and closing it twice only returns EBADF).
        unsafe { libc::close(fd) };
    }
    Ok(())
}

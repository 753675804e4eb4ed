//! Safe wrappers over the raw Linux interfaces the runtime is built from.
//!
//! # Safety
//!
//! This module tree holds the crate's unsafe code. Each wrapper keeps the contract of its system
//! call local: pointers passed to the kernel come from live Rust values or from mappings owned by
//! RAII types ([`mem::Pages`], [`mem::SharedMapping`]) or leaked for the life of the process (the
//! switchboard), file descriptors are `OwnedFd`s, and the call that returns twice
//! ([`process::fork`]) is an `unsafe fn` whose contract its callers restate. Outside `sys`, only
//! the public calls that return twice (`create`, `Snapshot::take`) are `unsafe fn`s, which call
//! fork (or save a CPU context) under their own documented contract; and the in-place snapshot
//! engine (`snapshot::in_place`), which rewrites the process's own memory by address from these
//! wrappers, opts in file by file with its own `# Safety` paragraphs.
//!
//! ```text
//!   lwc (safe)          switch, create, overlay, syscall, snapshot
//!     └── sys (unsafe)  futex · mem (mmap, memfd) · page · process (fork, pidfd, prctl, caps)
//!                       fd (SCM_RIGHTS, epoll) · seccomp (filters, user notification)
//!                       uffd (userfaultfd, PAGEMAP_SCAN) · procfs (/proc/self/maps, status)
//!                       wp_log (the write log's handler task) · context (save/resume a CPU)
//! ```
#![allow(unsafe_code)]

pub(crate) mod context;
pub(crate) mod fd;
pub(crate) mod futex;
pub(crate) mod mem;
pub(crate) mod page;
pub(crate) mod process;
pub(crate) mod procfs;
pub mod seccomp;
pub(crate) mod uffd;
pub(crate) mod wp_log;

/// Runs a raw system call with six arguments and returns the kernel's value (negative errno on
/// failure, as the kernel returns it).
///
/// # References
/// syscall(2).
pub(crate) fn raw_syscall(nr: i64, a: [u64; 6]) -> i64 {
    // SAFETY: the caller asked for this call to be made in this lwC (the paper's lwSyscall):
    // the arguments are the caller's raw words, exactly as a C program calling syscall(2) with
    // them. The kernel validates pointers it is given; an invalid one yields EFAULT.
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r == -1 {
        -(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL) as i64)
    } else {
        r
    }
}

/// Makes a system call through `call` (which returns its raw result) again for as long as it
/// fails with EINTR; any other failure (a negative result) is the OS error of `op`.
pub(crate) fn retry_eintr(op: &'static str, mut call: impl FnMut() -> i64) -> crate::Result<i64> {
    loop {
        let r = call();
        if r >= 0 {
            return Ok(r);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(crate::Error::Os { op, source: e });
        }
    }
}

/// The errno of the system call that just failed (EIO if there is none to read).
pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

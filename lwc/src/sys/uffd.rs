//! userfaultfd write-protect tracking, the `PAGEMAP_SCAN` ioctl, `/proc/self/maps` parsing, and
//! the engine of in-place snapshots built from them.
//!
//! ```text
//!   take                                   rollback (on the restore stack, signals blocked)
//!   ────                                   ────────
//!   maps → tracked ranges                  maps + brk unchanged?  ── no ─► fix the layout
//!   memfd "pristine" sized to them         async ranges: PAGEMAP_SCAN(WRITTEN) per span
//!   large anonymous ranges: sync uffd        → memcpy pristine → page, per written region
//!     + handler task (sys::wp_log)           → UFFDIO_WRITEPROTECT them again
//!   UFFDIO_REGISTER(WP) per range          logged ranges: sort the write log, per run
//!   save CPU context ─┐                      → memcpy, UFFDIO_WRITEPROTECT (no scan)
//!                     └► on restore stack: resume the saved context: `take` returns again
//!                        UFFDIO_WRITEPROTECT, copy
//!                        populated pages
//! ```
//!
//! The arena (one private mapping, excluded from tracking, guard pages around it) holds
//! everything rollback needs without touching the heap or the caller's stack, which it rewrites:
//!
//! ```text
//!   [guard][header][restore stack ........][body: fds, context, ranges, maps, buffers][guard]
//! ```
//!
//! Kernel constants are defined here: Debian 12's headers lack `PAGEMAP_SCAN`,
//! `UFFD_FEATURE_WP_ASYNC` and `UFFD_FEATURE_WP_UNPOPULATED` (Linux 6.7+).
//!
//! # Safety
//!
//! The wrappers pass the kernel pointers to live Rust values only. The engine reads and writes
//! the process's own memory by address: it copies only ranges that `/proc/self/maps` lists as
//! private writable mappings (checked again before every rollback), and it rewrites them only
//! from the restore stack, after which it never returns to the rewritten frames but resumes the
//! context saved at `take` (see `sys::context`). That is the contract of the `unsafe fn`
//! [`SnapshotRef::take`]: the process is single-threaded, the caller accepts that `take` returns
//! a second time with all tracked memory as it was, and kernel objects (fds, other processes,
//! shared memory) are not rolled back.
//!
//! # References
//! userfaultfd(2), ioctl_userfaultfd(2), Documentation/admin-guide/mm/pagemap.rst
//! ("PAGEMAP_SCAN"), Documentation/admin-guide/mm/userfaultfd.rst ("Write Protect Notifications",
//! async mode), proc_pid_maps(5).
#![allow(unsafe_code)]

use crate::{Error, Result};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

// ---------------------------------------------------------------------------------------------
// Kernel constants (include/uapi/linux/userfaultfd.h, include/uapi/linux/fs.h).
// ---------------------------------------------------------------------------------------------

/// `_IOC(dir, type, nr, size)` on x86_64.
const fn ioc(dir: u64, ty: u8, nr: u8, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | ((ty as u64) << 8) | nr as u64
}
/// `_IOC_WRITE`.
const IOC_WRITE: u64 = 1;
/// `_IOC_READ`.
const IOC_READ: u64 = 2;

/// `UFFD_API`: the only API version.
const UFFD_API: u64 = 0xAA;
/// userfaultfd(2) flag: handle faults from user mode only (allowed without privilege).
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
/// Report madvise(DONTNEED/FREE/REMOVE) of registered memory (`UFFD_EVENT_REMOVE`).
const UFFD_FEATURE_EVENT_REMOVE: u64 = 1 << 3;
/// Report mremap of registered memory (`UFFD_EVENT_REMAP`); the registration moves along.
const UFFD_FEATURE_EVENT_REMAP: u64 = 1 << 2;
/// Report munmap of registered memory, and mappings made over it (`UFFD_EVENT_UNMAP`).
const UFFD_FEATURE_EVENT_UNMAP: u64 = 1 << 6;
/// Write-protect shmem and hugetlbfs too.
const UFFD_FEATURE_WP_HUGETLBFS_SHMEM: u64 = 1 << 12;
/// Write-protecting installs markers on unpopulated PTEs, so first writes are tracked too.
const UFFD_FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
/// A write to a protected page is resolved by the kernel (unprotect, no message): tracking only.
const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
/// `UFFDIO_API`.
const UFFDIO_API: u64 = ioc(IOC_READ | IOC_WRITE, 0xAA, 0x3F, 24);
/// `UFFDIO_REGISTER`.
const UFFDIO_REGISTER: u64 = ioc(IOC_READ | IOC_WRITE, 0xAA, 0x00, 32);
/// `UFFDIO_UNREGISTER`.
const UFFDIO_UNREGISTER: u64 = ioc(IOC_READ, 0xAA, 0x01, 16);
/// `UFFDIO_WRITEPROTECT`.
pub(crate) const UFFDIO_WRITEPROTECT: u64 = ioc(IOC_READ | IOC_WRITE, 0xAA, 0x06, 24);
/// `UFFDIO_WAKE`.
pub(crate) const UFFDIO_WAKE: u64 = ioc(IOC_READ, 0xAA, 0x02, 16);
/// Register for write-protect tracking.
const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;
/// Set (rather than clear) write protection.
const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;

/// `PAGEMAP_SCAN` on /proc/PID/pagemap.
const PAGEMAP_SCAN: u64 = ioc(IOC_READ | IOC_WRITE, b'f', 16, 96);
/// Write-protect the pages that match.
pub(crate) const PM_SCAN_WP_MATCHING: u64 = 1 << 0;
/// Fail with EPERM on a mapping not registered for async write-protect.
pub(crate) const PM_SCAN_CHECK_WPASYNC: u64 = 1 << 1;
/// Page category (of the mapping): registered for async write-protect.
pub(crate) const PAGE_IS_WPALLOWED: u64 = 1 << 0;
/// Page category: written since it was last write-protected.
pub(crate) const PAGE_IS_WRITTEN: u64 = 1 << 1;
/// Page category: a page of the file's page cache (not a private copy).
pub(crate) const PAGE_IS_FILE: u64 = 1 << 2;
/// Page category: present in memory.
pub(crate) const PAGE_IS_PRESENT: u64 = 1 << 3;
/// Page category: swapped out (or a non-present PTE entry).
pub(crate) const PAGE_IS_SWAPPED: u64 = 1 << 4;

/// `struct uffdio_api`.
#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}
/// `struct uffdio_range`.
#[repr(C)]
#[derive(Clone, Copy)]
struct UffdioRange {
    start: u64,
    len: u64,
}
/// `struct uffdio_register`.
#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}
/// `struct uffdio_writeprotect`.
#[repr(C)]
struct UffdioWriteprotect {
    range: UffdioRange,
    mode: u64,
}
/// `struct pm_scan_arg`.
#[repr(C)]
#[derive(Default)]
struct PmScanArg {
    size: u64,
    flags: u64,
    start: u64,
    end: u64,
    walk_end: u64,
    vec: u64,
    vec_len: u64,
    max_pages: u64,
    category_inverted: u64,
    category_mask: u64,
    category_anyof_mask: u64,
    return_mask: u64,
}

/// `struct page_region`: one run of pages with the same categories, as PAGEMAP_SCAN returns it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PageRegion {
    /// First byte.
    pub(crate) start: u64,
    /// One past the last byte.
    pub(crate) end: u64,
    /// The categories (masked by the query's return mask).
    pub(crate) categories: u64,
}

/// The size of a page.
pub(crate) const PAGE: usize = 4096;

use super::mem::Pages;
use super::{errno, process};

// ---------------------------------------------------------------------------------------------
// userfaultfd
// ---------------------------------------------------------------------------------------------

/// A userfaultfd in async write-protect mode: writes to protected pages are resolved by the
/// kernel without a message; the fd only says which pages are protected.
#[derive(Debug)]
pub(crate) struct Uffd {
    /// The userfaultfd.
    fd: OwnedFd,
}

impl Uffd {
    /// `userfaultfd(O_CLOEXEC | O_NONBLOCK [| UFFD_USER_MODE_ONLY])` + `UFFDIO_API` with
    /// `WP_ASYNC | WP_UNPOPULATED`.
    ///
    /// Tries full mode first and falls back to user-mode-only on EPERM: in async mode the kernel
    /// resolves kernel-mode writes too (read(2) into a protected page is still reported written).
    /// Missing pieces give [`Error::Unavailable`].
    pub(crate) fn open_wp_async() -> Result<Uffd> {
        let (fd, user_mode_only) = match open_uffd(0) {
            Ok(fd) => (fd, false),
            Err(libc::EPERM) => match open_uffd(UFFD_USER_MODE_ONLY) {
                Ok(fd) => (fd, true),
                Err(e) => return Err(unavailable(format!(
                    "userfaultfd: {} (also with UFFD_USER_MODE_ONLY; see vm.unprivileged_userfaultfd)",
                    io::Error::from_raw_os_error(e)
                ))),
            },
            Err(e) => {
                return Err(unavailable(format!(
                    "userfaultfd: {}",
                    io::Error::from_raw_os_error(e)
                )))
            }
        };
        // Ask what the kernel offers on a probe fd (UFFDIO_API may be called once per fd).
        let mut api = UffdioApi {
            api: UFFD_API,
            features: 0,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_API reads and writes one uffdio_api, a live local.
        if unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API as _, &mut api) } != 0 {
            return Err(unavailable(format!(
                "UFFDIO_API: {}",
                io::Error::last_os_error()
            )));
        }
        let need = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
        if api.features & need != need {
            return Err(unavailable(format!(
                "userfaultfd lacks WP_ASYNC/WP_UNPOPULATED (features {:#x}; needs Linux 6.7+)",
                api.features
            )));
        }
        let want = need | (api.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
        drop(fd);
        let flags = if user_mode_only {
            UFFD_USER_MODE_ONLY
        } else {
            0
        };
        let fd = open_uffd(flags).map_err(|e| Error::errno("userfaultfd", e))?;
        let mut api = UffdioApi {
            api: UFFD_API,
            features: want,
            ioctls: 0,
        };
        // SAFETY: as above.
        if unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API as _, &mut api) } != 0 {
            return Err(Error::last_os("UFFDIO_API (WP_ASYNC | WP_UNPOPULATED)"));
        }
        Ok(Uffd { fd })
    }

    /// A non-blocking userfaultfd (the handler polls it: poll(2) answers only for a
    /// non-blocking one) in *synchronous* write-protect mode (`WP_UNPOPULATED`, no
    /// `WP_ASYNC`) for the write log (`sys::wp_log`), or `None` where that cannot work as
    /// intended: only a full-mode fd makes the kernel's own writes into a protected page wait for
    /// the handler (a `UFFD_USER_MODE_ONLY` fd turns them into EFAULT), so an unprivileged
    /// process (vm.unprivileged_userfaultfd=0) gets `None` and keeps async tracking everywhere.
    ///
    /// Without `CAP_SYS_PTRACE` (every lwC: the first drops it at `init`) the system call refuses
    /// full mode; `/dev/userfaultfd` (Linux 6.1+, guarded by its file mode instead) is tried
    /// then.
    pub(crate) fn open_wp_sync() -> Option<Uffd> {
        let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
        let fd = match open_uffd_flags(flags) {
            Ok(fd) => fd,
            Err(libc::EPERM) => open_dev_userfaultfd(flags).ok()?,
            Err(_) => return None,
        };
        // The events make the log see what changes memory without a write fault: dropped
        // pages, unmapped, replaced or moved mappings (sys::wp_log).
        let mut api = UffdioApi {
            api: UFFD_API,
            features: UFFD_FEATURE_WP_UNPOPULATED
                | UFFD_FEATURE_EVENT_REMOVE
                | UFFD_FEATURE_EVENT_UNMAP
                | UFFD_FEATURE_EVENT_REMAP,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_API reads and writes one uffdio_api, a live local.
        if unsafe { libc::ioctl(fd.as_raw_fd(), UFFDIO_API as _, &mut api) } != 0 {
            return None;
        }
        Some(Uffd { fd })
    }

    /// Borrows the fd.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The userfaultfd(2) system call; errno on failure.
fn open_uffd(extra: libc::c_int) -> std::result::Result<OwnedFd, i32> {
    open_uffd_flags(libc::O_CLOEXEC | libc::O_NONBLOCK | extra)
}

/// `USERFAULTFD_IOC_NEW` on /dev/userfaultfd.
const USERFAULTFD_IOC_NEW: u64 = ioc(0, 0xAA, 0x00, 0);

/// A userfaultfd from /dev/userfaultfd (`USERFAULTFD_IOC_NEW` with `flags`); errno on failure.
fn open_dev_userfaultfd(flags: libc::c_int) -> std::result::Result<OwnedFd, i32> {
    // SAFETY: a NUL-terminated path; open returns a new fd or -1.
    let dev = unsafe { libc::open(c"/dev/userfaultfd".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if dev < 0 {
        return Err(errno());
    }
    // SAFETY: the kernel just returned this fd to us; the OwnedFd closes it on every path.
    let dev = unsafe { OwnedFd::from_raw_fd(dev) };
    // SAFETY: USERFAULTFD_IOC_NEW takes the flags by value and returns a new fd or -1.
    let fd = unsafe { libc::ioctl(dev.as_raw_fd(), USERFAULTFD_IOC_NEW as _, flags) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The userfaultfd(2) system call with exactly `flags`; errno on failure.
fn open_uffd_flags(flags: libc::c_int) -> std::result::Result<OwnedFd, i32> {
    // SAFETY: userfaultfd takes flags only and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
    if fd < 0 {
        return Err(errno());
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn unavailable(reason: String) -> Error {
    Error::Unavailable {
        what: "in-place rollback",
        reason,
    }
}

/// `UFFDIO_REGISTER` of `[start, start + len)` in write-protect mode; errno on failure.
pub(crate) fn register_wp(
    uffd: BorrowedFd<'_>,
    start: usize,
    len: usize,
) -> std::result::Result<(), i32> {
    let mut reg = UffdioRegister {
        range: UffdioRange {
            start: start as u64,
            len: len as u64,
        },
        mode: UFFDIO_REGISTER_MODE_WP,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_REGISTER reads and writes one uffdio_register, a live local; it changes
    // only how the kernel tracks the range, never its contents.
    if unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_REGISTER as _, &mut reg) } != 0 {
        return Err(errno());
    }
    Ok(())
}

/// `UFFDIO_UNREGISTER` of `[start, start + len)`; errno on failure.
pub(crate) fn unregister(
    uffd: BorrowedFd<'_>,
    start: usize,
    len: usize,
) -> std::result::Result<(), i32> {
    let range = UffdioRange {
        start: start as u64,
        len: len as u64,
    };
    // SAFETY: UFFDIO_UNREGISTER reads one uffdio_range, a live local.
    if unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_UNREGISTER as _, &range) } != 0 {
        return Err(errno());
    }
    Ok(())
}

/// `UFFDIO_WRITEPROTECT` (set) of `[start, start + len)`; errno on failure.
pub(crate) fn write_protect(
    uffd: BorrowedFd<'_>,
    start: usize,
    len: usize,
) -> std::result::Result<(), i32> {
    let mut wp = UffdioWriteprotect {
        range: UffdioRange {
            start: start as u64,
            len: len as u64,
        },
        mode: UFFDIO_WRITEPROTECT_MODE_WP,
    };
    // SAFETY: UFFDIO_WRITEPROTECT reads one uffdio_writeprotect, a live local; it changes page
    // protection bits only.
    if unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_WRITEPROTECT as _, &mut wp) } != 0 {
        return Err(errno());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PAGEMAP_SCAN
// ---------------------------------------------------------------------------------------------

/// One PAGEMAP_SCAN request: which pages match and what to do with them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ScanQuery {
    /// `PM_SCAN_*` flags.
    pub(crate) flags: u64,
    /// A page matches if it has all these categories...
    pub(crate) category_mask: u64,
    /// ...and at least one of these (when not zero)...
    pub(crate) category_anyof_mask: u64,
    /// ...where these categories count inverted (a page matches on their absence).
    pub(crate) category_inverted: u64,
    /// Categories reported for each region.
    pub(crate) return_mask: u64,
}

/// Pages written since they were last write-protected (add `PM_SCAN_*` flags as needed).
const WRITTEN: ScanQuery = ScanQuery {
    flags: 0,
    category_mask: PAGE_IS_WRITTEN,
    category_anyof_mask: 0,
    category_inverted: 0,
    return_mask: PAGE_IS_WRITTEN,
};

/// Matches no page of a mapping registered for async write-protect, so the kernel skips each
/// such mapping without walking its page tables; with `PM_SCAN_CHECK_WPASYNC` it fails with
/// EPERM at the first mapping that is not registered. One ioctl checks that a span is still
/// the registered memory it was (a mapping replaced by one of the same shape, or moved away and
/// back, has the same /proc/self/maps line but lost its registration).
pub(crate) const STILL_REGISTERED: ScanQuery = ScanQuery {
    flags: PM_SCAN_CHECK_WPASYNC,
    category_mask: PAGE_IS_WPALLOWED,
    category_anyof_mask: 0,
    category_inverted: PAGE_IS_WPALLOWED,
    return_mask: PAGE_IS_WPALLOWED,
};

/// In a file-backed private mapping whose pages were all made private copies at take: the pages
/// that are the file's again (dropped by MADV_DONTNEED and read back) or not present (dropped,
/// or swapped out). Async write-protect cannot see those: the drop keeps the page's "not
/// written" state.
pub(crate) const FILE_AGAIN: ScanQuery = ScanQuery {
    flags: 0,
    category_mask: 0,
    category_anyof_mask: PAGE_IS_FILE | PAGE_IS_PRESENT,
    category_inverted: PAGE_IS_PRESENT,
    return_mask: PAGE_IS_FILE | PAGE_IS_PRESENT,
};

/// Opens /proc/self/pagemap (read-only; PAGEMAP_SCAN needs no write access).
///
/// A non-dumpable process (after setuid, or an lwC, which the runtime makes non-dumpable) sees
/// its /proc files owned by root, and pagemap is mode 0400: an unprivileged open fails with
/// EACCES. Then the process is made dumpable for the one open(2) and put back at once; the fd
/// stays usable afterwards (the check is made at open only).
pub(crate) fn open_pagemap() -> Result<OwnedFd> {
    let path = c"/proc/self/pagemap";
    let op = "open /proc/self/pagemap";
    match open_proc(path, op) {
        Err(Error::Os { ref source, .. }) if source.raw_os_error() == Some(libc::EACCES) => {
            // SAFETY: prctl(PR_GET/SET_DUMPABLE) changes only our own dumpable flag.
            let was = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
            if was != 0 {
                return Err(Error::errno(op, libc::EACCES));
            }
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1) };
            let r = open_proc(path, op);
            // SAFETY: as above; back to non-dumpable before anything else runs.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0) };
            r
        }
        r => r,
    }
}

/// Opens /proc/self/maps, kept open so each rollback reads it without an open(2).
pub(crate) fn open_maps() -> Result<OwnedFd> {
    open_proc(c"/proc/self/maps", "open /proc/self/maps")
}

fn open_proc(path: &std::ffi::CStr, op: &'static str) -> Result<OwnedFd> {
    // SAFETY: a NUL-terminated path; open returns a new fd or -1.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last_os(op));
    }
    // SAFETY: the kernel just returned this fd to us; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One `PAGEMAP_SCAN` over `[start, end)` into `out`; returns the number of regions written and
/// the kernel's `walk_end`. Errno on failure (ENOTTY/EINVAL: the kernel lacks the ioctl; EPERM
/// with [`PM_SCAN_CHECK_WPASYNC`]: a mapping in the range is not registered).
pub(crate) fn scan_once(
    pagemap: BorrowedFd<'_>,
    start: usize,
    end: usize,
    q: &ScanQuery,
    out: &mut [PageRegion],
) -> std::result::Result<(usize, usize), i32> {
    let mut arg = PmScanArg {
        size: std::mem::size_of::<PmScanArg>() as u64,
        flags: q.flags,
        start: start as u64,
        end: end as u64,
        vec: if out.is_empty() {
            0
        } else {
            out.as_mut_ptr() as u64
        },
        vec_len: out.len() as u64,
        category_mask: q.category_mask,
        category_anyof_mask: q.category_anyof_mask,
        category_inverted: q.category_inverted,
        return_mask: q.return_mask,
        ..PmScanArg::default()
    };
    // SAFETY: PAGEMAP_SCAN reads and writes one pm_scan_arg (a live local) and writes at most
    // `vec_len` page_regions at `vec`, which is `out`, exclusively borrowed here.
    let n = unsafe { libc::ioctl(pagemap.as_raw_fd(), PAGEMAP_SCAN as _, &mut arg) };
    if n < 0 {
        return Err(errno());
    }
    Ok((n as usize, arg.walk_end as usize))
}

/// Scans all of `[start, end)`, calling `each` with every batch of regions the kernel returns.
///
/// Continues after a full batch from `max(walk_end, end of the last region)`: the kernel's
/// `walk_end` can be stale after a walk that filled the vector (MACHINE.md); a batch with fewer
/// regions than `out` holds means the walk is complete.
pub(crate) fn scan_all<E>(
    pagemap: BorrowedFd<'_>,
    start: usize,
    end: usize,
    q: &ScanQuery,
    out: &mut [PageRegion],
    mut each: impl FnMut(&[PageRegion]) -> std::result::Result<(), E>,
    os_error: impl Fn(i32) -> E,
) -> std::result::Result<(), E> {
    let mut at = start;
    while at < end {
        let (n, walk_end) = scan_once(pagemap, at, end, q, out).map_err(&os_error)?;
        let batch = out.get(..n).unwrap_or(&[]);
        each(batch)?;
        if out.is_empty() || n < out.len() {
            // Without an output vector the walk stops only at `end` (no max_pages is set).
            if out.is_empty() && walk_end > at && walk_end < end {
                at = walk_end;
                continue;
            }
            break;
        }
        let last_end = batch.last().map_or(at, |r| r.end as usize);
        let next = walk_end.max(last_end);
        if next <= at {
            break;
        }
        at = next;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// /proc/self/maps
// ---------------------------------------------------------------------------------------------

/// [`Vma::kind`]: anonymous memory without a name (or `[anon:…]`).
pub(crate) const KIND_ANON: u8 = 0;
/// [`Vma::kind`]: a file mapping.
pub(crate) const KIND_FILE: u8 = 1;
/// [`Vma::kind`]: the brk heap.
pub(crate) const KIND_HEAP: u8 = 2;
/// [`Vma::kind`]: the main thread's stack.
pub(crate) const KIND_STACK: u8 = 3;
/// [`Vma::kind`]: a kernel-provided mapping (`[vvar]`, `[vdso]`, `[vsyscall]`, …).
pub(crate) const KIND_SPECIAL: u8 = 4;
/// [`Vma::kind`]: the rings of an io_uring (`anon_inode:[io_uring]`), through which the kernel
/// may hold pages of the process pinned (registered buffers) and write them without a fault.
pub(crate) const KIND_IO_RING: u8 = 5;

/// One line of /proc/self/maps, without the path.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Vma {
    /// First byte.
    pub(crate) start: usize,
    /// One past the last byte.
    pub(crate) end: usize,
    /// File offset (for anonymous mappings, the kernel's page offset).
    pub(crate) offset: u64,
    /// Device of the file, `major << 32 | minor`.
    pub(crate) dev: u64,
    /// Inode of the file, 0 when anonymous.
    pub(crate) inode: u64,
    /// `PROT_READ | PROT_WRITE | PROT_EXEC` bits.
    pub(crate) prot: u8,
    /// MAP_SHARED (`s`) rather than private (`p`).
    pub(crate) shared: bool,
    /// One of the `KIND_*` constants.
    pub(crate) kind: u8,
}

impl Vma {
    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }
    /// Writable.
    pub(crate) fn writable(&self) -> bool {
        self.prot & libc::PROT_WRITE as u8 != 0
    }
    /// Anonymous (heap, stack, anonymous mmap).
    pub(crate) fn anonymous(&self) -> bool {
        matches!(self.kind, KIND_ANON | KIND_HEAP | KIND_STACK)
    }
    /// Whether `[start, end)` intersects this mapping.
    pub(crate) fn overlaps(&self, start: usize, end: usize) -> bool {
        self.start < end && start < self.end
    }
}

/// Why a maps listing could not be parsed into the buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapsError {
    /// A line did not have the documented format.
    Malformed,
    /// More mappings than the buffer holds.
    TooMany,
}

/// Parses /proc/self/maps text into `out`, leaving out mappings that intersect one of `skip`
/// (the snapshot's own arena and pristine copy); returns how many were written. Allocation-free,
/// so rollback can call it while the heap is being rewritten.
pub(crate) fn parse_maps(
    text: &[u8],
    skip: &[(usize, usize)],
    out: &mut [Vma],
) -> std::result::Result<usize, MapsError> {
    let mut n = 0;
    for line in text.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let v = parse_line(line).ok_or(MapsError::Malformed)?;
        if skip.iter().any(|&(s, e)| v.overlaps(s, e)) {
            continue;
        }
        let slot = out.get_mut(n).ok_or(MapsError::TooMany)?;
        *slot = v;
        n += 1;
    }
    Ok(n)
}

/// `start-end perms offset major:minor inode [path]`.
///
/// One pass over the bytes with a cursor: rollback parses every line of the listing each time,
/// and splitting into fields first cost several times the parse itself (~9 µs for 33 lines).
fn parse_line(line: &[u8]) -> Option<Vma> {
    let mut c = Cursor { s: line, at: 0 };
    let start = c.hex(b'-')? as usize;
    let end = c.hex(b' ')? as usize;
    c.spaces();
    let perms = c.field(b' ')?;
    c.spaces();
    let offset = c.hex(b' ')?;
    c.spaces();
    let major = c.hex(b':')?;
    let minor = c.hex(b' ')?;
    c.spaces();
    let inode = c.dec()?;
    // The path may contain spaces: it is everything after the inode, trimmed.
    c.spaces();
    let name = line.get(c.at..)?;
    let p = |i: usize, ch: u8| perms.get(i) == Some(&ch);
    let mut prot = 0u8;
    if p(0, b'r') {
        prot |= libc::PROT_READ as u8;
    }
    if p(1, b'w') {
        prot |= libc::PROT_WRITE as u8;
    }
    if p(2, b'x') {
        prot |= libc::PROT_EXEC as u8;
    }
    let shared = p(3, b's');
    let kind = if name == b"[heap]" {
        KIND_HEAP
    } else if name == b"[stack]" {
        KIND_STACK
    } else if name.starts_with(b"[anon:") || (name.is_empty() && inode == 0) {
        KIND_ANON
    } else if name == b"anon_inode:[io_uring]" {
        KIND_IO_RING
    } else if name.starts_with(b"[") {
        KIND_SPECIAL
    } else {
        KIND_FILE
    };
    Some(Vma {
        start,
        end,
        offset,
        dev: (major << 32) | minor,
        inode,
        prot,
        shared,
        kind,
    })
}

/// A read position in one maps line.
struct Cursor<'a> {
    /// The line.
    s: &'a [u8],
    /// The next byte to read.
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Skips spaces (fields are separated by one space, the path is padded by several).
    fn spaces(&mut self) {
        while self.s.get(self.at) == Some(&b' ') {
            self.at += 1;
        }
    }
    /// The bytes up to `sep` (not empty), consuming `sep` when present; the end of the line
    /// also ends a field.
    fn field(&mut self, sep: u8) -> Option<&'a [u8]> {
        let s: &'a [u8] = self.s;
        let rest = s.get(self.at..)?;
        let n = rest.iter().position(|&b| b == sep).unwrap_or(rest.len());
        self.at += n + usize::from(n < rest.len());
        rest.get(..n).filter(|f| !f.is_empty())
    }
    /// A hexadecimal field ended by `sep` (at most 16 digits).
    fn hex(&mut self, sep: u8) -> Option<u64> {
        let f = self.field(sep)?;
        if f.len() > 16 {
            return None;
        }
        f.iter().try_fold(0u64, |acc, &ch| {
            let d = match ch {
                b'0'..=b'9' => ch - b'0',
                b'a'..=b'f' => ch - b'a' + 10,
                b'A'..=b'F' => ch - b'A' + 10,
                _ => return None,
            };
            Some((acc << 4) | u64::from(d))
        })
    }
    /// A decimal field ended by a space or the end of the line.
    fn dec(&mut self) -> Option<u64> {
        let f = self.field(b' ')?;
        f.iter().try_fold(0u64, |acc, &ch| {
            let d = ch.checked_sub(b'0').filter(|&d| d < 10)?;
            acc.checked_mul(10)?.checked_add(u64::from(d))
        })
    }
}

/// Reads the whole of an open /proc file from its start into `buf`; returns the length.
/// Allocation-free. EOVERFLOW when `buf` is too small.
pub(crate) fn read_proc(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::result::Result<usize, i32> {
    // SAFETY: lseek has no memory effects.
    if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) } < 0 {
        return Err(errno());
    }
    let mut len = 0;
    loop {
        let Some(rest) = buf.get_mut(len..) else {
            return Err(libc::EOVERFLOW);
        };
        if rest.is_empty() {
            return Err(libc::EOVERFLOW);
        }
        // SAFETY: read writes at most rest.len() bytes into `rest`, exclusively borrowed.
        let n = unsafe { libc::read(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        match n {
            0 => return Ok(len),
            n if n > 0 => len += n as usize,
            _ if errno() == libc::EINTR => continue,
            _ => return Err(errno()),
        }
    }
}

/// Opens /proc/self/status, kept open so a rollback reads `VmPin` without an open(2).
pub(crate) fn open_status() -> Result<OwnedFd> {
    open_proc(c"/proc/self/status", "open /proc/self/status")
}

/// Pinned memory of the process in KiB: `VmPin` of /proc/self/status, read through `fd` into
/// `buf` (allocation-free). Pages pinned for I/O (io_uring registered buffers, RDMA) are
/// written by the kernel without page faults, so write-protect does not see those writes.
/// `ENODATA` when the line is missing.
pub(crate) fn pinned_kib(fd: BorrowedFd<'_>, buf: &mut [u8]) -> std::result::Result<u64, i32> {
    let n = read_proc(fd, buf)?;
    let text = buf.get(..n).unwrap_or(&[]);
    let key = b"VmPin:";
    let at = text
        .windows(key.len())
        .position(|w| w == key)
        .ok_or(libc::ENODATA)?;
    let rest = text.get(at + key.len()..).unwrap_or(&[]);
    let digits = rest
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take_while(|b| b.is_ascii_digit());
    Ok(digits.fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// `lseek(fd, from, SEEK_DATA)` then `SEEK_HOLE`: the next run of `[from, end)` of a sparse
/// file that holds data, or None when the rest is a hole.
pub(crate) fn next_data(fd: BorrowedFd<'_>, from: usize, end: usize) -> Option<(usize, usize)> {
    if from >= end {
        return None;
    }
    // SAFETY: lseek has no memory effects.
    let d = unsafe { libc::lseek(fd.as_raw_fd(), from as libc::off_t, libc::SEEK_DATA) };
    if d < 0 || d as usize >= end {
        return None; // ENXIO: only a hole follows
    }
    // SAFETY: as above.
    let h = unsafe { libc::lseek(fd.as_raw_fd(), d, libc::SEEK_HOLE) };
    let h = if h < 0 { end } else { (h as usize).min(end) };
    Some((d as usize, h))
}

// ---------------------------------------------------------------------------------------------
// Probe
// ---------------------------------------------------------------------------------------------

/// Checks the whole chain on a scratch page: async write-protect registration, a tracked write,
/// and PAGEMAP_SCAN reporting it. Ok when in-place rollback can work here.
pub(crate) fn probe() -> Result<()> {
    let uffd = Uffd::open_wp_async()?;
    let pagemap = open_pagemap().map_err(|e| unavailable(e.to_string()))?;
    let mut page = Pages::new(PAGE)?;
    let addr = page.region().addr;
    register_wp(uffd.fd(), addr, PAGE).map_err(|e| {
        unavailable(format!(
            "UFFDIO_REGISTER(WP): {}",
            io::Error::from_raw_os_error(e)
        ))
    })?;
    write_protect(uffd.fd(), addr, PAGE).map_err(|e| {
        unavailable(format!(
            "UFFDIO_WRITEPROTECT: {}",
            io::Error::from_raw_os_error(e)
        ))
    })?;
    // Volatile: nothing in the program reads the byte back, only the page tables record it.
    // SAFETY: a valid byte of our own page, exclusively borrowed.
    unsafe { std::ptr::write_volatile(&mut page.as_mut_slice()[0], 1) };
    let mut out = [PageRegion::default(); 4];
    let q = ScanQuery {
        flags: PM_SCAN_CHECK_WPASYNC,
        ..WRITTEN
    };
    let (n, _) = scan_once(pagemap.as_fd(), addr, addr + PAGE, &q, &mut out).map_err(|e| {
        unavailable(format!(
            "PAGEMAP_SCAN: {} (needs Linux 6.7+)",
            io::Error::from_raw_os_error(e)
        ))
    })?;
    if n != 1 {
        return Err(unavailable(
            "PAGEMAP_SCAN did not report a page written under async write-protect".into(),
        ));
    }
    let _ = unregister(uffd.fd(), addr, PAGE);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The in-place snapshot engine
// ---------------------------------------------------------------------------------------------

use super::context::{self, Context};
use super::wp_log::{self, WriteLog, HANDLER_STACK_LEN};
use crate::snapshot::in_place as policy;

/// Most mappings a layout may list (the default vm.max_map_count is 65530; real processes have
/// tens to hundreds).
const MAX_VMAS: usize = 4096;
/// Most tracked ranges.
const MAX_RANGES: usize = 2048;
/// Written regions fetched per PAGEMAP_SCAN call.
const MAX_REGIONS: usize = 1024;
/// Buffer for one read of /proc/self/maps (about 100 bytes a line).
const MAPS_BUF_LEN: usize = 512 * 1024;
/// The private stack rollback runs on.
const RESTORE_STACK_LEN: usize = 256 * 1024;
/// Up to this many written regions in a span are re-protected one ioctl each; above it one
/// write-protecting scan of the span is cheaper (one ioctl per region costs about 1 µs, a scan
/// costs one page-table walk).
const REPROTECT_ONE_BY_ONE: usize = 32;
/// Anonymous mappings at least this large are tracked by the write log (when it is available):
/// a PAGEMAP_SCAN walk costs ~0.27 µs per MiB at every rollback, a logged first write ~7 µs more
/// than an async one, so logging pays off for large mappings with few pages written per round.
const LOG_MIN_BYTES: usize = 128 << 20;
/// A logged range is moved to async tracking when, at [`LOG_HEAVY_ROUNDS`] rollbacks in a row,
/// it had more than [`LOG_HEAVY_MIN_PAGES`] pages logged and more than one per this many bytes:
/// a logged first write costs ~7 µs more than an async one, which is what a PAGEMAP_SCAN of
/// about 28 MiB costs, so past that rate the scan is cheaper.
const LOG_BREAK_EVEN_BYTES: usize = 28 << 20;
/// See [`LOG_BREAK_EVEN_BYTES`]: below this many pages a round never counts as heavy.
const LOG_HEAVY_MIN_PAGES: usize = 64;
/// See [`LOG_BREAK_EVEN_BYTES`]: one heavy round (a burst at start-up) does not move a range.
const LOG_HEAVY_ROUNDS: u32 = 3;
/// Environment variable overriding [`LOG_MIN_BYTES`]: a byte count, or `off` (anything that is
/// not a number) to track everything with async write-protect and PAGEMAP_SCAN.
pub(crate) const LOG_MIN_ENV: &str = "LWC_IN_PLACE_LOG_MIN_BYTES";
/// Marks a live arena header.
const MAGIC: u64 = 0x6c77_635f_696e_706c;
/// What `save_and_call` returns when `take`'s callback succeeded.
const TAKE_OK: u64 = 0;
/// What it returns when the callback failed (the failure is in the body).
const TAKE_FAILED: u64 = 1;
/// What a rollback makes it return.
const RESTORED: u64 = 2;

/// One tracked mapping, as it was at `take`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Range {
    /// The mapping.
    pub(crate) vma: Vma,
    /// Where its content starts in the pristine copy. Adjacent ranges have adjacent copies.
    pub(crate) pristine_off: usize,
    /// Registered for write-protect tracking; otherwise copied back whole at every rollback.
    pub(crate) registered: bool,
    /// Registered with the write log's userfaultfd (synchronous, `sys::wp_log`) rather than the
    /// async one: rollback restores the logged pages instead of scanning the range.
    pub(crate) logged: bool,
    /// Logged pages this range had at the rollback in progress.
    pub(crate) round_pages: usize,
    /// Consecutive rollbacks at which the range had more logged pages than pay off.
    pub(crate) heavy_rounds: u32,
}

/// Why a rollback (or the copy at `take`) failed before it changed anything.
#[derive(Clone, Copy, Debug, Default)]
enum Failure {
    /// Nothing failed.
    #[default]
    None,
    /// A system call failed.
    Os { op: &'static str, errno: i32 },
    /// The memory layout changed in a way rollback cannot repair.
    Layout(&'static str),
    /// More than one thread.
    Threads(usize),
    /// /proc/self/maps could not be read into the buffers.
    Maps(MapsError),
}

impl Failure {
    fn to_error(self) -> Error {
        match self {
            Failure::None => Error::Invalid {
                op: "in-place rollback",
                reason: "failed without a recorded cause".into(),
            },
            Failure::Os { op, errno } => Error::errno(op, errno),
            Failure::Layout(reason) => Error::Unsupported {
                op: "in-place rollback",
                reason,
            },
            Failure::Threads(threads) => Error::MultiThreaded {
                op: "in-place rollback",
                threads,
            },
            Failure::Maps(MapsError::TooMany) => Error::Unsupported {
                op: "in-place snapshot",
                reason: "the process has more mappings than the snapshot's buffers hold (4096)",
            },
            Failure::Maps(MapsError::Malformed) => Error::Invalid {
                op: "parse /proc/self/maps",
                reason: "a line does not have the documented format".into(),
            },
        }
    }
}

/// First page of the arena: survives `release`, so a stale handle is detected, not followed.
#[repr(C)]
struct Header {
    /// [`MAGIC`].
    magic: u64,
    /// Set by `release`; the body is gone.
    released: bool,
    /// The process that took the snapshot (a forked child must not use its parent's uffd).
    pid: libc::pid_t,
    /// The body.
    body: *mut Body,
}

/// Everything rollback needs, in untracked memory. Valid at all-zero bytes (integers, raw
/// pointers, `Copy` structs of those, `sigset_t`), which is how a fresh mapping holds it.
#[repr(C)]
struct Body {
    /// The userfaultfd (closed by `release`).
    uffd: RawFd,
    /// The write log's userfaultfd, when `log_pid` is not 0 (closed by `release`).
    log_uffd: RawFd,
    /// The write log's handler task, 0 when the log is not used.
    log_pid: libc::pid_t,
    /// /proc/self/pagemap.
    pagemap: RawFd,
    /// /proc/self/maps.
    maps: RawFd,
    /// /proc/self/task (kept open: see [`process::count_threads_in`]).
    task: RawFd,
    /// /proc/self/status (for `VmPin`).
    status: RawFd,
    /// The memfd holding the pristine copy.
    pristine_fd: RawFd,
    /// Its MAP_SHARED mapping.
    pristine: *mut u8,
    /// Its length (the tracked bytes).
    pristine_len: usize,
    /// The whole arena.
    arena: *mut u8,
    /// Its length.
    arena_len: usize,
    /// Top of the restore stack (16-byte aligned).
    stack_top: *mut u8,
    /// The program break at `take`.
    brk: usize,
    /// The signal mask at `take`, restored by rollback.
    take_mask: libc::sigset_t,
    /// The signal mask of the rollback caller, restored when rollback fails.
    caller_mask: libc::sigset_t,
    /// The CPU context `take` saved.
    ctx: Context,
    /// Why the last operation failed.
    failure: Failure,
    /// Pages rewritten by the last rollback.
    last_restored_pages: usize,
    /// Ranges in `ranges`.
    n_ranges: usize,
    /// The tracked mappings, sorted by address.
    ranges: [Range; MAX_RANGES],
    /// Mappings in `expected`.
    n_expected: usize,
    /// The layout after the last `take` or rollback, our own mappings left out.
    expected: [Vma; MAX_VMAS],
    /// Mappings in `current`.
    n_current: usize,
    /// The layout just read.
    current: [Vma; MAX_VMAS],
    /// PAGEMAP_SCAN output.
    regions: [PageRegion; MAX_REGIONS],
    /// /proc/self/maps text, and getdents64 output.
    maps_buf: [u8; MAPS_BUF_LEN],
    /// Bytes of maps text in `maps_buf` from the last `read_current` (0 once overwritten).
    maps_len: usize,
    /// A /proc/self/maps listing whose layout is `expected` (its first `known_maps_len`
    /// bytes; 0: none). A rollback that reads the same bytes again knows the layout is
    /// unchanged without parsing it — parsing cost about as much as the kernel's formatting.
    known_maps: [u8; MAPS_BUF_LEN],
    known_maps_len: usize,
    /// Whether `current` (as last parsed) holds a mapping through which memory may be pinned
    /// (an io_uring's rings): then rollback checks `VmPin` first.
    watch_pins: bool,
    /// The same for the known listing.
    known_watch_pins: bool,
    /// Per mapping of `current`, from the last [`check_registration`]: false when it lies in a
    /// registered range but is no longer registered memory of this snapshot (replaced at the
    /// same address, moved away and back, or unmapped under the write log).
    current_ok: [bool; MAX_VMAS],
    /// Pages written in logged ranges, filled by the handler task.
    log: WriteLog,
    /// The handler task's stack.
    log_stack: HandlerStack,
}

/// The write log handler's stack, 16-byte aligned at its top.
#[repr(C, align(16))]
struct HandlerStack([u8; HANDLER_STACK_LEN]);

impl Body {
    fn ranges(&self) -> &[Range] {
        self.ranges.get(..self.n_ranges).unwrap_or(&[])
    }
    fn expected(&self) -> &[Vma] {
        self.expected.get(..self.n_expected).unwrap_or(&[])
    }
    fn current(&self) -> &[Vma] {
        self.current.get(..self.n_current).unwrap_or(&[])
    }
    /// Our own mappings, left out of every layout.
    fn own(&self) -> [(usize, usize); 2] {
        let a = self.arena as usize;
        let p = self.pristine as usize;
        [(a, a + self.arena_len), (p, p + self.pristine_len)]
    }
    // The fds are raw: the body lives in a mapping shared by every copy of the (Copy) handle
    // and must survive rollbacks, so `release` closes them explicitly.
    /// The userfaultfd range `r` is registered with.
    fn uffd_of(&self, r: &Range) -> BorrowedFd<'_> {
        let fd = if r.logged { self.log_uffd } else { self.uffd };
        // SAFETY: both are open from take until release (log_uffd whenever a range is logged).
        unsafe { BorrowedFd::borrow_raw(fd) }
    }

    /// Reads /proc/self/maps into `current` (own mappings left out).
    fn read_current(&mut self) -> std::result::Result<(), Failure> {
        self.read_maps_text()?;
        self.parse_current()
    }

    /// Reads /proc/self/maps into `maps_buf`.
    fn read_maps_text(&mut self) -> std::result::Result<(), Failure> {
        // SAFETY: open for the body's lifetime; a copy of the raw fd so the buffer can be
        // borrowed mutably beside it.
        let maps = unsafe { BorrowedFd::borrow_raw(self.maps) };
        self.maps_len = 0;
        self.maps_len = read_proc(maps, &mut self.maps_buf).map_err(|errno| Failure::Os {
            op: "read /proc/self/maps",
            errno,
        })?;
        Ok(())
    }

    /// Parses the text `read_maps_text` read into `current`.
    fn parse_current(&mut self) -> std::result::Result<(), Failure> {
        let own = self.own();
        let text = self.maps_buf.get(..self.maps_len).unwrap_or(&[]);
        self.n_current = parse_maps(text, &own, &mut self.current).map_err(Failure::Maps)?;
        self.watch_pins = self.current().iter().any(|v| v.kind == KIND_IO_RING);
        Ok(())
    }

    /// Whether the text just read is the known listing of the expected layout.
    fn text_is_known(&self) -> bool {
        self.known_maps_len != 0
            && self.maps_buf.get(..self.maps_len) == self.known_maps.get(..self.known_maps_len)
    }

    /// Remembers the text just read as a listing of the expected layout.
    fn remember_text(&mut self) {
        let n = self.maps_len;
        match (self.known_maps.get_mut(..n), self.maps_buf.get(..n)) {
            (Some(dst), Some(src)) => {
                dst.copy_from_slice(src);
                self.known_maps_len = n;
                self.known_watch_pins = self.watch_pins;
            }
            _ => self.known_maps_len = 0,
        }
    }

    /// Makes the layout just read the expected one.
    fn current_is_expected(&mut self) {
        self.n_expected = self.n_current;
        let n = self.n_current;
        if let (Some(dst), Some(src)) = (self.expected.get_mut(..n), self.current.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.remember_text();
    }

    /// Copies `len` bytes of the pristine copy at `off` to address `to`.
    ///
    /// # Safety
    /// `[to, to + len)` must be mapped writable, and rewriting it must be allowed (see the module
    /// docs); `off + len <= pristine_len`.
    unsafe fn restore(&self, off: usize, to: usize, len: usize) {
        // SAFETY: the caller's contract, with `self.pristine` the copy.
        unsafe { copy_back(self.pristine, off, to, len) }
    }

    /// Like [`Body::restore`], but copies only the runs of the pristine copy that hold data
    /// (pages populated at take): the rest of `[to, to + len)` must read zero already (fresh
    /// or dropped anonymous memory). Costs what was populated, not the length. Returns the
    /// pages copied.
    ///
    /// # Safety
    /// As [`Body::restore`].
    unsafe fn restore_populated(&self, off: usize, to: usize, len: usize) -> usize {
        // SAFETY: open for the body's lifetime.
        let fd = unsafe { BorrowedFd::borrow_raw(self.pristine_fd) };
        let mut at = off;
        let mut pages = 0;
        while let Some((d, h)) = next_data(fd, at, off + len) {
            // SAFETY: the caller's contract; [d, h) lies inside [off, off + len).
            unsafe { self.restore(d, to + (d - off), h - d) };
            pages += (h - d) / PAGE;
            at = h;
        }
        pages
    }
}

/// Copies `len` bytes of the pristine copy at `pristine` from `off` to address `to` (for
/// callers that hold the body's regions buffer mutably and so cannot use [`Body::restore`]).
///
/// # Safety
/// As [`Body::restore`]: `pristine` is the body's pristine mapping, `off + len` lies inside it,
/// and `[to, to + len)` is tracked memory mapped writable that may be rewritten.
unsafe fn copy_back(pristine: *const u8, off: usize, to: usize, len: usize) {
    // SAFETY: the caller's contract.
    unsafe { std::ptr::copy_nonoverlapping(pristine.add(off), to as *mut u8, len) }
}

/// The arena while `take` builds it; unmapped on drop unless handed to a snapshot.
struct Arena {
    base: NonNull<u8>,
    len: usize,
}

impl Arena {
    /// `[guard][header][restore stack][body][guard]`, the inner part read-write.
    fn new() -> Result<Arena> {
        let body = std::mem::size_of::<Body>().div_ceil(PAGE) * PAGE;
        let inner = PAGE + RESTORE_STACK_LEN + body;
        let len = inner + 2 * PAGE;
        // SAFETY: a fresh anonymous reservation; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::last_os("mmap (in-place snapshot arena)"));
        }
        let base = NonNull::new(p.cast::<u8>()).ok_or(Error::Invalid {
            op: "mmap (in-place snapshot arena)",
            reason: "null mapping".into(),
        })?;
        let arena = Arena { base, len };
        // SAFETY: changes protection inside the reservation just made, which we own.
        let r = unsafe {
            libc::mprotect(
                base.as_ptr().add(PAGE).cast(),
                inner,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if r != 0 {
            return Err(Error::last_os("mprotect (in-place snapshot arena)"));
        }
        Ok(arena)
    }
    fn header(&self) -> *mut Header {
        // SAFETY: the header page is inside the arena.
        unsafe { self.base.as_ptr().add(PAGE).cast() }
    }
    fn stack_top(&self) -> *mut u8 {
        // SAFETY: inside the arena; page-aligned, hence 16-byte aligned.
        unsafe { self.base.as_ptr().add(2 * PAGE + RESTORE_STACK_LEN) }
    }
    fn body(&self) -> *mut Body {
        self.stack_top().cast()
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: unmaps the reservation this value owns.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// The memfd and its mapping while `take` builds them; released on drop unless handed over.
struct Pristine {
    fd: OwnedFd,
    base: *mut u8,
    len: usize,
}

impl Pristine {
    fn new(len: usize) -> Result<Pristine> {
        let fd = super::mem::memfd("lwc-in-place-pristine")?;
        let map_len = len.max(PAGE);
        // SAFETY: ftruncate on our own memfd.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), map_len as libc::off_t) } != 0 {
            return Err(Error::last_os("ftruncate (in-place pristine copy)"));
        }
        // SAFETY: a fresh shared mapping of our memfd; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::last_os("mmap (in-place pristine copy)"));
        }
        Ok(Pristine {
            fd,
            base: p.cast(),
            len: map_len,
        })
    }
}

impl Drop for Pristine {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping this value owns.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// A handle to an in-place snapshot: a pointer to its arena header. Copy; the arena is shared
/// by all copies and outlives rollbacks (it is not tracked). After `release` the header page
/// stays mapped (one page) so a stale copy gets an error instead of a dangling access.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SnapshotRef {
    header: NonNull<Header>,
}

/// The write log's handler task while `take` builds the snapshot; stopped on drop unless handed
/// to the body.
struct Handler(libc::pid_t);

impl Drop for Handler {
    fn drop(&mut self) {
        wp_log::stop(self.0);
    }
}

/// Opens the write log's userfaultfd and starts its handler task on the body's log, or `None`
/// when either is not possible here (unprivileged, clone refused): then every range is tracked
/// by async write-protect and PAGEMAP_SCAN, as without the log.
fn start_log(b: &mut Body) -> Option<(Uffd, Handler)> {
    let lu = Uffd::open_wp_sync()?;
    b.log
        .uffd
        .store(lu.fd.as_raw_fd(), std::sync::atomic::Ordering::Release);
    let stack = std::ptr::addr_of_mut!(b.log_stack).cast::<u8>();
    // SAFETY: the log and the stack lie in the arena, which outlives the task: the returned
    // Handler stops it before the arena goes on an error, and `release` stops it after take.
    let top = unsafe { stack.add(HANDLER_STACK_LEN) };
    // SAFETY: as above; nothing else uses the handler stack.
    let pid = unsafe { wp_log::start(std::ptr::addr_of_mut!(b.log), top) }.ok()?;
    Some((lu, Handler(pid)))
}

/// The size from which anonymous mappings are logged: [`LOG_MIN_BYTES`] unless
/// [`LOG_MIN_ENV`] says otherwise (`usize::MAX`, never, when it is not a number).
fn log_min_bytes() -> usize {
    match std::env::var(LOG_MIN_ENV) {
        Err(_) => LOG_MIN_BYTES,
        Ok(s) => s.trim().parse().unwrap_or(usize::MAX),
    }
}

/// The current program break.
fn current_brk() -> usize {
    // SAFETY: brk(0) never moves the break; it returns the current one.
    unsafe { libc::syscall(libc::SYS_brk, 0usize) as usize }
}

impl SnapshotRef {
    /// Takes a snapshot of the calling process. Returns `(handle, false)` now and, after each
    /// [`SnapshotRef::rollback`], `(handle, true)` again.
    ///
    /// # Safety
    /// Returns twice. The caller must be single-threaded and accept that at the second return
    /// every tracked byte (private writable memory: stack, heap, statics, anonymous mappings) is
    /// as it was at the first, while kernel state (fds, other processes, shared mappings) is not
    /// rolled back: no kernel object that exists at `take` may be released before a rollback
    /// while memory still refers to it afterwards.
    pub(crate) unsafe fn take() -> Result<(SnapshotRef, bool)> {
        let uffd = Uffd::open_wp_async()?;
        let pagemap = open_pagemap()?;
        let maps = open_maps()?;
        let task = process::open_task_dir().map_err(|e| Error::errno("open /proc/self/task", e))?;
        let status = open_status()?;
        let log_min = log_min_bytes();
        let arena = Arena::new()?;
        // Declared after the arena so that, on an error, the handler task (whose stack is in the
        // arena) is stopped before the arena is unmapped.
        let mut log: Option<(Uffd, Handler)> = None;
        let body_ptr = arena.body();
        let header_ptr = arena.header();
        let pristine = {
            // SAFETY: the body lies in the arena we own, is zeroed, valid at all-zero bytes (see
            // Body), and nothing else references it yet.
            let b = unsafe { &mut *body_ptr };
            b.arena = arena.base.as_ptr();
            b.arena_len = arena.len;
            b.stack_top = arena.stack_top();
            b.maps = maps.as_raw_fd();
            // Pinned pages are written by the kernel behind write-protect's back: refused
            // rather than restored wrong (rollback checks again while a ring is mapped).
            match pinned_kib(status.as_fd(), &mut b.maps_buf) {
                Ok(0) => {}
                Ok(_) => return Err(Failure::Layout(PINNED).to_error()),
                Err(e) => return Err(Error::errno("read /proc/self/status (VmPin)", e)),
            }
            b.read_current().map_err(Failure::to_error)?;
            let mut total = 0usize;
            let mut n = 0usize;
            for v in b.current.iter().take(b.n_current) {
                if !policy::is_tracked(v) {
                    continue;
                }
                let slot = b.ranges.get_mut(n).ok_or(Error::Unsupported {
                    op: "in-place snapshot",
                    reason: "more writable mappings than the snapshot tracks (2048)",
                })?;
                *slot = Range {
                    vma: *v,
                    pristine_off: total,
                    ..Range::default()
                };
                total += v.len();
                n += 1;
            }
            b.n_ranges = n;
            let pristine = Pristine::new(total)?;
            b.pristine = pristine.base;
            b.pristine_len = pristine.len;
            if b.ranges()
                .iter()
                .any(|r| policy::is_logged(&r.vma, log_min))
            {
                log = start_log(b);
            }
            for r in b.ranges.iter_mut().take(n) {
                let log_fd = log
                    .as_ref()
                    .filter(|_| policy::is_logged(&r.vma, log_min))
                    .map(|(lu, _)| lu.fd());
                match register_wp(log_fd.unwrap_or(uffd.fd()), r.vma.start, r.vma.len()) {
                    Ok(()) => {
                        r.registered = true;
                        r.logged = log_fd.is_some();
                    }
                    Err(libc::EBUSY) => {
                        return Err(Error::Unsupported {
                            op: "in-place snapshot",
                            reason: "memory is already tracked by another in-place snapshot or \
                                     userfaultfd; release it first",
                        })
                    }
                    // Mappings userfaultfd refuses are small file-backed data in practice
                    // (checked by policy); they stay unregistered and are copied back whole at
                    // every rollback.
                    Err(_) if policy::may_copy_whole(&r.vma) => {}
                    Err(e) => return Err(Error::errno("UFFDIO_REGISTER (in-place snapshot)", e)),
                }
            }
            // The layout after registration (it may merge or split mappings) is the reference.
            b.read_current().map_err(Failure::to_error)?;
            b.current_is_expected();
            b.brk = current_brk();
            // SAFETY: pthread_sigmask with a null new set only writes the current mask.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut b.take_mask) };
            pristine
        };
        // Hand every resource to the arena: from here on `release` owns them.
        // SAFETY: the header lies in the arena we own and nothing else references it yet.
        unsafe {
            header_ptr.write(Header {
                magic: MAGIC,
                released: false,
                pid: libc::getpid(),
                body: body_ptr,
            });
        }
        {
            // SAFETY: as above; this borrow ends before the context is saved.
            let b = unsafe { &mut *body_ptr };
            b.uffd = uffd.fd.into_raw_fd();
            b.pagemap = pagemap.into_raw_fd();
            b.maps = maps.into_raw_fd();
            b.task = task.into_raw_fd();
            b.status = status.into_raw_fd();
            b.pristine_fd = pristine.fd.as_raw_fd();
            if let Some((lu, handler)) = log.take() {
                b.log_uffd = lu.fd.into_raw_fd();
                b.log_pid = handler.0;
                std::mem::forget(handler);
            }
        }
        std::mem::forget(pristine);
        std::mem::forget(arena);
        let snap = SnapshotRef {
            // SAFETY: the header pointer is inside a live mapping, hence non-null.
            header: unsafe { NonNull::new_unchecked(header_ptr) },
        };
        // SAFETY: ctx and the restore stack lie in the untracked arena; take_on_stack protects
        // the tracked memory first and copies it after, so the pristine copy holds the caller's
        // stack exactly as at this call; rollback resumes only after restoring it (module docs).
        let rc = unsafe {
            context::save_and_call(
                std::ptr::addr_of_mut!((*body_ptr).ctx),
                take_on_stack,
                body_ptr.cast(),
                (*body_ptr).stack_top,
            )
        };
        match rc {
            TAKE_OK => Ok((snap, false)),
            RESTORED => Ok((snap, true)),
            _ => {
                // SAFETY: the body is live until the release below.
                let err = unsafe { (*body_ptr).failure }.to_error();
                let _ = snap.release();
                Err(err)
            }
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the header page stays mapped for the life of the process (release keeps it).
        unsafe { self.header.as_ref() }
    }

    /// Checks that the body may be used from this process.
    fn live_body(&self, op: &'static str) -> std::result::Result<*mut Body, Error> {
        let h = self.header();
        if h.magic != MAGIC || h.released {
            return Err(Error::Invalid {
                op,
                reason: "the in-place snapshot was released".into(),
            });
        }
        // SAFETY: getpid has no memory effects.
        if h.pid != unsafe { libc::getpid() } {
            return Err(Error::Invalid {
                op,
                reason:
                    "the in-place snapshot belongs to another process (it was taken before a fork)"
                        .into(),
            });
        }
        Ok(h.body)
    }

    /// Restores the snapshot and resumes at `take`; returns only when rollback could not start
    /// (then nothing was changed).
    pub(crate) fn rollback(&self) -> Error {
        let body = match self.live_body("in-place rollback") {
            Ok(b) => b,
            Err(e) => return e,
        };
        // SAFETY: the restore stack lies in the live arena and nothing else runs on it (single
        // thread; a previous rollback either resumed elsewhere or returned).
        unsafe { context::call_on_stack(rollback_on_stack, body.cast(), (*body).stack_top) };
        // SAFETY: the body is live (checked above) and no other borrow of it is active.
        unsafe { (*body).failure }.to_error()
    }

    /// Pages rewritten by the last rollback (0 before the first).
    pub(crate) fn last_restored_pages(&self) -> usize {
        match self.live_body("in-place snapshot") {
            // SAFETY: the body is live.
            Ok(b) => unsafe { (*b).last_restored_pages },
            Err(_) => 0,
        }
    }

    /// Stops tracking, closes the fds and unmaps the pristine copy and the arena (all but its
    /// header page). In a forked child it only releases the child's copies.
    pub(crate) fn release(self) -> Result<()> {
        let h = self.header.as_ptr();
        // SAFETY: the header page stays mapped; no other borrow of it is active.
        let (magic, released, pid, body) =
            unsafe { ((*h).magic, (*h).released, (*h).pid, (*h).body) };
        if magic != MAGIC || released {
            return Err(Error::Invalid {
                op: "in-place snapshot release",
                reason: "the in-place snapshot was already released".into(),
            });
        }
        // SAFETY: the body is live (not released), and no other borrow is active.
        let b = unsafe { &mut *body };
        // SAFETY: getpid has no memory effects.
        let ours = pid == unsafe { libc::getpid() };
        if ours {
            for r in b.ranges() {
                if r.registered {
                    // A range the program unmapped since is simply gone: ignore errors.
                    let _ = unregister(b.uffd_of(r), r.vma.start, r.vma.len());
                }
            }
            // Only the taker's own task: a fork child must not kill its parent's.
            wp_log::stop(b.log_pid);
        }
        if b.log_pid != 0 {
            // SAFETY: handed to the body at take and closed only here.
            unsafe { drop(OwnedFd::from_raw_fd(b.log_uffd)) };
        }
        // SAFETY: these fds were handed to the body at take and are closed only here.
        unsafe {
            drop(OwnedFd::from_raw_fd(b.uffd));
            drop(OwnedFd::from_raw_fd(b.pagemap));
            drop(OwnedFd::from_raw_fd(b.maps));
            drop(OwnedFd::from_raw_fd(b.task));
            drop(OwnedFd::from_raw_fd(b.status));
            drop(OwnedFd::from_raw_fd(b.pristine_fd));
            libc::munmap(b.pristine.cast(), b.pristine_len);
        }
        let arena = b.arena;
        let arena_len = b.arena_len;
        // SAFETY: the header stays; the rest of the arena (stack and body) goes. No reference
        // into the body outlives this point.
        unsafe {
            (*h).released = true;
            libc::munmap(arena.add(2 * PAGE).cast(), arena_len - 2 * PAGE);
        }
        Ok(())
    }
}

/// Runs on the restore stack inside `take`: write-protects the tracked ranges, then copies them.
/// Protecting first makes the copy exact: a write after the protect is tracked (and undone by
/// rollback), a write before it is in the copy.
extern "C" fn take_on_stack(arg: *mut core::ffi::c_void) -> u64 {
    // SAFETY: `take` passes its live body and holds no borrow of it during this call.
    let b = unsafe { &mut *arg.cast::<Body>() };
    match take_copy(b) {
        Ok(()) => TAKE_OK,
        Err(f) => {
            b.failure = f;
            TAKE_FAILED
        }
    }
}

fn take_copy(b: &mut Body) -> std::result::Result<(), Failure> {
    // File-backed private pages that are still the file's become private copies (same bytes):
    // from here on a page of such a range that is the file's again was dropped (FILE_AGAIN).
    for r in b.ranges() {
        if r.registered && !r.vma.anonymous() {
            for at in (r.vma.start..r.vma.end).step_by(PAGE) {
                let p = at as *mut u8;
                // SAFETY: a byte of a private writable mapping listed in maps, rewritten with
                // its own value (volatile: the write must happen, it makes the private copy).
                unsafe { std::ptr::write_volatile(p, std::ptr::read_volatile(p)) };
            }
        }
    }
    // Swapped-out pages are copied before write-protect: afterwards the markers on unpopulated
    // pages (WP_UNPOPULATED) fall in the same "swapped" category, and copying those would cost
    // the mapped size rather than the populated one. Nothing writes tracked memory between this
    // copy and the protect (one thread, on the restore stack).
    copy_populated(b, PAGE_IS_SWAPPED)?;
    for r in b.ranges() {
        if r.registered {
            write_protect(b.uffd_of(r), r.vma.start, r.vma.len()).map_err(|errno| Failure::Os {
                op: "UFFDIO_WRITEPROTECT (in-place snapshot)",
                errno,
            })?;
        }
    }
    for r in b.ranges() {
        if !(r.registered && r.vma.anonymous()) {
            // SAFETY: a private readable mapping listed in maps, and its place in the pristine
            // copy (sized to the sum of the ranges).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    r.vma.start as *const u8,
                    b.pristine.add(r.pristine_off),
                    r.vma.len(),
                )
            };
        }
    }
    copy_populated(b, PAGE_IS_PRESENT)
}

/// Copies the pages of registered anonymous ranges that have `category` into the pristine copy.
/// Unpopulated anonymous pages read as zero, which the sparse memfd holds already; skipping
/// them keeps take from populating reserved-but-unused memory. (File-backed pages are copied
/// whole: an unpopulated one reads as the file, not zero.)
fn copy_populated(b: &mut Body, category: u64) -> std::result::Result<(), Failure> {
    let q = ScanQuery {
        flags: 0,
        category_mask: category,
        category_anyof_mask: 0,
        category_inverted: 0,
        return_mask: category,
    };
    let pristine = b.pristine;
    // SAFETY: the fd is open for the body's lifetime.
    let pm = unsafe { BorrowedFd::borrow_raw(b.pagemap) };
    for i in 0..b.n_ranges {
        let Some(&r) = b.ranges.get(i) else { break };
        if !(r.registered && r.vma.anonymous()) {
            continue;
        }
        scan_all(
            pm,
            r.vma.start,
            r.vma.end,
            &q,
            &mut b.regions,
            |batch| {
                for reg in batch {
                    let (start, end) = (reg.start as usize, reg.end as usize);
                    let off = r.pristine_off + (start - r.vma.start);
                    // SAFETY: [start, end) is inside a private readable mapping listed in
                    // maps, and inside the pristine copy at `off`.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            start as *const u8,
                            pristine.add(off),
                            end - start,
                        )
                    };
                }
                Ok(())
            },
            |errno| Failure::Os {
                op: "PAGEMAP_SCAN (in-place snapshot)",
                errno,
            },
        )?;
    }
    Ok(())
}

/// Runs on the restore stack: restores and resumes `take`, or records why it could not start
/// and returns.
extern "C" fn rollback_on_stack(arg: *mut core::ffi::c_void) -> u64 {
    // SAFETY: `rollback` passes the live body and holds no borrow of it during this call.
    let b = unsafe { &mut *arg.cast::<Body>() };
    let Err(f) = rollback_inner(b);
    b.failure = f;
    1
}

/// Rollback proper. Every check that can refuse comes before the first change to memory; once
/// memory is being rewritten, a failure cannot be returned to the caller (its stack may already
/// be half restored) and aborts the process with a message.
fn rollback_inner(b: &mut Body) -> std::result::Result<std::convert::Infallible, Failure> {
    // SAFETY: open for the body's lifetime; a copy of the raw fd so the buffer can be borrowed
    // mutably beside it.
    let task = unsafe { BorrowedFd::borrow_raw(b.task) };
    b.maps_len = 0; // the buffer holds directory entries now
    let threads =
        process::settled_thread_count(|| process::count_threads_in(task, &mut b.maps_buf))
            .map_err(|errno| Failure::Os {
                op: "read /proc/self/task",
                errno,
            })?;
    if threads > 1 {
        return Err(Failure::Threads(threads));
    }
    // No signal handler may run while memory is inconsistent.
    // SAFETY: sigfillset and pthread_sigmask write only the sets given.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut b.caller_mask);
    }
    let checked = check_layout(b).and_then(|slow| check_pins(b).map(|()| slow));
    let slow = match checked {
        Ok(slow) => slow,
        Err(f) => {
            // SAFETY: restores the caller's mask saved above.
            unsafe {
                libc::pthread_sigmask(libc::SIG_SETMASK, &b.caller_mask, std::ptr::null_mut())
            };
            return Err(f);
        }
    };
    // ---- from here on, memory changes ----
    let mut pages = 0;
    if slow {
        pages += fix_layout(b);
    }
    restore_file_again(b);
    pages += restore_written(b);
    pages += restore_logged(b, slow);
    b.last_restored_pages = pages;
    // SAFETY: restores the mask saved at take; the context was saved by save_and_call in take
    // and memory (the stack included) is back to what it was then.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &b.take_mask, std::ptr::null_mut());
        context::resume(&b.ctx, RESTORED)
    }
}

/// Why rollback refuses while memory is pinned.
const PINNED: &str = "the process has pinned memory (VmPin in /proc/self/status: io_uring \
                      registered buffers or the like); the kernel writes pinned pages without \
                      write-protect faults, so in-place rollback cannot see those writes \
                      (unregister the buffers before rollback, or use Strategy::Fork)";

/// Refuses while memory is pinned, when a mapping through which it can be (an io_uring's
/// rings) is in the layout: then one read of /proc/self/status (~20 µs) per rollback.
fn check_pins(b: &mut Body) -> std::result::Result<(), Failure> {
    if !b.watch_pins {
        return Ok(());
    }
    // SAFETY: open for the body's lifetime; a copy of the raw fd beside the buffer.
    let status = unsafe { BorrowedFd::borrow_raw(b.status) };
    b.maps_len = 0; // the buffer holds the status text now
    match pinned_kib(status, &mut b.maps_buf) {
        Ok(0) => Ok(()),
        Ok(_) => Err(Failure::Layout(PINNED)),
        Err(errno) => Err(Failure::Os {
            op: "read /proc/self/status (VmPin)",
            errno,
        }),
    }
}

/// Reads the layout and decides: Ok(false) unchanged, Ok(true) changed but repairable.
///
/// "Unchanged" needs the same listing (or the same mappings in it), the same break, no event
/// from the write log, and every async-tracked span still registered: a mapping replaced by
/// one of the same shape, or moved away and back, has the same line but is not tracked.
fn check_layout(b: &mut Body) -> std::result::Result<bool, Failure> {
    if b.log_pid != 0 && !b.log.settle() {
        return Err(Failure::Os {
            op: "in-place rollback (the write log's handler task does not answer)",
            errno: libc::ETIMEDOUT,
        });
    }
    let events = b.log_pid != 0 && b.log.events() != (0, false);
    b.read_maps_text()?;
    let same_brk = current_brk() == b.brk;
    if same_brk && b.text_is_known() {
        b.watch_pins = b.known_watch_pins;
        if !events && async_spans_registered(b)? {
            return Ok(false);
        }
    }
    b.parse_current()?;
    if same_brk
        && !events
        && policy::layout_unchanged(b.expected(), b.current())
        && async_spans_registered(b)?
    {
        // The same layout in other words (a grown stack): next time, these bytes are known.
        b.remember_text();
        return Ok(false);
    }
    check_registration(b)?;
    let ok = b.current_ok.get(..b.n_current).unwrap_or(&[]);
    policy::check_repairable(b.expected(), b.current(), b.ranges(), ok).map_err(Failure::Layout)?;
    Ok(true)
}

/// Whether every span of adjacent async-tracked ranges is still registered memory: one
/// PAGEMAP_SCAN per span that walks no page table ([`STILL_REGISTERED`]).
fn async_spans_registered(b: &Body) -> std::result::Result<bool, Failure> {
    // SAFETY: open for the body's lifetime.
    let pagemap = unsafe { BorrowedFd::borrow_raw(b.pagemap) };
    let mut i = 0;
    while let Some(first) = b.ranges().get(i) {
        let mut end = first.vma.end;
        let mut j = i + 1;
        if first.registered && !first.logged {
            while let Some(next) = b
                .ranges()
                .get(j)
                .filter(|n| n.registered && !n.logged && n.vma.start == end)
            {
                end = next.vma.end;
                j += 1;
            }
            match scan_once(pagemap, first.vma.start, end, &STILL_REGISTERED, &mut []) {
                Ok(_) => {}
                Err(libc::EPERM) => return Ok(false),
                Err(errno) => {
                    return Err(Failure::Os {
                        op: "PAGEMAP_SCAN (rollback, registration check)",
                        errno,
                    })
                }
            }
        }
        i = j;
    }
    Ok(true)
}

/// Fills `current_ok`: for each mapping of `current` that lies in a registered range, whether
/// it is still that range's tracked memory. Async ranges ask the kernel (one scan of the mapping
/// that walks no page table); logged ones are lost where the write log saw them unmapped
/// (every logged one when its events overflowed). Mappings outside ranges are ok.
fn check_registration(b: &mut Body) -> std::result::Result<(), Failure> {
    // SAFETY: open for the body's lifetime.
    let pagemap = unsafe { BorrowedFd::borrow_raw(b.pagemap) };
    let (n_events, events_lost) = if b.log_pid != 0 {
        b.log.events()
    } else {
        (0, false)
    };
    for i in 0..b.n_current {
        let Some(&v) = b.current.get(i) else { break };
        let r = policy::range_holding(b.ranges(), &v);
        let ok = match r {
            Some(r) if r.registered && !r.logged => {
                match scan_once(pagemap, v.start, v.end, &STILL_REGISTERED, &mut []) {
                    Ok(_) => true,
                    Err(libc::EPERM) => false,
                    Err(errno) => {
                        return Err(Failure::Os {
                            op: "PAGEMAP_SCAN (rollback, registration check)",
                            errno,
                        })
                    }
                }
            }
            Some(r) if r.logged => {
                !events_lost
                    && (0..n_events).all(|k| {
                        let e = b.log.event(k);
                        e.kind != wp_log::EVENT_UNMAPPED || !v.overlaps(e.start, e.end)
                    })
            }
            _ => true,
        };
        if let Some(slot) = b.current_ok.get_mut(i) {
            *slot = ok;
        }
    }
    Ok(())
}

/// Puts the layout back: the break, then unmaps what is new or replaced and puts back the
/// protection of pieces re-protected, then re-creates the missing parts of anonymous ranges
/// from the pristine copy (only what was populated at take) and tracks them again, then repairs
/// the pages the write log saw dropped. Returns the pages it copied.
///
/// `current` holds the layout `check_layout` just parsed; /proc/self/maps is read again only
/// after a step that changed the layout.
fn fix_layout(b: &mut Body) -> usize {
    if current_brk() != b.brk {
        // SAFETY: moves the break back to where it was at take; memory beyond it is new.
        unsafe { libc::syscall(libc::SYS_brk, b.brk) };
        if current_brk() != b.brk {
            die("brk (restore the program break)", libc::ENOMEM);
        }
        reread_or_die(b);
        if let Err(f) = check_registration(b) {
            die_failure(f);
        }
    }
    let mut changed = false;
    for i in 0..b.n_current {
        let Some(&v) = b.current.get(i) else { break };
        let ok = b.current_ok.get(i).copied().unwrap_or(false);
        match policy::piece_action(&v, ok, b.expected(), b.ranges()) {
            policy::Piece::Keep => {}
            policy::Piece::Reprotect(prot) => {
                // SAFETY: a piece of a tracked range whose protection the program changed;
                // its pages are its own (still registered), only the protection goes back.
                if unsafe { libc::mprotect(v.start as *mut _, v.len(), prot as libc::c_int) } != 0 {
                    die("mprotect (put back a tracked range's protection)", errno());
                }
                changed = true;
            }
            policy::Piece::Unmap => {
                // SAFETY: a private mapping made or replaced since take: after rollback
                // nothing in memory refers to it (policy checked it holds no memory that
                // cannot be re-created).
                if unsafe { libc::munmap(v.start as *mut _, v.len()) } != 0 {
                    die("munmap (mapping made since the snapshot)", errno());
                }
                changed = true;
            }
        }
    }
    if changed {
        reread_or_die(b);
    }
    let mut pages = 0;
    let mut recreated = false;
    for i in 0..b.n_ranges {
        let Some(&r) = b.ranges.get(i) else { break };
        let mut at = r.vma.start;
        while at < r.vma.end {
            // The next mapped byte at or after `at`, within the range.
            let cover = b
                .current()
                .iter()
                .find(|v| v.end > at && v.start < r.vma.end);
            let hole_end = match cover {
                Some(v) if v.start <= at => {
                    at = v.end;
                    continue;
                }
                Some(v) => v.start,
                None => r.vma.end,
            };
            pages += recreate(b, &r, at, hole_end);
            recreated = true;
            at = hole_end;
        }
    }
    pages += repair_dropped_logged(b);
    if recreated {
        reread_or_die(b);
    }
    b.current_is_expected();
    pages
}

/// Reads /proc/self/maps into `current` again, after rollback changed the layout.
fn reread_or_die(b: &mut Body) {
    if let Err(f) = b.read_current() {
        die_failure(f);
    }
}

/// Maps `[start, end)` of anonymous range `r` again, fills it with what was populated of it at
/// take, and registers and protects it. Returns the pages copied.
fn recreate(b: &Body, r: &Range, start: usize, end: usize) -> usize {
    if !r.vma.anonymous() {
        die("re-create a file-backed mapping", libc::EINVAL);
    }
    let len = end - start;
    // SAFETY: maps a hole inside a range the snapshot tracks; MAP_FIXED_NOREPLACE never
    // replaces an existing mapping.
    let p = unsafe {
        libc::mmap(
            start as *mut _,
            len,
            r.vma.prot as libc::c_int,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED || p as usize != start {
        die("mmap (re-create an unmapped range)", errno());
    }
    let writable = r.vma.writable();
    if !writable {
        die("re-create a read-only range", libc::EINVAL);
    }
    // SAFETY: the hole was just mapped read-write by us (zero); off + len lies in the range's
    // copy.
    let pages = unsafe { b.restore_populated(r.pristine_off + (start - r.vma.start), start, len) };
    if r.registered {
        if let Err(e) = register_wp(b.uffd_of(r), start, len) {
            die("UFFDIO_REGISTER (re-created range)", e);
        }
        if let Err(e) = write_protect(b.uffd_of(r), start, len) {
            die("UFFDIO_WRITEPROTECT (re-created range)", e);
        }
    }
    pages
}

/// Repairs the parts of logged ranges that the write log saw dropped (madvise DONTNEED/FREE,
/// which leave anonymous pages zero and unprotected, without a fault): drops them for sure,
/// copies back what was populated at take and protects them again. Runs after the layout was
/// put back; parts unmapped since were re-created whole already. Returns the pages copied.
fn repair_dropped_logged(b: &mut Body) -> usize {
    if b.log_pid == 0 {
        return 0;
    }
    let (n, lost) = b.log.events();
    let mut pages = 0;
    for i in 0..b.n_ranges {
        let Some(&r) = b.ranges.get(i) else { break };
        if !r.logged {
            continue;
        }
        let mut repair = |s: usize, e: usize| {
            let (s, e) = (s.max(r.vma.start), e.min(r.vma.end));
            if s >= e {
                return;
            }
            // SAFETY: part of a logged range, registered memory of this snapshot (the layout
            // was put back); dropping it before the copy makes every page of it read zero.
            if unsafe { libc::madvise(s as *mut _, e - s, libc::MADV_DONTNEED) } != 0 {
                die("madvise (drop a dropped logged range for sure)", errno());
            }
            // SAFETY: as above; the range's copy is at the same distance from its start.
            pages += unsafe { b.restore_populated(r.pristine_off + (s - r.vma.start), s, e - s) };
            if let Err(err) = write_protect(b.uffd_of(&r), s, e - s) {
                die("UFFDIO_WRITEPROTECT (rollback, dropped logged pages)", err);
            }
        };
        if lost {
            repair(r.vma.start, r.vma.end);
            continue;
        }
        for k in 0..n {
            let ev = b.log.event(k);
            if ev.kind == wp_log::EVENT_REMOVED {
                repair(ev.start, ev.end);
            }
        }
    }
    pages
}

/// Async-tracked file-backed ranges: pages that are the file's again (MADV_DONTNEED on `.data`
/// or a MAP_PRIVATE file page: write-protect keeps calling them "not written") are copied back
/// from the pristine copy. The copy makes them written, so [`restore_written`] protects them
/// again (and counts them).
fn restore_file_again(b: &mut Body) {
    // SAFETY: open for the body's lifetime.
    let pagemap = unsafe { BorrowedFd::borrow_raw(b.pagemap) };
    let pristine = b.pristine;
    for i in 0..b.n_ranges {
        let Some(&r) = b.ranges.get(i) else { break };
        if !r.registered || r.logged || r.vma.anonymous() {
            continue;
        }
        let res = scan_all(
            pagemap,
            r.vma.start,
            r.vma.end,
            &FILE_AGAIN,
            &mut b.regions,
            |batch| {
                for reg in batch {
                    let (s, e) = (reg.start as usize, reg.end as usize);
                    // SAFETY: pages of a tracked range (layout checked), rewritten from its copy.
                    unsafe { copy_back(pristine, r.pristine_off + (s - r.vma.start), s, e - s) };
                }
                Ok(())
            },
            |e| ("PAGEMAP_SCAN (rollback, dropped file pages)", e),
        );
        if let Err((op, e)) = res {
            die(op, e);
        }
    }
}

/// Restores the pages written since the snapshot: per span of adjacent registered ranges, scan
/// (without protecting), copy back, then protect again — in that order, since protecting first
/// would make the restoring writes count as written. Unregistered ranges are copied whole.
/// Returns the pages rewritten.
fn restore_written(b: &mut Body) -> usize {
    let written = ScanQuery {
        flags: PM_SCAN_CHECK_WPASYNC,
        ..WRITTEN
    };
    let reprotect = ScanQuery {
        flags: PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
        ..written
    };
    let mut pages = 0;
    let mut i = 0;
    while i < b.n_ranges {
        let Some(&first) = b.ranges.get(i) else { break };
        if !first.registered {
            // SAFETY: a tracked private writable mapping (layout checked), rewritten from its copy.
            unsafe { b.restore(first.pristine_off, first.vma.start, first.vma.len()) };
            pages += first.vma.len() / PAGE;
            i += 1;
            continue;
        }
        if first.logged {
            i += 1; // restore_logged's
            continue;
        }
        // Adjacent registered ranges have adjacent copies: scan them as one span.
        let mut end = first.vma.end;
        let mut j = i + 1;
        while let Some(next) = b
            .ranges
            .get(j)
            .filter(|n| j < b.n_ranges && n.registered && !n.logged && n.vma.start == end)
        {
            end = next.vma.end;
            j += 1;
        }
        let (start, off) = (first.vma.start, first.pristine_off);
        let (uffd, pagemap, pristine) = (b.uffd, b.pagemap, b.pristine);
        // SAFETY: open for the body's lifetime.
        let (uffd, pagemap) = unsafe {
            (
                BorrowedFd::borrow_raw(uffd),
                BorrowedFd::borrow_raw(pagemap),
            )
        };
        let mut seen = 0usize;
        let r = scan_all(
            pagemap,
            start,
            end,
            &written,
            &mut b.regions,
            |batch| {
                for reg in batch {
                    let (s, e) = (reg.start as usize, reg.end as usize);
                    // SAFETY: a written page inside a tracked span (the scan walked only it);
                    // its copy is at the same distance from the span's start.
                    unsafe { copy_back(pristine, off + (s - start), s, e - s) };
                    pages += (e - s) / PAGE;
                }
                if seen + batch.len() <= REPROTECT_ONE_BY_ONE {
                    for reg in batch {
                        write_protect(uffd, reg.start as usize, (reg.end - reg.start) as usize)
                            .map_err(|e| ("UFFDIO_WRITEPROTECT (rollback)", e))?;
                    }
                }
                seen += batch.len();
                Ok(())
            },
            |e| ("PAGEMAP_SCAN (rollback)", e),
        );
        if let Err((op, e)) = r {
            die(op, e);
        }
        if seen > REPROTECT_ONE_BY_ONE {
            if let Err((op, e)) = scan_all(
                pagemap,
                start,
                end,
                &reprotect,
                &mut [],
                |_| Ok(()),
                |e| ("PAGEMAP_SCAN (rollback, re-protect)", e),
            ) {
                die(op, e);
            }
        }
        i = j;
    }
    pages
}

/// Restores the pages of logged ranges written since the snapshot, as the write log lists them
/// (sorted, merged into runs: one copy and one re-protect per run), and empties the log. Costs
/// follow the pages written, not the size of the ranges. When the log overflowed, or after the
/// layout was repaired (re-created pieces are already restored; the log may name pages that
/// were unmapped since), it falls back to a PAGEMAP_SCAN of the logged ranges — correctness
/// first. Returns the pages rewritten.
fn restore_logged(b: &mut Body, slow: bool) -> usize {
    if b.log_pid == 0 {
        return 0;
    }
    let (n, overflow) = b.log.recorded();
    let pages = if overflow || slow {
        rescan_logged(b)
    } else {
        b.log.sort(n);
        let mut pages = 0;
        let mut i = 0;
        while i < n {
            let start = b.log.page(i);
            i += 1;
            let Some((at, r)) = logged_range(b.ranges(), start) else {
                continue;
            };
            let mut end = start + PAGE;
            while i < n {
                let p = b.log.page(i);
                if p + PAGE == end {
                    i += 1; // a duplicate (defensive: a page faults once until re-protected)
                } else if p == end && p < r.vma.end {
                    end += PAGE;
                    i += 1;
                } else {
                    break;
                }
            }
            // SAFETY: [start, end) lies in a logged range whose layout was checked unchanged,
            // and its pages were un-protected by the handler when they were written.
            unsafe { b.restore(r.pristine_off + (start - r.vma.start), start, end - start) };
            if let Err(e) = write_protect(b.uffd_of(&r), start, end - start) {
                die("UFFDIO_WRITEPROTECT (rollback, logged)", e);
            }
            pages += (end - start) / PAGE;
            if let Some(r) = b.ranges.get_mut(at) {
                r.round_pages += (end - start) / PAGE;
            }
        }
        pages
    };
    // Our own munmap/madvise of logged memory above raised events too: let the task record
    // them before they are cleared with the rest.
    if !b.log.settle() {
        die(
            "in-place rollback (the write log's handler task does not answer)",
            libc::ETIMEDOUT,
        );
    }
    b.log.clear();
    adapt_logging(b);
    pages
}

/// The logged range that holds `addr`, and its index.
fn logged_range(ranges: &[Range], addr: usize) -> Option<(usize, Range)> {
    let i = ranges
        .partition_point(|r| r.vma.start <= addr)
        .checked_sub(1)?;
    let r = *ranges.get(i)?;
    (r.logged && addr < r.vma.end).then_some((i, r))
}

/// Moves logged ranges written heavily at several rollbacks in a row to async tracking (see
/// [`LOG_BREAK_EVEN_BYTES`]); one-way, so a range does not flap. Runs after the range was
/// restored, so protecting all of it again is exact.
fn adapt_logging(b: &mut Body) {
    let mut moved = false;
    for i in 0..b.n_ranges {
        let Some(r) = b.ranges.get_mut(i) else { break };
        if !r.logged {
            continue;
        }
        let heavy = r.round_pages > LOG_HEAVY_MIN_PAGES
            && r.round_pages.saturating_mul(LOG_BREAK_EVEN_BYTES) > r.vma.len();
        r.heavy_rounds = if heavy { r.heavy_rounds + 1 } else { 0 };
        r.round_pages = 0;
        if r.heavy_rounds < LOG_HEAVY_ROUNDS {
            continue;
        }
        r.logged = false;
        let r = *r;
        // SAFETY: both fds are open for the body's lifetime.
        let (log_uffd, uffd) = unsafe {
            (
                BorrowedFd::borrow_raw(b.log_uffd),
                BorrowedFd::borrow_raw(b.uffd),
            )
        };
        let (start, len) = (r.vma.start, r.vma.len());
        if let Err(e) = unregister(log_uffd, start, len) {
            die(
                "UFFDIO_UNREGISTER (move a logged range to async tracking)",
                e,
            );
        }
        if let Err(e) = register_wp(uffd, start, len) {
            die("UFFDIO_REGISTER (move a logged range to async tracking)", e);
        }
        if let Err(e) = write_protect(uffd, start, len) {
            die(
                "UFFDIO_WRITEPROTECT (move a logged range to async tracking)",
                e,
            );
        }
        moved = true;
    }
    if moved {
        // Registration changes may merge or split mappings: that layout is the reference now.
        reread_or_die(b);
        b.current_is_expected();
    }
}

/// The log's fallback: scans each logged range for written pages (no `CHECK_WPASYNC`: these
/// ranges are registered in synchronous mode), restores them and protects them again.
fn rescan_logged(b: &mut Body) -> usize {
    let mut pages = 0;
    for i in 0..b.n_ranges {
        let Some(&r) = b.ranges.get(i) else { break };
        if !r.logged {
            continue;
        }
        let before = pages;
        let (log_uffd, pagemap, pristine) = (b.log_uffd, b.pagemap, b.pristine);
        // SAFETY: open for the body's lifetime.
        let (log_uffd, pagemap) = unsafe {
            (
                BorrowedFd::borrow_raw(log_uffd),
                BorrowedFd::borrow_raw(pagemap),
            )
        };
        let res = scan_all(
            pagemap,
            r.vma.start,
            r.vma.end,
            &WRITTEN,
            &mut b.regions,
            |batch| {
                for reg in batch {
                    let (s, e) = (reg.start as usize, reg.end as usize);
                    // SAFETY: a written page inside a logged range (the scan walked only it);
                    // its copy is at the same distance from the range's start.
                    unsafe { copy_back(pristine, r.pristine_off + (s - r.vma.start), s, e - s) };
                    write_protect(log_uffd, s, e - s)
                        .map_err(|e| ("UFFDIO_WRITEPROTECT (rollback, log overflow)", e))?;
                    pages += (e - s) / PAGE;
                }
                Ok(())
            },
            |e| ("PAGEMAP_SCAN (rollback, log overflow)", e),
        );
        if let Err((op, e)) = res {
            die(op, e);
        }
        if let Some(r) = b.ranges.get_mut(i) {
            r.round_pages += pages - before;
        }
    }
    pages
}

fn die_failure(f: Failure) -> ! {
    match f {
        Failure::Os { op, errno } => die(op, errno),
        _ => die("read /proc/self/maps", libc::EOVERFLOW),
    }
}

/// Ends the process: a rollback failed after it began rewriting memory, so neither the caller
/// nor the snapshot's state can be trusted. Allocation-free (the heap may be half restored).
fn die(op: &str, errno: i32) -> ! {
    let mut num = [0u8; 12];
    let mut at = num.len();
    let mut e = errno.unsigned_abs();
    loop {
        at -= 1;
        if let Some(d) = num.get_mut(at) {
            *d = b'0' + (e % 10) as u8;
        }
        e /= 10;
        if e == 0 || at == 0 {
            break;
        }
    }
    let parts: [&[u8]; 5] = [
        b"lwc: in-place rollback failed while rewriting memory, aborting: ",
        op.as_bytes(),
        b": errno ",
        num.get(at..).unwrap_or(&[]),
        b"\n",
    ];
    for p in parts {
        // SAFETY: writes a live byte slice to stderr.
        unsafe { libc::write(2, p.as_ptr().cast(), p.len()) };
    }
    // SAFETY: abort ends the process.
    unsafe { libc::abort() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_maps_line() {
        let text =
            b"5581e3a00000-5581e3a21000 rw-p 00000000 00:00 0                          [heap]\n\
7f1c2a000000-7f1c2a021000 r-xp 0001c000 fd:01 1234567                    /usr/lib/a file.so\n\
7f1c2b000000-7f1c2b001000 rw-s 00000000 00:05 99                         /memfd:x (deleted)\n\
7f1c2c000000-7f1c2c001000 rw-p 00000000 00:00 0                          [anon:glibc]\n\
7f1c2d000000-7f1c2d001000 rw-p 00000000 00:00 0 \n\
7ffd1000000-7ffd1021000 rw-p 00000000 00:00 0                          [stack]\n\
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";
        let mut out = [Vma::default(); 8];
        let n = parse_maps(text, &[(0x7f1c_2b00_0000, 0x7f1c_2b00_1000)], &mut out);
        assert_eq!(n, Ok(6));
        let kinds: Vec<u8> = out.iter().take(6).map(|v| v.kind).collect();
        let want = [
            KIND_HEAP,
            KIND_FILE,
            KIND_ANON,
            KIND_ANON,
            KIND_STACK,
            KIND_SPECIAL,
        ];
        assert_eq!(kinds, want);
        let lib = out[1];
        assert_eq!((lib.start, lib.end), (0x7f1c_2a00_0000, 0x7f1c_2a02_1000));
        assert_eq!(lib.offset, 0x1c000);
        assert_eq!(lib.dev, (0xfd << 32) | 1);
        assert_eq!(lib.inode, 1_234_567);
        assert_eq!(lib.prot, (libc::PROT_READ | libc::PROT_EXEC) as u8);
        assert!(!lib.shared);
        assert_eq!(out[0].prot, (libc::PROT_READ | libc::PROT_WRITE) as u8);
        assert_eq!(out[5].start, 0xffff_ffff_ff60_0000);
    }

    #[test]
    fn rejects_malformed_lines_and_overflow() {
        let mut out = [Vma::default(); 1];
        for bad in [
            &b"zz-1000 rw-p 00000000 00:00 0\n"[..],
            b"1000 rw-p 00000000 00:00 0\n",
            b"1000-2000 rw-p 00000000 0000 0\n",
            b"1000-2000 rw-p 00000000 00:00 1x\n",
            b"1000-2000 rw-p\n",
            b"11111111111111111-2000 rw-p 00000000 00:00 0\n",
        ] {
            assert_eq!(parse_maps(bad, &[], &mut out), Err(MapsError::Malformed));
        }
        let two = b"1000-2000 rw-p 00000000 00:00 0\n3000-4000 rw-p 00000000 00:00 0\n";
        assert_eq!(parse_maps(two, &[], &mut out), Err(MapsError::TooMany));
    }
}

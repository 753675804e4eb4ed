//! userfaultfd write-protect and the `PAGEMAP_SCAN` ioctl: the system calls in-place snapshots
//! (`snapshot::in_place`) are built from.
//!
//! - [`Uffd`]: a userfaultfd in async write-protect mode (the kernel resolves writes to
//!   protected pages and only records them), or in synchronous mode for the write log
//!   (`sys::wp_log`), with the events that report munmap, mremap and dropped pages;
//! - [`register_wp`], [`unregister`], [`write_protect`]: the range ioctls;
//! - [`scan_once`], [`scan_all`]: `PAGEMAP_SCAN` on /proc/self/pagemap, and the queries the
//!   engine asks ([`STILL_REGISTERED`], [`FILE_AGAIN`], written pages);
//! - [`probe`]: whether the whole chain works on this kernel.
//!
//! Kernel constants are defined here: Debian 12's headers lack `PAGEMAP_SCAN`,
//! `UFFD_FEATURE_WP_ASYNC` and `UFFD_FEATURE_WP_UNPOPULATED` (Linux 6.7+).
//!
//! # Safety
//! The wrappers pass the kernel pointers to live Rust values only (an argument struct, an
//! output vector exclusively borrowed); the ioctls change how the kernel tracks a range, never
//! its contents.
//!
//! # References
//! userfaultfd(2), ioctl_userfaultfd(2), Documentation/admin-guide/mm/pagemap.rst
//! ("PAGEMAP_SCAN"), Documentation/admin-guide/mm/userfaultfd.rst ("Write Protect Notifications",
//! async mode).
#![allow(unsafe_code)]

use crate::{Error, Result};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

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

use super::errno;
use super::mem::Pages;
use super::procfs::open_proc;

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

    /// The fd, handed over (to a snapshot's arena, which closes it at release).
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
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
pub(crate) const WRITTEN: ScanQuery = ScanQuery {
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

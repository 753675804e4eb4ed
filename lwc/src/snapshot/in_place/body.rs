//! The snapshot's state: everything rollback needs, in one private mapping (the arena) that is
//! excluded from tracking, so rollback touches neither the heap nor the caller's stack, which it
//! rewrites; and the pristine copy (a memfd).
//!
//! ```text
//!   [guard][header][restore stack ........][body: fds, context, ranges, maps, buffers][guard]
//! ```
//!
//! # Safety
//! The body is reached through raw pointers from the header, which stays mapped for the life of
//! the process; it is valid at all-zero bytes. Copies into tracked memory (`copy_back`,
//! [`Body::restore`]) are `unsafe fn`s whose callers name the range they rewrite.
#![allow(unsafe_code)]

use super::layout::Range;
use crate::sys::context::Context;
use crate::sys::mem::next_data;
use crate::sys::procfs::{parse_maps, read_proc, MapsError, Vma, KIND_IO_RING};
use crate::sys::uffd::{PageRegion, PAGE};
use crate::sys::wp_log::{WriteLog, HANDLER_STACK_LEN};
use crate::{Error, Result};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// Most mappings a layout may list (the default vm.max_map_count is 65530; real processes have
/// tens to hundreds).
pub(super) const MAX_VMAS: usize = 4096;
/// Most tracked ranges.
pub(super) const MAX_RANGES: usize = 2048;
/// Written regions fetched per PAGEMAP_SCAN call.
pub(super) const MAX_REGIONS: usize = 1024;
/// Buffer for one read of /proc/self/maps (about 100 bytes a line).
pub(super) const MAPS_BUF_LEN: usize = 512 * 1024;
/// The private stack rollback runs on.
pub(super) const RESTORE_STACK_LEN: usize = 256 * 1024;
/// Up to this many written regions in a span are re-protected one ioctl each; above it one
/// write-protecting scan of the span is cheaper (one ioctl per region costs about 1 µs, a scan
/// costs one page-table walk).
pub(super) const REPROTECT_ONE_BY_ONE: usize = 32;
/// Anonymous mappings at least this large are tracked by the write log (when it is available):
/// a PAGEMAP_SCAN walk costs ~0.27 µs per MiB at every rollback, a logged first write ~7 µs more
/// than an async one, so logging pays off for large mappings with few pages written per round.
pub(super) const LOG_MIN_BYTES: usize = 128 << 20;
/// A logged range is moved to async tracking when, at [`LOG_HEAVY_ROUNDS`] rollbacks in a row,
/// it had more than [`LOG_HEAVY_MIN_PAGES`] pages logged and more than one per this many bytes:
/// a logged first write costs ~7 µs more than an async one, which is what a PAGEMAP_SCAN of
/// about 28 MiB costs, so past that rate the scan is cheaper.
pub(super) const LOG_BREAK_EVEN_BYTES: usize = 28 << 20;
/// See [`LOG_BREAK_EVEN_BYTES`]: below this many pages a round never counts as heavy.
pub(super) const LOG_HEAVY_MIN_PAGES: usize = 64;
/// See [`LOG_BREAK_EVEN_BYTES`]: one heavy round (a burst at start-up) does not move a range.
pub(super) const LOG_HEAVY_ROUNDS: u32 = 3;
/// Environment variable overriding [`LOG_MIN_BYTES`]: a byte count, or `off` (anything that is
/// not a number) to track everything with async write-protect and PAGEMAP_SCAN.
pub(crate) const LOG_MIN_ENV: &str = "LWC_IN_PLACE_LOG_MIN_BYTES";
/// Marks a live arena header.
pub(super) const MAGIC: u64 = 0x6c77_635f_696e_706c;
/// What `save_and_call` returns when `take`'s callback succeeded.
pub(super) const TAKE_OK: u64 = 0;
/// What it returns when the callback failed (the failure is in the body).
pub(super) const TAKE_FAILED: u64 = 1;
/// What a rollback makes it return.
pub(super) const RESTORED: u64 = 2;

/// Why a rollback (or the copy at `take`) failed before it changed anything.
#[derive(Clone, Copy, Debug, Default)]
pub(super) enum Failure {
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
    pub(super) fn to_error(self) -> Error {
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
pub(super) struct Header {
    /// [`MAGIC`].
    pub(super) magic: u64,
    /// Set by `release`; the body is gone.
    pub(super) released: bool,
    /// The process that took the snapshot (a forked child must not use its parent's uffd).
    pub(super) pid: libc::pid_t,
    /// The body.
    pub(super) body: *mut Body,
}

/// Everything rollback needs, in untracked memory. Valid at all-zero bytes (integers, raw
/// pointers, `Copy` structs of those, `sigset_t`), which is how a fresh mapping holds it.
#[repr(C)]
pub(super) struct Body {
    /// The userfaultfd (closed by `release`).
    pub(super) uffd: RawFd,
    /// The write log's userfaultfd, when `log_pid` is not 0 (closed by `release`).
    pub(super) log_uffd: RawFd,
    /// The write log's handler task, 0 when the log is not used.
    pub(super) log_pid: libc::pid_t,
    /// /proc/self/pagemap.
    pub(super) pagemap: RawFd,
    /// /proc/self/maps.
    pub(super) maps: RawFd,
    /// /proc/self/task (kept open: see [`process::count_threads_in`]).
    pub(super) task: RawFd,
    /// /proc/self/status (for `VmPin`).
    pub(super) status: RawFd,
    /// The memfd holding the pristine copy.
    pub(super) pristine_fd: RawFd,
    /// Its MAP_SHARED mapping.
    pub(super) pristine: *mut u8,
    /// Its length (the tracked bytes).
    pub(super) pristine_len: usize,
    /// The whole arena.
    pub(super) arena: *mut u8,
    /// Its length.
    pub(super) arena_len: usize,
    /// Top of the restore stack (16-byte aligned).
    pub(super) stack_top: *mut u8,
    /// The program break at `take`.
    pub(super) brk: usize,
    /// The signal mask at `take`, restored by rollback.
    pub(super) take_mask: libc::sigset_t,
    /// The signal mask of the rollback caller, restored when rollback fails.
    pub(super) caller_mask: libc::sigset_t,
    /// The CPU context `take` saved.
    pub(super) ctx: Context,
    /// Why the last operation failed.
    pub(super) failure: Failure,
    /// Pages rewritten by the last rollback.
    pub(super) last_restored_pages: usize,
    /// Ranges in `ranges`.
    pub(super) n_ranges: usize,
    /// The tracked mappings, sorted by address.
    pub(super) ranges: [Range; MAX_RANGES],
    /// Mappings in `expected`.
    pub(super) n_expected: usize,
    /// The layout after the last `take` or rollback, our own mappings left out.
    pub(super) expected: [Vma; MAX_VMAS],
    /// Mappings in `current`.
    pub(super) n_current: usize,
    /// The layout just read.
    pub(super) current: [Vma; MAX_VMAS],
    /// PAGEMAP_SCAN output.
    pub(super) regions: [PageRegion; MAX_REGIONS],
    /// /proc/self/maps text, and getdents64 output.
    pub(super) maps_buf: [u8; MAPS_BUF_LEN],
    /// Bytes of maps text in `maps_buf` from the last `read_current` (0 once overwritten).
    pub(super) maps_len: usize,
    /// A /proc/self/maps listing whose layout is `expected` (its first `known_maps_len`
    /// bytes; 0: none). A rollback that reads the same bytes again knows the layout is
    /// unchanged without parsing it — parsing cost about as much as the kernel's formatting.
    pub(super) known_maps: [u8; MAPS_BUF_LEN],
    pub(super) known_maps_len: usize,
    /// Whether `current` (as last parsed) holds a mapping through which memory may be pinned
    /// (an io_uring's rings): then rollback checks `VmPin` first.
    pub(super) watch_pins: bool,
    /// The same for the known listing.
    pub(super) known_watch_pins: bool,
    /// Per mapping of `current`, from the last [`check_registration`]: false when it lies in a
    /// registered range but is no longer registered memory of this snapshot (replaced at the
    /// same address, moved away and back, or unmapped under the write log).
    pub(super) current_ok: [bool; MAX_VMAS],
    /// Pages written in logged ranges, filled by the handler task.
    pub(super) log: WriteLog,
    /// The handler task's stack.
    pub(super) log_stack: HandlerStack,
}

/// The write log handler's stack, 16-byte aligned at its top.
#[repr(C, align(16))]
pub(super) struct HandlerStack([u8; HANDLER_STACK_LEN]);

impl Body {
    pub(super) fn ranges(&self) -> &[Range] {
        self.ranges.get(..self.n_ranges).unwrap_or(&[])
    }
    pub(super) fn expected(&self) -> &[Vma] {
        self.expected.get(..self.n_expected).unwrap_or(&[])
    }
    pub(super) fn current(&self) -> &[Vma] {
        self.current.get(..self.n_current).unwrap_or(&[])
    }
    /// Our own mappings, left out of every layout.
    pub(super) fn own(&self) -> [(usize, usize); 2] {
        let a = self.arena as usize;
        let p = self.pristine as usize;
        [(a, a + self.arena_len), (p, p + self.pristine_len)]
    }
    // The fds are raw: the body lives in a mapping shared by every copy of the (Copy) handle
    // and must survive rollbacks, so `release` closes them explicitly.
    /// The userfaultfd range `r` is registered with.
    pub(super) fn uffd_of(&self, r: &Range) -> BorrowedFd<'_> {
        let fd = if r.logged { self.log_uffd } else { self.uffd };
        // SAFETY: both are open from take until release (log_uffd whenever a range is logged).
        unsafe { BorrowedFd::borrow_raw(fd) }
    }

    /// Reads /proc/self/maps into `current` (own mappings left out).
    pub(super) fn read_current(&mut self) -> std::result::Result<(), Failure> {
        self.read_maps_text()?;
        self.parse_current()
    }

    /// Reads /proc/self/maps into `maps_buf`.
    pub(super) fn read_maps_text(&mut self) -> std::result::Result<(), Failure> {
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
    pub(super) fn parse_current(&mut self) -> std::result::Result<(), Failure> {
        let own = self.own();
        let text = self.maps_buf.get(..self.maps_len).unwrap_or(&[]);
        self.n_current = parse_maps(text, &own, &mut self.current).map_err(Failure::Maps)?;
        self.watch_pins = self.current().iter().any(|v| v.kind == KIND_IO_RING);
        Ok(())
    }

    /// Whether the text just read is the known listing of the expected layout.
    pub(super) fn text_is_known(&self) -> bool {
        self.known_maps_len != 0
            && self.maps_buf.get(..self.maps_len) == self.known_maps.get(..self.known_maps_len)
    }

    /// Remembers the text just read as a listing of the expected layout.
    pub(super) fn remember_text(&mut self) {
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
    pub(super) fn current_is_expected(&mut self) {
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
    pub(super) unsafe fn restore(&self, off: usize, to: usize, len: usize) {
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
    pub(super) unsafe fn restore_populated(&self, off: usize, to: usize, len: usize) -> usize {
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
pub(super) unsafe fn copy_back(pristine: *const u8, off: usize, to: usize, len: usize) {
    // SAFETY: the caller's contract.
    unsafe { std::ptr::copy_nonoverlapping(pristine.add(off), to as *mut u8, len) }
}

/// The arena while `take` builds it; unmapped on drop unless handed to a snapshot.
pub(super) struct Arena {
    pub(super) base: NonNull<u8>,
    pub(super) len: usize,
}

impl Arena {
    /// `[guard][header][restore stack][body][guard]`, the inner part read-write.
    pub(super) fn new() -> Result<Arena> {
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
    pub(super) fn header(&self) -> *mut Header {
        // SAFETY: the header page is inside the arena.
        unsafe { self.base.as_ptr().add(PAGE).cast() }
    }
    pub(super) fn stack_top(&self) -> *mut u8 {
        // SAFETY: inside the arena; page-aligned, hence 16-byte aligned.
        unsafe { self.base.as_ptr().add(2 * PAGE + RESTORE_STACK_LEN) }
    }
    pub(super) fn body(&self) -> *mut Body {
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
pub(super) struct Pristine {
    pub(super) fd: OwnedFd,
    pub(super) base: *mut u8,
    pub(super) len: usize,
}

impl Pristine {
    pub(super) fn new(len: usize) -> Result<Pristine> {
        let fd = crate::sys::mem::memfd("lwc-in-place-pristine")?;
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

/// The current program break.
pub(super) fn current_brk() -> usize {
    // SAFETY: brk(0) never moves the break; it returns the current one.
    unsafe { libc::syscall(libc::SYS_brk, 0usize) as usize }
}

/// Why rollback refuses while memory is pinned.
pub(super) const PINNED: &str =
    "the process has pinned memory (VmPin in /proc/self/status: io_uring \
                      registered buffers or the like); the kernel writes pinned pages without \
                      write-protect faults, so in-place rollback cannot see those writes \
                      (unregister the buffers before rollback, or use Strategy::Fork)";
pub(super) fn die_failure(f: Failure) -> ! {
    match f {
        Failure::Os { op, errno } => die(op, errno),
        _ => die("read /proc/self/maps", libc::EOVERFLOW),
    }
}

/// Ends the process: a rollback failed after it began rewriting memory, so neither the caller
/// nor the snapshot's state can be trusted. Allocation-free (the heap may be half restored).
pub(super) fn die(op: &str, errno: i32) -> ! {
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

/// Reads /proc/self/maps into `current` again, after rollback changed the layout.
pub(super) fn reread_or_die(b: &mut Body) {
    if let Err(f) = b.read_current() {
        die_failure(f);
    }
}

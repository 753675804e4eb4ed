//! The only place in `workloads` that uses `unsafe`: fork, `_exit`, anonymous mappings,
//! `posix_spawn`, the fork-like `lwc::create`, and `perf_event_open` with its group ioctls.
//!
//! ```text
//!   worker process (single-threaded)
//!   ├── fork_with(f) ──► child runs f, then _exit(code)       (process backends, create/fork)
//!   ├── SharedPage   ──► one MAP_SHARED page: futex words every party of a ring sees
//!   └── Region       ──► private anonymous memory, 4 KiB pages, populated (resident)
//! ```
//!
//! # Safety
//!
//! - `fork` is only sound to use like this in a single-threaded process: the child gets a copy of
//!   every lock held by other threads at the time of the fork, and may deadlock on one (malloc's,
//!   stdout's). [`fork_with`] therefore first checks that the calling process has exactly one
//!   thread ([`ensure_single_threaded`]) and refuses otherwise; a timed loop checks once
//!   ([`SingleThreaded`]) and forks with [`fork_while`]; `lwc::create` ([`lwc_create`]) relies
//!   on the lwC group, which refuses to start in a multi-threaded process. The child then runs
//!   the caller's closure and leaves with `_exit`, so it never returns into the caller's stack
//!   frames and never runs the parent's `atexit` handlers or destructors twice.
//! - Mappings are owned by an RAII type (`Mapping`, inside [`SharedPage`] and [`Region`]) whose
//!   `Drop` unmaps them; the references they hand out borrow the owner, so none outlives its
//!   mapping.
//! - `posix_spawn` receives NUL-terminated strings that live across the call and a NULL-terminated
//!   `argv`/`envp`.
//!
//! # References
//! fork(2), _exit(2), mmap(2), madvise(2), posix_spawn(3), futex(2).
#![allow(unsafe_code)]

use std::ffi::{c_void, CStr};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::mm::{Advice, MapFlags, ProtFlags};
use rustix::process::{Pid, WaitOptions};

/// Fails with `EBUSY`-like error text unless the calling process has exactly one thread.
///
/// A thread that was just joined can linger in `/proc/self/task` for a moment, so this retries
/// for up to 100 ms before giving up.
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

/// Leaves the calling process at once with `code` (`_exit(2)`): no destructors, no `atexit`.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` takes a plain integer and never returns; skipping destructors is the point.
    unsafe { libc::_exit(code) }
}

/// Forks; the child runs `child` and `_exit`s with the code it returns (101 if it panics).
/// Returns the child's pid in the parent.
///
/// Refuses (with an error) when the process has more than one thread.
pub(crate) fn fork_with(child: impl FnOnce() -> i32) -> io::Result<Pid> {
    fork_while(&SingleThreaded::check()?, child)
}

/// Proof that the process had one thread when it was made, held by a caller that starts no
/// thread while it keeps it. Forks made under it skip the check, which reads /proc: a timed
/// fork must not pay for a check that `lwc::create`, its counterpart, does not make either.
/// Not `Send`: it stays with the thread that checked.
pub(crate) struct SingleThreaded {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl SingleThreaded {
    /// Checks that the calling process has exactly one thread.
    pub(crate) fn check() -> io::Result<Self> {
        ensure_single_threaded()?;
        Ok(SingleThreaded {
            _not_send: std::marker::PhantomData,
        })
    }
}

/// [`fork_with`], for a caller that checked once and starts no thread since.
pub(crate) fn fork_while(_single: &SingleThreaded, child: impl FnOnce() -> i32) -> io::Result<Pid> {
    // SAFETY: the process is single-threaded (`SingleThreaded` was checked, and its holder starts
    // no thread), so the child inherits no lock held by another thread; the child never returns
    // from this function (it `_exit`s below).
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

/// Waits for `pid` and returns its exit code; a death by signal is an error naming the signal.
pub(crate) fn wait_exit_code(pid: Pid) -> io::Result<i32> {
    loop {
        match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => {
                if let Some(code) = status.exit_status() {
                    return Ok(code);
                }
                if let Some(sig) = status.terminating_signal() {
                    return Err(io::Error::other(format!(
                        "pid {pid:?} killed by signal {sig}"
                    )));
                }
            }
            Ok(None) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// `posix_spawn`s `path` with no arguments beyond its name and an empty environment, and waits
/// for it. Returns its exit code.
pub(crate) fn spawn_and_wait(path: &CStr) -> io::Result<i32> {
    let argv: [*mut libc::c_char; 2] = [path.as_ptr().cast_mut(), std::ptr::null_mut()];
    let envp: [*mut libc::c_char; 1] = [std::ptr::null_mut()];
    let mut pid: libc::pid_t = 0;
    // SAFETY: `path` is NUL-terminated and outlives the call; argv and envp are NULL-terminated
    // arrays of pointers that live across the call; null file actions and attributes mean
    // "inherit everything", which posix_spawn accepts.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            path.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    let pid = Pid::from_raw(pid).ok_or_else(|| io::Error::other("posix_spawn gave a bad pid"))?;
    wait_exit_code(pid)
}

/// Anonymous read-write memory at an address the kernel picks, unmapped when dropped.
struct Mapping {
    ptr: NonNull<c_void>,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes (a multiple of the page size) with `flags` (`SHARED` or `PRIVATE`).
    fn new(len: usize, flags: MapFlags) -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping at an address the kernel picks aliases nothing.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                flags,
            )
        }?;
        let ptr = NonNull::new(ptr).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Self { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`; no reference into it
        // outlives `self` (the owners' accessors borrow them).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr(), self.len) };
    }
}

/// One page of anonymous `MAP_SHARED` memory: stays shared with children forked later, so its
/// first word can serve as a futex between processes.
pub(crate) struct SharedPage(Mapping);

impl SharedPage {
    /// Maps one zeroed shared page.
    pub(crate) fn new() -> io::Result<Self> {
        Mapping::new(rustix::param::page_size(), MapFlags::SHARED).map(Self)
    }

    /// The page as 32-bit atomic words (futex words, one per party of a ring).
    pub(crate) fn words(&self) -> &[AtomicU32] {
        // SAFETY: the mapping is page-aligned (so 4-byte aligned), `len` readable and writable
        // bytes, lives as long as `self` (the returned slice borrows it), and is only accessed
        // atomically.
        unsafe {
            std::slice::from_raw_parts(
                self.0.ptr.as_ptr().cast::<AtomicU32>(),
                self.0.len / std::mem::size_of::<AtomicU32>(),
            )
        }
    }
}

/// `MAP_SHARED` anonymous memory of `n` 32-bit words and [`SharedWords::RESULTS`] 64-bit
/// ones: a futex word per session of `scale` and the result slots of the one session that
/// answers at a time, seen by the root and by sessions in forked processes or in threads.
pub(crate) struct SharedWords {
    words: Mapping,
    n: usize,
}

// SAFETY: the mapping is only ever accessed through atomic references (`u32s`, `u64s`), so
// sharing or sending it between threads cannot race; it is unmapped once, by its owner's drop.
unsafe impl Send for SharedWords {}
// SAFETY: as above: every access is atomic.
unsafe impl Sync for SharedWords {}

impl SharedWords {
    /// The 64-bit words.
    pub(crate) const RESULTS: usize = 4;

    /// Maps `n` zeroed `u32` words followed by the zeroed `u64` ones (page-rounded).
    pub(crate) fn new(n: usize) -> io::Result<Self> {
        let page = rustix::param::page_size();
        let bytes = n
            .checked_mul(4)
            .and_then(|b| b.checked_add(8 + 8 * Self::RESULTS))
            .ok_or_else(|| io::Error::other("too many words"))?;
        let len = bytes.div_ceil(page) * page;
        Ok(Self {
            words: Mapping::new(len, MapFlags::SHARED)?,
            n,
        })
    }

    /// The 32-bit words (futex words).
    pub(crate) fn u32s(&self) -> &[AtomicU32] {
        // SAFETY: the mapping is page-aligned, at least 4n bytes long, lives as long as `self`
        // (the slice borrows it) and is only accessed atomically.
        unsafe { std::slice::from_raw_parts(self.words.ptr.as_ptr().cast::<AtomicU32>(), self.n) }
    }

    /// The 64-bit words, after the 32-bit ones (8-byte aligned).
    pub(crate) fn u64s(&self) -> &[std::sync::atomic::AtomicU64] {
        let offset = (self.n * 4).div_ceil(8) * 8;
        // SAFETY: `offset` is 8-byte aligned inside the page-aligned mapping, which holds at least
        // `offset + 8 RESULTS` bytes (`new` maps 4n + 8 + 8 RESULTS, rounded up), lives as long
        // as `self` and is only accessed atomically.
        unsafe {
            std::slice::from_raw_parts(
                self.words
                    .ptr
                    .as_ptr()
                    .cast::<u8>()
                    .add(offset)
                    .cast::<std::sync::atomic::AtomicU64>(),
                Self::RESULTS,
            )
        }
    }
}

/// Private anonymous memory with transparent huge pages turned off (so the kernel maps it with
/// 4 KiB pages, as the paper's measurements assume) and every page written once (resident).
pub(crate) struct Region(Mapping);

impl Region {
    /// Maps `len_bytes` (rounded up to whole pages; at least one page) and writes every page.
    pub(crate) fn populated(len_bytes: usize) -> io::Result<Self> {
        let page = rustix::param::page_size();
        let len = len_bytes.max(1).div_ceil(page) * page;
        let mut region = Self(Mapping::new(len, MapFlags::PRIVATE)?);
        // SAFETY: the range is exactly our own mapping; the advice only changes page size.
        unsafe { rustix::mm::madvise(region.0.ptr.as_ptr(), len, Advice::LinuxNoHugepage) }?;
        for chunk in region.bytes_mut().chunks_mut(page) {
            chunk[0] = 1;
        }
        Ok(region)
    }

    /// Maps `len_bytes` of private memory for transparent huge pages (`MADV_HUGEPAGE`; the
    /// length rounded up to whole 2 MiB pages, which the kernel aligns) and writes every 4 KiB
    /// page. Whether the kernel really backed it with huge pages is for the caller to check
    /// ([`Region::start`] in `/proc/self/smaps`).
    pub(crate) fn populated_huge(len_bytes: usize) -> io::Result<Self> {
        const HUGE: usize = 2 << 20;
        let len = len_bytes.max(1).div_ceil(HUGE) * HUGE;
        let mut region = Self(Mapping::new(len, MapFlags::PRIVATE)?);
        // SAFETY: the range is exactly our own mapping; the advice only changes page size.
        unsafe { rustix::mm::madvise(region.0.ptr.as_ptr(), len, Advice::LinuxHugepage) }?;
        let page = rustix::param::page_size();
        for chunk in region.bytes_mut().chunks_mut(page) {
            chunk[0] = 1;
        }
        Ok(region)
    }

    /// The region's first address (to find it in `/proc/self/smaps`).
    pub(crate) fn start(&self) -> usize {
        self.0.ptr.as_ptr() as usize
    }

    /// Writes one byte in each of the first `pages` pages (a copy-on-write fault each in a
    /// forked copy).
    pub(crate) fn write_pages(&mut self, pages: usize) {
        write_pages(self.bytes_mut(), pages);
    }

    /// The whole region.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` readable+writable bytes owned by `self`, initialised (zero
        // pages or written), and the `&mut self` borrow makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.0.ptr.as_ptr().cast::<u8>(), self.0.len) }
    }
}

/// Writes one byte in each of the first `pages` pages of `bytes`.
pub(crate) fn write_pages(bytes: &mut [u8], pages: usize) {
    let page = rustix::param::page_size();
    for chunk in bytes.chunks_mut(page).take(pages) {
        chunk[0] = chunk[0].wrapping_add(1);
    }
    std::hint::black_box(bytes);
}

/// `lwc::create` with the default (copy-everything) spec or another one that unmaps nothing
/// the caller's Rust code still references.
pub(crate) fn lwc_create(spec: &lwc::Spec, opts: &lwc::Options) -> lwc::Result<lwc::Created> {
    // SAFETY: lwc::create is fork-like: it needs a single-threaded caller (it checks that itself
    // and fails with Error::MultiThreaded otherwise) and a spec that unmaps nothing in use; the
    // workloads only pass `Spec::new()`, which copies the whole address space.
    unsafe { lwc::create(spec, opts) }
}

/// `perf_event_open(attr, pid = 0 (the calling thread), cpu = -1 (any), group_fd, CLOEXEC)`:
/// a counter of the calling thread (and, with `attr.inherit`, of what it creates from now on),
/// in the group led by `group` (or a new group's leader).
pub(crate) fn perf_event_open(
    attr: &mut perf_event_open_sys::bindings::perf_event_attr,
    group: Option<std::os::fd::BorrowedFd<'_>>,
) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    attr.size = std::mem::size_of_val(attr) as u32;
    let group_fd = group.map_or(-1, |g| g.as_raw_fd());
    let flags = libc::c_ulong::from(perf_event_open_sys::bindings::PERF_FLAG_FD_CLOEXEC);
    // SAFETY: `attr` is a valid, initialised perf_event_attr whose `size` is set to its own size
    // above; pid 0 / cpu -1 name the calling thread; `group_fd` is -1 or a live descriptor
    // borrowed for the call.
    let fd = unsafe { perf_event_open_sys::perf_event_open(attr, 0, -1, group_fd, flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// What [`perf_group_ioctl`] does to a whole counter group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PerfGroupOp {
    /// `PERF_EVENT_IOC_RESET`.
    Reset,
    /// `PERF_EVENT_IOC_ENABLE`.
    Enable,
    /// `PERF_EVENT_IOC_DISABLE`.
    Disable,
}

/// Resets, enables or disables every counter of the group led by `leader`, atomically.
pub(crate) fn perf_group_ioctl(
    leader: std::os::fd::BorrowedFd<'_>,
    op: PerfGroupOp,
) -> io::Result<()> {
    use perf_event_open_sys::ioctls;
    use std::os::fd::AsRawFd;
    let fd = leader.as_raw_fd();
    let group = perf_event_open_sys::bindings::PERF_IOC_FLAG_GROUP;
    // SAFETY: `fd` is a live perf event descriptor (borrowed for the call); these ioctls take
    // only the flag word, no pointer.
    let rc = unsafe {
        match op {
            PerfGroupOp::Reset => ioctls::RESET(fd, group),
            PerfGroupOp::Enable => ioctls::ENABLE(fd, group),
            PerfGroupOp::Disable => ioctls::DISABLE(fd, group),
        }
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The id the kernel gave a perf event (`PERF_EVENT_IOC_ID`), as it appears in group reads.
pub(crate) fn perf_event_id(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<u64> {
    use std::os::fd::AsRawFd;
    let mut id = 0u64;
    // SAFETY: `fd` is a live perf event descriptor; the kernel writes one u64 to `&mut id`,
    // which lives across the call.
    let rc = unsafe { perf_event_open_sys::ioctls::ID(fd.as_raw_fd(), &mut id) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(id)
}

//! Memory mappings: the shared switchboard, owned page buffers, memfd-backed shared regions,
//! and the range operations a resource spec or an overlay applies.

use super::page::page_size;
pub(crate) use super::page::round_up;
use crate::types::Region;
use crate::{Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// Types that are valid when all their bytes are zero and that only use interior mutability
/// through atomics, so one zeroed MAP_SHARED instance can be used by several processes at once.
///
/// # Safety
/// Implementors must be valid at all-zero bytes, `Sync`, and contain no pointers (the mapping
/// is at the same address in every lwC, but pointers into private memory would not be).
pub(crate) unsafe trait SharedZeroed: Sync {}

/// Maps `len` bytes of fresh zeroed anonymous memory, MAP_SHARED or MAP_PRIVATE.
fn map_anonymous(len: usize, shared: bool, op: &'static str) -> Result<NonNull<u8>> {
    let kind = if shared {
        libc::MAP_SHARED
    } else {
        libc::MAP_PRIVATE
    };
    map_anonymous_with(len, kind, op)
}

/// Maps `len` bytes of fresh zeroed anonymous memory with `flags` (MAP_SHARED or MAP_PRIVATE,
/// and MAP_POPULATE if wanted).
fn map_anonymous_with(len: usize, kind: libc::c_int, op: &'static str) -> Result<NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping at an address the kernel picks; no existing memory is
    // affected.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            kind | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last_os(op));
    }
    NonNull::new(p.cast()).ok_or_else(|| Error::last_os(op))
}

/// Maps a zeroed `T` with MAP_SHARED | MAP_ANONYMOUS and leaks it: every process forked after
/// this call shares the same instance at the same address, for its whole life.
pub(crate) fn map_shared_static<T: SharedZeroed>() -> Result<&'static T> {
    let len = std::mem::size_of::<T>().max(1);
    let p = map_anonymous(len, true, "mmap shared switchboard")?.as_ptr();
    debug_assert!((p as usize).is_multiple_of(std::mem::align_of::<T>()));
    // SAFETY: the mapping is page-aligned (enough for T's alignment), `len` bytes long, zeroed
    // by the kernel, and T is valid at all-zero bytes (SharedZeroed). It is never unmapped, so
    // the 'static reference stays valid.
    Ok(unsafe { &*(p as *const T) })
}

/// Pages of MAP_SHARED memory owned by this value (unmapped on drop): anonymous, or from a
/// sealed memfd.
///
/// Anonymous shared pages are shared only by inheritance: a process forked while they are mapped shares
/// them, and no other process can ever map them (there is no file or descriptor to open). The
/// hand-off layer makes the pages of a pair of lwCs this way, so that exactly the two of them
/// hold them: the creator maps them before fork, and every other lwC forked later drops its copy
/// before any of its user code runs.
#[derive(Debug)]
pub(crate) struct SharedPages {
    ptr: NonNull<u8>,
    len: usize,
}

impl SharedPages {
    /// Maps `len` bytes (whole pages) of zeroed anonymous shared memory, populated (the pages
    /// are made now, in one call, rather than by a fault each later). There is no file or
    /// descriptor behind them: reachable only by inheritance.
    pub(crate) fn anonymous(len: usize) -> Result<Self> {
        let len = round_up(len.max(1));
        let ptr = map_anonymous_with(
            len,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            "mmap hand-off pages",
        )?;
        Ok(SharedPages { ptr, len })
    }

    /// Maps `len` bytes (whole pages) of zeroed shared memory from a fresh memfd called `name`
    /// (so /proc/PID/maps names them); the memfd stays open and is returned too: its holder can
    /// hand the pages to a process that did not inherit them ([`SharedPages::map`]), over a
    /// socket it alone holds.
    pub(crate) fn new_handable(name: &str, len: usize) -> Result<(Self, OwnedFd)> {
        let len = round_up(len.max(1));
        let (p, memfd) = map_new_memfd(name, len, false)?;
        let ptr = NonNull::new(p.cast()).ok_or_else(|| Error::last_os("mmap memfd"))?;
        Ok((SharedPages { ptr, len }, memfd))
    }

    /// Maps `len` bytes of `memfd` (pages made by [`SharedPages::new_handable`] elsewhere)
    /// shared, read-write.
    pub(crate) fn map(memfd: &OwnedFd, len: usize) -> Result<Self> {
        let len = round_up(len.max(1));
        // SAFETY: a fresh shared mapping of a memfd at an address the kernel picks; no
        // existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                memfd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::last_os("mmap handed pages"));
        }
        let ptr = NonNull::new(p.cast()).ok_or_else(|| Error::last_os("mmap handed pages"))?;
        Ok(SharedPages { ptr, len })
    }

    /// Splits the mapping at `at` bytes (a page boundary inside it): two owners, each unmapping
    /// its own part.
    pub(crate) fn split(self, at: usize) -> (SharedPages, SharedPages) {
        debug_assert!(at > 0 && at < self.len && at == round_up(at));
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: `at` lies inside the mapping, so both parts are inside it.
        let tail = unsafe { NonNull::new_unchecked(me.ptr.as_ptr().add(at)) };
        (
            SharedPages {
                ptr: me.ptr,
                len: at,
            },
            SharedPages {
                ptr: tail,
                len: me.len - at,
            },
        )
    }

    /// Maps `len` bytes (whole pages) of zeroed shared memory from a memfd sealed against new
    /// writable mappings once this one is made: a process that inherits the mapping and
    /// [`SharedPages::remap_read_only`]s it can never write it again. Returns the memfd too.
    pub(crate) fn new_sealed(name: &str, len: usize) -> Result<(Self, OwnedFd)> {
        let len = round_up(len.max(1));
        let (p, memfd) = map_new_memfd(name, len, true)?;
        let pages = SharedPages {
            ptr: NonNull::new(p.cast()).ok_or_else(|| Error::last_os("mmap memfd"))?,
            len,
        };
        let seals =
            libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our own memfd.
        if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(Error::last_os("seal hand-off pages"));
        }
        Ok((pages, memfd))
    }

    /// Replaces this process's view of pages made by [`SharedPages::new_sealed`] by a
    /// read-only mapping of their `memfd` at the same address.
    pub(crate) fn remap_read_only(&self, memfd: &OwnedFd) -> Result<()> {
        // SAFETY: maps the same object over itself at the same address: every reference to it
        // stays valid for reading; this process no longer writes it (a write would fault).
        let p = unsafe {
            libc::mmap(
                self.ptr.as_ptr().cast(),
                self.len,
                libc::PROT_READ,
                libc::MAP_SHARED | libc::MAP_FIXED,
                memfd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::last_os("mmap hand-off pages read-only"));
        }
        Ok(())
    }

    /// The pages as a `T` that lives at their start.
    pub(crate) fn get<T: SharedZeroed>(&self) -> &T {
        self.get_at(0)
    }

    /// The `T` that lives at page-aligned offset `at` of the pages.
    pub(crate) fn get_at<T: SharedZeroed>(&self, at: usize) -> &T {
        assert!(at == round_up(at) && at + std::mem::size_of::<T>() <= self.len);
        // SAFETY: `at` is a page boundary inside the mapping (page-aligned: enough for T's
        // alignment) with at least size_of::<T>() bytes after it, zero-initialized by the
        // kernel and written only through T's atomics, and T is valid at all-zero bytes
        // (SharedZeroed); it lives as long as the borrow of self.
        unsafe { &*(self.ptr.as_ptr().add(at) as *const T) }
    }
}

impl Drop for SharedPages {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we own; references to it borrow self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Creates a close-on-exec memfd of `len` bytes (sealable when `sealing`) and maps it shared,
/// read-write, at an address the kernel picks.
fn map_new_memfd(name: &str, len: usize, sealing: bool) -> Result<(*mut libc::c_void, OwnedFd)> {
    let flags = if sealing { libc::MFD_ALLOW_SEALING } else { 0 };
    let memfd = memfd_with(name, flags)?;
    // SAFETY: ftruncate on our own memfd.
    if unsafe { libc::ftruncate(memfd.as_raw_fd(), len as libc::off_t) } != 0 {
        return Err(Error::last_os("ftruncate memfd"));
    }
    // SAFETY: a fresh shared mapping of our own memfd at an address the kernel picks.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            memfd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last_os("mmap memfd"));
    }
    Ok((p, memfd))
}

/// Maps a zeroed `T` shared, backed by a sealed memfd, and leaks it (like
/// [`map_shared_static`]). The memfd is sealed with F_SEAL_FUTURE_WRITE after the mapping is
/// made: the mappings that exist now (and their copies in forked children) stay writable, but
/// no process can ever map it writable again, so an lwC that [`remap_read_only`]s its view can
/// never get write access back (not through mprotect, /proc/PID/map_files or the fd).
pub(crate) fn map_sealed_static<T: SharedZeroed>(name: &str) -> Result<(&'static T, OwnedFd)> {
    let len = std::mem::size_of::<T>().max(1);
    let (p, memfd) = map_new_memfd(name, len, true)?;
    let seals =
        libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: fcntl on our own memfd.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return Err(Error::last_os("seal switchboard"));
    }
    // SAFETY: as in `map_shared_static`: page-aligned, `len` bytes, zeroed (a fresh memfd reads
    // as zeros), T valid at all-zero bytes, never unmapped while the process lives (remapping
    // read-only keeps it mapped).
    Ok((unsafe { &*(p as *const T) }, memfd))
}

/// Replaces this process's view of the sealed shared object `T` by a read-only mapping of
/// `memfd` at the same address (see [`map_sealed_static`]).
pub(crate) fn remap_read_only<T>(object: &'static T, memfd: &OwnedFd) -> Result<()> {
    let len = std::mem::size_of::<T>().max(1);
    // SAFETY: maps the same object over itself at the same address: every reference to it
    // stays valid for reading; the caller no longer writes it (a write would fault).
    let p = unsafe {
        libc::mmap(
            object as *const T as *mut libc::c_void,
            len,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_FIXED,
            memfd.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last_os("mmap switchboard read-only"));
    }
    Ok(())
}

/// Private anonymous pages owned by this value: a buffer on pages of its own, which a
/// resource spec can unmap from a child ([`Pages::region`]) without touching anything else.
///
/// ```
/// let mut secret = lwc::Pages::new(4096).unwrap();
/// secret.as_mut_slice()[..6].copy_from_slice(b"s3cret");
/// assert_eq!(secret.region().len, 4096);
/// ```
#[derive(Debug)]
pub struct Pages {
    ptr: NonNull<u8>,
    len: usize,
}

impl Pages {
    /// Maps `len` bytes (rounded up to whole pages) of zeroed private memory.
    pub fn new(len: usize) -> Result<Self> {
        let len = round_up(len.max(1));
        let ptr = map_anonymous(len, false, "mmap pages")?;
        Ok(Pages { ptr, len })
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: we own `len` mapped, readable bytes at `ptr` until drop.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: we own `len` mapped, writable bytes at `ptr`, borrowed mutably through self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The address range of these pages, for a resource spec.
    pub fn region(&self) -> Region {
        Region {
            addr: self.ptr.as_ptr() as usize,
            len: self.len,
        }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping we own; no reference to it outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A memfd-backed MAP_SHARED mapping: the backing object of a [`crate::SharedRegion`].
///
/// The memfd is the right to the shared memory: an lwC that holds it can map the region's live
/// pages. A new lwC that does not share the region closes it ([`SharedMapping::close_fd`])
/// while the mapping value lives on in its copy of the creator's memory (the program's
/// `SharedRegion` handles), so the descriptor is kept behind a lock that a close empties:
/// nothing closes the same number twice.
#[derive(Debug)]
pub(crate) struct SharedMapping {
    pub(crate) addr: usize,
    pub(crate) len: usize,
    memfd: std::sync::Mutex<Option<OwnedFd>>,
}

impl SharedMapping {
    /// Creates a memfd of `len` bytes (whole pages) and maps it shared.
    pub(crate) fn new(len: usize) -> Result<Self> {
        let len = round_up(len.max(1));
        let (p, memfd) = map_new_memfd("lwc-shared", len, false)?;
        Ok(SharedMapping::mapped(p as usize, len, memfd))
    }

    /// Records `memfd`, already mapped shared at `[addr, addr+len)`.
    pub(crate) fn mapped(addr: usize, len: usize, memfd: OwnedFd) -> Self {
        SharedMapping {
            addr,
            len,
            memfd: std::sync::Mutex::new(Some(memfd)),
        }
    }

    /// The address range of the mapping.
    pub(crate) fn region(&self) -> Region {
        Region {
            addr: self.addr,
            len: self.len,
        }
    }

    fn fd(&self) -> std::sync::MutexGuard<'_, Option<OwnedFd>> {
        // A panic while holding the lock left the Option intact: use it.
        self.memfd.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The memfd's number, while this lwC holds it.
    pub(crate) fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        self.fd().as_ref().map(|f| f.as_raw_fd())
    }

    /// Runs `f` with the memfd, while this lwC holds it.
    pub(crate) fn with_fd<R>(&self, f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> R) -> Option<R> {
        use std::os::fd::AsFd;
        self.fd().as_ref().map(|m| f(m.as_fd()))
    }

    /// Closes the memfd in this lwC (which keeps a private copy of the pages, or none): the
    /// mapping's other handles then hold no descriptor.
    pub(crate) fn close_fd(&self) {
        drop(self.fd().take());
    }
}

/// One page of MAP_SHARED anonymous memory holding a futex word, for two processes forked
/// after it was made (unmapped on drop).
pub(crate) struct SharedWord {
    ptr: NonNull<u8>,
}

impl SharedWord {
    /// A zeroed word.
    pub(crate) fn new() -> Result<Self> {
        Ok(SharedWord {
            ptr: map_anonymous(page_size(), true, "mmap shared word")?,
        })
    }

    /// The word.
    pub(crate) fn word(&self) -> &std::sync::atomic::AtomicU32 {
        // SAFETY: the page is mapped, zeroed and page-aligned until drop; an AtomicU32 is valid
        // at all-zero bytes, and other processes touch it only through atomics.
        unsafe { &*(self.ptr.as_ptr() as *const std::sync::atomic::AtomicU32) }
    }
}

impl Drop for SharedWord {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the page we own; no reference to it outlives self.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), page_size()) };
    }
}

/// Creates a close-on-exec memfd.
pub(crate) fn memfd(name: &str) -> Result<OwnedFd> {
    memfd_with(name, 0)
}

/// Creates a close-on-exec memfd with extra `MFD_*` flags.
fn memfd_with(name: &str, flags: libc::c_uint) -> Result<OwnedFd> {
    let cname = std::ffi::CString::new(name).map_err(|_| Error::Invalid {
        op: "memfd_create",
        reason: "name contains NUL".into(),
    })?;
    // SAFETY: a valid C string; the returned descriptor is owned below.
    let fd = unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC | flags) };
    if fd < 0 {
        return Err(Error::last_os("memfd_create"));
    }
    // SAFETY: fd is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Unmaps `[addr, addr + len)` from this process.
///
/// The runtime calls this only for ranges named in a resource spec (in the new child, before
/// any user code runs there) under the contract of [`create`](fn@crate::create), whose caller promised
/// that nothing the child goes on to use lives there.
pub(crate) fn unmap_range(addr: usize, len: usize) -> Result<()> {
    // SAFETY: see the function contract: the range belongs to the caller of `create`, who gave
    // it up for the child; munmap of unmapped pages is harmless.
    if unsafe { libc::munmap(addr as *mut libc::c_void, len) } != 0 {
        return Err(Error::last_os("munmap"));
    }
    Ok(())
}

/// Maps `len` bytes of `fd` at exactly `addr`, replacing what is there: MAP_SHARED when
/// `shared`, else a private copy-on-write view.
///
/// Used by `overlay` (the caller named the range and holds the overlay right, and the contract
/// of overlay says the range is replaced) and to privatize shared regions in a new child.
pub(crate) fn map_fd_fixed(
    addr: usize,
    len: usize,
    fd: &OwnedFd,
    offset: u64,
    shared: bool,
) -> Result<()> {
    let flags = libc::MAP_FIXED
        | if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
    // SAFETY: the caller named `[addr, addr+len)` to be replaced (see the function contract);
    // `fd` is a live descriptor.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd.as_raw_fd(),
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last_os("mmap overlay"));
    }
    Ok(())
}

/// Replaces the shared mapping at `[addr, addr+len)` by a private anonymous copy of its
/// current content (a COPY spec entry over a shared region, in a new child).
pub(crate) fn privatize(addr: usize, len: usize) -> Result<()> {
    let tmp = map_anonymous(len, false, "mmap private copy")?.as_ptr();
    // SAFETY: both ranges are mapped and `len` bytes long; they do not overlap (tmp is fresh).
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, tmp, len) };
    // SAFETY: mremap moves our fresh copy over the shared range (which the spec says becomes
    // private), atomically replacing it.
    let p = unsafe {
        libc::mremap(
            tmp.cast(),
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            addr as *mut libc::c_void,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last_os("mremap private copy"));
    }
    Ok(())
}

/// Copies `buf.len()` bytes from `addr` (inside a live shared mapping, bounds checked by the
/// caller) into `buf`.
pub(crate) fn copy_from(addr: usize, buf: &mut [u8]) {
    // SAFETY: the caller checked that [addr, addr+len) lies inside a mapping it keeps alive; the
    // memory is shared, so a plain byte copy (no reference to it is formed) is the right access.
    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
}

/// Copies `data` to `addr` (inside a live shared mapping, bounds checked by the caller).
pub(crate) fn copy_to(addr: usize, data: &[u8]) {
    // SAFETY: as in `copy_from`, for writing.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
}

/// `lseek(fd, from, SEEK_DATA)` then `SEEK_HOLE`: the next run of `[from, end)` of a sparse
/// file that holds data, or None when the rest is a hole.
pub(crate) fn next_data(
    fd: std::os::fd::BorrowedFd<'_>,
    from: usize,
    end: usize,
) -> Option<(usize, usize)> {
    if from >= end {
        return None;
    }
    // SAFETY: lseek has no memory effects.
    let d = unsafe {
        libc::lseek(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            from as libc::off_t,
            libc::SEEK_DATA,
        )
    };
    if d < 0 || d as usize >= end {
        return None; // ENXIO: only a hole follows
    }
    // SAFETY: as above.
    let h = unsafe { libc::lseek(std::os::fd::AsRawFd::as_raw_fd(&fd), d, libc::SEEK_HOLE) };
    let h = if h < 0 { end } else { (h as usize).min(end) };
    Some((d as usize, h))
}

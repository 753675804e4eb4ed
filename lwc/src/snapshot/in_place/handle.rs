//! The snapshot handle: `take` (build the arena, register and protect the tracked ranges, copy
//! what is populated), the entry of `rollback`, and `release`.
//!
//! ```text
//!   take                                   rollback (on the restore stack, signals blocked)
//!   ────                                   ────────
//!   maps → tracked ranges                  checks (threads, layout, registration, pins)
//!   memfd "pristine" sized to them           → refuse, or repair the layout (repair.rs)
//!   large anonymous ranges: sync uffd      async ranges: PAGEMAP_SCAN(WRITTEN) per span
//!     + handler task (sys::wp_log)           → memcpy pristine → page, re-protect
//!   UFFDIO_REGISTER(WP) per range          logged ranges: sort the write log, per run
//!   save CPU context ─┐                      → memcpy, UFFDIO_WRITEPROTECT (no scan)
//!                     └► on restore stack: resume the saved context: `take` returns again
//!                        copy swapped pages, UFFDIO_WRITEPROTECT,
//!                        copy present pages
//! ```
//!
//! # Safety
//! The engine reads and writes the process's own memory by address: it copies only ranges that
//! `/proc/self/maps` lists as private writable mappings (checked again before every rollback),
//! and it rewrites them only from the restore stack, after which it never returns to the
//! rewritten frames but resumes the context saved at `take` (see `sys::context`). That is the
//! contract of the `unsafe fn` [`SnapshotRef::take`]: the process is single-threaded, the
//! caller accepts that `take` returns a second time with all tracked memory as it was, and
//! kernel objects (fds, other processes, shared memory) are not rolled back.
#![allow(unsafe_code)]

use super::body::{
    current_brk, Arena, Body, Failure, Header, Pristine, LOG_MIN_BYTES, LOG_MIN_ENV, MAGIC, PINNED,
    RESTORED, TAKE_FAILED, TAKE_OK,
};
use super::layout;
use super::layout::Range;
use super::rollback::rollback_on_stack;
use crate::sys::procfs::{open_maps, open_status, pinned_kib};
use crate::sys::uffd::{
    open_pagemap, register_wp, scan_all, unregister, write_protect, ScanQuery, Uffd, PAGE,
    PAGE_IS_PRESENT, PAGE_IS_SWAPPED,
};
use crate::sys::wp_log::{self, HANDLER_STACK_LEN};
use crate::sys::{context, process};
use crate::{Error, Result};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::ptr::NonNull;

/// A handle to an in-place snapshot: a pointer to its arena header. Copy; the arena is shared
/// by all copies and outlives rollbacks (it is not tracked). After `release` the header page
/// stays mapped (one page) so a stale copy gets an error instead of a dangling access.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SnapshotRef {
    header: NonNull<Header>,
}

/// The write log's handler task while `take` builds the snapshot; stopped on drop unless handed
/// to the body.
pub(super) struct Handler(libc::pid_t);

impl Drop for Handler {
    fn drop(&mut self) {
        wp_log::stop(self.0);
    }
}

/// Opens the write log's userfaultfd and starts its handler task on the body's log, or `None`
/// when either is not possible here (unprivileged, clone refused): then every range is tracked
/// by async write-protect and PAGEMAP_SCAN, as without the log.
pub(super) fn start_log(b: &mut Body) -> Option<(Uffd, Handler)> {
    let lu = Uffd::open_wp_sync()?;
    b.log
        .uffd
        .store(lu.fd().as_raw_fd(), std::sync::atomic::Ordering::Release);
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
pub(super) fn log_min_bytes() -> usize {
    match std::env::var(LOG_MIN_ENV) {
        Err(_) => LOG_MIN_BYTES,
        Ok(s) => s.trim().parse().unwrap_or(usize::MAX),
    }
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
                if !layout::is_tracked(v) {
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
                .any(|r| layout::is_logged(&r.vma, log_min))
            {
                log = start_log(b);
            }
            for r in b.ranges.iter_mut().take(n) {
                let log_fd = log
                    .as_ref()
                    .filter(|_| layout::is_logged(&r.vma, log_min))
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
                    Err(_) if layout::may_copy_whole(&r.vma) => {}
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
            b.uffd = uffd.into_fd().into_raw_fd();
            b.pagemap = pagemap.into_raw_fd();
            b.maps = maps.into_raw_fd();
            b.task = task.into_raw_fd();
            b.status = status.into_raw_fd();
            b.pristine_fd = pristine.fd.as_raw_fd();
            if let Some((lu, handler)) = log.take() {
                b.log_uffd = lu.into_fd().into_raw_fd();
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
pub(super) extern "C" fn take_on_stack(arg: *mut core::ffi::c_void) -> u64 {
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

pub(super) fn take_copy(b: &mut Body) -> std::result::Result<(), Failure> {
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
pub(super) fn copy_populated(b: &mut Body, category: u64) -> std::result::Result<(), Failure> {
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

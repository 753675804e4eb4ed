//! Rollback on the restore stack: every check that can refuse (threads, the write log's events,
//! the layout and whether its memory is still registered, pinned memory) before the first change
//! to memory; then the repairs, the restores and the resume.
//!
//! # Safety
//! Runs on the arena's restore stack with signals blocked; rewrites tracked memory only after
//! every check passed, and then never returns to the rewritten frames (it resumes the context
//! saved at take).
#![allow(unsafe_code)]

use super::body::{current_brk, Body, Failure, PINNED, RESTORED};
use super::layout;
use super::registered::{async_spans_registered, check_registration};
use super::repair::fix_layout;
use super::restore::{restore_file_again, restore_logged, restore_written};
use crate::sys::procfs::pinned_kib;
use crate::sys::{context, process};
use std::os::fd::BorrowedFd;

/// Runs on the restore stack: restores and resumes `take`, or records why it could not start
/// and returns.
pub(super) extern "C" fn rollback_on_stack(arg: *mut core::ffi::c_void) -> u64 {
    // SAFETY: `rollback` passes the live body and holds no borrow of it during this call.
    let b = unsafe { &mut *arg.cast::<Body>() };
    let Err(f) = rollback_inner(b);
    b.failure = f;
    1
}

/// Rollback proper. Every check that can refuse comes before the first change to memory; once
/// memory is being rewritten, a failure cannot be returned to the caller (its stack may already
/// be half restored) and aborts the process with a message.
pub(super) fn rollback_inner(
    b: &mut Body,
) -> std::result::Result<std::convert::Infallible, Failure> {
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

/// Refuses while memory is pinned, when a mapping through which it can be (an io_uring's
/// rings) is in the layout: then one read of /proc/self/status (~20 µs) per rollback.
pub(super) fn check_pins(b: &mut Body) -> std::result::Result<(), Failure> {
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
pub(super) fn check_layout(b: &mut Body) -> std::result::Result<bool, Failure> {
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
        && layout::layout_unchanged(b.expected(), b.current())
        && async_spans_registered(b)?
    {
        // The same layout in other words (a grown stack): next time, these bytes are known.
        b.remember_text();
        return Ok(false);
    }
    check_registration(b)?;
    let ok = b.current_ok.get(..b.n_current).unwrap_or(&[]);
    layout::check_repairable(b.expected(), b.current(), b.ranges(), ok).map_err(Failure::Layout)?;
    Ok(true)
}

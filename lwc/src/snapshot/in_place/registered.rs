//! Whether the tracked memory is still the registered memory of this snapshot: a mapping
//! replaced by one of the same shape, or moved away and back, has the same /proc/self/maps line
//! but is no longer registered (async ranges: asked of the kernel; logged ranges: what the write
//! log's events say).
//!
//! # Safety
//! Borrows the body's fds only.
#![allow(unsafe_code)]

use super::body::{Body, Failure};
use super::layout;
use crate::sys::uffd::{scan_once, STILL_REGISTERED};
use crate::sys::wp_log;
use std::os::fd::BorrowedFd;

/// Whether every span of adjacent async-tracked ranges is still registered memory: one
/// PAGEMAP_SCAN per span that walks no page table ([`STILL_REGISTERED`]).
pub(super) fn async_spans_registered(b: &Body) -> std::result::Result<bool, Failure> {
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
pub(super) fn check_registration(b: &mut Body) -> std::result::Result<(), Failure> {
    // SAFETY: open for the body's lifetime.
    let pagemap = unsafe { BorrowedFd::borrow_raw(b.pagemap) };
    let (n_events, events_lost) = if b.log_pid != 0 {
        b.log.events()
    } else {
        (0, false)
    };
    for i in 0..b.n_current {
        let Some(&v) = b.current.get(i) else { break };
        let r = layout::range_holding(b.ranges(), &v);
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

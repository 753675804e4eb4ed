//! Restoring written pages: async ranges from PAGEMAP_SCAN (scan, copy back, then re-protect:
//! the other order would mark the restored pages written), logged ranges from the write log,
//! file-backed pages that read as the file again, and the move of heavily written logged ranges
//! to async tracking.
//!
//! # Safety
//! Copies the pristine copy back only into pages of tracked ranges (the scan walked only them;
//! the log lists only pages of logged ranges); called by rollback after its checks.
#![allow(unsafe_code)]

use super::body::{
    copy_back, die, reread_or_die, Body, LOG_BREAK_EVEN_BYTES, LOG_HEAVY_MIN_PAGES,
    LOG_HEAVY_ROUNDS, REPROTECT_ONE_BY_ONE,
};
use super::layout::Range;
use crate::sys::uffd::{
    register_wp, scan_all, unregister, write_protect, ScanQuery, FILE_AGAIN, PAGE,
    PM_SCAN_CHECK_WPASYNC, PM_SCAN_WP_MATCHING, WRITTEN,
};
use std::os::fd::BorrowedFd;

/// Async-tracked file-backed ranges: pages that are the file's again (MADV_DONTNEED on `.data`
/// or a MAP_PRIVATE file page: write-protect keeps calling them "not written") are copied back
/// from the pristine copy. The copy makes them written, so [`restore_written`] protects them
/// again (and counts them).
pub(super) fn restore_file_again(b: &mut Body) {
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
pub(super) fn restore_written(b: &mut Body) -> usize {
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
pub(super) fn restore_logged(b: &mut Body, slow: bool) -> usize {
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
pub(super) fn logged_range(ranges: &[Range], addr: usize) -> Option<(usize, Range)> {
    let i = ranges
        .partition_point(|r| r.vma.start <= addr)
        .checked_sub(1)?;
    let r = *ranges.get(i)?;
    (r.logged && addr < r.vma.end).then_some((i, r))
}

/// Moves logged ranges written heavily at several rollbacks in a row to async tracking (see
/// [`LOG_BREAK_EVEN_BYTES`]); one-way, so a range does not flap. Runs after the range was
/// restored, so protecting all of it again is exact.
pub(super) fn adapt_logging(b: &mut Body) {
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
pub(super) fn rescan_logged(b: &mut Body) -> usize {
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

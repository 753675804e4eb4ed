//! Putting the layout back: the program break, mappings made or replaced since the snapshot,
//! pieces re-protected, tracked anonymous memory unmapped (re-created from what was populated
//! at take), and pages the write log saw dropped. Only what differs is touched.
//!
//! # Safety
//! Unmaps only private mappings that layout policy found new or replaced, maps only holes inside
//! tracked ranges (MAP_FIXED_NOREPLACE), and copies only into memory it just mapped or that a
//! tracked range holds; called by rollback after its checks.
#![allow(unsafe_code)]

use super::body::{current_brk, die, die_failure, reread_or_die, Body};
use super::layout;
use super::layout::Range;
use super::registered::check_registration;
use crate::sys::errno;
use crate::sys::uffd::{register_wp, write_protect};
use crate::sys::wp_log;

/// Puts the layout back: the break, then unmaps what is new or replaced and puts back the
/// protection of pieces re-protected, then re-creates the missing parts of anonymous ranges
/// from the pristine copy (only what was populated at take) and tracks them again, then repairs
/// the pages the write log saw dropped. Returns the pages it copied.
///
/// `current` holds the layout `check_layout` just parsed; /proc/self/maps is read again only
/// after a step that changed the layout.
pub(super) fn fix_layout(b: &mut Body) -> usize {
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
        match layout::piece_action(&v, ok, b.expected(), b.ranges()) {
            layout::Piece::Keep => {}
            layout::Piece::Reprotect(prot) => {
                // SAFETY: a piece of a tracked range whose protection the program changed;
                // its pages are its own (still registered), only the protection goes back.
                if unsafe { libc::mprotect(v.start as *mut _, v.len(), prot as libc::c_int) } != 0 {
                    die("mprotect (put back a tracked range's protection)", errno());
                }
                changed = true;
            }
            layout::Piece::Unmap => {
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

/// Maps `[start, end)` of anonymous range `r` again, fills it with what was populated of it at
/// take, and registers and protects it. Returns the pages copied.
pub(super) fn recreate(b: &Body, r: &Range, start: usize, end: usize) -> usize {
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
pub(super) fn repair_dropped_logged(b: &mut Body) -> usize {
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

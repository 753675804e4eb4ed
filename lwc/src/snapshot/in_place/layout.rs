//! Layout policy: which mappings are tracked and how, and what rollback does with a layout that
//! changed. Pure functions over maps listings; they must not allocate or panic (rollback runs
//! them while the heap is about to be rewritten).

use crate::sys::procfs::{Vma, KIND_ANON, KIND_SPECIAL, KIND_STACK};
use crate::sys::uffd::PAGE;

/// Largest unregistrable mapping that is copied back whole at each rollback.
const COPY_WHOLE_MAX: usize = 1 << 20;

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

/// Whether a mapping is tracked: private, writable, not kernel-provided.
pub(crate) fn is_tracked(v: &Vma) -> bool {
    v.writable() && !v.shared && v.kind != KIND_SPECIAL
}

/// Whether a tracked mapping goes to the write log (synchronous write-protect, pages recorded as
/// they are first written) rather than async write-protect plus a scan at rollback: private
/// anonymous mmaps of at least `min_bytes`. The heap and the stack stay async: they are small
/// and written often, where a logged first write (~8 µs) costs more than their scan.
pub(crate) fn is_logged(v: &Vma, min_bytes: usize) -> bool {
    is_tracked(v) && v.kind == KIND_ANON && v.len() >= min_bytes
}

/// Whether a mapping userfaultfd will not register may be copied back whole at each rollback.
pub(crate) fn may_copy_whole(v: &Vma) -> bool {
    v.len() <= COPY_WHOLE_MAX
}

/// Whether current mapping `v` is expected mapping `e`. The stack may have grown down: what lies
/// below its extent at take is below the stack pointer that rollback resumes, hence dead.
fn same(e: &Vma, v: &Vma) -> bool {
    if e.kind == KIND_STACK && v.kind == KIND_STACK {
        return v.end == e.end && v.start <= e.start && v.prot == e.prot && v.shared == e.shared;
    }
    e == v
}

/// Whether the layout is the one expected (after the last take or rollback).
pub(crate) fn layout_unchanged(expected: &[Vma], current: &[Vma]) -> bool {
    expected.len() == current.len() && expected.iter().zip(current).all(|(e, v)| same(e, v))
}

/// The mapping of `layout` (sorted by address, so by end too) that ends at `end`.
fn ending_at(layout: &[Vma], end: usize) -> Option<&Vma> {
    let i = layout.binary_search_by_key(&end, |v| v.end).ok()?;
    layout.get(i)
}

/// Whether `v` is one of `layout`.
pub(crate) fn kept(v: &Vma, layout: &[Vma]) -> bool {
    ending_at(layout, v.end).is_some_and(|e| same(e, v))
}

/// Whether `e` (expected) is still in `current`.
fn still_there(e: &Vma, current: &[Vma]) -> bool {
    ending_at(current, e.end).is_some_and(|v| same(e, v))
}

/// The tracked range that holds all of `v`, if any.
pub(crate) fn range_holding<'a>(ranges: &'a [Range], v: &Vma) -> Option<&'a Range> {
    let i = ranges
        .partition_point(|r| r.vma.start <= v.start)
        .checked_sub(1)?;
    ranges.get(i).filter(|r| v.end <= r.vma.end)
}

/// Whether `v` is a piece of the mapping `e` was (the same object at the same offset), whatever
/// its protection now.
fn piece_of(v: &Vma, e: &Vma) -> bool {
    let offset = if e.anonymous() {
        true
    } else {
        v.offset == e.offset + ((v.start - e.start) / PAGE) as u64 * PAGE as u64
    };
    v.shared == e.shared
        && v.anonymous() == e.anonymous()
        && v.inode == e.inode
        && v.dev == e.dev
        && offset
}

/// What rollback does with a mapping of the current layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Left as it is: unchanged, or not ours to change (shared, kernel-provided).
    Keep,
    /// A piece of a tracked range, still its memory, with another protection: put it back.
    Reprotect(u8),
    /// New or replaced since the snapshot: unmapped (tracked anonymous memory under it is
    /// re-created from the pristine copy).
    Unmap,
}

/// Decides [`Piece`] for `v`; `ok` says whether it is still registered memory of this snapshot
/// (see the engine's registration check). Only what differs is touched, so a one-page change
/// inside a large mapping costs about one page.
pub(crate) fn piece_action(v: &Vma, ok: bool, expected: &[Vma], ranges: &[Range]) -> Piece {
    if v.shared || v.kind == KIND_SPECIAL {
        return Piece::Keep;
    }
    if ok && kept(v, expected) {
        return Piece::Keep;
    }
    match range_holding(ranges, v) {
        Some(r) if ok && piece_of(v, &r.vma) => {
            if v.prot == r.vma.prot {
                Piece::Keep
            } else {
                Piece::Reprotect(r.vma.prot)
            }
        }
        _ => Piece::Unmap,
    }
}

/// Whether every byte of `e` is covered by pieces of it that are still registered.
fn pieces_cover(e: &Vma, current: &[Vma], ok: &[bool]) -> bool {
    let mut at = e.start;
    for (v, &ok) in current.iter().zip(ok) {
        if v.end <= at || v.start >= e.end {
            continue;
        }
        if v.start > at || !ok || !piece_of(v, e) {
            return false;
        }
        at = v.end;
    }
    at >= e.end
}

/// Decides whether a changed layout can be put back by rollback; the reason when it cannot.
/// `ok[i]` says whether `current[i]` is still registered memory of this snapshot.
pub(crate) fn check_repairable(
    expected: &[Vma],
    current: &[Vma],
    ranges: &[Range],
    ok: &[bool],
) -> std::result::Result<(), &'static str> {
    for e in expected {
        if still_there(e, current) || e.shared {
            continue;
        }
        if e.kind == KIND_STACK {
            return Err("the stack mapping changed since the snapshot (other than growing)");
        }
        if is_tracked(e) && e.anonymous() {
            continue; // re-created from the pristine copy
        }
        if is_tracked(e) && pieces_cover(e, current, ok) {
            continue; // only re-protected
        }
        if is_tracked(e) {
            return Err(
                "a file-backed writable mapping present at the snapshot was unmapped or \
                        changed; it cannot be re-created",
            );
        }
        return Err(
            "a read-only or executable mapping present at the snapshot was unmapped or \
                    changed (e.g. a library was unloaded); it cannot be re-created",
        );
    }
    for (i, v) in current.iter().enumerate() {
        let registered = ok.get(i).copied().unwrap_or(true);
        if !registered && range_holding(ranges, v).is_some_and(|r| !r.vma.anonymous()) {
            return Err(
                "a file-backed writable mapping was replaced at the same address (or moved \
                        away and back) and lost its write tracking; it cannot be re-created",
            );
        }
        if kept(v, expected) {
            continue;
        }
        if v.shared && ranges.iter().any(|r| v.overlaps(r.vma.start, r.vma.end)) {
            return Err("a shared mapping now covers memory the snapshot tracks");
        }
        if v.kind == KIND_SPECIAL {
            return Err("a kernel-provided mapping ([vdso], [vvar]) changed since the snapshot");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::procfs::{KIND_FILE, KIND_HEAP};

    fn vma(start: usize, end: usize, prot: u8, kind: u8) -> Vma {
        Vma {
            start,
            end,
            prot,
            kind,
            inode: if kind == KIND_FILE { 7 } else { 0 },
            ..Vma::default()
        }
    }
    const RW: u8 = 3;
    const RX: u8 = 5;

    #[test]
    fn only_large_anonymous_mmaps_are_logged() {
        let big = 256 << 20;
        assert!(is_logged(&vma(0, big, RW, KIND_ANON), 128 << 20));
        assert!(!is_logged(&vma(0, 1 << 20, RW, KIND_ANON), 128 << 20));
        assert!(!is_logged(&vma(0, big, RW, KIND_HEAP), 128 << 20));
        assert!(!is_logged(&vma(0, big, RW, KIND_STACK), 128 << 20));
        assert!(!is_logged(&vma(0, big, RW, KIND_FILE), 128 << 20));
        assert!(!is_logged(&vma(0, big, RX, KIND_ANON), 0));
    }

    #[test]
    fn stack_growth_is_the_same_layout() {
        let e = [
            vma(0x1000, 0x3000, RW, KIND_HEAP),
            vma(0x9000, 0xa000, RW, KIND_STACK),
        ];
        let c = [
            vma(0x1000, 0x3000, RW, KIND_HEAP),
            vma(0x8000, 0xa000, RW, KIND_STACK),
        ];
        assert!(layout_unchanged(&e, &c));
    }

    #[test]
    fn new_private_mapping_is_repairable_but_lost_code_is_not() {
        let e = [
            vma(0x1000, 0x3000, RX, KIND_FILE),
            vma(0x9000, 0xa000, RW, KIND_STACK),
        ];
        let c = [
            vma(0x1000, 0x3000, RX, KIND_FILE),
            vma(0x5000, 0x6000, RW, KIND_ANON),
            vma(0x9000, 0xa000, RW, KIND_STACK),
        ];
        assert!(!layout_unchanged(&e, &c));
        assert!(check_repairable(&e, &c, &[], &[true; 3]).is_ok());
        let gone = [vma(0x9000, 0xa000, RW, KIND_STACK)];
        assert!(check_repairable(&e, &gone, &[], &[true]).is_err());
    }
}

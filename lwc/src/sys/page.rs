//! The page size, and rounding to whole pages.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The page size, once asked (0 before): a new lwC reads it from its copy of this static
/// instead of calling into libc, whose code pages fork does not map in the child (each would
/// cost it a page fault on the create path).
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

/// The size of a page on this machine.
pub fn page_size() -> usize {
    let known = PAGE_SIZE.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let n = if n > 0 { n as usize } else { 4096 };
    PAGE_SIZE.store(n, Ordering::Relaxed);
    n
}

/// Rounds `n` up to whole pages.
pub(crate) fn round_up(n: usize) -> usize {
    let p = page_size();
    n.div_ceil(p) * p
}

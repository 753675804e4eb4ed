//! The page size, and rounding to whole pages.

/// The size of a page on this machine.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// Rounds `n` up to whole pages.
pub(crate) fn round_up(n: usize) -> usize {
    let p = page_size();
    n.div_ceil(p) * p
}

//! Futex wait and wake on words in memory shared between processes.
//!
//! The words live in the group's MAP_SHARED switchboard, so the futexes are *shared* ones (no
//! `FUTEX_PRIVATE_FLAG`): the kernel keys them by the backing page, which every lwC maps.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `*word == expected`, at most `timeout`. Returns on a wake, on a value mismatch,
/// on a signal or at the timeout (then true); the caller re-checks the word.
///
/// # References
/// futex(2), FUTEX_WAIT.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `word` is a live, aligned 32-bit atomic; the timespec outlives the call. FUTEX_WAIT
    // only reads the word.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    r != 0 && super::errno() == libc::ETIMEDOUT
}

/// Wakes up to `n` waiters sleeping on `word`.
///
/// # References
/// futex(2), FUTEX_WAKE.
pub(crate) fn wake(word: &AtomicU32, n: u32) {
    // SAFETY: `word` is a live, aligned 32-bit atomic; FUTEX_WAKE does not access memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

//! Futex wait and wake on words in memory shared between processes.
//!
//! The words live in MAP_SHARED pages (an lwC's inbox, the supervisor's notice board), so the
//! futexes are *shared* ones (no `FUTEX_PRIVATE_FLAG`): the kernel keys them by the backing
//! page, whichever process maps it.

use std::sync::atomic::AtomicU32;

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

/// `struct futex_waitv` of futex_waitv(2).
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// A 32-bit, shared (not process-private) futex for futex_waitv.
const FUTEX2_SIZE_U32: u32 = 0x02;

/// Sleeps while `*a == a_val` and `*b == b_val`: returns when either word is woken or
/// differs, or on a signal; the caller re-checks both.
///
/// # References
/// futex_waitv(2) (Linux 5.16).
pub(crate) fn wait_either(a: &AtomicU32, a_val: u32, b: &AtomicU32, b_val: u32) {
    let waiters = [(a, a_val), (b, b_val)].map(|(w, v)| FutexWaitv {
        val: v as u64,
        uaddr: w.as_ptr() as u64,
        flags: FUTEX2_SIZE_U32,
        reserved: 0,
    });
    // SAFETY: both words are live, aligned 32-bit atomics; the array outlives the call, which
    // only reads them; no timeout.
    unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            waiters.as_ptr(),
            waiters.len() as u32,
            0u32,
            std::ptr::null::<libc::timespec>(),
            libc::CLOCK_MONOTONIC,
        );
    }
}

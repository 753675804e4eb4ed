//! Futex wait and wake on words in memory shared between processes.
//!
//! The words live in MAP_SHARED pages (an lwC's inbox, the supervisor's notice board), so the
//! futexes are *shared* ones (no `FUTEX_PRIVATE_FLAG`): the kernel keys them by the backing
//! page, whichever process maps it.

use std::sync::atomic::{AtomicIsize, AtomicU32, AtomicUsize, Ordering};
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
        syscall5(
            libc::SYS_futex,
            word.as_ptr() as usize,
            libc::FUTEX_WAKE as usize,
            n as usize,
            0,
            0,
        );
    }
}

/// A system call with up to five arguments, returning the kernel's raw result (a negative
/// errno on failure). On x86_64 the `syscall` instruction is issued right here, not through
/// libc: the hand-off's calls then run from the runtime's own code pages, which a new lwC has
/// mapped already, rather than from a libc page that fork left unmapped in it (a page fault
/// per create).
///
/// # Safety
/// As for the system call `nr` with these arguments.
#[inline]
unsafe fn syscall5(nr: libc::c_long, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
    #[cfg(target_arch = "x86_64")]
    {
        let r: isize;
        // SAFETY: the Linux x86_64 system call convention: number in rax, arguments in rdi,
        // rsi, rdx, r10, r8; the kernel clobbers rcx and r11 and returns in rax. What the call
        // does with memory is the caller's contract.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => r,
                in("rdi") a,
                in("rsi") b,
                in("rdx") c,
                in("r10") d,
                in("r8") e,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        r
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: as above.
        let r = unsafe { libc::syscall(nr, a, b, c, d, e) };
        if r == -1 {
            -(super::errno() as isize)
        } else {
            r as isize
        }
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

/// Sleeps while `*a == a_val` and `*b == b_val`, with no time bound: returns when either word
/// is woken or differs, or on a signal; the caller re-checks both.
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
    // only reads it.
    unsafe {
        syscall5(
            libc::SYS_futex_waitv,
            waiters.as_ptr() as usize,
            waiters.len(),
            0,
            0,
            libc::CLOCK_MONOTONIC as usize,
        );
    }
}

/// `FUTEX_WAITERS` of a robust futex word: the kernel wakes a waiter when the owner dies.
pub(crate) const ROBUST_WAITERS: u32 = 0x8000_0000;
/// The owner's thread id in a robust futex word (zero once the kernel saw the owner die).
pub(crate) const ROBUST_TID_MASK: u32 = 0x3fff_ffff;

/// `struct robust_list_head` of set_robust_list(2): a one-entry list, `list` → [`ROBUST_ENTRY`]
/// → back to `list`; the word is at `entry + futex_offset`.
#[repr(C)]
struct RobustListHead {
    list: AtomicUsize,
    futex_offset: AtomicIsize,
    list_op_pending: AtomicUsize,
}

/// The list's one entry (`struct robust_list`: a `next` pointer).
#[repr(C)]
struct RobustEntry {
    next: AtomicUsize,
}

static ROBUST_HEAD: RobustListHead = RobustListHead {
    list: AtomicUsize::new(0),
    futex_offset: AtomicIsize::new(0),
    list_op_pending: AtomicUsize::new(0),
};
static ROBUST_ENTRY: RobustEntry = RobustEntry {
    next: AtomicUsize::new(0),
};

/// Makes `word` die with the calling thread: writes our thread id (with `FUTEX_WAITERS`) into
/// it and puts it on our robust futex list, so that however this thread ends (SIGKILL too)
/// the kernel clears the id, sets `FUTEX_OWNER_DIED` and wakes one waiter on the word. The
/// bits the kernel does not look at (`FUTEX_OWNER_DIED` while we live) stay ours to use.
///
/// This replaces the thread's robust list (glibc's, which only robust pthread mutexes use):
/// call it only in a process of the runtime's own that uses none (the supervisor).
///
/// # References
/// set_robust_list(2); the kernel's Documentation/locking/robust-futexes.rst.
pub(crate) fn own_robustly(word: &'static AtomicU32) -> crate::Result<()> {
    // SAFETY: gettid has no memory effects.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as u32;
    word.store((tid & ROBUST_TID_MASK) | ROBUST_WAITERS, Ordering::SeqCst);
    let entry = &ROBUST_ENTRY as *const RobustEntry as usize;
    let head = &ROBUST_HEAD as *const RobustListHead as usize;
    ROBUST_ENTRY.next.store(head, Ordering::Relaxed);
    ROBUST_HEAD
        .futex_offset
        .store(word.as_ptr() as isize - entry as isize, Ordering::Relaxed);
    ROBUST_HEAD.list.store(entry, Ordering::Relaxed);
    // SAFETY: the head and its entry are statics (they live as long as the thread), laid out
    // as the kernel's structs; the kernel reads them only when this thread exits.
    let r = unsafe {
        libc::syscall(
            libc::SYS_set_robust_list,
            head as *const RobustListHead,
            std::mem::size_of::<RobustListHead>(),
        )
    };
    if r != 0 {
        return Err(crate::Error::last_os("set_robust_list"));
    }
    Ok(())
}

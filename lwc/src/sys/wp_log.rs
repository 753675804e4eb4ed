//! The write log of in-place snapshots: a fault-handler task that resolves userfaultfd
//! write-protect faults in *synchronous* mode and records each faulting page.
//!
//! ```text
//!   process (one thread)                     handler task (clone(CLONE_VM), same memory)
//!   ────────────────────                     ───────────────────────────────────────────
//!   write to a protected page ─ fault ─┐     read(uffd) → UFFD_EVENT_PAGEFAULT(addr)
//!     (or the kernel writes there:     │     log[len] = addr; len += 1 (release)
//!      read(2), a signal frame, rseq)  │     UFFDIO_WRITEPROTECT(addr, 1 page, mode 0)
//!   ◄── woken, the write completes ────┘       → un-protects and wakes the writer
//!   rollback: restore exactly log[..len], re-protect them, len = 0   (no page-table walk)
//!
//!   madvise(DONTNEED/FREE), munmap, MAP_FIXED over, mremap of a logged range
//!     ─ event (the caller waits until it is read) ─► events[..] = (kind, start, end)
//! ```
//!
//! The events are why the log stays exact when pages are dropped or mappings replaced without a
//! write fault (MADV_DONTNEED leaves an anonymous page zero and unprotected; a mapping replaced
//! by one of the same shape has the same line in /proc/self/maps): rollback reads them and
//! repairs exactly those ranges. The caller of the system call is released when the task
//! *reads* the event, before the task records it, so the task raises `busy` before each read
//! (having polled, so the read does not block) and drops it after recording; rollback waits
//! for `busy` to fall before it looks at the log.
//!
//! Why a task and not a SIGBUS handler (`UFFD_FEATURE_SIGBUS`): measured on Linux 6.18, with
//! SIGBUS mode a write *by the kernel* into a protected page (read(2) into a buffer, a signal
//! frame on the stack, the rseq area glibc registers) fails with EFAULT instead of being tracked,
//! which breaks ordinary programs; a synchronous fault waits for a handler instead, so the
//! kernel's writes are logged like the program's. It also leaves the program's own SIGBUS
//! handling and signal mask alone. Cost: a first write to a logged page takes ~8 µs (two task
//! switches) against ~1 µs under async write-protect, so only large mappings are logged.
//!
//! The task shares the address space (`CLONE_VM`) but not the thread group, so the process
//! stays single-threaded for `/proc/self/task` and for every rule of the snapshot. It runs on a
//! stack in the snapshot's untracked arena and touches nothing else: it makes raw system calls
//! (no libc wrapper, whose `errno` lives in tracked TLS, so a failure would fault on a
//! protected page that only it can resolve), blocks every signal, closes every inherited fd but
//! the userfaultfd, and dies with its parent (`PR_SET_PDEATHSIG`). Its exit signal is 0, so
//! only `waitpid(__WCLONE)` sees it and the program's `wait()` calls never do.
//!
//! # Safety
//! The log is written by the task only while the process is blocked in a fault on a logged
//! page, and read by the process only during a rollback, which writes no protected page of a
//! logged range; the length is published with release/acquire ordering.
//!
//! # References
//! userfaultfd(2) ("Write-protect mode"), ioctl_userfaultfd(2), clone(2), prctl(2).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// Pages the log holds between two rollbacks; more set `overflow` and rollback falls back to a
/// PAGEMAP_SCAN of the logged ranges.
pub(crate) const LOG_CAP: usize = 8192;
/// The handler task's stack (in the arena).
pub(crate) const HANDLER_STACK_LEN: usize = 64 * 1024;

/// How long `start` waits for the task to serve (it normally takes microseconds).
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(1);
/// `UFFD_EVENT_PAGEFAULT`.
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
/// `sizeof(struct uffd_msg)`.
const UFFD_MSG_LEN: usize = 32;
/// Messages read per read(2).
const MSGS_PER_READ: usize = 16;
/// `UFFD_EVENT_REMAP`: a registered mapping was moved by mremap (`arg.remap`: from, to, len).
const UFFD_EVENT_REMAP: u8 = 0x14;
/// `UFFD_EVENT_REMOVE`: madvise(DONTNEED/FREE/REMOVE) dropped pages (`arg.remove`: start, end).
const UFFD_EVENT_REMOVE: u8 = 0x15;
/// `UFFD_EVENT_UNMAP`: munmap, or a mapping made over it (`arg.remove`: start, end).
const UFFD_EVENT_UNMAP: u8 = 0x16;
/// Events the log holds between two rollbacks; more set `events_overflow`.
pub(crate) const EVENT_CAP: usize = 64;

/// What happened to a logged range without a write fault.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// One of the `EVENT_*` kinds.
    pub(crate) kind: u8,
    /// First byte.
    pub(crate) start: usize,
    /// One past the last byte.
    pub(crate) end: usize,
}

/// [`Event::kind`]: pages of `[start, end)` were dropped (they read zero, unprotected).
pub(crate) const EVENT_REMOVED: u8 = 1;
/// [`Event::kind`]: `[start, end)` was unmapped (whatever is there now is another mapping).
pub(crate) const EVENT_UNMAPPED: u8 = 2;
/// [`Event::kind`]: a mapping was moved from `[start, end)`; pages logged may be elsewhere.
pub(crate) const EVENT_MOVED: u8 = 3;

/// The log, in the snapshot's untracked arena. Valid at all-zero bytes.
#[repr(C)]
pub(crate) struct WriteLog {
    /// The userfaultfd the task reads (set before the task starts).
    pub(crate) uffd: AtomicI32,
    /// Set by the task once it has closed the fds it inherited and is about to read.
    ready: AtomicBool,
    /// More pages were written than `pages` holds; the tail was not recorded.
    overflow: AtomicBool,
    /// Entries of `pages` in use.
    len: AtomicUsize,
    /// Page addresses, in fault order.
    pages: [AtomicUsize; LOG_CAP],
    /// Set by the task before each read(2) of a message it has polled, cleared once it has
    /// recorded what it read.
    busy: AtomicBool,
    /// Entries of `events` in use.
    events_len: AtomicUsize,
    /// More events than `events` holds arrived; the tail was not recorded.
    events_overflow: AtomicBool,
    /// Events since the last [`WriteLog::clear`], in order (kind, start, end; 0 when unused).
    events: [[AtomicUsize; 3]; EVENT_CAP],
}

impl WriteLog {
    /// The pages recorded since the last [`WriteLog::clear`], and whether some were not.
    pub(crate) fn recorded(&self) -> (usize, bool) {
        let n = self.len.load(Ordering::Acquire).min(LOG_CAP);
        (n, self.overflow.load(Ordering::Acquire))
    }

    /// Entry `i` (0 when out of range).
    pub(crate) fn page(&self, i: usize) -> usize {
        self.pages.get(i).map_or(0, |p| p.load(Ordering::Relaxed))
    }

    /// Sorts the first `n` entries in place (allocation-free) so runs can be merged.
    pub(crate) fn sort(&mut self, n: usize) {
        let Some(s) = self.pages.get_mut(..n) else {
            return;
        };
        // sort_unstable sorts in place: no allocation (rollback may run with the heap half
        // restored).
        // SAFETY: AtomicUsize has the same layout as usize, the slice is exclusively borrowed
        // (the task writes only while the process is blocked in a fault, not during rollback).
        let plain = unsafe { &mut *(s as *mut [AtomicUsize] as *mut [usize]) };
        plain.sort_unstable();
    }

    /// Empties the log (after a rollback restored and re-protected what it listed).
    pub(crate) fn clear(&self) {
        self.overflow.store(false, Ordering::Release);
        self.len.store(0, Ordering::Release);
        self.events_overflow.store(false, Ordering::Release);
        self.events_len.store(0, Ordering::Release);
    }

    /// Waits until the task has recorded every message it has read (bounded: it records in
    /// microseconds; if it does not within a second, false). After this, every event that a
    /// system call of this process raised before the call has been recorded.
    pub(crate) fn settle(&self) -> bool {
        if !self.busy.load(Ordering::Acquire) {
            return true;
        }
        let since = std::time::Instant::now();
        while self.busy.load(Ordering::Acquire) {
            if since.elapsed() > READY_WITHIN {
                return false;
            }
            // The task may share our CPU: let it run.
            std::thread::yield_now();
        }
        true
    }

    /// The events recorded since the last clear, and whether some were not.
    pub(crate) fn events(&self) -> (usize, bool) {
        let n = self.events_len.load(Ordering::Acquire).min(EVENT_CAP);
        (n, self.events_overflow.load(Ordering::Acquire))
    }

    /// Event `i` (kind 0 when out of range).
    pub(crate) fn event(&self, i: usize) -> Event {
        self.events.get(i).map_or(Event::default(), |e| Event {
            kind: e[0].load(Ordering::Relaxed) as u8,
            start: e[1].load(Ordering::Relaxed),
            end: e[2].load(Ordering::Relaxed),
        })
    }
}

/// One raw system call, without libc's `errno` (which lives in tracked TLS): returns the
/// kernel's value, a negative errno on failure.
///
/// # Safety
/// As the system call `nr` with these arguments.
#[cfg(target_arch = "x86_64")]
unsafe fn raw(nr: libc::c_long, a: [usize; 4]) -> isize {
    let ret: isize;
    // SAFETY: the `syscall` instruction clobbers rcx and r11 only; the caller vouches for the
    // call itself.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// Other architectures: in-place rollback is refused before the task is ever started.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn raw(_nr: libc::c_long, _a: [usize; 4]) -> isize {
    -(libc::ENOSYS as isize)
}

/// The task's body: never returns.
extern "C" fn handler_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `start` passes a live WriteLog in the arena, which outlives this task (release
    // kills the task before unmapping the arena).
    let log = unsafe { &*arg.cast::<WriteLog>() };
    let uffd = log.uffd.load(Ordering::Acquire);
    // SAFETY: each call changes only this task's own state (signal mask, parent-death signal,
    // fd table — not shared: no CLONE_FILES) and reads a live local.
    unsafe {
        let all: u64 = !0;
        raw(
            libc::SYS_rt_sigprocmask,
            [libc::SIG_BLOCK as usize, &all as *const u64 as usize, 0, 8],
        );
        raw(
            libc::SYS_prctl,
            [
                libc::PR_SET_PDEATHSIG as usize,
                libc::SIGKILL as usize,
                0,
                0,
            ],
        );
        if uffd > 0 {
            raw(libc::SYS_close_range, [0, uffd as usize - 1, 0, 0]);
        }
        raw(
            libc::SYS_close_range,
            [uffd as usize + 1, u32::MAX as usize, 0, 0],
        );
    }
    log.ready.store(true, Ordering::Release);
    let mut buf = [0u8; UFFD_MSG_LEN * MSGS_PER_READ];
    loop {
        // Wait for a message without reading it: its sender stays blocked until the read.
        let mut pfd = libc::pollfd {
            fd: uffd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll reads and writes one pollfd, a live local.
        let r = unsafe {
            raw(
                libc::SYS_poll,
                [&mut pfd as *mut _ as usize, 1, usize::MAX, 0],
            )
        };
        if r == -(libc::EINTR as isize) {
            continue;
        }
        if r < 0 || pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            exit();
        }
        log.busy.store(true, Ordering::SeqCst);
        // SAFETY: read(2) writes at most buf.len() bytes into the live local `buf`.
        let n = unsafe {
            raw(
                libc::SYS_read,
                [uffd as usize, buf.as_mut_ptr() as usize, buf.len(), 0],
            )
        };
        if n == -(libc::EINTR as isize) || n == -(libc::EAGAIN as isize) {
            log.busy.store(false, Ordering::Release);
            continue;
        }
        if n <= 0 {
            // The userfaultfd is gone or broken: nothing left to serve.
            exit();
        }
        for msg in buf
            .chunks_exact(UFFD_MSG_LEN)
            .take(n as usize / UFFD_MSG_LEN)
        {
            let word = |at: usize| {
                let mut w = [0u8; 8];
                if let Some(a) = msg.get(at..at + 8) {
                    w.copy_from_slice(a);
                }
                u64::from_ne_bytes(w) as usize
            };
            match msg.first().copied() {
                Some(UFFD_EVENT_PAGEFAULT) => {
                    let page = word(16) & !(super::uffd::PAGE - 1);
                    record(log, page);
                    resolve(uffd, page);
                }
                Some(UFFD_EVENT_REMOVE) => record_event(log, EVENT_REMOVED, word(8), word(16)),
                Some(UFFD_EVENT_UNMAP) => record_event(log, EVENT_UNMAPPED, word(8), word(16)),
                Some(UFFD_EVENT_REMAP) => {
                    record_event(log, EVENT_MOVED, word(8), word(8).wrapping_add(word(24)))
                }
                _ => {}
            }
        }
        log.busy.store(false, Ordering::Release);
    }
}

/// Ends the task (its userfaultfd is gone or broken: nothing left to serve).
fn exit() -> ! {
    loop {
        // SAFETY: exit ends this task only.
        unsafe { raw(libc::SYS_exit, [0, 0, 0, 0]) };
    }
}

/// Appends an event, or marks the events overflowed.
fn record_event(log: &WriteLog, kind: u8, start: usize, end: usize) {
    let n = log.events_len.load(Ordering::Relaxed);
    match log.events.get(n) {
        Some(e) => {
            e[0].store(kind as usize, Ordering::Relaxed);
            e[1].store(start, Ordering::Relaxed);
            e[2].store(end, Ordering::Relaxed);
            log.events_len.store(n.wrapping_add(1), Ordering::Release);
        }
        None => log.events_overflow.store(true, Ordering::Release),
    }
}

/// Appends `page` to the log, or marks it overflowed.
fn record(log: &WriteLog, page: usize) {
    let n = log.len.load(Ordering::Relaxed);
    match log.pages.get(n) {
        Some(slot) => {
            slot.store(page, Ordering::Relaxed);
            log.len.store(n.wrapping_add(1), Ordering::Release);
        }
        None => log.overflow.store(true, Ordering::Release),
    }
}

/// Un-protects `page`, which wakes the writer; if that fails (the range was unregistered
/// meanwhile), wakes it anyway so it retries and sees the page as it now is.
fn resolve(uffd: i32, page: usize) {
    let wp = [page as u64, super::uffd::PAGE as u64, 0u64];
    // SAFETY: UFFDIO_WRITEPROTECT reads one uffdio_writeprotect (range, mode 0), a live local.
    let r = unsafe {
        raw(
            libc::SYS_ioctl,
            [
                uffd as usize,
                super::uffd::UFFDIO_WRITEPROTECT as usize,
                wp.as_ptr() as usize,
                0,
            ],
        )
    };
    if r < 0 {
        let range = [page as u64, super::uffd::PAGE as u64];
        // SAFETY: UFFDIO_WAKE reads one uffdio_range, a live local.
        unsafe {
            raw(
                libc::SYS_ioctl,
                [
                    uffd as usize,
                    super::uffd::UFFDIO_WAKE as usize,
                    range.as_ptr() as usize,
                    0,
                ],
            )
        };
    }
}

/// Starts the handler task for `log` (whose `uffd` is set) on the stack ending at `stack_top`,
/// and waits until it is serving. Returns its pid, or why it could not: the errno of clone(2),
/// `ECHILD` if the task died, `ETIMEDOUT` if it was not serving within [`READY_WITHIN`] (it is
/// killed then), `EPERM` under a seccomp filter (a SYSTRAP sandbox would trap the task's
/// system calls to a monitor that is not listening for it: the task would hang, and with it every
/// write to logged memory).
///
/// # Safety
/// `log` and the stack must stay mapped until [`stop`] has returned for this pid, and nothing
/// else may use the stack.
pub(crate) unsafe fn start(log: *mut WriteLog, stack_top: *mut u8) -> Result<libc::pid_t, i32> {
    // SAFETY: PR_GET_SECCOMP only reads our own seccomp mode.
    if unsafe { libc::prctl(libc::PR_GET_SECCOMP) } != 0 {
        return Err(libc::EPERM);
    }
    // SAFETY: the task shares our memory and runs only `handler_main`, which touches `log` and
    // its own stack (caller's contract). Exit signal 0: no SIGCHLD, invisible to wait().
    let pid = unsafe {
        libc::clone(
            handler_main,
            stack_top.cast(),
            libc::CLONE_VM | libc::CLONE_UNTRACED,
            log.cast(),
        )
    };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO));
    }
    // SAFETY: `log` is live (caller's contract); only atomics are read.
    let ready = unsafe { &(*log).ready };
    let since = std::time::Instant::now();
    while !ready.load(Ordering::Acquire) {
        if since.elapsed() > READY_WITHIN {
            stop(pid);
            return Err(libc::ETIMEDOUT);
        }
        let mut status = 0;
        // SAFETY: waits (without blocking) only for our own task.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG | libc::__WCLONE) };
        if r == pid {
            return Err(libc::ECHILD);
        }
        // The task may share our CPU (the group is pinned): let it run.
        std::thread::yield_now();
    }
    Ok(pid)
}

/// Kills and reaps the handler task `pid`.
pub(crate) fn stop(pid: libc::pid_t) {
    if pid <= 0 {
        return;
    }
    // SAFETY: signals and reaps our own task; no memory effects.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        let mut status = 0;
        libc::waitpid(pid, &mut status, libc::__WCLONE);
    }
}

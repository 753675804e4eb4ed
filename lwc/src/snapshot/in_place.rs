//! In-place rollback: a snapshot of the calling process itself, restored by rewriting only the
//! pages written since it was taken.
//!
//! `take` copies the tracked memory into a pristine memfd once and write-protects it with
//! userfaultfd. `rollback` finds the pages written since, copies those back, protects them
//! again, and resumes at `take`, which returns a second time (like `setjmp`) with every tracked
//! byte as it was. Its cost follows the pages written (plus one read of /proc/self/maps), not a
//! fork of the whole address space.
//!
//! # Two ways of finding written pages, chosen per mapping at `take`
//! - **Write log** (large private anonymous mmaps, 128 MiB and more): registered in
//!   *synchronous* write-protect mode; the first write to a page (by the program or by the
//!   kernel, e.g. read(2) into it) waits while a handler task (`sys::wp_log`, a `CLONE_VM`
//!   child, not a thread) appends the page to a log in the snapshot's arena and un-protects it.
//!   Rollback restores exactly the logged pages and re-protects them, one ioctl per run: no
//!   page-table walk. A log overflow (more than 8192 pages between two rollbacks) or a repaired
//!   layout falls back to a scan of the logged ranges.
//! - **Async write-protect + PAGEMAP_SCAN** (everything else: stack, heap, statics, smaller
//!   mmaps): writes are not stopped, only recorded in the page tables; rollback asks
//!   PAGEMAP_SCAN which pages were written, which walks every page-table entry of the range
//!   (~0.27 ms per GiB of 4 KiB pages), so it stays for the small mappings.
//!
//! The trade-off, measured (examples/in_place_cost.rs): with 1 GiB mapped and 16 pages written,
//! rollback takes ~0.1 ms with the log against ~0.5 ms with the scan, but a logged first write
//! costs ~8–25 µs (two task switches) against ~1.5 µs, so the time is moved to the writes rather
//! than saved when many pages are written per round. Hence a logged range that had more than 64
//! pages, and more than one per 28 MiB, logged at 3 rollbacks in a row is moved to async
//! tracking for good (a one-off re-protect of the range, ~20 ms per GiB).
//!
//! The log needs a full-mode userfaultfd: from the system call with `CAP_SYS_PTRACE` (or
//! vm.unprivileged_userfaultfd=1), else from `/dev/userfaultfd` where its file mode allows (root
//! in an lwC, which lacks the capability). With `UFFD_USER_MODE_ONLY`, and with
//! `UFFD_FEATURE_SIGBUS` (the signal-handler alternative), a write by the kernel into a protected
//! page fails with EFAULT instead of being tracked (measured on 6.18), which ordinary programs do
//! not survive. Where the log is unavailable, the handler task cannot be started, or the process
//! runs under a seccomp filter (a SYSTRAP sandbox would trap the task's calls), every mapping
//! uses async tracking, as before. `LWC_IN_PLACE_LOG_MIN_BYTES` (a byte count, or `off`)
//! overrides the 128 MiB threshold, read at each `take`.
//!
//! # What is tracked
//! Every private writable mapping: the stack, the brk heap, `.data`/`.bss` of the executable and
//! its libraries, anonymous mmaps. Not tracked: MAP_SHARED mappings (the switchboard and shared
//! regions are shared by design), read-only and executable mappings (never written),
//! `[vvar]`/`[vdso]`/`[vsyscall]`, and the snapshot's own arena (state, restore stack) and
//! pristine copy. A mapping userfaultfd refuses to register (none seen on Linux 6.18: async
//! write-protect accepts any memory type) is copied back whole at every rollback if it is at
//! most 1 MiB; a larger one makes `take` fail.
//!
//! # Layout changes between take and rollback
//! Checked at every rollback against the layout recorded after the last take or rollback, and
//! by identity, not only by address: a mapping replaced by one of the same shape (MAP_FIXED
//! over it, munmap then mmap at the same address, glibc's free + malloc of a same-size block,
//! mremap away and back) has the same /proc/self/maps line but is no longer registered
//! memory of this snapshot. For async-tracked memory one PAGEMAP_SCAN per span asks the kernel
//! whether every mapping in it is still registered (`PM_SCAN_CHECK_WPASYNC`, with a query that
//! walks no page table); for logged memory the handler task reports every munmap, mremap and
//! madvise that drops pages (userfaultfd events). Then:
//! - the program break moved: it is put back (brk);
//! - new private mappings (malloc's large blocks, a moved `mremap`, anything mmapped): unmapped;
//! - a piece of tracked memory re-protected: its protection is put back (its pages are intact
//!   and still tracked);
//! - anonymous tracked memory unmapped, replaced or moved: what is there now is unmapped, the
//!   hole mapped again, refilled with the pages that were populated at take and tracked again —
//!   only the piece that changed, so a one-page change costs about one page;
//! - pages of logged memory dropped (MADV_DONTNEED, MADV_FREE): refilled from the pristine copy;
//! - pages of `.data` or of a MAP_PRIVATE file mapping dropped (they read as the file again,
//!   and write-protect still calls them unwritten): found by PAGEMAP_SCAN (`PAGE_IS_FILE`: take
//!   turns every page of such a mapping into a private copy first) and refilled;
//! - the stack grown below its extent at take: left alone (it lies below the resumed stack
//!   pointer, so it is dead);
//! - anything else (a file-backed writable mapping unmapped or replaced, a library's code, a
//!   shared mapping over tracked memory, the stack changed otherwise) cannot be repaired:
//!   rollback returns [`crate::Error::Unsupported`] before it changes anything.
//!
//! # Pinned memory
//! Pages pinned for I/O (io_uring registered buffers) are written by the kernel through the
//! pin, without a page fault: write-protect cannot see those writes, whichever way it tracks.
//! So `take` refuses while the process has pinned memory (`VmPin` in /proc/self/status), and
//! rollback refuses while a mapping that can pin (an io_uring's rings) is in the layout and
//! memory is pinned (one read of /proc/self/status then, ~20 µs), both with
//! [`crate::Error::Unsupported`] before anything changes. Pinning after take counts as a write
//! (the kernel faults the page in for writing), so buffers registered and unregistered between
//! two rollbacks are restored exactly. Not detected: pins without such a mapping (an io_uring
//! set up with `IORING_SETUP_NO_MMAP`, RDMA), and asynchronous I/O into tracked memory still in
//! flight at rollback; use [`crate::Strategy::Fork`] there.
//!
//! New MAP_SHARED mappings are left mapped (other processes may share them) and leak.
//!
//! # Not rolled back
//! File descriptors, and all kernel state (processes, sockets, file offsets, timers, the signal
//! disposition), the contents of shared mappings. The signal mask is put back as it was at take.
//! glibc's rseq area lies in tracked memory; after a rollback its cpu_id may be stale until the
//! kernel next refreshes it (sched_getcpu may lag once).
//!
//! # The write log's handler task
//! It lives from `take` to `release` and dies with the process (`PR_SET_PDEATHSIG`). Killed on
//! its own (it blocks every other signal), it would leave the next write to a logged page
//! waiting forever. After an `execve` without `release` it keeps the old address space alive
//! until the process exits. It is invisible to `wait()` (exit signal 0) and to the thread
//! count.
//!
//! # References
//! Litton et al., OSDI '16, §3 (snapshot and rollback); DESIGN.md §2 ("in-place rollback");
//! MACHINE.md ("Tracking and restoring written pages").

mod body;
mod handle;
mod layout;
mod registered;
mod repair;
mod restore;
mod rollback;

use crate::sys::{process, uffd};
use crate::{Error, Result};
use handle::SnapshotRef;

/// A handle to an in-place snapshot of the calling process (cheap, Copy; state lives in a
/// mapping that is excluded from tracking and survives rollbacks).
///
/// `release` invalidates every copy: later calls through a copy return an error (the handle's
/// header page stays mapped for that reason).
#[derive(Clone, Copy, Debug)]
pub(crate) struct InPlace {
    /// The engine's handle.
    snap: SnapshotRef,
}

/// Ok(()) when this kernel supports the strategy; else
/// `Err(Error::Unavailable { what: "in-place rollback", reason })`.
///
/// Checks on a scratch page that userfaultfd opens (falling back to `UFFD_USER_MODE_ONLY`
/// when unprivileged), that it offers `WP_ASYNC | WP_UNPOPULATED`, and that `PAGEMAP_SCAN`
/// reports a page written under async write-protect (Linux 6.7+). x86_64 only.
pub(crate) fn probe() -> Result<()> {
    if cfg!(target_arch = "x86_64") {
        uffd::probe()
    } else {
        Err(Error::Unavailable {
            what: "in-place rollback",
            reason: "implemented for x86_64 only (the CPU context switch is assembly)".into(),
        })
    }
}

impl InPlace {
    /// Takes a snapshot of the calling process: returns `(handle, false)` now, and
    /// `(handle, true)` each time a [`InPlace::rollback`] brings execution back here.
    ///
    /// Cost: one copy of the populated tracked memory into a memfd, one write-protect of it.
    ///
    /// Only one in-place snapshot can exist in a process at a time (userfaultfd allows one
    /// tracker per mapping): a second `take` before `release` fails with `Unsupported`.
    ///
    /// # Safety
    /// Returns twice, like `setjmp` or `fork`. At the second return every tracked byte (stack,
    /// heap, statics, private anonymous mappings) is exactly as it was at the first, and the
    /// callee-saved registers too, so the compiler's view of the caller's frame holds. The
    /// caller must ensure:
    /// - the process is single-threaded, at take and at every rollback (checked: `MultiThreaded`);
    /// - kernel objects are not rolled back: a file descriptor, child process, shared mapping or
    ///   other resource that exists at `take` and is closed, freed or handed off before a
    ///   rollback will be referred to again by the restored memory (double close, use of a stale
    ///   fd number). Resources created after `take` are forgotten by the restored memory (they
    ///   leak, unless they are private mappings, which rollback unmaps);
    /// - nothing outside this process relies on pointers into memory made after `take`;
    /// - `take` and `rollback` are not called from a signal handler.
    ///
    /// A rollback called from a fork child of the taker is refused (`Invalid`).
    #[allow(unsafe_code)] // Declaring a function that returns twice needs `unsafe fn`.
    pub(crate) unsafe fn take() -> Result<(InPlace, bool)> {
        probe_arch()?;
        let threads = process::thread_count();
        if threads > 1 {
            return Err(Error::MultiThreaded {
                op: "in-place snapshot",
                threads,
            });
        }
        // SAFETY: single-threaded (checked above); the rest of the contract is ours to pass on
        // to our caller, as stated in this function's `# Safety`.
        let (snap, restored) = unsafe { SnapshotRef::take() }?;
        Ok((InPlace { snap }, restored))
    }

    /// Restores the snapshot and resumes at `take`, which returns `Restored`. Returns only on
    /// failure, and then nothing was changed: the process is multi-threaded (`MultiThreaded`),
    /// the layout changed beyond repair (`Unsupported`), the snapshot was released or belongs to
    /// the parent of a fork (`Invalid`), or a system call failed before any memory was touched
    /// (`Os`). A failure after memory began to be rewritten cannot be reported to a caller whose
    /// stack is half restored: it aborts the process with a message on stderr.
    pub(crate) fn rollback(&self) -> Error {
        self.snap.rollback()
    }

    /// Pages rewritten by the last rollback (for benchmarks/tests): written pages restored,
    /// plus whole ranges copied back (re-created or unregistrable ones).
    pub(crate) fn last_restored_pages(&self) -> usize {
        self.snap.last_restored_pages()
    }

    /// Releases tracking and the pristine copy. Every copy of the handle becomes invalid.
    pub(crate) fn release(self) -> Result<()> {
        self.snap.release()
    }
}

fn probe_arch() -> Result<()> {
    if cfg!(target_arch = "x86_64") {
        Ok(())
    } else {
        probe()
    }
}

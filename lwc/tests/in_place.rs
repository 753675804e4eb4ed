//! In-place rollback tests (snapshot restored by rewriting only the written pages).
//!
//! Each test runs in its own forked child (support::in_child). A rollback brings the child back
//! into `Snapshot::take`, so every test keeps its progress in a MAP_SHARED page ([`Shared`]),
//! which is never rolled back.
//!
//! Mutation testing (cargo-mutants on the layout check and the write log's adaptation) leaves
//! three survivors in `adapt_logging`, all in the heuristic that decides when a heavily written
//! logged range is cheaper to scan: `round_pages > LOG_HEAVY_MIN_PAGES` as `>=`, the
//! break-even rate's `>` as `>=` (both differ only at the exact threshold) and their `&&` as
//! `||` (more rounds count as heavy). Each changes only which tracking a range gets, so only
//! the cost of a rollback; what is restored is the same, and the tests check that it is.
#![allow(unsafe_code)]
mod support;

#[path = "in_place/exact.rs"]
mod exact;

use lwc::{Error, Snapshot, Strategy, Taken};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

fn main() {
    let mut tests: Vec<(&str, fn())> = vec![
        ("probe_matches_take", probe_matches_take),
        (
            "restores_heap_stack_static_and_mmap",
            restores_heap_stack_static_and_mmap,
        ),
        (
            "hundred_rollbacks_stay_correct",
            hundred_rollbacks_stay_correct,
        ),
        ("counts_only_written_pages", counts_only_written_pages),
        (
            "allocations_after_take_are_undone",
            allocations_after_take_are_undone,
        ),
        (
            "heap_trimmed_after_take_is_restored",
            heap_trimmed_after_take_is_restored,
        ),
        (
            "break_moved_within_a_page_is_restored",
            break_moved_within_a_page_is_restored,
        ),
        (
            "unmapped_and_reprotected_memory_is_recreated",
            unmapped_and_reprotected_memory_is_recreated,
        ),
        (
            "lost_file_mapping_is_refused_unchanged",
            lost_file_mapping_is_refused_unchanged,
        ),
        ("multi_threaded_is_refused", multi_threaded_is_refused),
        (
            "a_thread_just_joined_does_not_count",
            thread_just_joined_does_not_count,
        ),
        (
            "second_take_and_stale_handles_are_refused",
            second_take_and_stale_handles_are_refused,
        ),
        (
            "fork_child_cannot_use_parent_snapshot",
            fork_child_cannot_use_parent_snapshot,
        ),
        (
            "unprivileged_works_or_is_unavailable",
            unprivileged_works_or_is_unavailable,
        ),
        (
            "log_restores_user_and_kernel_writes",
            log_restores_user_and_kernel_writes,
        ),
        (
            "log_overflow_falls_back_to_a_scan",
            log_overflow_falls_back_to_a_scan,
        ),
        ("log_hundred_rollbacks", log_hundred_rollbacks),
        (
            "foreign_sigbus_kills_as_before",
            foreign_sigbus_kills_as_before,
        ),
        (
            "fork_child_writes_logged_memory",
            fork_child_writes_logged_memory,
        ),
        (
            "heavily_written_log_moves_to_scan",
            heavily_written_log_moves_to_scan,
        ),
        ("log_without_cap_sys_ptrace", log_without_cap_sys_ptrace),
    ];
    tests.extend(exact::tests());
    // Every test but these two needs in-place rollback; where the kernel lacks it they are
    // ignored, not passed.
    let io_uring = exact::needs_io_uring();
    let mut needs: Vec<support::Need> = tests
        .iter()
        .map(|(name, _)| *name)
        .filter(|n| {
            !matches!(
                *n,
                "probe_matches_take" | "unprivileged_works_or_is_unavailable"
            ) && !io_uring.iter().any(|(i, _)| i == n)
        })
        .map(|n| (n, in_place_unavailable as fn() -> Option<String>))
        .collect();
    needs.extend(io_uring);
    support::run_tests_unless(tests, &needs);
}

/// Why in-place rollback cannot run here, if it cannot.
fn in_place_unavailable() -> Option<String> {
    Snapshot::available(Strategy::InPlace)
        .err()
        .map(|e| format!("in-place rollback is unavailable: {e}"))
}

/// Counters in a MAP_SHARED anonymous page: untracked, so they survive rollbacks.
struct Shared(&'static [AtomicU64; 512]);

impl Shared {
    fn new() -> Shared {
        // SAFETY: a fresh shared anonymous page, zeroed, leaked for the test process's life;
        // an all-zero AtomicU64 array is valid.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            Shared(&*(p as *const [AtomicU64; 512]))
        }
    }
    fn get(&self, i: usize) -> u64 {
        self.0[i].load(Ordering::SeqCst)
    }
    fn set(&self, i: usize, v: u64) {
        self.0[i].store(v, Ordering::SeqCst)
    }
    /// Increments counter `i`, returning the old value.
    fn bump(&self, i: usize) -> u64 {
        self.0[i].fetch_add(1, Ordering::SeqCst)
    }
}

/// Takes an in-place snapshot (tests that need one are ignored where the kernel lacks support:
/// see `main`).
fn take() -> Taken {
    // SAFETY: the test child is single-threaded; nothing it holds is released between take and
    // rollback.
    unsafe { Snapshot::take(Strategy::InPlace) }.expect("take")
}

fn rollback(snap: &Snapshot) -> ! {
    let e = snap.rollback();
    panic!("rollback failed: {e}");
}

/// A private anonymous mapping made with mmap directly (not through malloc), leaked: tests run
/// in a throwaway child.
fn map_private(len: usize) -> &'static mut [u8] {
    Box::leak(Box::new(lwc::Pages::new(len).expect("mmap"))).as_mut_slice()
}

fn mapped(addr: usize) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    maps.lines().any(|l| {
        let r = l.split(' ').next().unwrap_or("");
        let (s, e) = r.split_once('-').unwrap_or(("0", "0"));
        let s = usize::from_str_radix(s, 16).unwrap_or(0);
        let e = usize::from_str_radix(e, 16).unwrap_or(0);
        (s..e).contains(&addr)
    })
}

/// The kernel's program break. Not sbrk(0): that answers from glibc's copy of the break, which
/// lives in memory a rollback restores, so it would say "restored" whatever the kernel's is.
fn brk_now() -> usize {
    // SAFETY: brk(0) never moves the break; it returns the current one.
    unsafe { libc::syscall(libc::SYS_brk, 0usize) as usize }
}

/// Fills `buf` with zeros by read(2) from /dev/zero: a write made by the kernel, not the program.
fn kernel_write_zeros(buf: &mut [u8]) {
    use std::io::Read;
    let zero = std::fs::File::open("/dev/zero").expect("open /dev/zero");
    (&zero).read_exact(buf).expect("read /dev/zero");
}

/// Runs `child` in a forked child, which ends with `_exit` of what it returns, and returns the
/// child's wait status.
fn fork_and_wait(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the test child is single-threaded; the forked child runs `child` and `_exit`s
    // without unwinding into the test harness.
    match unsafe { libc::fork() } {
        0 => {
            let code = child();
            // SAFETY: ends the forked child.
            unsafe { libc::_exit(code) }
        }
        pid => {
            assert!(pid > 0);
            let mut status = 0;
            // SAFETY: waits for our own child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            status
        }
    }
}

/// Checks, for each round, that a rollback rewrote the pages written before it plus at most 8:
/// the stack (and possibly heap) pages the test itself dirtied between take and rollback, a
/// small constant, the same every round.
fn assert_counts(writes: &[usize], counted: &[u64]) {
    eprintln!("restored pages for {writes:?} written: {counted:?}");
    for (&n, &c) in writes.iter().zip(counted) {
        assert!(
            (n..=n + 8).contains(&(c as usize)),
            "{c} pages restored for {n} written ({counted:?})"
        );
    }
}

fn probe_matches_take() {
    let shared = Shared::new();
    match Snapshot::available(Strategy::InPlace) {
        Ok(()) => {
            // SAFETY: single-threaded test child.
            let taken = unsafe { Snapshot::take(Strategy::InPlace) }.expect("probe said available");
            if shared.bump(0) == 0 {
                rollback(&taken.snapshot());
            }
            assert!(taken.restored());
            taken.snapshot().release().expect("release");
        }
        Err(Error::Unavailable { what, .. }) => {
            assert_eq!(what, "in-place rollback");
            // SAFETY: single-threaded test child.
            let r = unsafe { Snapshot::take(Strategy::InPlace) };
            assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
        }
        Err(e) => panic!("probe must say Unavailable, not {e}"),
    }
}

static STATIC_WORD: AtomicU64 = AtomicU64::new(0x5157);
static mut STATIC_ARRAY: [u64; 1024] = [0; 1024];

fn restores_heap_stack_static_and_mmap() {
    let shared = Shared::new();
    let mut heap: Vec<u64> = (0..10_000).collect();
    let mut stack = [7u32; 512];
    let big = map_private(64 << 20);
    for (i, b) in big.iter_mut().enumerate().step_by(4096) {
        *b = (i / 4096) as u8;
    }
    let text = String::from("before the snapshot");
    let taken = take();
    // Every pass (first and after each rollback) sees the values of take time.
    assert_eq!(STATIC_WORD.load(Ordering::SeqCst), 0x5157);
    // SAFETY: single-threaded; no other reference to STATIC_ARRAY exists.
    assert!(unsafe { (*std::ptr::addr_of!(STATIC_ARRAY)).iter().all(|&v| v == 0) });
    assert!(heap.iter().enumerate().all(|(i, &v)| v == i as u64));
    assert!(black_box(&stack).iter().all(|&v| v == 7));
    assert!(big
        .iter()
        .enumerate()
        .step_by(4096)
        .all(|(i, &b)| b == (i / 4096) as u8));
    assert_eq!(big[4095], 0);
    assert_eq!(text, "before the snapshot");
    match shared.bump(0) {
        0 => {
            assert!(!taken.restored());
            STATIC_WORD.store(1, Ordering::SeqCst);
            // SAFETY: as above.
            unsafe { (*std::ptr::addr_of_mut!(STATIC_ARRAY))[1000] = 99 };
            heap.iter_mut().for_each(|v| *v = 0);
            heap.push(1);
            stack.iter_mut().for_each(|v| *v = 0);
            black_box(&mut stack);
            big.iter_mut().step_by(4096).for_each(|b| *b = 0xff);
            big[4095] = 1;
            let mut text = text.clone();
            text.push_str(" and after");
            black_box(&text);
            rollback(&taken.snapshot());
        }
        _ => {
            assert!(taken.restored());
            taken.snapshot().release().expect("release");
        }
    }
}

/// Guards against rollbacks that stop restoring after a few rounds, and (with the counts read
/// at the end) against rollbacks that restore far more than was written.
fn hundred_rollbacks_stay_correct() {
    let shared = Shared::new();
    let mut heap = vec![0u8; 1 << 20];
    let mut stack = [0u64; 64];
    let taken = take();
    let snap = taken.snapshot();
    let round = shared.bump(0);
    assert_eq!(taken.restored(), round > 0);
    assert!(
        heap.iter().all(|&b| b == 0),
        "round {round}: heap not restored"
    );
    assert!(
        black_box(&stack).iter().all(|&v| v == 0),
        "round {round}: stack not restored"
    );
    if round > 0 {
        let pages = snap.last_restored_pages().expect("in-place counts pages");
        shared.set(1 + round as usize % 200, pages as u64);
        // The previous round wrote (round % 16) + 1 heap pages and a few stack pages.
        let wrote = (round - 1) % 16 + 1;
        assert!(
            pages as u64 >= wrote,
            "round {round}: {pages} pages < {wrote} written"
        );
    }
    if round < 100 {
        let pages = round % 16 + 1;
        for p in 0..pages as usize {
            heap[p * 4096 * 3 + 17] = round as u8 + 1;
        }
        stack[round as usize % 64] = round + 1;
        black_box(&mut stack);
        black_box(&mut heap);
        rollback(&snap);
    }
    let writes: Vec<usize> = (0..100).map(|r| r % 16 + 1).collect();
    let counted: Vec<u64> = (1..=100).map(|r| shared.get(1 + r)).collect();
    assert_counts(&writes, &counted);
    snap.release().expect("release");
}

fn counts_only_written_pages() {
    let shared = Shared::new();
    let big = map_private(32 << 20);
    big.iter_mut().step_by(4096).for_each(|b| *b = 1);
    let taken = take();
    let snap = taken.snapshot();
    // Rounds: 0 → write 10 pages, 1 → write 200, 2 → write 0; record what each rollback counted.
    let round = shared.bump(0);
    if round > 0 {
        shared.set(
            round as usize,
            snap.last_restored_pages().expect("pages") as u64,
        );
    }
    let writes = [10usize, 200, 0];
    if let Some(&n) = writes.get(round as usize) {
        for p in 0..n {
            big[(p * 37 % 8192) * 4096 + 100] = 2;
        }
        rollback(&snap);
    }
    let counted: Vec<u64> = (1..=3).map(|i| shared.get(i)).collect();
    assert_counts(&writes, &counted);
    snap.release().expect("release");
}

fn allocations_after_take_are_undone() {
    let shared = Shared::new();
    let keep = vec![42u8; 100_000];
    let taken = take();
    let snap = taken.snapshot();
    let brk_at_take = shared.get(10);
    if shared.get(10) == 0 {
        shared.set(10, brk_now() as u64);
    } else {
        assert_eq!(brk_now() as u64, brk_at_take, "program break not restored");
    }
    let last_big = shared.get(11) as usize;
    if last_big != 0 {
        assert!(!mapped(last_big), "mapping made after take still mapped");
    }
    assert!(keep.iter().all(|&b| b == 42));
    let round = shared.bump(0);
    if round < 5 {
        // Heap growth by brk: many small blocks.
        let mut small: Vec<Vec<u8>> = (0..20_000).map(|i| vec![i as u8; 100]).collect();
        // A malloc'd block large enough to get its own mmap.
        let big = vec![7u8; 8 << 20];
        shared.set(11, big.as_ptr() as usize as u64);
        // A mapping made directly.
        let direct = map_private(1 << 20);
        direct[0] = 1;
        small.push(big);
        black_box(&small);
        assert!(brk_now() as u64 > brk_at_take || brk_at_take == 0);
        rollback(&snap);
    }
    // Allocation still works after rollbacks.
    let v: Vec<u64> = (0..100_000).collect();
    assert_eq!(v.iter().sum::<u64>(), 4_999_950_000);
    snap.release().expect("release");
}

/// Guards against a rollback that leaves the program break where the trim put it (the heap's
/// pages are re-created, but the break is not), and against a test that no longer trims.
fn heap_trimmed_after_take_is_restored() {
    let shared = Shared::new();
    // Blocks below the mmap threshold, so they come from the brk heap; freed after take, glibc
    // trims the top of the heap (brk goes down, below the break at take).
    let mut blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
    let taken = take();
    let snap = taken.snapshot();
    let brk_at_take = brk_now();
    assert!(blocks
        .iter()
        .enumerate()
        .all(|(i, b)| b.len() == 65536 && b.iter().all(|&x| x == i as u8)));
    let round = shared.bump(0);
    if round == 0 {
        shared.set(4, brk_at_take as u64);
    } else {
        assert_eq!(
            brk_at_take as u64,
            shared.get(4),
            "round {round}: program break not restored"
        );
    }
    if round < 3 {
        let before = brk_now();
        blocks.clear();
        blocks.shrink_to_fit();
        black_box(&blocks);
        shared.set(5 + round as usize, (before - brk_now()) as u64);
        rollback(&snap);
    }
    let trimmed: Vec<u64> = (5..8).map(|i| shared.get(i)).collect();
    assert!(
        trimmed.iter().all(|&t| t > 0),
        "the heap was not trimmed in every round: {trimmed:?} bytes"
    );
    snap.release().expect("release");
}

/// Guards against a rollback that trusts an unchanged /proc/self/maps when the program break
/// moved within its last page: the maps show whole pages, only brk(2) tells.
fn break_moved_within_a_page_is_restored() {
    let shared = Shared::new();
    let taken = take();
    let snap = taken.snapshot();
    let at_take = brk_now();
    if shared.bump(0) == 0 {
        shared.set(1, at_take as u64);
        // Down by 8 bytes: the heap mapping keeps its last page, so the maps do not change.
        let delta = 8;
        assert!(
            at_take.is_multiple_of(4096) || at_take % 4096 > delta,
            "break {at_take:#x}"
        );
        // SAFETY: moves the break down by 8 bytes within its page: nothing is unmapped, and
        // the rollback puts it back before the allocator uses the heap again.
        unsafe { libc::syscall(libc::SYS_brk, at_take - delta) };
        assert_eq!(brk_now(), at_take - delta, "the kernel moved the break");
        rollback(&snap);
    }
    assert_eq!(
        brk_now() as u64,
        shared.get(1),
        "program break not restored"
    );
    snap.release().expect("release");
}

fn unmapped_and_reprotected_memory_is_recreated() {
    let shared = Shared::new();
    let a = map_private(16 << 20);
    let b = map_private(1 << 20);
    a.iter_mut()
        .enumerate()
        .step_by(512)
        .for_each(|(i, x)| *x = (i >> 9) as u8);
    b.fill(9);
    let (a_addr, b_addr) = (a.as_ptr() as usize, b.as_ptr() as usize);
    let taken = take();
    let snap = taken.snapshot();
    assert!(a
        .iter()
        .enumerate()
        .step_by(512)
        .all(|(i, &x)| x == (i >> 9) as u8));
    assert!(b.iter().all(|&x| x == 9));
    let round = shared.bump(0);
    if round < 4 {
        // SAFETY: unmapping/re-protecting our own leaked mappings; `a` and `b` are not used again
        // in this pass (the rollback restores them before they are read).
        unsafe {
            match round {
                0 => assert_eq!(libc::munmap(a_addr as *mut _, 16 << 20), 0),
                1 => assert_eq!(
                    libc::mprotect((a_addr + (4 << 20)) as *mut _, 4096, libc::PROT_READ),
                    0
                ),
                2 => {
                    // Moved elsewhere (as realloc does with mremap).
                    let p = libc::mremap(b_addr as *mut _, 1 << 20, 2 << 20, libc::MREMAP_MAYMOVE);
                    assert_ne!(p, libc::MAP_FAILED);
                }
                _ => assert_eq!(libc::munmap((a_addr + 4096) as *mut _, 8192), 0),
            }
        }
        rollback(&snap);
    }
    // After re-creation the memory is tracked again: a normal rollback still works.
    if round == 4 {
        a[12345] = 77;
        rollback(&snap);
    }
    assert_eq!(a[12345], 0);
    snap.release().expect("release");
}

fn lost_file_mapping_is_refused_unchanged() {
    let shared = Shared::new();
    let path = std::env::temp_dir().join(format!("lwc-in-place-{}", std::process::id()));
    std::fs::write(&path, vec![3u8; 65536]).expect("write temp file");
    let file = std::fs::File::open(&path).expect("open");
    let _ = std::fs::remove_file(&path);
    use std::os::fd::AsRawFd;
    // SAFETY: a private writable mapping of our own file.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            65536,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    let taken = take();
    let snap = taken.snapshot();
    let round = shared.bump(0);
    assert_eq!(round, 0, "a refused rollback must not resume take");
    let heap = vec![5u8; 1000];
    // SAFETY: our own mapping, not referenced afterwards.
    assert_eq!(unsafe { libc::munmap(p, 65536) }, 0);
    let e = snap.rollback();
    assert!(matches!(e, Error::Unsupported { .. }), "{e}");
    // Nothing was changed: we are still here, with our post-take state.
    assert_eq!(heap, vec![5u8; 1000]);
    snap.release().expect("release");
}

fn multi_threaded_is_refused() {
    let shared = Shared::new();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let _ = rx.recv();
    });
    // SAFETY: deliberately multi-threaded: take must refuse before doing anything.
    let r = unsafe { Snapshot::take(Strategy::InPlace) };
    assert!(
        matches!(r, Err(Error::MultiThreaded { threads: 2, .. })),
        "{r:?}"
    );
    drop(tx);
    t.join().expect("join");
    // Single-threaded again: take works; a thread started after take makes rollback refuse.
    let taken = take();
    let snap = taken.snapshot();
    if shared.bump(0) == 0 {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let _ = rx.recv();
        });
        let e = snap.rollback();
        assert!(matches!(e, Error::MultiThreaded { .. }), "{e}");
        // The message names the call refused, not lwc::init.
        let msg = e.to_string();
        assert!(msg.starts_with("in-place rollback:"), "{msg}");
        drop(tx);
        t.join().expect("join");
        rollback(&snap);
    }
    assert!(taken.restored());
    snap.release().expect("release");
}

/// `pthread_join` returns before the kernel drops the thread from the thread group: take and
/// rollback right after a join must not see it (a stress loop once did, in one run of 25).
fn thread_just_joined_does_not_count() {
    let shared = Shared::new();
    for _ in 0..30 {
        std::thread::spawn(|| ()).join().expect("join");
        let taken = take();
        taken.snapshot().release().expect("release");
    }
    let taken = take();
    let snap = taken.snapshot();
    if shared.bump(0) < 30 {
        std::thread::spawn(|| ()).join().expect("join");
        rollback(&snap);
    }
    assert!(taken.restored());
    snap.release().expect("release");
}

fn second_take_and_stale_handles_are_refused() {
    let taken = take();
    let snap = taken.snapshot();
    assert!(!taken.restored());
    // SAFETY: single-threaded test child.
    let second = unsafe { Snapshot::take(Strategy::InPlace) };
    assert!(
        matches!(second, Err(Error::Unsupported { .. })),
        "{second:?}"
    );
    let copy = snap;
    snap.release().expect("release");
    assert!(matches!(copy.rollback(), Error::Invalid { .. }));
    assert!(copy.release().is_err());
    // After release a new snapshot can be taken.
    let again = take();
    again.snapshot().release().expect("release");
}

fn fork_child_cannot_use_parent_snapshot() {
    let taken = take();
    let snap = taken.snapshot();
    assert!(!taken.restored());
    let status = fork_and_wait(|| {
        let ok = matches!(snap.rollback(), Error::Invalid { .. });
        if ok {
            0
        } else {
            1
        }
    });
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    snap.release().expect("release");
}

fn unprivileged_works_or_is_unavailable() {
    let shared = Shared::new();
    // SAFETY: getuid/setgroups/setgid/setuid change only our own credentials.
    unsafe {
        if libc::getuid() == 0 {
            assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
            assert_eq!(libc::setgid(65534), 0);
            assert_eq!(libc::setuid(65534), 0);
        }
        assert_ne!(libc::getuid(), 0);
    }
    let mut heap = vec![1u8; 1 << 16];
    match Snapshot::available(Strategy::InPlace) {
        Err(Error::Unavailable { reason, .. }) => {
            eprintln!("unprivileged: unavailable ({reason})");
            // SAFETY: single-threaded test child.
            let r = unsafe { Snapshot::take(Strategy::InPlace) };
            assert!(matches!(r, Err(Error::Unavailable { .. })), "{r:?}");
        }
        Err(e) => panic!("probe must say Unavailable, not {e}"),
        Ok(()) => {
            // SAFETY: single-threaded test child.
            let taken = unsafe { Snapshot::take(Strategy::InPlace) }.expect("take");
            assert!(heap.iter().all(|&b| b == 1));
            if shared.bump(0) < 3 {
                heap.fill(2);
                // A write made by the kernel (read(2) into the buffer) is tracked too.
                kernel_write_zeros(&mut heap[..4096]);
                rollback(&taken.snapshot());
            }
            taken.snapshot().release().expect("release");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The write log (large anonymous mappings, synchronous write-protect served by a handler task).
// Where it is not available (unprivileged) the same tests run on async tracking and must pass
// the same way: they assert behaviour, not which path ran.
// ---------------------------------------------------------------------------------------------

const PAGE: usize = 4096;

/// Makes anonymous mappings of 1 MiB and more go to the write log in this test child (the
/// default threshold, 128 MiB, would make these tests slow).
fn log_from_1_mib() {
    std::env::set_var("LWC_IN_PLACE_LOG_MIN_BYTES", "1048576");
}

/// What page `p` of a test mapping holds at take: a pattern in the first `populated` pages,
/// zero (never touched) after.
fn pristine_byte(p: usize, populated: usize) -> u8 {
    if p < populated {
        (p % 251) as u8 | 1
    } else {
        0
    }
}

fn fill_pattern(mem: &mut [u8], populated: usize) {
    for p in 0..populated {
        mem[p * PAGE..(p + 1) * PAGE].fill(pristine_byte(p, populated));
    }
}

/// Index of the first byte that differs from the pattern, if any.
fn first_difference(mem: &[u8], populated: usize) -> Option<usize> {
    mem.chunks(PAGE).enumerate().find_map(|(p, page)| {
        let want = pristine_byte(p, populated);
        page.iter().position(|&b| b != want).map(|i| p * PAGE + i)
    })
}

/// The opening every write-log test shares, one pass per round: a private mapping of `pages`
/// pages with the first `populated` filled with the pattern, an in-place snapshot taken after
/// it, and the round (0 at first, n after the n-th rollback), the mapping checked back to its
/// pattern.
struct LogRound {
    shared: Shared,
    big: &'static mut [u8],
    snap: Snapshot,
    round: usize,
}

fn log_round(pages: usize, populated: usize) -> LogRound {
    log_from_1_mib();
    let shared = Shared::new();
    let big = map_private(pages * PAGE);
    fill_pattern(big, populated);
    let snap = take().snapshot();
    let round = shared.bump(0) as usize;
    assert_eq!(
        first_difference(big, populated),
        None,
        "round {round}: not restored"
    );
    LogRound {
        shared,
        big,
        snap,
        round,
    }
}

fn log_restores_user_and_kernel_writes() {
    let pages = 4096; // 16 MiB: logged
    let populated = 2048;
    let LogRound {
        shared: _,
        big,
        snap,
        round,
    } = log_round(pages, populated);
    if round > 0 {
        let n = snap.last_restored_pages().expect("pages");
        assert!(n >= 16 + 1 + 2, "round {round}: {n} pages restored");
    }
    if round < 3 {
        let r = round;
        // The program's writes: 16 pages.
        for p in 0..16 {
            big[(10 + r * 100 + p * 7) * PAGE + 5] = 0xEE;
        }
        // The kernel's writes: read(2) of zeros over a populated page, and of a pipe's bytes
        // over two pages never touched before take.
        use std::io::{Read, Write};
        kernel_write_zeros(&mut big[(5 + r) * PAGE..(6 + r) * PAGE]);
        let (mut rx, mut tx) = std::io::pipe().expect("pipe");
        tx.write_all(&[0xAB; 2 * PAGE]).expect("write pipe");
        let at = (3000 + r * 10) * PAGE;
        rx.read_exact(&mut big[at..at + 2 * PAGE])
            .expect("read pipe into logged memory");
        assert_eq!(big[at + PAGE + 1], 0xAB);
        rollback(&snap);
    }
    snap.release().expect("release");
}

fn log_overflow_falls_back_to_a_scan() {
    let pages = 12 * 1024; // 48 MiB; more pages written than the log holds (8192)
    let populated = 6 * 1024;
    let LogRound {
        shared,
        big,
        snap,
        round,
    } = log_round(pages, populated);
    if round > 0 {
        shared.set(
            100 + round,
            snap.last_restored_pages().expect("pages") as u64,
        );
    }
    // Round 0 overflows the log; rounds 1 and 2 must find only their own pages again, which
    // shows the fallback protected everything it restored.
    let writes = [10_000usize, 5, 300];
    if let Some(&n) = writes.get(round) {
        for p in 0..n {
            big[(p * 7 + round) % pages * PAGE + 9] = 0x5A;
        }
        rollback(&snap);
    }
    let counted: Vec<u64> = (101..=103).map(|i| shared.get(i)).collect();
    assert_counts(&writes, &counted);
    snap.release().expect("release");
}

fn log_hundred_rollbacks() {
    let pages = 2048; // 8 MiB
    let populated = 1024;
    let LogRound {
        shared: _,
        big,
        snap,
        round,
    } = log_round(pages, populated);
    if round > 0 {
        let wrote = (round - 1) % 16 + 1;
        let n = snap.last_restored_pages().expect("pages");
        assert!(n >= wrote, "round {round}: {n} pages < {wrote} written");
    }
    if round < 100 {
        for p in 0..round % 16 + 1 {
            // Distinct pages in adjacent pairs (one run each), populated and never-touched ones.
            big[(round * 13 + p / 2 * 97 + p % 2) % pages * PAGE + p] = 0xC3;
        }
        if round.is_multiple_of(10) {
            let at = (round * 17 % populated) * PAGE;
            kernel_write_zeros(&mut big[at..at + PAGE]);
        }
        rollback(&snap);
    }
    snap.release().expect("release");
}

fn foreign_sigbus_kills_as_before() {
    log_from_1_mib();
    let status = fork_and_wait(|| {
        let big = map_private(4 << 20);
        big[..PAGE].fill(1);
        // SAFETY: single-threaded child; nothing is released before the child dies.
        let Ok(taken) = (unsafe { Snapshot::take(Strategy::InPlace) }) else {
            return 4;
        };
        black_box(&taken);
        big[3 * PAGE] = 7; // a logged write, served by the handler task
                           // A real bus error: a page of a memfd beyond its (zero) size.
                           // SAFETY: a fresh memfd and a fresh shared mapping of it; the read faults.
        unsafe {
            let fd = libc::memfd_create(c"bus".as_ptr(), 0);
            let p = libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            );
            if fd < 0 || p == libc::MAP_FAILED {
                return 5;
            }
            black_box(std::ptr::read_volatile(p.cast::<u8>()));
        }
        6
    });
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGBUS,
        "child status {status:#x}: expected death by SIGBUS"
    );
}

fn fork_child_writes_logged_memory() {
    log_from_1_mib();
    let shared = Shared::new();
    let pages = 1024; // 4 MiB
    let populated = 512;
    let big = map_private(pages * PAGE);
    fill_pattern(big, populated);
    let taken = take();
    let snap = taken.snapshot();
    if shared.bump(0) == 0 {
        // A fork child has no handler task: its copy of the memory is not tracked, so its
        // writes (populated and never-touched pages, by itself and by the kernel) go through.
        let status = fork_and_wait(|| {
            big[PAGE] = 9;
            big[700 * PAGE] = 9;
            use std::io::Read;
            let ok = std::fs::File::open("/dev/zero")
                .and_then(|f| (&f).read_exact(&mut big[2 * PAGE..3 * PAGE]))
                .is_ok();
            if ok && big[PAGE] == 9 {
                0
            } else {
                1
            }
        });
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(first_difference(big, populated), None, "parent changed");
        big[PAGE] = 3;
        rollback(&snap);
    }
    assert_eq!(first_difference(big, populated), None, "not restored");
    snap.release().expect("release");
}

/// Voluntary context switches of the calling thread so far. Read into a stack buffer: a heap
/// allocation would dirty pages the test's restore counts must not see.
fn voluntary_switches() -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 8192];
    let mut f = std::fs::File::open("/proc/thread-self/status").expect("status");
    let mut len = 0;
    while len < buf.len() {
        match f.read(&mut buf[len..]).expect("read status") {
            0 => break,
            n => len += n,
        }
    }
    let text = std::str::from_utf8(&buf[..len]).expect("status is text");
    text.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches in /proc/thread-self/status")
}

/// Whether this process holds CAP_SYS_PTRACE, which the write log's full-mode userfaultfd needs
/// (without it, /dev/userfaultfd may still give one, or there is no log).
fn has_cap_sys_ptrace() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 19) != 0)
}

/// Guards against a heavily written logged range that is never moved to async tracking.
///
/// Which path ran shows in the writes, not their speed: a first write to a logged page blocks
/// until the handler task has logged it (one voluntary context switch of the writer), a write
/// to async-tracked memory does not block at all.
fn heavily_written_log_moves_to_scan() {
    let pages = 2048; // 8 MiB
    let populated = 1024;
    let LogRound {
        shared,
        big,
        snap,
        round,
    } = log_round(pages, populated);
    if round > 0 {
        // From the third heavy round on the range is scanned instead of logged: the same pages
        // must come back either way.
        let n = snap.last_restored_pages().expect("pages");
        assert!(
            (200..=208).contains(&n),
            "round {round}: {n} pages restored"
        );
    }
    if round < 8 {
        let before = voluntary_switches();
        for p in 0..200 {
            big[(round * 31 + p * 9) % pages * PAGE + 1] = 0x77;
        }
        shared.set(20 + round, voluntary_switches() - before);
        rollback(&snap);
    }
    // Rounds 0 to 2 wrote logged memory; the third heavy rollback moved the range, so rounds 3
    // to 7 wrote async-tracked memory.
    let blocked: Vec<u64> = (20..28).map(|i| shared.get(i)).collect();
    eprintln!("writes that blocked, per round of 200: {blocked:?}");
    if blocked[..3].iter().all(|&b| b >= 100) {
        assert!(
            blocked[3..].iter().all(|&b| b < 20),
            "the range is still logged after three heavy rounds: {blocked:?}"
        );
    } else {
        assert!(
            !has_cap_sys_ptrace(),
            "the 8 MiB range was not logged, with CAP_SYS_PTRACE: {blocked:?}"
        );
        eprintln!("no write log here: only the restore is checked");
    }
    snap.release().expect("release");
}

/// Drops CAP_SYS_PTRACE from the effective and permitted sets, as the first lwC of a group does.
fn drop_cap_sys_ptrace() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    let bit = 1u32 << 19; // CAP_SYS_PTRACE
                          // SAFETY: capget/capset read and write the live locals given; they change only our own
                          // capabilities.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()),
            0
        );
        d[0].effective &= !bit;
        d[0].permitted &= !bit;
        d[0].inheritable &= !bit;
        assert_eq!(
            libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()),
            0
        );
    }
}

fn log_without_cap_sys_ptrace() {
    // Inside a group no lwC holds CAP_SYS_PTRACE, so full-mode userfaultfd(2) is refused; the
    // write log then comes from /dev/userfaultfd where its mode allows, else async tracking is
    // used. Either way user and kernel writes must be restored.
    drop_cap_sys_ptrace();
    let pages = 2048; // 8 MiB
    let populated = 1024;
    let LogRound {
        shared: _,
        big,
        snap,
        round,
    } = log_round(pages, populated);
    if round < 3 {
        for p in 0..20 {
            big[(round * 50 + p * 3) * PAGE + 2] = 0x11;
        }
        let at = (900 + round) * PAGE;
        kernel_write_zeros(&mut big[at..at + PAGE]);
        rollback(&snap);
    }
    snap.release().expect("release");
}

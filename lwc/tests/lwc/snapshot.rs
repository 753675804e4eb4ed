//! Snapshot and rollback through the public API (fork and pool strategies; in-place has its own
//! test binary, tests/in_place.rs).

use crate::common::start;
use lwc::{SharedRegion, Snapshot, Strategy};

pub fn tests() -> Vec<(&'static str, fn())> {
    vec![
        ("snapshot::fork_rollback_restores_memory", fork_rollback),
        (
            "snapshot::pool_rollback_restores_memory_and_refills",
            pool_rollback,
        ),
        (
            "snapshot::pool_rollback_forks_nothing_on_the_rollback_path",
            pool_refill_off_the_path,
        ),
        (
            "snapshot::pool_rollback_after_the_pool_ran_dry_waits_and_restores",
            pool_drained,
        ),
        ("snapshot::bad_pool_size_is_refused", bad_pool),
        (
            "snapshot::in_place_rollback_inside_a_group",
            in_place_in_group,
        ),
        (
            "snapshot::in_place_reports_availability",
            in_place_available,
        ),
        (
            "snapshot::fork_restores_dropped_and_replaced_memory",
            fork_hazards,
        ),
        (
            "snapshot::pool_restores_dropped_and_replaced_memory",
            pool_hazards,
        ),
    ]
}

/// Three pages of `.data` (file-backed private memory), aligned for madvise.
#[repr(C, align(4096))]
struct DataPages([u8; 3 * 4096]);
static mut DATA_PAGES: DataPages = DataPages([0x5A; 3 * 4096]);

/// The cases in-place rollback must detect (tests/in_place/exact.rs), on the strategies that
/// resume a copy made at take: dropped pages (`.data`, anonymous), a mapping replaced by one of
/// the same shape, one moved away and back, a malloc'd block freed and allocated again. Guards
/// against a copy that shares (rather than copies) the memory it is to restore.
fn hazards(strategy: Strategy) {
    const PAGE: usize = 4096;
    start();
    let shared = SharedRegion::new(4096).expect("region");
    // SAFETY: single-threaded test process; the only reference to DATA_PAGES.
    let data = unsafe { &mut *std::ptr::addr_of_mut!(DATA_PAGES.0) };
    data[..PAGE].fill(0x11);
    let mut anon = lwc::Pages::new(16 << 20).expect("pages");
    anon.as_mut_slice()
        .iter_mut()
        .step_by(PAGE)
        .for_each(|b| *b = 7);
    let block = std::mem::ManuallyDrop::new(vec![0x6Bu8; 1 << 20]);
    // SAFETY: single-threaded test process.
    let taken = unsafe { Snapshot::take(strategy) }.expect("take");
    let snap = taken.snapshot();
    let n = counter(&shared);
    assert_eq!(data[0], 0x11, "round {n}: .data");
    assert_eq!(data[PAGE], 0x5A, "round {n}: .data");
    assert!(
        anon.as_slice().iter().step_by(PAGE).all(|&b| b == 7),
        "round {n}: anon"
    );
    assert!(block.iter().all(|&b| b == 0x6B), "round {n}: block");
    if n < 3 {
        let mem = anon.as_mut_slice();
        let (at, len) = (mem.as_mut_ptr(), mem.len());
        // SAFETY: our own mappings; the rollback brings back what is changed here.
        unsafe {
            assert_eq!(
                libc::madvise(data.as_mut_ptr().cast(), 3 * PAGE, libc::MADV_DONTNEED),
                0
            );
            match n {
                1 => assert_eq!(libc::madvise(at.cast(), len, libc::MADV_DONTNEED), 0),
                2 => {
                    let p = libc::mmap(
                        at.cast(),
                        len,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    );
                    assert_eq!(p.cast::<u8>(), at);
                }
                _ => {
                    let away = libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        libc::PROT_NONE,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                        -1,
                        0,
                    );
                    let fixed = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
                    assert_eq!(libc::mremap(at.cast(), len, len, fixed, away), away);
                    let back = libc::mremap(away, len, len, fixed, at.cast::<libc::c_void>());
                    assert_eq!(back.cast::<u8>(), at);
                }
            }
        }
        let mut block = block;
        // SAFETY: dropped once in this pass; the rollback brings the block back.
        unsafe { std::mem::ManuallyDrop::drop(&mut block) };
        std::hint::black_box(vec![0u8; 1 << 20]);
        let err = snap.rollback();
        panic!("rollback failed: {err}");
    }
    snap.release().expect("release");
}

fn fork_hazards() {
    hazards(Strategy::Fork);
}

fn pool_hazards() {
    hazards(Strategy::Pool { size: 2 });
}

fn counter(shared: &SharedRegion) -> u64 {
    let mut b = [0u8; 8];
    shared.read(0, &mut b).expect("read");
    let n = u64::from_le_bytes(b) + 1;
    shared.write(0, &n.to_le_bytes()).expect("write");
    n
}

fn rollback_rounds(strategy: Strategy, rounds: u64) {
    start();
    // Survives rollbacks: shared memory is shared with the snapshot's copies too.
    let shared = SharedRegion::new(4096).expect("region");
    let mut private = Box::new(100u64);
    let mut pids = Vec::new();
    // SAFETY: single-threaded test process.
    let taken = unsafe { Snapshot::take(strategy) }.expect("take");
    let snap = taken.snapshot();
    assert_eq!(snap.strategy(), strategy);
    let n = counter(&shared);
    assert_eq!(n > 1, taken.restored(), "Restored exactly after a rollback");
    assert_eq!(
        *private, 100,
        "round {n}: private memory is as at the snapshot"
    );
    assert!(
        pids.is_empty(),
        "round {n}: the vector is as at the snapshot"
    );
    *private = 999;
    // SAFETY: no memory effects.
    pids.push(unsafe { libc::getpid() });
    if n < rounds {
        let err = snap.rollback();
        panic!("rollback failed: {err}");
    }
    assert_eq!(n, rounds);
    snap.release().expect("release");
}

/// Word `i` of the shared region.
fn word(shared: &SharedRegion, i: usize) -> u64 {
    let mut b = [0u8; 8];
    shared.read(i * 8, &mut b).expect("read");
    u64::from_le_bytes(b)
}

fn set_word(shared: &SharedRegion, i: usize, v: u64) {
    shared.write(i * 8, &v.to_le_bytes()).expect("write");
}

fn pid_and_parent() -> (u64, u64) {
    // SAFETY: no memory effects.
    unsafe { (libc::getpid() as u64, libc::getppid() as u64) }
}

/// Every copy a `Pool` rollback resumes is a child of the pool's factory: neither the lwC
/// that rolled back nor the copy resumed forks on the rollback path. Guards against refilling
/// there (the pool that forked `size` copies in the copy resumed when it ran dry: the parent
/// of the next copies was a copy that had run the program).
fn pool_refill_off_the_path() {
    const ROUNDS: u64 = 9;
    start();
    let shared = SharedRegion::new(4096).expect("region");
    let private = Box::new(100u64);
    // SAFETY: single-threaded test process.
    let taken = unsafe { Snapshot::take(Strategy::Pool { size: 2 }) }.expect("take");
    let n = counter(&shared);
    assert_eq!(
        *private, 100,
        "round {n}: private memory is as at the snapshot"
    );
    let (pid, parent) = pid_and_parent();
    set_word(&shared, 2 * n as usize, pid);
    set_word(&shared, 2 * n as usize + 1, parent);
    if n < ROUNDS {
        let err = taken.snapshot().rollback();
        panic!("rollback failed: {err}");
    }
    let pids: Vec<u64> = (1..=ROUNDS)
        .map(|r| word(&shared, 2 * r as usize))
        .collect();
    let factory = word(&shared, 5);
    for r in 2..=ROUNDS {
        let p = word(&shared, 2 * r as usize + 1);
        assert_eq!(
            p, factory,
            "round {r} was forked by {p}, not by the factory"
        );
        assert!(
            !pids.contains(&p),
            "round {r} was forked by a copy that ran the program"
        );
    }
    taken.snapshot().release().expect("release");
}

/// Sends SIGCONT to `pid` after `ms` milliseconds, from a plain forked process.
fn continue_later(pid: libc::pid_t, ms: u64) {
    // SAFETY: the child only sleeps, signals and exits (no allocation, no locks).
    unsafe {
        if libc::fork() == 0 {
            libc::usleep((ms * 1000) as u32);
            libc::kill(pid, libc::SIGCONT);
            libc::_exit(0);
        }
    }
}

/// A rollback that finds no spare waiting (rollbacks faster than the factory forks) waits for
/// the factory's next one and still restores exactly. The factory is stopped while the pool
/// runs dry, and let go only after the rollback began. Guards against a drained pool failing
/// the rollback, resuming a copy that is not pristine, or waiting forever.
fn pool_drained() {
    start();
    let shared = SharedRegion::new(4096).expect("region");
    let mut private = Box::new(100u64);
    // SAFETY: single-threaded test process.
    let taken = unsafe { Snapshot::take(Strategy::Pool { size: 1 }) }.expect("take");
    let snap = taken.snapshot();
    let n = counter(&shared);
    assert_eq!(
        *private, 100,
        "round {n}: private memory is as at the snapshot"
    );
    let (_, parent) = pid_and_parent();
    match n {
        1 => {}
        2 => {
            // The factory is our parent; once it has made the next spare, stop it.
            let start = std::time::Instant::now();
            while snap.ready_copies() < 1 && start.elapsed().as_secs() < 30 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert_eq!(snap.ready_copies(), 1, "the factory made no spare");
            set_word(&shared, 1, parent);
            // SAFETY: signals the factory, a process of our group.
            assert_eq!(unsafe { libc::kill(parent as i32, libc::SIGSTOP) }, 0);
        }
        3 => {
            assert_eq!(snap.ready_copies(), 0, "the stopped factory made a spare");
            continue_later(word(&shared, 1) as i32, 200);
        }
        _ => {
            assert_eq!(parent, word(&shared, 1), "the spare came from the factory");
            snap.release().expect("release");
            return;
        }
    }
    *private = 999;
    let err = snap.rollback();
    panic!("rollback failed: {err}");
}

fn fork_rollback() {
    rollback_rounds(Strategy::Fork, 20);
}

fn pool_rollback() {
    rollback_rounds(Strategy::Pool { size: 4 }, 21);
}

/// What some tests need that a machine may lack (see `support::run_tests_unless`).
pub fn needs() -> Vec<crate::support::Need> {
    vec![("snapshot::in_place_rollback_inside_a_group", || {
        Snapshot::available(Strategy::InPlace)
            .err()
            .map(|e| format!("in-place rollback is unavailable: {e}"))
    })]
}

fn in_place_in_group() {
    // The same rounds, in the first lwC of a group (the switchboard and the shared counter are
    // MAP_SHARED: outside the snapshot, as they must be).
    rollback_rounds(Strategy::InPlace, 20);
}

fn bad_pool() {
    start();
    // SAFETY: refused before any fork.
    let r = unsafe { Snapshot::take(Strategy::Pool { size: 0 }) };
    assert!(matches!(r, Err(lwc::Error::Invalid { .. })));
    // SAFETY: as above.
    let r = unsafe { Snapshot::take(Strategy::Pool { size: 65 }) };
    assert!(matches!(r, Err(lwc::Error::Invalid { .. })));
}

fn in_place_available() {
    match Snapshot::available(Strategy::InPlace) {
        Ok(()) => {}
        Err(lwc::Error::Unavailable { what, reason }) => {
            assert!(!reason.is_empty(), "{what} unavailable without a reason");
        }
        Err(e) => panic!("probe must answer Ok or Unavailable, got {e}"),
    }
    assert!(Snapshot::available(Strategy::Fork).is_ok());
}

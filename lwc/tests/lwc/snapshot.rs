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

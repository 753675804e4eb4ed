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
    ]
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

//! The futex hand-off of `thread-futex` (a private futex word) and `process-futex` (a word on a
//! `MAP_SHARED` page, shared futex), for a ring of K parties: one word holds whose turn it is,
//! and each party sleeps on it with its own bit of the futex bitset, so the party that passes
//! the turn wakes exactly the next one.
//!
//! ```text
//!   turn word:  i = party i's turn, STOP = every partner returns
//!   party i:  sleep while turn ≠ i (FUTEX_WAIT_BITSET, bit i mod 32)
//!             ─► turn := i + 1 (mod K) ─► FUTEX_WAKE_BITSET (bit of i + 1)
//! ```
//!
//! For ping-pong (K = 2) this is the classic two-value hand-off on one word. Beyond 32 parties
//! bits repeat: a wake may rouse two parties, and the one whose turn it is not sleeps again.
//!
//! # References
//! futex(2): FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};

use rustix::io::Errno;
use rustix::thread::futex::{self, Flags};

use crate::experiment::{os, MeasureError};

/// The turn value that makes every partner return.
pub(super) const STOP: u32 = u32::MAX;

/// Party `i`'s bit of the futex bitset.
fn bit(i: u32) -> NonZeroU32 {
    // `1 << (i % 32)` is never zero.
    NonZeroU32::new(1 << (i % 32)).unwrap_or(NonZeroU32::MIN)
}

/// Sleeps until the turn is `i`'s (or STOP); returns the turn seen.
fn wait_turn(turn: &AtomicU32, i: u32, flags: Flags) -> Result<u32, MeasureError> {
    loop {
        let seen = turn.load(Ordering::Acquire);
        if seen == i || seen == STOP {
            return Ok(seen);
        }
        match futex::wait_bitset(turn, flags, seen, None, bit(i)) {
            Ok(()) | Err(Errno::AGAIN | Errno::INTR) => {}
            Err(e) => return Err(os("futex wait", e)),
        }
    }
}

fn wake(turn: &AtomicU32, next: u32, flags: Flags) -> Result<(), MeasureError> {
    futex::wake_bitset(turn, flags, 1, bit(next))
        .map(drop)
        .map_err(|e| os("futex wake", e))
}

/// Party 0's side of `n` laps of a ring (control visits every party once per lap).
pub(super) fn laps(turn: &AtomicU32, flags: Flags, n: u64) -> Result<(), MeasureError> {
    for _ in 0..n {
        // Only party 0 holds the turn now, and STOP is written only by its own drop or by a
        // partner that failed, at that partner's turn ([`fail_at_turn`]): a plain store.
        turn.store(1, Ordering::Release);
        wake(turn, 1, flags)?;
        if wait_turn(turn, 0, flags)? == STOP {
            return Err(MeasureError::Failed(
                "a partner of the ring failed and stopped it".into(),
            ));
        }
    }
    Ok(())
}

/// Party `i`'s side (1 ≤ i < `k`): passes every turn on to party `i + 1` (mod K), until
/// [`stop`], calling `on_turn` each time the turn comes to it, before passing it on (the `tlb`
/// ring touches the party's working set there; a plain ring passes `|| {}`).
pub(super) fn serve_touching(
    turn: &AtomicU32,
    i: u32,
    k: u32,
    flags: Flags,
    mut on_turn: impl FnMut(),
) -> Result<(), MeasureError> {
    let next = (i + 1) % k;
    loop {
        if wait_turn(turn, i, flags)? == STOP {
            return Ok(());
        }
        on_turn();
        // Not a plain store: a STOP written meanwhile must survive.
        if turn
            .compare_exchange(i, next, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ok(());
        }
        wake(turn, next, flags)?;
    }
}

/// For a partner `i` that cannot serve: waits for its turn, then stops the ring, so party 0's
/// [`laps`] fails instead of waiting for a turn that never comes.
pub(super) fn fail_at_turn(turn: &AtomicU32, i: u32, flags: Flags) {
    if matches!(wait_turn(turn, i, flags), Ok(seen) if seen != STOP) {
        stop(turn, flags);
    }
}

/// Makes every serving party return.
pub(super) fn stop(turn: &AtomicU32, flags: Flags) {
    turn.store(STOP, Ordering::Release);
    let _ = futex::wake_bitset(turn, flags, i32::MAX as u32, NonZeroU32::MAX);
}

#[cfg(test)]
mod tests {
    use super::bit;

    #[test]
    fn every_party_has_its_own_bit_up_to_32() {
        // Guards against two parties of a ring of up to 32 sharing a bit (a wake would rouse the
        // wrong one).
        let bits: Vec<u32> = (0..32).map(|i| bit(i).get()).collect();
        for (i, b) in bits.iter().enumerate() {
            assert_eq!(*b, 1 << i);
        }
        assert_eq!(bit(32).get(), 1);
    }
}

//! The futex hand-off of `thread-futex` (a private futex word) and `process-futex` (a word on a
//! `MAP_SHARED` page, shared futex): the word says whose turn it is, and the party that hands the
//! turn over wakes the other.

use std::sync::atomic::{AtomicU32, Ordering};

use rustix::io::Errno;
use rustix::thread::futex::{self, Flags};

use crate::experiment::{os, MeasureError};

/// The measuring party's turn.
pub(super) const MAIN_TURN: u32 = 0;
/// The partner's turn.
pub(super) const PARTNER_TURN: u32 = 1;
/// The partner must return.
pub(super) const STOP: u32 = 2;

/// Sleeps while `word` holds `value`.
fn wait_while(word: &AtomicU32, value: u32, flags: Flags) -> Result<(), MeasureError> {
    while word.load(Ordering::Acquire) == value {
        match futex::wait(word, flags, value, None) {
            Ok(()) | Err(Errno::AGAIN | Errno::INTR) => {}
            Err(e) => return Err(os("futex wait", e)),
        }
    }
    Ok(())
}

fn wake(word: &AtomicU32, flags: Flags) -> Result<(), MeasureError> {
    futex::wake(word, flags, 1)
        .map(drop)
        .map_err(|e| os("futex wake", e))
}

/// The measuring party's side of `n` round trips.
pub(super) fn round_trips(word: &AtomicU32, flags: Flags, n: u64) -> Result<(), MeasureError> {
    for _ in 0..n {
        word.store(PARTNER_TURN, Ordering::Release);
        wake(word, flags)?;
        wait_while(word, PARTNER_TURN, flags)?;
    }
    Ok(())
}

/// The partner's side: hands every turn straight back, until [`stop`].
pub(super) fn serve(word: &AtomicU32, flags: Flags) -> Result<(), MeasureError> {
    loop {
        wait_while(word, MAIN_TURN, flags)?;
        // Not a plain store: a STOP written meanwhile must survive.
        if word
            .compare_exchange(PARTNER_TURN, MAIN_TURN, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ok(()); // STOP
        }
        wake(word, flags)?;
    }
}

/// Makes the partner's [`serve`] return.
pub(super) fn stop(word: &AtomicU32, flags: Flags) {
    word.store(STOP, Ordering::Release);
    let _ = futex::wake(word, flags, 1);
}

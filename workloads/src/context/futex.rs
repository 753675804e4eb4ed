//! The futex hand-off of `thread-futex` (private futex words) and `process-futex` (words on a
//! `MAP_SHARED` page, shared futexes), for a ring of K parties: each party sleeps on its own
//! word, and the party that passes control sets the next party's word and wakes it.
//!
//! ```text
//!   words:  [ W0 | W1 | ... | W(K-1) ]     Wi: WAIT (sleep), GO (your turn), STOP (return)
//!   party i: sleep while Wi = WAIT ─► Wi := WAIT ─► W(i+1) := GO ─► wake W(i+1) ─► sleep ...
//! ```

use std::sync::atomic::{AtomicU32, Ordering};

use rustix::io::Errno;
use rustix::thread::futex::{self, Flags};

use crate::experiment::{os, MeasureError};

/// Not this party's turn.
pub(super) const WAIT: u32 = 0;
/// This party's turn.
pub(super) const GO: u32 = 1;
/// The party must return.
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

/// Gives the turn to the party of `next` (unless it is stopping) and wakes it.
fn pass(next: &AtomicU32, flags: Flags) -> Result<(), MeasureError> {
    // Not a plain store: a STOP written meanwhile must survive.
    let _ = next.compare_exchange(WAIT, GO, Ordering::AcqRel, Ordering::Acquire);
    wake(next, flags)
}

/// Party 0's side of `n` laps of the ring `words` (control visits every party once per lap).
pub(super) fn laps(words: &[AtomicU32], flags: Flags, n: u64) -> Result<(), MeasureError> {
    let (me, next) = (&words[0], &words[1 % words.len()]);
    for _ in 0..n {
        me.store(WAIT, Ordering::Release);
        pass(next, flags)?;
        wait_while(me, WAIT, flags)?;
    }
    Ok(())
}

/// Party `i`'s side (i ≥ 1): passes every turn on to party `i + 1` (mod K), until [`stop`].
pub(super) fn serve(words: &[AtomicU32], i: usize, flags: Flags) -> Result<(), MeasureError> {
    let (me, next) = (&words[i], &words[(i + 1) % words.len()]);
    loop {
        wait_while(me, WAIT, flags)?;
        if me
            .compare_exchange(GO, WAIT, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Ok(()); // STOP
        }
        pass(next, flags)?;
    }
}

/// Makes every serving party (1..K) return.
pub(super) fn stop(words: &[AtomicU32], flags: Flags) {
    for w in &words[1..] {
        w.store(STOP, Ordering::Release);
        let _ = futex::wake(w, flags, 1);
    }
}

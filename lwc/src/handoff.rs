//! How a parked lwC waits for its turn and how a switch wakes it.
//!
//! The waker sets the target's word to WOKEN and makes a futex wake only if the target sleeps in
//! the kernel, so a spinning target is woken by the store alone:
//!
//! ```text
//!   waker:   prev = word.swap(WOKEN); if prev == SLEEPING { futex_wake(word) }
//!   block:   until word == WOKEN { cas(IDLE → SLEEPING); futex_wait(word, SLEEPING) }
//!   spin:    until word == WOKEN { spin_loop() }
//!   adaptive: spin for a bounded time, then block
//! ```

use crate::board::{word, Slot};
use crate::sys::{futex, process};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How a parked lwC waits to be switched into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handoff {
    /// Sleep in the kernel on a futex (the default). All lwCs of the group share one CPU, so a
    /// switch is a same-core wake-up: the cheapest blocking hand-off the kernel offers.
    #[default]
    Block,
    /// Busy-wait on the word: a switch costs a cache-line transfer instead of a kernel wake-up.
    /// Needs the parties on different CPUs (a group with two CPUs or more), and burns a CPU per
    /// parked lwC.
    Spin,
    /// Spin for at most `spin`, then sleep as [`Handoff::Block`].
    Adaptive {
        /// How long to spin before sleeping.
        spin: Duration,
    },
}

/// Wakes the lwC that parks on `slot` (its mailbox must already be written).
#[inline]
pub(crate) fn wake(slot: &Slot) {
    if slot.word.swap(word::WOKEN, Ordering::AcqRel) == word::SLEEPING {
        futex::wake(&slot.word, 1);
    }
}

/// Waits until `slot`'s word is WOKEN, then consumes the wake.
#[inline]
pub(crate) fn park(slot: &Slot, mode: Handoff) {
    match mode {
        Handoff::Block => block(slot),
        Handoff::Spin => {
            let mut n = 0u32;
            while slot.word.load(Ordering::Acquire) != word::WOKEN {
                std::hint::spin_loop();
                n = n.wrapping_add(1);
                if n.is_multiple_of(SPINS_BETWEEN_CHECKS) {
                    leave_if_group_gone();
                }
            }
        }
        Handoff::Adaptive { spin } => {
            let start = Instant::now();
            let mut n = 0u32;
            while slot.word.load(Ordering::Acquire) != word::WOKEN {
                std::hint::spin_loop();
                n = n.wrapping_add(1);
                if n.is_multiple_of(128) && start.elapsed() >= spin {
                    block(slot);
                    break;
                }
            }
        }
    }
    slot.word.store(word::IDLE, Ordering::Release);
}

/// How long a parked lwC sleeps before it checks that its group still stands. A group ends
/// by killing its lwCs; this is for the ending that leaves nobody to do it (the guardian
/// and then the supervisor SIGKILLed), so a parked lwC does not wait forever.
const GROUP_CHECK_EVERY: Duration = Duration::from_secs(1);
/// The same for a spinning lwC, in spins (some tens of milliseconds).
const SPINS_BETWEEN_CHECKS: u32 = 1 << 24;

/// Ends this lwC if its group's supervisor is gone.
#[cold]
fn leave_if_group_gone() {
    if process::supervisor_gone() {
        process::exit_now(1);
    }
}

fn block(slot: &Slot) {
    loop {
        match slot.word.compare_exchange(
            word::IDLE,
            word::SLEEPING,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) | Err(word::SLEEPING) => {
                let bound = process::needs_supervisor_checks().then_some(GROUP_CHECK_EVERY);
                if futex::wait(&slot.word, word::SLEEPING, bound) {
                    leave_if_group_gone();
                }
            }
            Err(_) => return, // WOKEN
        }
    }
}

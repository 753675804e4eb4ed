//! The switchboard and the notice board: the group-wide records, made when the group starts and
//! inherited by every lwC. Neither carries a hand-off: who runs next, and with which six words,
//! travels on the pages of a link that only the two lwCs of the link hold (`handoff`).
//!
//! ```text
//!   Board (MAP_SHARED, read-only in sandboxes) ─ slots[CAPACITY]:
//!       state  (see types::State) · gen (bumped on every reuse) · pid · parent · exit code
//!       zombies (children to reap) · awaiting (whom the lwC handed control to)
//!   Notices (written by the supervisor only, read-only in every lwC):
//!       bell (futex word: the supervisor's thread id; rung after every notice, and by the
//!             kernel when the supervisor dies) ─ then one notice per slot:
//!       seq (bumped per notice) · the lwC that died and its generation
//! ```
//!
//! Every non-sandboxed lwC can write the switchboard. What it can do with that is bookkeeping
//! damage (a wrong state makes a switch fail, a wrong `awaiting` sends a death notice astray):
//! it can stall the group, as any lwC holding control can, but it can neither wake another lwC
//! nor read or forge what one passes to another. Death notices come from the supervisor through
//! the notice board, which no lwC can write (a memfd sealed against new writable mappings once
//! the supervisor mapped it), and each lwC checks a notice against whom it really waits for.
//!
//! # Safety
//! Both boards are plain atomics, valid at all-zero bytes: they implement `SharedZeroed`.
#![allow(unsafe_code)]

use crate::sys::futex;
use crate::sys::mem::SharedZeroed;
use crate::types::{State, NO_LWC};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// Slots in a group: the most lwCs alive at once.
pub(crate) const CAPACITY: usize = 16 * 1024;

/// A slot's state word.
#[derive(Debug)]
pub(crate) struct StateCell(AtomicU32);

impl StateCell {
    pub(crate) fn load(&self) -> State {
        State::from_word(self.0.load(Ordering::Acquire))
    }

    pub(crate) fn store(&self, s: State) {
        self.0.store(s as u32, Ordering::Release)
    }

    pub(crate) fn swap(&self, s: State) -> State {
        State::from_word(self.0.swap(s as u32, Ordering::AcqRel))
    }

    /// Moves from `from` to `to`; Err with the state found otherwise.
    pub(crate) fn cas(&self, from: State, to: State) -> Result<(), State> {
        self.0
            .compare_exchange(from as u32, to as u32, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(State::from_word)
    }
}

/// One lwC's slot: two cache lines. The first is written by the lwC itself on every hand-off
/// (its own state and whom it awaits) and read by nobody else on the way; the second changes
/// only at birth and death, and is what a poster checks (the generation, bumped at death too),
/// so a hand-off moves neither between CPUs.
#[repr(C, align(64))]
pub(crate) struct Slot {
    pub(crate) state: StateCell,
    /// The lwC this one handed control to and waits on while parked (NO_LWC if none): the
    /// supervisor sends it a notice if that one dies. With [`HEARS_DEATH_ITSELF`] set, it
    /// learns of that lwC's death by itself (a monitor, from its sandbox's seccomp listener).
    pub(crate) awaiting: AtomicU32,
    /// Discarded children of this lwC that it still has to reap.
    pub(crate) zombies: AtomicU32,
    _own_line: [u32; 13],
    // ---- second cache line ----
    pub(crate) gen: AtomicU32,
    pub(crate) pid: AtomicI32,
    pub(crate) parent: AtomicU32,
    pub(crate) exit_code: AtomicI32,
}

const _: () = assert!(
    std::mem::offset_of!(Slot, gen) == 64,
    "what a hand-off writes and what a poster reads lie on different lines"
);

/// Flag in [`Slot::awaiting`]: the waiter needs no death notice.
pub(crate) const HEARS_DEATH_ITSELF: u32 = 1 << 31;
const _: () = assert!(CAPACITY < HEARS_DEATH_ITSELF as usize);

/// The shared switchboard of a group.
#[repr(C)]
pub(crate) struct Board {
    /// Slots ever used (the supervisor scans `0..high_water`).
    pub(crate) high_water: AtomicU32,
    /// Pid of the supervisor (the group's original process).
    pub(crate) supervisor: AtomicI32,
    pub(crate) slots: [Slot; CAPACITY],
}

// SAFETY: atomics only; all-zero is the empty board (every slot FREE).
unsafe impl SharedZeroed for Board {}

impl Board {
    /// The slot of lwC `id` (ids come from the runtime and are always < CAPACITY).
    #[inline]
    pub(crate) fn slot(&self, id: u32) -> &Slot {
        &self.slots[id as usize % CAPACITY]
    }

    /// Finds a free slot, marks it STARTING with a new generation and returns `(id, gen)`.
    /// Only the lwC holding the thread of control allocates; the supervisor only frees.
    pub(crate) fn allocate(&self, parent: u32) -> Option<(u32, u32)> {
        for (id, s) in self.slots.iter().enumerate() {
            if s.state.cas(State::Free, State::Starting).is_ok() {
                let gen = s.gen.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
                s.pid.store(0, Ordering::Relaxed);
                s.parent.store(parent, Ordering::Relaxed);
                s.exit_code.store(0, Ordering::Relaxed);
                s.zombies.store(0, Ordering::Relaxed);
                s.awaiting.store(NO_LWC, Ordering::Relaxed);
                self.high_water.fetch_max(id as u32 + 1, Ordering::AcqRel);
                return Some((id as u32, gen));
            }
        }
        None
    }

    /// Whether lwC `id` of generation `gen` still lives (it may be switched to).
    pub(crate) fn alive(&self, id: u32, gen: u32) -> bool {
        let s = self.slot(id);
        s.gen.load(Ordering::Acquire) == gen
            && matches!(
                s.state.load(),
                State::Parked | State::Running | State::Starting | State::Nascent
            )
    }
}

/// A death notice for one lwC (the one waiting), written by the supervisor.
#[repr(C, align(16))]
pub(crate) struct Notice {
    /// Bumped by every notice (then the bell rings).
    pub(crate) seq: AtomicU32,
    /// The lwC that died.
    pub(crate) dead: AtomicU32,
    /// Its generation.
    pub(crate) dead_gen: AtomicU32,
}

/// The group's bell, on which every parked lwC sleeps beside its own inbox: one futex word for
/// two events. The supervisor rings it (wakes every sleeper, who each look at their own
/// notice) after posting notices; and the word holds the supervisor's thread id on its robust
/// futex list, so when the supervisor dies, however it dies, the kernel clears the id and wakes
/// a sleeper, who wakes the rest: a group whose supervisor is gone is noticed at once, with no
/// timer in any wait.
///
/// ```text
///   bit 31 FUTEX_WAITERS (always set: the kernel wakes only then)
///   bit 30 flipped at every ring (so a sleeper that read the word before a ring sees it moved)
///   bits 0..29 the supervisor's thread id; 0 once it died
/// ```
#[repr(C, align(64))]
pub(crate) struct Bell {
    pub(crate) word: AtomicU32,
}

/// Bit of the bell flipped by every ring.
const BELL_RUNG: u32 = 1 << 30;

impl Bell {
    /// The word's value now (what a sleeper expects it to stay).
    #[inline]
    pub(crate) fn value(&self) -> u32 {
        self.word.load(Ordering::SeqCst)
    }

    /// Whether `value` says the supervisor died.
    #[inline]
    pub(crate) fn says_gone(value: u32) -> bool {
        value & futex::ROBUST_TID_MASK == 0
    }

    /// Wakes every sleeper (the supervisor, after posting notices).
    pub(crate) fn ring(&self) {
        self.word.fetch_xor(BELL_RUNG, Ordering::SeqCst);
        futex::wake(&self.word, i32::MAX as u32);
    }
}

/// The notice board: the bell, then one notice per slot.
#[repr(C)]
pub(crate) struct Notices {
    pub(crate) bell: Bell,
    pub(crate) notices: [Notice; CAPACITY],
}

// SAFETY: atomics only; all-zero is a board without notices.
unsafe impl SharedZeroed for Notices {}

impl Notices {
    /// The notice of slot `id`.
    #[inline]
    pub(crate) fn of(&self, id: u32) -> &Notice {
        &self.notices[id as usize % CAPACITY]
    }

    /// Tells lwC `to` (the supervisor only: no lwC can write this board) that lwC
    /// `dead`/`dead_gen` died. It hears of it when the bell rings next.
    pub(crate) fn post(&self, to: u32, dead: u32, dead_gen: u32) {
        let n = self.of(to);
        n.dead.store(dead, Ordering::Relaxed);
        n.dead_gen.store(dead_gen, Ordering::Relaxed);
        n.seq.fetch_add(1, Ordering::Release);
    }

    /// The lwC the last notice of `id` names.
    pub(crate) fn read(&self, id: u32) -> (u32, u32) {
        let n = self.of(id);
        (
            n.dead.load(Ordering::Acquire),
            n.dead_gen.load(Ordering::Acquire),
        )
    }
}

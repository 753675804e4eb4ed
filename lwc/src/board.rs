//! The switchboard: one MAP_SHARED mapping, made when the group starts and inherited by every
//! lwC, holding a slot per lwC. A switch writes the target's mailbox and wakes its word.
//!
//! ```text
//!   Board ─ slots[CAPACITY] ┬ state  FREE → STARTING | NASCENT → PARKED ⇄ RUNNING → DISCARDED | EXITED | DEAD
//!                           ├ word   0 idle · 1 wake pending · 2 sleeping in futex
//!                           ├ gen    bumped on every reuse: stale descriptors see a new gen
//!                           ├ pid, parent
//!                           └ mailbox: kind, caller (+gen), args[6]   (one cache line)
//! ```
//!
//! The board carries control only (who runs next, with which six words); no lwC's private data
//! ever passes through it. Memory and file descriptors cross between lwCs only through the
//! kernel (fork, memfds, SCM_RIGHTS on control sockets).

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// Slots in a group: the most lwCs alive at once.
pub(crate) const CAPACITY: usize = 16 * 1024;
const _: () = assert!(CAPACITY < NO_CALLER as usize);
const _: () = assert!(
    std::mem::offset_of!(Slot, gen) == 64,
    "the hand-off fields fill the first cache line"
);

/// Slot states.
pub(crate) mod state {
    pub(crate) const FREE: u32 = 0;
    pub(crate) const STARTING: u32 = 1;
    pub(crate) const PARKED: u32 = 2;
    pub(crate) const RUNNING: u32 = 3;
    pub(crate) const DISCARDED: u32 = 4;
    pub(crate) const EXITED: u32 = 5;
    pub(crate) const DEAD: u32 = 6;
    pub(crate) const CLOSING: u32 = 7;
    /// Created without an acknowledgement (its setup cannot fail) and still setting itself
    /// up: it takes messages as if parked (a poster moves it to RUNNING) and reads them once
    /// set up.
    pub(crate) const NASCENT: u32 = 8;
}

/// Wake-word values.
pub(crate) mod word {
    pub(crate) const IDLE: u32 = 0;
    pub(crate) const WOKEN: u32 = 1;
    pub(crate) const SLEEPING: u32 = 2;
}

/// Mailbox message kinds.
pub(crate) mod kind {
    /// An ordinary switch (or the first switch into a new lwC).
    pub(crate) const SWITCH: u32 = 1;
    /// The caller switched and is gone (discard switch).
    pub(crate) const DISCARD: u32 = 2;
    /// A service request (syscall, overlay) waits on the target's control socket.
    pub(crate) const SERVICE: u32 = 3;
    /// The target finished a service request.
    pub(crate) const SERVICE_DONE: u32 = 4;
    /// The lwC we handed control to died; `args[0]` is its slot.
    pub(crate) const TARGET_DIED: u32 = 5;
    /// A new lwC finished applying its spec.
    pub(crate) const CREATE_ACK: u32 = 6;
    /// A new lwC failed applying its spec: `args[0]` = step code, `args[1]` = errno.
    pub(crate) const CREATE_FAILED: u32 = 7;
    /// Close: the parked lwC must exit now.
    pub(crate) const TERMINATE: u32 = 8;
    /// A rollback into a snapshot: the caller is gone; resume as the snapshot.
    pub(crate) const ROLLBACK: u32 = 9;
    /// The creator asks us to connect our control socket to its listener; `args[0]` is the
    /// listener's name nonce.
    pub(crate) const CONNECT: u32 = 10;
    /// The creator gave up its overlay and syscall rights: accept no control socket any more.
    pub(crate) const REVOKE: u32 = 11;
}

/// One lwC's slot: two cache lines. The first holds everything a switch writes and the target
/// reads (state, wake word, mailbox), so a hand-off moves one line between CPUs; the second
/// holds what changes rarely.
#[repr(C, align(64))]
pub(crate) struct Slot {
    pub(crate) state: AtomicU32,
    pub(crate) word: AtomicU32,
    /// Mailbox: kind (high 8 bits) and caller slot (low 24 bits).
    kind_caller: AtomicU32,
    caller_gen: AtomicU32,
    pub(crate) args: [AtomicU64; 6],
    // ---- second cache line ----
    pub(crate) gen: AtomicU32,
    pub(crate) pid: AtomicI32,
    pub(crate) parent: AtomicU32,
    pub(crate) exit_code: AtomicI32,
    /// Discarded children of this lwC that it still has to reap.
    pub(crate) zombies: AtomicU32,
    /// The lwC this one handed control to and waits on while parked (NO_LWC if none): news
    /// of another lwC's death is not for it. With [`HEARS_DEATH_ITSELF`] set, it learns of
    /// that lwC's death by itself (a monitor, from its sandbox's seccomp listener).
    pub(crate) awaiting: AtomicU32,
}

/// Flag in [`Slot::awaiting`]: the waiter needs no death notice.
pub(crate) const HEARS_DEATH_ITSELF: u32 = 1 << 31;
const _: () = assert!(CAPACITY < HEARS_DEATH_ITSELF as usize);

/// The caller field's value for "no lwC" (24 bits).
const NO_CALLER: u32 = 0x00FF_FFFF;

/// The shared switchboard of a group.
#[repr(C)]
pub(crate) struct Board {
    /// Slots ever used (the supervisor scans `0..high_water`).
    pub(crate) high_water: AtomicU32,
    /// Pid of the supervisor (the group's original process).
    pub(crate) supervisor: AtomicI32,
    pub(crate) slots: [Slot; CAPACITY],
}

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
            if s.state
                .compare_exchange(
                    state::FREE,
                    state::STARTING,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                let gen = s.gen.fetch_add(1, Ordering::AcqRel).wrapping_add(1);
                s.pid.store(0, Ordering::Relaxed);
                s.parent.store(parent, Ordering::Relaxed);
                s.kind_caller.store(NO_CALLER, Ordering::Relaxed);
                s.word.store(word::IDLE, Ordering::Relaxed);
                s.exit_code.store(0, Ordering::Relaxed);
                s.zombies.store(0, Ordering::Relaxed);
                s.awaiting.store(crate::local::NO_LWC, Ordering::Relaxed);
                self.high_water.fetch_max(id as u32 + 1, Ordering::AcqRel);
                return Some((id as u32, gen));
            }
        }
        None
    }
}

fn decode_caller(kind_caller: u32) -> u32 {
    match kind_caller & NO_CALLER {
        NO_CALLER => crate::local::NO_LWC,
        c => c,
    }
}

impl Slot {
    /// Who last switched into this lwC (NO_LWC if nobody).
    pub(crate) fn caller(&self) -> u32 {
        decode_caller(self.kind_caller.load(Ordering::Acquire))
    }

    /// Writes the mailbox: who is switching in, why, with which words.
    #[inline]
    pub(crate) fn post(&self, kind: u32, caller: u32, caller_gen: u32, args: &[u64; 6]) {
        let caller = if caller as usize >= CAPACITY {
            NO_CALLER
        } else {
            caller
        };
        self.kind_caller
            .store(kind << 24 | caller, Ordering::Relaxed);
        self.caller_gen.store(caller_gen, Ordering::Relaxed);
        for (a, v) in self.args.iter().zip(args) {
            a.store(*v, Ordering::Relaxed);
        }
    }

    /// Reads the mailbox and wipes its words: every non-sandboxed lwC can read the board, and
    /// the words two lwCs exchanged must not stay there for one that gets control later.
    #[inline]
    pub(crate) fn take(&self) -> (u32, u32, u32, [u64; 6]) {
        let message = self.read();
        self.clear_args();
        message
    }

    /// Wipes the mailbox's words.
    #[inline]
    pub(crate) fn clear_args(&self) {
        for a in &self.args {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// Reads the mailbox (after the wake word was seen WOKEN with Acquire).
    #[inline]
    pub(crate) fn read(&self) -> (u32, u32, u32, [u64; 6]) {
        let mut args = [0u64; 6];
        for (v, a) in args.iter_mut().zip(&self.args) {
            *v = a.load(Ordering::Relaxed);
        }
        let kc = self.kind_caller.load(Ordering::Relaxed);
        (
            kc >> 24,
            decode_caller(kc),
            self.caller_gen.load(Ordering::Relaxed),
            args,
        )
    }
}

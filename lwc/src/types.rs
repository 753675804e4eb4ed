//! The vocabulary of the crate: the values every layer passes around (descriptors, the six
//! words of a switch, rights, address ranges, hand-off modes, slot states and message kinds).
//! It imports nothing of the crate but the error type and the page size, so every other module
//! can use it without an upward arrow.

use crate::sys::page::page_size;
use crate::{Error, Result};
use std::time::Duration;

/// The slot id meaning "no lwC".
pub(crate) const NO_LWC: u32 = u32::MAX;

/// A descriptor for an lwC: a capability whose rights live in the holder's descriptor table
/// (see [`crate::restrict`]). Copying the value copies the name, not extra rights: a hand-off
/// needs the pages the runtime mapped for that pair of lwCs, which only the two hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lwc {
    pub(crate) id: u32,
    pub(crate) gen: u32,
}

impl Lwc {
    /// The lwC's slot number in its group (stable while it lives; reused after).
    pub fn id(&self) -> u32 {
        self.id
    }
}

/// Six register-sized words passed with a switch, as in the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Args(pub [u64; 6]);

impl Args {
    /// All zero.
    pub const NONE: Args = Args([0; 6]);
}

/// What a switch (or a trapped system call) delivered to the lwC that was switched into.
#[derive(Debug, Clone, Copy)]
pub struct Switched {
    /// Who switched to us (can be switched back to).
    pub caller: Lwc,
    /// The words the caller passed (for a trap: the system call's arguments).
    pub args: Args,
    /// Set when the caller is a sandboxed lwC whose system call was trapped to us: answer it
    /// with [`crate::answer`].
    pub trap: Option<Trap>,
}

/// What `create` returned in this lwC.
#[derive(Debug)]
pub enum Created {
    /// We are the creator; this is the new lwC, parked at its `create` call.
    Parent(Lwc),
    /// We are the new lwC, run for the first time by `caller`'s switch.
    Child {
        /// Who switched into us first.
        caller: Lwc,
        /// What it passed.
        args: Args,
    },
}

/// A system call of a sandboxed lwC, stopped before it ran, waiting for its monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trap {
    /// The sandboxed lwC.
    pub lwc: Lwc,
    /// System call number (`libc::SYS_*`).
    pub nr: i64,
    /// Its six arguments, raw (pointers are addresses in the sandbox).
    pub args: [u64; 6],
    pub(crate) id: u64,
}

/// How a monitor answers a trapped system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Run the call in the sandbox, as asked (the kernel runs it in the sandbox's context).
    Run,
    /// Do not run it; it returns this value.
    Return(i64),
    /// Do not run it; it fails with this errno.
    Deny(i32),
}

/// What a descriptor allows. Rights only narrow ([`crate::restrict`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rights(u8);

impl Rights {
    /// No right at all.
    pub const NONE: Rights = Rights(0);
    /// Switch into the lwC.
    pub const SWITCH: Rights = Rights(1);
    /// Map the lwC's memory into the caller ([`crate::overlay`]).
    pub const OVERLAY: Rights = Rights(2);
    /// Run system calls in the lwC ([`crate::syscall`]).
    pub const SYSCALL: Rights = Rights(4);
    /// Every right (what a creator holds on its child).
    pub const ALL: Rights = Rights(7);

    /// Whether every right of `other` is in `self`.
    pub fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }

    /// The rights in both.
    pub fn intersection(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }

    /// Whether either service right (OVERLAY, SYSCALL) is in `self`.
    pub(crate) fn any_service(self) -> bool {
        self.contains(Rights::OVERLAY) || self.contains(Rights::SYSCALL)
    }

    /// The rights as one word (to tell a target which ones its creator still holds).
    pub(crate) fn bits(self) -> u64 {
        self.0 as u64
    }

    /// The rights a word names (unknown bits are dropped).
    pub(crate) fn from_bits(bits: u64) -> Rights {
        Rights((bits & Rights::ALL.0 as u64) as u8)
    }

    /// The name of a single right, for error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Rights::SWITCH => "switch",
            Rights::OVERLAY => "overlay",
            Rights::SYSCALL => "syscall",
            _ => "overlay/syscall",
        }
    }
}

impl std::ops::BitOr for Rights {
    type Output = Rights;
    fn bitor(self, rhs: Rights) -> Rights {
        Rights(self.0 | rhs.0)
    }
}

/// An address range: whole pages, page-aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte (page-aligned).
    pub addr: usize,
    /// Length in bytes (whole pages).
    pub len: usize,
}

impl Region {
    /// The smallest page-aligned region that contains `len` bytes at `addr`.
    pub fn containing(addr: usize, len: usize) -> Region {
        let p = page_size();
        let start = addr / p * p;
        let end = (addr + len.max(1)).div_ceil(p) * p;
        Region {
            addr: start,
            len: end - start,
        }
    }

    /// One past the last byte.
    pub fn end(&self) -> usize {
        self.addr + self.len
    }

    pub(crate) fn validate(&self, op: &'static str) -> Result<()> {
        let p = page_size();
        if self.len == 0 || !self.addr.is_multiple_of(p) || !self.len.is_multiple_of(p) {
            return Err(Error::Invalid {
                op,
                reason: format!(
                    "region {:#x}+{:#x} is not whole, page-aligned pages",
                    self.addr, self.len
                ),
            });
        }
        if self.addr.checked_add(self.len).is_none() {
            return Err(Error::Invalid {
                op,
                reason: "region wraps around the address space".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn overlaps(&self, other: &Region) -> bool {
        self.addr < other.end() && other.addr < self.end()
    }

    pub(crate) fn contains(&self, other: &Region) -> bool {
        self.addr <= other.addr && other.end() <= self.end()
    }
}

/// How a parked lwC waits to be switched into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handoff {
    /// Sleep in the kernel on a futex (the default). All lwCs of the group share one CPU, so a
    /// switch is a same-core wake-up: the cheapest blocking hand-off the kernel offers.
    #[default]
    Block,
    /// Busy-wait on the word: a switch costs cache-line transfers instead of a kernel wake-up.
    /// Needs the parties on different CPUs (a group with two CPUs or more), and burns a CPU per
    /// parked lwC.
    Spin,
    /// Spin for at most `spin`, then sleep as [`Handoff::Block`].
    Adaptive {
        /// How long to spin before sleeping.
        spin: Duration,
    },
}

/// The life of a slot on the switchboard.
///
/// ```text
///   FREE → STARTING | NASCENT → PARKED ⇄ RUNNING → DISCARDED | EXITED | DEAD → FREE
///                                 └→ CLOSING (claimed by `close`)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum State {
    /// Unused.
    Free = 0,
    /// Forked, applying its spec; its creator waits for the outcome.
    Starting = 1,
    /// Waiting for a hand-off.
    Parked = 2,
    /// Holding the thread of control.
    Running = 3,
    /// Switched away for good (discard switch); its process exits.
    Discarded = 4,
    /// Its process ended the program normally.
    Exited = 5,
    /// Its process is gone (or its setup failed); the supervisor frees the slot.
    Dead = 6,
    /// Claimed by `close`: nothing switches into it any more.
    Closing = 7,
    /// Created without an acknowledgement (its setup cannot fail) and still setting itself
    /// up: messages for it wait on its links until it parks.
    Nascent = 8,
}

impl State {
    /// The state a stored word names (an unknown word reads as DEAD: a slot nobody can use).
    pub(crate) fn from_word(w: u32) -> State {
        match w {
            0 => State::Free,
            1 => State::Starting,
            2 => State::Parked,
            3 => State::Running,
            4 => State::Discarded,
            5 => State::Exited,
            7 => State::Closing,
            8 => State::Nascent,
            _ => State::Dead,
        }
    }

    /// Whether an lwC in this state still has a live process that the group must end.
    pub(crate) fn live(self) -> bool {
        matches!(
            self,
            State::Starting | State::Nascent | State::Parked | State::Running | State::Closing
        )
    }
}

/// Why one lwC hands control to another: the kind of a message on a link (and, for a sandbox,
/// the number its marker call adds to the marker base).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Kind {
    /// An ordinary switch (or the first switch into a new lwC).
    Switch = 1,
    /// The caller switched and is gone (discard switch).
    Discard = 2,
    /// A service request (syscall, overlay) waits on the target's control socket.
    Service = 3,
    /// The target finished a service request.
    ServiceDone = 4,
    /// A new lwC finished applying its spec.
    CreateAck = 6,
    /// A new lwC failed applying its spec: `args[0]` = step code, `args[1]` = errno.
    CreateFailed = 7,
    /// Close: the parked lwC must exit now.
    Terminate = 8,
    /// A rollback into a snapshot: the caller is gone; resume as the snapshot.
    Rollback = 9,
    /// The creator asks us to connect our control socket to its listener; `args[0]` is the
    /// listener's name nonce.
    Connect = 10,
    /// The creator narrowed its rights on us: `args[0]` holds the rights it keeps.
    Revoke = 11,
    /// The target refused a switch: the caller gave up its switch right.
    Refused = 12,
    /// To a snapshot pool's factory: a spare copy was taken; make another (no reply).
    Refill = 13,
}

impl Kind {
    /// The kind a stored word names.
    pub(crate) fn from_word(w: u32) -> Option<Kind> {
        Some(match w {
            1 => Kind::Switch,
            2 => Kind::Discard,
            3 => Kind::Service,
            4 => Kind::ServiceDone,
            6 => Kind::CreateAck,
            7 => Kind::CreateFailed,
            8 => Kind::Terminate,
            9 => Kind::Rollback,
            10 => Kind::Connect,
            11 => Kind::Revoke,
            12 => Kind::Refused,
            13 => Kind::Refill,
            _ => return None,
        })
    }
}

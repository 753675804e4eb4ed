//! Switching: the coroutine hand-off between lwCs.
//!
//! A switch posts `(caller, args)` in the target's mailbox, marks the caller PARKED and the
//! target RUNNING, wakes the target and parks the caller on its own word. The caller's call
//! returns when some lwC switches back to it.

use crate::board::{kind, state, Slot};
use crate::handoff;
use crate::local::{self, NO_LWC};
use crate::spec::Rights;
use crate::sys::process;
use crate::{service, systrap, Error, Result};
use std::sync::atomic::Ordering;

/// A descriptor for an lwC: a capability whose rights live in the holder's descriptor table
/// (see [`crate::restrict`]). Copying the value copies the name, not extra rights.
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
    pub trap: Option<crate::Trap>,
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

/// Why a parked lwC was woken.
pub(crate) enum Wake {
    Switch { caller: Lwc, args: Args },
    ServiceDone,
    CreateAck,
    CreateFailed { step: u64, errno: i32 },
}

impl Wake {
    /// The error for a wake that is not the one `op` waits for. A nascent lwC whose setup
    /// failed answers the first message it gets with the failure.
    pub(crate) fn unexpected(self, op: &'static str) -> Error {
        match self {
            Wake::CreateFailed { step, errno } => crate::create::setup_error(step, errno),
            _ => Error::Unsupported {
                op,
                reason: "unexpected hand-off message",
            },
        }
    }
}

/// The descriptor of the calling lwC. Outside a group it names no lwC: every call on it fails.
pub fn current() -> Lwc {
    let (id, gen) = local::me();
    Lwc { id, gen }
}

pub(crate) fn slot_of(id: u32) -> Result<&'static Slot> {
    local::board()
        .map(|b| b.slot(id))
        .ok_or(Error::Dead { op: "lwc", lwc: id })
}

/// Checks that we hold `right` on `to`; returns whether we are its monitor.
pub(crate) fn check_right(op: &'static str, to: &Lwc, right: Rights) -> Result<bool> {
    local::with(|l| match l.entry(to.id, to.gen) {
        Some(e) if e.rights.contains(right) => Ok(e.monitor.is_some()),
        Some(_) => Err(Error::NoRight {
            op,
            lwc: to.id,
            right: right_name(right),
        }),
        None => {
            let alive = local::board().is_some_and(|b| {
                let s = b.slot(to.id);
                s.gen.load(Ordering::Relaxed) == to.gen
                    && matches!(
                        s.state.load(Ordering::Relaxed),
                        state::PARKED | state::RUNNING | state::STARTING | state::NASCENT
                    )
            });
            Err(if alive {
                Error::NoRight {
                    op,
                    lwc: to.id,
                    right: right_name(right),
                }
            } else {
                Error::Dead { op, lwc: to.id }
            })
        }
    })
}

fn right_name(r: Rights) -> &'static str {
    if r == Rights::SWITCH {
        "switch"
    } else if r == Rights::OVERLAY {
        "overlay"
    } else {
        "syscall"
    }
}

/// Switches to `to`, passing `args`; returns when some lwC switches back.
///
/// Coroutine semantics: we park exactly here, `to` resumes where it parked, and its pending
/// `create`/`switch` call returns `Switched { caller: <us>, args }`.
///
/// ```no_run
/// # use lwc::{Args, Created, Options, Spec};
/// // SAFETY: single-threaded program.
/// match unsafe { lwc::create(&Spec::new(), &Options::new()) }.unwrap() {
///     Created::Parent(child) => {
///         let back = lwc::switch(&child, Args([1, 2, 3, 0, 0, 0])).unwrap();
///         assert_eq!(back.args.0[0], 2);
///     }
///     Created::Child { caller, args } => {
///         let reply = Args([args.0[0] + 1, 0, 0, 0, 0, 0]);
///         lwc::switch(&caller, reply).unwrap();
///     }
/// }
/// ```
///
/// # Errors
/// [`Error::Dead`] when `to` is gone (or dies before switching back to us), [`Error::NoRight`]
/// without the switch right, [`Error::NotParked`] when `to` is ourselves,
/// [`Error::Unsupported`] from a sandboxed lwC to an lwC other than its monitor.
///
/// # References
/// Litton et al., OSDI '16, §3 (lwSwitch).
pub fn switch(to: &Lwc, args: Args) -> Result<Switched> {
    const OP: &str = "lwc::switch";
    let (me, _) = local::me();
    if to.id == me {
        return Err(Error::NotParked { op: OP, lwc: to.id });
    }
    let monitor = check_right(OP, to, Rights::SWITCH)?;
    if monitor {
        return systrap::monitor_switch(to, kind::SWITCH, args);
    }
    if let Some(m) = local::with(|l| l.monitor_of_me) {
        if m != to.id {
            return Err(Error::Unsupported {
                op: OP,
                reason: "a sandboxed (SYSTRAP) lwC switches only to its monitor",
            });
        }
        return systrap::sandbox_park(kind::SWITCH, args);
    }
    hand_to(OP, to, kind::SWITCH, args, state::PARKED)?;
    match wait_turn(OP)? {
        Wake::Switch { caller, args } => Ok(Switched {
            caller,
            args,
            trap: None,
        }),
        other => Err(other.unexpected(OP)),
    }
}

/// Switches to `to` and drops the caller for good (its process exits). Returns only when the
/// switch could not be made; then the caller lives on.
///
/// The dropped lwC's stdio buffers are not flushed (Rust's stdout flushes at each newline;
/// flush partial lines yourself before discarding).
///
/// # References
/// Litton et al., OSDI '16, §3 (LWC_DISCARD).
pub fn discard_switch(to: &Lwc, args: Args) -> Error {
    discard_with(to, kind::DISCARD, args, true)
}

/// A discard switch; `check` is false when the runtime itself holds the capability (a
/// snapshot pool names its copies in memory shared by them).
pub(crate) fn discard_with(to: &Lwc, why: u32, args: Args, check: bool) -> Error {
    const OP: &str = "lwc::discard_switch";
    let (me, _) = local::me();
    if to.id == me {
        return Error::NotParked { op: OP, lwc: to.id };
    }
    let monitor = if check {
        match check_right(OP, to, Rights::SWITCH) {
            Ok(m) => m,
            Err(e) => return e,
        }
    } else {
        false
    };
    if monitor || local::with(|l| l.monitor_of_me.is_some()) {
        return systrap::discard(args);
    }
    // No stdio flush here: _exit drops what the lwC buffered without a newline (see the
    // docs), and touching stdout's lock would cost a copy-on-write fault per discard.
    if let Err(e) = hand_to(OP, to, why, args, state::DISCARDED) {
        return e;
    }
    process::exit_now(0)
}

/// Posts a message to parked `to`, marks us `me_after`, wakes `to`. Does not wait.
pub(crate) fn hand_to(
    op: &'static str,
    to: &Lwc,
    why: u32,
    args: Args,
    me_after: u32,
) -> Result<()> {
    let board = local::board().ok_or(Error::Dead { op, lwc: to.id })?;
    let (me, my_gen) = local::me();
    let t = board.slot(to.id);
    if t.gen.load(Ordering::Acquire) != to.gen {
        return Err(Error::Dead { op, lwc: to.id });
    }
    let mine = board.slot(me);
    mine.awaiting.store(to.id, Ordering::Relaxed);
    mine.state.store(me_after, Ordering::Release);
    if let Err(s) = take_turn(t) {
        mine.awaiting.store(NO_LWC, Ordering::Relaxed);
        mine.state.store(state::RUNNING, Ordering::Release);
        return Err(if s == state::RUNNING || s == state::STARTING {
            Error::NotParked { op, lwc: to.id }
        } else {
            Error::Dead { op, lwc: to.id }
        });
    }
    t.post(why, me, my_gen, &args.0);
    handoff::wake(t);
    Ok(())
}

/// Moves `t` from PARKED (or NASCENT: it reads the message once set up) to RUNNING, so that we
/// alone write its mailbox. Err with the state that refused.
#[inline]
fn take_turn(t: &Slot) -> std::result::Result<(), u32> {
    let mut from = state::PARKED;
    loop {
        match t
            .state
            .compare_exchange(from, state::RUNNING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => return Ok(()),
            // A nascent lwC parks by itself meanwhile: try again from what it is now.
            Err(s) if s != from && (s == state::PARKED || s == state::NASCENT) => from = s,
            Err(s) => return Err(s),
        }
    }
}

/// Parks until a message for the program arrives; serves runtime requests meanwhile.
pub(crate) fn wait_turn(op: &'static str) -> Result<Wake> {
    let board = local::board().ok_or(Error::Dead { op, lwc: NO_LWC })?;
    let (me, _) = local::me();
    let mine = board.slot(me);
    let mode = local::with(|l| l.handoff);
    loop {
        handoff::park(mine, mode);
        let (why, caller, caller_gen, args) = mine.take();
        let caller_lwc = Lwc {
            id: caller,
            gen: caller_gen,
        };
        if mine.zombies.load(Ordering::Relaxed) != 0 {
            service::reap_children(mine);
        }
        match why {
            kind::SWITCH | kind::DISCARD | kind::ROLLBACK => {
                if why == kind::DISCARD {
                    service::reap_if_child(&caller_lwc);
                } else {
                    local::with(|l| l.learn_caller(caller, caller_gen));
                }
                return Ok(Wake::Switch {
                    caller: caller_lwc,
                    args: Args(args),
                });
            }
            kind::SERVICE => service::serve(&caller_lwc),
            kind::CONNECT => service::accept_connect(&caller_lwc, args[0]),
            kind::REVOKE => service::revoke(&caller_lwc),
            kind::SERVICE_DONE => return Ok(Wake::ServiceDone),
            kind::CREATE_ACK => return Ok(Wake::CreateAck),
            kind::CREATE_FAILED => {
                return Ok(Wake::CreateFailed {
                    step: args[0],
                    errno: args[1] as i32,
                })
            }
            kind::TARGET_DIED => {
                let dead = args[0] as u32;
                if mine.awaiting.load(Ordering::Relaxed) == dead {
                    mine.awaiting.store(NO_LWC, Ordering::Relaxed);
                    return Err(Error::Dead { op, lwc: dead });
                }
                // A stale notice about an lwC we no longer wait for: park again.
                mine.state.store(state::PARKED, Ordering::Release);
            }
            kind::TERMINATE => process::exit_now(0),
            _ => mine.state.store(state::PARKED, Ordering::Release),
        }
    }
}

/// Marks parked `l` CLOSING, so nothing switches into it any more. False when it is not
/// parked (gone, or running).
pub(crate) fn claim_for_close(l: &Lwc) -> bool {
    slot_of(l.id).is_ok_and(|s| {
        s.gen.load(Ordering::Acquire) == l.gen
            && s.state
                .compare_exchange(
                    state::PARKED,
                    state::CLOSING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    })
}

/// Asks parked `l` (not a sandbox) to exit. False when it was not parked.
pub(crate) fn terminate_parked(l: &Lwc) -> bool {
    if !claim_for_close(l) {
        return false;
    }
    if let Ok(s) = slot_of(l.id) {
        let (me, my_gen) = local::me();
        s.post(kind::TERMINATE, me, my_gen, &[0; 6]);
        handoff::wake(s);
    }
    true
}

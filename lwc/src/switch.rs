//! Switching: the coroutine hand-off between lwCs (the public verbs).
//!
//! A switch posts `args` on the caller's link with the target, marks the caller PARKED, rings
//! the target and parks the caller on its own inbox. The caller's call returns when some lwC
//! switches back to it. The mechanism is `deliver` and `handoff`; the target's side is
//! `turn`.

use crate::deliver::{self, hand_to};
use crate::local::{self, check_right};
use crate::sys::process;
use crate::turn::{wait_turn, Wake};
use crate::types::{Args, Kind, Lwc, Rights, State, Switched};
use crate::{systrap, Error};

/// The descriptor of the calling lwC. Outside a group it names no lwC: every call on it fails.
pub fn current() -> Lwc {
    local::current()
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
pub fn switch(to: &Lwc, args: Args) -> crate::Result<Switched> {
    const OP: &str = "lwc::switch";
    let (me, _) = local::me();
    if to.id == me {
        return Err(Error::NotParked { op: OP, lwc: to.id });
    }
    let monitor = check_right(OP, to, Rights::SWITCH)?;
    if monitor {
        return systrap::monitor_switch(to, Kind::Switch, args);
    }
    if let Some(m) = local::with(|l| l.monitor_of_me) {
        if m != to.id {
            return Err(Error::Unsupported {
                op: OP,
                reason: "a sandboxed (SYSTRAP) lwC switches only to its monitor",
            });
        }
        return systrap::sandbox_park(Kind::Switch, args);
    }
    hand_to(OP, to, Kind::Switch, args, State::Parked)?;
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
    discard_with(to, Kind::Discard, args, true)
}

/// A discard switch; `check` is false when the runtime itself holds the capability (a
/// snapshot pool names its copies in memory shared by them; the link is still needed).
pub(crate) fn discard_with(to: &Lwc, why: Kind, args: Args, check: bool) -> Error {
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
    if let Err(e) = hand_to(OP, to, why, args, State::Discarded) {
        return e;
    }
    if why == Kind::Rollback {
        // Our exit unmaps all our memory (milliseconds for a GiB): let the copy we resumed
        // run first, on the group's CPU, while it happens elsewhere or after.
        local::with(|l| {
            if l.other_cpus.is_empty() {
                process::lowest_priority();
            } else {
                let _ = process::pin(&l.other_cpus);
            }
        });
    }
    process::exit_now(0)
}

/// Marks parked `l` CLOSING, so nothing switches into it any more. False when it is not
/// parked (gone, or running).
pub(crate) fn claim_for_close(l: &Lwc) -> bool {
    local::board().is_some_and(|b| {
        let s = b.slot(l.id);
        s.gen.load(std::sync::atomic::Ordering::Acquire) == l.gen
            && s.state.cas(State::Parked, State::Closing).is_ok()
    })
}

/// Asks parked `l` (not a sandbox) to exit. False when it was not parked or we hold no link.
pub(crate) fn terminate_parked(l: &Lwc) -> bool {
    claim_for_close(l) && deliver::tell(l, Kind::Terminate, Args::NONE)
}

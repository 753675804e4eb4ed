//! Moving one message between two lwCs: post it on our link with the target and park
//! ([`hand_to`]), or wait for the next message or death notice ([`receive`]).
//!
//! The switchboard records only bookkeeping here (our own state and whom we await, for the
//! supervisor); the message itself travels on the link's page (see `handoff`).

use crate::handoff::{self, Message};
use crate::local::{self, Local};
use crate::types::{Args, Kind, Lwc, State};
use crate::{Error, Result};
use std::sync::atomic::Ordering;

/// Posts `kind`/`args` to parked `to`, marks us `me_after` (awaiting `to`), rings `to`. Does
/// not wait.
///
/// # Errors
/// [`Error::Dead`] when `to` is gone, [`Error::NoRight`] when we hold no link with it. (A
/// target that is not parked is the caller itself, refused before, or one that cannot take
/// control: a message for it waits on the link.)
pub(crate) fn hand_to(
    op: &'static str,
    to: &Lwc,
    kind: Kind,
    args: Args,
    me_after: State,
) -> Result<()> {
    let board = local::board().ok_or(Error::Dead { op, lwc: to.id })?;
    let t = board.slot(to.id);
    let mine = board.slot(local::me().0);
    // Whom we await first, then whether it lives: the supervisor bumps a dead lwC's
    // generation, then looks for its waiters, so one of the two sees the other.
    mine.awaiting.store(to.id, Ordering::SeqCst);
    let refused = if t.gen.load(Ordering::SeqCst) != to.gen {
        Some(Error::Dead { op, lwc: to.id })
    } else {
        local::with(|l| {
            l.awaiting = Some(*to);
            mine.state.store(me_after);
            let posted = l
                .entry(to.id, to.gen)
                .and_then(|e| e.link.as_ref())
                .is_some_and(|link| link.post(kind, &args.0));
            (!posted).then_some(Error::NoRight {
                op,
                lwc: to.id,
                right: "switch",
            })
        })
    };
    if let Some(e) = refused {
        local::with(|l| l.awaiting = None);
        mine.awaiting.store(crate::types::NO_LWC, Ordering::Relaxed);
        mine.state.store(State::Running);
        return Err(e);
    }
    Ok(())
}

/// Posts `kind`/`args` to `to` without parking or awaiting it (a close, a pool's refill).
/// False without a link.
pub(crate) fn tell(to: &Lwc, kind: Kind, args: Args) -> bool {
    local::with(|l| {
        l.entry(to.id, to.gen)
            .and_then(|e| e.link.as_ref())
            .is_some_and(|link| link.post(kind, &args.0))
    })
}

/// What woke us.
pub(crate) enum Incoming {
    /// A message on the link with `from`.
    Message { from: Lwc, msg: Message },
    /// The lwC we handed control to died (the supervisor's notice).
    Died(Lwc),
}

/// Parks until a message arrives on one of our links, or the lwC we await dies. A ring with no
/// message behind it (any holder of our inbox can ring it) and a notice about an lwC we do not
/// await are ignored. On return we hold control: RUNNING (unless claimed by `close`), awaiting
/// nobody.
pub(crate) fn receive(op: &'static str) -> Result<Incoming> {
    let board = local::board().ok_or(Error::Dead {
        op,
        lwc: crate::types::NO_LWC,
    })?;
    let notices = local::notices().ok_or(Error::Dead {
        op,
        lwc: crate::types::NO_LWC,
    })?;
    let me = local::me().0;
    let notice = &notices.of(me).seq;
    loop {
        let incoming = local::with(|l| {
            let inbox = l.inbox.as_ref()?;
            let pending = || {
                l.table
                    .iter()
                    .flatten()
                    .any(|e| e.link.as_ref().is_some_and(|k| k.pending()))
            };
            handoff::park(
                inbox,
                &notices.bell,
                notice,
                l.notices_seen,
                l.handoff,
                pending,
            );
            let hint = handoff::hint(inbox);
            if let Some((from, msg)) = find_message(l, hint) {
                return Some(Incoming::Message { from, msg });
            }
            let seq = notice.load(Ordering::Acquire);
            if seq != l.notices_seen {
                l.notices_seen = seq;
                let (dead, gen) = notices.read(me);
                let dead = Lwc { id: dead, gen };
                if l.awaiting == Some(dead) {
                    return Some(Incoming::Died(dead));
                }
            }
            None
        });
        let Some(incoming) = incoming else {
            if local::with(|l| l.inbox.is_none()) {
                return Err(Error::Dead {
                    op,
                    lwc: crate::types::NO_LWC,
                });
            }
            continue;
        };
        local::with(|l| l.awaiting = None);
        let mine = board.slot(me);
        mine.awaiting.store(crate::types::NO_LWC, Ordering::Relaxed);
        // A parked lwC takes control; one claimed by `close` stays CLOSING (it is told to exit).
        let _ = mine.state.cas(State::Parked, State::Running);
        return Ok(incoming);
    }
}

/// The message waiting on one of our links: first on the link the doorbell names, then on any.
fn find_message(l: &Local, hint: u32) -> Option<(Lwc, Message)> {
    let on = |id: usize| {
        let e = l.table.get(id)?.as_ref()?;
        let msg = e.link.as_ref()?.take()?;
        Some((
            Lwc {
                id: id as u32,
                gen: e.gen,
            },
            msg,
        ))
    };
    on(hint as usize).or_else(|| (0..l.table.len()).find_map(on))
}

//! Waiting for our turn: park until a message for the program arrives, serving the runtime's
//! own requests (syscall, overlay, connect, restrict) in between.

use crate::deliver::{self, hand_to, Incoming};
use crate::serve;
use crate::sys::process;
use crate::types::{Args, Kind, Lwc, State};
use crate::{local, Error, Result};
use std::sync::atomic::Ordering;

/// Why a parked lwC was woken, as far as the program is concerned.
pub(crate) enum Wake {
    Switch { caller: Lwc, args: Args },
    ServiceDone,
    CreateAck,
    CreateFailed { step: u64, errno: i32 },
    Refused { by: Lwc },
}

impl Wake {
    /// The error for a wake that is not the one `op` waits for. A nascent lwC whose setup
    /// failed answers the first message it gets with the failure.
    pub(crate) fn unexpected(self, op: &'static str) -> Error {
        match self {
            Wake::CreateFailed { step, errno } => Error::setup_failed(step, errno),
            Wake::Refused { by } => Error::NoRight {
                op,
                lwc: by.id,
                right: "switch",
            },
            _ => Error::Unsupported {
                op,
                reason: "unexpected hand-off message",
            },
        }
    }
}

/// Parks until a message for the program arrives; serves runtime requests meanwhile.
pub(crate) fn wait_turn(op: &'static str) -> Result<Wake> {
    loop {
        let (from, msg) = match deliver::receive(op)? {
            Incoming::Died(dead) => {
                return Err(Error::Dead { op, lwc: dead.id });
            }
            Incoming::Message { from, msg } => (from, msg),
        };
        if let Some(b) = local::board() {
            let mine = b.slot(local::me().0);
            if mine.zombies.load(Ordering::Relaxed) != 0 {
                serve::reap_children(mine);
            }
        }
        let args = msg.args;
        let Some(kind) = msg.kind else {
            local::set_state(State::Parked);
            continue;
        };
        match kind {
            Kind::Switch | Kind::Discard | Kind::Rollback => {
                if !serve::may_switch(&from) {
                    // Our creator gave up the switch right: refuse, whatever it posts.
                    if kind == Kind::Switch {
                        serve::hand_back(&from, Kind::Refused);
                    } else {
                        local::set_state(State::Parked);
                    }
                    continue;
                }
                if kind == Kind::Discard {
                    serve::reap_if_child(&from);
                }
                return Ok(Wake::Switch {
                    caller: from,
                    args: Args(args),
                });
            }
            Kind::Service => serve::serve(&from),
            Kind::Connect => serve::accept_connect(&from, args[0]),
            Kind::Revoke => serve::revoke(&from, crate::types::Rights::from_bits(args[0])),
            Kind::ServiceDone => return Ok(Wake::ServiceDone),
            Kind::CreateAck => return Ok(Wake::CreateAck),
            Kind::CreateFailed => {
                return Ok(Wake::CreateFailed {
                    step: args[0],
                    errno: args[1] as i32,
                })
            }
            Kind::Refused => return Ok(Wake::Refused { by: from }),
            // Only our creator closes us (a snapshot copy's creator is the taker, whose links
            // its other copies speak through).
            Kind::Terminate if serve::is_creator(&from) => process::exit_now(0),
            Kind::Terminate => local::set_state(State::Parked),
            // Only a pool's factory makes spares (it has its own loop): nothing to do here.
            Kind::Refill => local::set_state(State::Parked),
        }
    }
}

/// Hands control to `to` with `kind`, parks, and returns what woke us.
pub(crate) fn hand_and_wait(op: &'static str, to: &Lwc, kind: Kind, args: Args) -> Result<Wake> {
    hand_to(op, to, kind, args, State::Parked)?;
    wait_turn(op)
}

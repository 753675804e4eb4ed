//! The request handler: builds its state, then serves sessions on its channel and returns to
//! the pristine state between them, the way its [`Strategy`] says.
//!
//! | strategy | between two sessions | who says Ready |
//! |---|---|---|
//! | `none` | drops the session log, keeps the dirty state | the handler |
//! | `reinit` | drops the state, builds it again | the handler |
//! | `fork` | the worker exits; the pristine parent reaps it and forks the next | the new worker |
//! | `lwc-*` | `Snapshot::rollback`: execution resumes at `Snapshot::take` | the restored lwC |
//!
//! The handler runs in a process of its own (the driver forks it), pinned to one CPU; the lwC
//! strategies start an lwC group there, on that CPU, before the state is built, so the group's
//! supervisor and guardian hold none of it.

use lwc::{GroupConfig, Handoff};

use super::process::{self, SingleThreaded};
use super::protocol::{Channel, Message, Reply};
use super::state::State;
use super::{RollbackError, Strategy};
use crate::sys;

/// What a handler is asked to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerConfig {
    /// How it returns to the pristine state.
    pub strategy: Strategy,
    /// Bytes of state it builds at start.
    pub state_bytes: usize,
    /// Pages each request writes.
    pub pages_per_request: usize,
    /// The CPU it (and its lwC group) runs on.
    pub cpu: usize,
}

/// How a session ended.
enum End {
    /// The driver ended the session.
    Session,
    /// The driver said Quit.
    Quit,
}

/// Exit code of a `fork` worker whose driver said Quit.
const WORKER_QUIT: i32 = 3;

/// Serves one session: requests and probes until the driver ends the session or quits.
fn session(state: &mut State, chan: &Channel, pages: usize) -> Result<End, RollbackError> {
    loop {
        let reply = match chan.recv_message()? {
            Message::Request { seed } => state.request(seed, pages),
            Message::Mark { value } => {
                state.mark(value);
                0
            }
            Message::Peek { value } => state.peek(value),
            Message::Checksum => state.checksum(),
            Message::EndSession => return Ok(End::Session),
            Message::Quit => return Ok(End::Quit),
        };
        chan.send_reply(Reply::Value(reply))?;
    }
}

/// Runs the handler on `chan` until the driver says Quit. Call it in a process of its own, with
/// one thread (the lwC strategies start a group in it, `fork` forks per session).
pub fn serve(cfg: &HandlerConfig, chan: &Channel) -> Result<(), RollbackError> {
    let pages = cfg.pages_per_request;
    match cfg.strategy.lwc() {
        Some(strategy) => {
            lwc::init(&GroupConfig {
                cpus: vec![cfg.cpu],
                handoff: Handoff::Block,
            })?;
            let mut state = State::build(cfg.state_bytes);
            // Returns twice: now, and after every rollback (then the state is pristine again).
            let taken = sys::take_snapshot(strategy)?;
            let snap = taken.snapshot();
            chan.send_reply(Reply::Ready)?;
            match session(&mut state, chan, pages)? {
                End::Session => Err(snap.rollback().into()),
                End::Quit => Ok(snap.release()?),
            }
        }
        None => {
            workloads::measure::pin_current_thread(cfg.cpu)
                .map_err(|e| RollbackError::Died(format!("pinning the handler: {e}")))?;
            let mut state = State::build(cfg.state_bytes);
            if cfg.strategy == Strategy::Fork {
                return fork_per_session(&mut state, chan, pages);
            }
            loop {
                chan.send_reply(Reply::Ready)?;
                match session(&mut state, chan, pages)? {
                    End::Quit => return Ok(()),
                    End::Session if cfg.strategy == Strategy::Reinit => {
                        drop(state);
                        state = State::build(cfg.state_bytes);
                    }
                    End::Session => state.end_session(),
                }
            }
        }
    }
}

/// The `fork` strategy: the pristine parent forks a worker per session and waits for it.
///
/// The closure runs only in the worker, whose writes to `state` go to its own copy-on-write
/// copy: the parent's stays pristine.
fn fork_per_session(state: &mut State, chan: &Channel, pages: usize) -> Result<(), RollbackError> {
    let single = SingleThreaded::check()?;
    loop {
        let worker = process::fork(&single, || {
            let run = chan
                .send_reply(Reply::Ready)
                .and_then(|()| session(state, chan, pages));
            match run {
                Ok(End::Session) => 0,
                Ok(End::Quit) => WORKER_QUIT,
                Err(e) => {
                    eprintln!("rollback handler: fork worker: {e}");
                    1
                }
            }
        })?;
        match process::wait_exit_code(worker)? {
            0 => {}
            WORKER_QUIT => return Ok(()),
            code => {
                return Err(RollbackError::Died(format!(
                    "a fork worker exited with status {code}"
                )))
            }
        }
    }
}

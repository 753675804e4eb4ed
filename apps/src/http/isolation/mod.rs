//! Where a connection's session runs: one implementation of [`Sessions`] per isolation mode.
//! The event loop ([`super::event_loop`]) accepts, watches readiness and time-outs, and asks
//! the mode to place, run, expire and end sessions; it never sees a request.
//!
//! ```text
//!   none      Inline      a Session per connection, in the worker's memory
//!   lwc       LwcSessions<Fresh>   an lwC per connection, created at accept
//!   lwc --monitor  LwcSessions<Monitored>  the same, sandboxed, the event loop its monitor
//!   lwc-pool  LwcSessions<Pooled>  an lwC per connection, from a pool refilled while idle
//!   process   Processes   a forked process per connection, blocking I/O
//!   thread    Threads     a thread per connection, blocking I/O
//! ```
//!
//! A new lwC-based mode (say, a sandboxed session lwC with a monitor) is one more
//! [`lwc::LwcSource`]: where its lwCs come from and how their trapped system calls are answered.

use std::io;

use mio::net::TcpStream;

use super::config::{Config, Isolation};
use super::protocol::Responses;
use super::session::Progress;
use super::stats::Stats;

mod blocking;
mod inline;
pub mod lwc;

/// What a mode did with a new connection.
pub(crate) enum Placed {
    /// The event loop keeps the connection and tells the mode when it is ready.
    Tracked(TcpStream),
    /// The mode took the connection over (a process or a thread serves it to the end).
    HandedOff,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Normally, after answering this many requests.
    Closed {
        /// Requests answered with 200.
        requests: u64,
    },
    /// Its context died (a crash); only this connection is lost.
    Crashed,
}

/// Where a tracked session stands after it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Still open: waiting for the stream.
    Open(Progress),
    /// Over: the event loop drops the connection.
    Ended(Ended),
}

/// The shared, read-only part of every session's work.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The server's configuration.
    pub cfg: Config,
    /// The responses it sends.
    pub responses: Responses,
    /// The worker's own descriptors (listener, event loop, control socket), which a forked
    /// session closes.
    pub worker_fds: Vec<std::os::fd::RawFd>,
}

impl Ctx {
    /// A copy another thread can own.
    pub(crate) fn shared(&self) -> std::sync::Arc<Ctx> {
        std::sync::Arc::new(self.clone())
    }
}

/// One isolation mode's sessions, as the event loop drives them. `token` names a connection
/// until it ends (the event loop reuses it after).
pub(crate) trait Sessions {
    /// Starts a session for a connection just accepted.
    fn open(&mut self, token: usize, conn: TcpStream, ctx: &Ctx) -> io::Result<Placed>;
    /// Runs a tracked session: its connection is readable or writable.
    fn ready(&mut self, token: usize, conn: &mut TcpStream, ctx: &Ctx) -> Step;
    /// A tracked session's time-out struck: it answers 408 if a request was under way, and
    /// ends.
    fn expire(&mut self, token: usize, conn: &mut TcpStream, ctx: &Ctx) -> Ended;
    /// Sessions handed off and still running (they count against the connection limit).
    fn handed_off(&self) -> usize {
        0
    }
    /// Collects the ends of handed-off sessions into `stats`.
    fn collect(&mut self, _stats: &mut Stats) {}
    /// Does one piece of work that waits for an idle worker; true when more is wanted.
    fn idle_work(&mut self, _ctx: &Ctx, _stats: &mut Stats) -> bool {
        false
    }
    /// Ends every session still running (the worker is stopping).
    fn shutdown(&mut self, _stats: &mut Stats) {}
}

/// The sessions of `isolation`. Call it in the worker, after `lwc::init` for the lwC modes.
pub(crate) fn for_mode(isolation: Isolation, ctx: &Ctx) -> io::Result<Box<dyn Sessions>> {
    Ok(match isolation {
        Isolation::None => Box::new(inline::Inline::default()),
        Isolation::Lwc if ctx.cfg.monitor => {
            Box::new(lwc::LwcSessions::new(lwc::Monitored::default()))
        }
        Isolation::Lwc => Box::new(lwc::LwcSessions::new(lwc::Fresh)),
        Isolation::LwcPool => Box::new(lwc::LwcSessions::new(lwc::Pooled::new(ctx.cfg.pool_size)?)),
        Isolation::Process => Box::new(blocking::Processes::default()),
        Isolation::Thread => Box::new(blocking::Threads::default()),
    })
}

/// A slot table indexed by token.
#[derive(Debug)]
pub(crate) struct Slots<T>(Vec<Option<T>>);

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Slots(Vec::new())
    }
}

impl<T> Slots<T> {
    pub(crate) fn put(&mut self, token: usize, v: T) {
        if self.0.len() <= token {
            self.0.resize_with(token + 1, || None);
        }
        self.0[token] = Some(v);
    }

    pub(crate) fn get_mut(&mut self, token: usize) -> Option<&mut T> {
        self.0.get_mut(token).and_then(Option::as_mut)
    }

    pub(crate) fn take(&mut self, token: usize) -> Option<T> {
        self.0.get_mut(token).and_then(Option::take)
    }
}

//! `process` and `thread`: a connection handed to a context of its own that serves it to the
//! end with blocking I/O, scheduled by the kernel (the event loop only accepts).
//!
//! A blocking session waits for its client with a read time-out of the request time-out: a
//! time-out in the middle of a request answers 408; between requests, silent time adds up
//! until the idle time-out closes the connection.

use std::collections::HashSet;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use rustix::process::{Pid, Signal, WaitOptions};

use super::{Ctx, Ended, Placed, Sessions, Step};
use crate::http::session::{Progress, Session};
use crate::http::stats::Stats;
use crate::sys;

/// The blocking stream of a connection the event loop accepted.
fn blocking(conn: TcpStream, ctx: &Ctx) -> io::Result<std::net::TcpStream> {
    let stream = std::net::TcpStream::from(OwnedFd::from(conn));
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(
        ctx.cfg.limits.request_timeout.max(Duration::from_millis(1)),
    ))?;
    Ok(stream)
}

/// Serves a connection on a blocking stream to its end; returns the requests answered.
fn serve_blocking(stream: &mut std::net::TcpStream, ctx: &Ctx) -> u64 {
    let mut session = Session::new();
    let mut silent = Duration::ZERO;
    let mut seen = 0;
    loop {
        match session.drive(stream, &ctx.cfg, &ctx.responses) {
            Progress::Closed => return session.requests(),
            Progress::Blocked { partial: true, .. } => {
                session.expire(stream);
                return session.requests();
            }
            Progress::Blocked { partial: false, .. } => {
                if session.requests() != seen {
                    seen = session.requests();
                    silent = Duration::ZERO;
                }
                silent += ctx.cfg.limits.request_timeout;
                if silent >= ctx.cfg.limits.idle_timeout {
                    return session.requests();
                }
            }
        }
    }
}

/// The sessions of a `process` worker: a forked child per connection.
#[derive(Debug, Default)]
pub(crate) struct Processes {
    children: HashSet<Pid>,
}

impl Sessions for Processes {
    fn open(&mut self, _token: usize, conn: TcpStream, ctx: &Ctx) -> io::Result<Placed> {
        let mut stream = blocking(conn, ctx)?;
        let parent = rustix::process::getpid();
        let worker_fds: &[RawFd] = &ctx.worker_fds;
        // The worker is single-threaded (a `process` worker starts no thread).
        let pid = sys::fork(true, || {
            let _ = rustix::process::set_parent_process_death_signal(Some(Signal::KILL));
            if rustix::process::getppid() != Some(parent) {
                return 1;
            }
            // The listener, the event loop and the control socket are the worker's.
            sys::close_inherited(worker_fds);
            serve_blocking(&mut stream, ctx);
            0
        })?;
        self.children.insert(pid);
        Ok(Placed::HandedOff)
    }

    fn ready(&mut self, _token: usize, _conn: &mut TcpStream, _ctx: &Ctx) -> Step {
        Step::Ended(Ended::Closed { requests: 0 })
    }

    fn expire(&mut self, _token: usize, _conn: &mut TcpStream, _ctx: &Ctx) -> Ended {
        Ended::Closed { requests: 0 }
    }

    fn handed_off(&self) -> usize {
        self.children.len()
    }

    fn collect(&mut self, stats: &mut Stats) {
        while let Ok(Some((pid, status))) = rustix::process::waitpid(None, WaitOptions::NOHANG) {
            self.children.remove(&pid);
            if status.terminating_signal().is_some() || status.exit_status() == Some(101) {
                stats.crashed += 1;
            }
        }
    }

    fn shutdown(&mut self, stats: &mut Stats) {
        for &pid in &self.children {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
        }
        for pid in std::mem::take(&mut self.children) {
            let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
        }
        self.collect(stats);
    }
}

/// The sessions of a `thread` worker: a thread per connection.
#[derive(Debug, Default)]
pub(crate) struct Threads {
    live: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

impl Sessions for Threads {
    fn open(&mut self, _token: usize, conn: TcpStream, ctx: &Ctx) -> io::Result<Placed> {
        let mut stream = blocking(conn, ctx)?;
        let ctx = ctx.shared();
        let live = self.live.clone();
        let requests = self.requests.clone();
        live.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let n = serve_blocking(&mut stream, &ctx);
                requests.fetch_add(n, Ordering::Relaxed);
                // Counted out before the client sees the close, so a client that reconnects at
                // once is not refused for a connection that is already over.
                live.fetch_sub(1, Ordering::SeqCst);
                drop(stream);
            });
        if let Err(e) = spawned {
            self.live.fetch_sub(1, Ordering::SeqCst);
            return Err(e);
        }
        Ok(Placed::HandedOff)
    }

    fn ready(&mut self, _token: usize, _conn: &mut TcpStream, _ctx: &Ctx) -> Step {
        Step::Ended(Ended::Closed { requests: 0 })
    }

    fn expire(&mut self, _token: usize, _conn: &mut TcpStream, _ctx: &Ctx) -> Ended {
        Ended::Closed { requests: 0 }
    }

    fn handed_off(&self) -> usize {
        self.live.load(Ordering::SeqCst) as usize
    }

    fn collect(&mut self, stats: &mut Stats) {
        stats.requests += self.requests.swap(0, Ordering::Relaxed);
    }
}

//! A worker's event loop: accepts connections, watches them with epoll (mio), runs the
//! session of each ready one through its isolation mode, enforces the time-outs and the
//! connection limit, and stops when its parent closes the control socket.
//!
//! ```text
//!   poll ─► listener readable ─► accept until EAGAIN ─► over the limit? 503 : mode.open
//!        ─► connection ready  ─► mode.ready ─► still open: new deadline (request or idle
//!                                              time-out), write interest if output waits
//!                                              ended: deregister, close, count
//!        ─► control readable  ─► EOF: stop
//!        ─► nothing pending   ─► mode.idle_work (a pool refill), one piece at a time
//!   every SWEEP: expire connections past their deadline
//! ```

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::isolation::{self, Ctx, Ended, Placed, Sessions, Step};
use super::protocol::Refusal;
use super::session::Progress;
use super::stats::Stats;

const LISTENER: Token = Token(usize::MAX - 1);
const CONTROL: Token = Token(usize::MAX - 2);

/// How often deadlines are checked (the granularity of the time-outs).
const SWEEP: Duration = Duration::from_millis(50);

struct Conn {
    stream: TcpStream,
    deadline: Instant,
    want_write: bool,
}

struct Loop {
    poll: Poll,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    live: usize,
    stats: Stats,
    sessions: Box<dyn Sessions>,
}

/// Runs a worker's event loop on `listener` until `control` reaches end of file; returns the
/// worker's counters. In the lwC modes the caller has started the lwC group.
pub(crate) fn run(
    listener: std::net::TcpListener,
    control: UnixStream,
    mut ctx: Ctx,
) -> io::Result<Stats> {
    listener.set_nonblocking(true)?;
    control.set_nonblocking(true)?;
    let poll = Poll::new()?;
    let mut listener = TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let control_fd = control.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&control_fd), CONTROL, Interest::READABLE)?;
    ctx.worker_fds = vec![poll.as_raw_fd(), listener.as_raw_fd(), control_fd];
    let sessions = isolation::for_mode(ctx.cfg.isolation, &ctx)?;
    let mut lp = Loop {
        poll,
        conns: Vec::new(),
        free: Vec::new(),
        live: 0,
        stats: Stats::default(),
        sessions,
    };
    let mut events = Events::with_capacity(1024);
    let mut next_sweep = Instant::now() + SWEEP;
    let mut idle_pending = true;
    let mut stopping = false;
    while !stopping {
        let timeout = if idle_pending {
            Duration::ZERO
        } else {
            next_sweep.saturating_duration_since(Instant::now())
        };
        match lp.poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        if events.is_empty() && idle_pending {
            idle_pending = lp.sessions.idle_work(&ctx, &mut lp.stats);
        } else if !events.is_empty() {
            idle_pending = true;
        }
        for ev in events.iter() {
            match ev.token() {
                LISTENER => lp.accept_all(&listener, &ctx, now),
                CONTROL => stopping = control_closed(&control),
                Token(t) => lp.ready(t, &ctx, now),
            }
        }
        lp.sessions.collect(&mut lp.stats);
        if now >= next_sweep {
            lp.sweep(&ctx, now);
            next_sweep = now + SWEEP;
        }
    }
    for t in 0..lp.conns.len() {
        if lp.conns[t].is_some() {
            lp.end(t, Ended::Closed { requests: 0 });
        }
    }
    lp.sessions.shutdown(&mut lp.stats);
    Ok(lp.stats)
}

/// True when the parent closed (or shut down) its end: the worker stops.
fn control_closed(mut control: &UnixStream) -> bool {
    let mut buf = [0u8; 64];
    loop {
        match control.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
}

impl Loop {
    fn accept_all(&mut self, listener: &TcpListener, ctx: &Ctx, now: Instant) {
        loop {
            let stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or memory: leave the rest in the backlog for now.
                    eprintln!("worker: accept: {e}");
                    return;
                }
            };
            let limit = ctx.cfg.limits.max_connections;
            if self.live + self.sessions.handed_off() >= limit {
                // Handed-off sessions that ended since the last look no longer count.
                self.sessions.collect(&mut self.stats);
            }
            if self.live + self.sessions.handed_off() >= limit {
                self.stats.rejected += 1;
                let _ = (&stream).write(&Refusal::Unavailable.response());
                continue;
            }
            let _ = stream.set_nodelay(true);
            self.stats.connections += 1;
            let token = self.free.pop().unwrap_or(self.conns.len());
            match self.sessions.open(token, stream, ctx) {
                Ok(Placed::Tracked(mut stream)) => {
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(&mut stream, Token(token), Interest::READABLE)
                    {
                        eprintln!("worker: register: {e}");
                        self.stats.failed += 1;
                        self.put(token, None);
                        continue;
                    }
                    let deadline = now + ctx.cfg.limits.request_timeout;
                    self.put(
                        token,
                        Some(Conn {
                            stream,
                            deadline,
                            want_write: false,
                        }),
                    );
                    self.live += 1;
                }
                Ok(Placed::HandedOff) => self.put(token, None),
                Err(e) => {
                    eprintln!("worker: starting a session: {e}");
                    self.stats.failed += 1;
                    self.put(token, None);
                }
            }
        }
    }

    /// Fills slot `token` (a free one when `conn` is `None`).
    fn put(&mut self, token: usize, conn: Option<Conn>) {
        if token == self.conns.len() {
            self.conns.push(None);
        }
        if conn.is_none() {
            self.free.push(token);
        }
        self.conns[token] = conn;
    }

    fn ready(&mut self, token: usize, ctx: &Ctx, now: Instant) {
        let Some(conn) = self.conns.get_mut(token).and_then(Option::as_mut) else {
            return;
        };
        match self.sessions.ready(token, &mut conn.stream, ctx) {
            Step::Open(Progress::Blocked {
                partial,
                want_write,
            }) => {
                let limits = &ctx.cfg.limits;
                conn.deadline = now
                    + if partial {
                        limits.request_timeout
                    } else {
                        limits.idle_timeout
                    };
                if want_write != conn.want_write {
                    conn.want_write = want_write;
                    let interest = if want_write {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    if self
                        .poll
                        .registry()
                        .reregister(&mut conn.stream, Token(token), interest)
                        .is_err()
                    {
                        self.end(token, Ended::Closed { requests: 0 });
                    }
                }
            }
            Step::Open(Progress::Closed) => self.end(token, Ended::Closed { requests: 0 }),
            Step::Ended(e) => self.end(token, e),
        }
    }

    fn sweep(&mut self, ctx: &Ctx, now: Instant) {
        for token in 0..self.conns.len() {
            let expired = matches!(&self.conns[token], Some(c) if c.deadline <= now);
            if expired {
                let conn = self.conns[token].as_mut().map(|c| &mut c.stream);
                if let Some(stream) = conn {
                    let ended = self.sessions.expire(token, stream, ctx);
                    self.stats.timed_out += 1;
                    self.end(token, ended);
                }
            }
        }
    }

    /// Drops a connection whose session ended, and counts how it ended.
    fn end(&mut self, token: usize, ended: Ended) {
        if let Some(mut conn) = self.conns[token].take() {
            let _ = self.poll.registry().deregister(&mut conn.stream);
            self.free.push(token);
            self.live -= 1;
        }
        match ended {
            Ended::Closed { requests } => self.stats.requests += requests,
            Ended::Crashed => self.stats.crashed += 1,
        }
    }
}

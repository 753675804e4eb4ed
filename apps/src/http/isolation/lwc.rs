//! `lwc` and `lwc-pool`: each connection's session runs in an lwC of the worker's group.
//!
//! ```text
//!   event loop (lwC 0, the group's root; holds no session data, never reads a request)
//!     │ accept ─► source.session_for(conn) ─► an lwC holding only conn's descriptor (and stderr)
//!     │ readable/writable ─► switch(READY) ─► session lwC: read, answer, write until it would
//!     │                                       block ─► switch back (BLOCKED, partial, want_write)
//!     │ time-out ─► switch(EXPIRE) ─► session answers 408 if mid-request ─► discard
//!     └ client closed ─► the session discard-switches back (ENDED, requests): its process exits
//! ```
//!
//! A session lwC's memory is a copy of the event loop's at its creation, which holds no other
//! session's data (the event loop keeps only descriptors and lwC names), and it gets only its
//! own connection's descriptor: `Files::Only`. A session lwC that crashes is noticed by the
//! runtime (the switch into it fails with `Dead`): only its connection is lost.
//!
//! Where session lwCs come from is an [`LwcSource`]: [`Fresh`] creates one at accept (the
//! paper's design); [`Pooled`] takes one from a pool of pristine copies made while the worker is
//! idle and hands it the connection over a socket (`SCM_RIGHTS`), so a short session costs a
//! switch rather than a create. A source also answers trapped system calls, for a sandboxed
//! session lwC: the default denies them; [`Monitored`] sandboxes every session lwC and answers
//! its calls from the session policy (`lwcbench serve --monitor`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use lwc::{Answer, Args, Created, Files, Lwc, Options, Spec, Switched, Systrap, Trap};
use mio::net::TcpStream;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

use super::{Ctx, Ended, Placed, Sessions, Slots, Step};
use crate::http::session::{Progress, Session};
use crate::http::stats::Stats;
use crate::monitor::{SessionPolicy, Verdict};
use crate::sys;

/// Event loop → session: the connection is ready.
const CMD_READY: u64 = 1;
/// Event loop → session: the time-out struck.
const CMD_EXPIRE: u64 = 2;
/// Session → event loop: it would block; words 1 and 2 say partial and want-write.
const REPLY_BLOCKED: u64 = 1;
/// Session → event loop, with a discard: it ended; word 1 is its request count.
const REPLY_ENDED: u64 = 2;

/// Standard error stays open in a session lwC (a panic message reaches the server's log).
const STDERR: i32 = 2;

fn lwc_err(e: lwc::Error) -> io::Error {
    io::Error::other(e)
}

/// Where the session lwCs of a worker come from, and how their trapped calls are answered.
pub trait LwcSource {
    /// An lwC that serves `conn` from its first switch on (`CMD_READY` in word 0, `ticket` in
    /// word 1; see [`session_main`]).
    fn session_for(&mut self, conn: &TcpStream, ctx: &Ctx) -> io::Result<(Lwc, u64)>;
    /// Makes one spare lwC while the worker is idle; true while more are wanted.
    fn refill(&mut self, _ctx: &Ctx) -> bool {
        false
    }
    /// Answers a system call the session lwC trapped (only a SYSTRAP session traps).
    fn answer(&mut self, trap: Trap) -> lwc::Result<Switched> {
        lwc::answer(trap, Answer::Deny(libc::EPERM))
    }
    /// Adds what this source counted to `stats`.
    fn collect(&mut self, _stats: &mut Stats) {}
}

/// The body of a session lwC: serves `conn` on the commands its creator switches in, and
/// discards itself when the connection is over. Never returns.
pub fn session_main(caller: Lwc, first: Args, mut conn: &TcpStream, ctx: &Ctx) -> ! {
    let mut session = Session::new();
    let mut cmd = first;
    loop {
        let progress = match cmd.0[0] {
            CMD_READY => session.drive(&mut conn, &ctx.cfg, &ctx.responses),
            CMD_EXPIRE => {
                session.expire(&mut conn);
                Progress::Closed
            }
            _ => Progress::Closed,
        };
        let reply = match progress {
            Progress::Blocked {
                partial,
                want_write,
            } => Args([REPLY_BLOCKED, partial.into(), want_write.into(), 0, 0, 0]),
            Progress::Closed => {
                let err = lwc::discard_switch(
                    &caller,
                    Args([REPLY_ENDED, session.requests(), 0, 0, 0, 0]),
                );
                eprintln!("session lwC: discard failed: {err}");
                sys::exit_now(1)
            }
        };
        match lwc::switch(&caller, reply) {
            Ok(sw) => cmd = sw.args,
            Err(e) => {
                eprintln!("session lwC: switch back failed: {e}");
                sys::exit_now(1)
            }
        }
    }
}

/// `lwc`: a new lwC per connection, created from the event loop when the connection is accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fresh;

impl LwcSource for Fresh {
    fn session_for(&mut self, conn: &TcpStream, ctx: &Ctx) -> io::Result<(Lwc, u64)> {
        let spec = Spec::new().files(Files::Only(vec![conn.as_raw_fd(), STDERR]));
        match sys::create_lwc(&spec, &Options::new()).map_err(lwc_err)? {
            Created::Parent(l) => Ok((l, 0)),
            Created::Child { caller, args } => {
                // Our copy of the event loop's stream names our own copy of the descriptor.
                session_main(caller, args, conn, ctx)
            }
        }
    }
}

/// `lwc --monitor`: as [`Fresh`], but each session lwC is sandboxed (`Systrap::all()`) and the
/// event loop, its creator, is its reference monitor: every system call the session makes comes
/// to [`LwcSource::answer`], which runs it when [`SessionPolicy`] allows it (reads, writes and
/// close on the session's own socket, the allocator's memory calls) and fails it with `EPERM`
/// otherwise, unrun.
#[derive(Debug, Default)]
pub struct Monitored {
    /// Each live session lwC's socket, by its slot number (a reused slot is overwritten; the
    /// whole name is compared, so a stale entry never matches).
    sockets: std::collections::HashMap<u32, (Lwc, std::os::fd::RawFd)>,
}

impl LwcSource for Monitored {
    fn session_for(&mut self, conn: &TcpStream, ctx: &Ctx) -> io::Result<(Lwc, u64)> {
        let fd = conn.as_raw_fd();
        let spec = Spec::new().files(Files::Only(vec![fd, STDERR]));
        let opts = Options::new().systrap(Systrap::all());
        match sys::create_lwc(&spec, &opts).map_err(lwc_err)? {
            Created::Parent(l) => {
                self.sockets.insert(l.id(), (l, fd));
                Ok((l, 0))
            }
            Created::Child { caller, args } => session_main(caller, args, conn, ctx),
        }
    }

    fn answer(&mut self, trap: Trap) -> lwc::Result<Switched> {
        let verdict = match self.sockets.get(&trap.lwc.id()) {
            Some((l, fd)) if *l == trap.lwc => SessionPolicy::new(*fd).decide(trap.nr, &trap.args),
            _ => Verdict::Deny(libc::EPERM),
        };
        match verdict {
            Verdict::Allow => lwc::answer(trap, Answer::Run),
            Verdict::Deny(e) => lwc::answer(trap, Answer::Deny(e)),
        }
    }
}

/// `lwc-pool`: pristine session lwCs made while the worker is idle; one is handed each new
/// connection over a socket. An empty pool falls back to [`Fresh`] (counted as a miss).
pub struct Pooled {
    ready: Vec<Lwc>,
    size: usize,
    /// Our end: connections go out here, one per session, each with its ticket.
    loop_end: OwnedFd,
    /// The end every pooled lwC holds until it has taken its connection (a SEQPACKET pair:
    /// one message, one descriptor).
    session_end: OwnedFd,
    next_ticket: u64,
    hits: u64,
    misses: u64,
}

impl Pooled {
    /// An empty pool that keeps up to `size` lwCs ready.
    pub fn new(size: usize) -> io::Result<Self> {
        let (loop_end, session_end) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        Ok(Pooled {
            ready: Vec::with_capacity(size),
            size,
            loop_end,
            session_end,
            next_ticket: 1,
            hits: 0,
            misses: 0,
        })
    }
}

/// Sends `conn`'s descriptor with `ticket` as the message.
fn send_conn(to: &OwnedFd, conn: &TcpStream, ticket: u64) -> io::Result<()> {
    let fds = [conn.as_fd()];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    let bytes = ticket.to_le_bytes();
    rustix::net::sendmsg(
        to,
        &[io::IoSlice::new(&bytes)],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

/// Receives connections until the one sent with `ticket` (an earlier one was meant for a
/// pooled lwC that died before taking it: dropped).
fn receive_conn(from: &OwnedFd, ticket: u64) -> io::Result<TcpStream> {
    for _ in 0..1024 {
        let mut bytes = [0u8; 8];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            from,
            &mut [io::IoSliceMut::new(&mut bytes)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT,
        )?;
        let mut fd: Option<OwnedFd> = None;
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = msg {
                fd = fds.into_iter().next();
            }
        }
        if got.bytes == 8 && u64::from_le_bytes(bytes) == ticket {
            if let Some(fd) = fd {
                return Ok(TcpStream::from_std(std::net::TcpStream::from(fd)));
            }
        }
    }
    Err(io::Error::other(
        "no connection came with this lwC's ticket",
    ))
}

impl LwcSource for Pooled {
    fn session_for(&mut self, conn: &TcpStream, ctx: &Ctx) -> io::Result<(Lwc, u64)> {
        let Some(l) = self.ready.pop() else {
            self.misses += 1;
            return Fresh.session_for(conn, ctx);
        };
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        if let Err(e) = send_conn(&self.loop_end, conn, ticket) {
            let _ = lwc::close(l);
            return Err(e);
        }
        self.hits += 1;
        Ok((l, ticket))
    }

    fn refill(&mut self, ctx: &Ctx) -> bool {
        if self.ready.len() >= self.size {
            return false;
        }
        let end = self.session_end.as_raw_fd();
        let spec = Spec::new().files(Files::Only(vec![end, STDERR]));
        match sys::create_lwc(&spec, &Options::new()) {
            Ok(Created::Parent(l)) => self.ready.push(l),
            Ok(Created::Child { caller, args }) => {
                let taken = receive_conn(&self.session_end, args.0[1]);
                // The socket is the way to every later session's connection: let it go
                // before serving anything.
                sys::close_inherited(&[end]);
                match taken {
                    Ok(conn) => session_main(caller, args, &conn, ctx),
                    Err(e) => {
                        eprintln!("pooled session lwC: {e}");
                        sys::exit_now(1)
                    }
                }
            }
            Err(e) => {
                eprintln!("lwc-pool: refill: {e}");
                return false;
            }
        }
        self.ready.len() < self.size
    }

    fn collect(&mut self, stats: &mut Stats) {
        stats.pool_hits += std::mem::take(&mut self.hits);
        stats.pool_misses += std::mem::take(&mut self.misses);
    }
}

/// The sessions of an `lwc` or `lwc-pool` worker.
pub struct LwcSessions<S> {
    /// Each session's lwC and the ticket its first command carries (word 1).
    lwcs: Slots<(Lwc, u64)>,
    source: S,
}

impl<S: LwcSource> LwcSessions<S> {
    /// Sessions whose lwCs come from `source`.
    pub fn new(source: S) -> Self {
        LwcSessions {
            lwcs: Slots::default(),
            source,
        }
    }

    /// Switches into `l` with `cmd` and answers its trapped calls until it switches back.
    fn run(&mut self, token: usize, cmd: u64) -> Step {
        let Some((l, ticket)) = self.lwcs.get_mut(token).copied() else {
            return Step::Ended(Ended::Closed { requests: 0 });
        };
        let back = lwc::switch(&l, Args([cmd, ticket, 0, 0, 0, 0])).and_then(|mut sw| {
            while let Some(trap) = sw.trap {
                sw = self.source.answer(trap)?;
            }
            Ok(sw)
        });
        match back {
            Ok(sw) if sw.args.0[0] == REPLY_BLOCKED => Step::Open(Progress::Blocked {
                partial: sw.args.0[1] != 0,
                want_write: sw.args.0[2] != 0,
            }),
            Ok(sw) => {
                self.lwcs.take(token);
                let requests = if sw.args.0[0] == REPLY_ENDED {
                    sw.args.0[1]
                } else {
                    0
                };
                Step::Ended(Ended::Closed { requests })
            }
            Err(_) => {
                self.lwcs.take(token);
                Step::Ended(Ended::Crashed)
            }
        }
    }
}

impl<S: LwcSource> Sessions for LwcSessions<S> {
    fn open(&mut self, token: usize, conn: TcpStream, ctx: &Ctx) -> io::Result<Placed> {
        let (l, ticket) = self.source.session_for(&conn, ctx)?;
        self.lwcs.put(token, (l, ticket));
        Ok(Placed::Tracked(conn))
    }

    fn ready(&mut self, token: usize, _conn: &mut TcpStream, _ctx: &Ctx) -> Step {
        self.run(token, CMD_READY)
    }

    fn expire(&mut self, token: usize, _conn: &mut TcpStream, _ctx: &Ctx) -> Ended {
        match self.run(token, CMD_EXPIRE) {
            Step::Ended(e) => e,
            Step::Open(_) => {
                if let Some((l, _)) = self.lwcs.take(token) {
                    let _ = lwc::close(l);
                }
                Ended::Closed { requests: 0 }
            }
        }
    }

    fn collect(&mut self, stats: &mut Stats) {
        self.source.collect(stats);
    }

    fn idle_work(&mut self, ctx: &Ctx, _stats: &mut Stats) -> bool {
        self.source.refill(ctx)
    }
}

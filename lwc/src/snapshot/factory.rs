//! Pooled snapshots refilled off the rollback path ([`crate::Strategy::Pool`]).
//!
//! A pristine copy of the snapshotted lwC, the **factory**, never runs the program: it forks
//! spare copies one at a time while the program runs, on the group's other CPUs when it has
//! any (as a batch job: it never preempts the program where it shares its CPU), and hands each
//! spare over on a socket that only the pool's own copies hold. A rollback takes the next
//! spare from the socket, maps its birth pages and resumes it, as the factory would: it forks
//! nothing.
//!
//! ```text
//!   take       T ─create─► F (the factory: moves to the other CPUs, SCHED_BATCH)
//!              T ─switch─► F: forks `size` spares, one at a time ─► T: take returns Saved
//!   spare S    forked by F, pinned back to the group's CPUs, SCHED_OTHER, parked;
//!              F sends (S, the memfd of S's inbox and link with F) on the pool's socket
//!   rollback   P: the next spare from the socket · map its pages · Refill ─► F (a post)
//!              · Rollback ─► S on S's link with F (P speaks as F) · P exits
//!              S resumes as the snapshot: take returns Restored
//!   refill     F, woken by the Refill: forks spares until `size` wait in the socket
//!   drained    no spare waits: P waits on the socket for the one F is making (one fork)
//!   release    P: "release" on the socket ─► F: ends its parked spares, exits
//! ```
//!
//! The socket is the pool's only state: the kernel counts the spares waiting in it (SIOCINQ),
//! so no page that other lwCs map decides what a rollback resumes. Every lwC born in the group
//! closes it, but the pool's copies and its factory (see `create`), and a sandbox never sees it.
//!
//! What it costs: one fork of the process per rollback, as [`crate::Strategy::Fork`], made by
//! the factory in the background, plus a recvmsg, an mmap and a post on the rollback path.

use super::pool::{checked_size, copy_spec};
use crate::create::{create_with, Lineage};
use crate::deliver;
use crate::handoff::{BirthPages, Link};
use crate::local::{self, Entry};
use crate::switch::{discard_with, terminate_parked};
use crate::sys::{fd, process};
use crate::turn::{hand_and_wait, Wake};
use crate::types::{Args, Created, Kind, Lwc, Rights, State};
use crate::{serve, Error, Options, Result};
use std::collections::VecDeque;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;

const OP_TAKE: &str = "Snapshot::take";
const OP_ROLLBACK: &str = "Snapshot::rollback";
/// How long `release` waits for the factory to end.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The messages on a pool's socket: two words each.
mod wire {
    /// Factory → copies: a spare (word 1: its id and generation), its birth pages' memfd
    /// attached.
    pub(super) const SPARE: u64 = 1;
    /// Factory → copies: making a spare failed (word 1: the errno).
    pub(super) const FAILED: u64 = 2;
    /// Copy → factory: the snapshot is released; end the spares and exit.
    pub(super) const RELEASE: u64 = 3;
    /// Bytes of one message.
    pub(super) const LEN: usize = 16;

    pub(super) fn encode(tag: u64, word: u64) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[..8].copy_from_slice(&tag.to_le_bytes());
        b[8..].copy_from_slice(&word.to_le_bytes());
        b
    }

    pub(super) fn decode(b: &[u8; LEN]) -> (u64, u64) {
        let word = |r: std::ops::Range<usize>| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[r]);
            u64::from_le_bytes(w)
        };
        (word(0..8), word(8..16))
    }
}

/// A pooled snapshot (Copy: the taker and every copy hold the same one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Factory {
    /// The factory lwC.
    maker: Lwc,
    /// Our end of the pool's socket (owned by `Local::pool_sockets`).
    socket: RawFd,
    size: u32,
}

impl Factory {
    /// Makes the factory and lets it fork the first `size` spares. Returns the pool and
    /// whether a rollback brought us here (true in the spare it resumed).
    ///
    /// Runs inside `Snapshot::take`'s unsafe contract (fork semantics).
    #[allow(unsafe_code)]
    pub(crate) fn take(size: usize) -> Result<(Factory, bool)> {
        let size = checked_size(size)?;
        let (send, recv) = fd::seqpacket_pair()?;
        let socket = recv.as_raw_fd();
        local::with(|l| l.pool_sockets.push(recv));
        let forget = || local::with(|l| l.pool_sockets.retain(|f| f.as_raw_fd() != socket));
        // SAFETY: Snapshot::take's contract (single-threaded, fork semantics) covers this.
        let created =
            unsafe { create_with(&copy_spec(), &Options::new(), Lineage::Snapshot, None) };
        match created {
            Err(e) => {
                forget();
                Err(e)
            }
            Ok(Created::Parent(maker)) => {
                drop(send);
                let pool = Factory {
                    maker,
                    socket,
                    size,
                };
                let failed = match hand_and_wait(OP_TAKE, &maker, Kind::Switch, Args::NONE) {
                    Ok(Wake::Switch { args, .. }) if args.0[0] == 0 => return Ok((pool, false)),
                    Ok(Wake::Switch { args, .. }) => {
                        Error::errno("snapshot pool: fork a spare", args.0[0] as i32)
                    }
                    Ok(other) => other.unexpected(OP_TAKE),
                    Err(e) => e,
                };
                forget();
                Err(failed)
            }
            Ok(Created::Child { caller, .. }) => {
                local::with(|l| l.factory_socket = Some(send));
                let pool = Factory {
                    maker: local::current(),
                    socket,
                    size,
                };
                pool.run(caller);
                Ok((pool, true))
            }
        }
    }

    /// The factory's life: fill the pool, tell the taker, then make a spare for each one
    /// taken until the snapshot is released. Returns only in a spare that a rollback resumed.
    fn run(&self, taker: Lwc) {
        let home = process::allowed_cpus();
        local::with(|l| {
            if !l.other_cpus.is_empty() {
                let _ = process::pin(&l.other_cpus);
            }
        });
        let _ = process::set_batch(true);
        let opts = Options {
            home: Some(home),
            ..Options::new()
        };
        // What we sent, in order (None: a failure report); the socket is a queue, so the
        // first `len - queued` of them are taken: running the program, or gone.
        let mut sent = VecDeque::new();
        let first = self.fill(&opts, &mut sent);
        if let Ok(true) = first {
            return;
        }
        let errno = first.err().map_or(0, |e| e.as_errno().max(1) as u64);
        // We hand no control over: the taker runs on, we wait for requests.
        local::set_state(State::Parked);
        deliver::tell(&taker, Kind::Switch, Args([errno, 0, 0, 0, 0, 0]));
        if errno != 0 {
            self.end(&mut sent);
        }
        loop {
            if self.release_asked() {
                self.end(&mut sent);
            }
            // Any message wakes us (a Refill, or a stray one): we look at the socket either way.
            if deliver::receive("snapshot pool factory").is_err() {
                self.end(&mut sent);
            }
            local::set_state(State::Parked);
            if let Some(b) = local::board() {
                let mine = b.slot(local::me().0);
                if mine.zombies.load(Ordering::Relaxed) != 0 {
                    serve::reap_children(mine);
                }
            }
            match self.fill(&opts, &mut sent) {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => self.report(&e, &mut sent),
            }
        }
    }

    /// Forks spares until `size` of them wait in the socket. True in a spare that a rollback
    /// resumed.
    #[allow(unsafe_code)]
    fn fill(&self, opts: &Options, sent: &mut VecDeque<Option<Lwc>>) -> Result<bool> {
        while self.queued()? < self.size as usize {
            if self.release_asked() {
                self.end(sent);
            }
            let (pages, memfd) = BirthPages::handable()?;
            // SAFETY: we are a single-threaded copy of the taker, under take's contract.
            match unsafe { create_with(&copy_spec(), opts, Lineage::Snapshot, Some(pages))? } {
                Created::Parent(spare) => {
                    local::set_state(State::Parked);
                    let word = ((spare.id as u64) << 32) | spare.gen as u64;
                    let posted = local::with(|l| {
                        let sock = l.factory_socket.as_ref()?;
                        Some(fd::send(
                            sock,
                            &wire::encode(wire::SPARE, word),
                            &[memfd.as_fd()],
                        ))
                    });
                    match posted {
                        Some(Ok(())) => sent.push_back(Some(spare)),
                        Some(Err(e)) => {
                            terminate_parked(&spare);
                            return Err(e);
                        }
                        None => {
                            terminate_parked(&spare);
                            self.end(sent)
                        }
                    }
                }
                Created::Child { .. } => return Ok(true),
            }
        }
        Ok(false)
    }

    /// Tells a rollback waiting on an empty pool why no spare comes.
    fn report(&self, e: &Error, sent: &mut VecDeque<Option<Lwc>>) {
        if self.queued().unwrap_or(0) == 0 {
            let reported = local::with(|l| {
                let sock = l.factory_socket.as_ref()?;
                let msg = wire::encode(wire::FAILED, e.as_errno().max(1) as u64);
                fd::send(sock, &msg, &[]).ok()
            });
            if reported.is_some() {
                sent.push_back(None);
            }
        }
    }

    /// Whether a copy released the snapshot (or every copy is gone).
    fn release_asked(&self) -> bool {
        local::with(|l| {
            let Some(sock) = &l.factory_socket else {
                return true;
            };
            let mut buf = [0u8; wire::LEN];
            match fd::recv(sock, &mut buf, false) {
                Ok((n, _)) => n == wire::LEN && wire::decode(&buf).0 == wire::RELEASE,
                Err(e) => e.as_errno() != libc::EAGAIN,
            }
        })
    }

    /// Ends the spares still waiting in the socket (never one that a rollback took: it runs
    /// the program, or waits for one of its own lwCs), and the factory.
    fn end(&self, sent: &mut VecDeque<Option<Lwc>>) -> ! {
        let queued = self.queued().unwrap_or(0);
        while sent.len() > queued {
            sent.pop_front();
        }
        for s in sent.iter().flatten() {
            terminate_parked(s);
        }
        // Not RUNNING: a factory that exits is no program ending.
        local::set_state(State::Discarded);
        process::exit_now(0)
    }

    /// Runs `f` on our end of the pool's socket (None once released here).
    fn with_socket<R>(&self, f: impl FnOnce(&OwnedFd) -> R) -> Option<R> {
        local::with(|l| {
            l.pool_sockets
                .iter()
                .find(|s| s.as_raw_fd() == self.socket)
                .map(f)
        })
    }

    /// Spares waiting in the socket (a failure report counts as one).
    fn queued(&self) -> Result<usize> {
        self.with_socket(fd::queued_bytes)
            .unwrap_or(Ok(0))
            .map(|b| b / wire::LEN)
    }

    /// Drops the caller and resumes the next spare. Returns only on failure.
    pub(crate) fn rollback(&self) -> Error {
        if local::SANDBOXED.load(Ordering::Relaxed) {
            return Error::Unsupported {
                op: OP_ROLLBACK,
                reason: "a sandboxed (SYSTRAP) lwC cannot roll back a pool snapshot",
            };
        }
        loop {
            let spare = match self.next_spare() {
                Ok(s) => s,
                Err(e) => return e,
            };
            deliver::tell(&self.maker, Kind::Refill, Args::NONE);
            match discard_with(&spare, Kind::Rollback, Args::NONE, false) {
                Error::Dead { .. } => {
                    // That spare was killed: try the next.
                    local::with(|l| l.take_entry(spare.id, spare.gen));
                }
                e => return e,
            }
        }
    }

    /// Takes the next spare from the socket, waiting for the factory when none is there.
    fn next_spare(&self) -> Result<Lwc> {
        let mut buf = [0u8; wire::LEN];
        let released = || Error::Invalid {
            op: OP_ROLLBACK,
            reason: "the snapshot was released".into(),
        };
        let mut got = self
            .with_socket(|s| fd::recv(s, &mut buf, false))
            .ok_or_else(released)?;
        if matches!(&got, Err(e) if e.as_errno() == libc::EAGAIN) {
            // Drained: the factory is making one (tell it, in case it sleeps).
            deliver::tell(&self.maker, Kind::Refill, Args::NONE);
            got = loop {
                let ready = self
                    .with_socket(|s| process::poll_in(s, 100))
                    .ok_or_else(released)??;
                if ready != 0 {
                    break self
                        .with_socket(|s| fd::recv(s, &mut buf, true))
                        .ok_or_else(released)?;
                }
                if !self.maker_lives() {
                    return Err(Error::Dead {
                        op: OP_ROLLBACK,
                        lwc: self.maker.id,
                    });
                }
            };
        }
        let (n, mut fds) = got?;
        let (tag, word) = wire::decode(&buf);
        match (n, tag, fds.pop()) {
            (wire::LEN, wire::SPARE, Some(memfd)) => self.adopt(word, &memfd),
            (wire::LEN, wire::FAILED, _) => {
                Err(Error::errno("snapshot pool: fork a spare", word as i32))
            }
            _ => Err(Error::Unsupported {
                op: OP_ROLLBACK,
                reason: "a malformed message on the snapshot pool's socket",
            }),
        }
    }

    /// Maps a spare's birth pages: our link with it, on which we speak as the factory.
    fn adopt(&self, word: u64, memfd: &OwnedFd) -> Result<Lwc> {
        let spare = Lwc {
            id: (word >> 32) as u32,
            gen: word as u32,
        };
        let (inbox, page) = BirthPages::handed(memfd)?;
        let link = Link::new(page, 0, Some(inbox), self.maker.id);
        // Its acknowledgement to the factory is on the link: not a message for us.
        let _ = link.take();
        local::with(|l| {
            l.insert(
                spare.id,
                Entry {
                    gen: spare.gen,
                    rights: Rights::SWITCH,
                    link: Some(link),
                    control: None,
                    child_pid: None,
                    monitor: None,
                },
            )
        });
        Ok(spare)
    }

    fn maker_lives(&self) -> bool {
        local::board().is_some_and(|b| {
            let s = b.slot(self.maker.id);
            s.gen.load(Ordering::Acquire) == self.maker.gen && s.state.load().live()
        })
    }

    /// Spares waiting now.
    pub(crate) fn ready(&self) -> usize {
        if local::SANDBOXED.load(Ordering::Relaxed) {
            return 0;
        }
        self.queued().unwrap_or(0).min(self.size as usize)
    }

    /// Tells the factory to end its spares and itself, closes our end of the socket, and waits
    /// (a bounded time) until the factory is gone.
    ///
    /// The wait matters to a copy that runs the program: it is the factory's child, and the
    /// supervisor learns how it ends (its exit status) only once it is the supervisor's.
    pub(crate) fn release(&self) {
        // Should the send fail, the factory sees the socket closed instead, once every copy
        // is gone.
        let _ = self.with_socket(|s| fd::send(s, &wire::encode(wire::RELEASE, 0), &[]));
        deliver::tell(&self.maker, Kind::Refill, Args::NONE);
        local::with(|l| l.pool_sockets.retain(|f| f.as_raw_fd() != self.socket));
        let start = std::time::Instant::now();
        while self.maker_exists() && start.elapsed() < RELEASE_WAIT {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Whether the factory's slot still names it (the supervisor renames a slot once its
    /// process is gone).
    fn maker_exists(&self) -> bool {
        local::board()
            .is_some_and(|b| b.slot(self.maker.id).gen.load(Ordering::Acquire) == self.maker.gen)
    }
}

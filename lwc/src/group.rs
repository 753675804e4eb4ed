//! Starting a group, and the two processes that stand behind it.
//!
//! ```text
//!   original process (pid P) ── init: the guardian, a child subreaper: waits for the supervisor,
//!    │                          then kills whatever of the group is left and exits as it did
//!    └── supervisor (subreaper): reaps, watches every lwC's pidfd and the guardian's, turns a
//!         │                      death into an error for whoever waits on the dead lwC, ends
//!         │                      the group by killing its whole process tree
//!         └── first lwC: returns from init and runs the program (PDEATHSIG: the supervisor)
//! ```
//!
//! The group ends when the lwC holding the thread of control exits (not by a discard): the
//! supervisor kills the others and exits with that status, and the guardian with it, so the
//! program's caller sees one process that ran and exited as usual. Every process of the group
//! descends from the guardian, and a killed process's children go to the nearest subreaper
//! above it, so neither the supervisor's death nor a plain `fork()` in an lwC can take a
//! process out of the tree that the group's end kills.

use crate::board::{Board, Notices, HEARS_DEATH_ITSELF};
use crate::handoff;
use crate::local::{self, BOARD, ME, NOTICES};
use crate::options::GroupConfig;
use crate::sys::fd::Epoll;
use crate::sys::futex;
use crate::sys::mem::{map_sealed_static, remap_read_only};
use crate::sys::process::{self, Forked};
use crate::types::{Handoff, State, NO_LWC};
use crate::{Error, Result};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Starts an lwC group in this process. Call it once, early, while the process is still
/// single-threaded.
///
/// The process's original pid stays behind as the group's guardian (its child is the
/// supervisor); this call returns in the group's first lwC (a new pid), pinned to `cfg.cpus`.
/// When the lwC holding control exits, the group ends and the original process exits with its
/// status. [`create`](fn@crate::create) starts a
/// group with the default config if none runs yet.
///
/// ```no_run
/// lwc::init(&lwc::GroupConfig::default()).expect("start the lwC group");
/// ```
///
/// # Errors
/// [`Error::MultiThreaded`] when other threads exist, [`Error::AlreadyInitialized`] on a second
/// call, [`Error::Invalid`] for CPUs that are not usable or spinning on one CPU, and OS errors.
pub fn init(cfg: &GroupConfig) -> Result<()> {
    if BOARD.get().is_some() {
        return Err(Error::AlreadyInitialized);
    }
    let threads = process::thread_count();
    if threads > 1 {
        return Err(Error::MultiThreaded {
            op: "lwc::init",
            threads,
        });
    }
    let allowed = process::allowed_cpus();
    let cpus = if cfg.cpus.is_empty() {
        vec![process::current_cpu().unwrap_or(0)]
    } else {
        cfg.cpus.clone()
    };
    if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
        return Err(Error::Invalid {
            op: "lwc::init",
            reason: format!("CPU {c} is not in this process's affinity mask {allowed:?}"),
        });
    }
    if cfg.handoff == Handoff::Spin && cpus.len() < 2 {
        return Err(Error::Invalid {
            op: "lwc::init",
            reason: "spin hand-off needs a group of two CPUs or more".into(),
        });
    }
    let others: Vec<usize> = allowed
        .iter()
        .copied()
        .filter(|c| !cpus.contains(c))
        .collect();
    let (board, board_fd): (&'static Board, OwnedFd) = map_sealed_static("lwc-switchboard")?;
    // Written by the supervisor only: every lwC maps it read-only (below), and the seal keeps
    // any of them from mapping it writable again.
    let (notices, notices_fd): (&'static Notices, OwnedFd) = map_sealed_static("lwc-notices")?;
    let (first, gen) = board.allocate(NO_LWC).ok_or(Error::TooMany {
        capacity: crate::board::CAPACITY,
    })?;
    board.slot(first).state.store(State::Running);
    // No lwC may ptrace or read the two processes that stand behind the group (as the same
    // user, a dumpable process is open to it): both are non-dumpable, as every lwC is.
    process::set_non_dumpable()?;
    // This process becomes the guardian, an ancestor of every process of the group: when the
    // supervisor dies, whatever it leaves (lwCs, their plain forks, orphans) comes to us.
    process::set_child_subreaper()?;
    let guardian_pid = process::getpid();
    let supervisor = match process::fork_checked()? {
        Forked::Parent(supervisor) => {
            drop(notices_fd);
            guardian(supervisor, &others)
        }
        Forked::Child => process::getpid(),
    };
    // The supervisor. Orphans (lwCs whose creator was discarded, plain forks of lwCs that
    // ended) come to it while it lives.
    let watch_guardian = process::pidfd_open(guardian_pid);
    let (Ok(guardian_fd), Ok(())) = (watch_guardian, process::set_child_subreaper()) else {
        process::exit_now(1)
    };
    if process::getppid() != guardian_pid {
        process::exit_now(1); // the guardian is gone already
    }
    // The bell dies with us, whatever kills us: every parked lwC sleeps on it.
    if futex::own_robustly(&notices.bell.word).is_err() {
        process::exit_now(1);
    }
    board.supervisor.store(supervisor, Ordering::Relaxed);
    // The first lwC continues with a copy of this single-threaded process.
    let Ok(forked) = process::fork_checked() else {
        process::exit_now(1)
    };
    match forked {
        Forked::Child => {
            // The first lwC dies with the supervisor (the guardian covers the others).
            process::set_parent_death_signal(libc::SIGKILL)?;
            let watch = process::pidfd_open(supervisor)?;
            if process::getppid() != supervisor {
                process::exit_now(1);
            }
            // Every lwC inherits it: a spinning lwC that outlives both the supervisor and the
            // guardian (both SIGKILLed) sees the supervisor gone and exits (a sleeping one
            // hears the bell).
            process::watch_supervisor(watch);
            let pid = process::getpid();
            ME.set(first, gen, pid);
            board.slot(first).pid.store(pid, Ordering::Release);
            remap_read_only(notices, &notices_fd)?;
            drop(notices_fd);
            let inbox = handoff::first_inbox()?;
            process::set_non_dumpable()?;
            // No lwC of the group may read another's memory, the first one included: its
            // rights over its children go through the runtime, never through ptrace, perf
            // or /proc. Every lwC inherits these sets.
            process::keep_only_lwc_capabilities()?;
            process::pin(&cpus)?;
            process::register_exit_handler(on_process_exit)?;
            local::with(|l| {
                l.handoff = cfg.handoff;
                l.board_fd = Some(board_fd);
                l.inbox = Some(inbox);
                l.notices_seen = notices.of(first).seq.load(Ordering::Acquire);
                l.other_cpus = others.clone();
            });
            let _ = BOARD.set(board);
            let _ = NOTICES.set(notices);
            Ok(())
        }
        Forked::Parent(pid) => {
            board.slot(first).pid.store(pid, Ordering::Release);
            drop(notices_fd);
            Supervisor::new(board, notices, &others, guardian_fd).run()
        }
    }
}

/// Records a normal exit of the lwC holding control, with its status, for the supervisor.
extern "C" fn on_process_exit(status: libc::c_int, _arg: *mut libc::c_void) {
    if ME.pid.load(Ordering::Relaxed) != process::getpid() {
        return; // a plain fork of an lwC, not an lwC
    }
    if local::SANDBOXED.load(Ordering::Relaxed) {
        return; // its view of the switchboard is read-only; the monitor sees the exit
    }
    let me = ME.id.load(Ordering::Relaxed);
    if let (Some(b), true) = (local::board(), me != NO_LWC) {
        let s = b.slot(me);
        s.exit_code.store(status, Ordering::Relaxed);
        let _ = s.state.cas(State::Running, State::Exited);
    }
}

/// The guardian (the group's original process): waits for the supervisor to end, kills
/// whatever of the group is left (every process of the group descends from us, and orphans
/// come to us), and ends as the supervisor did, so the program's caller sees its status.
fn guardian(supervisor: libc::pid_t, cpus: &[usize]) -> ! {
    let _ = process::pin(cpus);
    let ended = process::wait_child(supervisor, true);
    process::kill_descendants(process::getpid());
    match ended {
        Some(status) if libc::WIFSIGNALED(status) => process::die_by_signal(libc::WTERMSIG(status)),
        Some(status) => process::exit_now(libc::WEXITSTATUS(status)),
        None => process::exit_now(1),
    }
}

/// SIGKILLs every live lwC of the group. Slots of lwCs that end by themselves (discarded,
/// exited) or are gone are skipped: their pid may already be reaped and reused by a process
/// that is none of ours.
fn kill_all(board: &Board) {
    let hw = board.high_water.load(Ordering::Acquire) as usize;
    for s in &board.slots[..hw.min(board.slots.len())] {
        if s.state.load().live() {
            process::kill(s.pid.load(Ordering::Acquire), libc::SIGKILL);
        }
    }
}

/// How often the supervisor looks for new lwCs to watch. An lwC that lives shorter than this
/// (a create/discard cycle) costs the supervisor nothing; one that dies unwatched is found by
/// the next scan, so a death is turned into an error within this time.
const SCAN_EVERY: Duration = Duration::from_millis(20);

/// How many milliseconds the supervisor waits for the status of an lwC that held control
/// and died while its parent was exiting too.
const AWAIT_STATUS_TRIES: usize = 50;

/// The epoll token of the guardian's pidfd (lwC tokens are slot ids, below 2^32).
const GUARDIAN_DIED: u64 = u64::MAX;

/// The supervisor's state: which lwC pids it watches.
struct Supervisor {
    board: &'static Board,
    /// The notice board, writable here only.
    notices: &'static Notices,
    epoll: Epoll,
    /// A pidfd of the guardian (our parent), kept open for the epoll that watches it: its
    /// death ends the group.
    _guardian: OwnedFd,
    watched: HashMap<u32, (u32, OwnedFd)>,
    /// How lwC processes that `reap_any` collected ended, by pid (their pidfd event may come
    /// after the reap).
    reaped: HashMap<libc::pid_t, process::Ended>,
}

impl Supervisor {
    fn new(
        board: &'static Board,
        notices: &'static Notices,
        cpus: &[usize],
        guardian: OwnedFd,
    ) -> Self {
        let _ = process::pin(cpus);
        let epoll = match Epoll::new().and_then(|e| e.add(&guardian, GUARDIAN_DIED).map(|_| e)) {
            Ok(e) => e,
            Err(_) => {
                kill_all(board);
                process::kill_descendants(process::getpid());
                process::exit_now(1)
            }
        };
        Supervisor {
            board,
            notices,
            epoll,
            _guardian: guardian,
            watched: HashMap::new(),
            reaped: HashMap::new(),
        }
    }

    fn run(mut self) -> ! {
        let mut ready = Vec::new();
        let mut last_scan: Option<Instant> = None;
        loop {
            let wait_ms = match last_scan {
                Some(t) => SCAN_EVERY.saturating_sub(t.elapsed()).as_millis() as i32,
                None => 0,
            };
            if self.epoll.wait(&mut ready, wait_ms).is_err() {
                self.end_group(1);
            }
            for &token in &ready {
                if token == GUARDIAN_DIED {
                    // Without the guardian, our own death would leave the group unwatched.
                    self.end_group(137);
                }
                self.died(token as u32);
            }
            // Our children and orphans: keep how they ended for their pidfd event.
            while let Some((pid, ended)) = process::reap_any() {
                if self.reaped.len() >= 4096 {
                    self.reaped.clear(); // statuses of orphans that were never lwCs
                }
                self.reaped.insert(pid, ended);
            }
            if last_scan.is_none_or(|t| t.elapsed() >= SCAN_EVERY) {
                self.scan();
                last_scan = Some(Instant::now());
                if self.watched.is_empty() {
                    self.end_group(0);
                }
            }
        }
    }

    /// Starts watching every lwC we do not watch yet.
    fn scan(&mut self) {
        let hw = self.board.high_water.load(Ordering::Acquire);
        for id in 0..hw {
            let s = self.board.slot(id);
            // DEAD slots too: an lwC that failed its setup marks itself DEAD (or its creator
            // does), and only the supervisor frees a slot, once the process is gone.
            if s.state.load() == State::Free {
                continue;
            }
            let gen = s.gen.load(Ordering::Acquire);
            let pid = s.pid.load(Ordering::Acquire);
            if pid <= 0 || self.watched.get(&id).is_some_and(|(g, _)| *g == gen) {
                // pid 0: its creator has not stored it yet; the next scan will.
                continue;
            }
            match process::pidfd_open(pid) {
                Ok(pidfd) => {
                    if self.epoll.add(&pidfd, id as u64).is_ok() {
                        self.watched.insert(id, (gen, pidfd));
                    }
                }
                Err(_) => {
                    let status = self.reaped.remove(&pid);
                    self.settle(id, gen, status)
                }
            }
        }
    }

    /// The process of lwC `id` exited.
    fn died(&mut self, id: u32) {
        let Some((gen, pidfd)) = self.watched.remove(&id) else {
            return;
        };
        self.epoll.remove(&pidfd);
        let pid = self.board.slot(id).pid.load(Ordering::Acquire);
        let status = process::reap_pidfd(&pidfd).or_else(|| self.reaped.remove(&pid));
        self.settle(id, gen, status);
    }

    /// Turns the death of `id` into what the group must see.
    fn settle(&mut self, id: u32, gen: u32, mut status: Option<process::Ended>) {
        let s = self.board.slot(id);
        if s.gen.load(Ordering::Acquire) != gen {
            return;
        }
        let prev = s.state.swap(State::Dead);
        // Every descriptor of it is stale from now on: posters check only the generation.
        s.gen.fetch_add(1, Ordering::SeqCst);
        match prev {
            State::Exited => self.end_group(s.exit_code.load(Ordering::Acquire)),
            State::Discarded => {}
            State::Running => {
                // An lwC whose parent is exiting too (a discarded creator) comes to us as a
                // zombie a moment later: wait for its status rather than take it for killed.
                if status.is_none() {
                    status = self.await_status(s.pid.load(Ordering::Acquire));
                }
                // It held control and exited by itself (_exit): the program ended.
                if let Some(process::Ended::Exited(code)) = status {
                    self.end_group(code);
                }
                // It was killed: give control back, with an error, to who handed it over.
                if !self.deliver_death(id, gen) {
                    self.end_group(status.map_or(137, process::Ended::code));
                }
            }
            _ => {
                // Whoever handed it control, or waits for its setup, gets the notice (a
                // sandbox's creator sees end-of-file on the sandbox's hand-off socket instead).
                // The group goes on.
                self.deliver_death(id, gen);
            }
        }
        if status.is_none() {
            // Not our child: its parent lwC reaps it when it next runs.
            let parent = s.parent.load(Ordering::Acquire);
            if parent != NO_LWC {
                self.board
                    .slot(parent)
                    .zombies
                    .fetch_add(1, Ordering::AcqRel);
            }
        }
        s.state.store(State::Free);
    }

    /// Tells every lwC waiting on `dead` that it died. True when one does (or hears of the
    /// death by itself). The waiters are found by the `awaiting` words of the board, which any
    /// lwC can write: a notice sent astray is ignored by its receiver, which checks it against
    /// whom it really waits for.
    fn deliver_death(&self, dead: u32, gen: u32) -> bool {
        let hw = self.board.high_water.load(Ordering::Acquire);
        let (mut told, mut posted) = (false, false);
        for to in 0..hw {
            let slot = self.board.slot(to);
            // An lwC that is gone waits for nobody, whatever its slot still says (a rollback's
            // discarded caller named the copy it resumed).
            if !slot.state.load().live() {
                continue;
            }
            let awaiting = slot.awaiting.load(Ordering::SeqCst);
            if awaiting == dead | HEARS_DEATH_ITSELF {
                told = true;
            } else if awaiting == dead && to != dead {
                self.notices.post(to, dead, gen);
                (told, posted) = (true, true);
            }
        }
        if posted {
            self.notices.bell.ring();
        }
        told
    }

    /// Reaps for a short while (bounded), looking for how `pid` ended; keeps what else it
    /// reaps. None when `pid` does not come to us (its parent lwC lives and reaps it).
    fn await_status(&mut self, pid: libc::pid_t) -> Option<process::Ended> {
        for _ in 0..AWAIT_STATUS_TRIES {
            while let Some((p, ended)) = process::reap_any() {
                if p == pid {
                    return Some(ended);
                }
                self.reaped.insert(p, ended);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.reaped.remove(&pid)
    }

    /// Kills what is left of the group and exits with `code`.
    fn end_group(&mut self, code: i32) -> ! {
        kill_all(self.board);
        // And what no slot names: plain forks of lwCs, and their orphans (ours, as subreaper).
        process::kill_descendants(process::getpid());
        for (_, (_, pidfd)) in self.watched.drain() {
            let _ = process::poll_in(&pidfd, 2000);
            let _ = process::reap_pidfd(&pidfd);
        }
        while process::reap_any().is_some() {}
        process::exit_now(code)
    }
}

//! SYSTRAP: a sandboxed lwC's system calls come to its monitor as switches.
//!
//! A sandboxed lwC never sleeps on a futex word: it parks in the runtime's marker system call,
//! which its seccomp filter traps, and the monitor wakes it by answering that notification.
//! The marker carries the switch's words as its arguments, so a sandbox never writes the
//! switchboard: its view of it is read-only, from a memfd sealed against new writable mappings,
//! and it cannot forge a hand-off to any lwC.
//! So every event of the sandbox — a switch back, a discard, a trapped call — reaches the
//! monitor through one listener fd, in order:
//!
//! ```text
//!   monitor                                   sandbox
//!   switch(sandbox) ── NOTIF_SEND(marker) ──► marker returns SWITCH → runs
//!   wait: poll + NOTIF_RECV ◄── trapped openat(...) (Switched { trap: Some(..) })
//!   answer(trap, Run) ── NOTIF_SEND(CONTINUE) ─► openat runs in the sandbox
//!   wait ◄── marker(SWITCH) (lwc::switch(&monitor, ..))
//! ```

use crate::board::{kind, state, HEARS_DEATH_ITSELF};
use crate::local::{self, Monitor, Pending, NO_LWC};
use crate::switch::{Args, Lwc, Switched};
use crate::sys::mem;
use crate::sys::seccomp::{self, Reply, MARKER_NR};
use crate::sys::{process, raw_syscall};
use crate::{service, Error, Result};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;

/// A system call of a sandboxed lwC, stopped before it ran, waiting for its monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trap {
    /// The sandboxed lwC.
    pub lwc: Lwc,
    /// System call number (`libc::SYS_*`).
    pub nr: i64,
    /// Its six arguments, raw (pointers are addresses in the sandbox).
    pub args: [u64; 6],
    id: u64,
}

/// How a monitor answers a trapped system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Run the call in the sandbox, as asked (the kernel runs it in the sandbox's context).
    Run,
    /// Do not run it; it returns this value.
    Return(i64),
    /// Do not run it; it fails with this errno.
    Deny(i32),
}

/// Answers a trapped call and resumes the sandbox; returns at the sandbox's next event (its
/// next trapped call, or a switch back to us).
///
/// # Errors
/// [`Error::Dead`] when the sandbox is gone; [`Error::Invalid`] when the trap was already
/// answered.
pub fn answer(trap: Trap, how: Answer) -> Result<Switched> {
    const OP: &str = "lwc::answer";
    let reply = match how {
        Answer::Run => Reply::Continue,
        Answer::Return(v) => Reply::Value(v),
        Answer::Deny(e) => Reply::Errno(e),
    };
    let (listener, _) = take_pending(&trap.lwc, Some(trap.id), OP)?;
    mark_running(&trap.lwc);
    if !seccomp::respond(&listener, trap.id, reply)? {
        return Err(Error::Dead {
            op: OP,
            lwc: trap.lwc.id,
        });
    }
    wait_event(&trap.lwc, &listener, OP, None)
}

/// Takes the pending notification of sandbox `l` (checking it is `expect_id`, or a marker when
/// None); returns a duplicate of the listener and the notification's id.
fn take_pending(
    l: &Lwc,
    expect_id: Option<u64>,
    op: &'static str,
) -> Result<(std::os::fd::OwnedFd, u64)> {
    local::with(|loc| {
        let e = loc
            .entry_mut(l.id, l.gen)
            .ok_or(Error::Dead { op, lwc: l.id })?;
        let m = e.monitor.as_mut().ok_or(Error::Unsupported {
            op,
            reason: "the lwC is not sandboxed by us",
        })?;
        match (m.pending, expect_id) {
            (Some(p), Some(id)) if p.trap && p.id == id => {}
            (Some(p), None) if !p.trap => {}
            (Some(p), None) if p.trap => {
                return Err(Error::Invalid {
                    op,
                    reason: "the sandbox is stopped in a trapped system call: answer it first"
                        .into(),
                })
            }
            _ => {
                return Err(Error::Invalid {
                    op,
                    reason: "the sandbox is not waiting for this answer".into(),
                })
            }
        }
        let id = m.pending.take().map_or(0, |p| p.id);
        let listener = m
            .listener
            .try_clone()
            .map_err(|e| Error::Os { op, source: e })?;
        Ok((listener, id))
    })
}

fn mark_running(sandbox: &Lwc) {
    if let Some(b) = local::board() {
        let (me, _) = local::me();
        // If the sandbox dies, the listener tells us: the supervisor need not.
        b.slot(me)
            .awaiting
            .store(sandbox.id | HEARS_DEATH_ITSELF, Ordering::Relaxed);
        b.slot(me).state.store(state::PARKED, Ordering::Release);
        b.slot(sandbox.id)
            .state
            .store(state::RUNNING, Ordering::Release);
    }
}

fn mark_back(sandbox: &Lwc) {
    if let Some(b) = local::board() {
        let (me, _) = local::me();
        let s = b.slot(sandbox.id);
        let _ = s.state.compare_exchange(
            state::RUNNING,
            state::PARKED,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        // It read its mailbox when it resumed, and cannot wipe it itself (its view of the board
        // is read-only): we do.
        s.clear_args();
        b.slot(me).awaiting.store(NO_LWC, Ordering::Relaxed);
        b.slot(me).state.store(state::RUNNING, Ordering::Release);
    }
}

/// Monitor → sandbox switch.
pub(crate) fn monitor_switch(to: &Lwc, why: u32, args: Args) -> Result<Switched> {
    const OP: &str = "lwc::switch";
    let (listener, pending_id) = take_pending(to, None, OP)?;
    let (me, my_gen) = local::me();
    let slot = crate::switch::slot_of(to.id)?;
    slot.post(why, me, my_gen, &args.0);
    mark_running(to);
    if !seccomp::respond(&listener, pending_id, Reply::Value(why as i64))? {
        return Err(Error::Dead { op: OP, lwc: to.id });
    }
    wait_event(to, &listener, OP, None)
}

/// Runs service request `request` in the sandbox (it is already on its control socket).
pub(crate) fn monitor_service(target: &Lwc, request: &[u64; 8]) -> Result<()> {
    const OP: &str = "lwc::syscall";
    let control_fd = local::with(|l| {
        l.entry(target.id, target.gen)
            .and_then(|e| e.monitor.as_ref())
            .map(|m| m.control_fd)
    })
    .ok_or(Error::Dead {
        op: OP,
        lwc: target.id,
    })?;
    let mut calls = ServiceCalls::new(control_fd, request);
    let (listener, id) = take_pending(target, None, OP)?;
    mark_running(target);
    if !seccomp::respond(&listener, id, Reply::Value(kind::SERVICE as i64))? {
        return Err(Error::Dead {
            op: OP,
            lwc: target.id,
        });
    }
    wait_event(target, &listener, OP, Some(&mut calls)).map(|_| ())
}

/// The system calls that serving one request makes the sandbox's runtime run
/// (`service::serve_on`): its monitor lets exactly these through while the sandbox serves, and
/// refuses (EPERM) any other trapped call made meanwhile, which the sandbox's own code made —
/// a sandbox that parks with a raw marker call instead of the runtime's would otherwise run
/// anything unseen while its monitor asks it for a system call.
struct ServiceCalls {
    /// The sandbox's control socket's number: one receive (the request) and one send (the
    /// reply) on it.
    control: u64,
    request: [u64; 8],
    received: bool,
    sent: bool,
    /// The requested system call ran.
    ran: bool,
    /// For an overlay copy: whether the memfd was made, and its number in the sandbox (we made
    /// it, so we know it).
    memfd_made: bool,
    memfd: Option<u64>,
}

/// What the monitor does with a call the sandbox makes while it serves.
enum Verdict {
    Run,
    Refuse,
    /// Make the memfd ourselves and install it as the call's result.
    GiveMemfd,
}

impl ServiceCalls {
    fn new(control_fd: i32, request: &[u64; 8]) -> Self {
        ServiceCalls {
            control: control_fd as u64,
            request: *request,
            received: false,
            sent: false,
            ran: false,
            memfd_made: false,
            memfd: None,
        }
    }

    fn judge(&mut self, nr: i64, a: &[u64; 6]) -> Verdict {
        let r = &self.request;
        let in_region = |buf: u64, len: u64| {
            buf >= r[1] && buf.checked_add(len).is_some_and(|end| end <= r[1] + r[2])
        };
        let anonymous = a[3] & libc::MAP_ANONYMOUS as u64 != 0 && a[4] as i32 == -1;
        match nr {
            _ if r[0] == service::OP_SYSCALL
                && !self.ran
                && nr == r[1] as i64
                && a[..] == r[2..8] =>
            {
                self.ran = true;
                Verdict::Run
            }
            libc::SYS_recvmsg if a[0] == self.control && !self.received => {
                self.received = true;
                Verdict::Run
            }
            libc::SYS_sendmsg if a[0] == self.control && self.received && !self.sent => {
                self.sent = true;
                Verdict::Run
            }
            libc::SYS_memfd_create if r[0] == service::OP_OVERLAY_COPY && !self.memfd_made => {
                self.memfd_made = true;
                Verdict::GiveMemfd
            }
            // The region's bytes into the memfd (to any descriptor only where memfd_create is
            // not trapped, as with `Systrap::only`: then we cannot know the number).
            libc::SYS_write
                if r[0] == service::OP_OVERLAY_COPY
                    && self.memfd.is_none_or(|m| m == a[0])
                    && (self.memfd.is_some() || !self.memfd_made)
                    && in_region(a[1], a[2]) =>
            {
                Verdict::Run
            }
            libc::SYS_close if self.memfd == Some(a[0]) => {
                self.memfd = None;
                Verdict::Run
            }
            // The allocator's own memory.
            libc::SYS_brk | libc::SYS_munmap | libc::SYS_mremap => Verdict::Run,
            libc::SYS_mmap if anonymous => Verdict::Run,
            _ => Verdict::Refuse,
        }
    }
}

/// Closes a parked sandbox: its marker returns TERMINATE and it exits.
pub(crate) fn terminate(m: &Monitor) {
    if let Some(p) = m.pending {
        let reply = if p.trap {
            Reply::Errno(libc::EINTR)
        } else {
            Reply::Value(kind::TERMINATE as i64)
        };
        let _ = seccomp::respond(&m.listener, p.id, reply);
    }
}

/// Waits for the sandbox's next event. In service mode, trapped calls are the runtime's own
/// and run unasked until the sandbox reports SERVICE_DONE.
fn wait_event(
    sandbox: &Lwc,
    listener: &std::os::fd::OwnedFd,
    op: &'static str,
    mut service: Option<&mut ServiceCalls>,
) -> Result<Switched> {
    loop {
        let revents = process::poll_in(listener, -1)?;
        // A hang-up without a notification, or one that cannot be read: the sandbox is gone.
        let received = (revents & libc::POLLIN != 0)
            .then(|| seccomp::receive(listener).ok())
            .flatten();
        let Some(n) = received else {
            mark_back(sandbox);
            return Err(Error::Dead {
                op,
                lwc: sandbox.id,
            });
        };
        if let Some(why) = seccomp::marker_kind(n.nr) {
            set_pending(
                sandbox,
                Pending {
                    id: n.id,
                    trap: false,
                },
            );
            mark_back(sandbox);
            if why == kind::SERVICE_DONE && service.is_some() {
                return Ok(Switched {
                    caller: *sandbox,
                    args: Args::NONE,
                    trap: None,
                });
            }
            if why == kind::DISCARD {
                // The sandbox cannot write the switchboard: we mark it gone for it.
                crate::switch::slot_of(sandbox.id)?
                    .state
                    .store(state::DISCARDED, Ordering::Release);
                let _ = seccomp::respond(listener, n.id, Reply::Value(kind::TERMINATE as i64));
                service::reap_if_child(sandbox);
            }
            // The sandbox's six words come as the marker call's arguments.
            return Ok(Switched {
                caller: *sandbox,
                args: Args(n.args),
                trap: None,
            });
        }
        if let Some(calls) = service.as_deref_mut() {
            match calls.judge(n.nr, &n.args) {
                Verdict::Run => {
                    seccomp::respond(listener, n.id, Reply::Continue)?;
                }
                Verdict::Refuse => {
                    seccomp::respond(listener, n.id, Reply::Errno(libc::EPERM))?;
                }
                Verdict::GiveMemfd => match mem::memfd("lwc-overlay") {
                    Ok(m) => {
                        let there = seccomp::answer_with_fd(listener, n.id, m.as_fd())?;
                        calls.memfd = Some(there as u64);
                    }
                    Err(e) => {
                        seccomp::respond(listener, n.id, Reply::Errno(e.as_errno()))?;
                    }
                },
            }
            continue;
        }
        set_pending(
            sandbox,
            Pending {
                id: n.id,
                trap: true,
            },
        );
        mark_back(sandbox);
        let trap = Trap {
            lwc: *sandbox,
            nr: n.nr,
            args: n.args,
            id: n.id,
        };
        return Ok(Switched {
            caller: *sandbox,
            args: Args(n.args),
            trap: Some(trap),
        });
    }
}

/// Records the notification sandbox `l` is blocked in (we are its monitor).
pub(crate) fn set_pending(l: &Lwc, p: Pending) {
    local::with(|loc| {
        if let Some(m) = loc.entry_mut(l.id, l.gen).and_then(|e| e.monitor.as_mut()) {
            m.pending = Some(p);
        }
    });
}

/// Parks a sandbox in its marker call, reporting `why` with `args`, and serves requests until
/// the monitor switches to it. A sandbox → monitor switch is this: the words travel as the
/// marker call's arguments (a sandbox's view of the switchboard is read-only).
pub(crate) fn sandbox_park(mut why: u32, mut args: Args) -> Result<Switched> {
    let (me, _) = local::me();
    loop {
        let r = raw_syscall(MARKER_NR + why as i64, args.0);
        match r as u32 {
            kind::SWITCH => {
                let (_, caller, caller_gen, args) = crate::switch::slot_of(me)?.read();
                return Ok(Switched {
                    caller: Lwc {
                        id: caller,
                        gen: caller_gen,
                    },
                    args: Args(args),
                    trap: None,
                });
            }
            kind::SERVICE => {
                service::execute_request();
                why = kind::SERVICE_DONE;
                args = Args::NONE;
            }
            _ => process::exit_now(0),
        }
    }
}

/// Makes this (new, sandboxed) lwC's view of the switchboard read-only for good, before its
/// filter is installed.
pub(crate) fn lock_switchboard() -> Result<()> {
    let fd = local::with(|l| l.board_fd.take());
    if let (Some(board), Some(fd)) = (local::board(), fd) {
        mem::remap_read_only(board, &fd)?;
    }
    // The snapshot pools' pages name the lwCs a rollback resumes: a sandbox that could write
    // them would choose where its monitor's rollback goes. It cannot use a pool (it cannot
    // create lwCs), so it keeps no view of them at all.
    for (addr, len) in local::with(|l| std::mem::take(&mut l.pool_pages)) {
        mem::unmap_range(addr, len)?;
    }
    local::SANDBOXED.store(true, Ordering::Relaxed);
    Ok(())
}

/// A discard switch to or from a sandbox: a sandbox reports DISCARD to its monitor (the only
/// lwC it may switch to) and exits; a monitor is refused. Returns only the refusal.
pub(crate) fn discard(args: Args) -> Error {
    if local::with(|l| l.monitor_of_me.is_some()) {
        raw_syscall(MARKER_NR + kind::DISCARD as i64, args.0);
        process::exit_now(0)
    }
    Error::Unsupported {
        op: "lwc::discard_switch",
        reason: "a monitor cannot discard itself into its sandbox; switch, then close",
    }
}

//! `create`: a new lwC as a copy-on-write copy of the caller, shaped by a resource spec.
//!
//! ```text
//!   creator                              new lwC (fork child)
//!   allocate slot
//!   fork ───────────────────────────────► scrub inherited rights · pin · non-dumpable
//!   park (waits for the ack)              · memory spec · fd spec · credentials
//!                                         · (SYSTRAP: seccomp filter, listener to the creator)
//!   create returns Parent(lwc) ◄── ack ── park; the first switch into it returns Child{..}
//! ```
//!
//! A spec whose setup cannot fail skips the ack: the child starts NASCENT, create returns
//! right after fork, and the first message for the child waits on its link until it is set
//! up.
//!
//! Before fork the creator maps the pages of the pair (the child's inbox and their link, see
//! `handoff`). The child inherits every mapping of its creator, so the first thing it does is
//! drop what is not its own: the creator's links with other lwCs and their inboxes. From then
//! on exactly the two of them can hand control to each other, plus the child's own children
//! later.

use crate::deliver::hand_to;
use crate::handoff::BirthPages;
use crate::local::{self, Entry, Monitor, Pending, Served};
use crate::options::{GroupConfig, Options};
use crate::spec::{Files, MemoryOp, Spec};
use crate::sys::fd;
use crate::sys::mem::{self, SharedMapping};
use crate::sys::process::{self, Forked};
use crate::sys::seccomp;
use crate::turn::{wait_turn, Wake};
use crate::types::{Args, Created, Kind, Lwc, Region, Rights, State, Switched, NO_LWC};
use crate::{systrap, Error, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Creates a new lwC: a copy-on-write copy of the caller, except where `spec` says SHARE or
/// UNMAP, with the fds and credentials `spec` names. Returns twice, like fork: here with
/// [`Created::Parent`], and in the new lwC with [`Created::Child`] when some lwC first switches
/// into it. Starts a group with the default [`GroupConfig`] if none runs yet.
///
/// ```no_run
/// use lwc::{Args, Created, Options, Spec};
/// // SAFETY: single-threaded; nothing the child uses lives in unmapped ranges.
/// match unsafe { lwc::create(&Spec::new(), &Options::new()) }.unwrap() {
///     Created::Parent(child) => { lwc::switch(&child, Args::NONE).unwrap(); }
///     Created::Child { caller, .. } => { let _ = lwc::discard_switch(&caller, Args::NONE); }
/// }
/// ```
///
/// # Safety
/// Like fork: the caller must be single-threaded, and the new lwC must not use memory the
/// spec unmaps (or privatizes) while a Rust reference to it exists.
///
/// # Errors
/// [`Error::ChildSetup`] when the new lwC cannot apply the spec (it is destroyed; a spec that
/// asks for nothing fallible is not waited for, and cannot fail this way),
/// [`Error::Invalid`] for a malformed spec, [`Error::TooMany`] when the group is full,
/// [`Error::Unsupported`] from a sandboxed lwC, and OS errors.
///
/// # References
/// Litton et al., OSDI '16, §3 (lwCreate).
#[allow(unsafe_code)]
pub unsafe fn create(spec: &Spec, opts: &Options) -> Result<Created> {
    let lineage = if opts.speak_for_creator && opts.systrap.is_none() {
        Lineage::Creators
    } else {
        Lineage::Own
    };
    // SAFETY: our caller upholds create's contract.
    unsafe { create_with(spec, opts, lineage, None) }
}

/// Which of its creator's links a new lwC keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lineage {
    /// Only its link with its creator (every lwC a program creates).
    Own,
    /// Every link of its creator, on which it speaks as its creator
    /// ([`Options::speak_for_creator`]); a snapshot copy, which resumes as its creator when a
    /// rollback drops the creator, and reaches the other copies of the same snapshot. Only one
    /// of the copies ever runs user code at a time (the others are parked), so what they hold
    /// is one lwC's rights, kept through rollbacks.
    Creators,
    /// As `Creators`, and it keeps the sockets of its creator's snapshot pools too: a
    /// snapshot copy (or a pool's factory), which may roll back into a spare of those pools.
    Snapshot,
}

/// `create`, for a program's lwC or a snapshot copy; `pages`, when given, are the birth
/// pages to use (a pool's factory keeps their memfd to hand them on).
///
/// # Safety
/// As [`create`].
#[allow(unsafe_code)]
pub(crate) unsafe fn create_with(
    spec: &Spec,
    opts: &Options,
    lineage: Lineage,
    pages: Option<BirthPages>,
) -> Result<Created> {
    const OP: &str = "lwc::create";
    if local::board().is_none() {
        crate::group::init(&GroupConfig::default())?;
    }
    spec.validate()?;
    if local::with(|l| l.monitor_of_me.is_some()) {
        return Err(Error::Unsupported {
            op: OP,
            reason: "a sandboxed (SYSTRAP) lwC cannot create lwCs",
        });
    }
    let board = local::board().ok_or(Error::Dead {
        op: OP,
        lwc: NO_LWC,
    })?;
    let (me, my_gen) = local::me();
    let (id, gen) = board.allocate(me).ok_or(Error::TooMany {
        capacity: crate::board::CAPACITY,
    })?;
    let slot = board.slot(id);
    let free_slot = || slot.state.store(State::Free);
    let pages = match (pages, &opts.systrap) {
        (_, Some(_)) => BirthPages::sandbox(),
        (Some(p), None) => Ok(p),
        (None, None) => BirthPages::new(),
    }
    .inspect_err(|_| free_slot())?;
    // A sandbox gets its control socket now (its monitor cannot ask it later without trapping
    // every step); other lwCs connect theirs on the first overlay or syscall request
    // (`service::connect_control`), so plain create/discard cycles make no socket at all.
    let (control_pair, handoff_pair) = match &opts.systrap {
        Some(_) => (
            Some(fd::seqpacket_pair().inspect_err(|_| free_slot())?),
            Some(fd::seqpacket_pair().inspect_err(|_| free_slot())?),
        ),
        None => (None, None),
    };
    // Allocate what the creator keeps before fork: a heap write after fork, while the child
    // shares the page, costs a copy-on-write fault.
    let (ctl_parent, ctl_child) = control_pair.map(|(p, c)| (Arc::new(p), c)).unzip();
    local::with(|l| l.reserve(id));
    let mine = board.slot(me);
    // Three ways to learn how the child's setup went. A sandbox reports over its hand-off
    // socket (its death shows there as end-of-file), so its creator stays RUNNING. Other
    // children whose setup can fail acknowledge through the board: we park before fork, as
    // the ack may come before we reach `wait_turn`. A setup that cannot fail needs no answer:
    // the child starts NASCENT and create returns at once, which spares a round trip (two
    // context switches) per create; the first switch into it waits for its setup instead.
    let sandbox = opts.systrap.is_some();
    let acknowledged = !sandbox && setup_can_fail(spec, opts);
    let lwc = Lwc { id, gen };
    // What the child needs to know of the kernel's and the board's state, read here: our
    // private copy reaches it with the fork, and it touches fewer pages (each costs it a
    // fault) and makes fewer system calls.
    let inherited = Inherited {
        dumpable: process::is_dumpable(),
        notices_seen: local::notices().map_or(0, |n| n.of(id).seq.load(Ordering::Acquire)),
    };
    if acknowledged {
        mine.awaiting.store(id, Ordering::Relaxed);
        mine.state.store(State::Parked);
        local::with(|l| l.awaiting = Some(lwc));
    } else if !sandbox {
        slot.state.store(State::Nascent);
    }
    // SAFETY: `create`'s contract: the caller is single-threaded and accepts fork semantics.
    let forked = unsafe { process::fork() };
    let forked = match forked {
        Ok(f) => f,
        Err(e) => {
            if acknowledged {
                mine.awaiting.store(NO_LWC, Ordering::Relaxed);
                mine.state.store(State::Running);
                local::with(|l| l.awaiting = None);
            }
            free_slot();
            return Err(e);
        }
    };
    match forked {
        Forked::Child => {
            drop(ctl_parent);
            let (hs_parent, hs_child) = handoff_pair.unzip();
            drop(hs_parent);
            let birth = Birth {
                me: lwc,
                creator: Lwc {
                    id: me,
                    gen: my_gen,
                },
                acknowledged,
                inherited,
            };
            adopt_links(&birth, pages, lineage, sandbox);
            child_main(&birth, spec, opts, ctl_child, hs_child)
        }
        Forked::Parent(pid) => {
            slot.pid.store(pid, Ordering::Release);
            // The child's table is a copy of ours: its control socket has this number there.
            let child_control = ctl_child.as_ref().map_or(-1, |c| c.as_raw_fd());
            drop(ctl_child);
            // A sandbox is never rung: its monitor answers its marker calls instead.
            let link = pages.creators_end(me);
            local::with(|l| {
                l.insert(
                    id,
                    Entry {
                        gen,
                        rights: Rights::ALL,
                        link: Some(link),
                        control: None,
                        child_pid: Some(pid),
                        monitor: None,
                    },
                )
            });
            let monitor = match handoff_pair {
                Some((hs_parent, hs_child)) => {
                    drop(hs_child);
                    Some(accept_sandbox(&lwc, pid, &hs_parent, child_control)?)
                }
                None if !acknowledged => None,
                None => {
                    match wait_turn(OP) {
                        Ok(Wake::CreateAck) => {}
                        Ok(Wake::CreateFailed { step, errno }) => {
                            abandon(&lwc, pid);
                            return Err(Error::setup_failed(step, errno));
                        }
                        Ok(_) => {
                            abandon(&lwc, pid);
                            return Err(Error::Unsupported {
                                op: OP,
                                reason: "unexpected hand-off message during create",
                            });
                        }
                        Err(e) => {
                            abandon(&lwc, pid);
                            return Err(e);
                        }
                    }
                    None
                }
            };
            local::with(|l| {
                if let Some(e) = l.entry_mut(id, gen) {
                    e.control = ctl_parent;
                    e.monitor = monitor;
                }
            });
            Ok(Created::Parent(lwc))
        }
    }
}

/// Gives up on a new lwC that failed before it parked: ends and reaps its process, and marks
/// its slot DEAD, so the supervisor, finding it later, frees it and sends nobody a notice of
/// its death.
fn abandon(lwc: &Lwc, pid: libc::pid_t) {
    process::kill(pid, libc::SIGKILL);
    process::wait_child(pid, true);
    local::with(|l| l.take_entry(lwc.id, lwc.gen));
    if let Some(b) = local::board() {
        let s = b.slot(lwc.id);
        if s.gen.load(Ordering::Acquire) == lwc.gen {
            let _ = s.state.cas(State::Starting, State::Dead);
        }
    }
}

/// Whether applying `spec` in a new lwC can fail (then create waits for the outcome).
/// Otherwise the child only scrubs inherited rights and re-asserts non-dumpability.
fn setup_can_fail(spec: &Spec, opts: &Options) -> bool {
    opts.systrap.is_some()
        || opts.cpu.is_some()
        || opts.home.is_some()
        || spec.credentials.is_some()
        || !matches!(spec.files, Files::Copy)
        || !spec.memory.is_empty()
        // Shared regions not named in the spec are privatized (a copy: memory may run out).
        || local::with(|l| !l.regions.is_empty())
}

/// Monitor side of creating a sandbox: receive its listener, then run its setup until it
/// parks in its first marker.
fn accept_sandbox(lwc: &Lwc, pid: libc::pid_t, hs: &OwnedFd, control_fd: i32) -> Result<Monitor> {
    let mut buf = [0u8; 24];
    let got = fd::recv(hs, &mut buf, true);
    let (n, mut fds) = match got {
        Ok(x) => x,
        Err(e) => {
            abandon(lwc, pid);
            return Err(e);
        }
    };
    if n >= 24 && buf[0] == b'E' {
        abandon(lwc, pid);
        let step = u64::from_le_bytes(buf[8..16].try_into().unwrap_or([0; 8]));
        let errno = i64::from_le_bytes(buf[16..24].try_into().unwrap_or([0; 8]));
        return Err(Error::setup_failed(step, errno as i32));
    }
    if n == 0 && fds.is_empty() {
        // End of file: it died before reporting.
        abandon(lwc, pid);
        return Err(Error::Dead {
            op: "lwc::create",
            lwc: lwc.id,
        });
    }
    let Some(listener) = fds.pop() else {
        abandon(lwc, pid);
        return Err(Error::Unsupported {
            op: "lwc::create",
            reason: "the sandbox sent no listener",
        });
    };
    // Run its remaining setup (its own close() calls are trapped too) until it parks.
    let dup = match listener.try_clone() {
        Ok(d) => d,
        Err(e) => {
            abandon(lwc, pid);
            return Err(Error::Os {
                op: "dup listener",
                source: e,
            });
        }
    };
    local::with(|l| {
        if let Some(e) = l.entry_mut(lwc.id, lwc.gen) {
            e.monitor = Some(Monitor {
                listener: dup,
                pending: None,
                control_fd,
            });
        }
    });
    let r = systrap_setup_wait(lwc, &listener);
    let monitor = local::with(|l| l.entry_mut(lwc.id, lwc.gen).and_then(|e| e.monitor.take()));
    match (r, monitor) {
        (Ok(()), Some(m)) => Ok(m),
        (Err(e), _) => {
            abandon(lwc, pid);
            Err(e)
        }
        (Ok(()), None) => Err(Error::Dead {
            op: "lwc::create",
            lwc: lwc.id,
        }),
    }
}

/// Lets the sandbox's setup calls run until its CREATE_ACK marker.
fn systrap_setup_wait(lwc: &Lwc, listener: &OwnedFd) -> Result<()> {
    loop {
        let ev = process::poll_in(listener, -1)?;
        if ev & libc::POLLIN == 0 {
            return Err(Error::Dead {
                op: "lwc::create",
                lwc: lwc.id,
            });
        }
        let n = seccomp::receive(listener)?;
        if seccomp::marker_kind(n.nr).is_some() {
            systrap::set_pending(
                lwc,
                Pending {
                    id: n.id,
                    trap: false,
                },
            );
            if let Some(b) = local::board() {
                b.slot(lwc.id).state.store(State::Parked);
            }
            return Ok(());
        }
        seccomp::respond(listener, n.id, seccomp::Reply::Continue)?;
    }
}

/// In the new lwC, first thing: keep the pages of our own pair and drop every other link and
/// inbox inherited from our creator (unmapped: no address reaches them any more), and close the
/// kernel objects behind its other rights (control sockets, seccomp listeners).
fn adopt_links(birth: &Birth, pages: BirthPages, lineage: Lineage, sandbox: bool) {
    let (me, creator) = (birth.me, birth.creator);
    local::with(|l| {
        let creator_inbox = l.inbox.take();
        // A factory's socket stays with the factory; a pool's spares go to its copies only.
        l.factory_socket = None;
        if lineage != Lineage::Snapshot || sandbox {
            l.pool_sockets.clear();
        }
        match lineage {
            Lineage::Own => l.table.clear(),
            Lineage::Creators | Lineage::Snapshot => {
                for e in l.table.iter_mut().flatten() {
                    e.control = None;
                    e.monitor = None;
                    e.child_pid = None;
                    e.rights = e.rights.intersection(Rights::SWITCH);
                }
            }
        }
        // A sandbox never rings its monitor (it parks in marker calls) and is never rung.
        let peer_inbox = creator_inbox.filter(|_| !sandbox);
        let (inbox, link, sealed) = pages.childs_end(peer_inbox, me.id);
        l.sandbox_link_fd = sealed;
        l.insert(
            creator.id,
            Entry {
                gen: creator.gen,
                rights: Rights::SWITCH,
                link: Some(link),
                control: None,
                child_pid: None,
                monitor: None,
            },
        );
        l.inbox = inbox;
        l.awaiting = None;
        l.notices_seen = birth.inherited.notices_seen;
    });
}

/// Takes a message our creator posted on our link, if any (we answer it with our failure).
fn took_message(creator: &Lwc) -> bool {
    local::with(|l| {
        l.entry(creator.id, creator.gen)
            .and_then(|e| e.link.as_ref())
            .and_then(|link| link.take())
            .is_some()
    })
}

/// Who a new lwC is, who made it, and whether the maker waits for its setup.
struct Birth {
    me: Lwc,
    creator: Lwc,
    acknowledged: bool,
    inherited: Inherited,
}

/// What the creator read for the new lwC just before fork.
#[derive(Clone, Copy)]
struct Inherited {
    /// Whether the creator was dumpable (the child inherits the flag).
    dumpable: bool,
    /// The new lwC's notice count.
    notices_seen: u32,
}

/// The new lwC: apply the spec, report to the creator, park until first switched into.
fn child_main(
    birth: &Birth,
    spec: &Spec,
    opts: &Options,
    control: Option<OwnedFd>,
    handoff_sock: Option<OwnedFd>,
) -> Result<Created> {
    let Birth {
        me: Lwc { id, gen },
        creator: creator_lwc,
        acknowledged,
        inherited,
    } = *birth;
    let pid = process::getpid();
    local::ME.set(id, gen, pid);
    // Our parent is our creator, whose death must not end us (no parent-death signal): a
    // group whose supervisor died unwatched reaches us through the bell (see `board::Bell`).
    if let Some(b) = local::board() {
        b.slot(id).pid.store(pid, Ordering::Release);
    }
    if let Err((step, errno)) = setup(
        spec,
        opts,
        control,
        creator_lwc,
        inherited.dumpable,
        handoff_sock.as_ref(),
    ) {
        match &handoff_sock {
            Some(hs) => {
                let mut msg = [0u8; 24];
                msg[0] = b'E';
                msg[8..16].copy_from_slice(&(step as u64).to_le_bytes());
                msg[16..24].copy_from_slice(&(errno as i64).to_le_bytes());
                let _ = fd::send(hs, &msg, &[]);
            }
            None => {
                // Acknowledged: the creator waits for this. Nascent: whoever switched into us
                // meanwhile does (its switch fails with the error); if nobody did, the first
                // switch finds us dead.
                // We are DEAD from here on, so no new message comes; one our creator posted
                // before is waiting on our link (and its creator then waits for us).
                if let Some(b) = local::board() {
                    b.slot(id).state.store(State::Dead);
                }
                let waiting = acknowledged || took_message(&creator_lwc);
                if waiting {
                    let _ = hand_to(
                        "lwc::create",
                        &creator_lwc,
                        Kind::CreateFailed,
                        Args([step as u64, errno as u64, 0, 0, 0, 0]),
                        State::Dead,
                    );
                }
            }
        }
        process::exit_now(127);
    }
    let first = if opts.systrap.is_some() {
        drop(handoff_sock);
        systrap::sandbox_park(Kind::CreateAck, Args::NONE)?
    } else {
        if acknowledged {
            hand_to(
                "lwc::create",
                &creator_lwc,
                Kind::CreateAck,
                Args::NONE,
                State::Parked,
            )?;
        } else if let Some(b) = local::board() {
            // Park (a message that came meanwhile waits on our link).
            let _ = b.slot(id).state.cas(State::Nascent, State::Parked);
        }
        match wait_turn("lwc::create")? {
            Wake::Switch { caller, args } => Switched {
                caller,
                args,
                trap: None,
            },
            _ => process::exit_now(127),
        }
    };
    Ok(Created::Child {
        caller: first.caller,
        args: first.args,
    })
}

/// Applies the spec in the new lwC. Errors are (step index, errno).
fn setup(
    spec: &Spec,
    opts: &Options,
    control: Option<OwnedFd>,
    creator: Lwc,
    dumpable: bool,
    handoff_sock: Option<&OwnedFd>,
) -> std::result::Result<(), (usize, i32)> {
    let at = |step: usize| move |e: Error| (step, e.as_errno());
    // 0. Our creator's rights stayed with it (`adopt_links`). Without a control socket yet,
    // our creator (and only it: the kernel tells us the peer's pid) may connect one later.
    local::with(|l| {
        l.served = Served {
            creator: Some(creator),
            peer: control.is_none().then(|| (creator, process::getppid())),
            socket: control,
            rights: Rights::ALL,
        };
        if let Some(h) = opts.handoff {
            l.handoff = h;
        }
        if opts.systrap.is_some() {
            l.monitor_of_me = Some(creator.id);
        }
    });
    // 1.
    if let Some(cpu) = opts.cpu {
        process::pin(&[cpu]).map_err(at(1))?;
    }
    if let Some(cpus) = &opts.home {
        process::pin(cpus).map_err(at(1))?;
        process::set_batch(false).map_err(at(1))?;
    }
    // 2. Non-dumpable (inherited from the creator, or set here if the program made the creator
    // dumpable), and no CAP_SYS_PTRACE (dropped by the first lwC at init, so no lwC holds it):
    // no lwC's process can read another's (ptrace, process_vm_readv, /proc/PID/mem,
    // pidfd_getfd).
    if dumpable {
        process::set_non_dumpable().map_err(at(2))?;
    }
    // 3. Memory.
    apply_memory(spec).map_err(at(3))?;
    // 4. Files (the runtime's own descriptors are kept whatever the spec says).
    let runtime_fds = || {
        let mut v: Vec<i32> = local::with(|l| {
            let mut v: Vec<i32> = l.served.socket.iter().map(|f| f.as_raw_fd()).collect();
            v.extend(l.board_fd.iter().map(|f| f.as_raw_fd()));
            v.extend(l.sandbox_link_fd.iter().map(|f| f.as_raw_fd()));
            v.extend(l.regions.iter().filter_map(|m| m.raw_fd()));
            v.extend(l.pool_sockets.iter().map(|f| f.as_raw_fd()));
            v
        });
        v.extend(handoff_sock.map(|h| h.as_raw_fd()));
        v.extend(process::supervisor_fd());
        v
    };
    match &spec.files {
        Files::Copy => {}
        Files::Only(list) => {
            let keep = runtime_fds();
            for fd in fd::open_fds().map_err(at(4))? {
                if !list.contains(&fd) && !keep.contains(&fd) {
                    fd::close_raw(fd);
                }
            }
        }
        Files::Close(list) => {
            let keep = runtime_fds();
            for &fd in list.iter().filter(|fd| !keep.contains(fd)) {
                fd::close_raw(fd);
            }
        }
    }
    // 5.
    if let Some(c) = spec.credentials {
        process::set_credentials(c.uid, c.gid).map_err(at(5))?;
        // A change of uid resets dumpability to the suid_dumpable sysctl: assert it again.
        process::set_non_dumpable().map_err(at(5))?;
    }
    // 6, 7. The trap: from here on, our system calls go to the creator.
    if let (Some(sys), Some(hs)) = (&opts.systrap, handoff_sock) {
        systrap::lock_switchboard().map_err(at(6))?;
        process::set_no_new_privs().map_err(at(6))?;
        let prog = seccomp::trap_filter(&sys.set);
        seccomp::install_and_hand_over(&prog, hs).map_err(at(6))?;
    }
    Ok(())
}

/// Applies the memory entries of `spec` (and the default COPY of shared regions not named).
///
/// A shared region this lwC does not share (COPY, the default, or UNMAP) loses its memfd here,
/// not only its mapping: the memfd is the right to the creator's live pages, and the program's
/// `SharedRegion` handles, copied with the rest of memory, must not keep it.
fn apply_memory(spec: &Spec) -> Result<()> {
    let shared: Vec<Region> = spec
        .memory
        .iter()
        .filter(|(_, op)| *op == MemoryOp::Share)
        .map(|(r, _)| *r)
        .collect();
    let unmapped = |m: &Region| {
        spec.memory
            .iter()
            .any(|(r, op)| *op == MemoryOp::Unmap && r.overlaps(m))
    };
    let wholly_unmapped = |m: &Region| {
        spec.memory
            .iter()
            .any(|(r, op)| *op == MemoryOp::Unmap && r.contains(m))
    };
    let dropped: Vec<Arc<SharedMapping>> = local::with(|l| {
        let (kept, dropped) = std::mem::take(&mut l.regions).into_iter().partition(|m| {
            let r = m.region();
            shared.iter().any(|s| s.overlaps(&r)) && !unmapped(&r)
        });
        l.regions = kept;
        dropped
    });
    for m in &dropped {
        m.close_fd();
        // What the UNMAP entries leave of it becomes a private copy too.
        if !wholly_unmapped(&m.region()) {
            mem::privatize(m.addr, m.len)?;
        }
    }
    for (r, op) in &spec.memory {
        if *op == MemoryOp::Unmap {
            mem::unmap_range(r.addr, r.len)?;
        }
    }
    Ok(())
}

//! The runtime's private state in each lwC: who we are, our inbox, and the descriptor table.
//!
//! It lives in the lwC's private memory, so a child gets a copy when it is created and the
//! runtime then scrubs that copy (see `create`): rights that are backed by kernel objects
//! (links, control sockets, seccomp listeners) are dropped in the child, which unmaps or closes
//! them, before any of its user code runs.

use crate::board::{Board, Notices};
use crate::handoff::Link;
use crate::sys::mem::{SharedMapping, SharedPages};
use crate::types::{Handoff, Lwc, Region, Rights, State, NO_LWC};
use crate::{Error, Result};
use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// The group's switchboard, once the group started.
pub(crate) static BOARD: OnceLock<&'static Board> = OnceLock::new();
/// The group's notice board (read-only here), once the group started.
pub(crate) static NOTICES: OnceLock<&'static Notices> = OnceLock::new();

/// Who this process is in its group. One static, so that a new lwC's first writes (its
/// identity) copy one page, not one per field.
pub(crate) struct Identity {
    /// Our slot, or `NO_LWC` outside a group.
    pub(crate) id: AtomicU32,
    /// Our slot's generation.
    pub(crate) gen: AtomicU32,
    /// Our pid (forked children of an lwC that are not lwCs must not act as it).
    pub(crate) pid: AtomicI32,
}

impl Identity {
    /// Records who we are (in a new lwC, or the first one).
    pub(crate) fn set(&self, id: u32, gen: u32, pid: libc::pid_t) {
        self.pid.store(pid, Ordering::Relaxed);
        self.id.store(id, Ordering::Relaxed);
        self.gen.store(gen, Ordering::Relaxed);
    }
}

pub(crate) static ME: Identity = Identity {
    id: AtomicU32::new(NO_LWC),
    gen: AtomicU32::new(0),
    pid: AtomicI32::new(0),
};

/// Set in a sandboxed (SYSTRAP) lwC, whose view of the switchboard is read-only.
pub(crate) static SANDBOXED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// A descriptor-table entry: what this lwC may do to another.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) gen: u32,
    pub(crate) rights: Rights,
    /// Our end of the link with the target: the kernel-enforced SWITCH right (without it we
    /// have no page to post on, nor its inbox to ring).
    pub(crate) link: Option<Link>,
    /// Our end of the target's control socket: the kernel-enforced OVERLAY/SYSCALL right.
    pub(crate) control: Option<Arc<OwnedFd>>,
    /// The target's pid when we forked it (we reap it).
    pub(crate) child_pid: Option<libc::pid_t>,
    /// When the target is sandboxed (SYSTRAP) and we are its monitor.
    pub(crate) monitor: Option<Monitor>,
}

/// Monitor-side state of a sandboxed lwC.
#[derive(Debug)]
pub(crate) struct Monitor {
    /// The seccomp user-notification listener of the sandboxed lwC.
    pub(crate) listener: OwnedFd,
    /// The notification the sandboxed lwC is blocked in, if any.
    pub(crate) pending: Option<Pending>,
    /// The number of the sandbox's end of its control socket, in its descriptor table.
    pub(crate) control_fd: i32,
}

/// A notification awaiting the monitor's answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub(crate) id: u64,
    /// A real system call (true) or the runtime's own hand-off marker (false).
    pub(crate) trap: bool,
}

/// What our creator may still ask of us, and through which socket.
#[derive(Debug)]
pub(crate) struct Served {
    /// Our creator (None in the group's first lwC).
    pub(crate) creator: Option<Lwc>,
    /// Who may connect our control socket: our creator and its pid (None for a sandbox, whose
    /// socket is made at creation, and once the creator gave up both service rights).
    pub(crate) peer: Option<(Lwc, libc::pid_t)>,
    /// Our end of our own control socket (we serve requests on it).
    pub(crate) socket: Option<OwnedFd>,
    /// The rights our creator still holds on us: we refuse what it gave up, whatever arrives.
    pub(crate) rights: Rights,
}

impl Default for Served {
    fn default() -> Self {
        Served {
            creator: None,
            peer: None,
            socket: None,
            rights: Rights::ALL,
        }
    }
}

/// The whole private state.
#[derive(Debug, Default)]
pub(crate) struct Local {
    pub(crate) handoff: Handoff,
    /// Our own inbox (None outside a group).
    pub(crate) inbox: Option<SharedPages>,
    /// The last notice of ours we have seen (its sequence number).
    pub(crate) notices_seen: u32,
    /// Whom we handed control to and wait for (a death notice naming another is stale).
    pub(crate) awaiting: Option<Lwc>,
    pub(crate) table: Vec<Option<Entry>>,
    /// The requests we serve for our creator.
    pub(crate) served: Served,
    /// Set when we are sandboxed: our monitor's slot.
    pub(crate) monitor_of_me: Option<u32>,
    /// A sandbox's link's sealed memfd, until it maps its view read-only from it.
    pub(crate) sandbox_link_fd: Option<OwnedFd>,
    /// The switchboard's sealed memfd (a sandbox maps the board read-only from it).
    pub(crate) board_fd: Option<OwnedFd>,
    /// Shared regions made or mapped here.
    pub(crate) regions: Vec<Arc<SharedMapping>>,
    /// Snapshot-pool pages mapped here (address, length): a sandbox unmaps them.
    pub(crate) pool_pages: Vec<(usize, usize)>,
    /// The receiving ends of the sockets on which snapshot pools' factories hand over their
    /// spare copies (one per pool): kept by the pools' own copies only, closed in every other
    /// lwC at its birth.
    pub(crate) pool_sockets: Vec<OwnedFd>,
    /// In a pool's factory only: the sending end of its socket (no lwC born here keeps it).
    pub(crate) factory_socket: Option<OwnedFd>,
    /// The CPUs this process was allowed at `init` beyond the group's own (where the group's
    /// helpers run: its supervisor, and the factories of snapshot pools).
    pub(crate) other_cpus: Vec<usize>,
}

thread_local! {
    pub(crate) static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// Runs `f` on the private state.
pub(crate) fn with<R>(f: impl FnOnce(&mut Local) -> R) -> R {
    LOCAL.with(|l| f(&mut l.borrow_mut()))
}

/// Our slot id and generation.
#[inline]
pub(crate) fn me() -> (u32, u32) {
    (
        ME.id.load(Ordering::Relaxed),
        ME.gen.load(Ordering::Relaxed),
    )
}

/// The descriptor of the calling lwC.
pub(crate) fn current() -> Lwc {
    let (id, gen) = me();
    Lwc { id, gen }
}

/// The board (None outside a group).
#[inline]
pub(crate) fn board() -> Option<&'static Board> {
    BOARD.get().copied()
}

/// The notice board (None outside a group).
#[inline]
pub(crate) fn notices() -> Option<&'static Notices> {
    NOTICES.get().copied()
}

impl Local {
    pub(crate) fn entry(&self, id: u32, gen: u32) -> Option<&Entry> {
        self.table
            .get(id as usize)
            .and_then(|e| e.as_ref())
            .filter(|e| e.gen == gen)
    }

    pub(crate) fn entry_mut(&mut self, id: u32, gen: u32) -> Option<&mut Entry> {
        self.table
            .get_mut(id as usize)
            .and_then(|e| e.as_mut())
            .filter(|e| e.gen == gen)
    }

    /// Removes and returns our entry for `id` if it is of generation `gen`.
    pub(crate) fn take_entry(&mut self, id: u32, gen: u32) -> Option<Entry> {
        self.entry(id, gen)?;
        self.table[id as usize].take()
    }

    pub(crate) fn insert(&mut self, id: u32, entry: Entry) {
        self.reserve(id);
        self.table[id as usize] = Some(entry);
    }

    /// Makes room for entry `id` without writing it.
    pub(crate) fn reserve(&mut self, id: u32) {
        let i = id as usize;
        if self.table.len() <= i {
            self.table.resize_with(i + 1, || None);
        }
    }
}

/// Checks that we hold `right` on `to`; returns whether we are its monitor.
pub(crate) fn check_right(op: &'static str, to: &Lwc, right: Rights) -> Result<bool> {
    with(|l| match l.entry(to.id, to.gen) {
        Some(e) if e.rights.contains(right) => Ok(e.monitor.is_some()),
        Some(_) => Err(Error::NoRight {
            op,
            lwc: to.id,
            right: right.name(),
        }),
        None => {
            let alive = board().is_some_and(|b| b.alive(to.id, to.gen));
            Err(if alive {
                Error::NoRight {
                    op,
                    lwc: to.id,
                    right: right.name(),
                }
            } else {
                Error::Dead { op, lwc: to.id }
            })
        }
    })
}

/// Sets our own state on the board.
#[inline]
pub(crate) fn set_state(s: State) {
    if let Some(b) = board() {
        b.slot(me().0).state.store(s);
    }
}

/// Remembers a shared region made or mapped in this lwC.
pub(crate) fn register_region(map: Arc<SharedMapping>) {
    with(|l| l.regions.push(map));
}

/// Whether `r` lies inside a shared region known here.
pub(crate) fn is_shared_region(r: &Region) -> bool {
    with(|l| l.regions.iter().any(|m| m.region().contains(r)))
}

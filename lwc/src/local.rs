//! The runtime's private state in each lwC: who we are, and the descriptor table.
//!
//! It lives in the lwC's private memory, so a child gets a copy when it is created and the
//! runtime then scrubs that copy (see `create`): rights that are backed by kernel objects
//! (control sockets, seccomp listeners) are closed in the child.

use crate::board::Board;
use crate::handoff::Handoff;
use crate::spec::{Region, Rights};
use crate::sys::mem::SharedMapping;
use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

/// The group's switchboard, once the group started.
pub(crate) static BOARD: OnceLock<&'static Board> = OnceLock::new();
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

/// The slot id meaning "no lwC".
pub(crate) const NO_LWC: u32 = u32::MAX;

/// A descriptor-table entry: what this lwC may do to another.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) gen: u32,
    pub(crate) rights: Rights,
    /// Our end of the target's control socket: the kernel-enforced OVERLAY/SYSCALL right.
    pub(crate) control: Option<Arc<OwnedFd>>,
    /// The target's pid when we forked it (we reap it).
    pub(crate) child_pid: Option<libc::pid_t>,
    /// When the target is sandboxed (SYSTRAP) and we are its monitor.
    pub(crate) monitor: Option<Monitor>,
}

impl Entry {
    /// An entry that only lets us switch to lwC generation `gen` (what a callee learns of its
    /// caller, and a new lwC of its creator).
    pub(crate) fn switch_only(gen: u32) -> Entry {
        Entry {
            gen,
            rights: Rights::SWITCH,
            control: None,
            child_pid: None,
            monitor: None,
        }
    }
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

/// The whole private state.
#[derive(Debug, Default)]
pub(crate) struct Local {
    pub(crate) handoff: Handoff,
    pub(crate) table: Vec<Option<Entry>>,
    /// Our end of our own control socket (we serve requests on it).
    pub(crate) service: Option<OwnedFd>,
    /// Who may connect our control socket: our creator and its pid (None for a sandbox, whose
    /// socket is made at creation, and once the creator revoked its rights).
    pub(crate) service_peer: Option<(crate::switch::Lwc, libc::pid_t)>,
    /// Set when we are sandboxed: our monitor's slot.
    pub(crate) monitor_of_me: Option<u32>,
    /// The switchboard's sealed memfd (a sandbox maps the board read-only from it).
    pub(crate) board_fd: Option<OwnedFd>,
    /// Shared regions made or mapped here.
    pub(crate) regions: Vec<Arc<SharedMapping>>,
    /// Snapshot-pool pages mapped here (address, length): a sandbox unmaps them.
    pub(crate) pool_pages: Vec<(usize, usize)>,
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

/// The board (None outside a group).
#[inline]
pub(crate) fn board() -> Option<&'static Board> {
    BOARD.get().copied()
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

    /// Learns of `id` as a caller: it gets the SWITCH right unless we already hold more.
    pub(crate) fn learn_caller(&mut self, id: u32, gen: u32) {
        if id == NO_LWC || self.entry(id, gen).is_some() {
            return;
        }
        self.insert(id, Entry::switch_only(gen));
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

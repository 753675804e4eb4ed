//! Options of the group and of each new lwC.

use crate::sys::seccomp::TrapSet;
use crate::types::Handoff;

/// How a group runs: where its thread of control may run and how parked lwCs wait.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupConfig {
    /// CPUs the group's lwCs are pinned to; empty means the CPU the caller runs on now.
    /// Keep a [`Handoff::Block`] group on one CPU: a cross-core wake-up costs 10–20× a
    /// same-core one.
    pub cpus: Vec<usize>,
    /// How parked lwCs wait (each new lwC inherits it unless [`Options::handoff`] says otherwise).
    pub handoff: Handoff,
}

/// Options of one `create` call.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub(crate) handoff: Option<Handoff>,
    pub(crate) cpu: Option<usize>,
    pub(crate) systrap: Option<Systrap>,
    pub(crate) speak_for_creator: bool,
    /// Where the new lwC runs, and as an ordinary (not batch) task: a snapshot pool's spare,
    /// forked by a factory that runs elsewhere as a batch job, comes back to the group's CPUs.
    pub(crate) home: Option<Vec<usize>>,
}

impl Options {
    /// Inherit everything from the creator.
    pub fn new() -> Self {
        Self::default()
    }

    /// How the new lwC waits while parked.
    pub fn handoff(mut self, handoff: Handoff) -> Self {
        self.handoff = Some(handoff);
        self
    }

    /// Pin the new lwC to this CPU (e.g. the other CPU of a spinning pair).
    pub fn cpu(mut self, cpu: usize) -> Self {
        self.cpu = Some(cpu);
        self
    }

    /// Let the new lwC switch to every lwC its creator may switch to, **as its creator**: it
    /// keeps its creator's links (the pages its creator shares with each of them), so they see
    /// its creator as the caller. Without this (the default) a new lwC may switch only to its
    /// creator and to its own children, and every lwC sees who really switched; with it, a
    /// sibling can pass control on around a ring, as the paper's inherited descriptors allow,
    /// at the price of that name. Snapshot copies are made this way (each resumes as the lwC
    /// that took the snapshot). Ignored for a sandbox, which switches only to its monitor.
    pub fn speak_for_creator(mut self) -> Self {
        self.speak_for_creator = true;
        self
    }

    /// The paper's LWC_SYSTRAP: the new lwC's system calls go to its creator (its monitor) as
    /// switches carrying the call, which the monitor answers with [`crate::answer`].
    pub fn systrap(mut self, systrap: Systrap) -> Self {
        self.systrap = Some(systrap);
        self
    }
}

/// Which system calls of a SYSTRAP lwC are sent to the monitor.
///
/// The runtime never traps `futex` (a parked lwC waits on one), `exit`, `exit_group`,
/// `rt_sigreturn` and `restart_syscall`; with [`Systrap::all`] every other call is trapped.
#[derive(Debug, Clone)]
pub struct Systrap {
    pub(crate) set: TrapSet,
}

impl Systrap {
    /// Trap every system call (but the five above).
    pub fn all() -> Self {
        Systrap { set: TrapSet::All }
    }

    /// Trap only these system call numbers (e.g. `libc::SYS_openat`).
    pub fn only(numbers: &[i64]) -> Self {
        Systrap {
            set: TrapSet::Only(numbers.to_vec()),
        }
    }
}

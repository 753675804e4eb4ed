//! # lwc — light-weight contexts for Linux
//!
//! The OSDI '16 paper *Light-Weight Contexts: An OS Abstraction for Safety and Performance*
//! (Litton et al.) gives a process several isolated contexts (lwCs), each with its own memory,
//! file-descriptor table and credentials, switched like coroutines, with snapshot/rollback,
//! system-call trapping and selective sharing. This crate implements the paper's API on
//! unmodified Linux.
//!
//! ## How it maps onto Linux
//!
//! Linux cannot switch one thread between address spaces, so **an lwC is a process**, and a
//! switch is a direct hand-off between processes: post a message on the pages the two lwCs
//! share (and no other lwC maps), ring the target's doorbell (futex), park. The isolation is
//! the kernel's process isolation, hardened (every lwC is non-dumpable and keeps only a small
//! documented set of capabilities, none of which reads another process), and
//! a switch costs what a same-core task switch costs: the kernel's floor, not the paper's
//! in-kernel lwC switch.
//!
//! ```text
//!   group:  guardian (original pid) · supervisor · lwC 0 ⇄ lwC 1 ⇄ lwC 2 ...   (one CPU)
//!            switchboard (MAP_SHARED): slot per lwC = state, pid, whom it awaits
//!            per creator/child pair: the child's inbox (doorbell) and their link (messages)
//! ```
//!
//! Limits, stated plainly: one thread of control per group (a multi-core server runs one group
//! per core); every right is backed by a kernel object (switch: pages only the pair maps;
//! overlay and syscall: a control socket per lwC); a sandboxed (SYSTRAP) lwC switches only to
//! its monitor.
//!
//! ## Create and switch
//!
//! ```no_run
//! use lwc::{Args, Created, Options, Spec};
//!
//! lwc::init(&lwc::GroupConfig::default()).unwrap();
//! let secret = lwc::Pages::new(4096).unwrap();
//! // SAFETY: single-threaded; the child never touches `secret`.
//! match unsafe { lwc::create(&Spec::new().unmap(secret.region()), &Options::new()) }.unwrap() {
//!     Created::Parent(child) => {
//!         let back = lwc::switch(&child, Args([41, 0, 0, 0, 0, 0])).unwrap();
//!         assert_eq!(back.args.0[0], 42);
//!     }
//!     Created::Child { caller, args } => {
//!         // `secret` is not mapped here.
//!         let _ = lwc::discard_switch(&caller, Args([args.0[0] + 1, 0, 0, 0, 0, 0]));
//!     }
//! }
//! ```
//!
//! ## Snapshot and rollback
//!
//! ```no_run
//! use lwc::{Snapshot, Strategy};
//! // SAFETY: single-threaded program.
//! let taken = unsafe { Snapshot::take(Strategy::Pool { size: 4 }) }.unwrap();
//! let mut counter = 0u64;
//! counter += 1; // always 1 here: every rollback undoes it
//! assert_eq!(counter, 1);
//! if !taken.restored() {
//!     let err = taken.snapshot().rollback();
//!     panic!("{err}");
//! }
//! ```

#![warn(missing_docs)]

// Floors, top down (each imports only from the floors below it):
//   snapshot
//   create · service (syscall, overlay, restrict, close)
//   switch · systrap · group
//   turn (wait for our turn, serve requests) → serve → deliver
//   local (private state) · spec · options
//   handoff (links and inboxes) · board (switchboard, notices)
//   sys (system calls) · types (vocabulary) · error
mod board;
mod create;
mod deliver;
mod error;
mod group;
mod handoff;
mod local;
mod options;
mod serve;
mod service;
mod snapshot;
mod spec;
mod switch;
mod sys;
mod systrap;
mod turn;
mod types;

pub use create::create;
pub use error::{Error, Result};
pub use group::init;
pub use options::{GroupConfig, Options, Systrap};
pub use service::{close, overlay, restrict, syscall, Overlay};
pub use snapshot::{Snapshot, Strategy, Taken};
pub use spec::{Credentials, Files, MemoryOp, SharedRegion, Spec};
pub use switch::{current, discard_switch, switch};
pub use sys::mem::Pages;
pub use sys::seccomp;
pub use systrap::answer;
pub use types::{Answer, Args, Created, Handoff, Lwc, Region, Rights, Switched, Trap};

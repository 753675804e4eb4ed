//! Snapshot and rollback, with three strategies.
//!
//! | strategy | take | rollback costs | the paper |
//! |---|---|---|---|
//! | [`Strategy::Fork`] | one parked copy | a switch + a fork (the resumed copy forks its replacement) | yes |
//! | [`Strategy::Pool`] | a factory copy and `size` spares | a switch and the mapping of the spare's link; the factory forks a new spare in the background (on the group's other CPUs where it has any) | no |
//! | [`Strategy::InPlace`] | tracks writes (userfaultfd) | rewriting the pages written since `take`, plus a scan of the mappings under 128 MiB (large ones keep a write log) | no |
//!
//! Fork and Pool resume a copy (another process: the pid changes, descriptors held by other
//! lwCs for the dropped one go dead). InPlace restores the same process.

pub(crate) mod factory;
pub(crate) mod in_place;
pub(crate) mod pool;

use crate::{Error, Result};
use factory::Factory;
use in_place::InPlace;
use pool::Pool;

/// How a snapshot is kept and restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The paper's: a parked copy; a rollback resumes it and it forks its own replacement.
    Fork,
    /// `size` spare copies (1–64), made one at a time by a factory copy while the program
    /// runs: a rollback costs a switch while a spare waits, and one fork's wait when rollbacks
    /// come faster than the factory forks.
    Pool {
        /// Copies kept ready.
        size: usize,
    },
    /// Restore the written pages in place (userfaultfd write-protect: a write log for large
    /// anonymous mappings, PAGEMAP_SCAN for the rest); cost follows pages written, not
    /// address-space size. File descriptors are not rolled back.
    InPlace,
}

/// A snapshot of an lwC's state, restorable any number of times.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    inner: Inner,
}

#[derive(Debug, Clone, Copy)]
enum Inner {
    Fork(Pool),
    Pool(Factory, Strategy),
    InPlace(InPlace),
}

/// What [`Snapshot::take`] returned.
#[derive(Debug)]
pub enum Taken {
    /// The snapshot was just taken; we run on from it.
    Saved(Snapshot),
    /// A rollback brought us back here; the snapshot is ready for the next rollback.
    Restored(Snapshot),
}

impl Taken {
    /// The snapshot, either way.
    pub fn snapshot(&self) -> Snapshot {
        match self {
            Taken::Saved(s) | Taken::Restored(s) => *s,
        }
    }

    /// Whether we came here by a rollback.
    pub fn restored(&self) -> bool {
        matches!(self, Taken::Restored(_))
    }
}

impl Snapshot {
    /// Takes a snapshot of the calling lwC. Returns twice, like setjmp: now with
    /// [`Taken::Saved`], and after each [`Snapshot::rollback`] with [`Taken::Restored`].
    ///
    /// ```no_run
    /// use lwc::{Snapshot, Strategy};
    /// // SAFETY: single-threaded program.
    /// let taken = unsafe { Snapshot::take(Strategy::Fork) }.unwrap();
    /// let snap = taken.snapshot();
    /// // ... serve one session, dirtying memory ...
    /// if !taken.restored() {
    ///     let err = snap.rollback(); // returns only on failure
    ///     panic!("rollback failed: {err}");
    /// }
    /// ```
    ///
    /// # Safety
    /// Returns twice. The caller must be single-threaded, and must not rely on values written
    /// after `take` surviving a rollback (that is the point), nor on file descriptors opened
    /// after `take` being closed by one (in-place).
    ///
    /// # Errors
    /// [`Error::Unavailable`] for [`Strategy::InPlace`] on kernels without the needed
    /// userfaultfd features, [`Error::Unsupported`] for it while memory is pinned (io_uring
    /// registered buffers: the kernel writes them unseen), [`Error::Invalid`] for a pool size
    /// outside 1–64, and errors of `create`.
    #[allow(unsafe_code)]
    pub unsafe fn take(strategy: Strategy) -> Result<Taken> {
        let (inner, restored) = match strategy {
            Strategy::Fork => Pool::take(1).map(|(p, restored)| (Inner::Fork(p), restored))?,
            Strategy::Pool { size } => {
                Factory::take(size).map(|(p, restored)| (Inner::Pool(p, strategy), restored))?
            }
            Strategy::InPlace => {
                // SAFETY: our caller upholds take's contract, which is in-place take's.
                let (s, restored) = unsafe { InPlace::take() }?;
                (Inner::InPlace(s), restored)
            }
        };
        let snap = Snapshot { inner };
        Ok(if restored {
            Taken::Restored(snap)
        } else {
            Taken::Saved(snap)
        })
    }

    /// Returns the lwC to the snapshot: execution continues at [`Snapshot::take`], which
    /// returns [`Taken::Restored`]. Returns only on failure.
    ///
    /// # References
    /// Litton et al., OSDI '16, §4 (snapshot and rollback).
    pub fn rollback(&self) -> Error {
        match &self.inner {
            Inner::Fork(p) => p.rollback(),
            Inner::Pool(p, _) => p.rollback(),
            Inner::InPlace(s) => s.rollback(),
        }
    }

    /// The strategy it was taken with.
    pub fn strategy(&self) -> Strategy {
        match &self.inner {
            Inner::Fork(_) => Strategy::Fork,
            Inner::Pool(_, s) => *s,
            Inner::InPlace(_) => Strategy::InPlace,
        }
    }

    /// Pristine copies parked now, ready for a rollback (fork and pool strategies; 0 for
    /// in-place).
    pub fn ready_copies(&self) -> usize {
        match &self.inner {
            Inner::Fork(p) => p.ready(),
            Inner::Pool(p, _) => p.ready(),
            Inner::InPlace(_) => 0,
        }
    }

    /// Pages the last in-place rollback rewrote (None for the other strategies).
    pub fn last_restored_pages(&self) -> Option<usize> {
        match &self.inner {
            Inner::InPlace(s) => Some(s.last_restored_pages()),
            Inner::Fork(_) | Inner::Pool(..) => None,
        }
    }

    /// Whether `strategy` works on this kernel (Fork and Pool always do).
    pub fn available(strategy: Strategy) -> Result<()> {
        match strategy {
            Strategy::InPlace => in_place::probe(),
            _ => Ok(()),
        }
    }

    /// Releases the snapshot: ends its parked copies (for a pool, its factory too, waited
    /// for), or stops tracking writes.
    pub fn release(self) -> Result<()> {
        match self.inner {
            Inner::Fork(p) => {
                p.release();
                Ok(())
            }
            Inner::Pool(p, _) => {
                p.release();
                Ok(())
            }
            Inner::InPlace(s) => s.release(),
        }
    }
}

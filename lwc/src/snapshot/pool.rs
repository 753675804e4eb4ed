//! Fork-based snapshots ([`crate::Strategy::Fork`]): pristine copies of the snapshotted lwC,
//! parked, one of which a rollback switches into (discarding the dirty caller).
//!
//! The paper's strategy is a pool of one: the copy that a rollback resumes first forks its own
//! replacement, so every rollback pays a fork. (A pool whose copies are made off the rollback
//! path is `factory`; it shares the size check and the copies' spec with this one.)
//!
//! ```text
//!   PoolPage (MAP_SHARED, one per snapshot) : count, entries[..count] = pristine copies (id, gen)
//!   rollback: pop → discard-switch into it → it refills the pool if empty → take() returns Restored
//! ```

use crate::create::{create_with, Lineage};
use crate::switch::discard_with;
use crate::sys::mem::{map_shared_static, SharedZeroed};
use crate::types::{Args, Created, Kind, Lwc, NO_LWC};
use crate::{local, Error, Options, Result, Spec};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Most copies a pool holds.
pub(crate) const MAX_POOL: usize = 64;

/// The shared record of a pool's pristine copies.
#[repr(C)]
pub(crate) struct PoolPage {
    count: AtomicU32,
    entries: [AtomicU64; MAX_POOL],
}

// SAFETY: the snapshot pool is made of atomics only; all-zero is an empty pool.
#[allow(unsafe_code)]
unsafe impl SharedZeroed for PoolPage {}

/// A fork-based snapshot (Copy: every copy and the taker hold the same page).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pool {
    page: &'static PoolPage,
    size: u32,
}

impl std::fmt::Debug for PoolPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolPage")
            .field("count", &self.count.load(Ordering::Relaxed))
            .finish()
    }
}

impl Pool {
    /// Makes the pool and its first `size` copies. Returns the pool and whether a rollback
    /// brought us here (true in the copy it resumed).
    ///
    /// Runs inside `Snapshot::take`'s unsafe contract (fork semantics).
    #[allow(unsafe_code)]
    pub(crate) fn take(size: usize) -> Result<(Pool, bool)> {
        let size = checked_size(size)?;
        let page: &'static PoolPage = map_shared_static()?;
        local::with(|l| {
            l.pool_pages.push((
                page as *const PoolPage as usize,
                std::mem::size_of::<PoolPage>(),
            ))
        });
        let pool = Pool { page, size };
        let restored = pool.fill()?;
        Ok((pool, restored))
    }

    /// Copies parked now, as the page says, but never more than the pool holds: the page is
    /// shared with every lwC forked since, and a count written there must not index past the
    /// table. None in a sandbox, which has no view of the page.
    fn count(&self) -> Option<u32> {
        if local::SANDBOXED.load(Ordering::Relaxed) {
            return None;
        }
        Some(self.page.count.load(Ordering::Acquire).min(self.size))
    }

    /// Forks copies until the pool is full. Returns true in a copy that a rollback resumed
    /// (it has refilled the pool itself if it was empty).
    #[allow(unsafe_code)]
    fn fill(&self) -> Result<bool> {
        while self.count().is_some_and(|n| n < self.size) {
            // SAFETY: Snapshot::take's contract (single-threaded, fork semantics) covers this.
            match unsafe { create_with(&copy_spec(), &Options::new(), Lineage::Snapshot, None)? } {
                Created::Parent(l) => {
                    let n = self.count().unwrap_or(self.size) as usize;
                    self.page.entries[n].store(pack(&l), Ordering::Release);
                    self.page.count.store(n as u32 + 1, Ordering::Release);
                }
                Created::Child { .. } => {
                    // A rollback resumed us: we are the new current state. Refill if dry.
                    if self.count() == Some(0) {
                        self.fill()?;
                    }
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Drops the caller and resumes a pristine copy. Returns only on failure.
    pub(crate) fn rollback(&self) -> Error {
        loop {
            let Some(n) = self.count() else {
                return Error::Unsupported {
                    op: "Snapshot::rollback",
                    reason: "a sandboxed (SYSTRAP) lwC cannot roll back a pool snapshot",
                };
            };
            if n == 0 {
                return Error::Dead {
                    op: "Snapshot::rollback",
                    lwc: NO_LWC,
                };
            }
            let l = unpack(self.page.entries[n as usize - 1].load(Ordering::Acquire));
            self.page.count.store(n - 1, Ordering::Release);
            match discard_with(&l, Kind::Rollback, Args::NONE, false) {
                Error::Dead { .. } => continue, // that copy was killed: try the next
                e => return e,
            }
        }
    }

    /// Pristine copies parked now.
    pub(crate) fn ready(&self) -> usize {
        self.count().unwrap_or(0) as usize
    }

    /// Ends every parked copy.
    pub(crate) fn release(&self) {
        while let Some(n) = self.count().and_then(|n| n.checked_sub(1)) {
            let l = unpack(self.page.entries[n as usize].load(Ordering::Acquire));
            self.page.count.store(n, Ordering::Release);
            // Copies we forked are closed; copies made by the lwC we resumed from are told
            // through the links we keep from it.
            if local::with(|loc| {
                loc.entry(l.id, l.gen)
                    .is_some_and(|e| e.child_pid.is_some())
            }) {
                let _ = crate::close(l);
            } else {
                crate::switch::terminate_parked(&l);
            }
        }
    }
}

/// `size` as a pool's size, if it is one (1 to [`MAX_POOL`]).
pub(crate) fn checked_size(size: usize) -> Result<u32> {
    if size == 0 || size > MAX_POOL {
        return Err(Error::Invalid {
            op: "Snapshot::take",
            reason: format!("pool size {size} is outside 1..={MAX_POOL}"),
        });
    }
    Ok(size as u32)
}

/// Copies keep sharing what is shared: a shared region is outside any snapshot.
pub(crate) fn copy_spec() -> Spec {
    let regions: Vec<crate::types::Region> =
        local::with(|l| l.regions.iter().map(|m| m.region()).collect());
    regions
        .into_iter()
        .fold(Spec::new(), |s, r| s.share_region(r))
}

fn pack(l: &Lwc) -> u64 {
    ((l.id as u64) << 32) | l.gen as u64
}

fn unpack(v: u64) -> Lwc {
    Lwc {
        id: (v >> 32) as u32,
        gen: v as u32,
    }
}

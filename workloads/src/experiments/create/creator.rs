//! The `fork`, `spawn` and `thread` backends of `create`: a pinned parent with its resident
//! memory populated that creates (and finishes) contexts one after the other.

use std::os::unix::ffi::OsStrExt;

use super::Creates;
use crate::experiment::{os, MeasureError};
use crate::measure::{AffinityGuard, Placement};
use crate::sys;

/// The program `spawn` starts.
pub const SPAWN_PROGRAM: &std::ffi::CStr = c"/bin/true";

/// A parent ready to create contexts of one kind (`fork`, `spawn` or `thread`): pinned to one
/// CPU, with its resident memory populated. `lwc` creates need a group of their own: see
/// [`super::time_lwc_creates`].
pub struct Creator {
    kind: Kind,
    region: sys::Region,
    pages_written: usize,
    _pin: AffinityGuard,
}

enum Kind {
    /// Checked single-threaded once, when the creator was made: not at every timed fork.
    Fork(sys::SingleThreaded),
    Spawn,
    Thread,
}

impl Creator {
    /// Pins the calling thread to one CPU (until the creator is dropped) and maps and writes
    /// `resident_bytes` of private memory.
    pub fn new(
        creates: Creates,
        resident_bytes: usize,
        pages_written: usize,
    ) -> Result<Self, MeasureError> {
        let kind = match creates {
            Creates::Fork => {
                Kind::Fork(sys::SingleThreaded::check().map_err(|e| os("check for one thread", e))?)
            }
            Creates::Spawn => Kind::Spawn,
            Creates::Thread => Kind::Thread,
            other => {
                return Err(MeasureError::BadPoint(format!(
                    "Creator handles fork, spawn and thread, not {other:?}"
                )))
            }
        };
        if matches!(kind, Kind::Spawn) {
            if pages_written > 0 {
                return Err(MeasureError::BadPoint(
                    "spawn runs another program: pages_written must be 0".into(),
                ));
            }
            let program = std::ffi::OsStr::from_bytes(SPAWN_PROGRAM.to_bytes());
            if !std::path::Path::new(program).exists() {
                return Err(MeasureError::Unavailable(format!(
                    "{} does not exist",
                    program.display()
                )));
            }
        }
        let (cpu, _) = Placement::SameCore.cpus()?;
        let pin = AffinityGuard::pin(cpu)?;
        let region =
            sys::Region::populated(resident_bytes).map_err(|e| os("mmap (resident memory)", e))?;
        Ok(Self {
            kind,
            region,
            pages_written,
            _pin: pin,
        })
    }

    /// Creates (and finishes) `k` contexts, one after the other.
    pub fn create(&mut self, k: u64) -> Result<(), MeasureError> {
        for _ in 0..k {
            match &self.kind {
                Kind::Fork(single) => fork_once(single, &mut self.region, self.pages_written)?,
                Kind::Spawn => spawn_once()?,
                Kind::Thread => thread_once(&mut self.region, self.pages_written)?,
            }
        }
        Ok(())
    }
}

fn check_exit(op: &'static str, code: std::io::Result<i32>) -> Result<(), MeasureError> {
    match code {
        Ok(0) => Ok(()),
        Ok(c) => Err(os(
            op,
            std::io::Error::other(format!("child exited with status {c}")),
        )),
        Err(e) => Err(os(op, e)),
    }
}

fn fork_once(
    single: &sys::SingleThreaded,
    region: &mut sys::Region,
    pages: usize,
) -> Result<(), MeasureError> {
    let pid = sys::fork_while(single, || {
        region.write_pages(pages);
        0
    })
    .map_err(|e| os("fork", e))?;
    check_exit("waitpid (fork child)", sys::wait_exit_code(pid))
}

fn spawn_once() -> Result<(), MeasureError> {
    check_exit("posix_spawn /bin/true", sys::spawn_and_wait(SPAWN_PROGRAM))
}

fn thread_once(region: &mut sys::Region, pages: usize) -> Result<(), MeasureError> {
    let bytes = region.bytes_mut();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .spawn_scoped(s, || sys::write_pages(bytes, pages))
            .map_err(|e| os("thread spawn", e))?
            .join()
            .map_err(|_| os("thread join", std::io::Error::other("the thread panicked")))
    })
}

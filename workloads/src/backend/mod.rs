//! Switch backends: two contexts that hand control to each other (ping-pong).
//!
//! Every backend of DESIGN.md §3 implements [`Backend`]; the `switch` experiment and the criterion
//! benches are generic over it. A [`PingPong`] session owns both parties; one round trip is two
//! one-way switches (measuring party → partner → measuring party).
//!
//! | name | parties | hand-off |
//! |---|---|---|
//! | `process-pipe` | two processes | one byte each way over a pipe pair (lmbench's `lat_ctx`) |
//! | `process-futex` | two processes | futex on a `MAP_SHARED` page: the kernel's floor |
//! | `process-spin` | two processes | spinning on a `MAP_SHARED` word (two cores only): the floor of `lwc-spin` |
//! | `thread-futex` | two threads | private futex |
//! | `thread-condvar` | two threads | `std::sync::Mutex` + `Condvar` |
//! | `coroutine` | one thread | `corosensei` stack switch (no isolation, same core only) |
//! | `lwc` | two lwCs | `lwc::switch`, blocking hand-off |
//! | `lwc-spin` | two lwCs | `lwc::switch`, spinning hand-off (two cores only) |
//! | `mock` | none | deterministic fake timings, for pipeline tests only |

use crate::experiment::{MeasureError, RunSamples};
use crate::measure::{self, AffinityGuard, Metric, Placement, SamplePlan};

mod coroutine;
mod futex;
pub mod lwc;
pub(crate) mod mock;
mod process;
mod thread;

pub use self::coroutine::Coroutine;
pub use self::lwc::{Lwc, LwcSpin};
pub use self::mock::Mock;
pub use self::process::{ProcessFutex, ProcessPipe, ProcessSpin};
pub use self::thread::{ThreadCondvar, ThreadFutex};

/// An open ping-pong between a measuring party (the caller) and a partner.
pub trait PingPong {
    /// Performs `n` round trips: control goes to the partner and back `n` times.
    fn round_trips(&mut self, n: u64) -> Result<(), MeasureError>;
}

/// A way for two contexts to switch to each other.
pub trait Backend: Sync {
    /// The backend's name in JSON and on the command line (DESIGN.md §3).
    fn name(&self) -> &'static str;

    /// The placements this backend is measured with (a coroutine never leaves its thread, so it
    /// has no two-core variant; a spinning hand-off on one core only measures the time slice).
    fn placements(&self) -> &'static [Placement] {
        &Placement::ALL
    }

    /// Starts the partner and connects it to the calling thread. The caller must already run on
    /// `cpus.0` (the measuring CPU); the partner pins itself to `cpus.1`.
    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError>;

    /// Measures one run: pins the calling thread, opens a session and times round trips with
    /// [`measure::run_timed`]; samples are ns per one-way switch.
    /// The calling thread's affinity is restored afterwards.
    fn measure(&self, placement: Placement, plan: &SamplePlan) -> Result<RunSamples, MeasureError> {
        let cpus = placement.cpus()?;
        let _pin = AffinityGuard::pin(cpus.0)?;
        let mut session = self.open(cpus)?;
        measure::run_timed(plan, Metric::ONE_WAY_SWITCH_NS, |n| session.round_trips(n))
    }
}

/// Every real backend, in the order the switch experiment plans them (no `mock`).
pub fn all() -> [&'static dyn Backend; 8] {
    [
        &Lwc,
        &LwcSpin,
        &ProcessPipe,
        &ProcessFutex,
        &ProcessSpin,
        &ThreadFutex,
        &ThreadCondvar,
        &Coroutine,
    ]
}

/// The backend called `name`, `mock` included.
pub fn by_name(name: &str) -> Option<&'static dyn Backend> {
    if name == Mock.name() {
        return Some(&Mock);
    }
    all().into_iter().find(|b| b.name() == name)
}

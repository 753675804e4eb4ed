//! The context layer: K parties passing control around a ring on chosen CPUs, for every switch
//! backend. Ping-pong (the `switch` experiment) is the ring of K = 2; the coming `tlb` ring
//! (K = 2…32 on one CPU) and `scale` (N parked contexts) use the same layer.
//!
//! ```text
//!   cpus = [c0, c1, ..., c(K-1)]      party 0 is the caller (measures), party i runs on ci
//!   lap:  0 ──► 1 ──► 2 ──► ... ──► K-1 ──► 0          (K one-way switches, hops)
//! ```
//!
//! Every backend of DESIGN.md §3 implements [`Backend`]; [`Backend::open`] starts the K - 1
//! partners and returns the open [`Ring`]. `thread-futex`, `process-futex` and `lwc` also open
//! a ring whose parties each touch a private working set after every switch
//! ([`Backend::open_touching`], [`working_set`]): the `tlb` experiment.
//!
//! | name | parties | hand-off |
//! |---|---|---|
//! | `process-pipe` | K processes | one byte over a ring of pipes (lmbench's `lat_ctx`) |
//! | `process-futex` | K processes | a futex word per party on a `MAP_SHARED` page: the kernel's floor |
//! | `thread-futex` | K threads | a private futex word per party |
//! | `thread-condvar` | K threads | one `std::sync::Mutex`, a `Condvar` per party |
//! | `coroutine` | one thread | `corosensei` stack switches; the caller resumes each coroutine in turn (2 switches a hop) |
//! | `lwc` | K lwCs | `lwc::switch` to the next lwC, blocking hand-off |
//! | `lwc-spin` | K lwCs | `lwc::switch`, spinning hand-off (parties on distinct CPUs) |
//! | `process-spin` | K processes | busy waiting on a cache line per party of a `MAP_SHARED` page (distinct CPUs): the raw cross-core hand-off, one line per hop |
//! | `mock` | none | deterministic fake timings, for pipeline tests only |

use std::time::Duration;

use crate::experiment::{Counter, MeasureError, RunSamples};
use crate::measure::{self, AffinityGuard, Metric, SamplePlan};

mod coroutine;
mod futex;
pub mod lwc;
pub(crate) mod mock;
mod process;
mod spin;
mod thread;
pub mod working_set;

pub use self::coroutine::Coroutine;
pub use self::lwc::{Lwc, LwcSpin};
pub use self::mock::Mock;
pub use self::process::{ProcessFutex, ProcessPipe};
pub use self::spin::ProcessSpin;
pub use self::thread::{ThreadCondvar, ThreadFutex};
pub use self::working_set::{PageSize, Touch, WorkingSet};

/// An open ring of K parties; the caller is party 0.
pub trait Ring {
    /// Performs `n` laps: control goes from the caller around the ring and back `n` times.
    fn laps(&mut self, n: u64) -> Result<(), MeasureError>;

    /// One-way switches in one lap: K for a real ring (2 for ping-pong).
    fn switches_per_lap(&self) -> u64;
}

/// A way for K contexts to pass control to each other.
pub trait Backend: Sync {
    /// The backend's name in JSON and on the command line (DESIGN.md §3).
    fn name(&self) -> &'static str;

    /// Starts the partners (parties 1..K) and connects them to the calling thread. `cpus[i]` is
    /// party i's CPU, K = `cpus.len()` ≥ 2; the caller must already run on `cpus[0]`.
    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError>;

    /// Measures one run: pins the calling thread, opens a ring and times laps with
    /// [`measure::run_timed`]; samples are ns per one-way switch, in a series called `series`.
    /// The calling thread's affinity is restored afterwards.
    fn measure(
        &self,
        cpus: &[usize],
        series: &'static str,
        plan: &SamplePlan,
    ) -> Result<RunSamples, MeasureError> {
        let (_pin, mut ring) = pinned_ring(self, cpus)?;
        let metric = Metric::switch_ns(series, ring.switches_per_lap());
        measure::run_timed(plan, metric, |n| ring.laps(n))
    }

    /// Starts partners that each touch a private working set of `touch` every time they get
    /// control (the `tlb` ring); party 0's own set is [`Backend::measure_touching`]'s. Backends
    /// without such a variant say so ([`MeasureError::Unavailable`]).
    fn open_touching(&self, cpus: &[usize], touch: Touch) -> Result<Box<dyn Ring>, MeasureError> {
        let _ = (cpus, touch);
        Err(MeasureError::Unavailable(format!(
            "{} has no ring that touches a working set",
            self.name()
        )))
    }

    /// [`Backend::measure`] around a ring in which every party, party 0 included, touches its
    /// own private working set of `touch` after each switch; samples are ns per one-way switch
    /// including the touches.
    fn measure_touching(
        &self,
        cpus: &[usize],
        touch: Touch,
        series: &'static str,
        plan: &SamplePlan,
    ) -> Result<RunSamples, MeasureError> {
        check_ring(cpus)?;
        let _pin = AffinityGuard::pin(cpus[0])?;
        let ring = self.open_touching(cpus, touch)?;
        run_touching(ring, touch, series, plan)
    }

    /// Times `iters` one-way switches around a fresh ring (set-up not timed; at least one lap),
    /// for criterion's `iter_custom`.
    fn time_switches(&self, cpus: &[usize], iters: u64) -> Result<Duration, MeasureError> {
        let (_pin, mut ring) = pinned_ring(self, cpus)?;
        time_switches_of(ring.as_mut(), iters)
    }
}

/// Pins the caller to `cpus[0]` (until the guard drops) and opens a ring there.
fn pinned_ring<B: Backend + ?Sized>(
    b: &B,
    cpus: &[usize],
) -> Result<(AffinityGuard, Box<dyn Ring>), MeasureError> {
    check_ring(cpus)?;
    let pin = AffinityGuard::pin(cpus[0])?;
    let ring = b.open(cpus)?;
    Ok((pin, ring))
}

/// Party 0's side of a touching ring: after each lap (when control is back) it touches its own
/// working set too.
struct Touching {
    ring: Box<dyn Ring>,
    own: WorkingSet,
}

impl Ring for Touching {
    fn laps(&mut self, n: u64) -> Result<(), MeasureError> {
        for _ in 0..n {
            self.ring.laps(1)?;
            self.own.touch();
        }
        Ok(())
    }

    fn switches_per_lap(&self) -> u64 {
        self.ring.switches_per_lap()
    }
}

/// Times laps of `ring` (whose partners touch their sets) with party 0 touching its own set of
/// `touch`; for huge pages, records the share of party 0's set the kernel backed with them
/// (`huge_page_share`, 0 to 1).
pub(crate) fn run_touching(
    ring: Box<dyn Ring>,
    touch: Touch,
    series: &'static str,
    plan: &SamplePlan,
) -> Result<RunSamples, MeasureError> {
    let mut ring = Touching {
        ring,
        own: WorkingSet::new(touch)?,
    };
    let metric = Metric::switch_ns(series, ring.switches_per_lap());
    let mut run = measure::run_timed(plan, metric, |n| ring.laps(n))?;
    if touch.page_size == PageSize::Huge && touch.pages > 0 {
        let bytes = (touch.pages * rustix::param::page_size()) as f64;
        let share = match ring.own.huge_bytes() {
            Some(huge) => Counter::Value((huge as f64 / bytes).min(1.0)),
            None => Counter::Unavailable {
                unavailable: "/proc/self/smaps does not show the working set".into(),
            },
        };
        run.counters.insert("huge_page_share".into(), share);
    }
    Ok(run)
}

/// A ring needs at least two parties.
pub(crate) fn check_ring(cpus: &[usize]) -> Result<(), MeasureError> {
    if cpus.len() < 2 {
        return Err(MeasureError::BadPoint(format!(
            "a ring needs at least two parties, not {}",
            cpus.len()
        )));
    }
    Ok(())
}

/// The time of `iters` one-way switches (rounded up to whole laps) after a few untimed laps.
fn time_switches_of(ring: &mut dyn Ring, iters: u64) -> Result<Duration, MeasureError> {
    let per_lap = ring.switches_per_lap().max(1);
    let laps = iters.div_ceil(per_lap).max(1);
    let ns = measure::time_ns(laps.clamp(1, 100), laps, |n| ring.laps(n))?;
    // Scale back to exactly `iters` switches.
    Ok(Duration::from_nanos(
        (ns as f64 * iters as f64 / (laps * per_lap) as f64) as u64,
    ))
}

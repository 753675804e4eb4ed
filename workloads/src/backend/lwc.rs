//! `lwc` and `lwc-spin`: `lwc::switch` between two lwCs of one group, and the lwC side of the
//! `create` experiment.
//!
//! ```text
//!   worker ──fork (isolate)──► lwc::init(cpus, handoff) ─► first lwC (measures)
//!                                                            │ create(child, pinned to cpus.1)
//!                                                            │ switch ⇄ child: loop { switch(caller) }
//!                                                            └ result → pipe, _exit(0): group ends
//! ```
//!
//! `lwc::init` turns the calling process into the group's supervisor and continues in another
//! pid, so every measurement runs in a forked child ([`crate::isolate::run_isolated`]); the
//! caller's process is left as it was.

use lwc::{Args, Created, GroupConfig, Handoff, Options, Spec};

use super::{Backend, PingPong};
use crate::experiment::{os, MeasureError, RunSamples};
use crate::experiments::create::write_pages;
use crate::isolate::run_isolated;
use crate::measure::{self, pin_current_thread, Metric, Placement, SamplePlan};
use crate::sys;

/// `lwc`: blocking hand-off (futex) between two lwCs, on one CPU or two.
#[derive(Debug, Clone, Copy)]
pub struct Lwc;

/// `lwc-spin`: spinning hand-off between two lwCs on two CPUs.
#[derive(Debug, Clone, Copy)]
pub struct LwcSpin;

const NO_ARGS: Args = Args([0; 6]);

/// A parent lwC and a child that switches straight back.
struct Session {
    child: lwc::Lwc,
}

impl PingPong for Session {
    fn round_trips(&mut self, n: u64) -> Result<(), MeasureError> {
        for _ in 0..n {
            lwc::switch(&self.child, NO_ARGS)?;
        }
        Ok(())
    }
}

/// Creates the echo child (pinned to `cpu`, waiting with `handoff`). Call inside a group.
fn open_in_group(cpu: usize, handoff: Handoff) -> Result<Session, MeasureError> {
    let opts = Options::new().handoff(handoff).cpu(cpu);
    match sys::lwc_create(&Spec::new(), &opts)? {
        Created::Parent(child) => Ok(Session { child }),
        Created::Child { mut caller, .. } => loop {
            match lwc::switch(&caller, NO_ARGS) {
                Ok(s) => caller = s.caller,
                Err(e) => {
                    eprintln!("lwc echo child: {e}");
                    sys::exit_now(1)
                }
            }
        },
    }
}

/// Starts a group on CPUs `me` and `other` (one CPU when they are equal), keeps this first lwC
/// on `me` and creates the echo child on `other`. Call in a forked child.
fn group_session(me: usize, other: usize, handoff: Handoff) -> Result<Session, MeasureError> {
    let cpus = if me == other {
        vec![me]
    } else {
        vec![me, other]
    };
    lwc::init(&GroupConfig { cpus, handoff })?;
    pin_current_thread(me)?;
    open_in_group(other, handoff)
}

/// Starts a group on the placement's CPUs in a forked child and times switches there.
fn measure_switch(
    handoff: Handoff,
    placement: Placement,
    plan: &SamplePlan,
) -> Result<RunSamples, MeasureError> {
    let (me, other) = placement.cpus()?;
    let plan = *plan;
    run_isolated(move || {
        let mut session = group_session(me, other, handoff)?;
        measure::run_timed(&plan, Metric::ONE_WAY_SWITCH_NS, |n| session.round_trips(n))
    })
}

/// Times `iters` round trips between two lwCs in a fresh group (in a forked child, set-up not
/// timed).
fn time_round_trips_with(
    handoff: Handoff,
    placement: Placement,
    iters: u64,
) -> Result<std::time::Duration, MeasureError> {
    let (me, other) = placement.cpus()?;
    let ns = run_isolated(move || {
        let mut session = group_session(me, other, handoff)?;
        time_ns(iters.clamp(1, 100), iters, |n| session.round_trips(n))
    })?;
    Ok(std::time::Duration::from_nanos(ns))
}

/// Nanoseconds `op(iters)` takes, after an untimed `op(warm)` (warms the path), for criterion's
/// `iter_custom`.
fn time_ns(
    warm: u64,
    iters: u64,
    mut op: impl FnMut(u64) -> Result<(), MeasureError>,
) -> Result<u64, MeasureError> {
    op(warm)?;
    let t0 = measure::now();
    op(iters)?;
    Ok(t0.elapsed().as_nanos() as u64)
}

impl Lwc {
    /// Times `iters` round trips in a fresh group (in a forked child; set-up not timed), for
    /// criterion's `iter_custom`.
    pub fn time_round_trips(
        &self,
        placement: Placement,
        iters: u64,
    ) -> Result<std::time::Duration, MeasureError> {
        time_round_trips_with(Handoff::Block, placement, iters)
    }
}

impl LwcSpin {
    /// Times `iters` round trips in a fresh two-CPU group (in a forked child; set-up not timed),
    /// for criterion's `iter_custom`.
    pub fn time_round_trips(
        &self,
        placement: Placement,
        iters: u64,
    ) -> Result<std::time::Duration, MeasureError> {
        time_round_trips_with(Handoff::Spin, placement, iters)
    }
}

impl Backend for Lwc {
    fn name(&self) -> &'static str {
        "lwc"
    }

    /// Only valid inside an lwC group (after `lwc::init`); [`Backend::measure`] makes one.
    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        Ok(Box::new(open_in_group(cpus.1, Handoff::Block)?))
    }

    fn measure(&self, placement: Placement, plan: &SamplePlan) -> Result<RunSamples, MeasureError> {
        measure_switch(Handoff::Block, placement, plan)
    }
}

impl Backend for LwcSpin {
    fn name(&self) -> &'static str {
        "lwc-spin"
    }

    fn placements(&self) -> &'static [Placement] {
        &[Placement::TwoCores]
    }

    /// Only valid inside an lwC group of two CPUs; [`Backend::measure`] makes one.
    fn open(&self, cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        Ok(Box::new(open_in_group(cpus.1, Handoff::Spin)?))
    }

    fn measure(&self, placement: Placement, plan: &SamplePlan) -> Result<RunSamples, MeasureError> {
        if placement == Placement::SameCore {
            return Err(MeasureError::Unavailable(
                "a spinning hand-off needs the parties on two CPUs".into(),
            ));
        }
        measure_switch(Handoff::Spin, placement, plan)
    }
}

/// One lwC create + first switch into it + the child's discard switch back (the runtime reaps
/// the discarded child before our switch returns). The child writes one byte in each of the
/// first `pages` pages of `region` first.
fn create_once(region: &mut sys::Region, pages: usize) -> Result<(), MeasureError> {
    match sys::lwc_create(&Spec::new(), &Options::new())? {
        Created::Parent(child) => {
            lwc::switch(&child, NO_ARGS)?;
            Ok(())
        }
        Created::Child { caller, .. } => {
            write_pages(region.bytes_mut(), pages);
            let err = lwc::discard_switch(&caller, NO_ARGS);
            eprintln!("lwc create child: discard_switch failed: {err}");
            sys::exit_now(3)
        }
    }
}

/// The `create` experiment's `lwc` backend: a group on the same-core CPU (in a forked child),
/// `resident` bytes populated in its first lwC, then timed [`create_once`] calls.
pub(crate) fn create_run(
    resident_bytes: usize,
    pages_written: usize,
    plan: &SamplePlan,
) -> Result<RunSamples, MeasureError> {
    let (cpu, _) = Placement::SameCore.cpus()?;
    let plan = *plan;
    run_isolated(move || {
        let mut region = group_with_memory(cpu, resident_bytes)?;
        measure::run_timed(&plan, Metric::OP_US, |k| {
            creates(&mut region, pages_written, k)
        })
    })
}

/// `k` [`create_once`] calls, one after the other.
fn creates(region: &mut sys::Region, pages: usize, k: u64) -> Result<(), MeasureError> {
    for _ in 0..k {
        create_once(region, pages)?;
    }
    Ok(())
}

/// Starts a blocking group on `cpu` (in the caller, a forked child) and populates
/// `resident_bytes` of memory in its first lwC, after the group started (so the supervisor and
/// guardian do not share it).
fn group_with_memory(cpu: usize, resident_bytes: usize) -> Result<sys::Region, MeasureError> {
    lwc::init(&GroupConfig {
        cpus: vec![cpu],
        handoff: Handoff::Block,
    })?;
    sys::Region::populated(resident_bytes).map_err(|e| os("mmap (resident memory)", e))
}

/// Times `iters` lwC creates (create + first switch + discard) in a fresh group on one CPU, with
/// `resident_bytes` populated and `pages_written` pages written by each child (in a forked child,
/// set-up not timed), for criterion's `iter_custom`.
pub fn time_creates(
    resident_bytes: usize,
    pages_written: usize,
    iters: u64,
) -> Result<std::time::Duration, MeasureError> {
    let (cpu, _) = Placement::SameCore.cpus()?;
    let ns = run_isolated(move || {
        let mut region = group_with_memory(cpu, resident_bytes)?;
        time_ns(1, iters, |k| creates(&mut region, pages_written, k))
    })?;
    Ok(std::time::Duration::from_nanos(ns))
}

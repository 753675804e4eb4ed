//! `lwc` and `lwc-spin`: a ring of lwCs of one group, each switching to the next with
//! `lwc::switch`.
//!
//! ```text
//!   worker ──fork (isolate)──► lwc::init(cpus, handoff) ─► party 0 (measures)
//!                                 │ create party K-1 … party 1 (each pinned to its CPU; party i
//!                                 │   holds party i+1's descriptor, the last holds party 0's)
//!                                 │ switch ─► 1 ─► 2 ─► … ─► K-1 ─► 0
//!                                 └ result → pipe, _exit(0): the group ends
//! ```
//!
//! `lwc::init` turns the calling process into the group's supervisor and continues in another
//! pid, so every measurement runs in a forked child ([`crate::isolate::run_isolated`]); the
//! caller's process is left as it was.

use std::time::Duration;

use lwc::{Args, Created, GroupConfig, Handoff, Options, Spec};

use super::{Backend, Ring, Touch, WorkingSet};
use crate::experiment::{MeasureError, RunSamples};
use crate::isolate::run_isolated;
use crate::measure::{self, pin_current_thread, Metric, SamplePlan};
use crate::sys;

/// `lwc`: blocking hand-off (futex) between lwCs, on one CPU or several.
#[derive(Debug, Clone, Copy)]
pub struct Lwc;

/// `lwc-spin`: spinning hand-off between lwCs, each on its own CPU.
#[derive(Debug, Clone, Copy)]
pub struct LwcSpin;

const NO_ARGS: Args = Args([0; 6]);

/// Party 0 of a ring of lwCs.
struct LwcRing {
    /// Party 1.
    first: lwc::Lwc,
    k: u64,
}

impl Ring for LwcRing {
    fn laps(&mut self, n: u64) -> Result<(), MeasureError> {
        for _ in 0..n {
            lwc::switch(&self.first, NO_ARGS)?;
        }
        Ok(())
    }

    fn switches_per_lap(&self) -> u64 {
        self.k
    }
}

/// Creates parties K-1 … 1 of the ring (party i pinned to `cpus[i]`, waiting with `handoff`);
/// the caller is party 0. Call inside a group.
fn open_in_group(cpus: &[usize], handoff: Handoff, touch: Touch) -> Result<LwcRing, MeasureError> {
    super::check_ring(cpus)?;
    // Each new lwC keeps our links (speaking for us on them), so it can switch to the party
    // created just before it, and the first one created to us.
    let mut next = lwc::current();
    for &cpu in cpus[1..].iter().rev() {
        let opts = Options::new().handoff(handoff).cpu(cpu).speak_for_creator();
        match sys::lwc_create(&Spec::new(), &opts)? {
            Created::Parent(child) => next = child,
            Created::Child { .. } => {
                // Mapped here, in the new lwC: a set of its own, not a copy-on-write one.
                let mut set = WorkingSet::new(touch).unwrap_or_else(|e| {
                    eprintln!("lwc ring party: working set: {e}");
                    sys::exit_now(1)
                });
                loop {
                    set.touch();
                    if let Err(e) = lwc::switch(&next, NO_ARGS) {
                        eprintln!("lwc ring party: {e}");
                        sys::exit_now(1)
                    }
                }
            }
        }
    }
    Ok(LwcRing {
        first: next,
        k: cpus.len() as u64,
    })
}

/// The distinct CPUs of `cpus`, in order of first appearance (the group's CPUs).
fn distinct(cpus: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for &c in cpus {
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Starts a group on `cpus`, keeps this first lwC on `cpus[0]` and opens the ring. Call in a
/// forked child.
fn group_ring(cpus: &[usize], handoff: Handoff, touch: Touch) -> Result<LwcRing, MeasureError> {
    super::check_ring(cpus)?;
    lwc::init(&GroupConfig {
        cpus: distinct(cpus),
        handoff,
    })?;
    pin_current_thread(cpus[0])?;
    open_in_group(cpus, handoff, touch)
}

/// Starts a group on `cpus` in a forked child and times switches around the ring there.
fn measure_ring(
    handoff: Handoff,
    cpus: &[usize],
    series: &'static str,
    plan: &SamplePlan,
) -> Result<RunSamples, MeasureError> {
    let (cpus, plan) = (cpus.to_vec(), *plan);
    run_isolated(move || {
        let mut ring = group_ring(&cpus, handoff, Touch::NONE)?;
        let metric = Metric::switch_ns(series, ring.switches_per_lap());
        measure::run_timed(&plan, metric, |n| ring.laps(n))
    })
}

/// Starts a group on `cpus` in a forked child and times switches around a ring whose lwCs each
/// touch their own working set of `touch` after every switch.
fn measure_touching_ring(
    handoff: Handoff,
    cpus: &[usize],
    touch: Touch,
    series: &'static str,
    plan: &SamplePlan,
) -> Result<RunSamples, MeasureError> {
    let (cpus, plan) = (cpus.to_vec(), *plan);
    run_isolated(move || {
        let ring = group_ring(&cpus, handoff, touch)?;
        super::run_touching(Box::new(ring), touch, series, &plan)
    })
}

/// Times `iters` one-way switches around a ring of lwCs in a fresh group (in a forked child,
/// set-up not timed).
fn time_ring(handoff: Handoff, cpus: &[usize], iters: u64) -> Result<Duration, MeasureError> {
    let cpus = cpus.to_vec();
    let ns = run_isolated(move || {
        let mut ring = group_ring(&cpus, handoff, Touch::NONE)?;
        let laps = iters.div_ceil(ring.k).max(1);
        let ns = measure::time_ns(laps.clamp(1, 100), laps, |n| ring.laps(n))?;
        Ok((ns as f64 * iters as f64 / (laps * ring.k) as f64) as u64)
    })?;
    Ok(Duration::from_nanos(ns))
}

/// A spinning hand-off needs every party on a CPU of its own.
fn check_spin(cpus: &[usize]) -> Result<(), MeasureError> {
    if distinct(cpus).len() < cpus.len() {
        return Err(MeasureError::Unavailable(
            "a spinning hand-off needs every party on a CPU of its own".into(),
        ));
    }
    Ok(())
}

impl Backend for Lwc {
    fn name(&self) -> &'static str {
        "lwc"
    }

    /// Only valid inside an lwC group (after `lwc::init`); [`Backend::measure`] makes one.
    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        Ok(Box::new(open_in_group(cpus, Handoff::Block, Touch::NONE)?))
    }

    /// Only valid inside an lwC group; [`Backend::measure_touching`] makes one.
    fn open_touching(&self, cpus: &[usize], touch: Touch) -> Result<Box<dyn Ring>, MeasureError> {
        Ok(Box::new(open_in_group(cpus, Handoff::Block, touch)?))
    }

    fn measure_touching(
        &self,
        cpus: &[usize],
        touch: Touch,
        series: &'static str,
        plan: &SamplePlan,
    ) -> Result<RunSamples, MeasureError> {
        measure_touching_ring(Handoff::Block, cpus, touch, series, plan)
    }

    fn measure(
        &self,
        cpus: &[usize],
        series: &'static str,
        plan: &SamplePlan,
    ) -> Result<RunSamples, MeasureError> {
        measure_ring(Handoff::Block, cpus, series, plan)
    }

    fn time_switches(&self, cpus: &[usize], iters: u64) -> Result<Duration, MeasureError> {
        time_ring(Handoff::Block, cpus, iters)
    }
}

impl Backend for LwcSpin {
    fn name(&self) -> &'static str {
        "lwc-spin"
    }

    /// Only valid inside an lwC group whose parties each have a CPU; [`Backend::measure`] makes
    /// one.
    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        check_spin(cpus)?;
        Ok(Box::new(open_in_group(cpus, Handoff::Spin, Touch::NONE)?))
    }

    fn measure(
        &self,
        cpus: &[usize],
        series: &'static str,
        plan: &SamplePlan,
    ) -> Result<RunSamples, MeasureError> {
        check_spin(cpus)?;
        measure_ring(Handoff::Spin, cpus, series, plan)
    }

    fn time_switches(&self, cpus: &[usize], iters: u64) -> Result<Duration, MeasureError> {
        check_spin(cpus)?;
        time_ring(Handoff::Spin, cpus, iters)
    }
}

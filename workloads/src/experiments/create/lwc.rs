//! The `lwc` backend of `create`: a group on the same-core CPU (in a forked child), resident
//! memory populated in its first lwC, then timed create + first switch + discard.

use std::time::Duration;

use lwc::{Args, Created, GroupConfig, Handoff, Options, Spec};

use super::SERIES;
use crate::experiment::{os, MeasureError, RunSamples};
use crate::isolate::run_isolated;
use crate::measure::{self, Metric, Placement, SamplePlan};
use crate::sys;

const NO_ARGS: Args = Args([0; 6]);

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
            region.write_pages(pages);
            let err = lwc::discard_switch(&caller, NO_ARGS);
            eprintln!("lwc create child: discard_switch failed: {err}");
            sys::exit_now(3)
        }
    }
}

/// One run: a group on the same-core CPU (in a forked child), `resident` bytes populated in
/// its first lwC, then timed [`create_once`] calls.
pub(super) fn create_run(
    resident_bytes: usize,
    pages_written: usize,
    plan: &SamplePlan,
) -> Result<RunSamples, MeasureError> {
    let (cpu, _) = Placement::SameCore.cpus()?;
    let plan = *plan;
    run_isolated(move || {
        let mut region = group_with_memory(cpu, resident_bytes)?;
        measure::run_timed(&plan, Metric::op_us(SERIES), |k| {
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
pub fn time_lwc_creates(
    resident_bytes: usize,
    pages_written: usize,
    iters: u64,
) -> Result<Duration, MeasureError> {
    let (cpu, _) = Placement::SameCore.cpus()?;
    let ns = run_isolated(move || {
        let mut region = group_with_memory(cpu, resident_bytes)?;
        measure::time_ns(1, iters, |k| creates(&mut region, pages_written, k))
    })?;
    Ok(Duration::from_nanos(ns))
}

//! Timing helpers: the clock, warm-up, automatic batching, CPU pinning and perf counters.
//!
//! One run of a point goes like this ([`run_timed`]):
//!
//! ```text
//!  warm-up (plan.warmup) ─► choose batch ─► counters on ─► samples ─► counters off
//!                           (clock cost ≤ 5 %                (until max_samples, or budget
//!                            of a sample)                     spent and min_samples taken)
//! ```
//!
//! The clock is [`std::time::Instant`], which is `CLOCK_MONOTONIC` (vDSO) on Linux.
//!
//! Counters ([`crate::counters`]: perf groups on the measuring thread and what it creates while
//! they run) are read in a short untimed phase after the samples (inherited counters slow fork
//! and exit down), and stored in [`RunSamples::counters`] per metric unit (per one-way switch,
//! per create): `<counter>_per_op` for every [`crate::counters::Kind`] (task clock, context
//! switches, page faults, migrations, cycles, instructions, dTLB and iTLB misses), plus `ops`
//! (metric units timed) and `clock_overhead_ns`. A counter the kernel refuses is recorded as
//! [`Counter::Unavailable`] with the kernel's reason, never as zero.

use std::time::{Duration, Instant};

use rustix::thread::CpuSet;

use crate::counters::Counters;
use crate::experiment::{os, Counter, MeasureError, RunSamples};

/// Largest share of a sample the clock reads may take (the batching target).
pub const MAX_CLOCK_SHARE: f64 = 0.05;

/// A sample is never made shorter than this, whatever the measured clock cost.
pub const MIN_SAMPLE: Duration = Duration::from_micros(1);

/// The counted phase of [`run_timed`] takes at most this share of the timed phase's time...
pub const COUNTED_SHARE: f64 = 0.1;

/// ...and at most this many batches.
pub const COUNTED_BATCHES_MAX: u64 = 1000;

/// Largest batch [`choose_batch`] picks.
pub const MAX_BATCH: u64 = 1 << 24;

/// The monotonic clock: `CLOCK_MONOTONIC` through the vDSO.
pub fn now() -> Instant {
    Instant::now()
}

/// Median cost of two back-to-back clock reads (what timing one sample adds to it).
pub fn clock_overhead() -> Duration {
    let mut v: Vec<Duration> = (0..1001)
        .map(|_| {
            let a = Instant::now();
            let b = Instant::now();
            b - a
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

/// The CPUs this process may run on (its affinity mask), in increasing order.
pub fn usable_cpus() -> Result<Vec<usize>, MeasureError> {
    let set = rustix::thread::sched_getaffinity(None).map_err(|e| os("sched_getaffinity", e))?;
    Ok((0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect())
}

/// Pins the calling thread to `cpu` (`sched_setaffinity`).
pub fn pin_current_thread(cpu: usize) -> Result<(), MeasureError> {
    let mut set = CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| os("sched_setaffinity", e))
}

/// Restores the calling thread's previous CPU affinity when dropped.
#[derive(Debug)]
pub struct AffinityGuard {
    saved: CpuSet,
}

impl AffinityGuard {
    /// Pins the calling thread to `cpu` until the guard is dropped.
    pub fn pin(cpu: usize) -> Result<Self, MeasureError> {
        let saved =
            rustix::thread::sched_getaffinity(None).map_err(|e| os("sched_getaffinity", e))?;
        pin_current_thread(cpu)?;
        Ok(Self { saved })
    }
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        let _ = rustix::thread::sched_setaffinity(None, &self.saved);
    }
}

/// Where the two parties of a switch run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placement {
    /// Both parties pinned to one CPU (`cores` = `same-core`).
    SameCore,
    /// Each party pinned to its own CPU (`cores` = `two-cores`); needs two usable CPUs.
    TwoCores,
}

impl Placement {
    /// Both placements, same-core first.
    pub const ALL: [Placement; 2] = [Placement::SameCore, Placement::TwoCores];

    /// The value of the `cores` parameter.
    pub fn label(self) -> &'static str {
        match self {
            Placement::SameCore => "same-core",
            Placement::TwoCores => "two-cores",
        }
    }

    /// Parses a `cores` parameter value.
    pub fn parse(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.label() == label)
    }

    /// The CPUs of a ring of `k` parties: all on one CPU (`SameCore`), or alternating between
    /// two (`TwoCores`; for K = 2 one party on each), party 0 first.
    pub fn ring(self, k: usize) -> Result<Vec<usize>, MeasureError> {
        let (a, b) = self.cpus()?;
        Ok((0..k).map(|i| if i % 2 == 0 { a } else { b }).collect())
    }

    /// The CPUs of (the measuring party, the other party). The highest usable CPUs are used
    /// (CPU 0 tends to take more interrupts). [`MeasureError::Unavailable`] for
    /// [`Placement::TwoCores`] with fewer than two usable CPUs.
    pub fn cpus(self) -> Result<(usize, usize), MeasureError> {
        let cpus = usable_cpus()?;
        match (self, cpus.as_slice()) {
            (_, []) => Err(MeasureError::Unavailable("no usable CPU".into())),
            (Placement::SameCore, [.., last]) => Ok((*last, *last)),
            (Placement::TwoCores, [.., a, b]) => Ok((*b, *a)),
            (Placement::TwoCores, [_]) => Err(MeasureError::Unavailable(
                "two-cores needs two usable CPUs; this process may use one".into(),
            )),
        }
    }
}

/// How long and how much one run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplePlan {
    /// Time spent running the operation untimed before anything is measured (at least one call).
    pub warmup: Duration,
    /// Stop after this many samples.
    pub max_samples: usize,
    /// Never stop before this many samples, even past the budget.
    pub min_samples: usize,
    /// Stop taking samples once this much time went into them (and `min_samples` are taken).
    pub budget: Duration,
}

/// What one call of `op(1)` is, in the point's unit, and which series the samples go to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// The series' name (the point's [`model::MetricSpec::name`]).
    pub series: &'static str,
    /// Metric units one operation counts for (K one-way switches per lap of a ring).
    pub units_per_op: u64,
    /// Nanoseconds in one unit of the samples (1 for `ns`, 1000 for `us`).
    pub ns_per_value: f64,
}

impl Metric {
    /// One-way switches timed as laps of `switches_per_lap`, reported in ns.
    pub const fn switch_ns(series: &'static str, switches_per_lap: u64) -> Metric {
        Metric {
            series,
            units_per_op: switches_per_lap,
            ns_per_value: 1.0,
        }
    }

    /// One operation per unit, reported in µs.
    pub const fn op_us(series: &'static str) -> Metric {
        Metric {
            series,
            units_per_op: 1,
            ns_per_value: 1000.0,
        }
    }
}

/// Nanoseconds `op(iters)` takes, after an untimed `op(warm)` (warms the path), for criterion's
/// `iter_custom`.
pub fn time_ns(
    warm: u64,
    iters: u64,
    mut op: impl FnMut(u64) -> Result<(), MeasureError>,
) -> Result<u64, MeasureError> {
    op(warm)?;
    let t0 = now();
    op(iters)?;
    Ok(t0.elapsed().as_nanos() as u64)
}

fn elapsed_of<F>(op: &mut F, n: u64) -> Result<Duration, MeasureError>
where
    F: FnMut(u64) -> Result<(), MeasureError>,
{
    let t0 = Instant::now();
    op(n)?;
    Ok(t0.elapsed())
}

/// The smallest power-of-two batch of `op` whose duration is at least `1 / MAX_CLOCK_SHARE`
/// times `overhead` (and at least [`MIN_SAMPLE`]); `op(n)` performs `n` operations.
pub fn choose_batch<F>(op: &mut F, overhead: Duration) -> Result<u64, MeasureError>
where
    F: FnMut(u64) -> Result<(), MeasureError>,
{
    let target = overhead.mul_f64(1.0 / MAX_CLOCK_SHARE).max(MIN_SAMPLE);
    let mut batch = 1;
    while batch < MAX_BATCH {
        // Two tries, keep the faster: one preemption must not stop the doubling early.
        let t = elapsed_of(op, batch)?.min(elapsed_of(op, batch)?);
        if t >= target {
            break;
        }
        batch *= 2;
    }
    Ok(batch)
}

/// Warms up, picks a batch, and times samples of `op`, where `op(n)` performs `n` operations of
/// `metric`. Each sample is the time of one batch divided by the metric units it did.
/// Counters run in a separate, untimed phase after the samples (at least one batch, at most
/// [`COUNTED_SHARE`] of the sampling time), so they cost the samples nothing.
pub fn run_timed<F>(
    plan: &SamplePlan,
    metric: Metric,
    mut op: F,
) -> Result<RunSamples, MeasureError>
where
    F: FnMut(u64) -> Result<(), MeasureError>,
{
    let overhead = clock_overhead();
    let t0 = Instant::now();
    loop {
        op(1)?;
        if t0.elapsed() >= plan.warmup {
            break;
        }
    }
    let batch = choose_batch(&mut op, overhead)?;
    let units = batch * metric.units_per_op;
    let divisor = units as f64 * metric.ns_per_value;

    let mut samples = Vec::with_capacity(plan.max_samples.min(1 << 20));
    let start = Instant::now();
    while samples.len() < plan.max_samples.max(1) {
        let dt = elapsed_of(&mut op, batch)?;
        samples.push(dt.as_nanos() as f64 / divisor);
        if samples.len() >= plan.min_samples && start.elapsed() >= plan.budget {
            break;
        }
    }
    let sampled = start.elapsed();

    // Counters run in a phase of their own after the timed one: inherited counters make fork and
    // exit slower, and every counted fault or switch costs a little, so they would bias the times.
    let mut counters = Counters::all();
    counters
        .start()
        .map_err(|e| os("starting the perf counters", e))?;
    let counted_start = Instant::now();
    let mut counted_batches = 0u64;
    while counted_batches < COUNTED_BATCHES_MAX {
        op(batch)?;
        counted_batches += 1;
        if counted_start.elapsed().mul_f64(1.0 / COUNTED_SHARE) >= sampled {
            break;
        }
    }
    let timed_ops = units * samples.len() as u64;
    let mut run = RunSamples::single(metric.series, samples, units);
    run.counters = counters.finish(units * counted_batches);
    run.counters
        .insert("ops".into(), Counter::Value(timed_ops as f64));
    run.counters.insert(
        "clock_overhead_ns".into(),
        Counter::Value(overhead.as_nanos() as f64),
    );
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_alternate_between_the_placement_cpus() {
        let (a, b) = Placement::SameCore.cpus().expect("same-core");
        assert_eq!(a, b);
        assert_eq!(Placement::SameCore.ring(3).expect("ring"), vec![a; 3]);
        if let Ok((a, b)) = Placement::TwoCores.cpus() {
            assert_eq!(Placement::TwoCores.ring(2).expect("ring"), vec![a, b]);
            assert_eq!(Placement::TwoCores.ring(3).expect("ring"), vec![a, b, a]);
        }
    }

    #[test]
    fn placement_labels_round_trip() {
        for p in Placement::ALL {
            assert_eq!(Placement::parse(p.label()), Some(p));
        }
        assert_eq!(Placement::parse("three-cores"), None);
    }

    #[test]
    fn usable_cpus_not_empty() {
        let cpus = usable_cpus().expect("affinity");
        assert!(!cpus.is_empty());
        let (a, b) = Placement::SameCore.cpus().expect("same-core");
        assert_eq!(a, b);
        match Placement::TwoCores.cpus() {
            Ok((a, b)) => assert_ne!(a, b),
            Err(MeasureError::Unavailable(_)) => assert_eq!(cpus.len(), 1),
            Err(e) => panic!("unexpected {e}"),
        }
    }

    #[test]
    fn batching_grows_for_a_cheap_op() {
        let mut x = 0u64;
        let mut op = |n: u64| {
            for i in 0..n {
                x = std::hint::black_box(x.wrapping_add(i));
            }
            Ok(())
        };
        let batch = choose_batch(&mut op, Duration::from_nanos(50)).expect("batch");
        assert!(batch > 1);
    }

    #[test]
    fn run_timed_gives_positive_finite_samples() {
        let plan = SamplePlan {
            warmup: Duration::from_millis(1),
            max_samples: 20,
            min_samples: 5,
            budget: Duration::from_millis(5),
        };
        let r = run_timed(&plan, Metric::switch_ns("switch", 2), |n| {
            for _ in 0..n {
                std::thread::yield_now();
            }
            Ok(())
        })
        .expect("run");
        let series = r.series("switch").expect("the metric's series");
        let model::Values::Samples(samples) = &series.values else {
            panic!("samples expected");
        };
        assert!(samples.len() >= 5 && samples.len() <= 20);
        assert!(samples.iter().all(|x| x.is_finite() && *x > 0.0));
        assert_eq!(series.batch % 2, 0);
        assert_eq!(
            r.counters.get("ops"),
            Some(&Counter::Value(
                (samples.len() as u64 * series.batch) as f64
            ))
        );
        // Not a check over an empty map (a machine without a PMU has no hardware counters):
        // every software counter the kernel allows is reported as a value, and every counter it
        // refuses is reported unavailable with a reason, never as a number. A hardware counter
        // may be unavailable when the kernel never scheduled it.
        for (kind, ok) in crate::counters::availability() {
            let name = kind.name();
            let v = r.counters.get(&format!("{name}_per_op"));
            let software = !kind.hardware();
            match (ok, v) {
                (Ok(()), Some(Counter::Value(v))) => assert!(v.is_finite(), "{name}: {v}"),
                (Ok(()), Some(Counter::Unavailable { unavailable })) if !software => {
                    assert!(!unavailable.is_empty(), "{name}")
                }
                (Err(_), Some(Counter::Unavailable { unavailable })) => {
                    assert!(!unavailable.is_empty(), "{name}")
                }
                (ok, v) => panic!("{name}: available {ok:?}, reported {v:?}"),
            }
        }
    }
}

//! `monitor`: µs per system call of a sandboxed context, per mechanism that enforces the
//! policy (`apps::monitor`), against `none`.
//!
//! Each run is one mechanism and one call: the worker pins itself to one CPU and runs the
//! sandbox there (every party of a mechanism shares that CPU); inside the sandbox, after the
//! data file is opened through the policy, the measurement layer warms up and times batches of
//! the call, and the samples come back through the window the sandbox shares with its monitor.
//! The sandbox's counters are unavailable under an enforcing mechanism: the policy denies
//! `perf_event_open`.

use std::time::Duration;

use model::{Counter, PerSetting};
use workloads::measure::{self, pin_current_thread, Metric, Placement, SamplePlan};
use workloads::{BackendInfo, Experiment, MeasureError, Param, PointSpec, RunSamples, Setting};

use crate::monitor::{run_sandboxed, Call, Files, Mechanism, Mix, MonitorError};

/// The `monitor` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Monitor;

/// The id.
pub const ID: &str = "monitor";
/// The series every run reports.
pub const SERIES: &str = "call";

/// The metric of every point: µs per call.
pub fn metric() -> model::MetricSpec {
    model::MetricSpec::new(
        SERIES,
        model::Unit::Us,
        "one system call made in the sandbox (open: openat + close)",
    )
}

/// Runs and sampling per setting (the quick setting measures ~8 s: 25 points × 3 runs).
pub const SWEEPS: PerSetting<(u32, SamplePlan)> = PerSetting {
    smoke: (
        3,
        SamplePlan {
            warmup: Duration::from_millis(1),
            max_samples: 20,
            min_samples: 5,
            budget: Duration::from_millis(5),
        },
    ),
    quick: (
        3,
        SamplePlan {
            warmup: Duration::from_millis(10),
            max_samples: 2_000,
            min_samples: 30,
            budget: Duration::from_millis(60),
        },
    ),
    full: (
        10,
        SamplePlan {
            warmup: Duration::from_millis(200),
            max_samples: 50_000,
            min_samples: 300,
            budget: Duration::from_secs(2),
        },
    ),
};

/// A point, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorPoint {
    /// Who enforces the policy.
    pub mechanism: Mechanism,
    /// The call timed.
    pub call: Call,
}

impl MonitorPoint {
    /// The point as the harness carries it.
    pub fn spec(&self, runs: u32) -> PointSpec {
        PointSpec {
            id: model::PointId {
                experiment: ID.to_owned(),
                backend: self.mechanism.name().to_owned(),
                params: model::params([("call", Param::Text(self.call.name().into()))]),
            },
            metrics: vec![metric()],
            runs,
        }
    }

    /// Parses a point spec.
    pub fn parse(spec: &PointSpec) -> Result<Self, MeasureError> {
        let mechanism = Mechanism::parse(&spec.id.backend).ok_or_else(|| {
            MeasureError::BadPoint(format!("unknown backend {}", spec.id.backend))
        })?;
        let call = match spec.id.params.get("call") {
            Some(Param::Text(c)) => {
                Call::parse(c).ok_or_else(|| MeasureError::BadPoint(format!("call = {c}")))?
            }
            other => return Err(MeasureError::BadPoint(format!("call = {other:?}"))),
        };
        Ok(MonitorPoint { mechanism, call })
    }

    /// Measures one run (call in a single-threaded process: it forks).
    pub fn measure(&self, plan: &SamplePlan) -> Result<RunSamples, MeasureError> {
        let (cpu, _) = Placement::SameCore.cpus()?;
        pin_current_thread(cpu)?;
        let files = Files::create().map_err(|e| MeasureError::Os {
            op: "making the monitor's files",
            source: e,
        })?;
        let (mechanism, call, plan) = (self.mechanism, self.call, *plan);
        let run = run_sandboxed(mechanism, &files, move |sb| -> Result<RunSamples, String> {
            let mut mix = Mix::new(sb, mechanism.enforces_paths())?;
            measure::run_timed(&plan, Metric::op_us(SERIES), |n| {
                for _ in 0..n {
                    mix.once(call).map_err(MeasureError::Failed)?;
                }
                Ok(())
            })
            .map_err(|e| e.to_string())
        })
        .map_err(|e| match e {
            MonitorError::Lwc(e) => MeasureError::Lwc(e),
            e => MeasureError::Failed(e.to_string()),
        })?
        .map_err(MeasureError::Failed)?;
        Ok(explain_counters(run, mechanism))
    }
}

/// Under an enforcing mechanism the kernel's refusal of the counters is the policy's: say so.
fn explain_counters(mut run: RunSamples, mechanism: Mechanism) -> RunSamples {
    if mechanism.enforces() {
        for c in run.counters.values_mut() {
            if let Counter::Unavailable { unavailable } = c {
                *unavailable =
                    format!("the sandbox's policy denies perf_event_open ({unavailable})");
            }
        }
    }
    run
}

impl Experiment for Monitor {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "sandboxed system calls under a reference monitor: µs per call per mechanism (lwC SYSTRAP, seccomp user notification, ptrace, in-kernel seccomp filter, none)"
    }

    fn backends(&self) -> Vec<BackendInfo> {
        Mechanism::ALL
            .iter()
            .map(|m| BackendInfo {
                name: m.name(),
                about: m.about(),
                default: true,
            })
            .collect()
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        let runs = SWEEPS.get(setting).0;
        let mut out = Vec::new();
        for call in Call::ALL {
            for mechanism in Mechanism::ALL {
                let info = BackendInfo {
                    name: mechanism.name(),
                    about: "",
                    default: true,
                };
                if info.wanted(backends) {
                    out.push(MonitorPoint { mechanism, call }.spec(runs));
                }
            }
        }
        out
    }

    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError> {
        MonitorPoint::parse(point)?.measure(&SWEEPS.get(setting).1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_covers_every_mechanism_and_call_and_round_trips() {
        // Guards against a point that parses into another than the one planned.
        for s in Setting::ALL {
            let plan = Monitor.plan(s, &[]);
            assert_eq!(plan.len(), Mechanism::ALL.len() * Call::ALL.len());
            for spec in &plan {
                let p = MonitorPoint::parse(spec).expect("parse");
                assert_eq!(&p.spec(spec.runs), spec);
                assert!(spec.runs >= 3);
            }
        }
        let only = Monitor.plan(Setting::Quick, &["ptrace".into()]);
        assert!(only.len() == Call::ALL.len() && only.iter().all(|p| p.id.backend == "ptrace"));
    }

    #[test]
    fn bad_points_are_refused() {
        let mut p = Monitor.plan(Setting::Smoke, &[])[0].clone();
        p.id.params.clear();
        assert!(matches!(
            MonitorPoint::parse(&p),
            Err(MeasureError::BadPoint(_))
        ));
        p.id.backend = "nope".into();
        assert!(matches!(
            MonitorPoint::parse(&p),
            Err(MeasureError::BadPoint(_))
        ));
    }
}

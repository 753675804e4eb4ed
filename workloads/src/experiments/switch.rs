//! `switch`: one-way switch latency (ns) per backend, same core and two cores.
//!
//! Each run opens a ring of two parties (ping-pong) from the context layer: the measuring party
//! on one CPU and the partner on the same CPU (`same-core`) or another one (`two-cores`); it
//! warms up and times batches of laps; a sample is a batch's time divided by its one-way
//! switches (two per lap).

use std::time::Duration;

use super::{text_param, unknown_backend};
use crate::context::{self, Backend};
use crate::experiment::{
    BackendInfo, Experiment, MeasureError, MetricSpec, Param, PerSetting, PointId, PointSpec,
    RunSamples, Setting, Unit,
};
use crate::measure::{Placement, SamplePlan};

/// The `switch` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Switch;

/// The id.
pub const ID: &str = "switch";
/// The name of the series every run reports.
pub const SERIES: &str = "switch";

/// The metric of every point: ns per one-way switch.
pub fn metric() -> MetricSpec {
    MetricSpec::new(SERIES, Unit::Ns, "one-way switch")
}

/// One backend of the experiment: its name, its context-layer implementation and the
/// placements it is measured with (a coroutine never leaves its thread, so it has no two-core
/// variant; a spinning hand-off on one core only measures the time slice).
pub struct SwitchBackend {
    /// Name and description.
    pub info: BackendInfo,
    /// The ring implementation.
    pub context: &'static dyn Backend,
    /// Where its two parties are placed.
    pub placements: &'static [Placement],
}

const BOTH: &[Placement] = &Placement::ALL;

const fn backend(
    name: &'static str,
    about: &'static str,
    context: &'static dyn Backend,
    placements: &'static [Placement],
) -> SwitchBackend {
    SwitchBackend {
        info: BackendInfo {
            name,
            about,
            default: true,
        },
        context,
        placements,
    }
}

/// The backends, in plan order.
pub static BACKENDS: [SwitchBackend; 9] = [
    backend("lwc", "lwc::switch, blocking hand-off", &context::Lwc, BOTH),
    backend(
        "lwc-spin",
        "lwc::switch, spinning hand-off",
        &context::LwcSpin,
        &[Placement::TwoCores],
    ),
    backend(
        "process-pipe",
        "two processes, a byte over pipes (lmbench lat_ctx)",
        &context::ProcessPipe,
        BOTH,
    ),
    backend(
        "process-futex",
        "two processes, futex on a shared page (the kernel's floor)",
        &context::ProcessFutex,
        BOTH,
    ),
    backend(
        "process-spin",
        "two processes spinning on a cache line each (the raw cross-core hand-off)",
        &context::ProcessSpin,
        &[Placement::TwoCores],
    ),
    backend(
        "thread-futex",
        "two threads, private futex",
        &context::ThreadFutex,
        BOTH,
    ),
    backend(
        "thread-condvar",
        "two threads, Mutex + Condvar",
        &context::ThreadCondvar,
        BOTH,
    ),
    backend(
        "coroutine",
        "user-level stack switch (corosensei), no isolation",
        &context::Coroutine,
        &[Placement::SameCore],
    ),
    SwitchBackend {
        info: BackendInfo {
            name: "mock",
            about: "deterministic fake timings, for tests",
            default: false,
        },
        context: &context::Mock,
        placements: BOTH,
    },
];

/// Runs and sampling per setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Runs per point.
    pub runs: u32,
    /// How much one run measures.
    pub sample: SamplePlan,
}

/// The sweep of each setting.
pub const SWEEPS: PerSetting<Sweep> = PerSetting {
    smoke: Sweep {
        runs: 3,
        sample: SamplePlan {
            warmup: Duration::from_millis(2),
            max_samples: 30,
            min_samples: 5,
            budget: Duration::from_millis(10),
        },
    },
    quick: Sweep {
        runs: 5,
        sample: SamplePlan {
            warmup: Duration::from_millis(30),
            max_samples: 5_000,
            min_samples: 50,
            budget: Duration::from_millis(250),
        },
    },
    full: Sweep {
        runs: 10,
        sample: SamplePlan {
            warmup: Duration::from_millis(300),
            max_samples: 100_000,
            min_samples: 500,
            budget: Duration::from_secs(3),
        },
    },
};

/// A point of `switch`, typed: which backend, where its parties run.
#[derive(Clone, Copy)]
pub struct SwitchPoint {
    /// The backend.
    pub backend: &'static SwitchBackend,
    /// Same core or two cores.
    pub placement: Placement,
}

impl std::fmt::Debug for SwitchPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.backend.info.name, self.placement.label())
    }
}

impl PartialEq for SwitchPoint {
    fn eq(&self, other: &Self) -> bool {
        self.backend.info == other.backend.info && self.placement == other.placement
    }
}

impl SwitchPoint {
    /// The point as the harness carries it.
    pub fn spec(&self, runs: u32) -> PointSpec {
        PointSpec {
            id: PointId {
                experiment: ID.to_owned(),
                backend: self.backend.info.name.to_owned(),
                params: model::params([("cores", Param::Text(self.placement.label().into()))]),
            },
            metrics: vec![metric()],
            runs,
        }
    }

    /// Parses a point spec once: backend by name, `cores` into a placement.
    pub fn parse(spec: &PointSpec) -> Result<Self, MeasureError> {
        let backend = BACKENDS
            .iter()
            .find(|b| b.info.name == spec.id.backend)
            .ok_or_else(|| unknown_backend(&spec.id.backend))?;
        let cores = text_param(&spec.id.params, "cores")?;
        let placement = Placement::parse(cores)
            .ok_or_else(|| MeasureError::BadPoint(format!("cores = {cores}")))?;
        if !backend.placements.contains(&placement) {
            return Err(MeasureError::Unavailable(format!(
                "{} is not measured with cores = {cores}",
                backend.info.name
            )));
        }
        Ok(SwitchPoint { backend, placement })
    }

    /// Measures one run: a ring of two parties placed as the point says.
    pub fn measure(&self, setting: Setting) -> Result<RunSamples, MeasureError> {
        let cpus = self.placement.ring(2)?;
        self.backend
            .context
            .measure(&cpus, SERIES, &SWEEPS.get(setting).sample)
    }
}

impl Experiment for Switch {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "ping-pong between two contexts: ns per one-way switch, per backend, same core and two cores"
    }

    fn backends(&self) -> Vec<BackendInfo> {
        BACKENDS.iter().map(|b| b.info).collect()
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        let runs = SWEEPS.get(setting).runs;
        BACKENDS
            .iter()
            .filter(|b| b.info.wanted(backends))
            .flat_map(|backend| {
                backend
                    .placements
                    .iter()
                    .map(move |&placement| SwitchPoint { backend, placement }.spec(runs))
            })
            .collect()
    }

    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError> {
        SwitchPoint::parse(point)?.measure(setting)
    }
}

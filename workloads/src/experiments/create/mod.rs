//! `create`: µs per create for lwC, fork, posix_spawn and thread, swept over the parent's resident
//! memory and the pages the child writes after creation.
//!
//! | backend | one operation |
//! |---|---|
//! | `lwc` | `lwc::create` + first `switch` into the child + the child's `discard_switch` back |
//! | `fork` | `fork` + child `_exit` + `waitpid` |
//! | `spawn` | `posix_spawn("/bin/true")` + `waitpid` |
//! | `thread` | `std::thread` spawn + join |
//!
//! Before timing, the worker maps `resident_bytes` of private memory with 4 KiB pages
//! (`MADV_NOHUGEPAGE`) and writes every page. The new context then writes one byte in each of
//! the first `pages_written` pages (a copy-on-write fault for `lwc` and `fork`; a plain store
//! for `thread`; `spawn` runs another program, so it is planned with `pages_written` = 0 only).
//! Everything runs pinned to one CPU. Fitting `a + b * pages_written` over the points gives the
//! fixed cost `a` and the cost per CoW fault `b` (paper: 87.7 µs and about 3 µs).

use std::time::Duration;

use super::{int_param, unknown_backend};
use crate::context::mock::mock_samples;
use crate::experiment::{
    BackendInfo, Experiment, MeasureError, MetricSpec, Param, PerSetting, PointId, PointSpec,
    RunSamples, Setting, Unit,
};
use crate::measure::{self, Metric, SamplePlan};

mod creator;
mod lwc;

pub use creator::{Creator, SPAWN_PROGRAM};
pub use lwc::time_lwc_creates;

/// The `create` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Create;

/// The id.
pub const ID: &str = "create";
/// The name of the series every run reports.
pub const SERIES: &str = "create";

/// How a backend creates a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creates {
    /// `lwc::create` in an lwC group.
    Lwc,
    /// `fork`.
    Fork,
    /// `posix_spawn` of [`SPAWN_PROGRAM`].
    Spawn,
    /// `std::thread`.
    Thread,
    /// Fake timings, for pipeline tests.
    Mock,
}

/// One backend of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateBackend {
    /// Name and description.
    pub info: BackendInfo,
    /// How it creates.
    pub creates: Creates,
    /// What one sample is, in words.
    pub what: &'static str,
    /// Whether the new context can write the parent's pages (`spawn` runs another program).
    pub writes_pages: bool,
}

const fn backend(
    name: &'static str,
    creates: Creates,
    what: &'static str,
    writes_pages: bool,
) -> CreateBackend {
    CreateBackend {
        info: BackendInfo {
            name,
            about: what,
            default: !matches!(creates, Creates::Mock),
        },
        creates,
        what,
        writes_pages,
    }
}

/// The backends, in plan order.
pub static BACKENDS: [CreateBackend; 5] = [
    backend("lwc", Creates::Lwc, "create + first switch + discard", true),
    backend("fork", Creates::Fork, "fork + _exit + waitpid", true),
    backend(
        "spawn",
        Creates::Spawn,
        "posix_spawn /bin/true + waitpid",
        false,
    ),
    backend("thread", Creates::Thread, "thread create + join", true),
    backend(
        "mock",
        Creates::Mock,
        "create (fake timings, for tests)",
        true,
    ),
];

impl CreateBackend {
    /// The backend called `name`.
    pub fn by_name(name: &str) -> Option<&'static CreateBackend> {
        BACKENDS.iter().find(|b| b.info.name == name)
    }

    /// The metric of its points: µs per create.
    pub fn metric(&self) -> MetricSpec {
        MetricSpec::new(SERIES, Unit::Us, self.what)
    }
}

/// Bytes per page the sweep assumes (x86_64 base pages).
pub const PAGE_BYTES: i64 = 4096;

const MIB: i64 = 1 << 20;

/// The sweep of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// The `resident_bytes` values.
    pub resident_bytes: &'static [i64],
    /// The `pages_written` values (those that fit in the resident size are planned).
    pub pages_written: &'static [i64],
    /// Runs per point.
    pub runs: u32,
    /// How much one run measures.
    pub sample: SamplePlan,
}

/// The sweep of each setting.
pub const SWEEPS: PerSetting<Sweep> = PerSetting {
    smoke: Sweep {
        resident_bytes: &[MIB],
        pages_written: &[0, 16],
        runs: 3,
        sample: SamplePlan {
            warmup: Duration::ZERO,
            max_samples: 5,
            min_samples: 2,
            budget: Duration::from_millis(20),
        },
    },
    quick: Sweep {
        resident_bytes: &[MIB, 64 * MIB],
        pages_written: &[0, 256],
        runs: 5,
        sample: SamplePlan {
            warmup: Duration::from_millis(20),
            max_samples: 300,
            min_samples: 10,
            budget: Duration::from_millis(200),
        },
    },
    full: Sweep {
        resident_bytes: &[MIB, 16 * MIB, 64 * MIB, 256 * MIB, 1024 * MIB],
        pages_written: &[0, 16, 256, 4096],
        runs: 7,
        sample: SamplePlan {
            warmup: Duration::from_millis(200),
            max_samples: 5_000,
            min_samples: 30,
            budget: Duration::from_secs(3),
        },
    },
};

/// A point of `create`, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatePoint {
    /// The backend.
    pub backend: &'static CreateBackend,
    /// Resident memory of the parent.
    pub resident_bytes: usize,
    /// Pages the new context writes.
    pub pages_written: usize,
}

impl CreatePoint {
    /// The point as the harness carries it.
    pub fn spec(&self, runs: u32) -> PointSpec {
        let int = |v: usize| Param::Int(i64::try_from(v).unwrap_or(i64::MAX));
        PointSpec {
            id: PointId {
                experiment: ID.to_owned(),
                backend: self.backend.info.name.to_owned(),
                params: model::params([
                    ("pages_written", int(self.pages_written)),
                    ("resident_bytes", int(self.resident_bytes)),
                ]),
            },
            metrics: vec![self.backend.metric()],
            runs,
        }
    }

    /// Parses a point spec once.
    pub fn parse(spec: &PointSpec) -> Result<Self, MeasureError> {
        let backend = CreateBackend::by_name(&spec.id.backend)
            .ok_or_else(|| unknown_backend(&spec.id.backend))?;
        let resident = int_param(&spec.id.params, "resident_bytes")?;
        let pages = int_param(&spec.id.params, "pages_written")?;
        let (Ok(resident_bytes), Ok(pages_written)) =
            (usize::try_from(resident), usize::try_from(pages))
        else {
            return Err(MeasureError::BadPoint(format!(
                "resident_bytes = {resident}, pages_written = {pages}: must not be negative"
            )));
        };
        if pages_written * rustix::param::page_size() > resident_bytes {
            return Err(MeasureError::BadPoint(format!(
                "pages_written = {pages} does not fit in resident_bytes = {resident}"
            )));
        }
        if pages_written > 0 && !backend.writes_pages {
            return Err(MeasureError::BadPoint(format!(
                "{} runs another program: pages_written must be 0",
                backend.info.name
            )));
        }
        Ok(CreatePoint {
            backend,
            resident_bytes,
            pages_written,
        })
    }

    /// Measures one run.
    pub fn measure(&self, setting: Setting) -> Result<RunSamples, MeasureError> {
        let plan = SWEEPS.get(setting).sample;
        let (resident, pages) = (self.resident_bytes, self.pages_written);
        match self.backend.creates {
            Creates::Lwc => lwc::create_run(resident, pages, &plan),
            Creates::Fork | Creates::Spawn | Creates::Thread => {
                let mut creator = Creator::new(self.backend.creates, resident, pages)?;
                measure::run_timed(&plan, Metric::op_us(SERIES), |k| creator.create(k))
            }
            Creates::Mock => Ok(RunSamples::single(
                SERIES,
                mock_samples(
                    50.0 + 30.0 * (resident as f64 / (1 << 20) as f64) + 2.5 * pages as f64,
                    plan.max_samples.clamp(1, 1000),
                ),
                1,
            )),
        }
    }
}

/// The points of one setting, for the backends wanted.
fn points(setting: Setting, backends: &[String]) -> Vec<CreatePoint> {
    let sweep = SWEEPS.get(setting);
    let mut out = Vec::new();
    for backend in BACKENDS.iter().filter(|b| b.info.wanted(backends)) {
        for &resident in sweep.resident_bytes {
            for &pages in sweep.pages_written {
                if pages * PAGE_BYTES > resident || (!backend.writes_pages && pages > 0) {
                    continue;
                }
                out.push(CreatePoint {
                    backend,
                    resident_bytes: resident as usize,
                    pages_written: pages as usize,
                });
            }
        }
    }
    out
}

impl Experiment for Create {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "µs per create (lwC, fork, posix_spawn, thread) vs parent resident memory and pages written"
    }

    fn backends(&self) -> Vec<BackendInfo> {
        BACKENDS.iter().map(|b| b.info).collect()
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        let runs = SWEEPS.get(setting).runs;
        points(setting, backends)
            .iter()
            .map(|p| p.spec(runs))
            .collect()
    }

    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError> {
        CreatePoint::parse(point)?.measure(setting)
    }
}

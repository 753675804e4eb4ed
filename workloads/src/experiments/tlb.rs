//! `tlb`: what TLB refills after a switch cost, with and without an address-space change.
//!
//! After every switch the resumed context touches W pages of its own private working set
//! (one byte written per 4 KiB page), so the time per switch includes W translations that the
//! TLB either still holds or must walk the page tables for again. Two sweeps, all parties on one
//! CPU:
//!
//! | sweep | parties K | pages W | page size |
//! |---|---|---|---|
//! | `pages` | 2 (ping-pong) | 1 … 4096 | 4 KiB, and 2 MiB (THP) where W × 4 KiB fills huge pages |
//! | `ring` | 2 … 32 | [`RING_PAGES`] per hop | 4 KiB |
//!
//! Backends: `thread-futex` (one address space: the baseline), `process-futex` and `lwc` (an
//! address space per context). With PCID the kernel keeps a few address spaces' TLB entries per
//! CPU (Linux: 6 dynamic ASIDs); once a ring has more address spaces than that, every hop finds
//! its entries gone and the cost over threads steps up. Where the step lies is read from the
//! data (the report's summary), not assumed.
//!
//! The perf counters of a run (dTLB load misses where the kernel has a PMU) are those of party
//! 0, the measuring context: in a symmetric ring every party does the same, so party 0's misses
//! per lap are the ring's misses per switch; per operation (one-way switch) they are 1 / K of
//! that. Huge-page points record `huge_page_share`, the part of party 0's set the kernel backed
//! with huge pages (THP may refuse; with `enabled = never` the points are unavailable).

use std::time::Duration;

use super::{int_param, text_param, unknown_backend};
use crate::context::mock::mock_samples;
use crate::context::{self, Backend, PageSize, Touch};
use crate::experiment::{
    BackendInfo, Experiment, MeasureError, MetricSpec, Param, PerSetting, PointId, PointSpec,
    RunSamples, Setting, Unit,
};
use crate::measure::{Placement, SamplePlan};

/// The `tlb` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Tlb;

/// The id.
pub const ID: &str = "tlb";
/// The name of the series every run reports.
pub const SERIES: &str = "switch";
/// Pages every party touches per hop in the `ring` sweep (1 MiB).
pub const RING_PAGES: usize = 256;

/// The metric of every point.
pub fn metric() -> MetricSpec {
    MetricSpec::new(
        SERIES,
        Unit::Ns,
        "one-way switch + the resumed context touching its W pages",
    )
}

/// One backend of the experiment.
pub struct TlbBackend {
    /// Name and description.
    pub info: BackendInfo,
    /// The ring; `None` for the mock.
    pub context: Option<&'static dyn Backend>,
}

const fn backend(
    name: &'static str,
    about: &'static str,
    context: &'static dyn Backend,
) -> TlbBackend {
    TlbBackend {
        info: BackendInfo {
            name,
            about,
            default: true,
        },
        context: Some(context),
    }
}

/// The backends, in plan order.
pub static BACKENDS: [TlbBackend; 4] = [
    backend(
        "lwc",
        "lwC per context, blocking hand-off (an address space each)",
        &context::Lwc,
    ),
    backend(
        "process-futex",
        "process per context, futex hand-off (an address space each)",
        &context::ProcessFutex,
    ),
    backend(
        "thread-futex",
        "thread per context, futex hand-off (one address space)",
        &context::ThreadFutex,
    ),
    TlbBackend {
        info: BackendInfo {
            name: "mock",
            about: "deterministic fake timings, for tests",
            default: false,
        },
        context: None,
    },
];

/// Which of the two sweeps a point belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sweep {
    /// Ping-pong, W varies.
    Pages,
    /// A ring of K, W fixed.
    Ring,
}

impl Sweep {
    /// The value of the `sweep` parameter.
    pub fn label(self) -> &'static str {
        match self {
            Sweep::Pages => "pages",
            Sweep::Ring => "ring",
        }
    }

    fn parse(label: &str) -> Option<Self> {
        [Sweep::Pages, Sweep::Ring]
            .into_iter()
            .find(|s| s.label() == label)
    }
}

/// The sweeps and sampling of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweeps {
    /// W of the `pages` sweep with 4 KiB pages.
    pub pages: &'static [usize],
    /// W of the `pages` sweep with huge pages.
    pub huge_pages: &'static [usize],
    /// K of the `ring` sweep.
    pub parties: &'static [usize],
    /// Runs per point.
    pub runs: u32,
    /// How much one run measures.
    pub sample: SamplePlan,
}

/// The sweeps of each setting.
pub const SWEEPS: PerSetting<Sweeps> = PerSetting {
    smoke: Sweeps {
        pages: &[1, 64],
        huge_pages: &[512],
        parties: &[2, 3],
        runs: 3,
        sample: SamplePlan {
            warmup: Duration::from_millis(1),
            max_samples: 20,
            min_samples: 3,
            budget: Duration::from_millis(5),
        },
    },
    quick: Sweeps {
        pages: &[1, 64, 1024, 4096],
        huge_pages: &[4096],
        parties: &[2, 3, 4, 5, 6, 7, 8, 12, 16],
        runs: 3,
        sample: SamplePlan {
            warmup: Duration::from_millis(10),
            max_samples: 2_000,
            min_samples: 20,
            budget: Duration::from_millis(25),
        },
    },
    full: Sweeps {
        pages: &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096],
        huge_pages: &[512, 1024, 2048, 4096],
        parties: &[
            2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 24, 28, 32,
        ],
        runs: 7,
        sample: SamplePlan {
            warmup: Duration::from_millis(100),
            max_samples: 50_000,
            min_samples: 200,
            budget: Duration::from_millis(800),
        },
    },
};

/// A point of `tlb`, typed.
#[derive(Clone, Copy)]
pub struct TlbPoint {
    /// The backend.
    pub backend: &'static TlbBackend,
    /// The sweep it belongs to.
    pub sweep: Sweep,
    /// Contexts in the ring (K).
    pub parties: usize,
    /// What each touches per switch.
    pub touch: Touch,
}

impl std::fmt::Debug for TlbPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} K={} W={} {}",
            self.backend.info.name,
            self.sweep.label(),
            self.parties,
            self.touch.pages,
            self.touch.page_size.label()
        )
    }
}

impl PartialEq for TlbPoint {
    fn eq(&self, other: &Self) -> bool {
        self.backend.info == other.backend.info
            && self.sweep == other.sweep
            && self.parties == other.parties
            && self.touch == other.touch
    }
}

fn int(v: usize) -> Param {
    Param::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

impl TlbPoint {
    /// The point as the harness carries it.
    pub fn spec(&self, runs: u32) -> PointSpec {
        PointSpec {
            id: PointId {
                experiment: ID.to_owned(),
                backend: self.backend.info.name.to_owned(),
                params: model::params([
                    (
                        "page_size",
                        Param::Text(self.touch.page_size.label().into()),
                    ),
                    ("pages", int(self.touch.pages)),
                    ("parties", int(self.parties)),
                    ("sweep", Param::Text(self.sweep.label().into())),
                ]),
            },
            metrics: vec![metric()],
            runs,
        }
    }

    /// Parses a point spec once.
    pub fn parse(spec: &PointSpec) -> Result<Self, MeasureError> {
        let backend = BACKENDS
            .iter()
            .find(|b| b.info.name == spec.id.backend)
            .ok_or_else(|| unknown_backend(&spec.id.backend))?;
        let p = &spec.id.params;
        let sweep = text_param(p, "sweep")?;
        let sweep = Sweep::parse(sweep)
            .ok_or_else(|| MeasureError::BadPoint(format!("sweep = {sweep}")))?;
        let size = text_param(p, "page_size")?;
        let page_size = PageSize::parse(size)
            .ok_or_else(|| MeasureError::BadPoint(format!("page_size = {size}")))?;
        let count = |name: &str, min: i64| -> Result<usize, MeasureError> {
            let v = int_param(p, name)?;
            if !(min..=4096).contains(&v) {
                return Err(MeasureError::BadPoint(format!(
                    "{name} = {v}: must be {min} to 4096"
                )));
            }
            Ok(v as usize)
        };
        Ok(TlbPoint {
            backend,
            sweep,
            parties: count("parties", 2)?,
            touch: Touch {
                pages: count("pages", 1)?,
                page_size,
            },
        })
    }

    /// Measures one run: a ring of K on the same-core CPU, every party touching its set.
    pub fn measure(&self, setting: Setting) -> Result<RunSamples, MeasureError> {
        let plan = SWEEPS.get(setting).sample;
        if self.touch.page_size == PageSize::Huge {
            thp_usable()?;
        }
        let Some(ring) = self.backend.context else {
            let base = 1000.0 + 2.0 * self.touch.pages as f64 + 50.0 * self.parties as f64;
            return Ok(RunSamples::single(
                SERIES,
                mock_samples(base, plan.max_samples.clamp(1, 1000)),
                1,
            ));
        };
        let cpus = Placement::SameCore.ring(self.parties)?;
        ring.measure_touching(&cpus, self.touch, SERIES, &plan)
    }
}

/// Unavailable when transparent huge pages are off (`enabled = never`) or absent.
fn thp_usable() -> Result<(), MeasureError> {
    let path = "/sys/kernel/mm/transparent_hugepage/enabled";
    match std::fs::read_to_string(path) {
        Ok(s) if s.contains("[never]") => Err(MeasureError::Unavailable(format!(
            "transparent huge pages are off ({path}: {})",
            s.trim()
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(MeasureError::Unavailable(format!(
            "no transparent huge pages ({path}: {e})"
        ))),
    }
}

/// The points of one setting, for the backends wanted.
fn points(setting: Setting, backends: &[String]) -> Vec<TlbPoint> {
    let sweeps = SWEEPS.get(setting);
    let mut out = Vec::new();
    for backend in BACKENDS.iter().filter(|b| b.info.wanted(backends)) {
        let point = |sweep, parties, pages, page_size| TlbPoint {
            backend,
            sweep,
            parties,
            touch: Touch { pages, page_size },
        };
        for &w in sweeps.pages {
            out.push(point(Sweep::Pages, 2, w, PageSize::Base));
        }
        for &w in sweeps.huge_pages {
            out.push(point(Sweep::Pages, 2, w, PageSize::Huge));
        }
        for &k in sweeps.parties {
            out.push(point(Sweep::Ring, k, RING_PAGES, PageSize::Base));
        }
    }
    out
}

impl Experiment for Tlb {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "ns per switch when the resumed context touches W pages of its own (W = 1…4096, 4 KiB and \
         2 MiB pages), and per hop around a ring of K = 2…32 contexts on one CPU: threads against \
         processes and lwCs (TLB refills, PCID)"
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
        TlbPoint::parse(point)?.measure(setting)
    }
}

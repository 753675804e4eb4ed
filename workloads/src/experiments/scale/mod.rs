//! `scale`: what a live isolated session costs in memory, and how create and switch times
//! change as the number of live sessions grows.
//!
//! One run creates N sessions one after the other, each holding `state_bytes` of private state
//! it mapped and wrote itself (64 KiB by default), all parked on one CPU; then it switches to
//! random live sessions (each touches its state, so the TLB and caches feel N), and asks each
//! session for its memory.
//!
//! | backend | a session is |
//! |---|---|
//! | `lwc` | an lwC created by the group's root lwC ([`lwc`]) |
//! | `process` | a forked process, futex hand-off ([`sessions`]) |
//! | `thread` | a thread of the root's process (no isolation) |
//!
//! Metrics, per session at N live: PSS and RSS (`/proc/self/smaps_rollup` of each session's
//! process, averaged; for threads, what the process grew by, divided by N), page tables
//! (`VmPTE`), µs per create (create + the first switch, in which the session writes its state),
//! ns per one-way switch to a random live session and back (half a round trip).
//!
//! Memory guard ([`memory::Guard`]): sessions are created in steps that double what exists;
//! before each step the run estimates what it will take from what the machine lost per session
//! so far (at least the state), and stops when that would pass half of `MemAvailable` at the
//! start. A run that stops is recorded unavailable with the numbers that stopped it. Every
//! process it made is gone when it returns, whether it measured, stopped or failed.

use super::{int_param, unknown_backend};
use crate::context::mock::mock_samples;
use crate::experiment::{
    BackendInfo, Experiment, MeasureError, MetricSpec, Param, PerSetting, PointId, PointSpec,
    RunSamples, Setting, Unit,
};
use crate::isolate::run_isolated;
use crate::measure::{self, AffinityGuard, Placement};
use model::{Series, Values};

mod lwc;
pub mod memory;
mod sessions;

pub use memory::{Guard, Usage};

/// The `scale` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Scale;

/// The id.
pub const ID: &str = "scale";

/// The session state of the default sweeps.
pub const STATE_BYTES: usize = 64 << 10;

/// Live sessions of one backend, made one at a time; the root visits them.
pub(crate) trait Sessions {
    /// Makes one more session: it maps and writes its state, then parks.
    fn create(&mut self) -> Result<(), MeasureError>;
    /// Sessions made so far.
    fn len(&self) -> usize;
    /// Switches to session `i`, which touches its state, and back.
    fn visit(&mut self, i: usize) -> Result<(), MeasureError>;
    /// The memory of one session, averaged over the live ones.
    fn usage_per_session(&mut self) -> Result<Usage, MeasureError>;
}

/// How a backend makes sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Makes {
    /// lwCs of one group.
    Lwc,
    /// Forked processes.
    Process,
    /// Threads.
    Thread,
    /// Fake numbers, for tests.
    Mock,
}

/// One backend of the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleBackend {
    /// Name and description.
    pub info: BackendInfo,
    /// How it makes sessions.
    pub makes: Makes,
}

const fn backend(name: &'static str, about: &'static str, makes: Makes) -> ScaleBackend {
    ScaleBackend {
        info: BackendInfo {
            name,
            about,
            default: !matches!(makes, Makes::Mock),
        },
        makes,
    }
}

/// The backends, in plan order.
pub static BACKENDS: [ScaleBackend; 4] = [
    backend("lwc", "an lwC per session", Makes::Lwc),
    backend(
        "process",
        "a process per session, futex hand-off",
        Makes::Process,
    ),
    backend(
        "thread",
        "a thread per session (no isolation)",
        Makes::Thread,
    ),
    backend("mock", "fake numbers, for tests", Makes::Mock),
];

/// The metric names, headline first.
pub mod series {
    /// PSS per session.
    pub const PSS: &str = "pss";
    /// RSS per session.
    pub const RSS: &str = "rss";
    /// Page tables per session.
    pub const PAGE_TABLES: &str = "page_tables";
    /// µs per create.
    pub const CREATE: &str = "create";
    /// ns per one-way switch to a random session.
    pub const SWITCH: &str = "switch";
}

/// The metrics of every point.
pub fn metrics() -> Vec<MetricSpec> {
    vec![
        MetricSpec::new(
            series::PSS,
            Unit::Bytes,
            "PSS per session (smaps_rollup), N live",
        ),
        MetricSpec::new(
            series::RSS,
            Unit::Bytes,
            "RSS per session (smaps_rollup), N live",
        ),
        MetricSpec::new(
            series::PAGE_TABLES,
            Unit::Bytes,
            "page tables per session (VmPTE), N live",
        ),
        MetricSpec::new(
            series::CREATE,
            Unit::Us,
            "create + first switch (the session writes its state)",
        ),
        MetricSpec::new(
            series::SWITCH,
            Unit::Ns,
            "one-way switch to a random live session (half a round trip)",
        ),
    ]
}

/// The sweep of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// The N values.
    pub sessions: &'static [usize],
    /// Runs per point.
    pub runs: u32,
    /// Samples of the switch metric per run (each a batch of [`VISITS_PER_SAMPLE`] visits).
    pub switch_samples: usize,
}

/// Visits timed together in one switch sample.
pub const VISITS_PER_SAMPLE: usize = 16;

/// The sweep of each setting.
pub const SWEEPS: PerSetting<Sweep> = PerSetting {
    smoke: Sweep {
        sessions: &[1, 8],
        runs: 3,
        switch_samples: 8,
    },
    // lwC create grows with the live lwCs (the total with N²): 1,000 lwCs took ~28 s of the
    // quick budget's 45, so quick stops at 700 and 1,000 is in the full sweep.
    quick: Sweep {
        sessions: &[1, 10, 100, 700],
        runs: 3,
        switch_samples: 64,
    },
    full: Sweep {
        sessions: &[1, 10, 100, 300, 1000, 3000, 10_000],
        runs: 5,
        switch_samples: 512,
    },
};

/// The most sessions a point may ask for.
pub const MAX_SESSIONS: usize = 100_000;

/// A point of `scale`, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalePoint {
    /// The backend.
    pub backend: &'static ScaleBackend,
    /// Live sessions at the end (N).
    pub sessions: usize,
    /// Private state each session writes, bytes.
    pub state_bytes: usize,
}

/// How one run is bounded, beyond its point: the memory guard, and (tests) a session made to
/// fail.
#[derive(Debug, Clone, Copy)]
pub struct RunLimits {
    /// The memory guard.
    pub guard: Guard,
    /// The session with this index fails at its creation, as one whose state cannot be mapped.
    pub fail_session: Option<usize>,
}

impl ScalePoint {
    /// The point as the harness carries it.
    pub fn spec(&self, runs: u32) -> PointSpec {
        let int = |v: usize| Param::Int(i64::try_from(v).unwrap_or(i64::MAX));
        PointSpec {
            id: PointId {
                experiment: ID.to_owned(),
                backend: self.backend.info.name.to_owned(),
                params: model::params([
                    ("sessions", int(self.sessions)),
                    ("state_bytes", int(self.state_bytes)),
                ]),
            },
            metrics: metrics(),
            runs,
        }
    }

    /// Parses a point spec once.
    pub fn parse(spec: &PointSpec) -> Result<Self, MeasureError> {
        let backend = BACKENDS
            .iter()
            .find(|b| b.info.name == spec.id.backend)
            .ok_or_else(|| unknown_backend(&spec.id.backend))?;
        let n = int_param(&spec.id.params, "sessions")?;
        let state = int_param(&spec.id.params, "state_bytes")?;
        let sessions = usize::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_SESSIONS).contains(n))
            .ok_or_else(|| {
                MeasureError::BadPoint(format!("sessions = {n}: must be 1 to {MAX_SESSIONS}"))
            })?;
        let state_bytes = usize::try_from(state)
            .ok()
            .filter(|s| (1..=1 << 30).contains(s))
            .ok_or_else(|| {
                MeasureError::BadPoint(format!("state_bytes = {state}: must be 1 to 1 GiB"))
            })?;
        Ok(ScalePoint {
            backend,
            sessions,
            state_bytes,
        })
    }

    /// Measures one run under the machine's memory guard.
    pub fn measure(&self, setting: Setting) -> Result<RunSamples, MeasureError> {
        self.measure_with(
            setting,
            RunLimits {
                guard: Guard::machine()?,
                fail_session: None,
            },
        )
    }

    /// Measures one run under `limits`.
    pub fn measure_with(
        &self,
        setting: Setting,
        limits: RunLimits,
    ) -> Result<RunSamples, MeasureError> {
        let (cpu, _) = Placement::SameCore.cpus()?;
        let switches = SWEEPS.get(setting).switch_samples;
        let (n, state, fail) = (self.sessions, self.state_bytes, limits.fail_session);
        let guard = limits.guard;
        match self.backend.makes {
            Makes::Lwc => run_isolated(move || {
                ::lwc::init(&::lwc::GroupConfig {
                    cpus: vec![cpu],
                    handoff: ::lwc::Handoff::Block,
                })?;
                measure::pin_current_thread(cpu)?;
                run(
                    &mut lwc::LwcSessions::new(state, fail),
                    n,
                    state,
                    &guard,
                    switches,
                )
            }),
            Makes::Process => {
                let _pin = AffinityGuard::pin(cpu)?;
                let mut s = sessions::ProcessSessions::new(n, state, fail)?;
                run(&mut s, n, state, &guard, switches)
            }
            Makes::Thread => {
                let _pin = AffinityGuard::pin(cpu)?;
                let mut s = sessions::ThreadSessions::new(n, state, fail)?;
                run(&mut s, n, state, &guard, switches)
            }
            Makes::Mock => Ok(mock_run(n, state, switches)),
        }
    }
}

/// A small deterministic generator (xorshift64*), so every run visits the same sequence.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// One run over `sessions`: create N in guarded steps (timing each create), time random
/// visits, then read the memory per session.
fn run(
    sessions: &mut dyn Sessions,
    n: usize,
    state_bytes: usize,
    guard: &Guard,
    switch_samples: usize,
) -> Result<RunSamples, MeasureError> {
    let floor = state_bytes as u64;
    let mut create_us = Vec::with_capacity(n);
    while sessions.len() < n {
        let made = sessions.len();
        let step = made.max(1).min(n - made);
        guard.check(made, step, floor)?;
        for _ in 0..step {
            let t0 = measure::now();
            sessions.create()?;
            create_us.push(t0.elapsed().as_nanos() as f64 / 1000.0);
        }
    }
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    // One untimed visit of every session first: the timed ones find them all warmed up alike.
    for i in 0..n {
        sessions.visit(i)?;
    }
    let mut switch_ns = Vec::with_capacity(switch_samples);
    for _ in 0..switch_samples.max(1) {
        let picks: Vec<usize> = (0..VISITS_PER_SAMPLE).map(|_| rng.below(n)).collect();
        let t0 = measure::now();
        for &i in &picks {
            sessions.visit(i)?;
        }
        let ns = t0.elapsed().as_nanos() as f64;
        switch_ns.push(ns / (2 * VISITS_PER_SAMPLE) as f64);
    }
    let usage = sessions.usage_per_session()?;
    Ok(samples(usage, create_us, switch_ns))
}

/// The run's series, in the order of [`metrics`].
fn samples(usage: Usage, create_us: Vec<f64>, switch_ns: Vec<f64>) -> RunSamples {
    let one = |name: &str, v: u64| Series {
        name: name.to_owned(),
        batch: 1,
        values: Values::Samples(vec![v as f64]),
    };
    let mut run = RunSamples::single(series::PSS, vec![usage.pss_bytes as f64], 1);
    run.series.push(one(series::RSS, usage.rss_bytes));
    run.series
        .push(one(series::PAGE_TABLES, usage.page_table_bytes));
    run.series.push(Series {
        name: series::CREATE.to_owned(),
        batch: 1,
        values: Values::Samples(create_us),
    });
    run.series.push(Series {
        name: series::SWITCH.to_owned(),
        batch: (2 * VISITS_PER_SAMPLE) as u64,
        values: Values::Samples(switch_ns),
    });
    run
}

fn mock_run(n: usize, state_bytes: usize, switches: usize) -> RunSamples {
    let pss = state_bytes as u64 + 40_960 + (1 << 20) / n as u64;
    samples(
        Usage {
            pss_bytes: pss,
            rss_bytes: pss + (2 << 20),
            page_table_bytes: 16_384,
        },
        mock_samples(300.0, n.min(1000)),
        mock_samples(3000.0 + n as f64, switches.max(1)),
    )
}

/// The points of one setting, for the backends wanted.
fn points(setting: Setting, backends: &[String]) -> Vec<ScalePoint> {
    let sweep = SWEEPS.get(setting);
    BACKENDS
        .iter()
        .filter(|b| b.info.wanted(backends))
        .flat_map(|backend| {
            sweep.sessions.iter().map(move |&sessions| ScalePoint {
                backend,
                sessions,
                state_bytes: STATE_BYTES,
            })
        })
        .collect()
}

impl Experiment for Scale {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "N live sessions (lwC, process, thread), each holding 64 KiB it wrote: memory per \
         session (PSS, RSS, page tables), create and switch time as N grows, under a memory guard"
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
        ScalePoint::parse(point)?.measure(setting)
    }
}

//! `rollback`: sessions/s, requests/s and rollback latency of a request handler with a costly
//! start-up state that returns to its pristine state after every session, for each way of
//! returning there (`reinit`, `fork`, `lwc-snapshot`, `lwc-pool`, `lwc-inplace`, `none`).
//!
//! The paper's Apache (MPM forksnap against stock prefork: `lwc-snapshot` against `none`) and
//! PHP (a snapshot after start-up against starting afresh: `lwc-snapshot` against `reinit`)
//! comparisons, plus process-based separation (`fork`) and the two strategies beyond the
//! paper. The handler and its driver are [`crate::rollback`].
//!
//! | metric | unit | one value |
//! |---|---|---|
//! | `sessions` (headline) | sessions/s | sessions of one cycle over their time: 16 sessions for `lwc-pool` (one refill of its 16 copies), one for the others |
//! | `requests` | req/s | the same, times the session length |
//! | `rollback` | µs | one session's end to the handler ready again |
//!
//! Sweeps go out from one centre (S = 16 requests per session, 4 pages written per request,
//! 64 MiB of state) along one axis at a time: session length, pages written, state size.

use std::time::{Duration, Instant};

use crate::rollback::strategy::POOL_SIZE;
use crate::rollback::{Driver, HandlerConfig, RollbackError, Strategy};
use workloads::experiment::{
    BackendInfo, Counter, Experiment, MeasureError, MetricSpec, Param, PerSetting, PointId,
    PointSpec, RunSamples, Setting, Unit,
};
use workloads::experiments::{int_param, unknown_backend};
use workloads::measure::Placement;

/// The id.
pub const ID: &str = "rollback";
/// The headline series: sessions per second.
pub const SESSIONS: &str = "sessions";
/// Requests per second.
pub const REQUESTS: &str = "requests";
/// Rollback latency per session.
pub const ROLLBACK: &str = "rollback";

/// The `rollback` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Rollback;

const MIB: usize = 1 << 20;

/// One point of the sweep, before a strategy is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Requests per session (S).
    pub requests_per_session: u32,
    /// Pages each request writes.
    pub pages_per_request: usize,
    /// Bytes of state the handler builds.
    pub state_bytes: usize,
}

/// How much one run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPlan {
    /// Cycles run untimed first (after the handler's start-up).
    pub warmup_cycles: usize,
    /// Never fewer cycles than this...
    pub min_cycles: usize,
    /// ...and no more once this much time went into them...
    pub budget: Duration,
    /// ...and never more than this many.
    pub max_cycles: usize,
}

/// The sweep of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// The centre every axis goes through.
    pub centre: Shape,
    /// Session lengths, at the centre's pages and state.
    pub requests_per_session: &'static [u32],
    /// Pages written per request, at the centre's session length and state.
    pub pages_per_request: &'static [usize],
    /// State sizes, at the centre's session length and pages.
    pub state_bytes: &'static [usize],
    /// Runs per point.
    pub runs: u32,
    /// How much one run measures.
    pub sample: SessionPlan,
}

/// The sweep of each setting. Quick: the session-length axis at 64 MiB, 18 points × 3 runs of ~0.15 s.
pub const SWEEPS: PerSetting<Sweep> = PerSetting {
    smoke: Sweep {
        centre: Shape {
            requests_per_session: 4,
            pages_per_request: 4,
            state_bytes: MIB,
        },
        requests_per_session: &[1, 4],
        pages_per_request: &[],
        state_bytes: &[],
        runs: 3,
        sample: SessionPlan {
            warmup_cycles: 1,
            min_cycles: 2,
            budget: Duration::from_millis(10),
            max_cycles: 20,
        },
    },
    quick: Sweep {
        centre: Shape {
            requests_per_session: 16,
            pages_per_request: 4,
            state_bytes: 64 * MIB,
        },
        requests_per_session: &[1, 16, 256],
        pages_per_request: &[],
        state_bytes: &[],
        runs: 3,
        sample: SessionPlan {
            warmup_cycles: 1,
            min_cycles: 3,
            budget: Duration::from_millis(60),
            max_cycles: 2_000,
        },
    },
    full: Sweep {
        centre: Shape {
            requests_per_session: 16,
            pages_per_request: 4,
            state_bytes: 64 * MIB,
        },
        requests_per_session: &[1, 4, 16, 64, 256],
        pages_per_request: &[0, 4, 64],
        state_bytes: &[MIB, 16 * MIB, 64 * MIB, 256 * MIB, 1024 * MIB],
        runs: 5,
        sample: SessionPlan {
            warmup_cycles: 2,
            min_cycles: 5,
            budget: Duration::from_millis(1_000),
            max_cycles: 20_000,
        },
    },
};

impl Sweep {
    /// Every shape of the sweep, the centre once.
    pub fn shapes(&self) -> Vec<Shape> {
        let c = self.centre;
        let mut out = vec![];
        let mut add = |s: Shape| {
            if !out.contains(&s) {
                out.push(s);
            }
        };
        for &r in self.requests_per_session {
            add(Shape {
                requests_per_session: r,
                ..c
            });
        }
        for &p in self.pages_per_request {
            add(Shape {
                pages_per_request: p,
                ..c
            });
        }
        for &b in self.state_bytes {
            add(Shape {
                state_bytes: b,
                ..c
            });
        }
        out
    }
}

/// A point of `rollback`, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackPoint {
    /// The strategy (the point's backend).
    pub strategy: Strategy,
    /// Its shape.
    pub shape: Shape,
}

fn metrics() -> Vec<MetricSpec> {
    vec![
        MetricSpec::new(
            SESSIONS,
            Unit::per_second("sessions"),
            "sessions per second, closed loop on one CPU",
        ),
        MetricSpec::new(
            REQUESTS,
            Unit::per_second("req"),
            "requests per second, closed loop on one CPU",
        ),
        MetricSpec::new(ROLLBACK, Unit::Us, "session end to handler ready again"),
    ]
}

impl RollbackPoint {
    /// The point as the harness carries it.
    pub fn spec(&self, runs: u32) -> PointSpec {
        let int = |v: usize| Param::Int(i64::try_from(v).unwrap_or(i64::MAX));
        PointSpec {
            id: PointId {
                experiment: ID.to_owned(),
                backend: self.strategy.name().to_owned(),
                params: model::params([
                    ("pages_per_request", int(self.shape.pages_per_request)),
                    (
                        "requests_per_session",
                        Param::Int(i64::from(self.shape.requests_per_session)),
                    ),
                    ("state_bytes", int(self.shape.state_bytes)),
                ]),
            },
            metrics: metrics(),
            runs,
        }
    }

    /// Parses a point spec once.
    pub fn parse(spec: &PointSpec) -> Result<Self, MeasureError> {
        let strategy =
            Strategy::by_name(&spec.id.backend).ok_or_else(|| unknown_backend(&spec.id.backend))?;
        let p = &spec.id.params;
        let (r, w, b) = (
            int_param(p, "requests_per_session")?,
            int_param(p, "pages_per_request")?,
            int_param(p, "state_bytes")?,
        );
        match (u32::try_from(r), usize::try_from(w), usize::try_from(b)) {
            (Ok(r @ 1..), Ok(w), Ok(b @ 1..)) => Ok(RollbackPoint {
                strategy,
                shape: Shape {
                    requests_per_session: r,
                    pages_per_request: w,
                    state_bytes: b,
                },
            }),
            _ => Err(MeasureError::BadPoint(format!(
                "requests_per_session = {r}, pages_per_request = {w}, state_bytes = {b}: \
                 sessions and state must not be empty, nothing negative"
            ))),
        }
    }

    /// Sessions in one cycle of the strategy: a pool's refill comes once per `POOL_SIZE`.
    pub fn cycle(&self) -> usize {
        if self.strategy == Strategy::LwcPool {
            POOL_SIZE
        } else {
            1
        }
    }

    /// Measures one run: starts the handler (untimed), warms up, then times cycles of sessions.
    pub fn measure(&self, plan: &SessionPlan) -> Result<RunSamples, MeasureError> {
        let (cpu, _) = Placement::SameCore.cpus()?;
        let mut driver = Driver::start(HandlerConfig {
            strategy: self.strategy,
            state_bytes: self.shape.state_bytes,
            pages_per_request: self.shape.pages_per_request,
            cpu,
        })
        .map_err(measure_error)?;
        let s = self.shape.requests_per_session;
        let cycle = self.cycle();
        for _ in 0..plan.warmup_cycles * cycle {
            driver.session(s).map_err(measure_error)?;
        }
        let mut rates = Vec::new();
        let mut rollbacks = Vec::new();
        let start = Instant::now();
        while rates.len() < plan.max_cycles.max(1) {
            let mut took = Duration::ZERO;
            for _ in 0..cycle {
                let t = driver.session(s).map_err(measure_error)?;
                took += t.total;
                rollbacks.push(t.rollback.as_nanos() as f64 / 1e3);
            }
            rates.push(cycle as f64 / took.as_secs_f64());
            if rates.len() >= plan.min_cycles && start.elapsed() >= plan.budget {
                break;
            }
        }
        let startup = driver.startup;
        driver.quit().map_err(measure_error)?;
        let requests = rates.iter().map(|r| r * f64::from(s)).collect();
        let cycle_batch = cycle as u64;
        let mut run = RunSamples::single(SESSIONS, rates, cycle_batch);
        let mut req = RunSamples::single(REQUESTS, requests, cycle_batch);
        let mut back = RunSamples::single(ROLLBACK, rollbacks, 1);
        run.series.append(&mut req.series);
        run.series.append(&mut back.series);
        run.counters.insert(
            "startup_us".into(),
            Counter::Value(startup.as_nanos() as f64 / 1e3),
        );
        Ok(run)
    }
}

fn measure_error(e: RollbackError) -> MeasureError {
    match e {
        RollbackError::Unavailable(why) => MeasureError::Unavailable(why),
        RollbackError::Lwc(e) => MeasureError::Lwc(e),
        e => MeasureError::Failed(e.to_string()),
    }
}

/// The points of one setting, for the strategies wanted.
fn points(setting: Setting, backends: &[String]) -> Vec<RollbackPoint> {
    let shapes = SWEEPS.get(setting).shapes();
    Strategy::ALL
        .into_iter()
        .filter(|s| backend_info(*s).wanted(backends))
        .flat_map(|strategy| {
            shapes
                .iter()
                .map(move |&shape| RollbackPoint { strategy, shape })
        })
        .collect()
}

fn backend_info(s: Strategy) -> BackendInfo {
    BackendInfo {
        name: s.name(),
        about: s.about(),
        default: true,
    }
}

impl Experiment for Rollback {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "sessions/s and rollback latency of a handler with a costly start-up state, rolled back \
         per session: reinit, fork, lwC snapshot, pool, in place, none"
    }

    fn backends(&self) -> Vec<BackendInfo> {
        Strategy::ALL.into_iter().map(backend_info).collect()
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        let runs = SWEEPS.get(setting).runs;
        points(setting, backends)
            .iter()
            .map(|p| p.spec(runs))
            .collect()
    }

    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError> {
        RollbackPoint::parse(point)?.measure(&SWEEPS.get(setting).sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_round_trip_and_cover_the_axes() {
        // Guards against a spec that parses into another point than the one planned, and a
        // sweep that loses an axis.
        for s in Setting::ALL {
            let plan = Rollback.plan(s, &[]);
            assert_eq!(plan.len(), 6 * SWEEPS.get(s).shapes().len());
            for spec in &plan {
                let p = RollbackPoint::parse(spec).expect("parse");
                assert_eq!(p.spec(spec.runs), *spec);
                assert!(spec.runs >= 3);
            }
            for (i, a) in plan.iter().enumerate() {
                assert!(plan[i + 1..].iter().all(|b| a.id != b.id));
            }
        }
        let full = SWEEPS.full.shapes();
        assert_eq!(full.len(), 5 + 2 + 4);
        assert!(full.iter().any(|s| s.state_bytes == 1 << 30));
        assert!(full.iter().any(|s| s.pages_per_request == 64));
        let quick: Vec<u32> = SWEEPS
            .quick
            .shapes()
            .iter()
            .map(|s| s.requests_per_session)
            .collect();
        assert_eq!(quick, [1, 16, 256]);
        let only = Rollback.plan(Setting::Quick, &["lwc-pool".into()]);
        assert!(!only.is_empty() && only.iter().all(|p| p.id.backend == "lwc-pool"));
    }

    #[test]
    fn bad_points_are_refused() {
        let mut p = Rollback.plan(Setting::Smoke, &[])[0].clone();
        p.id.params
            .insert("requests_per_session".into(), Param::Int(0));
        assert!(matches!(
            RollbackPoint::parse(&p),
            Err(MeasureError::BadPoint(_))
        ));
        p.id.backend = "lwc".into();
        assert!(matches!(
            RollbackPoint::parse(&p),
            Err(MeasureError::BadPoint(_))
        ));
    }
}

//! `selftest`: a hidden experiment that exercises the harness itself.
//!
//! Its backends behave in fixed ways so that tests can check the whole pipeline (plan → worker
//! → summary → JSON) on any machine, and check that failures are recorded, not dropped:
//!
//! | backend            | what a run does                                 |
//! |--------------------|-------------------------------------------------|
//! | `mock-ok`          | returns 100 samples, 100..=199 ns               |
//! | `mock-error`       | fails with a measurement error                  |
//! | `mock-unavailable` | reports [`MeasureError::Unavailable`]: the point is not measurable here |
//! | `mock-crash`       | aborts the worker (SIGABRT)                     |
//! | `mock-hang`        | never returns (the harness must kill it)        |
//! | `mock-orphan`      | starts `sleep 600`, then never returns: the harness must kill the child too |
//!
//! `mock-orphan` writes its child's pid to the file named by `LWCBENCH_SELFTEST_PIDFILE`, when
//! set, so a test can check that the child is gone after the run.
//!
//! It is not part of the default suite and not listed by `lwcbench list`.

use model::{Counter, MetricSpec, PerSetting, PointId, Unit};
use std::collections::BTreeMap;
use workloads::{BackendInfo, Experiment, MeasureError, Param, PointSpec, RunSamples, Setting};

/// The self-test experiment.
pub struct SelfTest;

/// Its id.
pub const ID: &str = "selftest";

/// What a backend does.
#[derive(Clone, Copy)]
enum Behaviour {
    Ok,
    Error,
    Unavailable,
    Crash,
    Hang,
    Orphan,
}

const fn mock(
    name: &'static str,
    about: &'static str,
    does: Behaviour,
) -> (BackendInfo, Behaviour) {
    (
        BackendInfo {
            name,
            about,
            default: true,
        },
        does,
    )
}

/// The backends, in plan order.
const BACKENDS: [(BackendInfo, Behaviour); 6] = [
    mock("mock-ok", "100 deterministic samples", Behaviour::Ok),
    mock("mock-error", "a measurement error", Behaviour::Error),
    mock(
        "mock-unavailable",
        "not measurable here",
        Behaviour::Unavailable,
    ),
    mock("mock-crash", "aborts the worker", Behaviour::Crash),
    mock("mock-hang", "never returns", Behaviour::Hang),
    mock(
        "mock-orphan",
        "never returns, with a child",
        Behaviour::Orphan,
    ),
];

/// Runs per point.
const RUNS: PerSetting<u32> = PerSetting {
    smoke: 3,
    quick: 3,
    full: 5,
};

/// Environment variable naming the file `mock-orphan` writes its child's pid to.
pub const PIDFILE_ENV: &str = "LWCBENCH_SELFTEST_PIDFILE";

impl Experiment for SelfTest {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "harness self-test: deterministic samples, an error, an unavailable point, a crash, a hang, a hang with a child"
    }

    fn backends(&self) -> Vec<BackendInfo> {
        BACKENDS.iter().map(|(info, _)| *info).collect()
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        BACKENDS
            .iter()
            .filter(|(info, _)| info.wanted(backends))
            .map(|(info, _)| PointSpec {
                id: PointId {
                    experiment: ID.to_owned(),
                    backend: info.name.to_owned(),
                    params: BTreeMap::from([("size".to_owned(), Param::Int(1))]),
                },
                metrics: vec![MetricSpec::new(ID, Unit::Ns, "mock operation")],
                runs: *RUNS.get(setting),
            })
            .collect()
    }

    fn measure(&self, point: &PointSpec, _setting: Setting) -> Result<RunSamples, MeasureError> {
        let Some((_, does)) = BACKENDS.iter().find(|(i, _)| i.name == point.id.backend) else {
            return Err(MeasureError::BadPoint(format!(
                "unknown backend {}",
                point.id.backend
            )));
        };
        match does {
            Behaviour::Ok => {
                let mut run =
                    RunSamples::single(ID, (0..100).map(|i| 100.0 + f64::from(i)).collect(), 1);
                run.counters = BTreeMap::from([("mock_events".to_owned(), Counter::Value(7.0))]);
                Ok(run)
            }
            Behaviour::Error => Err(MeasureError::Failed("mock-error always fails".to_owned())),
            Behaviour::Unavailable => Err(MeasureError::Unavailable(
                "mock-unavailable needs a machine nobody has".to_owned(),
            )),
            Behaviour::Crash => std::process::abort(),
            Behaviour::Hang => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            Behaviour::Orphan => {
                let child = std::process::Command::new("sleep")
                    .arg("600")
                    .spawn()
                    .map_err(|source| MeasureError::Os {
                        op: "starting sleep",
                        source,
                    })?;
                if let Ok(path) = std::env::var(PIDFILE_ENV) {
                    std::fs::write(path, child.id().to_string()).map_err(|source| {
                        MeasureError::Os {
                            op: "writing the pid file",
                            source,
                        }
                    })?;
                }
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
        }
    }
}

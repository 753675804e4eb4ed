//! `selftest`: a hidden experiment that exercises the harness itself.
//!
//! Its backends behave in fixed ways so that tests can check the whole pipeline (plan → worker
//! → summary → JSON) on any machine, and check that failures are recorded, not dropped:
//!
//! | backend      | what a run does                                 |
//! |--------------|-------------------------------------------------|
//! | `mock-ok`    | returns 100 samples, 100..=199 ns               |
//! | `mock-error` | fails with [`MeasureError::Unavailable`]        |
//! | `mock-crash` | aborts the worker (SIGABRT)                     |
//! | `mock-hang`  | never returns (the harness must kill it)        |
//! | `mock-orphan`| starts `sleep 600`, then never returns: the harness must kill the child too |
//!
//! `mock-orphan` writes its child's pid to the file named by `LWCBENCH_SELFTEST_PIDFILE`, when
//! set, so a test can check that the child is gone after the run.
//!
//! It is not part of the default suite and not listed by `lwcbench list`.

use std::collections::BTreeMap;
use workloads::{Experiment, MeasureError, Param, PointSpec, RunSamples, Setting};

/// The self-test experiment.
pub struct SelfTest;

/// Its id.
pub const ID: &str = "selftest";

const BACKENDS: [&str; 5] = [
    "mock-ok",
    "mock-error",
    "mock-crash",
    "mock-hang",
    "mock-orphan",
];

/// Environment variable naming the file `mock-orphan` writes its child's pid to.
pub const PIDFILE_ENV: &str = "LWCBENCH_SELFTEST_PIDFILE";

impl Experiment for SelfTest {
    fn id(&self) -> &'static str {
        ID
    }

    fn describe(&self) -> &'static str {
        "harness self-test: deterministic samples, an error, a crash, a hang, a hang with a child"
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        BACKENDS
            .iter()
            .filter(|b| backends.is_empty() || backends.iter().any(|x| x == *b))
            .map(|b| PointSpec {
                experiment: ID.to_owned(),
                backend: (*b).to_owned(),
                params: BTreeMap::from([("size".to_owned(), Param::Int(1))]),
                unit: "ns".to_owned(),
                metric: "mock operation".to_owned(),
                runs: match setting {
                    Setting::Smoke | Setting::Quick => 3,
                    Setting::Full => 5,
                },
            })
            .collect()
    }

    fn measure(&self, point: &PointSpec, _setting: Setting) -> Result<RunSamples, MeasureError> {
        match point.backend.as_str() {
            "mock-ok" => Ok(RunSamples {
                samples: (0..100).map(|i| 100.0 + f64::from(i)).collect(),
                batch: 1,
                counters: BTreeMap::from([("mock_events".to_owned(), 7.0)]),
            }),
            "mock-error" => Err(MeasureError::Unavailable(
                "mock-error always fails".to_owned(),
            )),
            "mock-crash" => std::process::abort(),
            "mock-hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            "mock-orphan" => {
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
            other => Err(MeasureError::BadPoint(format!("unknown backend {other}"))),
        }
    }
}

//! The experiments of DESIGN.md §4 implemented so far: `switch` and `create`.

use std::collections::BTreeMap;

use crate::experiment::{Experiment, MeasureError, Param, PointSpec};

pub mod create;
pub mod switch;

pub use create::Create;
pub use switch::Switch;

/// Every experiment, in the order the suite runs them.
pub fn all() -> Vec<&'static dyn Experiment> {
    vec![&Switch, &Create]
}

/// The experiment with this id.
pub fn by_id(id: &str) -> Option<&'static dyn Experiment> {
    all().into_iter().find(|e| e.id() == id)
}

/// Whether `backend` belongs in a plan restricted to `wanted` (empty = every default backend;
/// `mock` only when asked for by name).
pub(crate) fn wanted(backend: &str, wanted: &[String]) -> bool {
    if wanted.is_empty() {
        backend != "mock"
    } else {
        wanted.iter().any(|w| w == backend)
    }
}

/// A whole-number parameter of `point`.
pub(crate) fn int_param(point: &PointSpec, name: &str) -> Result<i64, MeasureError> {
    match point.params.get(name) {
        Some(Param::Int(v)) => Ok(*v),
        Some(other) => Err(MeasureError::BadPoint(format!(
            "parameter {name} should be a number, is {other:?}"
        ))),
        None => Err(MeasureError::BadPoint(format!(
            "parameter {name} is missing"
        ))),
    }
}

/// A text parameter of `point`.
pub(crate) fn text_param<'a>(point: &'a PointSpec, name: &str) -> Result<&'a str, MeasureError> {
    match point.params.get(name) {
        Some(Param::Text(v)) => Ok(v),
        Some(other) => Err(MeasureError::BadPoint(format!(
            "parameter {name} should be text, is {other:?}"
        ))),
        None => Err(MeasureError::BadPoint(format!(
            "parameter {name} is missing"
        ))),
    }
}

/// Builds a point.
pub(crate) fn point(
    experiment: &str,
    backend: &str,
    params: impl IntoIterator<Item = (&'static str, Param)>,
    unit: &str,
    metric: &str,
    runs: u32,
) -> PointSpec {
    PointSpec {
        experiment: experiment.into(),
        backend: backend.into(),
        params: params
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<BTreeMap<_, _>>(),
        unit: unit.into(),
        metric: metric.into(),
        runs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{RunSamples, Setting};

    const SETTINGS: [Setting; 3] = [Setting::Smoke, Setting::Quick, Setting::Full];

    #[test]
    fn ids_are_unique_and_found() {
        let ids: Vec<_> = all().iter().map(|e| e.id()).collect();
        assert_eq!(ids, ["switch", "create"]);
        for id in ids {
            assert_eq!(by_id(id).map(|e| e.id()), Some(id));
        }
        assert!(by_id("nope").is_none());
    }

    #[test]
    fn mock_only_when_asked_for() {
        for e in all() {
            for s in SETTINGS {
                assert!(e.plan(s, &[]).iter().all(|p| p.backend != "mock"));
                let mock = e.plan(s, &["mock".to_string()]);
                assert!(!mock.is_empty() && mock.iter().all(|p| p.backend == "mock"));
            }
        }
    }

    #[test]
    fn plans_are_well_formed() {
        for e in all() {
            for s in SETTINGS {
                let plan = e.plan(s, &[]);
                assert!(!plan.is_empty());
                for p in &plan {
                    assert_eq!(p.experiment, e.id());
                    assert!(p.runs >= 3);
                    if s == Setting::Full {
                        assert!(p.runs >= 5);
                    }
                    assert!(!p.unit.is_empty() && !p.metric.is_empty());
                }
                // No duplicate points.
                for (i, a) in plan.iter().enumerate() {
                    assert!(plan[i + 1..]
                        .iter()
                        .all(|b| (&a.backend, &a.params) != (&b.backend, &b.params)));
                }
            }
        }
    }

    #[test]
    fn switch_plan_covers_the_backends() {
        let plan = Switch.plan(Setting::Quick, &[]);
        let has = |b: &str, cores: &str| {
            plan.iter().any(|p| {
                p.backend == b && p.params.get("cores") == Some(&Param::Text(cores.into()))
            })
        };
        for b in [
            "lwc",
            "process-pipe",
            "process-futex",
            "thread-futex",
            "thread-condvar",
        ] {
            assert!(has(b, "same-core") && has(b, "two-cores"), "{b}");
        }
        assert!(has("coroutine", "same-core") && !has("coroutine", "two-cores"));
        for b in ["lwc-spin", "process-spin"] {
            assert!(has(b, "two-cores") && !has(b, "same-core"), "{b}");
        }
    }

    #[test]
    fn create_plan_sweeps() {
        let plan = Create.plan(Setting::Full, &["fork".to_string()]);
        assert!(plan.iter().any(
            |p| p.params.get("resident_bytes") == Some(&Param::Int(1 << 30))
                && p.params.get("pages_written") == Some(&Param::Int(4096))
        ));
        let spawn = Create.plan(Setting::Quick, &["spawn".to_string()]);
        assert!(spawn
            .iter()
            .all(|p| p.params.get("pages_written") == Some(&Param::Int(0))));
    }

    #[test]
    fn bad_points_are_errors() {
        let mut p = Switch.plan(Setting::Smoke, &["mock".to_string()])[0].clone();
        p.params.clear();
        assert!(matches!(
            Switch.measure(&p, Setting::Smoke),
            Err(MeasureError::BadPoint(_))
        ));
        p.backend = "nope".into();
        assert!(matches!(
            Switch.measure(&p, Setting::Smoke),
            Err(MeasureError::BadPoint(_))
        ));
    }

    #[test]
    fn json_round_trips() {
        for e in all() {
            for p in e.plan(Setting::Quick, &[]) {
                let json = serde_json::to_string(&p).expect("serialize");
                let back: PointSpec = serde_json::from_str(&json).expect("deserialize");
                assert_eq!(p, back);
            }
        }
        let r = RunSamples {
            samples: vec![0.1, 1.0 / 3.0, 123_456.789],
            batch: 16,
            counters: [("page_faults_per_op".to_string(), 0.25)].into(),
        };
        let back: RunSamples =
            serde_json::from_str(&serde_json::to_string(&r).expect("serialize")).expect("de");
        assert_eq!(r, back);
    }
}

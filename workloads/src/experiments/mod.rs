//! The experiments of DESIGN.md §4 implemented so far: `switch`, `create`, `tlb` and `scale`.
//!
//! Each experiment declares its backends as a table (name, description, implementation), its
//! sweeps as a [`crate::experiment::PerSetting`] table, and a typed point that a
//! [`PointSpec`] is parsed into once. Experiments still to come each get a module here:
//! `tlb` and `scale` on the context layer ([`crate::context`]), `rollback`, `web`, `crypto` and
//! `monitor` driving the programs of the `apps` crate.

use crate::experiment::{Experiment, MeasureError, Param, Params};

pub mod create;
pub mod scale;
pub mod switch;
pub mod tlb;

pub use create::Create;
pub use scale::Scale;
pub use switch::Switch;
pub use tlb::Tlb;

/// Every experiment, in the order the suite runs them.
pub fn all() -> Vec<&'static dyn Experiment> {
    vec![&Switch, &Create, &Tlb, &Scale]
}

/// The experiment with this id.
pub fn by_id(id: &str) -> Option<&'static dyn Experiment> {
    all().into_iter().find(|e| e.id() == id)
}

/// The error for a point whose backend the experiment does not offer.
pub fn unknown_backend(name: &str) -> MeasureError {
    MeasureError::BadPoint(format!("unknown backend {name}"))
}

/// A whole-number parameter.
pub fn int_param(params: &Params, name: &str) -> Result<i64, MeasureError> {
    match params.get(name) {
        Some(Param::Int(v)) => Ok(*v),
        Some(other) => Err(MeasureError::BadPoint(format!(
            "parameter {name} should be a number, is {other:?}"
        ))),
        None => Err(MeasureError::BadPoint(format!(
            "parameter {name} is missing"
        ))),
    }
}

/// A text parameter.
pub(crate) fn text_param<'a>(params: &'a Params, name: &str) -> Result<&'a str, MeasureError> {
    match params.get(name) {
        Some(Param::Text(v)) => Ok(v),
        Some(other) => Err(MeasureError::BadPoint(format!(
            "parameter {name} should be text, is {other:?}"
        ))),
        None => Err(MeasureError::BadPoint(format!(
            "parameter {name} is missing"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{PointSpec, Setting};
    use create::CreatePoint;
    use switch::SwitchPoint;

    #[test]
    fn ids_are_unique_and_found() {
        let ids: Vec<_> = all().iter().map(|e| e.id()).collect();
        assert_eq!(ids, ["switch", "create", "tlb", "scale"]);
        for id in ids {
            assert_eq!(by_id(id).map(|e| e.id()), Some(id));
        }
        assert!(by_id("nope").is_none());
    }

    #[test]
    fn declared_backends_are_unique_and_planned() {
        // Guards against a backend that `list` shows but the plan never measures (or the reverse).
        for e in all() {
            let declared = e.backends();
            for (i, b) in declared.iter().enumerate() {
                assert!(
                    declared[i + 1..].iter().all(|c| c.name != b.name),
                    "{}",
                    b.name
                );
                let plan = e.plan(Setting::Quick, &[b.name.to_owned()]);
                assert!(!plan.is_empty(), "{} {}", e.id(), b.name);
                assert!(plan.iter().all(|p| p.id.backend == b.name));
            }
            let default: Vec<_> = declared
                .iter()
                .filter(|b| b.default)
                .map(|b| b.name)
                .collect();
            let planned: std::collections::BTreeSet<_> = e
                .plan(Setting::Quick, &[])
                .into_iter()
                .map(|p| p.id.backend)
                .collect();
            assert_eq!(planned.len(), default.len(), "{}", e.id());
            assert!(default.iter().all(|b| planned.contains(*b)));
        }
    }

    #[test]
    fn mock_only_when_asked_for() {
        for e in all() {
            for s in Setting::ALL {
                assert!(e.plan(s, &[]).iter().all(|p| p.id.backend != "mock"));
                let mock = e.plan(s, &["mock".to_string()]);
                assert!(!mock.is_empty() && mock.iter().all(|p| p.id.backend == "mock"));
            }
        }
    }

    #[test]
    fn plans_are_well_formed() {
        for e in all() {
            for s in Setting::ALL {
                let plan = e.plan(s, &[]);
                assert!(!plan.is_empty());
                for p in &plan {
                    assert_eq!(p.id.experiment, e.id());
                    assert!(p.runs >= 3);
                    if s == Setting::Full {
                        assert!(p.runs >= 5);
                    }
                    assert!(!p.metrics.is_empty());
                    assert!(p
                        .metrics
                        .iter()
                        .all(|m| !m.name.is_empty() && !m.what.is_empty()));
                }
                // No duplicate points.
                for (i, a) in plan.iter().enumerate() {
                    assert!(plan[i + 1..].iter().all(|b| a.id != b.id));
                }
            }
        }
    }

    #[test]
    fn typed_points_round_trip_through_their_specs() {
        // Guards against a spec that parses into another point than the one planned.
        for s in Setting::ALL {
            for spec in switch::Switch.plan(s, &["mock".into(), "lwc".into()]) {
                let p = SwitchPoint::parse(&spec).expect("parse");
                assert_eq!(p.spec(spec.runs), spec);
            }
            for spec in create::Create.plan(s, &[]) {
                let p = CreatePoint::parse(&spec).expect("parse");
                assert_eq!(p.spec(spec.runs), spec);
            }
            for spec in Tlb.plan(s, &["mock".into(), "lwc".into()]) {
                let p = tlb::TlbPoint::parse(&spec).expect("parse");
                assert_eq!(p.spec(spec.runs), spec);
            }
            for spec in Scale.plan(s, &["mock".into(), "lwc".into()]) {
                let p = scale::ScalePoint::parse(&spec).expect("parse");
                assert_eq!(p.spec(spec.runs), spec);
            }
        }
    }

    #[test]
    fn switch_plan_covers_the_backends() {
        let plan = Switch.plan(Setting::Quick, &[]);
        let has = |b: &str, cores: &str| {
            plan.iter().any(|p| {
                p.id.backend == b && p.id.params.get("cores") == Some(&Param::Text(cores.into()))
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
        for spin in ["lwc-spin", "process-spin"] {
            assert!(has(spin, "two-cores") && !has(spin, "same-core"), "{spin}");
        }
    }

    #[test]
    fn create_plan_sweeps() {
        let plan = Create.plan(Setting::Full, &["fork".to_string()]);
        assert!(plan.iter().any(|p| p.id.params.get("resident_bytes")
            == Some(&Param::Int(1 << 30))
            && p.id.params.get("pages_written") == Some(&Param::Int(4096))));
        let spawn = Create.plan(Setting::Quick, &["spawn".to_string()]);
        assert!(spawn
            .iter()
            .all(|p| p.id.params.get("pages_written") == Some(&Param::Int(0))));
    }

    #[test]
    fn bad_points_are_errors() {
        let mut p = Switch.plan(Setting::Smoke, &["mock".to_string()])[0].clone();
        p.id.params.clear();
        assert!(matches!(
            Switch.measure(&p, Setting::Smoke),
            Err(MeasureError::BadPoint(_))
        ));
        p.id.backend = "nope".into();
        assert!(matches!(
            Switch.measure(&p, Setting::Smoke),
            Err(MeasureError::BadPoint(_))
        ));
        // A backend asked for at a placement it is not measured with is unavailable, not bad.
        let mut spin = Switch.plan(Setting::Smoke, &["lwc-spin".to_string()])[0].clone();
        spin.id
            .params
            .insert("cores".into(), Param::Text("same-core".into()));
        assert!(matches!(
            Switch.measure(&spin, Setting::Smoke),
            Err(MeasureError::Unavailable(_))
        ));
        let mut spawn = Create.plan(Setting::Smoke, &["spawn".to_string()])[0].clone();
        spawn
            .id
            .params
            .insert("pages_written".into(), Param::Int(1));
        assert!(matches!(
            CreatePoint::parse(&spawn),
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
    }
}

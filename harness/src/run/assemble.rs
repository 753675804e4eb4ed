//! Assembling: the runs of a point become a result point (a summary per metric, the median
//! counters, a status), and the points an experiment result.

use super::schedule::Runs;
use model::unit::human;
use model::{median_counters, stats, MetricResult, Values};
use report::{ExperimentResult, ExperimentStatus, Point, PointStatus};
use workloads::{Experiment, PointSpec};

/// An experiment whose planning failed.
pub fn failed_experiment(exp: &dyn Experiment, error: String) -> ExperimentResult {
    ExperimentResult {
        id: exp.id().to_owned(),
        description: exp.describe().to_owned(),
        status: ExperimentStatus::Failed,
        error: Some(error),
        points: Vec::new(),
    }
}

/// An experiment's result from its points: failed when every point failed.
pub fn experiment(exp: &dyn Experiment, points: Vec<Point>) -> ExperimentResult {
    let all_failed = !points.is_empty() && points.iter().all(|p| p.status == PointStatus::Failed);
    ExperimentResult {
        id: exp.id().to_owned(),
        description: exp.describe().to_owned(),
        status: if all_failed {
            ExperimentStatus::Failed
        } else {
            ExperimentStatus::Ok
        },
        error: all_failed.then(|| format!("all {} points failed", points.len())),
        points,
    }
}

/// Summarises the runs of one point.
pub fn point(spec: &PointSpec, runs: Runs) -> Point {
    let Runs {
        samples,
        mut errors,
        unavailable,
        elapsed_s,
        ..
    } = runs;
    let unmeasured = |status, errors| {
        Point::unmeasured(
            spec.id.clone(),
            &spec.metrics,
            status,
            spec.runs,
            errors,
            elapsed_s,
        )
    };
    if samples.is_empty() && errors.is_empty() {
        if let Some(why) = unavailable {
            return unmeasured(PointStatus::Unavailable, vec![why]);
        }
    }
    errors.extend(unavailable.map(|why| format!("unavailable: {why}")));
    if samples.is_empty() {
        return unmeasured(PointStatus::Failed, errors);
    }
    let mut metrics = Vec::with_capacity(spec.metrics.len());
    for m in &spec.metrics {
        let values: Vec<&Values> = samples
            .iter()
            .filter_map(|r| r.series(&m.name))
            .map(|s| &s.values)
            .collect();
        let summary = match stats::summarize(&values) {
            Ok(s) => Some(s),
            Err(e) => {
                errors.push(format!(
                    "summarising {} of {} runs: {e}",
                    m.name,
                    samples.len()
                ));
                None
            }
        };
        metrics.push(MetricResult {
            spec: m.clone(),
            summary,
        });
    }
    // The headline has no statistics: nothing was measured.
    if metrics.first().is_none_or(|m| m.summary.is_none()) {
        return unmeasured(PointStatus::Failed, errors);
    }
    Point {
        id: spec.id.clone(),
        status: if errors.is_empty() {
            PointStatus::Ok
        } else {
            PointStatus::Partial
        },
        error: errors.first().cloned(),
        run_errors: errors,
        runs_planned: spec.runs,
        metrics,
        counters: median_counters(&samples),
        elapsed_s,
    }
}

/// The progress line of a point: its headline median, or why it has none.
pub fn point_line(p: &Point) -> String {
    let label = p.id.label();
    let reason = || p.error.as_deref().unwrap_or("no reason recorded");
    match (
        p.status,
        p.headline()
            .and_then(|m| m.summary.as_ref().map(|s| (m, s))),
    ) {
        (PointStatus::Unavailable, _) => format!("{label}: unavailable: {}", reason()),
        (PointStatus::Failed, _) | (_, None) => format!("{label}: FAILED: {}", reason()),
        (status, Some((m, s))) => format!(
            "{label}: p50 {} ({}/{} runs{})",
            human(s.p50, &m.spec.unit),
            s.runs,
            p.runs_planned,
            if status == PointStatus::Partial {
                ", some failed"
            } else {
                ""
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{MetricSpec, PointId, RunSamples, Unit};

    fn spec() -> PointSpec {
        PointSpec {
            id: PointId {
                experiment: "x".into(),
                backend: "b".into(),
                params: Default::default(),
            },
            metrics: vec![MetricSpec::new("x", Unit::Ns, "op")],
            runs: 3,
        }
    }

    fn samples(v: f64) -> RunSamples {
        RunSamples::single("x", vec![v, v + 1.0, v + 2.0], 1)
    }

    /// Guards against a point with failed runs reported `Ok`, and a failed one reported
    /// measured.
    #[test]
    fn a_point_is_ok_partial_or_failed_by_its_runs() {
        let spec = |runs: u32| PointSpec { runs, ..spec() };
        let runs = |ok: usize, errors: &[&str]| Runs {
            samples: (0..ok).map(|i| samples(10.0 * i as f64 + 1.0)).collect(),
            errors: errors.iter().map(|e| (*e).to_owned()).collect(),
            ..Runs::default()
        };
        let ok = point(&spec(3), runs(3, &[]));
        assert_eq!(ok.status, PointStatus::Ok);
        assert_eq!((ok.runs(), ok.runs_planned), (3, 3));
        assert!(ok.error.is_none() && ok.run_errors.is_empty());

        let partial = point(&spec(3), runs(2, &["run 2: worker killed"]));
        assert_eq!(partial.status, PointStatus::Partial);
        assert_eq!((partial.runs(), partial.runs_planned), (2, 3));
        assert_eq!(partial.error.as_deref(), Some("run 2: worker killed"));
        assert_eq!(partial.run_errors, ["run 2: worker killed"]);
        assert!(partial.p50().is_some());
        assert_eq!(
            point_line(&partial),
            format!(
                "x b -: p50 {} (2/3 runs, some failed)",
                human(partial.p50().unwrap_or(0.0), &Unit::Ns)
            )
        );

        let failed = point(&spec(2), runs(0, &["run 1: a", "run 2: b"]));
        assert_eq!(failed.status, PointStatus::Failed);
        assert!(failed.p50().is_none());
        assert_eq!(failed.error.as_deref(), Some("run 1: a"));
        assert_eq!(failed.run_errors.len(), 2);
        assert_eq!(point_line(&failed), "x b -: FAILED: run 1: a");
    }

    #[test]
    fn statuses_follow_the_runs() {
        // Guards against a point reported ok with failed runs (it is partial), a point with no
        // run measured reported as anything but failed or unavailable, and an unavailable point
        // counted as a failure.
        let run = || RunSamples::single("x", vec![1.0, 2.0], 1);
        let ok = point(
            &spec(),
            Runs {
                samples: vec![run(), run(), run()],
                ..Runs::default()
            },
        );
        assert_eq!(ok.status, PointStatus::Ok);
        assert_eq!(ok.summary().map(|s| s.runs), Some(3));
        let partial = point(
            &spec(),
            Runs {
                samples: vec![run(), run()],
                errors: vec!["run 3: boom".into()],
                ..Runs::default()
            },
        );
        assert_eq!(partial.status, PointStatus::Partial);
        assert_eq!(partial.error.as_deref(), Some("run 3: boom"));
        let failed = point(
            &spec(),
            Runs {
                errors: vec!["run 1: boom".into()],
                ..Runs::default()
            },
        );
        assert_eq!(failed.status, PointStatus::Failed);
        assert!(failed.summary().is_none());
        let unavailable = point(
            &spec(),
            Runs {
                unavailable: Some("needs two CPUs".into()),
                ..Runs::default()
            },
        );
        assert_eq!(unavailable.status, PointStatus::Unavailable);
        assert_eq!(unavailable.error.as_deref(), Some("needs two CPUs"));
        assert_eq!(
            point_line(&unavailable),
            "x b -: unavailable: needs two CPUs"
        );
        // A run that sent no series for the headline metric measured nothing.
        let wrong = point(
            &spec(),
            Runs {
                samples: vec![RunSamples::single("other", vec![1.0], 1)],
                ..Runs::default()
            },
        );
        assert_eq!(wrong.status, PointStatus::Failed);
    }
}

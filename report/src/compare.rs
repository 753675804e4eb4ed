//! Baseline versus current: per point the change of the median and a verdict.
//!
//! Points are matched by experiment, backend and parameters. Runs are the replicates: each point
//! carries the median of each of its runs (`run_medians`), and the two sets of run medians are
//! compared with a two-sided Mann–Whitney U test (exact distribution for small samples, normal
//! approximation for large ones). A change counts only when it is larger than the threshold
//! *and* the test rejects "same distribution" at level `alpha`; anything else is noise. With 5
//! runs on each side the smallest possible p-value is 0.0079, reached only when every run of one
//! side is slower than every run of the other; with 3 runs on each side it is 0.1, so a smoke run
//! can never be judged at the default `alpha` of 0.01.
//!
//! Every metric of a point is compared on its own. Which direction is better is the metric's
//! [`Unit`]'s to say ([`Unit::better`]): lower for times and bytes, higher for rates; for a unit
//! without a known direction a change is reported but never judged.

use crate::document::{Point, ResultDocument};
use model::stats::mann_whitney_p;
use model::unit::human;
use model::{Better, MetricResult, PointId, Unit};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The verdict on one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse by more than the threshold, and significant.
    Regressed,
    /// Better by more than the threshold, and significant.
    Improved,
    /// Within the threshold, or not significant.
    Noise,
    /// The unit has no known direction (neither a time nor a rate).
    Unjudged,
    /// Measured in the baseline, failed now.
    NowFailing,
    /// Failed in the baseline, measured now.
    NowMeasured,
    /// Failed in both.
    FailedInBoth,
    /// In the baseline only.
    Missing,
    /// In the current run only.
    New,
}

impl Verdict {
    /// The verdict as written in tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Noise => "noise",
            Verdict::Unjudged => "unjudged",
            Verdict::NowFailing => "now failing",
            Verdict::NowMeasured => "now measured",
            Verdict::FailedInBoth => "failed in both",
            Verdict::Missing => "missing",
            Verdict::New => "new",
        }
    }

    /// True for the verdicts that fail a regression check.
    pub fn is_regression(self) -> bool {
        matches!(self, Verdict::Regressed | Verdict::NowFailing)
    }
}

/// One compared point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PointChange {
    /// Experiment id.
    pub experiment: String,
    /// Backend.
    pub backend: String,
    /// Parameters, as `name=value` pairs.
    pub params: String,
    /// The metric's name.
    pub metric: String,
    /// True for a point's headline metric (its first).
    pub headline: bool,
    /// Unit of the medians.
    pub unit: Unit,
    /// Baseline median.
    pub base_p50: Option<f64>,
    /// Current median.
    pub current_p50: Option<f64>,
    /// `(current - base) / base`, when both are measured.
    pub change: Option<f64>,
    /// Two-sided Mann–Whitney p-value of the run medians, when both sides have runs.
    pub p_value: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The comparison of two result documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Relative change below which nothing counts (0.05 = 5%).
    pub threshold: f64,
    /// Significance level of the Mann–Whitney test.
    pub alpha: f64,
    /// Differences between the two machines that make the comparison doubtful.
    pub machine_differences: Vec<String>,
    /// Every point of either document.
    pub points: Vec<PointChange>,
}

impl Comparison {
    /// True when the two results come from the same machine fingerprint (CPU, logical CPUs,
    /// kernel, virtualization, governors): only then are their numbers comparable.
    pub fn same_machine(&self) -> bool {
        self.machine_differences.is_empty()
    }

    /// True when some point regressed or now fails.
    pub fn has_regression(&self) -> bool {
        self.points.iter().any(|p| p.verdict.is_regression())
    }

    /// A Markdown report: the machine caveats, then one row per point.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let count = |v: Verdict| self.points.iter().filter(|p| p.verdict == v).count();
        let _ = writeln!(
            out,
            "# lwcbench compare\n\nThreshold {:.1}%, alpha {}: {} regressed, {} improved, {} noise, \
             {} unjudged, {} now failing, {} now measured, {} failed in both, {} missing, {} new.\n",
            self.threshold * 100.0,
            self.alpha,
            count(Verdict::Regressed),
            count(Verdict::Improved),
            count(Verdict::Noise),
            count(Verdict::Unjudged),
            count(Verdict::NowFailing),
            count(Verdict::NowMeasured),
            count(Verdict::FailedInBoth),
            count(Verdict::Missing),
            count(Verdict::New),
        );
        if !self.machine_differences.is_empty() {
            let _ = writeln!(out, "The two results come from different machines:\n");
            for d in &self.machine_differences {
                let _ = writeln!(out, "- {d}");
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "| experiment | backend | params | base p50 | current p50 | change | p | verdict |\n\
             | --- | --- | --- | ---: | ---: | ---: | ---: | --- |"
        );
        for p in &self.points {
            let v = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| human(x, &p.unit));
            let params = if p.headline {
                p.params.clone()
            } else {
                format!("{} [{}]", p.params, p.metric)
            };
            let change = p
                .change
                .map_or_else(|| "-".to_owned(), |c| format!("{:+.1}%", c * 100.0));
            let verdict = if p.verdict.is_regression() {
                format!("**{}**", p.verdict.label())
            } else {
                p.verdict.label().to_owned()
            };
            let p_value = p
                .p_value
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
            let _ = writeln!(
                out,
                "| {} | {} | {params} | {} | {} | {change} | {p_value} | {verdict} |",
                p.experiment,
                p.backend,
                v(p.base_p50),
                v(p.current_p50)
            );
        }
        out
    }
}

/// A point's metric: what is compared.
type Side<'a> = (&'a Point, &'a MetricResult);

/// Points match by id, metrics by name.
type Key<'a> = (&'a PointId, &'a str);

fn sides(doc: &ResultDocument) -> BTreeMap<Key<'_>, Side<'_>> {
    doc.points()
        .flat_map(|p| {
            p.metrics
                .iter()
                .map(move |m| ((&p.id, m.spec.name.as_str()), (p, m)))
        })
        .collect()
}

/// Compares `current` with `base`; `threshold` is a fraction (0.05 = 5%), `alpha` the
/// significance level of the test (0.01).
pub fn compare(
    base: &ResultDocument,
    current: &ResultDocument,
    threshold: f64,
    alpha: f64,
) -> Comparison {
    let base_sides = sides(base);
    let current_sides = sides(current);
    let mut points = Vec::new();
    for (k, b) in &base_sides {
        points.push(judge(*b, current_sides.get(k).copied(), threshold, alpha));
    }
    for (k, c) in &current_sides {
        if !base_sides.contains_key(k) {
            points.push(PointChange {
                verdict: Verdict::New,
                ..change_row(*c, None, Some(*c))
            });
        }
    }
    Comparison {
        threshold,
        alpha,
        machine_differences: machine_differences(base, current),
        points,
    }
}

fn change_row(row: Side<'_>, base: Option<Side<'_>>, current: Option<Side<'_>>) -> PointChange {
    let (p, m) = row;
    let base_p50 = base.and_then(measured_p50);
    let current_p50 = current.and_then(measured_p50);
    let change = match (base_p50, current_p50) {
        (Some(b), Some(c)) if b != 0.0 => Some((c - b) / b),
        _ => None,
    };
    let p_value = match (base.and_then(measured), current.and_then(measured)) {
        (Some(b), Some(c)) => mann_whitney_p(&c.run_medians, &b.run_medians),
        _ => None,
    };
    PointChange {
        experiment: p.id.experiment.clone(),
        backend: p.id.backend.clone(),
        params: p.params_display(),
        metric: m.spec.name.clone(),
        headline: p.headline().is_some_and(|h| h.spec.name == m.spec.name),
        unit: m.spec.unit.clone(),
        base_p50,
        current_p50,
        change,
        p_value,
        verdict: Verdict::Noise,
    }
}

/// The metric's summary, when its point was measured.
fn measured<'a>((p, m): Side<'a>) -> Option<&'a model::Summary> {
    m.summary.as_ref().filter(|_| p.status.measured())
}

fn measured_p50(side: Side<'_>) -> Option<f64> {
    measured(side).map(|s| s.p50)
}

fn judge(base: Side<'_>, current: Option<Side<'_>>, threshold: f64, alpha: f64) -> PointChange {
    let Some(current) = current else {
        return PointChange {
            verdict: Verdict::Missing,
            ..change_row(base, Some(base), None)
        };
    };
    let row = change_row(base, Some(base), Some(current));
    let (unit, current_unit) = (&base.1.spec.unit, &current.1.spec.unit);
    let verdict = match (row.base_p50, row.current_p50) {
        (None, None) => Verdict::FailedInBoth,
        (Some(_), None) => Verdict::NowFailing,
        (None, Some(_)) => Verdict::NowMeasured,
        (Some(_), Some(_)) if unit != current_unit => Verdict::Unjudged,
        (Some(_), Some(_)) => match (row.change, unit.better()) {
            (_, None) | (None, _) => Verdict::Unjudged,
            (Some(change), Some(better)) => {
                let significant = row.p_value.is_some_and(|p| p <= alpha);
                if change.abs() <= threshold || !significant {
                    Verdict::Noise
                } else if (change > 0.0) == (better == Better::Lower) {
                    Verdict::Regressed
                } else {
                    Verdict::Improved
                }
            }
        },
    };
    PointChange { verdict, ..row }
}

fn machine_differences(a: &ResultDocument, b: &ResultDocument) -> Vec<String> {
    let (a, b) = (&a.machine, &b.machine);
    let mut out = Vec::new();
    let mut diff = |what: &str, x: String, y: String| {
        if x != y {
            out.push(format!("{what}: {x} → {y}"));
        }
    };
    let s = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".to_owned());
    diff("CPU", s(&a.cpu_model), s(&b.cpu_model));
    diff(
        "logical CPUs",
        a.logical_cpus.to_string(),
        b.logical_cpus.to_string(),
    );
    diff("kernel", s(&a.kernel_release), s(&b.kernel_release));
    diff(
        "virtual machine",
        format!("{:?}", a.virtualization.virtual_machine),
        format!("{:?}", b.virtualization.virtual_machine),
    );
    diff("governors", a.governors.join(","), b.governors.join(","));
    out
}

#[cfg(test)]
mod tests {
    //! Verdicts, matching, machine differences and the summary (cargo-mutants: every mutant of
    //! the verdict code is caught but one, which is equivalent: `change > 0.0` as `>=` in
    //! `judge` differs only at a change of exactly 0, which never passes the threshold test
    //! before it, the threshold being 0 or more).
    use super::*;
    use crate::document::PointStatus;
    use model::{stats, MetricSpec, Values};

    /// A measured point whose five runs had these medians (p50 = the middle one).
    fn point(medians: [f64; 5]) -> Point {
        point_in(medians, Unit::Ns)
    }

    /// [`point`] in another unit.
    fn point_in(medians: [f64; 5], unit: Unit) -> Point {
        let id = PointId {
            experiment: "switch".into(),
            backend: "a".into(),
            params: Default::default(),
        };
        let spec = MetricSpec::new("switch", unit, "m");
        let mut p = Point::unmeasured(id, &[spec], PointStatus::Ok, 5, vec![], 1.0);
        p.error = None;
        let runs: Vec<Values> = medians.iter().map(|m| Values::Samples(vec![*m])).collect();
        p.metrics[0].summary =
            Some(stats::summarize(&runs.iter().collect::<Vec<_>>()).expect("summary"));
        p
    }

    fn j(base: &Point, current: Option<&Point>) -> PointChange {
        judge(
            (base, &base.metrics[0]),
            current.map(|c| (c, &c.metrics[0])),
            0.05,
            0.01,
        )
    }

    #[test]
    fn verdicts_need_size_and_significance() {
        let base = point([98.0, 99.0, 100.0, 101.0, 102.0]);
        let against = |medians| j(&base, Some(&point(medians)));
        // +20%, every run slower: regressed.
        let v = against([118.0, 119.0, 120.0, 121.0, 122.0]);
        assert_eq!(v.verdict, Verdict::Regressed);
        assert!((v.change.unwrap_or(0.0) - 0.2).abs() < 1e-12);
        // -20%: improved.
        let v = against([78.0, 79.0, 80.0, 81.0, 82.0]);
        assert_eq!(v.verdict, Verdict::Improved);
        // +20% median, but the runs overlap: noise.
        let v = against([90.0, 101.0, 120.0, 150.0, 160.0]);
        assert_eq!(v.verdict, Verdict::Noise);
        // +3%, separated: below threshold, noise.
        let v = against([103.0, 103.0, 103.0, 103.0, 103.0]);
        assert_eq!(v.verdict, Verdict::Noise);
    }

    #[test]
    fn rates_are_better_higher() {
        let rps = Unit::per_second("req");
        let base = point_in([98.0, 99.0, 100.0, 101.0, 102.0], rps.clone());
        let cur = point_in([78.0, 79.0, 80.0, 81.0, 82.0], rps);
        assert_eq!(j(&base, Some(&cur)).verdict, Verdict::Regressed);
    }

    /// A document holding `points`, measured on a machine with these particulars.
    fn doc(points: Vec<Point>) -> ResultDocument {
        let mut machine = crate::Machine::unknown("0.1.0", "2025-01-01T00:00:00Z");
        machine.cpu_model = Some("CPU A".to_owned());
        machine.logical_cpus = 2;
        machine.kernel_release = Some("6.1".to_owned());
        machine.virtualization.virtual_machine = Some(true);
        machine.governors = vec!["performance".to_owned()];
        ResultDocument {
            schema: crate::SCHEMA.to_owned(),
            machine,
            configuration: crate::Configuration {
                setting: "quick".to_owned(),
                experiments: vec!["switch".to_owned()],
                backends: Vec::new(),
                runs: None,
                worker_timeout_s: 60.0,
                command_line: vec!["lwcbench".to_owned()],
                started_at: "2025-01-01T00:00:00Z".to_owned(),
                finished_at: "2025-01-01T00:01:00Z".to_owned(),
            },
            experiments: vec![crate::ExperimentResult {
                id: "switch".to_owned(),
                description: "d".to_owned(),
                status: crate::ExperimentStatus::Ok,
                error: None,
                points,
            }],
        }
    }

    fn on(backend: &str, mut p: Point) -> Point {
        p.id.backend = backend.to_owned();
        p
    }

    const BASE: [f64; 5] = [98.0, 99.0, 100.0, 101.0, 102.0];
    const SLOWER: [f64; 5] = [118.0, 119.0, 120.0, 121.0, 122.0];

    /// Guards against points matched by the wrong key, a point of one side only dropped, and a
    /// verdict given to a point that has nothing to compare with.
    #[test]
    fn points_of_one_side_are_missing_or_new() {
        let base = doc(vec![on("a", point(BASE)), on("b", point(BASE))]);
        let current = doc(vec![on("b", point(SLOWER)), on("c", point(SLOWER))]);
        let cmp = compare(&base, &current, 0.05, 0.01);
        let by = |b: &str| {
            cmp.points
                .iter()
                .find(|p| p.backend == b)
                .unwrap_or_else(|| panic!("no row for {b}"))
        };
        assert_eq!(cmp.points.len(), 3);
        let a = by("a");
        assert_eq!(a.verdict, Verdict::Missing);
        assert_eq!(
            (a.base_p50, a.current_p50, a.change),
            (Some(100.0), None, None)
        );
        assert_eq!(by("b").verdict, Verdict::Regressed);
        let c = by("c");
        assert_eq!(c.verdict, Verdict::New);
        assert_eq!((c.base_p50, c.current_p50), (None, Some(120.0)));
        assert_eq!((c.change, c.p_value), (None, None));
        assert!(cmp.has_regression());
        // Only new and missing points: nothing regressed.
        let cmp = compare(&doc(vec![on("a", point(BASE))]), &current, 0.05, 0.01);
        assert!(cmp.points.iter().all(|p| !p.verdict.is_regression()));
        assert!(!cmp.has_regression());
    }

    /// Guards against judging a unit whose better direction is unknown, or two different units,
    /// or a change from a zero median.
    #[test]
    fn unknown_or_changed_units_are_unjudged() {
        let j = |b: &Point, c: &Point| j(b, Some(c));
        let pages = Unit::parse("pages");
        let base = point_in(BASE, pages.clone());
        let cur = point_in(SLOWER, pages);
        let v = j(&base, &cur);
        assert_eq!(v.verdict, Verdict::Unjudged);
        assert!((v.change.unwrap_or(0.0) - 0.2).abs() < 1e-12, "{v:?}");
        // ns against us: the numbers are not comparable.
        let cur = point_in(SLOWER, Unit::Us);
        assert_eq!(j(&point(BASE), &cur).verdict, Verdict::Unjudged);
        // A zero median has no relative change.
        let mut zero = point(BASE);
        if let Some(s) = zero.metrics[0].summary.as_mut() {
            s.p50 = 0.0;
        }
        let v = j(&zero, &point(SLOWER));
        assert_eq!((v.verdict, v.change), (Verdict::Unjudged, None));
        // Time units are judged, rates too (see the tests above); "s" is a time.
        let base = point_in(BASE, Unit::S);
        let cur = point_in(SLOWER, Unit::S);
        assert_eq!(j(&base, &cur).verdict, Verdict::Regressed);
        assert!(!Verdict::Unjudged.is_regression());
    }

    /// Guards against a machine difference that goes unreported, and a report of differences
    /// between identical machines.
    #[test]
    fn machine_differences_name_each_change() {
        let base = doc(vec![point(BASE)]);
        assert!(compare(&base, &base, 0.05, 0.01)
            .machine_differences
            .is_empty());
        let mut other = base.clone();
        let m = &mut other.machine;
        m.cpu_model = Some("CPU B".to_owned());
        m.logical_cpus = 4;
        m.kernel_release = None;
        m.virtualization.virtual_machine = Some(false);
        m.governors = vec!["powersave".to_owned(), "performance".to_owned()];
        let cmp = compare(&base, &other, 0.05, 0.01);
        assert_eq!(
            cmp.machine_differences,
            [
                "CPU: CPU A → CPU B",
                "logical CPUs: 2 → 4",
                "kernel: 6.1 → unknown",
                "virtual machine: Some(true) → Some(false)",
                "governors: performance → powersave,performance",
            ]
        );
        let md = cmp.to_markdown();
        assert!(
            md.contains("different machines:\n\n- CPU: CPU A → CPU B\n"),
            "{md}"
        );
    }

    /// Guards against a summary line that miscounts or leaves out a verdict: its counts add up
    /// to the rows.
    #[test]
    fn summary_counts_every_verdict() {
        let mut failed = point(BASE);
        failed.status = PointStatus::Failed;
        failed.metrics[0].summary = None;
        let pages = point_in(BASE, Unit::parse("pages"));
        let base = doc(vec![
            on("regressed", point(BASE)),
            on("regressed2", point(BASE)),
            on("improved", point(SLOWER)),
            on("noise", point(BASE)),
            on("unjudged", pages.clone()),
            on("now-failing", point(BASE)),
            on("now-measured", failed.clone()),
            on("failed-both", failed.clone()),
            on("missing", point(BASE)),
        ]);
        let current = doc(vec![
            on("regressed", point(SLOWER)),
            on("regressed2", point(SLOWER)),
            on("improved", point(BASE)),
            on("noise", point(BASE)),
            on("unjudged", pages),
            on("now-failing", failed.clone()),
            on("now-measured", point(BASE)),
            on("failed-both", failed),
            on("new", point(BASE)),
            on("new2", point(BASE)),
            on("new3", point(BASE)),
        ]);
        let cmp = compare(&base, &current, 0.05, 0.01);
        for p in &cmp.points {
            let want = p
                .backend
                .trim_end_matches(char::is_numeric)
                .replace('-', " ");
            let want = if want == "failed both" {
                "failed in both".to_owned()
            } else {
                want
            };
            assert_eq!(p.verdict.label(), want, "{p:?}");
        }
        let md = cmp.to_markdown();
        assert!(
            md.contains(
                "Threshold 5.0%, alpha 0.01: 2 regressed, 1 improved, 1 noise, 1 unjudged, \
                 1 now failing, 1 now measured, 1 failed in both, 1 missing, 3 new.\n"
            ),
            "{md}"
        );
        // One row per point, regressions in bold.
        assert_eq!(md.matches("\n| switch |").count(), 12, "{md}");
        assert_eq!(md.matches("| **regressed** |").count(), 2, "{md}");
        assert_eq!(md.matches("| **now failing** |").count(), 1, "{md}");
        assert!(
            md.contains("| switch | new3 | - | - | 100 ns | - | - | new |"),
            "{md}"
        );
    }

    #[test]
    fn failures_and_missing_points() {
        let base = point([98.0, 99.0, 100.0, 101.0, 102.0]);
        let mut failed = base.clone();
        failed.status = PointStatus::Failed;
        failed.metrics[0].summary = None;
        let v = |b: &Point, c: Option<&Point>| j(b, c).verdict;
        assert_eq!(v(&base, Some(&failed)), Verdict::NowFailing);
        // A failed side has no median to compare: no change and no test.
        for (b, c) in [(&base, &failed), (&failed, &base)] {
            let row = j(b, Some(c));
            assert_eq!((row.change, row.p_value), (None, None), "{row:?}");
        }
        assert_eq!(v(&failed, Some(&base)), Verdict::NowMeasured);
        assert_eq!(v(&failed, Some(&failed)), Verdict::FailedInBoth);
        assert_eq!(v(&base, None), Verdict::Missing);
        assert!(Verdict::NowFailing.is_regression());
        assert!(!Verdict::Missing.is_regression());
    }
}

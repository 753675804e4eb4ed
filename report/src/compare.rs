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
             {} now failing, {} now measured, {} missing, {} new.\n",
            self.threshold * 100.0,
            self.alpha,
            count(Verdict::Regressed),
            count(Verdict::Improved),
            count(Verdict::Noise),
            count(Verdict::NowFailing),
            count(Verdict::NowMeasured),
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
    use super::*;
    use crate::document::PointStatus;
    use model::{stats, MetricSpec, Values};

    /// A measured point whose five runs had these medians (p50 = the middle one).
    fn point(medians: [f64; 5], unit: Unit) -> Point {
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
        let base = point([98.0, 99.0, 100.0, 101.0, 102.0], Unit::Ns);
        let against = |medians| j(&base, Some(&point(medians, Unit::Ns)));
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
        let base = point([98.0, 99.0, 100.0, 101.0, 102.0], rps.clone());
        let cur = point([78.0, 79.0, 80.0, 81.0, 82.0], rps);
        assert_eq!(j(&base, Some(&cur)).verdict, Verdict::Regressed);
    }

    #[test]
    fn failures_and_missing_points() {
        let base = point([98.0, 99.0, 100.0, 101.0, 102.0], Unit::Ns);
        let mut failed = base.clone();
        failed.status = PointStatus::Failed;
        failed.metrics[0].summary = None;
        let v = |b: &Point, c: Option<&Point>| j(b, c).verdict;
        assert_eq!(v(&base, Some(&failed)), Verdict::NowFailing);
        assert_eq!(v(&failed, Some(&base)), Verdict::NowMeasured);
        assert_eq!(v(&failed, Some(&failed)), Verdict::FailedInBoth);
        assert_eq!(v(&base, None), Verdict::Missing);
        assert!(Verdict::NowFailing.is_regression());
        assert!(!Verdict::Missing.is_regression());
    }
}

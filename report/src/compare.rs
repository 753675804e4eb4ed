//! Baseline versus current: per point, the change of the median and a verdict.
//!
//! Points are matched by experiment, backend and parameters. A change counts only when it is
//! larger than the threshold *and* the two points' run medians do not overlap: the current
//! point's 95% interval (or, with too few runs for one, the range of its run medians) lies wholly
//! on one side of the baseline's. Runs are the replicates, so this is a conservative,
//! distribution-free test; anything else is noise.
//!
//! Lower is better for time units (`ns`, `us`, `ms`, `s`), higher is better for rates (a unit
//! ending in `/s`); for any other unit a change is reported but never judged.

use crate::document::{Point, PointStatus, ResultDocument};
use crate::units::{human, ns_per_unit};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The verdict on one point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Worse by more than the threshold, and outside the baseline's spread.
    Regressed,
    /// Better by more than the threshold, and outside the baseline's spread.
    Improved,
    /// Within the threshold or within the spread of the runs.
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
    /// Unit of the medians.
    pub unit: String,
    /// Baseline median.
    pub base_p50: Option<f64>,
    /// Current median.
    pub current_p50: Option<f64>,
    /// `(current - base) / base`, when both are measured.
    pub change: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

/// The comparison of two result documents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Relative change below which nothing counts (0.05 = 5%).
    pub threshold: f64,
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
            "# lwcbench compare\n\nThreshold {:.1}%: {} regressed, {} improved, {} noise, {} now \
             failing, {} now measured, {} missing, {} new.\n",
            self.threshold * 100.0,
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
            "| experiment | backend | params | base p50 | current p50 | change | verdict |\n\
             | --- | --- | --- | ---: | ---: | ---: | --- |"
        );
        for p in &self.points {
            let v = |x: Option<f64>| x.map_or_else(|| "-".to_owned(), |x| human(x, &p.unit));
            let change = p
                .change
                .map_or_else(|| "-".to_owned(), |c| format!("{:+.1}%", c * 100.0));
            let verdict = if p.verdict.is_regression() {
                format!("**{}**", p.verdict.label())
            } else {
                p.verdict.label().to_owned()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {change} | {verdict} |",
                p.experiment,
                p.backend,
                p.params,
                v(p.base_p50),
                v(p.current_p50)
            );
        }
        out
    }
}

type Key = (String, String, String);

fn key(p: &Point) -> Key {
    (p.experiment.clone(), p.backend.clone(), p.params_label())
}

/// Compares `current` with `base`; `threshold` is a fraction (0.05 = 5%).
pub fn compare(base: &ResultDocument, current: &ResultDocument, threshold: f64) -> Comparison {
    let base_points: BTreeMap<Key, &Point> = base.points().map(|p| (key(p), p)).collect();
    let current_points: BTreeMap<Key, &Point> = current.points().map(|p| (key(p), p)).collect();
    let mut points = Vec::new();
    for (k, b) in &base_points {
        let c = current_points.get(k).copied();
        points.push(judge(b, c, threshold));
    }
    for (k, c) in &current_points {
        if !base_points.contains_key(k) {
            points.push(PointChange {
                verdict: Verdict::New,
                ..change_row(c, None, Some(c))
            });
        }
    }
    Comparison {
        threshold,
        machine_differences: machine_differences(base, current),
        points,
    }
}

fn change_row(p: &Point, base: Option<&Point>, current: Option<&Point>) -> PointChange {
    let base_p50 = base.and_then(measured_p50);
    let current_p50 = current.and_then(measured_p50);
    let change = match (base_p50, current_p50) {
        (Some(b), Some(c)) if b != 0.0 => Some((c - b) / b),
        _ => None,
    };
    PointChange {
        experiment: p.experiment.clone(),
        backend: p.backend.clone(),
        params: p.params_display(),
        unit: p.unit.clone(),
        base_p50,
        current_p50,
        change,
        verdict: Verdict::Noise,
    }
}

fn measured_p50(p: &Point) -> Option<f64> {
    if p.status == PointStatus::Failed {
        None
    } else {
        p.p50
    }
}

/// Which way is better for a unit: `Some(true)` lower, `Some(false)` higher, `None` unknown.
fn lower_is_better(unit: &str) -> Option<bool> {
    if ns_per_unit(unit).is_some() {
        Some(true)
    } else if unit.ends_with("/s") {
        Some(false)
    } else {
        None
    }
}

/// The spread of a point's runs: its 95% interval, else the range of its run medians.
fn spread(p: &Point) -> Option<(f64, f64)> {
    if let Some(ci) = p.ci95 {
        return Some((ci.low, ci.high));
    }
    let lo = p.run_medians.iter().copied().reduce(f64::min)?;
    let hi = p.run_medians.iter().copied().reduce(f64::max)?;
    Some((lo, hi))
}

fn judge(base: &Point, current: Option<&Point>, threshold: f64) -> PointChange {
    let Some(current) = current else {
        return PointChange {
            verdict: Verdict::Missing,
            ..change_row(base, Some(base), None)
        };
    };
    let row = change_row(base, Some(base), Some(current));
    let verdict = match (row.base_p50, row.current_p50) {
        (None, None) => Verdict::FailedInBoth,
        (Some(_), None) => Verdict::NowFailing,
        (None, Some(_)) => Verdict::NowMeasured,
        (Some(_), Some(_)) if base.unit != current.unit => Verdict::Unjudged,
        (Some(_), Some(_)) => match (row.change, lower_is_better(&base.unit)) {
            (_, None) | (None, _) => Verdict::Unjudged,
            (Some(change), Some(lower_better)) => {
                let separated = match (spread(base), spread(current)) {
                    (Some((bl, bh)), Some((cl, ch))) => cl > bh || ch < bl,
                    _ => false,
                };
                if change.abs() <= threshold || !separated {
                    Verdict::Noise
                } else if (change > 0.0) == lower_better {
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
    use crate::document::Interval;
    use std::collections::BTreeMap;

    fn point(backend: &str, p50: f64, low: f64, high: f64) -> Point {
        let mut p = Point::failed(
            "switch",
            backend,
            BTreeMap::new(),
            "ns",
            "m",
            5,
            vec![],
            1.0,
        );
        p.status = PointStatus::Ok;
        p.error = None;
        p.runs = 5;
        p.count = 10;
        p.p50 = Some(p50);
        p.ci95 = Some(Interval {
            low,
            high,
            coverage: None,
        });
        p
    }

    #[test]
    fn verdicts_need_size_and_separation() {
        let base = point("a", 100.0, 98.0, 102.0);
        // +20%, intervals apart: regressed.
        let v = judge(&base, Some(&point("a", 120.0, 118.0, 122.0)), 0.05);
        assert_eq!(v.verdict, Verdict::Regressed);
        assert!((v.change.unwrap_or(0.0) - 0.2).abs() < 1e-12);
        // -20%: improved.
        let v = judge(&base, Some(&point("a", 80.0, 79.0, 81.0)), 0.05);
        assert_eq!(v.verdict, Verdict::Improved);
        // +20% but overlapping spread: noise.
        let v = judge(&base, Some(&point("a", 120.0, 90.0, 150.0)), 0.05);
        assert_eq!(v.verdict, Verdict::Noise);
        // +3%, separated: below threshold, noise.
        let v = judge(&base, Some(&point("a", 103.0, 102.5, 103.5)), 0.05);
        assert_eq!(v.verdict, Verdict::Noise);
    }

    #[test]
    fn rates_are_better_higher() {
        let mut base = point("a", 100.0, 98.0, 102.0);
        base.unit = "req/s".to_owned();
        let mut cur = point("a", 80.0, 79.0, 81.0);
        cur.unit = "req/s".to_owned();
        assert_eq!(judge(&base, Some(&cur), 0.05).verdict, Verdict::Regressed);
    }

    #[test]
    fn failures_and_missing_points() {
        let base = point("a", 100.0, 98.0, 102.0);
        let mut failed = base.clone();
        failed.status = PointStatus::Failed;
        failed.p50 = None;
        assert_eq!(
            judge(&base, Some(&failed), 0.05).verdict,
            Verdict::NowFailing
        );
        assert_eq!(
            judge(&failed, Some(&base), 0.05).verdict,
            Verdict::NowMeasured
        );
        assert_eq!(
            judge(&failed, Some(&failed), 0.05).verdict,
            Verdict::FailedInBoth
        );
        assert_eq!(judge(&base, None, 0.05).verdict, Verdict::Missing);
        assert!(Verdict::NowFailing.is_regression());
        assert!(!Verdict::Missing.is_regression());
    }
}

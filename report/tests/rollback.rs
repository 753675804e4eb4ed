//! The rollback experiment in the report: its figure and its claims' verdicts, from a document
//! shaped like a full run.

use crate::common::{id, sample, summary};
use crate::figures::check_renders;
use model::{MetricResult, MetricSpec, Param, Unit};
use report::evidence::judge_all;
use report::figure;
use report::figure::spec::{Mark, SeriesStyle};
use report::{ExperimentResult, ExperimentStatus, PaperReference, Point, PointStatus, Verdict};
use std::collections::BTreeMap;

const MIB: i64 = 1 << 20;

/// A rollback point with its three metrics.
fn rollback_point(backend: &str, s: i64, pages: i64, state: i64, per_s: f64, us: f64) -> Point {
    let metric = |name: &str, unit: Unit, v: f64| MetricResult {
        spec: MetricSpec::new(name, unit, name),
        summary: Some(summary(v)),
    };
    Point {
        id: id(
            "rollback",
            backend,
            &[
                ("pages_per_request", Param::Int(pages)),
                ("requests_per_session", Param::Int(s)),
                ("state_bytes", Param::Int(state)),
            ],
        ),
        status: PointStatus::Ok,
        error: None,
        run_errors: Vec::new(),
        runs_planned: 5,
        metrics: vec![
            metric("sessions", Unit::per_second("sessions"), per_s),
            metric("requests", Unit::per_second("req"), per_s * s as f64),
            metric("rollback", Unit::Us, us),
        ],
        counters: BTreeMap::new(),
        elapsed_s: 1.0,
    }
}

/// A full-like run: S = 1, 16, 256 at the centre (4 pages, 64 MiB), pages 0 and 64 and states
/// of 1 MiB and 1 GiB through it. Per strategy a rollback cost in µs (growing with state for
/// the fork-based ones) and 20 µs per request.
fn full_like() -> report::ResultDocument {
    let mut doc = sample();
    let mut points = Vec::new();
    let shapes = [
        (1, 4, 64 * MIB),
        (16, 4, 64 * MIB),
        (256, 4, 64 * MIB),
        (16, 0, 64 * MIB),
        (16, 64, 64 * MIB),
        (16, 4, MIB),
        (16, 4, 1024 * MIB),
    ];
    for (backend, fixed_us, per_mib_us, per_page_us) in [
        ("none", 10.0, 0.0, 0.0),
        ("lwc-inplace", 100.0, 0.0, 2.0),
        ("lwc-pool", 300.0, 5.0, 0.0),
        ("lwc-snapshot", 500.0, 20.0, 0.0),
        ("fork", 600.0, 20.0, 0.0),
        ("reinit", 1000.0, 600.0, 0.0),
    ] {
        for (s, pages, state) in shapes {
            let us =
                fixed_us + per_mib_us * (state / MIB) as f64 + per_page_us * (pages * s) as f64;
            let per_s = 1e6 / (us + 20.0 * s as f64);
            points.push(rollback_point(backend, s, pages, state, per_s, us));
        }
    }
    doc.configuration.experiments.push("rollback".to_owned());
    doc.experiments.push(ExperimentResult {
        id: "rollback".to_owned(),
        description: "rollback".to_owned(),
        status: ExperimentStatus::Ok,
        error: None,
        points,
    });
    doc
}

#[test]
fn the_rollback_figure_shows_every_axis_and_the_papers_marks() {
    let paper = PaperReference::bundled().expect("paper");
    let figs = figure::all(&[full_like()], Some(&paper));
    let fig = figs
        .iter()
        .find(|f| f.id == "rollback")
        .expect("a rollback figure");
    check_renders(fig, "rollback");
    // Throughput, relative to none, latency by S, latency by state, latency by pages.
    assert_eq!(
        fig.panels.len(),
        5,
        "{:?}",
        fig.panels.iter().map(|p| &p.title).collect::<Vec<_>>()
    );
    // Guards against an axis mixing points off the centre (S = 16 appears on all three axes):
    // each series of the S panels has exactly the three session lengths.
    for panel in &fig.panels[..3] {
        for s in panel.series.iter().filter(|s| s.style == SeriesStyle::Line) {
            let xs: Vec<f64> = s.points.iter().map(|d| d.x).collect();
            assert_eq!(xs, [1.0, 16.0, 256.0], "{}: {}", panel.title, s.label);
        }
    }
    // Relative to none: none is 1 everywhere; the paper's three Apache marks are there.
    let none = fig.panels[1]
        .series
        .iter()
        .find(|s| s.backend == "none")
        .expect("none");
    assert!(none.points.iter().all(|d| (d.y - 1.0).abs() < 1e-9));
    let marks: Vec<(f64, f64)> = fig.panels[1]
        .references
        .iter()
        .filter_map(|r| match r.at {
            Mark::Point { x, y } => Some((x, y)),
            _ => None,
        })
        .collect();
    assert_eq!(marks, [(1.0, 0.2), (16.0, 0.84), (256.0, 1.0)]);
    // Latency by S has a p99 series per strategy beside the median.
    assert!(fig.panels[2]
        .series
        .iter()
        .any(|s| s.label == "lwc-pool p99"));
    // By state: in place stays flat, fork grows.
    let by_state = &fig.panels[3];
    let ys = |b: &str| -> Vec<f64> {
        by_state
            .series
            .iter()
            .find(|s| s.backend == b)
            .map(|s| s.points.iter().map(|d| d.y).collect())
            .unwrap_or_default()
    };
    assert_eq!(ys("lwc-inplace").len(), 3);
    assert!(ys("lwc-inplace")
        .windows(2)
        .all(|w| (w[0] - w[1]).abs() < 1e-6));
    assert!(ys("fork").windows(2).all(|w| w[0] < w[1]));
    // No page written sits at one half on the log axis.
    assert!(fig.panels[4].series[0].points[0].x == 0.5);
}

#[test]
fn a_quick_run_draws_the_session_length_panels_only() {
    let mut doc = full_like();
    let points = &mut doc.experiments[2].points;
    points.retain(|p| {
        p.id.params.get("pages_per_request") == Some(&Param::Int(4))
            && p.id.params.get("state_bytes") == Some(&Param::Int(64 * MIB))
    });
    let figs = figure::all(&[doc], None);
    let fig = figs.iter().find(|f| f.id == "rollback").expect("figure");
    assert_eq!(fig.panels.len(), 3);
    assert!(fig.panels[1].references.is_empty(), "no paper, no marks");
}

#[test]
fn rollback_claims_are_judged() {
    // Guards against a rule whose selector matches no point of a real plan (a parameter name
    // or value the experiment does not use), which would leave the claim unmeasured forever.
    let paper = PaperReference::bundled().expect("paper");
    let rows = judge_all(&paper, &full_like(), &["switch", "create", "rollback"]);
    let verdict = |id: &str| {
        rows.iter()
            .find(|r| r.claim_id == id)
            .unwrap_or_else(|| panic!("no {id}"))
            .clone()
    };
    for id in [
        "rollback.apache",
        "rollback.apache.16",
        "rollback.apache.256",
        "rollback.apache.privsep",
        "rollback.php",
    ] {
        let v = verdict(id);
        assert_ne!(v.verdict, Verdict::NotMeasuredYet, "{id}: {}", v.reason);
    }
    // From the numbers above: lwc-snapshot at S = 1 is 520 µs a session against none's 30 µs.
    assert_eq!(verdict("rollback.apache").verdict, Verdict::Reproduced);
    assert_eq!(verdict("rollback.php").verdict, Verdict::Reproduced);
    assert_eq!(
        verdict("rollback.apache.privsep").verdict,
        Verdict::Reproduced
    );
    let v = verdict("rollback.apache.256");
    assert_eq!(v.verdict, Verdict::NotReproduced, "{}", v.reason);
    assert!(v.reason.contains("lwc-snapshot / none"), "{}", v.reason);
}

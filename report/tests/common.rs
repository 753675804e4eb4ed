//! A small hand-built result document shared by the tests.

use model::{Interval, MetricResult, MetricSpec, Param, PointId, Summary, Unit};
use report::{
    Configuration, ExperimentResult, ExperimentStatus, Machine, Point, PointStatus, ResultDocument,
    SCHEMA,
};
use std::collections::BTreeMap;

/// A point id.
pub fn id(experiment: &str, backend: &str, params: &[(&str, Param)]) -> PointId {
    PointId {
        experiment: experiment.to_owned(),
        backend: backend.to_owned(),
        params: params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    }
}

/// A summary with round numbers: p50 = `p50`, the other statistics derived from it.
pub fn summary(p50: f64) -> Summary {
    Summary {
        count: 300,
        runs: 3,
        min: p50 * 0.9,
        p50,
        p90: p50 * 1.1,
        p99: p50 * 1.5,
        max: p50 * 3.0,
        mean: p50 * 1.05,
        ci95: Some(Interval {
            low: p50 * 0.98,
            high: p50 * 1.02,
            coverage: Some(0.75),
        }),
        run_medians: vec![p50 * 0.99, p50, p50 * 1.01],
        histogram: "HISTFAAAAA==".to_owned(),
        histogram_scale: 1.0,
    }
}

/// An ok point with one metric (`experiment`'s, "one-way switch") whose median is `p50`.
pub fn point(
    experiment: &str,
    backend: &str,
    params: &[(&str, Param)],
    unit: &str,
    p50: f64,
) -> Point {
    Point {
        id: id(experiment, backend, params),
        status: PointStatus::Ok,
        error: None,
        run_errors: Vec::new(),
        runs_planned: 3,
        metrics: vec![MetricResult {
            spec: MetricSpec::new(experiment, Unit::parse(unit), "one-way switch"),
            summary: Some(summary(p50)),
        }],
        counters: BTreeMap::new(),
        elapsed_s: 1.0,
    }
}

/// A document with a switch experiment (three backends, one failed) and a create experiment.
pub fn sample() -> ResultDocument {
    let same = ("cores", Param::Text("same-core".to_owned()));
    let failed = Point::unmeasured(
        id("switch", "lwc", std::slice::from_ref(&same)),
        &[MetricSpec::new("switch", Unit::Ns, "one-way switch")],
        PointStatus::Failed,
        3,
        vec!["worker exited with signal 6 (SIGABRT)".to_owned(); 3],
        0.5,
    );
    let mut create = Vec::new();
    for (pages, us) in [(0_i64, 100.0), (16, 132.0), (256, 612.0)] {
        let mut p = point(
            "create",
            "lwc",
            &[("pages_written", Param::Int(pages))],
            "us",
            us,
        );
        p.metrics[0].spec.what = "create + first switch + discard".to_owned();
        create.push(p);
    }
    let mut machine = Machine::unknown("0.1.0", "2025-01-01T00:00:00Z");
    machine.cpu_model = Some("Test CPU".to_owned());
    machine.logical_cpus = 2;
    machine.kernel_release = Some("6.18.0".to_owned());
    machine.virtualization.virtual_machine = Some(true);
    machine.warnings = vec!["running in a virtual machine".to_owned()];
    ResultDocument {
        schema: SCHEMA.to_owned(),
        machine,
        configuration: Configuration {
            setting: "quick".to_owned(),
            experiments: vec!["switch".to_owned(), "create".to_owned()],
            backends: Vec::new(),
            runs: None,
            worker_timeout_s: 60.0,
            command_line: vec!["lwcbench".to_owned()],
            started_at: "2025-01-01T00:00:00Z".to_owned(),
            finished_at: "2025-01-01T00:01:00Z".to_owned(),
        },
        experiments: vec![
            ExperimentResult {
                id: "switch".to_owned(),
                description: "ping-pong between two contexts".to_owned(),
                status: ExperimentStatus::Ok,
                error: None,
                points: vec![
                    point(
                        "switch",
                        "process-pipe",
                        std::slice::from_ref(&same),
                        "ns",
                        2500.0,
                    ),
                    point(
                        "switch",
                        "coroutine",
                        std::slice::from_ref(&same),
                        "ns",
                        20.0,
                    ),
                    failed,
                ],
            },
            ExperimentResult {
                id: "create".to_owned(),
                description: "create + first switch + discard".to_owned(),
                status: ExperimentStatus::Ok,
                error: None,
                points: create,
            },
        ],
    }
}

/// A document shaped like a quick run: switch on both placements for every backend, create
/// over two parent sizes and two page counts for four backends, with medians near a real run's.
pub fn quick_like(cpu: &str) -> ResultDocument {
    let mut doc = sample();
    doc.machine.cpu_model = Some(cpu.to_owned());
    let mut switch = Vec::new();
    for (cores, backends) in [
        (
            "same-core",
            &[
                ("coroutine", 2.4),
                ("thread-futex", 3380.0),
                ("process-futex", 3830.0),
                ("lwc", 4090.0),
                ("process-pipe", 4180.0),
                ("thread-condvar", 12100.0),
            ][..],
        ),
        (
            "two-cores",
            &[
                ("lwc-spin", 168.0),
                ("thread-futex", 7190.0),
                ("process-futex", 7340.0),
                ("lwc", 7740.0),
            ][..],
        ),
    ] {
        for (backend, ns) in backends {
            switch.push(point(
                "switch",
                backend,
                &[("cores", Param::Text(cores.to_owned()))],
                "ns",
                *ns,
            ));
        }
    }
    doc.experiments[0].points = switch;
    let mut create = Vec::new();
    for (backend, base, per_page, per_mib) in [
        ("lwc", 300.0, 3.8, 60.0),
        ("fork", 250.0, 3.9, 120.0),
        ("spawn", 540.0, 0.0, 1.5),
        ("thread", 39.0, 0.0, 0.1),
    ] {
        for mib in [1_i64, 64] {
            for pages in [0_i64, 256] {
                let us = base + per_page * pages as f64 + per_mib * (mib - 1) as f64;
                let mut p = point(
                    "create",
                    backend,
                    &[
                        ("pages_written", Param::Int(pages)),
                        ("resident_bytes", Param::Int(mib << 20)),
                    ],
                    "us",
                    us,
                );
                p.metrics[0].spec.what = "create".to_owned();
                create.push(p);
            }
        }
    }
    doc.experiments[1].points = create;
    doc
}

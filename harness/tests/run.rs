//! `lwcbench run`: result files, schema validity, failures recorded rather than dropped.

use crate::util::{assert_valid, entries, load, lwcbench, points, summary, violations};
use serde_json::Value;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

const POINT_FIELDS: [&str; 10] = [
    "experiment",
    "backend",
    "params",
    "status",
    "error",
    "run_errors",
    "runs_planned",
    "metrics",
    "counters",
    "elapsed_s",
];

const METRIC_FIELDS: [&str; 4] = ["name", "unit", "what", "summary"];

const SUMMARY_FIELDS: [&str; 12] = [
    "count",
    "runs",
    "min",
    "p50",
    "p90",
    "p99",
    "max",
    "mean",
    "ci95",
    "run_medians",
    "histogram",
    "histogram_scale",
];

/// The smoke run of the real experiments, with one backend made to crash on purpose. Guards
/// against a failed point that is dropped or reported ok, and against any real backend failing
/// unseen (the lwc backends included).
#[test]
fn smoke_run_of_switch_and_create_writes_a_valid_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r.json");
    let ran = lwcbench(
        &[
            "run",
            "switch",
            "create",
            "--smoke",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[("LWCBENCH_FAULT", "switch/coroutine=crash")],
        LIMIT,
    );
    assert!(
        matches!(ran.code, Some(0) | Some(3)),
        "exit {:?}\n{}",
        ran.code,
        ran.stderr
    );
    let doc = load(&out);
    assert_valid(&doc);
    assert_eq!(doc["schema"], "lwcbench/result/v2");
    assert_eq!(doc["configuration"]["setting"], "smoke");
    let ids: Vec<&str> = doc["experiments"]
        .as_array()
        .expect("experiments")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["switch", "create"]);
    let pts = points(&doc);
    assert!(!pts.is_empty());
    for p in &pts {
        for f in POINT_FIELDS {
            assert!(p.get(f).is_some(), "point lacks {f}: {p}");
        }
        for f in METRIC_FIELDS {
            assert!(p["metrics"][0].get(f).is_some(), "metric lacks {f}: {p}");
        }
        if p["status"] == "ok" {
            for f in SUMMARY_FIELDS {
                assert!(summary(p).get(f).is_some(), "summary lacks {f}: {p}");
            }
        }
    }
    // The injected crash is recorded on every coroutine point, with its reason.
    let crashed: Vec<&&Value> = pts.iter().filter(|p| p["backend"] == "coroutine").collect();
    assert!(!crashed.is_empty(), "coroutine points were dropped");
    for p in crashed {
        assert_eq!(p["status"], "failed", "{p}");
        assert!(summary(p).is_null());
        let err = p["error"].as_str().expect("error");
        assert!(err.contains("SIGABRT"), "{err}");
    }
    // Every other point is measured: a backend that fails (an lwc backend that panics, say)
    // fails this test. The one excuse is a machine with fewer than two usable CPUs, for the
    // points that need two.
    for p in pts.iter().filter(|p| p["backend"] != "coroutine") {
        let why = p["error"].as_str().unwrap_or("");
        // Such a point is unavailable (not failed), and says why.
        assert!(
            p["status"] == "ok"
                || (p["status"] == "unavailable" && why.contains("two usable CPUs")),
            "a point not measured: {p}"
        );
    }
    for (exp, backend) in [
        ("switch", "lwc"),
        ("create", "lwc"),
        ("switch", "process-pipe"),
    ] {
        assert!(
            pts.iter()
                .any(|p| p["experiment"] == exp && p["backend"] == backend && p["status"] == "ok"),
            "no measured {exp} point of {backend}"
        );
    }
    // Some coroutine point failed, others did not: the experiment is ok.
    for e in doc["experiments"].as_array().expect("experiments") {
        assert_eq!(e["status"], "ok", "{}", e["id"]);
    }
    assert_eq!(ran.code, Some(3), "a failed point means exit 3");
    // The summary went to stdout and to a Markdown file beside the JSON.
    assert!(ran.stdout.contains("## switch"), "{}", ran.stdout);
    assert!(dir.path().join("r.md").is_file());
    assert!(ran.stderr.contains("results written to"), "{}", ran.stderr);
    check_report(&dir.path().join("r-report"), &["switch", "create"]);
    assert!(ran.stderr.contains("report written to"), "{}", ran.stderr);
}

/// The report of a real run: every figure as SVG (valid XML) and PNG (decodes, plausible
/// size), the page referencing each, the summary showing each. Guards against a figure that is
/// drawn from fixtures but not from what the harness writes, and a page that leaves one out.
fn check_report(dir: &std::path::Path, figures: &[&str]) {
    let page = std::fs::read_to_string(dir.join("index.html")).expect("index.html");
    let summary = std::fs::read_to_string(dir.join("summary.md")).expect("summary.md");
    for id in figures {
        let svg = std::fs::read_to_string(dir.join(format!("{id}.svg")))
            .unwrap_or_else(|e| panic!("{id}.svg: {e}"));
        let xml = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{id}.svg: {e}"));
        assert_eq!(xml.root_element().tag_name().name(), "svg");
        let png = std::fs::read(dir.join(format!("{id}.png"))).expect("png");
        let reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap_or_else(|e| panic!("{id}.png: {e}"));
        let (w, h) = (reader.info().width, reader.info().height);
        assert_eq!(w, 1200, "{id}.png width");
        assert!(h > 400 && h < 1200, "{id}.png height {h}");
        assert!(
            page.contains(&format!("href=\"{id}.png\"")),
            "page lacks {id}.png"
        );
        assert!(
            page.contains(&format!("id=\"fig-{id}\"")),
            "page lacks figure {id}"
        );
        assert!(
            summary.contains(&format!("({id}.png)")),
            "summary lacks {id}.png"
        );
    }
    assert!(page.contains("Claims of the paper"));
    assert!(summary.contains("## Claims of the paper"));
}

/// Every way a worker can fail is recorded, and the run goes on to the end.
#[test]
fn selftest_records_errors_crashes_and_hangs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("self.json");
    let ran = lwcbench(
        &[
            "run",
            "selftest",
            "--smoke",
            "--timeout",
            "1",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    let doc = load(&out);
    assert_valid(&doc);
    let pts = points(&doc);
    let by = |b: &str| {
        pts.iter()
            .find(|p| p["backend"] == b)
            .unwrap_or_else(|| panic!("no {b} point"))
    };
    let ok = by("mock-ok");
    assert_eq!(ok["status"], "ok");
    let s = summary(ok);
    assert_eq!(s["runs"], 3);
    assert_eq!(s["count"], 300);
    assert_eq!(s["min"], 100.0);
    assert_eq!(s["max"], 199.0);
    assert_eq!(ok["counters"]["mock_events"], 7.0);
    // The interval of the median over the 3 identical runs, at its real coverage, and the
    // time the runs took (guards against either left out of the point).
    assert_eq!(s["ci95"]["low"], 149.5, "{ok}");
    assert_eq!(s["ci95"]["high"], 149.5, "{ok}");
    assert_eq!(s["ci95"]["coverage"], 0.75, "{ok}");
    assert!(ok["elapsed_s"].as_f64().is_some_and(|t| t > 0.0), "{ok}");
    assert!(s["histogram"].as_str().is_some_and(|h| !h.is_empty()));
    let reason = |b: &str| by(b)["error"].as_str().expect("error").to_owned();
    assert_eq!(by("mock-error")["status"], "failed");
    assert!(reason("mock-error").contains("mock-error always fails"));
    // Unavailable is not failed: its own status, the reason, no statistics, and its later runs
    // are not made (one reason, not three).
    let unavailable = by("mock-unavailable");
    assert_eq!(unavailable["status"], "unavailable", "{unavailable}");
    assert!(reason("mock-unavailable").contains("needs a machine nobody has"));
    assert!(summary(unavailable).is_null());
    assert_eq!(unavailable["run_errors"].as_array().map(Vec::len), Some(1));
    assert!(reason("mock-crash").contains("SIGABRT"));
    assert!(reason("mock-hang").contains("timed out"));
    // After a timeout the point's other runs are skipped, and say so.
    let hang_errors = by("mock-hang")["run_errors"]
        .as_array()
        .expect("run_errors");
    assert_eq!(hang_errors.len(), 3);
    assert!(hang_errors[2].as_str().expect("str").contains("skipped"));

    // The schema is not a rubber stamp: it rejects an ok point without a median, a failed point
    // without a reason, and a counter presented as a number.
    let index = |b: &str| pts.iter().position(|p| p["backend"] == b).expect("point");
    let mut bad = doc.clone();
    bad["experiments"][0]["points"][index("mock-ok")]["metrics"][0]["summary"] = Value::Null;
    assert!(!violations(&bad).is_empty());
    let mut bad = doc.clone();
    bad["experiments"][0]["points"][index("mock-ok")]["metrics"][0]["summary"]["p50"] = Value::Null;
    assert!(!violations(&bad).is_empty());
    // An unavailable point may not carry numbers.
    let mut bad = doc.clone();
    bad["experiments"][0]["points"][index("mock-unavailable")]["metrics"][0]["summary"] =
        summary(ok).clone();
    assert!(!violations(&bad).is_empty());
    let mut bad = doc.clone();
    bad["experiments"][0]["points"][index("mock-crash")]["error"] = Value::Null;
    assert!(!violations(&bad).is_empty());
    let mut bad = doc.clone();
    bad["machine"]["counters"]["cycles"] = "0".into();
    assert!(!violations(&bad).is_empty());
}

/// A worker that prints garbage fails its run; other points are unaffected.
#[test]
fn garbage_from_a_worker_fails_only_that_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("g.json");
    let ran = lwcbench(
        &[
            "run",
            "selftest",
            "--backend",
            "mock-ok",
            "--backend",
            "mock-error",
            "--runs",
            "2",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[("LWCBENCH_FAULT", "selftest/mock-error=garbage")],
        LIMIT,
    );
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    let doc = load(&out);
    assert_valid(&doc);
    assert_eq!(doc["configuration"]["runs"], 2);
    let pts = points(&doc);
    assert_eq!(pts.len(), 2);
    assert_eq!(pts[0]["status"], "ok");
    assert_eq!(pts[0]["runs_planned"], 2);
    assert_eq!(pts[1]["status"], "failed");
    // One of its points is measured: the experiment is ok.
    assert_eq!(doc["experiments"][0]["status"], "ok");
    assert!(doc["experiments"][0]["error"].is_null());
    assert!(pts[1]["error"]
        .as_str()
        .expect("error")
        .contains("not RunSamples JSON"));
}

/// An experiment whose every point failed is itself failed, with the reason. Guards against
/// an experiment reported ok when nothing of it was measured.
#[test]
fn experiment_whose_points_all_fail_is_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("f.json");
    let ran = lwcbench(
        &[
            "run",
            "selftest",
            "--backend",
            "mock-error",
            "--backend",
            "mock-crash",
            "--runs",
            "1",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    let doc = load(&out);
    assert_valid(&doc);
    let exp = &doc["experiments"][0];
    assert_eq!(exp["status"], "failed", "{exp}");
    assert_eq!(exp["error"], "all 2 points failed", "{exp}");
    assert!(points(&doc).iter().all(|p| p["status"] == "failed"));
}

/// With no --out, results go to lwcbench-results/ with a time stamp, plus latest.json.
#[test]
fn default_output_directory_and_latest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ran = lwcbench(
        &["run", "selftest", "--backend", "mock-ok"],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let results = dir.path().join("lwcbench-results");
    let names = entries(&results);
    assert!(names.contains(&"latest.json".to_owned()), "{names:?}");
    assert!(names.contains(&"latest.md".to_owned()), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("lwcbench-") && n.ends_with("-quick.json")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    let latest = load(&results.join("latest.json"));
    assert_valid(&latest);
    assert_eq!(latest["configuration"]["setting"], "quick");
}

/// A worker past its time limit is killed with every process it started.
#[test]
fn timeout_kills_the_workers_children_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.json");
    let pidfile = dir.path().join("child.pid");
    let ran = lwcbench(
        &[
            "run",
            "selftest",
            "--backend",
            "mock-orphan",
            "--runs",
            "1",
            "--timeout",
            "2",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[(
            "LWCBENCH_SELFTEST_PIDFILE",
            pidfile.to_str().expect("utf-8"),
        )],
        LIMIT,
    );
    assert_eq!(ran.code, Some(3), "{}", ran.stderr);
    let doc = load(&out);
    assert!(points(&doc)[0]["error"]
        .as_str()
        .expect("error")
        .contains("timed out"));
    let pid = std::fs::read_to_string(&pidfile).expect("the worker wrote its child's pid");
    // Gone, or at most a zombie waiting for init to reap it; give the kernel a moment.
    let stat = format!("/proc/{}/stat", pid.trim());
    // A live `sleep` (not a zombie, and not another process that reused the pid).
    let alive = || {
        std::fs::read_to_string(&stat).is_ok_and(|s| {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            s.contains("(sleep)") && !matches!(state, Some("Z") | Some("X"))
        })
    };
    for _ in 0..50 {
        if !alive() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the worker's child {} outlived the run", pid.trim());
}

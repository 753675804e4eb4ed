//! `lwcbench compare`: verdicts and exit codes.

use crate::util::{assert_valid, load, lwcbench, points};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn compare_finds_noise_then_a_regression() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base.json");
    let ran = lwcbench(
        &[
            "run",
            "selftest",
            "--backend",
            "mock-ok",
            "--runs",
            "5",
            "--out",
            base.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);

    // Same deterministic samples: no regression.
    let ran = lwcbench(
        &[
            "compare",
            base.to_str().expect("utf-8"),
            base.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("| noise |"), "{}", ran.stdout);

    // Twice as slow in every one of 5 runs (Mann-Whitney p = 2/252): a regression, exit 4.
    let mut doc = load(&base);
    let point = &mut doc["experiments"][0]["points"][0]["metrics"][0]["summary"];
    for field in ["p50", "min", "max", "mean", "p90", "p99"] {
        let v = point[field].as_f64().expect("number");
        point[field] = (v * 2.0).into();
    }
    point["ci95"]["low"] = 290.0.into();
    point["ci95"]["high"] = 310.0.into();
    point["run_medians"] = serde_json::json!([300.0, 300.0, 300.0, 300.0, 300.0]);
    let slow = dir.path().join("slow.json");
    std::fs::write(&slow, doc.to_string()).expect("write");
    let ran = lwcbench(
        &[
            "compare",
            base.to_str().expect("utf-8"),
            slow.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(4), "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("**regressed**"), "{}", ran.stdout);
    assert!(ran.stdout.contains("+100.0%"), "{}", ran.stdout);
}

#[test]
fn compare_refuses_an_unknown_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old.json");
    std::fs::write(&old, r#"{"schema": "lwcbench/result/v0"}"#).expect("write");
    let path = old.to_str().expect("utf-8");
    let ran = lwcbench(&["compare", path, path], dir.path(), &[], LIMIT);
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains("unknown schema version"),
        "{}",
        ran.stderr
    );
}

/// The workloads' deterministic `mock` backend through the whole pipeline: two runs give the same
/// statistics, and comparing them finds nothing.
#[test]
fn mock_backend_is_deterministic_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut docs = Vec::new();
    for name in ["a.json", "b.json"] {
        let out = dir.path().join(name);
        let ran = lwcbench(
            &[
                "run",
                "switch",
                "create",
                "--smoke",
                "--backend",
                "mock",
                "--out",
                out.to_str().expect("utf-8"),
            ],
            dir.path(),
            &[],
            LIMIT,
        );
        assert_eq!(ran.code, Some(0), "{}", ran.stderr);
        let doc = load(&out);
        assert_valid(&doc);
        docs.push(doc);
    }
    let stats = |doc: &serde_json::Value| -> Vec<serde_json::Value> {
        points(doc)
            .into_iter()
            .map(|p| {
                assert_eq!(p["backend"], "mock");
                assert_eq!(p["status"], "ok", "{p}");
                let s = &p["metrics"][0]["summary"];
                serde_json::json!([p["params"], s["p50"], s["p99"], s["count"], s["histogram"]])
            })
            .collect()
    };
    let (a, b) = (stats(&docs[0]), stats(&docs[1]));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let path = |n: &str| dir.path().join(n).to_str().expect("utf-8").to_owned();
    let ran = lwcbench(
        &["compare", &path("a.json"), &path("b.json")],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert!(!ran.stdout.contains("**regressed**"), "{}", ran.stdout);
}

/// A baseline written by the v1 harness still compares: its mock points match a v2 run of the
/// same deterministic backend point for point (medians equal: noise), and its self-test points,
/// absent now, are missing rather than regressed.
#[test]
fn a_v1_baseline_compares_with_a_v2_run() {
    // Guards against old baselines becoming unreadable or unmatched after the schema change.
    let dir = tempfile::tempdir().expect("tempdir");
    let current = dir.path().join("v2.json");
    let ran = lwcbench(
        &[
            "run",
            "switch",
            "create",
            "--smoke",
            "--backend",
            "mock",
            "--out",
            current.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let v1 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../report/tests/fixtures/result-v1.json"
    );
    let ran = lwcbench(
        &["compare", v1, current.to_str().expect("utf-8")],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    let rows: Vec<&str> = ran.stdout.lines().filter(|l| l.starts_with("| ")).collect();
    let row = |backend: &str, params: &str| {
        rows.iter()
            .find(|r| r.contains(&format!("| {backend} | {params} |")))
            .unwrap_or_else(|| panic!("no row {backend} {params}:\n{}", ran.stdout))
    };
    assert!(row("mock", "cores=same-core").ends_with("| noise |"));
    assert!(row("mock", "pages_written=16 resident_bytes=1 MiB").contains("| +0.0% |"));
    assert!(row("mock-ok", "size=1").ends_with("| missing |"));
}

/// Guards against numbers from two machines compared as if they were one, and against
/// `--force` not letting a deliberate comparison through.
#[test]
fn compare_refuses_different_machines_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base.json");
    let ran = lwcbench(
        &[
            "run",
            "selftest",
            "--backend",
            "mock-ok",
            "--out",
            base.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let mut doc = load(&base);
    doc["machine"]["cpu_model"] = "Another CPU".into();
    let other = dir.path().join("other.json");
    std::fs::write(&other, doc.to_string()).expect("write");
    let (b, o) = (
        base.to_str().expect("utf-8"),
        other.to_str().expect("utf-8"),
    );
    let ran = lwcbench(&["compare", b, o], dir.path(), &[], LIMIT);
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("different machines"), "{}", ran.stderr);
    assert!(ran.stderr.contains("Another CPU"), "{}", ran.stderr);
    assert!(ran.stderr.contains("--force"), "{}", ran.stderr);
    assert!(ran.stdout.is_empty(), "nothing compared: {}", ran.stdout);
    let ran = lwcbench(&["compare", "--force", b, o], dir.path(), &[], LIMIT);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("| noise |"), "{}", ran.stdout);
    assert!(ran.stderr.contains("warning"), "{}", ran.stderr);
}

/// Guards against BMF output that a Bencher upload would reject: names, measures, nanoseconds,
/// the CI as bounds.
#[test]
fn compare_writes_bencher_metric_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().join("base.json");
    let ran = lwcbench(
        &[
            "run",
            "selftest",
            "--backend",
            "mock-ok",
            "--runs",
            "5",
            "--out",
            base.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let b = base.to_str().expect("utf-8");
    let ran = lwcbench(
        &["compare", "--format", "bmf", b, b],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let bmf: serde_json::Value = serde_json::from_str(&ran.stdout).expect("BMF is JSON");
    let doc = load(&base);
    let pts = points(&doc);
    let benchmarks = bmf.as_object().expect("object");
    assert_eq!(benchmarks.len(), pts.len(), "{bmf}");
    for p in pts {
        let params = p["params"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| match v {
                        serde_json::Value::String(s) => format!("{k}={s}"),
                        v => format!("{k}={v}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".to_owned());
        let name = format!(
            "{}/{}/{params}",
            p["experiment"].as_str().unwrap_or(""),
            p["backend"].as_str().unwrap_or("")
        );
        let measure = &bmf[&name]["latency"];
        assert!(measure.is_object(), "no latency for {name} in {bmf}");
        let metric = &p["metrics"][0];
        let ns_per_unit = match metric["unit"].as_str().expect("unit") {
            "ns" => 1.0,
            "us" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            u => panic!("selftest unit {u}"),
        };
        let p50 = metric["summary"]["p50"].as_f64().expect("p50");
        assert_eq!(measure["value"].as_f64(), Some(p50 * ns_per_unit));
        let (lo, hi) = (
            measure["lower_value"].as_f64().expect("lower"),
            measure["upper_value"].as_f64().expect("upper"),
        );
        assert!(
            lo <= p50 * ns_per_unit && p50 * ns_per_unit <= hi,
            "{measure}"
        );
    }
}

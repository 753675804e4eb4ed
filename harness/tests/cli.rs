//! Bad input: a clear message, a non-zero exit, and no file written.

use crate::util::{entries, lwcbench};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn unknown_experiment_fails_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r.json");
    let ran = lwcbench(
        &[
            "run",
            "no-such-experiment",
            "--smoke",
            "--out",
            out.to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(1), "stderr: {}", ran.stderr);
    assert!(
        ran.stderr
            .contains("unknown experiment \"no-such-experiment\""),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("switch"),
        "should list known ids: {}",
        ran.stderr
    );
    assert!(ran.stdout.is_empty(), "no data on stdout: {}", ran.stdout);
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn unknown_backend_fails_clearly_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ran = lwcbench(
        &["run", "switch", "--smoke", "--backend", "warp-drive"],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(1), "stderr: {}", ran.stderr);
    assert!(
        ran.stderr.contains("unknown backend \"warp-drive\""),
        "{}",
        ran.stderr
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn missing_output_directory_fails_before_measuring() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("nope/r.json");
    let ran = lwcbench(
        &["run", "selftest", "--out", out.to_str().expect("utf-8")],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(1), "stderr: {}", ran.stderr);
    assert!(ran.stderr.contains("does not exist"), "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("mock-ok"),
        "measured anyway: {}",
        ran.stderr
    );
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn conflicting_settings_and_bad_numbers_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &["run", "--smoke", "--full"][..],
        &["run", "--runs", "0"][..],
        &["run", "--timeout", "-1"][..],
        &["frobnicate"][..],
    ] {
        let ran = lwcbench(args, dir.path(), &[], LIMIT);
        assert_eq!(ran.code, Some(2), "{args:?}: {}", ran.stderr);
        assert!(!ran.stderr.is_empty());
    }
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn list_names_experiments_and_backends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ran = lwcbench(&["list"], dir.path(), &[], LIMIT);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    for word in [
        "switch",
        "create",
        "process-pipe",
        "coroutine",
        "fork",
        "selftest",
    ] {
        assert!(ran.stdout.contains(word), "missing {word}: {}", ran.stdout);
    }
}

#[test]
fn env_prints_the_fingerprint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ran = lwcbench(&["env", "--json"], dir.path(), &[], LIMIT);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let m: serde_json::Value = serde_json::from_str(&ran.stdout).expect("JSON");
    assert!(m["logical_cpus"].as_u64().is_some_and(|n| n > 0));
    // Every counter is listed, available or not: the loop below must not pass on an empty map
    // (a machine without a PMU lists its hardware counters as unavailable, with the reason).
    let counters = m["counters"].as_object().expect("counters");
    let names: Vec<&str> = counters.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "context-switches",
            "cpu-migrations",
            "cycles",
            "dtlb-load-misses",
            "instructions",
            "itlb-load-misses",
            "page-faults",
            "task-clock"
        ]
    );
    for (name, state) in counters {
        let state = state.as_str().expect("string");
        assert!(
            state == "available" || state.starts_with("unavailable: "),
            "{name}: {state}"
        );
    }
    let ran = lwcbench(&["env"], dir.path(), &[], LIMIT);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(ran.stdout.contains("kernel"), "{}", ran.stdout);
    assert!(ran.stdout.contains("counters"), "{}", ran.stdout);
}

#[test]
fn out_naming_a_directory_fails_before_measuring() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ran = lwcbench(
        &[
            "run",
            "selftest",
            "--out",
            dir.path().to_str().expect("utf-8"),
        ],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(1), "stderr: {}", ran.stderr);
    assert!(ran.stderr.contains("is a directory"), "{}", ran.stderr);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn out_must_name_a_json_file() {
    // Guards against the other formats landing on a name that is not the result's stem.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r.txt");
    let ran = lwcbench(
        &["run", "selftest", "--out", out.to_str().expect("utf-8")],
        dir.path(),
        &[],
        LIMIT,
    );
    assert_eq!(ran.code, Some(1), "stderr: {}", ran.stderr);
    assert!(
        ran.stderr.contains("must name a .json file"),
        "{}",
        ran.stderr
    );
    assert!(entries(dir.path()).is_empty());
}

//! Loading result documents: round trip and schema-version checks.

use crate::common::sample;
use report::{JsonExporter, LoadError, PointStatus, ResultDocument};

#[test]
fn json_export_round_trips() {
    let doc = sample();
    let text = JsonExporter.render(&doc).expect("render");
    assert!(text.ends_with('\n'));
    let back = ResultDocument::from_json_str(&text, "<test>").expect("load");
    assert_eq!(back, doc);
}

#[test]
fn unknown_schema_version_is_a_clear_error() {
    let doc = sample();
    let mut value = serde_json::to_value(&doc).expect("to value");
    value["schema"] = "lwcbench/result/v9".into();
    let err = ResultDocument::from_json_str(&value.to_string(), "r.json").unwrap_err();
    assert!(matches!(err, LoadError::UnknownSchema { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("r.json"), "{msg}");
    assert!(msg.contains("lwcbench/result/v9"), "{msg}");
    // The message says what this version reads: both versions.
    assert!(msg.contains("lwcbench/result/v2"), "{msg}");
    assert!(msg.contains("lwcbench/result/v1"), "{msg}");
}

#[test]
fn missing_schema_and_bad_json_are_errors() {
    let err = ResultDocument::from_json_str("{}", "x.json").unwrap_err();
    assert!(matches!(err, LoadError::MissingSchema { .. }), "{err:?}");
    let err = ResultDocument::from_json_str("not json", "x.json").unwrap_err();
    assert!(matches!(err, LoadError::Parse { .. }), "{err:?}");
}

#[test]
fn load_reports_the_path_of_a_missing_file() {
    let err = ResultDocument::load(std::path::Path::new("/nonexistent/r.json")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/r.json"), "{err}");
}

#[test]
fn all_ok_sees_failed_points() {
    assert!(!sample().all_ok());
}

#[test]
fn params_display_writes_sizes_in_binary_units() {
    use model::Param;
    let mut p = sample().experiments[1].points[0].clone();
    p.id.params
        .insert("resident_bytes".to_owned(), Param::Int(64 << 20));
    p.id.params.insert("odd_bytes".to_owned(), Param::Int(1000));
    assert_eq!(
        p.params_display(),
        "odd_bytes=1000 pages_written=0 resident_bytes=64 MiB"
    );
    assert_eq!(
        p.params_label(),
        "odd_bytes=1000 pages_written=0 resident_bytes=67108864"
    );
}

/// A result file written by the v1 harness (a smoke run of the mock backends and the
/// self-test) loads into the current shape with every number in place.
#[test]
fn a_v1_file_is_read_and_converted() {
    // Guards against v1 baselines becoming unreadable, or read with their statistics lost or
    // moved (a compare against an old baseline would then judge nothing).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/result-v1.json");
    let doc = ResultDocument::load(std::path::Path::new(path)).expect("v1 loads");
    assert_eq!(doc.schema, report::SCHEMA);
    let ids: Vec<&str> = doc.experiments.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["switch", "create", "selftest"]);
    let points: Vec<_> = doc.points().collect();
    assert_eq!(points.len(), 6);
    let same = points
        .iter()
        .find(|p| p.id.experiment == "switch" && p.params_label() == "cores=same-core")
        .expect("same-core point");
    let m = same.headline().expect("one metric");
    assert_eq!(
        (m.spec.name.as_str(), m.spec.unit.symbol().as_str()),
        ("switch", "ns")
    );
    assert_eq!(m.spec.what, "one-way switch");
    let s = m.summary.as_ref().expect("summary");
    assert_eq!((s.p50, s.runs, s.count), (1030.0, 3, 90));
    assert!(s.ci95.is_some() && !s.histogram.is_empty());
    assert_eq!(s.run_medians.len(), 3);
    let create = points
        .iter()
        .find(|p| p.id.experiment == "create" && p.params_label().contains("pages_written=16"))
        .expect("create point");
    assert_eq!(create.unit().map(|u| u.symbol()), Some("us".to_owned()));
    assert_eq!(create.p50(), Some(122.4));
    // Counters were plain numbers in v1.
    assert_eq!(same.counters.get("mock").and_then(|c| c.value()), Some(1.0));
    let failed = points
        .iter()
        .find(|p| p.id.backend == "mock-error")
        .expect("failed point");
    assert_eq!(failed.status, PointStatus::Failed);
    assert!(failed.summary().is_none());
    assert!(failed
        .error
        .as_deref()
        .is_some_and(|e| e.contains("mock-error always fails")));
    // Converted, it round-trips as a v2 document.
    let text = JsonExporter.render(&doc).expect("render");
    assert_eq!(
        ResultDocument::from_json_str(&text, "<v2>").expect("v2 loads"),
        doc
    );
}

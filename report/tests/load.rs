//! Loading result documents: round trip and schema-version checks.

use crate::common::sample;
use report::{Exporter, JsonExporter, LoadError, ResultDocument};

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
    use report::Param;
    let mut p = sample().experiments[1].points[0].clone();
    p.params
        .insert("resident_bytes".to_owned(), Param::Int(64 << 20));
    p.params.insert("odd_bytes".to_owned(), Param::Int(1000));
    assert_eq!(
        p.params_display(),
        "odd_bytes=1000 pages_written=0 resident_bytes=64 MiB"
    );
    assert_eq!(
        p.params_label(),
        "odd_bytes=1000 pages_written=0 resident_bytes=67108864"
    );
}

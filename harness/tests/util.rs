//! Helpers: run the binary with a time limit; read a result file and list a directory; validate a
//! result file against the JSON Schema.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished `lwcbench` run printed and returned.
pub struct Ran {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `lwcbench ARGS` in `cwd` with extra environment, killing it (and failing the test) after
/// `limit`.
pub fn lwcbench(args: &[&str], cwd: &Path, env: &[(&str, &str)], limit: Duration) -> Ran {
    let mut out = tempfile::tempfile().expect("stdout file");
    let mut err = tempfile::tempfile().expect("stderr file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lwcbench"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("LWCBENCH_FAULT")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start lwcbench");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lwcbench {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        f.seek(SeekFrom::Start(0)).expect("seek");
        f.read_to_string(&mut s).expect("read");
        s
    };
    Ran {
        code: status.code(),
        stdout: read(&mut out),
        stderr: read(&mut err),
    }
}

/// A result file, parsed.
pub fn load(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("result file");
    serde_json::from_str(&text).expect("result JSON")
}

/// The summary of a point's headline metric (`null` when the point was not measured).
pub fn summary(point: &serde_json::Value) -> &serde_json::Value {
    &point["metrics"][0]["summary"]
}

/// Every point of every experiment of a result document, in document order.
pub fn points(doc: &serde_json::Value) -> Vec<&serde_json::Value> {
    doc["experiments"]
        .as_array()
        .expect("experiments")
        .iter()
        .flat_map(|e| e["points"].as_array().expect("points").iter())
        .collect()
}

/// The names in a directory, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The result JSON Schema of this repository (the version `lwcbench run` writes).
pub fn schema() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../results/schema/result-v2.schema.json"
    );
    let text = std::fs::read_to_string(path).expect("read the schema");
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// Every violation of the result schema by `doc`.
pub fn violations(doc: &serde_json::Value) -> Vec<String> {
    let schema = schema();
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

/// Validates `doc` against the result schema; panics with every violation.
pub fn assert_valid(doc: &serde_json::Value) {
    let errors = violations(doc);
    assert!(
        errors.is_empty(),
        "schema violations:\n{}",
        errors.join("\n")
    );
}

//! `lwcbench run web` and `lwcbench serve`: the web experiment through the whole pipeline, and
//! the server the harness runs on its own.

use crate::util::{assert_valid, load, lwcbench, points};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn smoke_run_of_web_measures_requests_and_latency() {
    // Guards against a web point that fails unseen, a run without its latency histogram, and
    // a result the schema rejects; two modes keep it short.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r.json");
    let args = [
        "run",
        "web",
        "--smoke",
        "--backend",
        "none",
        "--backend",
        "lwc",
        "--out",
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.push(out.to_str().expect("utf-8"));
    let ran = lwcbench(&args, dir.path(), &[], LIMIT);
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let doc = load(&out);
    assert_valid(&doc);
    let pts = points(&doc);
    assert_eq!(pts.len(), 4, "two modes × two session lengths");
    for p in &pts {
        assert_eq!(p["status"], "ok", "{p}");
        let names: Vec<&str> = p["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .map(|m| m["name"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["requests", "latency"]);
        assert_eq!(p["metrics"][0]["unit"], "req/s");
        assert!(p["metrics"][0]["summary"]["p50"].as_f64().expect("p50") > 0.0);
        assert!(p["metrics"][1]["summary"]["p99"].as_f64().expect("p99") > 0.0);
        assert_eq!(p["counters"]["server_crashed"], 0.0, "{p}");
    }
    assert!(dir.path().join("r-report").join("web.svg").exists());
}

#[test]
fn serve_answers_and_stops_on_sigterm() {
    // Guards against `lwcbench serve` not being the library's server (another address line,
    // no answer) or not ending cleanly on SIGTERM.
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_lwcbench"))
            .args(["serve", "--isolation", "lwc", "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start lwcbench serve"),
    );
    let child = &mut child.0;
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("address");
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("an address")
        .to_owned();
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.ends_with("\n") && answer.contains("         1 x"),
        "{answer}"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("SIGTERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    assert!(rest.contains("total: connections=1 requests=1 "), "{rest}");
}

/// A child killed when the test ends, also when it fails (its workers die with it).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

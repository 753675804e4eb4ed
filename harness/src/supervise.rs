//! Running one measured run in a fresh worker process, with a time limit.
//!
//! ```text
//! lwcbench (parent, has threads: progress bar)
//!   └─ lwcbench __worker --setting S --point JSON     own process group, single-threaded
//!        │  stdout → anonymous temp file: one line of RunSamples JSON
//!        │  stderr → anonymous temp file: diagnostics, the reason of a failure
//!        └─ processes the experiment forks (lwCs, ping-pong partners), same process group
//! ```
//!
//! Output goes to files rather than pipes, so a grandchild that keeps a descriptor open can never
//! block the parent. When the worker exits, dies or overruns its limit, the whole process group
//! gets SIGKILL and the worker is reaped: nothing it started outlives the run.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use workloads::{PointSpec, RunSamples, Setting};

/// Exit code of a worker whose experiment returned a `MeasureError`.
pub const EXIT_MEASURE_ERROR: i32 = 3;
/// Exit code of a worker given a point it cannot run (bad JSON, unknown experiment).
pub const EXIT_BAD_POINT: i32 = 4;

/// Why a run produced no samples.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFailure {
    /// What happened, in words (exit status or signal, and the worker's last stderr lines).
    pub reason: String,
    /// The worker overran its time limit and was killed.
    pub timed_out: bool,
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

fn failure(reason: String) -> RunFailure {
    RunFailure {
        reason,
        timed_out: false,
    }
}

/// The name the worker subcommand is given on the command line.
pub const WORKER_SUBCOMMAND: &str = "__worker";

/// The `--setting` value for a setting.
pub fn setting_name(s: Setting) -> &'static str {
    match s {
        Setting::Smoke => "smoke",
        Setting::Quick => "quick",
        Setting::Full => "full",
    }
}

/// Runs `point` once in a fresh worker process of this executable; kills it after `limit`.
pub fn run_worker(
    point: &PointSpec,
    setting: Setting,
    limit: Duration,
) -> Result<RunSamples, RunFailure> {
    let exe = std::env::current_exe()
        .map_err(|e| failure(format!("finding the lwcbench executable: {e}")))?;
    let json =
        serde_json::to_string(point).map_err(|e| failure(format!("serialising the point: {e}")))?;
    let io = |what: &str, e: std::io::Error| failure(format!("{what}: {e}"));
    let mut out = tempfile::tempfile().map_err(|e| io("creating the worker's stdout file", e))?;
    let mut err = tempfile::tempfile().map_err(|e| io("creating the worker's stderr file", e))?;
    let mut cmd = Command::new(exe);
    cmd.arg(WORKER_SUBCOMMAND)
        .arg("--setting")
        .arg(setting_name(setting))
        .arg("--point")
        .arg(&json)
        .env("LWCBENCH_PARENT_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| io("duplicating stdout", e))?)
        .stderr(err.try_clone().map_err(|e| io("duplicating stderr", e))?)
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| io("starting the worker process", e))?;
    let group = i32::try_from(child.id())
        .map(Pid::from_raw)
        .map_err(|_| failure("worker pid out of range".to_owned()))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait();
                return Err(io("waiting for the worker", e));
            }
        }
    };
    // Whatever the worker started and left behind goes with it.
    let _ = killpg(group, Signal::SIGKILL);
    let stdout = read_all(&mut out);
    let stderr = read_all(&mut err);
    let Some(status) = status else {
        return Err(RunFailure {
            reason: format!(
                "timed out after {:.0} s; worker killed{}",
                limit.as_secs_f64(),
                tail_suffix(&stderr)
            ),
            timed_out: true,
        });
    };
    interpret(status, &stdout, &stderr)
}

fn read_all(f: &mut std::fs::File) -> String {
    let mut s = String::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        s = String::from_utf8_lossy(&bytes).into_owned();
    }
    s
}

/// The worker's outcome from its exit status and output.
fn interpret(status: ExitStatus, stdout: &str, stderr: &str) -> Result<RunSamples, RunFailure> {
    if let Some(sig) = status.signal() {
        let name = Signal::try_from(sig).map_or("unknown signal", Signal::as_str);
        let core = if status.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        return Err(failure(format!(
            "worker killed by signal {sig} ({name}{core}){}",
            tail_suffix(stderr)
        )));
    }
    match status.code() {
        Some(0) => {}
        Some(EXIT_MEASURE_ERROR) => {
            return Err(failure(
                last_line(stderr)
                    .unwrap_or("measure failed, no reason given")
                    .to_owned(),
            ))
        }
        Some(code) => {
            return Err(failure(format!(
                "worker exited with status {code}{}",
                tail_suffix(stderr)
            )))
        }
        None => return Err(failure("worker ended with no exit status".to_owned())),
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| failure(format!("worker printed no samples{}", tail_suffix(stderr))))?;
    let samples: RunSamples = serde_json::from_str(line).map_err(|e| {
        failure(format!(
            "worker output is not RunSamples JSON ({e}): {}",
            clip(line, 200)
        ))
    })?;
    if samples.samples.is_empty() {
        return Err(failure("worker returned no samples".to_owned()));
    }
    Ok(samples)
}

fn last_line(s: &str) -> Option<&str> {
    s.lines().rev().map(str::trim).find(|l| !l.is_empty())
}

/// `": <last stderr lines>"`, or nothing when stderr is empty.
fn tail_suffix(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    format!(": {}", clip(&tail, 600))
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let start = s.chars().count() - n;
        format!("…{}", s.chars().skip(start).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(raw: i32) -> ExitStatus {
        ExitStatus::from_raw(raw)
    }

    #[test]
    fn interprets_success() {
        let out = "noise\n{\"samples\":[1.0,2.0],\"batch\":1}\n";
        let s = interpret(status(0), out, "").expect("ok");
        assert_eq!(s.samples, vec![1.0, 2.0]);
    }

    #[test]
    fn interprets_failures() {
        let e = interpret(status(6), "", "assertion failed\n").unwrap_err();
        assert!(e.reason.contains("signal 6 (SIGABRT"), "{e}");
        assert!(e.reason.contains("assertion failed"), "{e}");
        let e = interpret(
            status(EXIT_MEASURE_ERROR << 8),
            "",
            "x\nnot available here: pku\n",
        )
        .unwrap_err();
        assert_eq!(e.reason, "not available here: pku");
        let e = interpret(status(1 << 8), "", "").unwrap_err();
        assert_eq!(e.reason, "worker exited with status 1");
        let e = interpret(status(0), "garbage\n", "").unwrap_err();
        assert!(e.reason.contains("not RunSamples JSON"), "{e}");
        let e = interpret(status(0), "{\"samples\":[],\"batch\":1}", "").unwrap_err();
        assert!(e.reason.contains("no samples"), "{e}");
        assert!(!e.timed_out);
    }
}

//! Running one measured run in a fresh worker process, with a time limit.
//!
//! ```text
//! lwcbench (parent, has threads: progress bar)
//!   └─ lwcbench __worker --setting S --point JSON     own process group, single-threaded
//!        │  stdout → anonymous temp file: one line of Outcome<RunSamples> JSON
//!        │  stderr → anonymous temp file: diagnostics
//!        └─ processes the experiment forks (lwCs, ring partners), same process group
//! ```
//!
//! The worker's outcome (measured, unavailable, bad point, failed) is the line it printed; its
//! exit status only says whether it managed to print one (`model::exit`). A worker that dies,
//! prints no outcome or overruns its limit is a failed run.
//!
//! Output goes to files rather than pipes, so a grandchild that keeps a descriptor open can never
//! block the parent. When the worker exits, dies or overruns its limit, the whole process group
//! gets SIGKILL and the worker is reaped: nothing it started outlives the run.

use model::{exit, Outcome};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use workloads::{PointSpec, RunSamples, Setting};

/// One run as the harness saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    /// What the worker reported, or [`Outcome::Failed`] with what happened to it (exit status
    /// or signal, and its last stderr lines).
    pub outcome: Outcome<RunSamples>,
    /// The worker overran its time limit and was killed.
    pub timed_out: bool,
}

impl From<Result<Outcome<RunSamples>, String>> for Ran {
    fn from(r: Result<Outcome<RunSamples>, String>) -> Ran {
        Ran {
            outcome: r.unwrap_or_else(Outcome::Failed),
            timed_out: false,
        }
    }
}

/// The name the worker subcommand is given on the command line.
pub const WORKER_SUBCOMMAND: &str = "__worker";

/// Runs `point` once in a fresh worker process of this executable; kills it after `limit`.
pub fn run_worker(point: &PointSpec, setting: Setting, limit: Duration) -> Ran {
    match supervise(point, setting, limit) {
        Ok(ran) => ran,
        Err(reason) => Ran::from(Err(reason)),
    }
}

fn supervise(point: &PointSpec, setting: Setting, limit: Duration) -> Result<Ran, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("finding the lwcbench executable: {e}"))?;
    let json = serde_json::to_string(point).map_err(|e| format!("serialising the point: {e}"))?;
    let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
    let mut out = tempfile::tempfile().map_err(|e| io("creating the worker's stdout file", e))?;
    let mut err = tempfile::tempfile().map_err(|e| io("creating the worker's stderr file", e))?;
    let mut cmd = Command::new(exe);
    cmd.arg(WORKER_SUBCOMMAND)
        .arg("--setting")
        .arg(setting.name())
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
        .map_err(|_| "worker pid out of range".to_owned())?;
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
        return Ok(Ran {
            outcome: Outcome::Failed(format!(
                "timed out after {:.0} s; worker killed{}",
                limit.as_secs_f64(),
                tail_suffix(&stderr)
            )),
            timed_out: true,
        });
    };
    Ok(Ran::from(interpret(status, &stdout, &stderr)))
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

/// The worker's outcome from its exit status and output: the outcome it printed when it exited
/// [`exit::SUCCESS`], else what happened to it.
fn interpret(
    status: ExitStatus,
    stdout: &str,
    stderr: &str,
) -> Result<Outcome<RunSamples>, String> {
    if let Some(sig) = status.signal() {
        let name = Signal::try_from(sig).map_or("unknown signal", Signal::as_str);
        let core = if status.core_dumped() {
            ", core dumped"
        } else {
            ""
        };
        return Err(format!(
            "worker killed by signal {sig} ({name}{core}){}",
            tail_suffix(stderr)
        ));
    }
    match status.code() {
        Some(code) if code == i32::from(exit::SUCCESS) => {}
        Some(code) if code == i32::from(exit::WORKER_UNREPORTED) => {
            return Err(format!(
                "the worker could not report its outcome{}",
                tail_suffix(stderr)
            ))
        }
        Some(code) => {
            return Err(format!(
                "worker exited with status {code}{}",
                tail_suffix(stderr)
            ))
        }
        None => return Err("worker ended with no exit status".to_owned()),
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| format!("worker printed no outcome{}", tail_suffix(stderr)))?;
    let outcome: Outcome<RunSamples> = serde_json::from_str(line).map_err(|e| {
        format!(
            "worker output is not RunSamples JSON in an Outcome ({e}): {}",
            clip(line, 200)
        )
    })?;
    if let Outcome::Measured(run) = &outcome {
        if run.series.is_empty() || run.series.iter().all(|s| s.values.is_empty()) {
            return Err("worker returned no samples".to_owned());
        }
    }
    Ok(outcome)
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
        let out = "noise\n{\"measured\":{\"series\":[{\"name\":\"x\",\"batch\":1,\"values\":{\"samples\":[1.0,2.0]}}]}}\n";
        let Ok(Outcome::Measured(s)) = interpret(status(0), out, "") else {
            panic!("not measured");
        };
        assert_eq!(s, RunSamples::single("x", vec![1.0, 2.0], 1));
    }

    #[test]
    fn an_unavailable_outcome_stays_unavailable() {
        // Guards against "needs two CPUs" reaching the result as an ordinary failure.
        let out = "{\"unavailable\":\"two-cores needs two usable CPUs\"}\n";
        assert_eq!(
            interpret(status(0), out, ""),
            Ok(Outcome::Unavailable(
                "two-cores needs two usable CPUs".into()
            ))
        );
    }

    #[test]
    fn interprets_failures() {
        let e = interpret(status(6), "", "assertion failed\n").unwrap_err();
        assert!(e.contains("signal 6 (SIGABRT"), "{e}");
        assert!(e.contains("assertion failed"), "{e}");
        let code = i32::from(exit::WORKER_UNREPORTED);
        let e = interpret(status(code << 8), "", "x\nstdout closed\n").unwrap_err();
        assert!(
            e.contains("could not report") && e.contains("stdout closed"),
            "{e}"
        );
        let e = interpret(status(1 << 8), "", "").unwrap_err();
        assert_eq!(e, "worker exited with status 1");
        let e = interpret(status(0), "garbage\n", "").unwrap_err();
        assert!(e.contains("not RunSamples JSON"), "{e}");
        let e = interpret(status(0), "{\"measured\":{\"series\":[]}}", "").unwrap_err();
        assert!(e.contains("no samples"), "{e}");
    }
}

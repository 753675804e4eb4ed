//! The worker side: `lwcbench __worker --setting S --point JSON` measures one run.
//!
//! The worker is a fresh, single-threaded process: it starts no thread before measuring (no
//! progress bar, no collector), so an experiment may fork, pin itself and start an lwC group
//! safely. It prints its [`Outcome`] (measured, unavailable, bad point, failed) as one line of
//! JSON on stdout and exits [`exit::SUCCESS`]; it exits [`exit::WORKER_UNREPORTED`] only when
//! it cannot report one.
//!
//! Test hook: `LWCBENCH_FAULT=EXPERIMENT/BACKEND=MODE[,...]` (BACKEND may be `*`) makes matching
//! runs fail on purpose, MODE being `crash` (abort), `error` (a measurement error), `hang` (never
//! return) or `garbage` (print something that is not JSON). It exists so tests can check that a
//! failing point is recorded as failed; it has no other use.

use model::{exit, Outcome};
use nix::sys::signal::Signal;
use std::io::Write;
use workloads::{MeasureError, PointSpec, RunSamples, Setting};

/// Environment variable of the fault-injection test hook.
pub const FAULT_ENV: &str = "LWCBENCH_FAULT";

/// Runs the worker; returns the process exit code.
pub fn main(setting: Setting, point_json: &str) -> u8 {
    // Die with the parent: a worker never outlives the harness that waits for it.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if let Ok(parent) = std::env::var("LWCBENCH_PARENT_PID") {
        if parent != nix::unistd::getppid().to_string() {
            eprintln!("lwcbench worker: parent {parent} is gone");
            return exit::WORKER_UNREPORTED;
        }
    }
    let outcome = match outcome(setting, point_json) {
        Some(o) => o,
        None => {
            println!("this is not JSON");
            return exit::SUCCESS;
        }
    };
    let Ok(line) = serde_json::to_string(&outcome) else {
        eprintln!("lwcbench worker: serialising the outcome failed");
        return exit::WORKER_UNREPORTED;
    };
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => exit::SUCCESS,
        Err(e) => {
            eprintln!("lwcbench worker: writing the outcome: {e}");
            exit::WORKER_UNREPORTED
        }
    }
}

/// Measures the point; `None` when the fault hook asks for garbage instead.
fn outcome(setting: Setting, point_json: &str) -> Option<Outcome<RunSamples>> {
    let point: PointSpec = match serde_json::from_str(point_json) {
        Ok(p) => p,
        Err(e) => {
            return Some(Outcome::BadPoint(format!(
                "--point is not a PointSpec: {e}"
            )))
        }
    };
    let Some(exp) = crate::suite::by_id(&point.id.experiment) else {
        return Some(Outcome::BadPoint(format!(
            "unknown experiment {:?}",
            point.id.experiment
        )));
    };
    if let Some(mode) = injected_fault(&point) {
        match mode.as_str() {
            "crash" => std::process::abort(),
            "error" => {
                return Some(Outcome::Failed(format!(
                    "injected fault ({FAULT_ENV}): error"
                )))
            }
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            "garbage" => return None,
            other => {
                return Some(Outcome::BadPoint(format!(
                    "unknown {FAULT_ENV} mode {other:?}"
                )))
            }
        }
    }
    Some(MeasureError::outcome(exp.measure(&point, setting)))
}

/// The fault mode `LWCBENCH_FAULT` asks for at this point, if any.
fn injected_fault(point: &PointSpec) -> Option<String> {
    let spec = std::env::var(FAULT_ENV).ok()?;
    parse_fault(&spec, &point.id.experiment, &point.id.backend)
}

fn parse_fault(spec: &str, experiment: &str, backend: &str) -> Option<String> {
    spec.split(',').find_map(|item| {
        let (target, mode) = item.trim().split_once('=')?;
        let (e, b) = target.split_once('/')?;
        (e == experiment && (b == "*" || b == backend)).then(|| mode.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_fault;

    #[test]
    fn fault_specs_match_experiment_and_backend() {
        let spec = "switch/lwc=crash, create/*=hang";
        assert_eq!(parse_fault(spec, "switch", "lwc"), Some("crash".into()));
        assert_eq!(parse_fault(spec, "switch", "coroutine"), None);
        assert_eq!(parse_fault(spec, "create", "process"), Some("hang".into()));
        assert_eq!(parse_fault("nonsense", "switch", "lwc"), None);
    }
}

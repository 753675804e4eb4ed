//! The worker side: `lwcbench __worker --setting S --point JSON` measures one run.
//!
//! The worker is a fresh, single-threaded process: it starts no thread before measuring (no
//! progress bar, no collector), so an experiment may fork, pin itself and start an lwC group
//! safely. It prints the `RunSamples` as one line of JSON on stdout and exits 0; on a measurement
//! error it prints the reason on stderr and exits [`EXIT_MEASURE_ERROR`].
//!
//! Test hook: `LWCBENCH_FAULT=EXPERIMENT/BACKEND=MODE[,...]` (BACKEND may be `*`) makes matching
//! runs fail on purpose, MODE being `crash` (abort), `error` (a measurement error), `hang` (never
//! return) or `garbage` (print something that is not JSON). It exists so tests can check that a
//! failing point is recorded as failed; it has no other use.

use crate::supervise::{EXIT_BAD_POINT, EXIT_MEASURE_ERROR};
use nix::sys::signal::Signal;
use std::io::Write;
use workloads::{PointSpec, Setting};

/// Environment variable of the fault-injection test hook.
pub const FAULT_ENV: &str = "LWCBENCH_FAULT";

/// Runs the worker; returns the process exit code.
pub fn main(setting: Setting, point_json: &str) -> i32 {
    // Die with the parent: a worker never outlives the harness that waits for it.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if let Ok(parent) = std::env::var("LWCBENCH_PARENT_PID") {
        if parent != nix::unistd::getppid().to_string() {
            eprintln!("lwcbench worker: parent {parent} is gone");
            return EXIT_BAD_POINT;
        }
    }
    let point: PointSpec = match serde_json::from_str(point_json) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lwcbench worker: --point is not a PointSpec: {e}");
            return EXIT_BAD_POINT;
        }
    };
    let Some(exp) = crate::suite::by_id(&point.experiment) else {
        eprintln!("lwcbench worker: unknown experiment {:?}", point.experiment);
        return EXIT_BAD_POINT;
    };
    if let Some(mode) = injected_fault(&point) {
        match mode.as_str() {
            "crash" => std::process::abort(),
            "error" => {
                eprintln!("injected fault ({FAULT_ENV}): error");
                return EXIT_MEASURE_ERROR;
            }
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            },
            "garbage" => {
                println!("this is not JSON");
                return 0;
            }
            other => {
                eprintln!("lwcbench worker: unknown {FAULT_ENV} mode {other:?}");
                return EXIT_BAD_POINT;
            }
        }
    }
    match exp.measure(&point, setting) {
        Ok(samples) => match serde_json::to_string(&samples) {
            Ok(line) => {
                let mut out = std::io::stdout().lock();
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    return EXIT_MEASURE_ERROR;
                }
                0
            }
            Err(e) => {
                eprintln!("serialising the samples: {e}");
                EXIT_MEASURE_ERROR
            }
        },
        Err(e) => {
            eprintln!("{e}");
            EXIT_MEASURE_ERROR
        }
    }
}

/// The fault mode `LWCBENCH_FAULT` asks for at this point, if any.
fn injected_fault(point: &PointSpec) -> Option<String> {
    let spec = std::env::var(FAULT_ENV).ok()?;
    parse_fault(&spec, &point.experiment, &point.backend)
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

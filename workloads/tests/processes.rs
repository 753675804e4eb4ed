//! Tests that fork, spawn or start an lwC group. They run one at a time on the main thread
//! (libtest-mimic, `test_threads = 1`), because forking a multi-threaded test process can
//! deadlock the child. Compatible with cargo-nextest (one process per test).

use libtest_mimic::{Arguments, Failed, Trial};
use workloads::experiment::{MeasureError, RunSamples, Setting};
use workloads::{isolate, stats};

fn check_samples(what: &str, r: &RunSamples) -> Result<(), Failed> {
    if r.samples.is_empty() {
        return Err(format!("{what}: no samples").into());
    }
    if let Some(bad) = r.samples.iter().find(|x| !x.is_finite() || **x <= 0.0) {
        return Err(format!("{what}: bad sample {bad}").into());
    }
    if r.batch == 0 {
        return Err(format!("{what}: batch 0").into());
    }
    if let Some((k, v)) = r.counters.iter().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        return Err(format!("{what}: bad counter {k} = {v}").into());
    }
    Ok(())
}

/// Fails if this process has a child left (not reaped, or still running).
fn no_children_left() -> Result<(), Failed> {
    use rustix::process::{waitpid, WaitOptions};
    match waitpid(None, WaitOptions::NOHANG) {
        Err(rustix::io::Errno::CHILD) => Ok(()),
        other => Err(format!("a child process was left behind: {other:?}").into()),
    }
}

/// Measures every point `experiment` plans for `backend` in Smoke mode, `runs` times each, and
/// checks the samples; `Unavailable` is accepted when `allow_unavailable` says so.
fn smoke(
    experiment: &'static str,
    backend: &'static str,
    allow_unavailable: fn(&str) -> bool,
) -> Trial {
    Trial::test(format!("{experiment}::{backend}"), move || {
        let e = workloads::by_id(experiment).ok_or("unknown experiment")?;
        let points = e.plan(Setting::Smoke, &[backend.to_string()]);
        if points.is_empty() {
            return Err("empty plan".into());
        }
        for p in &points {
            let what = format!("{backend} {:?}", p.params);
            let mut runs = Vec::new();
            for _ in 0..p.runs {
                match e.measure(p, Setting::Smoke) {
                    Ok(r) => {
                        check_samples(&what, &r)?;
                        runs.push(r);
                    }
                    Err(MeasureError::Unavailable(why)) if allow_unavailable(&why) => {
                        eprintln!("{what}: unavailable: {why}");
                        break;
                    }
                    Err(err) => return Err(format!("{what}: {err}").into()),
                }
            }
            if !runs.is_empty() {
                let s = stats::try_summarize(&runs, &p.unit).map_err(|e| e.to_string())?;
                if !(s.min <= s.p50 && s.p50 <= s.max) {
                    return Err(format!("{what}: p50 outside [min, max]: {s:?}").into());
                }
            }
            no_children_left()?;
        }
        Ok(())
    })
}

fn only_two_cores(why: &str) -> bool {
    why.contains("two usable CPUs")
}

fn isolate_tests() -> Vec<Trial> {
    vec![
        Trial::test("isolate::value_comes_back", || {
            let pid = std::process::id();
            let (child_pid, v): (u32, Vec<f64>) =
                isolate::run_isolated(|| Ok((std::process::id(), vec![1.5, 2.5])))
                    .map_err(|e| e.to_string())?;
            if child_pid == pid || v != vec![1.5, 2.5] {
                return Err(format!("got {child_pid} {v:?}").into());
            }
            no_children_left()
        }),
        Trial::test("isolate::errors_come_back", || {
            let r: Result<u8, _> =
                isolate::run_isolated(|| Err(MeasureError::Unavailable("nope".into())));
            if !matches!(r, Err(MeasureError::Unavailable(ref m)) if m == "nope") {
                return Err(format!("got {r:?}").into());
            }
            no_children_left()
        }),
        Trial::test("isolate::child_panic_is_an_error", || {
            // Keep the expected panic message out of the test output.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let r: Result<u8, _> = isolate::run_isolated(|| panic!("boom"));
            std::panic::set_hook(hook);
            match r {
                Err(MeasureError::Os { .. }) => no_children_left(),
                other => Err(format!("got {other:?}").into()),
            }
        }),
        Trial::test("isolate::refuses_with_threads", || {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let t = std::thread::spawn(move || rx.recv());
            let r: Result<u8, _> = isolate::run_isolated(|| Ok(1));
            drop(tx);
            let _ = t.join();
            match r {
                Err(MeasureError::Os { op: "fork", .. }) => Ok(()),
                other => Err(format!("fork with two threads: {other:?}").into()),
            }
        }),
    ]
}

fn mock_is_deterministic() -> Trial {
    Trial::test("mock::deterministic", || {
        for e in workloads::all() {
            for p in e.plan(Setting::Smoke, &["mock".to_string()]) {
                let a = e.measure(&p, Setting::Smoke).map_err(|e| e.to_string())?;
                let b = e.measure(&p, Setting::Smoke).map_err(|e| e.to_string())?;
                if a != b {
                    return Err(format!("{}: {a:?} != {b:?}", e.id()).into());
                }
                check_samples("mock", &a)?;
            }
        }
        Ok(())
    })
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let mut tests = isolate_tests();
    tests.push(mock_is_deterministic());
    for b in [
        "process-pipe",
        "process-futex",
        "thread-futex",
        "thread-condvar",
        "coroutine",
    ] {
        tests.push(smoke("switch", b, only_two_cores));
    }
    for b in ["lwc", "lwc-spin", "process-spin"] {
        tests.push(smoke("switch", b, only_two_cores));
    }
    for b in ["fork", "spawn", "thread"] {
        tests.push(smoke("create", b, |_| false));
    }
    tests.push(smoke("create", "lwc", only_two_cores));
    libtest_mimic::run(&args, tests).exit();
}

//! Tests that fork, spawn or start an lwC group. They run one at a time on the main thread
//! (libtest-mimic, `test_threads = 1`), because forking a multi-threaded test process can
//! deadlock the child. Compatible with cargo-nextest (one process per test).

use libtest_mimic::{Arguments, Failed, Trial};
use model::{Counter, Values};
use workloads::experiment::{MeasureError, RunSamples, Setting};
use workloads::experiments::{scale, switch};
use workloads::isolate;
use workloads::measure::{Placement, SamplePlan};

/// Checks the run's series `name`: samples, all finite and positive, a batch that is a multiple
/// of `batch_multiple`; counters finite and not negative, or unavailable with a reason.
fn check_series(what: &str, r: &RunSamples, name: &str, batch_multiple: u64) -> Result<(), Failed> {
    let series = r
        .series(name)
        .ok_or_else(|| format!("{what}: no series {name}: {r:?}"))?;
    let Values::Samples(samples) = &series.values else {
        return Err(format!("{what}: a histogram instead of samples").into());
    };
    if samples.is_empty() {
        return Err(format!("{what}: no samples").into());
    }
    if let Some(bad) = samples.iter().find(|x| !x.is_finite() || **x <= 0.0) {
        return Err(format!("{what}: bad sample {bad}").into());
    }
    // Batches are a power of two of operations (laps): the switches per lap times a power of
    // two. A ring that counts its switches per lap wrong fails here.
    if series.batch == 0
        || series.batch % batch_multiple != 0
        || !(series.batch / batch_multiple).is_power_of_two()
    {
        return Err(format!(
            "{what}: batch {} (want {batch_multiple} times a power of two)",
            series.batch
        )
        .into());
    }
    for (k, c) in &r.counters {
        match c {
            Counter::Value(v) if !v.is_finite() || *v < 0.0 => {
                return Err(format!("{what}: bad counter {k} = {v}").into())
            }
            Counter::Unavailable { unavailable } if unavailable.is_empty() => {
                return Err(format!("{what}: counter {k} unavailable without a reason").into())
            }
            _ => {}
        }
    }
    Ok(())
}

fn check_samples(what: &str, r: &RunSamples) -> Result<(), Failed> {
    let name = r.series.first().map(|s| s.name.clone()).unwrap_or_default();
    check_series(what, r, &name, 1)
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
            let what = format!("{backend} {:?}", p.id.params);
            let mut runs = Vec::new();
            for _ in 0..p.runs {
                match e.measure(p, Setting::Smoke) {
                    Ok(r) => {
                        // A ring of K counts K switches a lap (`tlb`'s `parties`).
                        let per_lap = match p.id.params.get("parties") {
                            Some(model::Param::Int(k)) => *k as u64,
                            _ => 1,
                        };
                        check_series(&what, &r, &p.metrics[0].name, per_lap)?;
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
                let name = &p.metrics[0].name;
                let values: Vec<&Values> = runs
                    .iter()
                    .filter_map(|r| r.series(name))
                    .map(|s| &s.values)
                    .collect();
                let s = model::stats::summarize(&values).map_err(|e| e.to_string())?;
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

fn no_huge_pages(why: &str) -> bool {
    why.contains("huge pages")
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
                Err(MeasureError::Os { .. } | MeasureError::Failed(_)) => no_children_left(),
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

/// A ring of three parties for `backend`, on one CPU and (where there are two) alternating
/// between two: control must come back to the caller every lap (a party that passes control to
/// the wrong neighbour, or a lap counted as two switches, fails here; a lost hand-off hangs), and
/// no partner is left afterwards.
fn ring_of_three(backend: &'static str) -> Trial {
    Trial::test(format!("ring::{backend}::three_parties"), move || {
        let b = switch::BACKENDS
            .iter()
            .find(|b| b.info.name == backend)
            .ok_or("unknown backend")?;
        let plan = SamplePlan {
            warmup: std::time::Duration::ZERO,
            max_samples: 10,
            min_samples: 3,
            budget: std::time::Duration::from_millis(5),
        };
        // corosensei's asymmetric coroutines: 2 switches per coroutine and lap.
        let per_lap = if backend == "coroutine" { 4 } else { 3 };
        for placement in Placement::ALL {
            let cpus = match placement.ring(3) {
                Ok(c) => c,
                Err(MeasureError::Unavailable(why)) => {
                    eprintln!("{backend} {placement:?}: {why}");
                    continue;
                }
                Err(e) => return Err(e.to_string().into()),
            };
            let what = format!("{backend} ring of 3 on {cpus:?}");
            match b.context.measure(&cpus, "ring", &plan) {
                Ok(r) => check_series(&what, &r, "ring", per_lap)?,
                // One CPU for a coroutine; distinct CPUs for a spinning hand-off.
                Err(MeasureError::Unavailable(why)) => eprintln!("{what}: unavailable: {why}"),
                Err(e) => return Err(format!("{what}: {e}").into()),
            }
            no_children_left()?;
        }
        Ok(())
    })
}

/// Runs `f` with this process renamed to a tag no other process has, then checks that no
/// process with the tag is left (forked processes and lwCs inherit the name), waiting up to 2 s
/// for the dying to go. Other engineers' and the system's processes never carry the tag, so a
/// busy machine cannot fail the check.
fn leaves_no_process<T>(f: impl FnOnce() -> T) -> Result<T, Failed> {
    let old = std::fs::read_to_string("/proc/self/comm").map_err(|e| e.to_string())?;
    let tag = format!("sc{}", std::process::id());
    let name = std::ffi::CString::new(tag.clone()).map_err(|e| e.to_string())?;
    rustix::thread::set_name(&name).map_err(|e| e.to_string())?;
    let out = f();
    if let Ok(old) = std::ffi::CString::new(old.trim_end()) {
        let _ = rustix::thread::set_name(&old);
    }
    let me = std::process::id().to_string();
    let tagged = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|pid| pid != &me && pid.bytes().all(|b| b.is_ascii_digit()))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim_end() == tag)
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let left = tagged();
        if left.is_empty() {
            break;
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("processes left behind: {left:?}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    no_children_left()?;
    Ok(out)
}

fn scale_point(backend: &str, sessions: usize) -> Result<scale::ScalePoint, Failed> {
    let b = scale::BACKENDS
        .iter()
        .find(|b| b.info.name == backend)
        .ok_or("unknown backend")?;
    Ok(scale::ScalePoint {
        backend: b,
        sessions,
        state_bytes: 64 << 10,
    })
}

/// A forced tiny memory ceiling (1 MiB, while 64 sessions need at least 4 MiB of state) must
/// stop the sweep early, as unavailable with the guard's reason, and leave no session behind.
/// Guards against a guard that is never consulted, or a stop that leaks the sessions made.
fn scale_stops_early(backend: &'static str) -> Trial {
    Trial::test(
        format!("scale::{backend}::memory_guard_stops_early"),
        move || {
            let point = scale_point(backend, 64)?;
            let limits = scale::RunLimits {
                guard: scale::Guard::fixed(1 << 20).map_err(|e| e.to_string())?,
                fail_session: None,
            };
            let r = leaves_no_process(|| point.measure_with(Setting::Smoke, limits))?;
            match r {
                Err(MeasureError::Unavailable(why)) if why.contains("memory guard") => Ok(()),
                other => Err(format!("{backend}: expected a guard stop, got {other:?}").into()),
            }
        },
    )
}

/// A session that fails at its creation (the sixth of 16) must fail the run, and every session
/// made before it must be gone afterwards. Guards against an error path that returns early and
/// leaves the processes (or lwCs) of the sessions made so far running.
fn scale_failure_leaves_nothing(backend: &'static str) -> Trial {
    Trial::test(
        format!("scale::{backend}::failed_step_leaves_no_process"),
        move || {
            let point = scale_point(backend, 16)?;
            let limits = scale::RunLimits {
                guard: scale::Guard::fixed(u64::MAX).map_err(|e| e.to_string())?,
                fail_session: Some(5),
            };
            let r = leaves_no_process(|| point.measure_with(Setting::Smoke, limits))?;
            match r {
                Err(MeasureError::Failed(why)) if why.contains("session 5") => Ok(()),
                other => {
                    Err(format!("{backend}: expected session 5 to fail, got {other:?}").into())
                }
            }
        },
    )
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let mut tests = isolate_tests();
    tests.push(mock_is_deterministic());
    for b in [
        "process-pipe",
        "process-futex",
        "process-spin",
        "thread-futex",
        "thread-condvar",
        "coroutine",
    ] {
        tests.push(smoke("switch", b, only_two_cores));
    }
    for b in ["lwc", "lwc-spin"] {
        tests.push(smoke("switch", b, only_two_cores));
    }
    for b in switch::BACKENDS.iter().filter(|b| b.info.default) {
        tests.push(ring_of_three(b.info.name));
    }
    for b in ["fork", "spawn", "thread"] {
        tests.push(smoke("create", b, |_| false));
    }
    tests.push(smoke("create", "lwc", only_two_cores));
    // Both sweeps of `tlb` (W pages after each switch; a ring of K) in the smoke setting.
    for b in ["thread-futex", "process-futex", "lwc"] {
        tests.push(smoke("tlb", b, no_huge_pages));
    }
    for b in ["lwc", "process", "thread"] {
        tests.push(smoke("scale", b, |_| false));
        tests.push(scale_stops_early(b));
        tests.push(scale_failure_leaves_nothing(b));
    }
    libtest_mimic::run(&args, tests).exit();
}

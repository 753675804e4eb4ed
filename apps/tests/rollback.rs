//! Isolation between sessions of the rollback handler, for every strategy: a session writes a
//! marker into the state (heap and statics); the next session must not see it, and the state
//! after the return to pristine must hash to the pristine checksum (every byte of the nodes,
//! buckets, session log and statics). `none` is the control: there the marker must be seen and
//! the checksum must differ, so a probe that sees nothing cannot pass the others.
//!
//! The handlers fork (and start lwC groups), so this binary runs its tests on its one thread
//! (libtest-mimic, `harness = false`); the unprivileged test forks a child of its own to change
//! its user. Every handler's process group is killed when its driver is dropped, also when a
//! test panics.
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use apps::rollback::{Driver, HandlerConfig, RollbackError, Strategy};
use libtest_mimic::{Arguments, Failed, Trial};

const MARKER: u64 = 0x5EC2_E70F_5E55_1011;

fn cpu() -> usize {
    workloads::measure::Placement::SameCore
        .cpus()
        .map(|(c, _)| c)
        .unwrap_or(0)
}

fn config(strategy: Strategy, state_bytes: usize) -> HandlerConfig {
    HandlerConfig {
        strategy,
        state_bytes,
        pages_per_request: 4,
        cpu: cpu(),
    }
}

fn check(ok: bool, what: String) -> Result<(), Failed> {
    if ok {
        Ok(())
    } else {
        Err(what.into())
    }
}

/// `rounds` sessions, each writing a marker and requests, each followed by a check of the next
/// session's view. Guards against a strategy that leaks a session's writes to the next one
/// (in the heap, in the statics, or anywhere the checksum covers), including after a pool's
/// refill (`rounds` past its size).
fn isolation(cfg: HandlerConfig, rounds: u32) -> Result<(), Failed> {
    let s = cfg.strategy.name();
    let mut d = match Driver::start(cfg) {
        Err(RollbackError::Unavailable(why)) => {
            eprintln!("{s}: unavailable here ({why}); only the report is checked");
            return check(
                !why.is_empty(),
                format!("{s}: unavailable without a reason"),
            );
        }
        r => r.map_err(|e| format!("{s}: start: {e}"))?,
    };
    let pristine = d.checksum().map_err(|e| e.to_string())?;
    for round in 0..rounds {
        let marker = MARKER ^ u64::from(round);
        d.mark(marker).map_err(|e| e.to_string())?;
        check(
            d.peek(marker).map_err(|e| e.to_string())? == 0b11,
            format!("{s} round {round}: the marker is not seen in its own session"),
        )?;
        d.session(3).map_err(|e| e.to_string())?;
        // `session` ended that session; this is the next one.
        let seen = d.peek(marker).map_err(|e| e.to_string())?;
        let sum = d.checksum().map_err(|e| e.to_string())?;
        if cfg.strategy.isolates() {
            check(
                seen == 0,
                format!("{s} round {round}: the next session sees the marker (bits {seen:#b})"),
            )?;
            check(
                sum == pristine,
                format!("{s} round {round}: the state after rollback is not pristine"),
            )?;
        } else {
            check(
                seen == 0b11 && sum != pristine,
                format!("{s}: the dirty state is not seen (the probes are blind)"),
            )?;
        }
    }
    d.quit().map_err(|e| format!("{s}: quit: {e}").into())
}

/// Runs `body` in a forked child as uid/gid 65534, dumpable as an ordinary program is.
fn as_nobody(body: fn() -> Result<(), Failed>) -> Result<(), Failed> {
    // SAFETY: the test binary runs its tests on its one thread, so the child inherits no lock
    // held by another; it leaves with _exit and never returns into the caller's frames.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()).into());
    }
    if pid == 0 {
        // SAFETY: plain system calls on our own process.
        let ok = unsafe {
            libc::setgroups(0, std::ptr::null()) == 0
                && libc::setgid(65534) == 0
                && libc::setuid(65534) == 0
                && libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) == 0
        };
        let code = match (ok, std::panic::catch_unwind(body)) {
            (false, _) => 3,
            (true, Ok(Ok(()))) => 0,
            (true, Ok(Err(e))) => {
                eprintln!("as nobody: {e:?}");
                1
            }
            (true, Err(_)) => 101,
        };
        // SAFETY: ends the child without running the parent's destructors twice.
        unsafe { libc::_exit(code) };
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut status = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return check(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                format!("the unprivileged child ended with status {status:#x}"),
            );
        }
        if Instant::now() > deadline {
            // SAFETY: kill of our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            return Err("the unprivileged child hung".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One run of every smoke point of the experiment. Guards against a strategy that fails under
/// the harness's measure, and against a run that reports a series empty, non-finite or missing.
fn smoke_points() -> Result<(), Failed> {
    use apps::experiments::rollback::{Rollback, REQUESTS, ROLLBACK, SESSIONS};
    use workloads::{Experiment, MeasureError, Setting};
    for spec in Rollback.plan(Setting::Smoke, &[]) {
        let label = spec.id.label();
        let run = match Rollback.measure(&spec, Setting::Smoke) {
            Err(MeasureError::Unavailable(why)) if !why.is_empty() => continue,
            r => r.map_err(|e| format!("{label}: {e}"))?,
        };
        for name in [SESSIONS, REQUESTS, ROLLBACK] {
            let Some(model::Values::Samples(v)) = run.series(name).map(|s| &s.values) else {
                return Err(format!("{label}: no samples of {name}").into());
            };
            check(
                !v.is_empty() && v.iter().all(|x| x.is_finite() && *x > 0.0),
                format!("{label}: {name} = {v:?}"),
            )?;
        }
    }
    Ok(())
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let mut tests: Vec<Trial> = Strategy::ALL
        .into_iter()
        .map(|s| {
            let rounds = if s == Strategy::LwcPool { 20 } else { 3 };
            Trial::test(format!("isolation::{}", s.name()), move || {
                isolation(config(s, 2 << 20), rounds)
            })
        })
        .collect();
    tests.push(Trial::test("isolation::lwc-inplace_write_log", || {
        // A state of 160 MiB: its node array is one mapping past in-place rollback's 128 MiB
        // threshold, so its writes are found by the write log rather than by a page scan.
        isolation(config(Strategy::LwcInPlace, 160 << 20), 3)
    }));
    tests.push(Trial::test("isolation::unprivileged", || {
        // Guards against strategies that only isolate with root's powers (in place falls back
        // to user-mode userfaultfd, the copies run without capabilities).
        as_nobody(|| {
            for s in [Strategy::LwcSnapshot, Strategy::LwcInPlace, Strategy::Fork] {
                isolation(config(s, 2 << 20), 2)?;
            }
            Ok(())
        })
    }));
    tests.push(Trial::test(
        "memory_guard::too_large_is_unavailable",
        || {
            // Guards against a sweep point that would run the machine out of memory: it must be
            // reported unavailable, with the reason, before anything is built.
            match Driver::start(config(Strategy::LwcInPlace, 1 << 42)) {
                Err(RollbackError::Unavailable(why)) => {
                    check(why.contains("MemAvailable"), format!("reason: {why}"))
                }
                Err(e) => Err(format!("expected unavailable, got {e}").into()),
                Ok(_) => Err("a 4 TiB state was started".into()),
            }
        },
    ));
    tests.push(Trial::test(
        "experiment::smoke_points_measure",
        smoke_points,
    ));
    libtest_mimic::run(&args, tests).exit();
}

//! `lwc-systrap`: the paper's design. The sandbox is a child lwC created with
//! `Systrap::all()`; every system call it makes (but the runtime's own futex waits and its
//! exits) comes to its parent lwC, the monitor, as a switch carrying the call, and the monitor
//! answers it from the policy (`Answer::Run` or `Answer::Deny`).
//!
//! ```text
//!   driver ──fork (run_isolated)──► lwc::init ─► monitor lwC
//!                                     │ create(share(window), systrap(all)) ─► sandbox lwC
//!                                     │ switch ─► sandbox runs the body
//!                                     │ ◄─ trap(openat, ...)  decide (path from the window)
//!                                     │ answer(Run | Deny) ─► ...
//!                                     │ ◄─ switch back: the result is in the window
//!                                     └ result → the driver; the group ends
//! ```

use lwc::{Answer, Args, Created, Error, GroupConfig, Options, Spec, Switched, Systrap};
use serde::de::DeserializeOwned;
use serde::Serialize;
use workloads::isolate::run_isolated;
use workloads::MeasureError;

use super::mechanism::{read_result, write_result, Ended, MonitorError};
use super::policy::{Policy, Verdict};
use super::sandbox::{Files, Sandbox, WINDOW_LEN};

/// Runs `body` in a sandboxed lwC of a fresh group (in a forked child) and returns its result.
pub(crate) fn run<T, F>(files: &Files, policy: &Policy, body: F) -> Result<T, MonitorError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(Sandbox) -> T,
{
    let paths = files.window_paths();
    let policy = policy.clone();
    let r = run_isolated(move || -> Result<Result<T, Ended>, MeasureError> {
        lwc::init(&GroupConfig::default())?;
        let window = lwc::SharedRegion::new(WINDOW_LEN)?;
        for (at, path) in &paths {
            window.write(*at, path)?;
        }
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let spec = Spec::new().share(&window);
        match super::sys::lwc_create(&spec, &Options::new().systrap(Systrap::all()))? {
            Created::Parent(sandbox) => Ok(monitor(&sandbox, &policy, &window)),
            Created::Child { caller, .. } => {
                let result = body(Sandbox::new(window.as_ptr() as u64, me));
                let code = match write_result(&window, &Ok::<T, Ended>(result)) {
                    Ok(()) => 0,
                    Err(_) => 2,
                };
                // The monitor never switches back; if the switch fails, leave.
                let _ = lwc::switch(&caller, Args([code, 0, 0, 0, 0, 0]));
                super::sys::exit_now(3)
            }
        }
    });
    match r {
        Ok(inner) => inner.map_err(MonitorError::from),
        Err(MeasureError::Lwc(e)) => Err(MonitorError::Lwc(e)),
        Err(e) => Err(MonitorError::Sandbox(e.to_string())),
    }
}

/// The monitor's loop: runs the sandbox, answers each trapped call from the policy, and reads
/// the result once the sandbox switches back.
fn monitor<T: DeserializeOwned>(
    sandbox: &lwc::Lwc,
    policy: &Policy,
    window: &lwc::SharedRegion,
) -> Result<T, Ended> {
    let died = |e: Error| match e {
        Error::Dead { .. } => Ended::Died(format!("{e}")),
        e => Ended::Failed(e.to_string()),
    };
    let mut event: Switched = lwc::switch(sandbox, Args::NONE).map_err(died)?;
    while let Some(trap) = event.trap {
        let answer = match policy.decide(trap.nr, &trap.args, window) {
            Verdict::Allow => Answer::Run,
            Verdict::Deny(e) => Answer::Deny(e),
        };
        event = lwc::answer(trap, answer).map_err(died)?;
    }
    if event.args.0[0] != 0 {
        return Err(Ended::Failed(
            "the sandbox could not write its result".into(),
        ));
    }
    let bytes = read_result(window).map_err(|e| Ended::Failed(e.to_string()))?;
    let r: Result<T, Ended> =
        serde_json::from_slice(&bytes).map_err(|e| Ended::Failed(e.to_string()))?;
    r
}

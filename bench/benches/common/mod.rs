//! Shared helpers of the criterion benches (`cargo bench`).
//!
//! - `benches/switch.rs`: one-way switch latency per backend and placement (same core, two
//!   cores), reusing the `workloads` backends; each session is opened outside the timed loop.
//! - `benches/create.rs`: create + finish of a context (fork, posix_spawn, thread, lwC) with
//!   1 MiB of resident memory and no page written.
//!
//! The benches fork, so criterion is built without rayon (its only source of threads).

use std::time::Duration;

use criterion::Criterion;
use workloads::MeasureError;

/// Criterion set up to keep every bench short: 10 samples, 0.3 s warm-up, 1 s of measurement.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

/// The value of `r`, or a message on stderr and exit status 1: a bench cannot return an error.
pub fn or_exit<T>(what: &str, r: Result<T, MeasureError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bench {what}: {e}");
            std::process::exit(1)
        }
    }
}

/// The value of `r`, or `None` with a message on stderr when the bench cannot run here
/// (`Unavailable`); any other error exits as [`or_exit`] does.
pub fn available<T>(what: &str, r: Result<T, MeasureError>) -> Option<T> {
    match r {
        Err(MeasureError::Unavailable(why)) => {
            eprintln!("bench {what}: skipped: {why}");
            None
        }
        r => Some(or_exit(what, r)),
    }
}

//! `lwcbench serve` and the `http-server` binary: run a server until SIGINT or SIGTERM, then
//! stop its workers in order and print their counters.

use std::io::Write;
use std::time::Duration;

use super::config::Config;
use super::server::{Server, ServerError};
use super::stats::Stats;
use crate::sys;

/// How often the parent checks on its workers while it waits for a signal.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// Runs a server with `cfg` until SIGINT or SIGTERM. Prints `listening on http://ADDR` (one
/// line, flushed) once the workers run, and at the end one `worker N: counters` line per worker
/// and a `total:` line. An error if a worker ends by itself. Call it single-threaded.
pub fn serve(cfg: &Config, out: &mut dyn Write) -> Result<Vec<Stats>, ServerError> {
    let os = |op| move |source| ServerError::Os { op, source };
    // Blocked before the workers exist: they unblock them, the parent takes them in order.
    sys::block_stop_signals().map_err(os("block SIGINT and SIGTERM"))?;
    let mut server = Server::start(cfg)?;
    let cpus: Vec<String> = server
        .workers()
        .iter()
        .map(|(_, c)| c.to_string())
        .collect();
    writeln!(
        out,
        "listening on http://{} (isolation {}, {} worker(s) on CPU {})",
        server.addr(),
        cfg.isolation,
        cfg.workers,
        cpus.join(",")
    )
    .and_then(|()| out.flush())
    .map_err(os("print the address"))?;
    loop {
        if sys::wait_for_stop_signal(CHECK_EVERY)
            .map_err(os("wait for a signal"))?
            .is_some()
        {
            break;
        }
        server.check()?;
    }
    let stats = server.stop()?;
    for (i, s) in stats.iter().enumerate() {
        let _ = writeln!(out, "worker {i}: {s}");
    }
    let _ = writeln!(out, "total: {}", Stats::total(&stats));
    let _ = out.flush();
    Ok(stats)
}

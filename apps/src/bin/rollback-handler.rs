//! Runs the rollback handler under one strategy and drives it with sessions, for debugging:
//! prints the start-up time, sessions/s, requests/s and rollback latency percentiles, and
//! checks after the last session that the state is pristine.
//!
//! `cargo run --release -p apps --bin rollback-handler -- --strategy lwc-pool --requests 16`

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use apps::rollback::{Driver, HandlerConfig, Strategy};
use clap::Parser;

/// Drive the rollback handler with sessions of requests.
#[derive(Debug, Parser)]
struct Cli {
    /// reinit, fork, lwc-snapshot, lwc-pool, lwc-inplace or none.
    #[arg(long, default_value = "lwc-snapshot")]
    strategy: String,
    /// State built at start-up, in MiB.
    #[arg(long, default_value_t = 64)]
    state_mib: usize,
    /// Pages each request writes.
    #[arg(long, default_value_t = 4)]
    pages: usize,
    /// Requests per session.
    #[arg(long, default_value_t = 16)]
    requests: u32,
    /// Sessions to run.
    #[arg(long, default_value_t = 200)]
    sessions: u32,
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn run(cli: &Cli) -> Result<()> {
    let strategy = Strategy::by_name(&cli.strategy).with_context(|| {
        format!(
            "unknown strategy {:?}; one of {}",
            cli.strategy,
            Strategy::ALL.map(Strategy::name).join(", ")
        )
    })?;
    let cpu = workloads::measure::Placement::SameCore
        .cpus()
        .map(|(c, _)| c)
        .context("choosing a CPU")?;
    let mut driver = Driver::start(HandlerConfig {
        strategy,
        state_bytes: cli.state_mib << 20,
        pages_per_request: cli.pages,
        cpu,
    })
    .context("starting the handler")?;
    let pristine = driver.checksum().context("pristine checksum")?;
    let mut totals = Vec::new();
    let mut rollbacks = Vec::new();
    for _ in 0..cli.sessions {
        let t = driver.session(cli.requests).context("a session")?;
        totals.push(t.total);
        rollbacks.push(t.rollback);
    }
    let clean = driver
        .checksum()
        .context("checksum after the last session")?;
    let startup = driver.startup;
    driver.quit().context("stopping the handler")?;
    let elapsed: Duration = totals.iter().sum();
    let per_s = f64::from(cli.sessions) / elapsed.as_secs_f64();
    rollbacks.sort();
    println!(
        "{}: state {} MiB, {} pages/request, {} requests/session",
        strategy.name(),
        cli.state_mib,
        cli.pages,
        cli.requests
    );
    println!("start-up (fork, build, first ready): {startup:?}");
    println!(
        "{per_s:.1} sessions/s, {:.0} req/s",
        per_s * f64::from(cli.requests)
    );
    println!(
        "rollback latency p50 {:?} p90 {:?} p99 {:?} max {:?}",
        percentile(&rollbacks, 0.5),
        percentile(&rollbacks, 0.9),
        percentile(&rollbacks, 0.99),
        rollbacks.last().copied().unwrap_or_default()
    );
    match (strategy.isolates(), clean == pristine) {
        (true, false) => bail!("the state after the last rollback is not pristine"),
        (true, true) => println!("state after the last session: pristine"),
        (false, _) => println!("state after the last session: dirty (none does not isolate)"),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(&Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rollback-handler: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! The load generator on its own: drives an HTTP server over loopback and prints requests/s and
//! latency percentiles.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use apps::loadgen::{self, Load, Pace};
use clap::Parser;

/// Closed- or open-loop HTTP load (coordinated omission corrected in open loop).
#[derive(Debug, Parser)]
#[command(name = "loadgen", version)]
struct Cli {
    /// The server, HOST:PORT.
    addr: SocketAddr,
    /// Concurrent connections.
    #[arg(long, short = 'c', default_value_t = 128)]
    connections: usize,
    /// Requests per connection before reconnecting: a number, or `inf` to keep it.
    #[arg(long, short = 's', default_value = "inf")]
    session: String,
    /// Open loop at this many requests per second (default: closed loop).
    #[arg(long)]
    rate: Option<f64>,
    /// Measured window in milliseconds.
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
    /// Warm-up in milliseconds.
    #[arg(long, default_value_t = 200)]
    warmup_ms: u64,
    /// Pin the generator to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let session = match cli.session.as_str() {
        "inf" => None,
        n => Some(n.parse::<u64>().context("--session: a number or inf")?),
    };
    let load = Load {
        connections: cli.connections,
        session,
        pace: cli
            .rate
            .map_or(Pace::Closed, |r| Pace::Open { rate_per_s: r }),
        warmup: Duration::from_millis(cli.warmup_ms),
        duration: Duration::from_millis(cli.duration_ms),
        cpu: cli.cpu,
        ..Load::new(cli.addr)
    };
    let r = loadgen::run(&load).context("load")?;
    let us = |q: f64| r.latency_ns.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{:.0} req/s  requests {}  errors {}  connects {}  latency µs p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}",
        r.requests_per_s(),
        r.requests,
        r.errors,
        r.connects,
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        r.latency_ns.max() as f64 / 1000.0
    );
    Ok(())
}

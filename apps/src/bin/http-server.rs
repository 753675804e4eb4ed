//! The HTTP server on its own (`lwcbench serve` runs the same code): prints its address, serves
//! until SIGINT or SIGTERM, prints each worker's counters.

use anyhow::Context;
use clap::Parser;

/// An event-driven HTTP/1.1 server with per-session isolation.
#[derive(Debug, Parser)]
#[command(name = "http-server", version)]
struct Cli {
    #[command(flatten)]
    serve: apps::http::ServeArgs,
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
    let cfg = cli.serve.config()?;
    apps::http::serve(&cfg, &mut std::io::stdout()).context("serve")?;
    Ok(())
}

//! `lwcbench`: runs the experiments of the light-weight contexts paper (OSDI '16) on Linux.
//!
//! `main` only parses the command line, calls the command and maps the outcome to an exit code
//! (every code is defined in `model::exit`): 0 all measured (or unavailable here), 3 result
//! written but some points failed, 4 `compare` found a regression, 1 error (printed with its
//! causes on stderr), 2 bad command line. Data goes to stdout, diagnostics to stderr.

#![deny(unsafe_code)]

mod cli;
mod compare;
mod fingerprint;
mod info;
mod output;
mod report_dir;
mod run;
mod selftest;
mod suite;
mod supervise;
mod worker;

use clap::Parser;
use cli::{Cli, Command, RunArgs};
use model::exit;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The worker comes first and alone: no thread, no output but its samples.
    if let Some(Command::Worker(w)) = &cli.command {
        return ExitCode::from(worker::main(w.setting, &w.point));
    }
    match dispatch(cli.command.unwrap_or(Command::Run(RunArgs::default()))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let opts = run::RunOptions {
                setting: args.setting(),
                experiments: args.experiments,
                backends: args.backends,
                out: args.out,
                runs: args.runs,
                timeout: args.timeout.map(std::time::Duration::from_secs_f64),
                command_line: std::env::args().collect(),
            };
            Ok(match run::run(&opts)? {
                run::Outcome::AllOk => ExitCode::from(exit::SUCCESS),
                run::Outcome::SomeFailed => ExitCode::from(exit::SOME_FAILED),
            })
        }
        Command::List => info::list().map(|()| ExitCode::SUCCESS),
        Command::Env(args) => info::env(args.json).map(|()| ExitCode::SUCCESS),
        Command::Compare(args) => compare::main(&args),
        Command::Report(args) => report_dir::main(&args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => {
            let cfg = args.config()?;
            apps::http::serve(&cfg, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker(_) => Ok(ExitCode::from(exit::ERROR)),
    }
}

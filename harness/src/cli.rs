//! The command line (clap derive).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use workloads::Setting;

/// lwcbench: what light-weight contexts (OSDI '16) and their alternatives cost on this machine.
///
/// With no command, runs the whole suite in the quick setting (`lwcbench run --quick`).
#[derive(Debug, Parser)]
#[command(name = "lwcbench", version, about, long_about)]
pub struct Cli {
    /// What to do; `run` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run experiments and write a result file (JSON) and a summary (Markdown).
    Run(RunArgs),
    /// List the experiments and their backends.
    List,
    /// Print the machine fingerprint and what may make measurements noisy.
    Env(EnvArgs),
    /// Compare two result files point by point; exits 4 on a regression.
    Compare(CompareArgs),
    /// Draw the figures, the HTML page and the Markdown summary of one or more result files.
    Report(ReportArgs),
    /// Run the benchmark's HTTP server until interrupted (SIGINT/SIGTERM), printing its address.
    Serve(apps::http::ServeArgs),
    /// Measure one run of one point (used by `run`; prints its Outcome as one line of JSON).
    #[command(name = "__worker", hide = true)]
    Worker(WorkerArgs),
}

/// Arguments of `run`.
#[derive(Debug, Default, Args)]
pub struct RunArgs {
    /// Experiments to run, by id (default: all; see `lwcbench list`).
    #[arg(value_name = "EXPERIMENT")]
    pub experiments: Vec<String>,
    /// Run only this backend (repeatable).
    #[arg(long = "backend", value_name = "NAME")]
    pub backends: Vec<String>,
    /// Tiny runs that check the pipeline, not the numbers.
    #[arg(long, group = "setting")]
    pub smoke: bool,
    /// The whole suite in about two minutes on two cores (the default).
    #[arg(long, group = "setting")]
    pub quick: bool,
    /// Paper-grade: more repetitions, wider sweeps.
    #[arg(long, group = "setting")]
    pub full: bool,
    /// Result file (default: lwcbench-results/lwcbench-TIME-SETTING.json (TIME in UTC) and
    /// lwcbench-results/latest.json). The Markdown summary goes beside it, with extension .md.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Runs (separate worker processes) per point, instead of each point's own number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub runs: Option<u32>,
    /// Time limit of one run in seconds; a worker past it is killed and the run recorded as failed
    /// (default: 60 smoke, 120 quick, 1800 full).
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub timeout: Option<f64>,
}

impl RunArgs {
    /// The setting the flags ask for (quick when none).
    pub fn setting(&self) -> Setting {
        if self.smoke {
            Setting::Smoke
        } else if self.full {
            Setting::Full
        } else {
            Setting::Quick
        }
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// Arguments of `env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Print the fingerprint as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline result file.
    pub base: PathBuf,
    /// The result file to judge against it.
    pub current: PathBuf,
    /// Smallest relative change of the median that counts, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    pub threshold: f64,
    /// Significance level of the Mann–Whitney test of the two points' run medians.
    #[arg(long, value_name = "P", default_value_t = 0.01)]
    pub alpha: f64,
    /// Compare even when the two results come from different machine fingerprints.
    #[arg(long)]
    pub force: bool,
    /// Output: a Markdown table of the verdicts, or the current result's points in Bencher
    /// Metric Format JSON.
    #[arg(long, value_enum, default_value_t = CompareFormat::Markdown)]
    pub format: CompareFormat,
}

/// What `compare` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// The verdict table (for CI job summaries).
    Markdown,
    /// Bencher Metric Format JSON of CURRENT.
    Bmf,
}

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files to draw together, each series labelled by its machine (default:
    /// lwcbench-results/latest.json).
    #[arg(value_name = "RESULT.json")]
    pub results: Vec<PathBuf>,
    /// Folder for the report (default: `report/` beside lwcbench-results/latest.json, or
    /// `STEM-report/` beside the first file named).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Parses a setting by its name (`smoke`, `quick`, `full`), as `model::Setting` spells it.
fn setting_name(s: &str) -> Result<Setting, String> {
    Setting::from_name(s).ok_or_else(|| format!("{s:?} is not smoke, quick or full"))
}

/// Arguments of the hidden worker subcommand.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The setting of the run.
    #[arg(long, value_parser = setting_name)]
    pub setting: Setting,
    /// The point, as PointSpec JSON.
    #[arg(long)]
    pub point: String,
}

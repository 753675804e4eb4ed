//! `lwcbench run`: plan the experiments, run every point's runs in workers, assemble the result
//! document, write it.
//!
//! ```text
//!   plan ──► schedule ──► assemble ──► write
//!   (ids, backends and    (round-robin runs in   (runs → points:        (export manager:
//!    output checked,       fresh workers, each    statistics of every    JSON, Markdown,
//!    points planned)       an Outcome)            metric, status)        latest.*)
//! ```
//!
//! Failures are data: a run that fails is recorded with its reason, a point whose runs all fail
//! is recorded as failed, a point this machine cannot measure as unavailable, an experiment whose
//! planning panics as failed, and the run goes on. Only what makes the whole run meaningless (an
//! unknown experiment or backend, an output path that cannot be written) is an error, and it is
//! raised before anything is measured.

mod assemble;
mod plan;
mod schedule;
mod write;

pub use plan::RunOptions;

use anyhow::{Context, Result};
use report::{Configuration, ExperimentResult, PaperReference, ResultDocument, SCHEMA};
use std::time::Duration;
use workloads::Setting;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every point was measured, or is unavailable on this machine.
    AllOk,
    /// The result was written, but some points or experiments failed.
    SomeFailed,
}

/// Default time limit of one worker run.
pub fn default_timeout(setting: Setting) -> Duration {
    match setting {
        Setting::Smoke => Duration::from_secs(60),
        Setting::Quick => Duration::from_secs(120),
        Setting::Full => Duration::from_secs(1800),
    }
}

/// Runs the experiments and writes the result files; see the module docs.
pub fn run(opts: &RunOptions) -> Result<Outcome> {
    let plan = plan::plan(opts)?;
    let target = write::Target::of(opts)?;
    let paper = PaperReference::bundled().context("loading the bundled results/paper.json")?;
    let started_at = crate::output::now_rfc3339();
    eprintln!("lwcbench: fingerprinting the machine");
    let machine = crate::fingerprint::detect();
    for w in &machine.warnings {
        eprintln!("warning: {w}");
    }
    let timeout = opts
        .timeout
        .unwrap_or_else(|| default_timeout(opts.setting));

    let progress = schedule::Progress::new(&plan);
    let mut experiments: Vec<ExperimentResult> = Vec::new();
    for planned in &plan.experiments {
        let result = match &planned.points {
            Err(e) => {
                progress.say(format!("{}: FAILED: {e}", planned.experiment.id()));
                assemble::failed_experiment(planned.experiment, e.clone())
            }
            Ok(points) => {
                let runs = schedule::run_interleaved(points, opts.setting, timeout, &progress);
                let points: Vec<report::Point> = points
                    .iter()
                    .zip(runs)
                    .map(|(spec, runs)| assemble::point(spec, runs))
                    .collect();
                for p in &points {
                    progress.say(assemble::point_line(p));
                }
                assemble::experiment(planned.experiment, points)
            }
        };
        experiments.push(result);
    }
    progress.finish();

    let doc = ResultDocument {
        schema: SCHEMA.to_owned(),
        machine,
        configuration: Configuration {
            setting: opts.setting.name().to_owned(),
            experiments: plan
                .experiments
                .iter()
                .map(|e| e.experiment.id().to_owned())
                .collect(),
            backends: opts.backends.clone(),
            runs: opts.runs,
            worker_timeout_s: timeout.as_secs_f64(),
            command_line: opts.command_line.clone(),
            started_at,
            finished_at: crate::output::now_rfc3339(),
        },
        experiments,
    };
    target.write(&doc, paper)?;
    Ok(if doc.all_ok() {
        Outcome::AllOk
    } else {
        Outcome::SomeFailed
    })
}

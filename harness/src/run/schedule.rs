//! Scheduling: every run of every point in a fresh worker, round-robin across an experiment's
//! points, with a progress bar.

use super::plan::Plan;
use crate::supervise::run_worker;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::Outcome;
use std::time::{Duration, Instant};
use workloads::{PointSpec, RunSamples, Setting};

/// The progress bar, and the lines printed above it.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over every run of the plan, on stderr.
    pub fn new(plan: &Plan) -> Self {
        let bar =
            ProgressBar::with_draw_target(Some(plan.total_runs()), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        // Redraw while a long run is in progress (a thread in the parent only; workers have none).
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar }
    }

    /// Prints a line above the bar (or alone when the bar is hidden).
    pub fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// What the runs of one point gave.
#[derive(Debug, Default)]
pub struct Runs {
    /// The measured runs.
    pub samples: Vec<RunSamples>,
    /// `run N: reason` for every run that failed or was skipped.
    pub errors: Vec<String>,
    /// Why the point cannot be measured here, when a run said so (its later runs are skipped).
    pub unavailable: Option<String>,
    /// A run overran its time limit (its later runs are skipped).
    pub timed_out: bool,
    /// Wall-clock time of all its runs, in seconds.
    pub elapsed_s: f64,
}

impl Runs {
    /// Records the outcome of run `i`.
    fn record(&mut self, i: u32, outcome: Outcome<RunSamples>) {
        match outcome {
            Outcome::Measured(s) => self.samples.push(s),
            Outcome::Unavailable(why) => self.unavailable = Some(why),
            Outcome::BadPoint(why) => self.errors.push(format!("run {i}: bad point: {why}")),
            Outcome::Failed(why) => self.errors.push(format!("run {i}: {why}")),
        }
    }
}

/// Runs every run of every point of one experiment, round-robin: run 1 of each point, then run
/// 2 of each, and so on. A slow phase of the machine (a noisy neighbour, the host's scheduler)
/// then spreads over all backends instead of biasing one, so the ratios within a table are
/// measured side by side in time as well. A point whose run timed out, or that is unavailable
/// here, skips its later runs.
pub fn run_interleaved(
    points: &[PointSpec],
    setting: Setting,
    timeout: Duration,
    progress: &Progress,
) -> Vec<Runs> {
    let labels: Vec<String> = points.iter().map(|p| p.id.label()).collect();
    let mut acc: Vec<Runs> = points.iter().map(|_| Runs::default()).collect();
    let rounds = points.iter().map(|p| p.runs).max().unwrap_or(0);
    for i in 1..=rounds {
        for ((spec, label), runs) in points.iter().zip(&labels).zip(acc.iter_mut()) {
            if i > spec.runs {
                continue;
            }
            progress.bar.set_message(label.clone());
            if runs.timed_out {
                runs.errors
                    .push(format!("run {i}: skipped: an earlier run timed out"));
            } else if runs.unavailable.is_none() {
                let start = Instant::now();
                let ran = run_worker(spec, setting, timeout);
                runs.timed_out = ran.timed_out;
                runs.record(i, ran.outcome);
                runs.elapsed_s += start.elapsed().as_secs_f64();
            }
            progress.bar.inc(1);
        }
    }
    acc
}

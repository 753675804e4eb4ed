//! Planning: which experiments, which backends (checked against each experiment's declared
//! backends), and the points of each, with `--runs` applied.

use anyhow::{bail, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use workloads::{Experiment, PointSpec, Setting};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Experiment ids; empty runs the default suite.
    pub experiments: Vec<String>,
    /// Backends; empty runs every backend.
    pub backends: Vec<String>,
    /// How much work.
    pub setting: Setting,
    /// Result file; `None` writes a time-stamped file and `latest.json` in [`crate::output::DEFAULT_DIR`].
    pub out: Option<PathBuf>,
    /// Runs per point, overriding each point's own.
    pub runs: Option<u32>,
    /// Time limit of one worker run; `None` uses the setting's default.
    pub timeout: Option<Duration>,
    /// The command line, for the record.
    pub command_line: Vec<String>,
}

/// One experiment's points, or why planning failed.
pub struct Planned {
    /// The experiment.
    pub experiment: &'static dyn Experiment,
    /// Its points; an error (a panic in its planning) is recorded as a failed experiment.
    pub points: Result<Vec<PointSpec>, String>,
}

/// The whole plan.
pub struct Plan {
    /// Every experiment asked for, in order.
    pub experiments: Vec<Planned>,
}

impl Plan {
    /// Worker runs in the plan.
    pub fn total_runs(&self) -> u64 {
        self.experiments
            .iter()
            .filter_map(|e| e.points.as_ref().ok())
            .flatten()
            .map(|p| u64::from(p.runs))
            .sum()
    }
}

/// Resolves experiment ids (default suite when empty); an unknown id is an error.
pub fn resolve(ids: &[String]) -> Result<Vec<&'static dyn Experiment>> {
    if ids.is_empty() {
        let all = crate::suite::all();
        if all.is_empty() {
            bail!("no experiments are built into this lwcbench");
        }
        return Ok(all);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in ids {
        let Some(exp) = crate::suite::by_id(id) else {
            bail!(
                "unknown experiment {id:?}; known experiments: {} (see `lwcbench list`)",
                crate::suite::all()
                    .iter()
                    .map(|e| e.id())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        if seen.insert(id.clone()) {
            out.push(exp);
        }
    }
    Ok(out)
}

/// Every backend `--backend` must name one of: those the experiments declare.
fn check_backends(exps: &[&'static dyn Experiment], backends: &[String]) -> Result<()> {
    let offered: BTreeSet<&'static str> = exps
        .iter()
        .flat_map(|e| e.backends())
        .map(|b| b.name)
        .collect();
    let unknown: Vec<String> = backends
        .iter()
        .filter(|b| !offered.contains(b.as_str()))
        .map(|b| format!("{b:?}"))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "unknown backend {} for experiment(s) {}; they offer: {} (see `lwcbench list`)",
            unknown.join(", "),
            exps.iter().map(|e| e.id()).collect::<Vec<_>>().join(", "),
            offered.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Plans an experiment, turning a panic in its code into an error.
fn plan_one(
    exp: &dyn Experiment,
    setting: Setting,
    backends: &[String],
) -> Result<Vec<PointSpec>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exp.plan(setting, backends)))
        .map_err(|p| format!("planning panicked: {}", panic_message(&p)))
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Resolves, checks and plans what `opts` asks for; nothing is measured yet.
pub fn plan(opts: &RunOptions) -> Result<Plan> {
    let exps = resolve(&opts.experiments)?;
    check_backends(&exps, &opts.backends)?;
    let experiments = exps
        .into_iter()
        .map(|experiment| {
            let mut points = plan_one(experiment, opts.setting, &opts.backends);
            if let (Ok(points), Some(runs)) = (&mut points, opts.runs) {
                for p in points.iter_mut() {
                    p.runs = runs;
                }
            }
            Planned { experiment, points }
        })
        .collect();
    Ok(Plan { experiments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_experiment_is_an_error_naming_it() {
        let Err(err) = resolve(&["no-such".to_owned()]) else {
            panic!("an unknown experiment resolved");
        };
        assert!(format!("{err:#}").contains("unknown experiment \"no-such\""));
    }

    #[test]
    fn backends_are_checked_against_the_declared_ones() {
        // Guards against a typo that would silently plan nothing, and against refusing a
        // backend (mock) that is planned only when named.
        let exps = resolve(&["switch".to_owned()]).expect("switch");
        assert!(check_backends(&exps, &["mock".to_owned(), "lwc".to_owned()]).is_ok());
        let err = check_backends(&exps, &["fork".to_owned()]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("unknown backend \"fork\""), "{msg}");
        assert!(msg.contains("process-pipe"), "{msg}");
    }
}

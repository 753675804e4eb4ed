//! `lwcbench run`: plan the experiments, run every point's runs in workers, summarise, write.
//!
//! Failures are data: a run that fails is recorded with its reason, a point whose runs all fail
//! is recorded as failed, an experiment whose planning panics is recorded as failed, and the run
//! goes on. Only what makes the whole run meaningless (an unknown experiment or backend, an
//! output path that cannot be written) is an error, and it is raised before anything is measured.

use crate::supervise::{run_worker, setting_name};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use report::{
    Configuration, ExperimentResult, ExperimentStatus, Exporter, Interval, JsonExporter,
    MarkdownExporter, PaperReference, Point, PointStatus, ResultDocument, SCHEMA,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use workloads::{Experiment, Param, PointSpec, RunSamples, Setting};

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

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every point was measured.
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

/// Where the result files go.
struct Paths {
    json: PathBuf,
    markdown: PathBuf,
    /// `latest.json` and `latest.md` beside them, for the default directory only.
    latest: Option<(PathBuf, PathBuf)>,
}

fn paths(opts: &RunOptions) -> Result<Paths> {
    if let Some(out) = &opts.out {
        let dir = out.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            if !dir.is_dir() {
                bail!(
                    "output directory {} does not exist (from --out {})",
                    dir.display(),
                    out.display()
                );
            }
        }
        if out.is_dir() {
            bail!("--out {} is a directory; give a file name", out.display());
        }
        let mut markdown = out.with_extension("md");
        if markdown == *out {
            markdown = PathBuf::from(format!("{}.summary.md", out.display()));
        }
        return Ok(Paths {
            json: out.clone(),
            markdown,
            latest: None,
        });
    }
    let dir = Path::new(crate::output::DEFAULT_DIR);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = format!(
        "lwcbench-{}-{}",
        crate::output::now_file_stamp(),
        setting_name(opts.setting)
    );
    Ok(Paths {
        json: dir.join(format!("{stem}.json")),
        markdown: dir.join(format!("{stem}.md")),
        latest: Some((dir.join("latest.json"), dir.join("latest.md"))),
    })
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

/// An experiment's points, or why planning failed.
type Planned = Result<Vec<PointSpec>, String>;

/// Plans an experiment, turning a panic in its code into an error.
fn plan(exp: &dyn Experiment, setting: Setting, backends: &[String]) -> Planned {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| exp.plan(setting, backends)))
        .map_err(|p| format!("planning panicked: {}", panic_message(&p)))
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Backend names the experiments offer in this setting.
pub fn backends_of(exps: &[&'static dyn Experiment], setting: Setting) -> BTreeSet<String> {
    exps.iter()
        .filter_map(|e| plan(*e, setting, &[]).ok())
        .flatten()
        .map(|p| p.backend)
        .collect()
}

/// Runs the experiments and writes the result files; see the module docs.
pub fn run(opts: &RunOptions) -> Result<Outcome> {
    let exps = resolve(&opts.experiments)?;
    // A backend is known when some experiment asked for plans a point for it by name (a
    // backend such as `mock` is planned only when named).
    let unknown: Vec<&String> = opts
        .backends
        .iter()
        .filter(|b| {
            !exps.iter().any(|e| {
                plan(*e, opts.setting, std::slice::from_ref(*b)).is_ok_and(|p| !p.is_empty())
            })
        })
        .collect();
    if !unknown.is_empty() {
        bail!(
            "unknown backend {} for experiment(s) {}; they offer: {} (see `lwcbench list`)",
            unknown
                .iter()
                .map(|b| format!("{b:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            exps.iter().map(|e| e.id()).collect::<Vec<_>>().join(", "),
            backends_of(&exps, opts.setting)
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let paths = paths(opts)?;
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

    let planned: Vec<(&dyn Experiment, Planned)> = exps
        .iter()
        .map(|e| {
            let mut points = plan(*e, opts.setting, &opts.backends);
            if let (Ok(points), Some(runs)) = (&mut points, opts.runs) {
                for p in points.iter_mut() {
                    p.runs = runs;
                }
            }
            (*e, points)
        })
        .collect();
    let total_runs: u64 = planned
        .iter()
        .filter_map(|(_, p)| p.as_ref().ok())
        .flatten()
        .map(|p| u64::from(p.runs))
        .sum();
    let bar = ProgressBar::with_draw_target(Some(total_runs), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} runs  {msg}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Redraw while a long run is in progress (a thread in the parent only; workers have none).
    bar.enable_steady_tick(Duration::from_millis(250));
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };

    let mut results = Vec::new();
    for (exp, points) in planned {
        let points = match points {
            Ok(p) => p,
            Err(e) => {
                say(format!("{}: FAILED: {e}", exp.id()));
                results.push(ExperimentResult {
                    id: exp.id().to_owned(),
                    description: exp.describe().to_owned(),
                    status: ExperimentStatus::Failed,
                    error: Some(e),
                    points: Vec::new(),
                });
                continue;
            }
        };
        let labels: Vec<String> = points
            .iter()
            .map(|spec| {
                format!(
                    "{} {} {}",
                    spec.experiment,
                    spec.backend,
                    params_label(spec)
                )
            })
            .collect();
        let measured = measure_interleaved(&points, &labels, opts.setting, timeout, &bar);
        for (label, point) in labels.iter().zip(&measured) {
            say(point_line(label, point));
        }
        let all_failed =
            !measured.is_empty() && measured.iter().all(|p| p.status == PointStatus::Failed);
        results.push(ExperimentResult {
            id: exp.id().to_owned(),
            description: exp.describe().to_owned(),
            status: if all_failed {
                ExperimentStatus::Failed
            } else {
                ExperimentStatus::Ok
            },
            error: all_failed.then(|| format!("all {} points failed", measured.len())),
            points: measured,
        });
    }
    bar.finish_and_clear();

    let doc = ResultDocument {
        schema: SCHEMA.to_owned(),
        machine,
        configuration: Configuration {
            setting: setting_name(opts.setting).to_owned(),
            experiments: exps.iter().map(|e| e.id().to_owned()).collect(),
            backends: opts.backends.clone(),
            runs: opts.runs,
            worker_timeout_s: timeout.as_secs_f64(),
            command_line: opts.command_line.clone(),
            started_at,
            finished_at: crate::output::now_rfc3339(),
        },
        experiments: results,
    };
    let json = JsonExporter.render(&doc)?;
    let built: Vec<&str> = crate::suite::all().iter().map(|e| e.id()).collect();
    let markdown = MarkdownExporter::with_paper(paper)
        .with_built(&built)
        .render(&doc)?;
    crate::output::write_atomic(&paths.json, json.as_bytes())?;
    crate::output::write_atomic(&paths.markdown, markdown.as_bytes())?;
    if let Some((latest_json, latest_md)) = &paths.latest {
        crate::output::write_atomic(latest_json, json.as_bytes())?;
        crate::output::write_atomic(latest_md, markdown.as_bytes())?;
    }
    print!("{markdown}");
    let report_dir = crate::report_dir::dir_for(&paths.json, paths.latest.is_some());
    let index = crate::report_dir::write(std::slice::from_ref(&doc), &report_dir)?;
    eprintln!("lwcbench: results written to {}", paths.json.display());
    eprintln!("lwcbench: summary written to {}", paths.markdown.display());
    if let Some((latest_json, _)) = &paths.latest {
        eprintln!("lwcbench: latest result also at {}", latest_json.display());
    }
    eprintln!("lwcbench: report written to {}", index.display());
    Ok(if doc.all_ok() {
        Outcome::AllOk
    } else {
        Outcome::SomeFailed
    })
}

/// The point's parameters as the result document holds them.
fn report_params(spec: &PointSpec) -> BTreeMap<String, report::Param> {
    spec.params
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Param::Int(i) => report::Param::Int(*i),
                Param::Text(s) => report::Param::Text(s.clone()),
            };
            (k.clone(), v)
        })
        .collect()
}

/// `name=value` pairs joined by spaces (empty when there are none), for the progress lines.
fn params_label(spec: &PointSpec) -> String {
    report_params(spec)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn point_line(label: &str, p: &Point) -> String {
    match (p.status, p.p50) {
        (PointStatus::Failed, _) | (_, None) => format!(
            "{label}: FAILED: {}",
            p.error.as_deref().unwrap_or("no reason recorded")
        ),
        (status, Some(p50)) => format!(
            "{label}: p50 {} ({}/{} runs{})",
            report::units::human(p50, &p.unit),
            p.runs,
            p.runs_planned,
            if status == PointStatus::Partial {
                ", some failed"
            } else {
                ""
            }
        ),
    }
}

/// What the runs of one point gave so far.
#[derive(Default)]
struct Runs {
    samples: Vec<RunSamples>,
    errors: Vec<String>,
    timed_out: bool,
    elapsed_s: f64,
}

/// Runs every run of every point of one experiment, round-robin: run 1 of each point, then run
/// 2 of each, and so on. A slow phase of the machine (a noisy neighbour, the host's scheduler)
/// then spreads over all backends instead of biasing one, so the ratios within a table are
/// measured side by side in time as well. A point whose run timed out skips its later runs.
fn measure_interleaved(
    points: &[PointSpec],
    labels: &[String],
    setting: Setting,
    timeout: Duration,
    bar: &ProgressBar,
) -> Vec<Point> {
    let mut acc: Vec<Runs> = points.iter().map(|_| Runs::default()).collect();
    let rounds = points.iter().map(|p| p.runs).max().unwrap_or(0);
    for i in 1..=rounds {
        for ((spec, label), runs) in points.iter().zip(labels).zip(acc.iter_mut()) {
            if i > spec.runs {
                continue;
            }
            bar.set_message(label.clone());
            if runs.timed_out {
                runs.errors
                    .push(format!("run {i}: skipped: an earlier run timed out"));
            } else {
                let start = Instant::now();
                match run_worker(spec, setting, timeout) {
                    Ok(s) => runs.samples.push(s),
                    Err(f) => {
                        runs.timed_out = f.timed_out;
                        runs.errors.push(format!("run {i}: {f}"));
                    }
                }
                runs.elapsed_s += start.elapsed().as_secs_f64();
            }
            bar.inc(1);
        }
    }
    points
        .iter()
        .zip(acc)
        .map(|(spec, runs)| summarize_point(spec, runs))
        .collect()
}

/// Summarises the runs of one point.
fn summarize_point(spec: &PointSpec, runs: Runs) -> Point {
    let Runs {
        samples: runs,
        mut errors,
        elapsed_s,
        ..
    } = runs;
    let params = report_params(spec);
    let failed = |errors: Vec<String>| {
        Point::failed(
            &spec.experiment,
            &spec.backend,
            params.clone(),
            &spec.unit,
            &spec.metric,
            spec.runs,
            errors,
            elapsed_s,
        )
    };
    if runs.is_empty() {
        return failed(errors);
    }
    let summary = match workloads::stats::try_summarize(&runs, &spec.unit) {
        Ok(s) => s,
        Err(e) => {
            errors.push(format!("summarising {} runs: {e}", runs.len()));
            return failed(errors);
        }
    };
    let ci95 = match (summary.ci95_low, summary.ci95_high) {
        (Some(low), Some(high)) => Some(Interval {
            low,
            high,
            coverage: summary.ci_coverage,
        }),
        _ => None,
    };
    Point {
        experiment: spec.experiment.clone(),
        backend: spec.backend.clone(),
        params,
        unit: spec.unit.clone(),
        metric: spec.metric.clone(),
        status: if errors.is_empty() {
            PointStatus::Ok
        } else {
            PointStatus::Partial
        },
        error: errors.first().cloned(),
        run_errors: errors,
        runs_planned: spec.runs,
        runs: summary.runs,
        count: summary.count,
        min: Some(summary.min),
        p50: Some(summary.p50),
        p90: Some(summary.p90),
        p99: Some(summary.p99),
        max: Some(summary.max),
        mean: Some(summary.mean),
        ci95,
        run_medians: summary.run_medians,
        histogram: Some(summary.histogram),
        histogram_scale: Some(summary.histogram_scale),
        counters: median_counters(&runs),
        elapsed_s,
    }
}

/// The median of each counter over the runs that report it.
fn median_counters(runs: &[RunSamples]) -> BTreeMap<String, f64> {
    let mut all: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for (k, v) in &r.counters {
            if v.is_finite() {
                all.entry(k.clone()).or_default().push(*v);
            }
        }
    }
    all.into_iter()
        .map(|(k, mut v)| {
            v.sort_by(f64::total_cmp);
            (k, workloads::stats::median_sorted(&v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_the_median_over_runs() {
        let run = |v: f64| RunSamples {
            samples: vec![1.0],
            batch: 1,
            counters: BTreeMap::from([("page_faults".to_owned(), v)]),
        };
        let m = median_counters(&[run(3.0), run(1.0), run(2.0), run(10.0)]);
        assert_eq!(m.get("page_faults"), Some(&2.5));
    }

    fn spec(runs: u32) -> PointSpec {
        PointSpec {
            experiment: "selftest".to_owned(),
            backend: "mock-ok".to_owned(),
            params: BTreeMap::new(),
            unit: "ns".to_owned(),
            metric: "mock operation".to_owned(),
            runs,
        }
    }

    fn samples(v: f64) -> RunSamples {
        RunSamples {
            samples: vec![v, v + 1.0, v + 2.0],
            batch: 1,
            counters: BTreeMap::new(),
        }
    }

    /// Guards against a point with failed runs reported `Ok`, and a failed one reported
    /// measured.
    #[test]
    fn a_point_is_ok_partial_or_failed_by_its_runs() {
        let runs = |ok: usize, errors: &[&str]| Runs {
            samples: (0..ok).map(|i| samples(10.0 * i as f64 + 1.0)).collect(),
            errors: errors.iter().map(|e| (*e).to_owned()).collect(),
            ..Runs::default()
        };
        let ok = summarize_point(&spec(3), runs(3, &[]));
        assert_eq!(ok.status, PointStatus::Ok);
        assert_eq!((ok.runs, ok.runs_planned), (3, 3));
        assert!(ok.error.is_none() && ok.run_errors.is_empty());

        let partial = summarize_point(&spec(3), runs(2, &["run 2: worker killed"]));
        assert_eq!(partial.status, PointStatus::Partial);
        assert_eq!((partial.runs, partial.runs_planned), (2, 3));
        assert_eq!(partial.error.as_deref(), Some("run 2: worker killed"));
        assert_eq!(partial.run_errors, ["run 2: worker killed"]);
        assert!(partial.p50.is_some());
        assert_eq!(
            point_line("x", &partial),
            format!(
                "x: p50 {} (2/3 runs, some failed)",
                report::units::human(partial.p50.unwrap_or(0.0), "ns")
            )
        );

        let failed = summarize_point(&spec(2), runs(0, &["run 1: a", "run 2: b"]));
        assert_eq!(failed.status, PointStatus::Failed);
        assert!(failed.p50.is_none());
        assert_eq!(failed.error.as_deref(), Some("run 1: a"));
        assert_eq!(failed.run_errors.len(), 2);
        assert_eq!(point_line("x", &failed), "x: FAILED: run 1: a");
    }

    #[test]
    fn unknown_experiment_is_an_error_naming_it() {
        let Err(err) = resolve(&["no-such".to_owned()]) else {
            panic!("an unknown experiment resolved");
        };
        assert!(format!("{err:#}").contains("unknown experiment \"no-such\""));
    }
}

//! The result document: one JSON file per `lwcbench run` (DESIGN.md §6).
//!
//! ```text
//! ResultDocument
//! ├── schema          "lwcbench/result/v1"
//! ├── machine         Machine (fingerprint)
//! ├── configuration   setting, experiments, backends, runs, command line, times
//! └── experiments[]   id, status ok|failed (+error)
//!     └── points[]    experiment, backend, params, unit, metric, status (+error),
//!                     count, min, p50, p90, p99, max, mean, ci95, runs, histogram
//! ```
//!
//! The JSON Schema of this document is `results/schema/result-v1.schema.json`.

use crate::machine::Machine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The schema version this crate writes and reads.
pub const SCHEMA: &str = "lwcbench/result/v1";

/// Why a result document could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSON, or not a document of the expected shape.
    #[error("{path}: not a valid {SCHEMA} document: {source}")]
    Parse {
        /// The file (or `<string>`).
        path: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The document has no `schema` field.
    #[error("{path}: no \"schema\" field: not an lwcbench result document")]
    MissingSchema {
        /// The file (or `<string>`).
        path: String,
    },
    /// The document was written with a schema this version does not read.
    #[error("{path}: unknown schema version {found:?}; this lwcbench reads {SCHEMA:?}")]
    UnknownSchema {
        /// The file (or `<string>`).
        path: String,
        /// The schema it declares.
        found: String,
    },
}

/// One result file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultDocument {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The machine the numbers were measured on.
    pub machine: Machine,
    /// How the run was asked for.
    pub configuration: Configuration,
    /// One entry per experiment asked for, in the order they ran.
    pub experiments: Vec<ExperimentResult>,
}

/// How a run was configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Configuration {
    /// `smoke`, `quick` or `full`.
    pub setting: String,
    /// Experiment ids asked for, in order.
    pub experiments: Vec<String>,
    /// Backends asked for; empty means every backend of each experiment.
    pub backends: Vec<String>,
    /// Runs per point forced on the command line (`--runs`); `None` keeps each point's own.
    pub runs: Option<u32>,
    /// Wall-clock limit for one worker run, in seconds.
    pub worker_timeout_s: f64,
    /// The command line, program name first.
    pub command_line: Vec<String>,
    /// When the run started, RFC 3339 in UTC.
    pub started_at: String,
    /// When the run finished, RFC 3339 in UTC.
    pub finished_at: String,
}

/// Whether an experiment produced points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentStatus {
    /// At least one point was measured.
    Ok,
    /// Planning failed, or every point failed.
    Failed,
}

/// The outcome of one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    /// Experiment id (`switch`, `create`).
    pub id: String,
    /// One line on what it measures.
    pub description: String,
    /// Ok or failed.
    pub status: ExperimentStatus,
    /// Why it failed; `None` when ok.
    pub error: Option<String>,
    /// Every planned point, measured or failed (a failed point is kept, never dropped).
    pub points: Vec<Point>,
}

/// One parameter value of a point (mirrors `workloads::Param`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Param {
    /// A whole number (sizes in bytes, counts).
    Int(i64),
    /// A label (a variant name such as `same-core`).
    Text(String),
}

impl std::fmt::Display for Param {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Param::Int(v) => write!(f, "{v}"),
            Param::Text(s) => f.write_str(s),
        }
    }
}

/// Whether a point was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointStatus {
    /// Every run produced samples.
    Ok,
    /// Some runs failed; the statistics come from the others.
    Partial,
    /// No run produced samples; the statistics are `null`.
    Failed,
}

/// A 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound, in the point's unit.
    pub low: f64,
    /// Upper bound, in the point's unit.
    pub high: f64,
    /// Exact coverage probability of `[low, high]` (e.g. `0.96875`); below 0.95 when there were
    /// too few runs for a full 95% interval; `None` when not known.
    pub coverage: Option<f64>,
}

/// One measured (or failed) point: the experiment's point spec plus the summary of its runs.
///
/// All statistics are in the point's `unit`; they are `None` when the point failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Experiment id.
    pub experiment: String,
    /// Backend name (`lwc`, `process-pipe`, ...).
    pub backend: String,
    /// Sweep coordinates, by name.
    pub params: BTreeMap<String, Param>,
    /// Unit of every statistic (`ns`, `us`).
    pub unit: String,
    /// What one sample is, in words.
    pub metric: String,
    /// Ok, partial or failed.
    pub status: PointStatus,
    /// Why the point failed (the first failed run's reason); `None` when every run succeeded.
    pub error: Option<String>,
    /// The reason of every failed run, in run order.
    pub run_errors: Vec<String>,
    /// Runs the harness made.
    pub runs_planned: u32,
    /// Runs that produced samples (the replicates behind the statistics).
    pub runs: u32,
    /// Samples over all successful runs.
    pub count: u64,
    /// Smallest sample.
    pub min: Option<f64>,
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest sample.
    pub max: Option<f64>,
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// 95% confidence interval of the median over runs; `None` when undefined (too few runs).
    pub ci95: Option<Interval>,
    /// Median of each successful run.
    pub run_medians: Vec<f64>,
    /// All samples as a base64 HdrHistogram V2 (deflate) blob; `None` when failed.
    pub histogram: Option<String>,
    /// Values were multiplied by this before being recorded in the histogram.
    pub histogram_scale: Option<f64>,
    /// Per-run counters (page faults, context switches), median over successful runs.
    pub counters: BTreeMap<String, f64>,
    /// Wall-clock time spent on this point, all runs, in seconds.
    pub elapsed_s: f64,
}

impl Point {
    /// A failed point: the spec's fields, no statistics.
    #[allow(clippy::too_many_arguments)]
    pub fn failed(
        experiment: &str,
        backend: &str,
        params: BTreeMap<String, Param>,
        unit: &str,
        metric: &str,
        runs_planned: u32,
        run_errors: Vec<String>,
        elapsed_s: f64,
    ) -> Self {
        Point {
            experiment: experiment.to_owned(),
            backend: backend.to_owned(),
            params,
            unit: unit.to_owned(),
            metric: metric.to_owned(),
            status: PointStatus::Failed,
            error: Some(
                run_errors
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no run was made".to_owned()),
            ),
            run_errors,
            runs_planned,
            runs: 0,
            count: 0,
            min: None,
            p50: None,
            p90: None,
            p99: None,
            max: None,
            mean: None,
            ci95: None,
            run_medians: Vec::new(),
            histogram: None,
            histogram_scale: None,
            counters: BTreeMap::new(),
            elapsed_s,
        }
    }

    /// The parameters for people: like [`Point::params_label`], but a whole number of KiB, MiB
    /// or GiB in a `_bytes` parameter is written so (`resident_bytes=64 MiB`).
    pub fn params_display(&self) -> String {
        params_display(&self.params)
    }

    /// The parameters as `name=value` pairs joined by spaces (`-` when there are none).
    pub fn params_label(&self) -> String {
        if self.params.is_empty() {
            return "-".to_owned();
        }
        self.params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// See [`Point::params_display`].
pub fn params_display(params: &BTreeMap<String, Param>) -> String {
    if params.is_empty() {
        return "-".to_owned();
    }
    params
        .iter()
        .map(|(k, v)| match v {
            Param::Int(n) if k.ends_with("_bytes") && *n > 0 => {
                let unit = [(1_i64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
                    .into_iter()
                    .find(|(size, _)| n % size == 0);
                match unit {
                    Some((size, name)) => format!("{k}={} {name}", n / size),
                    None => format!("{k}={n}"),
                }
            }
            _ => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl ResultDocument {
    /// Parses a document from JSON text, checking the schema version first so that a document of
    /// another version gets a clear error rather than a field-by-field parse failure.
    ///
    /// `origin` names the source in errors (a path, or `<string>`).
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| LoadError::Parse {
                path: origin.to_owned(),
                source,
            })?;
        match value.get("schema").and_then(serde_json::Value::as_str) {
            None => {
                return Err(LoadError::MissingSchema {
                    path: origin.to_owned(),
                })
            }
            Some(s) if s != SCHEMA => {
                return Err(LoadError::UnknownSchema {
                    path: origin.to_owned(),
                    found: s.to_owned(),
                })
            }
            Some(_) => {}
        }
        serde_json::from_value(value).map_err(|source| LoadError::Parse {
            path: origin.to_owned(),
            source,
        })
    }

    /// Reads and parses a result file (see [`ResultDocument::from_json_str`]).
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Every point of every experiment, in document order.
    pub fn points(&self) -> impl Iterator<Item = &Point> {
        self.experiments.iter().flat_map(|e| e.points.iter())
    }

    /// True when every experiment and every point succeeded.
    pub fn all_ok(&self) -> bool {
        self.experiments
            .iter()
            .all(|e| e.status == ExperimentStatus::Ok)
            && self.points().all(|p| p.status == PointStatus::Ok)
    }
}

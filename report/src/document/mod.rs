//! The result document: one JSON file per `lwcbench run` (DESIGN.md §6).
//!
//! ```text
//! ResultDocument
//! ├── schema          "lwcbench/result/v2"
//! ├── machine         Machine (fingerprint)
//! ├── configuration   setting, experiments, backends, runs, command line, times
//! └── experiments[]   id, status ok|failed (+error)
//!     └── points[]    experiment, backend, params (the PointId), status ok|partial|failed|
//!                     unavailable (+error, run_errors), runs_planned, elapsed_s, counters,
//!                     metrics[]: name, unit, what, summary (count, min, p50, p90, p99, max, mean,
//!                     ci95, runs, run_medians, histogram) or null
//! ```
//!
//! The JSON Schema of this document is `results/schema/result-v2.schema.json`. Documents of
//! schema `lwcbench/result/v1` (one metric per point, its statistics flat in the point) are still
//! read: [`ResultDocument::from_json_str`] turns them into this shape ([`v1`]).

use crate::machine::Machine;
use model::{MetricResult, MetricSpec, Param, PointId, Summary, Unit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub use model::Counter;

pub mod v1;

/// The schema version this crate writes.
pub const SCHEMA: &str = "lwcbench/result/v2";

/// Every schema version this crate reads.
pub const READS: [&str; 2] = [SCHEMA, v1::SCHEMA];

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
    /// The text is not JSON, or not a document of the shape its schema says.
    #[error("{path}: not a valid {schema} document: {source}")]
    Parse {
        /// The file (or `<string>`).
        path: String,
        /// The schema the document declares (or the one expected).
        schema: String,
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
    #[error("{path}: unknown schema version {found:?}; this lwcbench reads {}", READS.join(", "))]
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
    /// [`SCHEMA`] (a document read from a v1 file is converted and says v2).
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
    /// Its points were measured (some may be unavailable or have failed).
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
    /// Every planned point, measured, unavailable or failed (none is dropped).
    pub points: Vec<Point>,
}

/// Whether a point was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointStatus {
    /// Every run produced values.
    Ok,
    /// Some runs failed; the statistics come from the others.
    Partial,
    /// No run produced values; the summaries are `null`.
    Failed,
    /// The point needs something this machine lacks (two CPUs, a kernel feature): not measured,
    /// not a failure; `error` says what is missing.
    Unavailable,
}

impl PointStatus {
    /// True when the point has statistics (ok or partial).
    pub fn measured(self) -> bool {
        matches!(self, PointStatus::Ok | PointStatus::Partial)
    }
}

/// One measured (or failed, or unavailable) point: its id, how its runs went, and a summary
/// per metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Experiment, backend, parameters.
    #[serde(flatten)]
    pub id: PointId,
    /// Ok, partial, failed or unavailable.
    pub status: PointStatus,
    /// Why the point failed or is unavailable (the first failed run's reason); `None` when every
    /// run succeeded.
    pub error: Option<String>,
    /// The reason of every failed run, in run order.
    pub run_errors: Vec<String>,
    /// Runs the harness planned.
    pub runs_planned: u32,
    /// The metrics, headline first, each with its summary over the successful runs.
    pub metrics: Vec<MetricResult>,
    /// Per-run counters (page faults, context switches per operation), median over successful
    /// runs; a counter the kernel refused is unavailable with its reason.
    pub counters: BTreeMap<String, Counter>,
    /// Wall-clock time spent on this point, all runs, in seconds.
    pub elapsed_s: f64,
}

impl Point {
    /// A point with no statistics: `status` failed or unavailable, `errors` the runs' reasons.
    pub fn unmeasured(
        id: PointId,
        metrics: &[MetricSpec],
        status: PointStatus,
        runs_planned: u32,
        run_errors: Vec<String>,
        elapsed_s: f64,
    ) -> Self {
        Point {
            id,
            status,
            error: Some(
                run_errors
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "no run was made".to_owned()),
            ),
            run_errors,
            runs_planned,
            metrics: metrics
                .iter()
                .map(|spec| MetricResult {
                    spec: spec.clone(),
                    summary: None,
                })
                .collect(),
            counters: BTreeMap::new(),
            elapsed_s,
        }
    }

    /// The whole-number parameter `name`, when the point has it.
    pub fn int_param(&self, name: &str) -> Option<i64> {
        match self.id.params.get(name) {
            Some(Param::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// The text parameter `name`, when the point has it.
    pub fn text_param(&self, name: &str) -> Option<&str> {
        match self.id.params.get(name) {
            Some(Param::Text(v)) => Some(v),
            _ => None,
        }
    }

    /// The headline metric (the first).
    pub fn headline(&self) -> Option<&MetricResult> {
        self.metrics.first()
    }

    /// The metric called `name`.
    pub fn metric(&self, name: &str) -> Option<&MetricResult> {
        self.metrics.iter().find(|m| m.spec.name == name)
    }

    /// The headline metric's summary, when the point was measured.
    pub fn summary(&self) -> Option<&Summary> {
        self.headline().and_then(|m| m.summary.as_ref())
    }

    /// The headline metric's unit.
    pub fn unit(&self) -> Option<&Unit> {
        self.headline().map(|m| &m.spec.unit)
    }

    /// The headline median, when the point was measured.
    pub fn p50(&self) -> Option<f64> {
        self.summary().map(|s| s.p50)
    }

    /// Runs that produced values (the replicates behind the headline statistics).
    pub fn runs(&self) -> u32 {
        self.summary().map_or(0, |s| s.runs)
    }

    /// The parameters for people (`resident_bytes=64 MiB`).
    pub fn params_display(&self) -> String {
        self.id.params_display()
    }

    /// The parameters exactly, as `name=value` pairs (`-` when there are none).
    pub fn params_label(&self) -> String {
        self.id.params_label()
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    origin: &str,
    schema: &str,
) -> Result<T, LoadError> {
    serde_json::from_value(value).map_err(|source| LoadError::Parse {
        path: origin.to_owned(),
        schema: schema.to_owned(),
        source,
    })
}

impl ResultDocument {
    /// Parses a document from JSON text, checking the schema version first so that a document of
    /// another version gets a clear error rather than a field-by-field parse failure. A v1
    /// document is converted to this shape.
    ///
    /// `origin` names the source in errors (a path, or `<string>`).
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, LoadError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| LoadError::Parse {
                path: origin.to_owned(),
                schema: SCHEMA.to_owned(),
                source,
            })?;
        let schema = match value.get("schema").and_then(serde_json::Value::as_str) {
            None => {
                return Err(LoadError::MissingSchema {
                    path: origin.to_owned(),
                })
            }
            Some(s) => s.to_owned(),
        };
        match schema.as_str() {
            SCHEMA => parse(value, origin, SCHEMA),
            v1::SCHEMA => parse::<v1::Document>(value, origin, v1::SCHEMA).map(Into::into),
            _ => Err(LoadError::UnknownSchema {
                path: origin.to_owned(),
                found: schema,
            }),
        }
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

    /// True when every experiment succeeded and no point failed (a point unavailable on this
    /// machine is not a failure).
    pub fn all_ok(&self) -> bool {
        self.experiments
            .iter()
            .all(|e| e.status == ExperimentStatus::Ok)
            && self
                .points()
                .all(|p| matches!(p.status, PointStatus::Ok | PointStatus::Unavailable))
    }
}

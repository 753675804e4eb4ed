//! The contract between experiments and the harness.
//!
//! An experiment turns a [`Setting`] into a list of [`PointSpec`]s. The harness runs every point
//! several times, each run in a fresh single-threaded worker process that calls
//! [`Experiment::measure`] and sends back the [`RunSamples`] as JSON.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How much work a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Setting {
    /// Tiny iteration counts: for tests of the pipeline only, never for numbers.
    Smoke,
    /// The whole suite in about two minutes on two cores.
    Quick,
    /// Paper-grade: more repetitions and wider sweeps.
    Full,
}

/// One parameter value of a point (a sweep coordinate such as `resident_bytes` or `cores`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Param {
    /// A whole number (sizes in bytes, counts).
    Int(i64),
    /// A label (a variant name such as `same-core`).
    Text(String),
}

/// One point of an experiment: what is measured, with which backend and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointSpec {
    /// Experiment id, e.g. `switch`.
    pub experiment: String,
    /// Backend name as in DESIGN.md §3, e.g. `lwc`, `process-pipe`.
    pub backend: String,
    /// Sweep coordinates, sorted by name.
    pub params: BTreeMap<String, Param>,
    /// Unit of every sample, e.g. `ns` (per one-way switch) or `us` (per create).
    pub unit: String,
    /// What one sample is, in words (`one-way switch`, `create + first switch + discard`).
    pub metric: String,
    /// Separate runs (replicates) the harness should make of this point.
    pub runs: u32,
}

/// What one run of one point measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSamples {
    /// The measured values, one per sample, in the point's unit (a batched sample is already
    /// divided by its batch size).
    pub samples: Vec<f64>,
    /// Operations timed together in one sample (1 when unbatched).
    pub batch: u64,
    /// Extra per-run observations (e.g. `page_faults`, `context_switches`), by name.
    #[serde(default)]
    pub counters: BTreeMap<String, f64>,
}

/// Why a point could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The point needs something this machine lacks (two CPUs, a kernel feature).
    #[error("not available here: {0}")]
    Unavailable(String),
    /// A system call failed.
    #[error("{op}: {source}")]
    Os {
        /// The operation that failed.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The lwC runtime failed.
    #[error(transparent)]
    Lwc(#[from] lwc::Error),
    /// The point's parameters are not ones this experiment understands.
    #[error("bad point: {0}")]
    BadPoint(String),
}

/// A [`MeasureError::Os`] for `op`.
pub(crate) fn os(op: &'static str, e: impl Into<std::io::Error>) -> MeasureError {
    MeasureError::Os {
        op,
        source: e.into(),
    }
}

/// An experiment of DESIGN.md §4.
pub trait Experiment: Sync {
    /// Stable id used on the command line and in JSON (`switch`, `create`).
    fn id(&self) -> &'static str;
    /// One line for `lwcbench list`.
    fn describe(&self) -> &'static str;
    /// The points to measure for this setting, restricted to `backends` when it is non-empty.
    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec>;
    /// Measures one run of `point`. Called in a fresh single-threaded worker process, so it may
    /// fork, pin itself and start an lwC group.
    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError>;
}

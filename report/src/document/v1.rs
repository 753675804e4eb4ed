//! Reading documents of schema `lwcbench/result/v1`: one metric per point, its statistics flat
//! in the point. They are converted into the current [`super::ResultDocument`] on load, so
//! `compare` and the exporters read old result files (baselines) as they read new ones.

use super::{
    Configuration, ExperimentResult, ExperimentStatus, Point, PointStatus, ResultDocument,
};
use crate::machine::Machine;
use model::{Counter, Interval, MetricResult, MetricSpec, Params, PointId, Summary, Unit};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The v1 schema id.
pub const SCHEMA: &str = "lwcbench/result/v1";

/// A v1 document.
#[derive(Debug, Deserialize)]
pub struct Document {
    machine: Machine,
    configuration: Configuration,
    experiments: Vec<Experiment>,
}

#[derive(Debug, Deserialize)]
struct Experiment {
    id: String,
    description: String,
    status: ExperimentStatus,
    error: Option<String>,
    points: Vec<V1Point>,
}

/// A v1 point: `ok`, `partial` or `failed` (v1 knew no `unavailable`).
#[derive(Debug, Deserialize)]
struct V1Point {
    experiment: String,
    backend: String,
    params: Params,
    unit: Unit,
    metric: String,
    status: PointStatus,
    error: Option<String>,
    run_errors: Vec<String>,
    runs_planned: u32,
    runs: u32,
    count: u64,
    min: Option<f64>,
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    ci95: Option<Interval>,
    run_medians: Vec<f64>,
    histogram: Option<String>,
    histogram_scale: Option<f64>,
    counters: BTreeMap<String, f64>,
    elapsed_s: f64,
}

impl V1Point {
    /// The v1 statistics as a summary, when the point has a median.
    fn summary(&self) -> Option<Summary> {
        let p50 = self.p50?;
        let or = |v: Option<f64>| v.unwrap_or(p50);
        Some(Summary {
            count: self.count,
            runs: self.runs,
            min: or(self.min),
            p50,
            p90: or(self.p90),
            p99: or(self.p99),
            max: or(self.max),
            mean: or(self.mean),
            ci95: self.ci95,
            run_medians: self.run_medians.clone(),
            histogram: self.histogram.clone().unwrap_or_default(),
            histogram_scale: self.histogram_scale.unwrap_or(1.0),
        })
    }
}

impl From<V1Point> for Point {
    fn from(p: V1Point) -> Point {
        let summary = p.summary();
        // v1 had one metric; v2 names it by its experiment (as the switch and create ones are).
        let name = p.experiment.clone();
        Point {
            id: PointId {
                experiment: p.experiment,
                backend: p.backend,
                params: p.params,
            },
            status: p.status,
            error: p.error,
            run_errors: p.run_errors,
            runs_planned: p.runs_planned,
            metrics: vec![MetricResult {
                spec: MetricSpec {
                    name,
                    unit: p.unit,
                    what: p.metric,
                },
                summary,
            }],
            counters: p
                .counters
                .into_iter()
                .map(|(k, v)| (k, Counter::Value(v)))
                .collect(),
            elapsed_s: p.elapsed_s,
        }
    }
}

impl From<Document> for ResultDocument {
    fn from(d: Document) -> ResultDocument {
        ResultDocument {
            schema: super::SCHEMA.to_owned(),
            machine: d.machine,
            configuration: d.configuration,
            experiments: d
                .experiments
                .into_iter()
                .map(|e| ExperimentResult {
                    id: e.id,
                    description: e.description,
                    status: e.status,
                    error: e.error,
                    points: e.points.into_iter().map(Point::from).collect(),
                })
                .collect(),
        }
    }
}

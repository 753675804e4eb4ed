//! Bencher Metric Format (BMF) JSON: every measured point as a benchmark with one measure, for
//! continuous benchmarking services that read BMF.
//!
//! ```text
//! { "switch/lwc/cores=same-core": { "latency": { "value": 4090.0,
//!                                                "lower_value": 3760.0,
//!                                                "upper_value": 4390.0 } } }
//! ```
//!
//! A time becomes the `latency` measure in nanoseconds, a rate (`.../s`) the `throughput`
//! measure, anything else a measure named after its unit. The bounds are the 95% CI of the
//! median. Failed points have no number and are left out.

use super::{ExportError, Exporter};
use crate::document::{PointStatus, ResultDocument};
use crate::units::ns_per_unit;
use serde_json::{json, Map, Value};

/// Writes the measured points of a document as BMF JSON.
#[derive(Debug, Default, Clone, Copy)]
pub struct BmfExporter;

impl Exporter for BmfExporter {
    fn name(&self) -> &'static str {
        "bmf"
    }

    fn extension(&self) -> &'static str {
        "json"
    }

    fn render(&self, doc: &ResultDocument) -> Result<String, ExportError> {
        let mut benchmarks = Map::new();
        for p in doc.points() {
            let Some(p50) = p.p50.filter(|_| p.status != PointStatus::Failed) else {
                continue;
            };
            let (measure, scale) = match ns_per_unit(&p.unit) {
                Some(ns) => ("latency".to_owned(), ns),
                None if p.unit.ends_with("/s") => ("throughput".to_owned(), 1.0),
                None => (p.unit.clone(), 1.0),
            };
            let mut m = Map::new();
            m.insert("value".to_owned(), json!(p50 * scale));
            if let Some(ci) = p.ci95 {
                m.insert("lower_value".to_owned(), json!(ci.low * scale));
                m.insert("upper_value".to_owned(), json!(ci.high * scale));
            }
            let name = format!("{}/{}/{}", p.experiment, p.backend, p.params_label());
            let entry = benchmarks
                .entry(name)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(measures) = entry {
                measures.insert(measure, Value::Object(m));
            }
        }
        let mut s = serde_json::to_string_pretty(&Value::Object(benchmarks))?;
        s.push('\n');
        Ok(s)
    }
}

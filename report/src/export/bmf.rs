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

use super::{only, ExportError, Exporter, Output};
use crate::document::ResultDocument;
use model::Unit;
use serde_json::{json, Map, Value};

/// Writes the measured points of a document as BMF JSON.
#[derive(Debug, Default, Clone, Copy)]
pub struct BmfExporter;

impl BmfExporter {
    /// The measured points as BMF JSON text.
    pub fn render(&self, doc: &ResultDocument) -> Result<String, ExportError> {
        let mut benchmarks = Map::new();
        for p in doc.points().filter(|p| p.status.measured()) {
            for (i, metric) in p.metrics.iter().enumerate() {
                let Some(s) = &metric.summary else { continue };
                let unit = &metric.spec.unit;
                let (measure, scale) = match unit {
                    u if u.is_time() => ("latency".to_owned(), u.ns_per_unit().unwrap_or(1.0)),
                    Unit::PerSecond(_) => ("throughput".to_owned(), 1.0),
                    other => (other.symbol(), 1.0),
                };
                let mut m = Map::new();
                m.insert("value".to_owned(), json!(s.p50 * scale));
                if let Some(ci) = s.ci95 {
                    m.insert("lower_value".to_owned(), json!(ci.low * scale));
                    m.insert("upper_value".to_owned(), json!(ci.high * scale));
                }
                // The headline metric names the benchmark; another metric of the point is a
                // benchmark of its own, named after it.
                let mut name = format!("{}/{}/{}", p.id.experiment, p.id.backend, p.params_label());
                if i > 0 {
                    name = format!("{name}/{}", metric.spec.name);
                }
                let entry = benchmarks
                    .entry(name)
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(measures) = entry {
                    measures.insert(measure, Value::Object(m));
                }
            }
        }
        let mut s = serde_json::to_string_pretty(&Value::Object(benchmarks))?;
        s.push('\n');
        Ok(s)
    }
}

impl Exporter for BmfExporter {
    fn name(&self) -> &'static str {
        "bmf"
    }

    fn export(&self, docs: &[&ResultDocument], stem: &str) -> Result<Vec<Output>, ExportError> {
        let doc = only(self.name(), docs)?;
        Ok(vec![Output::file(
            format!("{stem}.bmf.json"),
            self.render(doc)?,
        )])
    }
}

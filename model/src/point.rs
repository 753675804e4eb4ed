//! What a point is: its identity, the metrics it reports, and how many runs it wants.
//!
//! ```text
//! PointSpec                      (planned by an experiment, sent to the worker as JSON)
//! ├── id: PointId                experiment · backend · params     (the key `compare` matches by)
//! ├── metrics: [MetricSpec]      name · unit · what one value is   (the first is the headline)
//! └── runs                       replicates to make
//! MetricResult = MetricSpec + Option<Summary>                      (one per metric of a result point)
//! ```

use crate::param::{params_display, params_label, Params};
use crate::stats::Summary;
use crate::unit::Unit;
use serde::{Deserialize, Serialize};

/// Which point this is: experiment, backend and parameters. Two points of one result never
/// share an id; `compare` matches baseline and current points by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PointId {
    /// Experiment id, e.g. `switch`.
    pub experiment: String,
    /// Backend name as in DESIGN.md §3, e.g. `lwc`, `process-pipe`.
    pub backend: String,
    /// Sweep coordinates, sorted by name.
    pub params: Params,
}

impl PointId {
    /// `experiment backend name=value ...`, for progress lines.
    pub fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.experiment,
            self.backend,
            params_label(&self.params)
        )
    }

    /// The parameters for people (see [`params_display`]).
    pub fn params_display(&self) -> String {
        params_display(&self.params)
    }

    /// The parameters exactly (see [`params_label`]).
    pub fn params_label(&self) -> String {
        params_label(&self.params)
    }
}

/// One metric a point reports: a named series of values in one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// The series' name, unique within the point (`switch`, `create`, `requests`, `latency`).
    pub name: String,
    /// Unit of every value; it knows which direction is better.
    pub unit: Unit,
    /// What one value is, in words (`one-way switch`, `create + first switch + discard`).
    pub what: String,
}

impl MetricSpec {
    /// A metric called `name` in `unit`, one value being `what`.
    pub fn new(name: &str, unit: Unit, what: &str) -> Self {
        MetricSpec {
            name: name.to_owned(),
            unit,
            what: what.to_owned(),
        }
    }
}

/// One point of an experiment: what is measured, with which backend and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointSpec {
    /// Experiment, backend and parameters.
    #[serde(flatten)]
    pub id: PointId,
    /// The metrics every run reports, headline first; never empty.
    pub metrics: Vec<MetricSpec>,
    /// Separate runs (replicates) the harness should make of this point.
    pub runs: u32,
}

impl PointSpec {
    /// The headline metric (the first).
    pub fn headline(&self) -> Option<&MetricSpec> {
        self.metrics.first()
    }
}

/// One metric of a result point: its spec and the summary of its runs (`None` when no run
/// measured it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricResult {
    /// Name, unit, what one value is.
    #[serde(flatten)]
    pub spec: MetricSpec,
    /// The statistics over the runs, in `spec.unit`.
    pub summary: Option<Summary>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::{params, Param};

    #[test]
    fn spec_json_is_flat_and_round_trips() {
        let spec = PointSpec {
            id: PointId {
                experiment: "switch".into(),
                backend: "lwc".into(),
                params: params([("cores", Param::Text("same-core".into()))]),
            },
            metrics: vec![MetricSpec::new("switch", Unit::Ns, "one-way switch")],
            runs: 5,
        };
        let v = serde_json::to_value(&spec).expect("json");
        assert_eq!(v["experiment"], "switch");
        assert_eq!(v["params"]["cores"], "same-core");
        assert_eq!(v["metrics"][0]["unit"], "ns");
        let back: PointSpec = serde_json::from_value(v).expect("back");
        assert_eq!(back, spec);
        assert_eq!(back.id.label(), "switch lwc cores=same-core");
    }
}

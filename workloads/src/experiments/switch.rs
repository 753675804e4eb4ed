//! `switch`: one-way switch latency (ns) per backend, same core and two cores.
//!
//! Each run pins the measuring party to one CPU and the partner to the same CPU (`same-core`)
//! or to another one (`two-cores`), warms up, and times batches of round trips; a sample is a
//! batch's time divided by its one-way switches (two per round trip).

use std::time::Duration;

use super::{point, text_param, wanted};
use crate::backend::{self, Backend};
use crate::experiment::{Experiment, MeasureError, Param, PointSpec, RunSamples, Setting};
use crate::measure::{Placement, SamplePlan};

/// The `switch` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Switch;

/// Unit of the samples.
pub const UNIT: &str = "ns";
/// What one sample is.
pub const METRIC: &str = "one-way switch";

/// Runs per point for a setting.
pub fn runs(setting: Setting) -> u32 {
    match setting {
        Setting::Smoke => 3,
        Setting::Quick => 5,
        Setting::Full => 10,
    }
}

/// How much one run measures for a setting.
pub fn sample_plan(setting: Setting) -> SamplePlan {
    match setting {
        Setting::Smoke => SamplePlan {
            warmup: Duration::from_millis(2),
            max_samples: 30,
            min_samples: 5,
            budget: Duration::from_millis(10),
        },
        Setting::Quick => SamplePlan {
            warmup: Duration::from_millis(30),
            max_samples: 5_000,
            min_samples: 50,
            budget: Duration::from_millis(250),
        },
        Setting::Full => SamplePlan {
            warmup: Duration::from_millis(300),
            max_samples: 100_000,
            min_samples: 500,
            budget: Duration::from_secs(3),
        },
    }
}

fn plan_backend(b: &dyn Backend, setting: Setting) -> Vec<PointSpec> {
    b.placements()
        .iter()
        .map(|p| {
            point(
                "switch",
                b.name(),
                [("cores", Param::Text(p.label().into()))],
                UNIT,
                METRIC,
                runs(setting),
            )
        })
        .collect()
}

impl Experiment for Switch {
    fn id(&self) -> &'static str {
        "switch"
    }

    fn describe(&self) -> &'static str {
        "ping-pong between two contexts: ns per one-way switch, per backend, same core and two cores"
    }

    fn plan(&self, setting: Setting, backends: &[String]) -> Vec<PointSpec> {
        let mut all: Vec<&dyn Backend> = backend::all().to_vec();
        all.push(&backend::Mock);
        all.into_iter()
            .filter(|b| wanted(b.name(), backends))
            .flat_map(|b| plan_backend(b, setting))
            .collect()
    }

    fn measure(&self, point: &PointSpec, setting: Setting) -> Result<RunSamples, MeasureError> {
        let b = backend::by_name(&point.backend)
            .ok_or_else(|| MeasureError::BadPoint(format!("unknown backend {}", point.backend)))?;
        let cores = text_param(point, "cores")?;
        let placement = Placement::parse(cores)
            .ok_or_else(|| MeasureError::BadPoint(format!("cores = {cores}")))?;
        if !b.placements().contains(&placement) {
            return Err(MeasureError::Unavailable(format!(
                "{} is not measured with cores = {cores}",
                b.name()
            )));
        }
        b.measure(placement, &sample_plan(setting))
    }
}

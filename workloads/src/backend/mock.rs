//! `mock`: deterministic fake timings, for tests of the pipeline (never in a default plan).

use std::collections::BTreeMap;

use super::{Backend, PingPong};
use crate::experiment::{MeasureError, RunSamples};
use crate::measure::{Placement, SamplePlan};

/// `mock`: measures nothing. Its samples are a fixed pattern (ns per one-way switch) that
/// depends only on the placement and the plan, so a pipeline test gets the same numbers on any
/// machine. Not part of [`super::all`].
#[derive(Debug, Clone, Copy)]
pub struct Mock;

/// The fake samples: `base * (1 + (i mod 7) / 100)` for `i` in `0..n`.
pub fn mock_samples(base: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| base * (1.0 + (i % 7) as f64 / 100.0))
        .collect()
}

struct Nothing;

impl PingPong for Nothing {
    fn round_trips(&mut self, _n: u64) -> Result<(), MeasureError> {
        Ok(())
    }
}

impl Backend for Mock {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn open(&self, _cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        Ok(Box::new(Nothing))
    }

    fn measure(&self, placement: Placement, plan: &SamplePlan) -> Result<RunSamples, MeasureError> {
        let base = match placement {
            Placement::SameCore => 1000.0,
            Placement::TwoCores => 20_000.0,
        };
        Ok(RunSamples {
            samples: mock_samples(base, plan.max_samples.clamp(1, 1000)),
            batch: 2,
            counters: BTreeMap::from([("mock".to_string(), 1.0)]),
        })
    }
}

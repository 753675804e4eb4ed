//! `mock`: deterministic fake timings, for tests of the pipeline (never in a default plan).

use std::collections::BTreeMap;

use super::{Backend, Ring};
use crate::experiment::{Counter, MeasureError, RunSamples};
use crate::measure::SamplePlan;

/// `mock`: measures nothing. Its samples are a fixed pattern (ns per one-way switch) that
/// depends only on the CPUs (one or several) and the plan, so a pipeline test gets the same
/// numbers on any machine.
#[derive(Debug, Clone, Copy)]
pub struct Mock;

/// The fake samples: `base * (1 + (i mod 7) / 100)` for `i` in `0..n`.
pub fn mock_samples(base: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| base * (1.0 + (i % 7) as f64 / 100.0))
        .collect()
}

struct Nothing(u64);

impl Ring for Nothing {
    fn laps(&mut self, _n: u64) -> Result<(), MeasureError> {
        Ok(())
    }

    fn switches_per_lap(&self) -> u64 {
        self.0
    }
}

impl Backend for Mock {
    fn name(&self) -> &'static str {
        "mock"
    }

    fn open(&self, cpus: &[usize]) -> Result<Box<dyn Ring>, MeasureError> {
        super::check_ring(cpus)?;
        Ok(Box::new(Nothing(cpus.len() as u64)))
    }

    fn measure(
        &self,
        cpus: &[usize],
        series: &'static str,
        plan: &SamplePlan,
    ) -> Result<RunSamples, MeasureError> {
        super::check_ring(cpus)?;
        let one_cpu = cpus.iter().all(|&c| c == cpus[0]);
        let base = if one_cpu { 1000.0 } else { 20_000.0 };
        let mut run = RunSamples::single(
            series,
            mock_samples(base, plan.max_samples.clamp(1, 1000)),
            2,
        );
        run.counters = BTreeMap::from([("mock".to_string(), Counter::Value(1.0))]);
        Ok(run)
    }
}

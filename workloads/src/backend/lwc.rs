//! `lwc` and `lwc-spin`: the lwC runtime's `switch` between two lwCs of one group.
//!
//! PLACEHOLDER until the `lwc` crate exports its API: both backends report
//! [`MeasureError::Unavailable`].

use super::{Backend, PingPong};
use crate::experiment::{MeasureError, RunSamples};
use crate::measure::{Placement, SamplePlan};

/// `lwc`: blocking hand-off between two lwCs pinned like the placement says.
#[derive(Debug, Clone, Copy)]
pub struct Lwc;

/// `lwc-spin`: spinning hand-off between two lwCs on two CPUs.
#[derive(Debug, Clone, Copy)]
pub struct LwcSpin;

fn missing() -> MeasureError {
    MeasureError::Unavailable("the lwc runtime's API is not available in this build".into())
}

impl Backend for Lwc {
    fn name(&self) -> &'static str {
        "lwc"
    }
    fn open(&self, _cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        Err(missing())
    }
    fn measure(&self, _p: Placement, _plan: &SamplePlan) -> Result<RunSamples, MeasureError> {
        Err(missing())
    }
}

impl Backend for LwcSpin {
    fn name(&self) -> &'static str {
        "lwc-spin"
    }
    fn placements(&self) -> &'static [Placement] {
        &[Placement::TwoCores]
    }
    fn open(&self, _cpus: (usize, usize)) -> Result<Box<dyn PingPong>, MeasureError> {
        Err(missing())
    }
    fn measure(&self, _p: Placement, _plan: &SamplePlan) -> Result<RunSamples, MeasureError> {
        Err(missing())
    }
}

/// One lwC create + first switch + discard, `k` times (placeholder).
pub(crate) fn create_run(
    _resident_bytes: usize,
    _pages_written: usize,
    _cpu: usize,
    _plan: &SamplePlan,
) -> Result<RunSamples, MeasureError> {
    Err(missing())
}

//! What the summary states from the data, per experiment, beyond its tables: the answers to the
//! questions its readers ask (where the tagged TLB stops helping; how many isolated sessions fit
//! in a GiB), each a sentence computed from the points.
//!
//! - [`tlb`]: the extra cost per switch of separate address spaces over threads, at small and
//!   large W, and the ring size at which it steps up;
//! - [`scale`]: memory per session at the largest N, sessions per GiB, create and switch time
//!   from the smallest to the largest N, and where the memory guard stopped the sweep.

use crate::document::{ExperimentResult, Point};
use model::unit::convert;
use model::Unit;

pub mod scale;
pub mod tlb;

/// The findings of one experiment (none for an experiment without any).
pub fn of(exp: &ExperimentResult) -> Vec<String> {
    match exp.id.as_str() {
        "tlb" => tlb::findings(&exp.points),
        "scale" => scale::findings(&exp.points),
        _ => Vec::new(),
    }
}

/// The median of metric `metric` (the headline when `None`) of a measured point, in `unit`.
pub(crate) fn p50(p: &Point, metric: Option<&str>, unit: &Unit) -> Option<f64> {
    if !p.status.measured() {
        return None;
    }
    let m = match metric {
        Some(name) => p.metric(name)?,
        None => p.headline()?,
    };
    convert(m.summary.as_ref()?.p50, &m.spec.unit, unit)
}

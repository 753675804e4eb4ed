//! The experiments of this crate (`web`, `crypto`, `rollback`, `monitor`), in the order the
//! suite runs them after the `workloads` experiments. None is built yet, so the list is empty;
//! each experiment adds itself here when it lands.

use workloads::Experiment;

/// Every experiment of this crate, in suite order.
pub fn all() -> Vec<&'static dyn Experiment> {
    Vec::new()
}

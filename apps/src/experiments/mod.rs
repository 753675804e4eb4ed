//! The experiments of this crate (`web`, `crypto`, `rollback`, `monitor`), in the order the
//! suite runs them after the `workloads` experiments; each adds itself here when it lands.

use workloads::Experiment;

pub mod monitor;

/// Every experiment of this crate, in suite order.
pub fn all() -> Vec<&'static dyn Experiment> {
    vec![&monitor::Monitor]
}

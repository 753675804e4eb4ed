//! The experiments of this crate (`web`, `crypto`, `rollback`, `monitor`), in the order the
//! suite runs them after the `workloads` experiments; each adds itself here when it lands.

use workloads::Experiment;

pub mod monitor;
pub mod rollback;
pub mod web;

/// Every experiment of this crate, in suite order.
pub fn all() -> Vec<&'static dyn Experiment> {
    vec![&web::Web, &rollback::Rollback, &monitor::Monitor]
}

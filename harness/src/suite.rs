//! Which experiments exist: the `workloads` crate's, then the `apps` crate's (the experiments
//! that drive programs), plus the harness's hidden self-test.

use crate::selftest::SelfTest;
use workloads::Experiment;

static SELFTEST: SelfTest = SelfTest;

/// The experiments of the default suite, in the order they run.
pub fn all() -> Vec<&'static dyn Experiment> {
    let mut all = workloads::experiments::all();
    all.extend(apps::experiments::all());
    all
}

/// Experiments that run only when named (the harness self-test).
pub fn hidden() -> Vec<&'static dyn Experiment> {
    vec![&SELFTEST]
}

/// The experiment with this id, default or hidden.
pub fn by_id(id: &str) -> Option<&'static dyn Experiment> {
    all().into_iter().chain(hidden()).find(|e| e.id() == id)
}

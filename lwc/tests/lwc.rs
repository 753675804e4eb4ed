//! Behaviour of every lwC call, isolation attacks and leak checks.
//!
//! Every test runs in its own forked process (see `support`), starts its own lwC group there
//! and ends it by returning (the group's first lwC exits, the supervisor exits with its status).
#![allow(unsafe_code)]

mod support;

#[path = "lwc/attack_lifetime.rs"]
mod attack_lifetime;
#[path = "lwc/attack_regions.rs"]
mod attack_regions;
#[path = "lwc/attack_root.rs"]
mod attack_root;
#[path = "lwc/attack_systrap.rs"]
mod attack_systrap;
#[path = "lwc/common.rs"]
mod common;
#[path = "lwc/isolation.rs"]
mod isolation;
#[path = "lwc/leaks.rs"]
mod leaks;
#[path = "lwc/semantics.rs"]
mod semantics;
#[path = "lwc/snapshot.rs"]
mod snapshot;
#[path = "lwc/systrap.rs"]
mod systrap;

fn main() {
    let mut tests = Vec::new();
    tests.extend(semantics::tests());
    tests.extend(isolation::tests());
    tests.extend(systrap::tests());
    tests.extend(snapshot::tests());
    tests.extend(leaks::tests());
    tests.extend(attack_regions::tests());
    tests.extend(attack_root::tests());
    tests.extend(attack_lifetime::tests());
    tests.extend(attack_systrap::tests());
    let mut needs = semantics::needs();
    needs.extend(snapshot::needs());
    support::run_tests_unless(tests, &needs);
}

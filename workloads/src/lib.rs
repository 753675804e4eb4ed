//! lwcbench experiments, the context layer and measurement.
//!
//! The harness plans the points of an experiment ([`Experiment::plan`]), runs each point several
//! times in fresh worker processes ([`Experiment::measure`]), and summarises the runs with the
//! statistics of the `model` crate.
//!
//! ```no_run
//! use workloads::{by_id, Setting};
//! let switch = by_id("switch").expect("known experiment");
//! for point in switch.plan(Setting::Smoke, &["thread-futex".to_string()]) {
//!     // The harness runs each of these in a fresh single-threaded worker process.
//!     let runs: Vec<_> = (0..point.runs)
//!         .map(|_| switch.measure(&point, Setting::Smoke).expect("measured"))
//!         .collect();
//!     let metric = &point.metrics[0];
//!     let values: Vec<_> = runs.iter().filter_map(|r| r.series(&metric.name)).map(|s| &s.values).collect();
//!     let summary = model::stats::summarize(&values).expect("samples");
//!     println!("{} {:?}: {} {}", point.id.backend, point.id.params, summary.p50, metric.unit);
//! }
//! ```
//!
//! Modules: [`experiment`] (the contract with the harness), [`experiments`] (`switch`,
//! `create`: backend tables, sweep tables, typed points), [`context`] (K parties passing
//! control in a ring, for every switch backend), [`measure`] (clock, batching, pinning,
//! counters), [`isolate`] (run a closure in a forked child).
#![deny(unsafe_code)]

pub mod context;
pub mod counters;
pub mod experiment;
pub mod experiments;
pub mod isolate;
pub mod measure;
mod sys;

pub use experiment::{
    BackendInfo, Experiment, MeasureError, Param, PointSpec, RunSamples, Setting,
};
pub use experiments::{all, by_id};

//! lwcbench experiments, backends and measurement.
//!
//! The harness plans the points of an experiment ([`Experiment::plan`]), runs each point several
//! times in fresh worker processes ([`Experiment::measure`]), and summarises the runs
//! ([`stats::summarize`]).
//!
//! ```no_run
//! use workloads::{by_id, stats, Setting};
//! let switch = by_id("switch").expect("known experiment");
//! for point in switch.plan(Setting::Smoke, &["thread-futex".to_string()]) {
//!     // The harness runs each of these in a fresh single-threaded worker process.
//!     let runs: Vec<_> = (0..point.runs)
//!         .map(|_| switch.measure(&point, Setting::Smoke).expect("measured"))
//!         .collect();
//!     let summary = stats::try_summarize(&runs, &point.unit).expect("samples");
//!     println!("{} {:?}: {} {}", point.backend, point.params, summary.p50, summary.unit);
//! }
//! ```
//!
//! Modules: [`experiment`] (the contract with the harness), [`experiments`] (`switch`,
//! `create`), [`backend`] (the switch backends), [`measure`] (clock, batching, pinning,
//! counters), [`stats`] (summary statistics), [`isolate`] (run a closure in a forked child).
#![deny(unsafe_code)]

pub mod backend;
pub mod experiment;
pub mod experiments;
pub mod isolate;
pub mod measure;
pub mod stats;
mod sys;

pub use experiment::{Experiment, MeasureError, Param, PointSpec, RunSamples, Setting};
pub use experiments::{all, by_id};

//! lwcbench experiments, backends and measurement.
//!
//! The harness plans the points of an experiment ([`Experiment::plan`]), runs each point several
//! times in fresh worker processes ([`Experiment::measure`]), and summarises the runs
//! (`stats::summarize`).

pub mod experiment;

pub use experiment::{Experiment, MeasureError, Param, PointSpec, RunSamples, Setting};

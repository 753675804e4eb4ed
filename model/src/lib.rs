//! lwcbench's vocabulary: the data every crate shares, and every statistic.
//!
//! This crate sits at the bottom of the workspace and depends on no crate of ours: the
//! experiments (`workloads`) produce its types, the harness moves them between processes, and
//! the reports (`report`) read them, all with one meaning.
//!
//! - [`setting`]: [`Setting`] (smoke, quick, full) and [`PerSetting`] tables;
//! - [`param`]: typed point parameters ([`Param`], [`Params`]);
//! - [`unit`]: [`Unit`], which knows its [`Better`] direction, and value display;
//! - [`point`]: [`PointSpec`] = [`PointId`] + [`MetricSpec`]s + runs; [`MetricResult`];
//! - [`samples`]: what one run measured ([`RunSamples`]: named [`Series`] of samples or a
//!   histogram, and [`Counter`]s that are a value or unavailable with a reason);
//! - [`outcome`]: the [`Outcome`] of a run as it crosses process boundaries, and every
//!   [`exit`] code;
//! - [`stats`]: summary, median confidence interval, histogram, Mann–Whitney, least squares.
//!
//! ```
//! use model::{stats, MetricSpec, RunSamples, Unit};
//! let metric = MetricSpec::new("switch", Unit::Ns, "one-way switch");
//! let runs: Vec<RunSamples> = (0..3)
//!     .map(|i| RunSamples::single("switch", vec![100.0 + f64::from(i)], 2))
//!     .collect();
//! let values: Vec<_> = runs.iter().filter_map(|r| r.series(&metric.name)).map(|s| &s.values).collect();
//! let summary = stats::summarize(&values).unwrap();
//! assert_eq!(summary.p50, 101.0);
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod outcome;
pub mod param;
pub mod point;
pub mod samples;
pub mod setting;
pub mod stats;
pub mod unit;

pub use outcome::{exit, Outcome};
pub use param::{params, params_display, params_label, Param, Params};
pub use point::{MetricResult, MetricSpec, PointId, PointSpec};
pub use samples::{median_counters, Counter, EncodedHistogram, RunSamples, Series, Values};
pub use setting::{PerSetting, Setting};
pub use stats::{Interval, Summary};
pub use unit::{Better, Unit};

//! Every statistic lwcbench computes, in one place.
//!
//! - [`summary`]: the summary of one metric over a point's runs (runs are the replicates): median
//!   of run medians, its distribution-free confidence interval, percentiles, histogram;
//! - [`histogram`]: HdrHistogram V2 encoding of a metric's values;
//! - [`mann_whitney`]: the two-sided Mann–Whitney U test `compare` judges changes with;
//! - [`fit`]: least-squares lines (creation cost = fixed part + per-fault part).

pub mod error;
pub mod fit;
pub mod histogram;
pub mod mann_whitney;
pub mod summary;

pub use error::StatsError;
pub use fit::{least_squares, Line};
pub use histogram::{decode_histogram, HISTOGRAM_SIGFIG};
pub use mann_whitney::mann_whitney_p;
pub use summary::{median_sorted, summarize, Interval, Summary, CI_LEVEL};

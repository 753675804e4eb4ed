//! Why a statistic could not be computed.

/// Why a metric could not be summarised.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// No run had a finite value.
    #[error("no finite samples in {runs} run(s)")]
    NoSamples {
        /// How many runs were given.
        runs: usize,
    },
    /// The runs mix samples and histograms, or histograms of different scales.
    #[error("cannot merge the runs: {0}")]
    Mixed(String),
    /// The histogram could not be built, encoded or decoded.
    #[error("histogram: {0}")]
    Histogram(String),
}

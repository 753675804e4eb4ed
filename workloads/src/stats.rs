//! Summary statistics of one point: runs are the replicates.
//!
//! ```
//! use workloads::{stats, RunSamples};
//! let run = |v: &[f64]| RunSamples { samples: v.to_vec(), batch: 1, counters: Default::default() };
//! let runs = [run(&[10.0, 11.0, 12.0]), run(&[10.5, 11.5]), run(&[9.0, 10.0, 30.0])];
//! let s = stats::try_summarize(&runs, "ns").unwrap();
//! assert_eq!(s.runs, 3);
//! assert_eq!(s.run_medians, vec![11.0, 11.0, 10.0]);
//! assert_eq!(s.p50, 11.0);              // median of the run medians
//! assert_eq!((s.min, s.max), (9.0, 30.0)); // over all samples
//! assert!(s.ci95_low.unwrap() <= s.p50 && s.p50 <= s.ci95_high.unwrap());
//! ```
//!
//! - `p50` is the median of the per-run medians, and the confidence interval is a distribution-free
//!   (order-statistic, binomial) interval for the median across runs: the narrowest
//!   `[m(j), m(n-j+1)]` of the sorted run medians whose exact coverage is at least 95 %. With 3 to
//!   5 runs no such interval exists; the interval is then the full range of the run medians and
//!   [`Summary::ci_coverage`] says its exact (lower) coverage: 75 %, 87.5 %, 93.75 %.
//! - `min`, `max` and `mean` are exact over all samples; `p90` and `p99` come from an
//!   HdrHistogram of all samples (3 significant digits), clamped into `[min, max]`.
//! - Non-finite samples are ignored.
//!
//! # References
//! Conover, *Practical Nonparametric Statistics*, §3.2 (confidence interval for a quantile);
//! HdrHistogram V2 encoding: <https://github.com/HdrHistogram/HdrHistogram/blob/master/Encoding.md>.

use base64::Engine as _;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::experiment::RunSamples;

/// Coverage the confidence interval aims for.
pub const CI_LEVEL: f64 = 0.95;

/// Significant decimal digits the histogram keeps.
pub const HISTOGRAM_SIGFIG: u8 = 3;

/// The statistics of one measured point, all in the point's unit ([`Summary::unit`]).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Summary {
    /// Unit of every value below (`ns`, `us`), as given by the point.
    pub unit: String,
    /// Number of (finite) samples over all runs.
    pub count: u64,
    /// Number of runs (replicates) that contributed at least one sample.
    pub runs: u32,
    /// Smallest sample, in `unit`.
    pub min: f64,
    /// Median of the per-run medians, in `unit` (the headline number).
    pub p50: f64,
    /// 90th percentile over all samples (HdrHistogram, 3 significant digits), in `unit`.
    pub p90: f64,
    /// 99th percentile over all samples (HdrHistogram, 3 significant digits), in `unit`.
    pub p99: f64,
    /// Largest sample, in `unit`.
    pub max: f64,
    /// Arithmetic mean of all samples, in `unit`.
    pub mean: f64,
    /// Lower end of the confidence interval of the median across runs, in `unit`; `None` with
    /// fewer than 3 runs.
    pub ci95_low: Option<f64>,
    /// Upper end of the confidence interval of the median across runs, in `unit`; `None` with
    /// fewer than 3 runs.
    pub ci95_high: Option<f64>,
    /// Exact coverage probability of `[ci95_low, ci95_high]` (a fraction, e.g. `0.96875`); at
    /// least 0.95 from 6 runs on, lower with 3–5 runs; `None` when there is no interval.
    pub ci_coverage: Option<f64>,
    /// Median of each run, in `unit`, in the order the runs were given.
    pub run_medians: Vec<f64>,
    /// All samples as a base64 HdrHistogram V2 (deflate-compressed, the `HISTF...` form) of the
    /// integers `round(sample * histogram_scale)`.
    pub histogram: String,
    /// Factor the samples were multiplied by before being recorded in `histogram` (a power of 10,
    /// chosen so the smallest sample keeps at least 3 significant digits): divide a histogram
    /// value by it to get `unit`.
    pub histogram_scale: f64,
}

/// Why a point could not be summarised.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// No run had a finite sample.
    #[error("no finite samples in {runs} run(s)")]
    NoSamples {
        /// How many runs were given.
        runs: usize,
    },
    /// The histogram could not be built or encoded.
    #[error("histogram: {0}")]
    Histogram(String),
}

/// Summarises the runs of one point (see the module docs for what each statistic is).
///
/// With no finite sample at all, `count` is 0 and every statistic is NaN (which JSON cannot
/// carry): check `count`, or use [`try_summarize`], which returns an error instead.
pub fn summarize(runs: &[RunSamples], unit: &str) -> Summary {
    try_summarize(runs, unit).unwrap_or_else(|_| Summary {
        unit: unit.to_owned(),
        count: 0,
        runs: 0,
        min: f64::NAN,
        p50: f64::NAN,
        p90: f64::NAN,
        p99: f64::NAN,
        max: f64::NAN,
        mean: f64::NAN,
        ci95_low: None,
        ci95_high: None,
        ci_coverage: None,
        run_medians: Vec::new(),
        histogram: String::new(),
        histogram_scale: 1.0,
    })
}

/// Summarises the runs of one point; an error when there is no finite sample.
pub fn try_summarize(runs: &[RunSamples], unit: &str) -> Result<Summary, StatsError> {
    let per_run: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| {
            let mut v: Vec<f64> = r
                .samples
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .filter(|v| !v.is_empty())
        .collect();
    if per_run.is_empty() {
        return Err(StatsError::NoSamples { runs: runs.len() });
    }
    let run_medians: Vec<f64> = per_run.iter().map(|v| median_sorted(v)).collect();
    let mut all: Vec<f64> = per_run.concat();
    all.sort_by(f64::total_cmp);
    let count = all.len();
    let (min, max) = (all[0], all[count - 1]);
    let mean = all.iter().sum::<f64>() / count as f64;

    let mut sorted_medians = run_medians.clone();
    sorted_medians.sort_by(f64::total_cmp);
    let p50 = median_sorted(&sorted_medians);
    let ci = median_ci(&sorted_medians);

    let scale = histogram_scale(&all);
    let mut hist = Histogram::<u64>::new(HISTOGRAM_SIGFIG)
        .map_err(|e| StatsError::Histogram(format!("{e:?}")))?;
    for &x in &all {
        let v = (x.max(0.0) * scale).round() as u64;
        hist.record(v)
            .map_err(|e| StatsError::Histogram(format!("record {v}: {e:?}")))?;
    }
    let quantile = |q: f64| (hist.value_at_quantile(q) as f64 / scale).clamp(min, max);
    let (p90, p99) = (quantile(0.90), quantile(0.99));
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(&hist, &mut bytes)
        .map_err(|e| StatsError::Histogram(format!("encode: {e:?}")))?;

    Ok(Summary {
        unit: unit.to_owned(),
        count: count as u64,
        runs: u32::try_from(per_run.len()).unwrap_or(u32::MAX),
        min,
        p50,
        p90,
        p99,
        max,
        mean,
        ci95_low: ci.map(|c| c.0),
        ci95_high: ci.map(|c| c.1),
        ci_coverage: ci.map(|c| c.2),
        run_medians,
        histogram: base64::engine::general_purpose::STANDARD.encode(bytes),
        histogram_scale: scale,
    })
}

/// Decodes [`Summary::histogram`] back into a histogram of scaled integers.
pub fn decode_histogram(encoded: &str) -> Result<Histogram<u64>, StatsError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| StatsError::Histogram(format!("base64: {e}")))?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| StatsError::Histogram(format!("decode: {e:?}")))
}

/// Median of a non-empty sorted slice (mean of the two middle values for an even length).
pub fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Order-statistic confidence interval for the median of sorted values: `(low, high, coverage)`,
/// or `None` with fewer than 3 values.
fn median_ci(sorted: &[f64]) -> Option<(f64, f64, f64)> {
    let n = sorted.len();
    if n < 3 {
        return None;
    }
    // Coverage of [x(j), x(n-j+1)] (1-based) is 1 - 2 P(B <= j-1), B ~ Binomial(n, 1/2).
    let coverage = |j: usize| 1.0 - 2.0 * binomial_half_cdf(n, j - 1);
    let mut j = 1;
    while j < n.div_ceil(2) && coverage(j + 1) >= CI_LEVEL {
        j += 1;
    }
    Some((sorted[j - 1], sorted[n - j], coverage(j)))
}

/// P(B <= k) for B ~ Binomial(n, 1/2), computed in the log domain (no overflow for large `n`).
fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    let ln2 = std::f64::consts::LN_2;
    let mut ln_choose = 0.0_f64; // ln C(n, 0)
    let mut total = 0.0;
    for i in 0..=k.min(n) {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        total += (ln_choose - n as f64 * ln2).exp();
    }
    total.min(1.0)
}

/// A power of ten that gives the smallest positive sample at least 1000 histogram units (3
/// significant digits survive the rounding to integers), kept within `[1, 1e9]` and so that the
/// largest sample stays below 1e15 units.
fn histogram_scale(sorted: &[f64]) -> f64 {
    let max = sorted.last().copied().unwrap_or(0.0).max(0.0);
    let min_pos = sorted.iter().copied().find(|&x| x > 0.0);
    let mut k = match min_pos {
        Some(m) => (1000.0 / m).log10().ceil().clamp(0.0, 9.0) as i32,
        None => 0,
    };
    while k > 0 && max * 10f64.powi(k) > 1e15 {
        k -= 1;
    }
    10f64.powi(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn run(samples: Vec<f64>) -> RunSamples {
        RunSamples {
            samples,
            batch: 1,
            counters: BTreeMap::new(),
        }
    }

    fn runs_strategy() -> impl Strategy<Value = Vec<Vec<f64>>> {
        prop::collection::vec(prop::collection::vec(1.0e-1..1.0e5_f64, 1..40), 1..12)
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs())
    }

    #[test]
    fn known_values() {
        let runs = vec![
            run(vec![1.0, 2.0, 3.0]),
            run(vec![4.0, 5.0, 6.0]),
            run(vec![7.0, 8.0, 9.0]),
        ];
        let s = try_summarize(&runs, "ns").expect("summary");
        assert_eq!(s.count, 9);
        assert_eq!(s.runs, 3);
        assert_eq!(s.run_medians, vec![2.0, 5.0, 8.0]);
        assert_eq!(s.p50, 5.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 9.0);
        assert_eq!(s.mean, 5.0);
        assert_eq!((s.ci95_low, s.ci95_high), (Some(2.0), Some(8.0)));
        assert_eq!(s.ci_coverage, Some(0.75));
        assert_eq!(s.unit, "ns");
    }

    #[test]
    fn ci_reaches_95_percent_from_six_runs() {
        let runs: Vec<RunSamples> = (1..=6).map(|i| run(vec![f64::from(i)])).collect();
        let s = try_summarize(&runs, "ns").expect("summary");
        assert_eq!((s.ci95_low, s.ci95_high), (Some(1.0), Some(6.0)));
        assert_eq!(s.ci_coverage, Some(1.0 - 2.0 / 64.0));
        let runs: Vec<RunSamples> = (1..=20).map(|i| run(vec![f64::from(i)])).collect();
        let s = try_summarize(&runs, "ns").expect("summary");
        // n = 20: the classic table gives [x(6), x(15)] at 95.86 %.
        assert_eq!((s.ci95_low, s.ci95_high), (Some(6.0), Some(15.0)));
        assert!(s.ci_coverage.is_some_and(|c| (0.95..0.96).contains(&c)));
    }

    #[test]
    fn fewer_than_three_runs_have_no_ci() {
        let s = try_summarize(&[run(vec![1.0]), run(vec![2.0])], "us").expect("summary");
        assert_eq!((s.ci95_low, s.ci95_high, s.ci_coverage), (None, None, None));
        assert_eq!(s.p50, 1.5);
    }

    #[test]
    fn empty_input_is_an_error_or_nan() {
        assert!(try_summarize(&[], "ns").is_err());
        assert!(try_summarize(&[run(vec![f64::NAN])], "ns").is_err());
        let s = summarize(&[run(vec![])], "ns");
        assert_eq!(s.count, 0);
        assert!(s.p50.is_nan());
    }

    #[test]
    fn non_finite_samples_are_ignored() {
        let s =
            try_summarize(&[run(vec![1.0, f64::INFINITY, 3.0, f64::NAN])], "ns").expect("summary");
        assert_eq!(s.count, 2);
        assert_eq!(s.max, 3.0);
    }

    #[test]
    fn summary_json_round_trip() {
        let runs = vec![run(vec![1.5, 2.25]), run(vec![3.0]), run(vec![0.001, 7.0])];
        let s = try_summarize(&runs, "us").expect("summary");
        let json = serde_json::to_string(&s).expect("serialize");
        let back: Summary = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(s, back);
    }

    proptest! {
        #[test]
        fn order_of_statistics(runs in runs_strategy()) {
            let input: Vec<RunSamples> = runs.iter().cloned().map(run).collect();
            let s = try_summarize(&input, "ns").expect("summary");
            prop_assert!(s.min <= s.p50 && s.p50 <= s.max);
            prop_assert!(s.min <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);
            prop_assert!(s.min <= s.mean && s.mean <= s.max);
            prop_assert_eq!(s.count, runs.iter().map(Vec::len).sum::<usize>() as u64);
            prop_assert_eq!(s.runs as usize, runs.len());
        }

        #[test]
        fn ci_contains_p50(runs in runs_strategy()) {
            let input: Vec<RunSamples> = runs.iter().cloned().map(run).collect();
            let s = try_summarize(&input, "ns").expect("summary");
            match (s.ci95_low, s.ci95_high, s.ci_coverage) {
                (Some(lo), Some(hi), Some(c)) => {
                    prop_assert!(runs.len() >= 3);
                    prop_assert!(lo <= s.p50 && s.p50 <= hi);
                    prop_assert!(c > 0.0 && c <= 1.0);
                    prop_assert!(runs.len() < 6 || c >= CI_LEVEL);
                }
                (None, None, None) => prop_assert!(runs.len() < 3),
                other => prop_assert!(false, "inconsistent CI {:?}", other),
            }
        }

        #[test]
        fn scale_invariance(runs in runs_strategy(), c in 1.0e-2..1.0e2_f64) {
            let input: Vec<RunSamples> = runs.iter().cloned().map(run).collect();
            let scaled: Vec<RunSamples> =
                runs.iter().map(|r| run(r.iter().map(|x| x * c).collect())).collect();
            let a = try_summarize(&input, "ns").expect("summary");
            let b = try_summarize(&scaled, "ns").expect("summary");
            for (x, y) in [(a.min, b.min), (a.max, b.max), (a.p50, b.p50), (a.mean, b.mean)] {
                prop_assert!(close(x * c, y, 1e-9), "{} * {} vs {}", x, c, y);
            }
            // Histogram percentiles: 3 significant digits each side.
            prop_assert!(close(a.p90 * c, b.p90, 5e-3), "p90 {} * {} vs {}", a.p90, c, b.p90);
            prop_assert!(close(a.p99 * c, b.p99, 5e-3), "p99 {} * {} vs {}", a.p99, c, b.p99);
        }

        #[test]
        fn run_order_does_not_matter(runs in runs_strategy()) {
            let input: Vec<RunSamples> = runs.iter().cloned().map(run).collect();
            let mut reversed = input.clone();
            reversed.reverse();
            let a = try_summarize(&input, "ns").expect("summary");
            let b = try_summarize(&reversed, "ns").expect("summary");
            prop_assert_eq!((a.p50, a.ci95_low, a.ci95_high), (b.p50, b.ci95_low, b.ci95_high));
            prop_assert_eq!(a.histogram, b.histogram);
        }

        #[test]
        fn histogram_holds_every_sample(runs in runs_strategy()) {
            let input: Vec<RunSamples> = runs.iter().cloned().map(run).collect();
            let s = try_summarize(&input, "ns").expect("summary");
            let h = decode_histogram(&s.histogram).expect("decode");
            prop_assert_eq!(h.len(), s.count);
            let hmax = h.max() as f64 / s.histogram_scale;
            prop_assert!(close(hmax, s.max, 2e-3), "{} vs {}", hmax, s.max);
        }
    }
}

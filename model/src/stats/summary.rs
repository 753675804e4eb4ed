//! The summary of one metric over the runs of a point: runs are the replicates.
//!
//! ```
//! use model::{stats, Values};
//! let run = |v: &[f64]| Values::Samples(v.to_vec());
//! let runs = [run(&[10.0, 11.0, 12.0]), run(&[10.5, 11.5]), run(&[9.0, 10.0, 30.0])];
//! let s = stats::summarize(&runs.iter().collect::<Vec<_>>()).unwrap();
//! assert_eq!(s.runs, 3);
//! assert_eq!(s.run_medians, vec![11.0, 11.0, 10.0]);
//! assert_eq!(s.p50, 11.0);              // median of the run medians
//! assert_eq!((s.min, s.max), (9.0, 30.0)); // over all samples
//! let ci = s.ci95.unwrap();
//! assert!(ci.low <= s.p50 && s.p50 <= ci.high);
//! ```
//!
//! - `p50` is the median of the per-run medians, and the confidence interval is a distribution-free
//!   (order-statistic, binomial) interval for the median across runs: the narrowest
//!   `[m(j), m(n-j+1)]` of the sorted run medians whose exact coverage is at least 95 %. With 3 to
//!   5 runs no such interval exists; the interval is then the full range of the run medians and
//!   [`Interval::coverage`] says its exact (lower) coverage: 75 %, 87.5 %, 93.75 %.
//! - From samples, `min`, `max` and `mean` are exact over all samples; `p90` and `p99` come from
//!   an HdrHistogram of all samples (3 significant digits), clamped into `[min, max]`. From
//!   histograms (a load generator's), every statistic comes from the merged histogram, and a run's
//!   median is its histogram's.
//! - Non-finite samples are ignored.
//!
//! # References
//! Conover, *Practical Nonparametric Statistics*, §3.2 (confidence interval for a quantile).

use super::error::StatsError;
use super::histogram::{decode_histogram, encode, new_histogram, record_all, scale_for};
use crate::samples::Values;
use serde::{Deserialize, Serialize};

/// Coverage the confidence interval aims for.
pub const CI_LEVEL: f64 = 0.95;

/// A confidence interval of the median over runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound, in the metric's unit.
    pub low: f64,
    /// Upper bound, in the metric's unit.
    pub high: f64,
    /// Exact coverage probability of `[low, high]` (e.g. `0.96875`); at least 0.95 from 6 runs on,
    /// lower with 3–5 runs; `None` when not known (a hand-made document).
    pub coverage: Option<f64>,
}

/// The statistics of one metric of one point, all in the metric's unit.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Summary {
    /// Number of (finite) values over all runs.
    pub count: u64,
    /// Number of runs (replicates) that contributed at least one value.
    pub runs: u32,
    /// Smallest value.
    pub min: f64,
    /// Median of the per-run medians (the headline number).
    pub p50: f64,
    /// 90th percentile over all values (HdrHistogram, 3 significant digits).
    pub p90: f64,
    /// 99th percentile over all values (HdrHistogram, 3 significant digits).
    pub p99: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean of all values.
    pub mean: f64,
    /// Confidence interval of the median across runs; `None` with fewer than 3 runs.
    pub ci95: Option<Interval>,
    /// Median of each run, in the order the runs were given.
    pub run_medians: Vec<f64>,
    /// All values as a base64 HdrHistogram V2 (deflate) of `round(value * histogram_scale)`.
    pub histogram: String,
    /// Factor the values were multiplied by before being recorded in `histogram` (a power of 10):
    /// divide a histogram value by it to get the unit.
    pub histogram_scale: f64,
}

/// Summarises the values of one metric over a point's runs (see the module docs).
pub fn summarize(runs: &[&Values]) -> Result<Summary, StatsError> {
    let samples: Vec<&Vec<f64>> = runs
        .iter()
        .filter_map(|v| match v {
            Values::Samples(s) => Some(s),
            Values::Histogram(_) => None,
        })
        .collect();
    if samples.len() == runs.len() {
        return from_samples(&samples);
    }
    if !samples.is_empty() {
        return Err(StatsError::Mixed(
            "some runs sent samples, others histograms".into(),
        ));
    }
    from_histograms(runs)
}

fn from_samples(runs: &[&Vec<f64>]) -> Result<Summary, StatsError> {
    let per_run: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| {
            let mut v: Vec<f64> = r.iter().copied().filter(|x| x.is_finite()).collect();
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

    let scale = scale_for(&all);
    let mut hist = new_histogram()?;
    record_all(&mut hist, &all, scale)?;
    let quantile = |q: f64| (hist.value_at_quantile(q) as f64 / scale).clamp(min, max);
    let (p90, p99) = (quantile(0.90), quantile(0.99));
    let encoded = encode(&hist, scale)?;
    Ok(finish(
        count as u64,
        run_medians,
        [min, p90, p99, max, mean],
        encoded.encoded,
        scale,
    ))
}

fn from_histograms(runs: &[&Values]) -> Result<Summary, StatsError> {
    let mut merged = new_histogram()?;
    let mut scale = None;
    let mut run_medians = Vec::new();
    for v in runs {
        let Values::Histogram(h) = v else { continue };
        if h.encoded.is_empty() {
            continue;
        }
        match scale {
            None => scale = Some(h.scale),
            Some(s) if s == h.scale => {}
            Some(s) => {
                return Err(StatsError::Mixed(format!(
                    "histogram scales {s} and {} differ",
                    h.scale
                )))
            }
        }
        let hist = decode_histogram(&h.encoded)?;
        if hist.is_empty() {
            continue;
        }
        run_medians.push(hist.value_at_quantile(0.5) as f64 / h.scale);
        merged
            .add(&hist)
            .map_err(|e| StatsError::Histogram(format!("merge: {e:?}")))?;
    }
    let Some(scale) = scale.filter(|_| !merged.is_empty()) else {
        return Err(StatsError::NoSamples { runs: runs.len() });
    };
    let at = |q: f64| merged.value_at_quantile(q) as f64 / scale;
    let stats = [
        merged.min() as f64 / scale,
        at(0.90),
        at(0.99),
        merged.max() as f64 / scale,
        merged.mean() / scale,
    ];
    let encoded = encode(&merged, scale)?;
    Ok(finish(
        merged.len(),
        run_medians,
        stats,
        encoded.encoded,
        scale,
    ))
}

/// The summary from the run medians and `[min, p90, p99, max, mean]`.
fn finish(
    count: u64,
    run_medians: Vec<f64>,
    [min, p90, p99, max, mean]: [f64; 5],
    histogram: String,
    histogram_scale: f64,
) -> Summary {
    let mut sorted = run_medians.clone();
    sorted.sort_by(f64::total_cmp);
    Summary {
        count,
        runs: u32::try_from(run_medians.len()).unwrap_or(u32::MAX),
        min,
        p50: median_sorted(&sorted),
        p90,
        p99,
        max,
        mean,
        ci95: median_ci(&sorted),
        run_medians,
        histogram,
        histogram_scale,
    }
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

/// Order-statistic confidence interval for the median of sorted values, or `None` with fewer
/// than 3 values.
fn median_ci(sorted: &[f64]) -> Option<Interval> {
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
    Some(Interval {
        low: sorted[j - 1],
        high: sorted[n - j],
        coverage: Some(coverage(j)),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::histogram::encode_values;
    use proptest::prelude::*;

    fn sum(runs: &[Vec<f64>]) -> Result<Summary, StatsError> {
        let values: Vec<Values> = runs.iter().cloned().map(Values::Samples).collect();
        summarize(&values.iter().collect::<Vec<_>>())
    }

    fn runs_strategy() -> impl Strategy<Value = Vec<Vec<f64>>> {
        prop::collection::vec(prop::collection::vec(1.0e-1..1.0e5_f64, 1..40), 1..12)
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * a.abs().max(b.abs())
    }

    fn ci(s: &Summary) -> (Option<f64>, Option<f64>, Option<f64>) {
        match s.ci95 {
            Some(i) => (Some(i.low), Some(i.high), i.coverage),
            None => (None, None, None),
        }
    }

    #[test]
    fn known_values() {
        let s = sum(&[
            vec![1.0, 2.0, 3.0],
            vec![4.0, 5.0, 6.0],
            vec![7.0, 8.0, 9.0],
        ])
        .expect("summary");
        assert_eq!(s.count, 9);
        assert_eq!(s.runs, 3);
        assert_eq!(s.run_medians, vec![2.0, 5.0, 8.0]);
        assert_eq!(s.p50, 5.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 9.0);
        assert_eq!(s.mean, 5.0);
        assert_eq!(ci(&s), (Some(2.0), Some(8.0), Some(0.75)));
    }

    #[test]
    fn ci_reaches_95_percent_from_six_runs() {
        let runs: Vec<Vec<f64>> = (1..=6).map(|i| vec![f64::from(i)]).collect();
        let s = sum(&runs).expect("summary");
        assert_eq!(ci(&s), (Some(1.0), Some(6.0), Some(1.0 - 2.0 / 64.0)));
        let runs: Vec<Vec<f64>> = (1..=20).map(|i| vec![f64::from(i)]).collect();
        let s = sum(&runs).expect("summary");
        // n = 20: the classic table gives [x(6), x(15)] at 95.86 %.
        let (lo, hi, c) = ci(&s);
        assert_eq!((lo, hi), (Some(6.0), Some(15.0)));
        assert!(c.is_some_and(|c| (0.95..0.96).contains(&c)));
    }

    #[test]
    fn fewer_than_three_runs_have_no_ci() {
        let s = sum(&[vec![1.0], vec![2.0]]).expect("summary");
        assert_eq!(s.ci95, None);
        assert_eq!(s.p50, 1.5);
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(sum(&[]).is_err());
        assert!(sum(&[vec![f64::NAN]]).is_err());
        assert!(sum(&[vec![]]).is_err());
    }

    #[test]
    fn non_finite_samples_are_ignored() {
        let s = sum(&[vec![1.0, f64::INFINITY, 3.0, f64::NAN]]).expect("summary");
        assert_eq!(s.count, 2);
        assert_eq!(s.max, 3.0);
    }

    #[test]
    fn summary_json_round_trip() {
        let s = sum(&[vec![1.5, 2.25], vec![3.0], vec![0.001, 7.0]]).expect("summary");
        let json = serde_json::to_string(&s).expect("serialize");
        let back: Summary = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(s, back);
    }

    #[test]
    fn histograms_summarise_like_their_samples() {
        // Guards against a histogram run being summarised by its first run only, or at the
        // wrong scale: the medians and extremes must match the samples' within 3 digits.
        let runs = [
            (100..200).map(f64::from).collect::<Vec<_>>(),
            (150..250).map(f64::from).collect(),
            (120..220).map(f64::from).collect(),
        ];
        let direct = sum(&runs).expect("samples");
        // One scale for every run, as a load generator would record them.
        let hist: Vec<Values> = runs
            .iter()
            .map(|r| Values::Histogram(encode_values(r).expect("encode")))
            .collect();
        let merged = summarize(&hist.iter().collect::<Vec<_>>()).expect("histograms");
        assert_eq!(merged.count, 300);
        assert_eq!(merged.runs, 3);
        // A histogram median is a recorded value, not the mean of the two middle ones.
        assert!(
            close(merged.p50, direct.p50, 5e-3),
            "{} {}",
            merged.p50,
            direct.p50
        );
        assert!(close(merged.max, direct.max, 2e-3));
        assert!(close(merged.min, direct.min, 2e-3));
        let mixed = [Values::Samples(vec![1.0]), hist[0].clone()];
        assert!(matches!(
            summarize(&mixed.iter().collect::<Vec<_>>()),
            Err(StatsError::Mixed(_))
        ));
    }

    proptest! {
        #[test]
        fn order_of_statistics(runs in runs_strategy()) {
            let s = sum(&runs).expect("summary");
            prop_assert!(s.min <= s.p50 && s.p50 <= s.max);
            prop_assert!(s.min <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max);
            prop_assert!(s.min <= s.mean && s.mean <= s.max);
            prop_assert_eq!(s.count, runs.iter().map(Vec::len).sum::<usize>() as u64);
            prop_assert_eq!(s.runs as usize, runs.len());
        }

        #[test]
        fn ci_contains_p50(runs in runs_strategy()) {
            let s = sum(&runs).expect("summary");
            match ci(&s) {
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
            let scaled: Vec<Vec<f64>> =
                runs.iter().map(|r| r.iter().map(|x| x * c).collect()).collect();
            let a = sum(&runs).expect("summary");
            let b = sum(&scaled).expect("summary");
            for (x, y) in [(a.min, b.min), (a.max, b.max), (a.p50, b.p50), (a.mean, b.mean)] {
                prop_assert!(close(x * c, y, 1e-9), "{} * {} vs {}", x, c, y);
            }
            // Histogram percentiles: 3 significant digits each side.
            prop_assert!(close(a.p90 * c, b.p90, 5e-3), "p90 {} * {} vs {}", a.p90, c, b.p90);
            prop_assert!(close(a.p99 * c, b.p99, 5e-3), "p99 {} * {} vs {}", a.p99, c, b.p99);
        }

        #[test]
        fn run_order_does_not_matter(runs in runs_strategy()) {
            let mut reversed = runs.clone();
            reversed.reverse();
            let a = sum(&runs).expect("summary");
            let b = sum(&reversed).expect("summary");
            prop_assert_eq!((a.p50, a.ci95), (b.p50, b.ci95));
            prop_assert_eq!(a.histogram, b.histogram);
        }

        #[test]
        fn histogram_holds_every_sample(runs in runs_strategy()) {
            let s = sum(&runs).expect("summary");
            let h = decode_histogram(&s.histogram).expect("decode");
            prop_assert_eq!(h.len(), s.count);
            let hmax = h.max() as f64 / s.histogram_scale;
            prop_assert!(close(hmax, s.max, 2e-3), "{} vs {}", hmax, s.max);
        }
    }
}

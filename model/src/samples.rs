//! What one run of one point measured: named series of values, and counters.
//!
//! ```text
//! RunSamples
//! ├── series[]    name (a MetricSpec's) · batch · values: samples [f64] | histogram (HdrHistogram V2)
//! └── counters    name → value per operation | unavailable: the kernel's reason
//! ```
//!
//! An open-loop load generator reports a coordinated-omission-corrected histogram rather than a
//! sample per request; a micro-benchmark reports its batched samples. Both summarise the same way
//! ([`crate::stats::summarize`]).

use crate::stats::median_sorted;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One run's measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSamples {
    /// One series per metric of the point, by the metric's name.
    pub series: Vec<Series>,
    /// Extra per-run observations (`page_faults_per_op`, ...), by name.
    #[serde(default)]
    pub counters: BTreeMap<String, Counter>,
}

impl RunSamples {
    /// A run with one series of samples.
    pub fn single(name: &str, samples: Vec<f64>, batch: u64) -> Self {
        RunSamples {
            series: vec![Series {
                name: name.to_owned(),
                batch,
                values: Values::Samples(samples),
            }],
            counters: BTreeMap::new(),
        }
    }

    /// The series called `name`.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }
}

/// The values of one metric in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// The metric's name ([`crate::MetricSpec::name`]).
    pub name: String,
    /// Operations timed together in one sample (1 when unbatched); a batched sample is already
    /// divided by it.
    pub batch: u64,
    /// The values, in the metric's unit.
    pub values: Values,
}

/// Samples or a histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Values {
    /// One value per sample.
    Samples(Vec<f64>),
    /// A histogram of many values (e.g. every request's latency).
    Histogram(EncodedHistogram),
}

impl Values {
    /// True when there is no value at all.
    pub fn is_empty(&self) -> bool {
        match self {
            Values::Samples(v) => v.is_empty(),
            Values::Histogram(h) => h.encoded.is_empty(),
        }
    }
}

/// An HdrHistogram V2 (deflate, base64) of the integers `round(value * scale)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedHistogram {
    /// The histogram, base64 of the `HISTF...` encoding.
    pub encoded: String,
    /// Divide a histogram value by this to get the metric's unit.
    pub scale: f64,
}

/// A counter's value per operation, or why the kernel would not count it (never a zero).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Counter {
    /// Counted: the value per operation of the metric.
    Value(f64),
    /// Not counted here.
    Unavailable {
        /// The kernel's reason (`perf_event_open: No such file or directory`).
        unavailable: String,
    },
}

impl Counter {
    /// The value, when counted.
    pub fn value(&self) -> Option<f64> {
        match self {
            Counter::Value(v) => Some(*v),
            Counter::Unavailable { .. } => None,
        }
    }

    /// The median of the finite values over runs; unavailable (with the first reason) when no
    /// run counted it.
    pub fn median<'a>(over: impl IntoIterator<Item = &'a Counter>) -> Option<Counter> {
        let mut values = Vec::new();
        let mut reason = None;
        for c in over {
            match c {
                Counter::Value(v) if v.is_finite() => values.push(*v),
                Counter::Value(_) => {}
                Counter::Unavailable { unavailable } => {
                    reason.get_or_insert_with(|| unavailable.clone());
                }
            }
        }
        if values.is_empty() {
            return reason.map(|unavailable| Counter::Unavailable { unavailable });
        }
        values.sort_by(f64::total_cmp);
        Some(Counter::Value(median_sorted(&values)))
    }
}

/// The median of each counter over the runs that report it.
pub fn median_counters(runs: &[RunSamples]) -> BTreeMap<String, Counter> {
    let mut all: BTreeMap<&str, Vec<&Counter>> = BTreeMap::new();
    for r in runs {
        for (k, v) in &r.counters {
            all.entry(k.as_str()).or_default().push(v);
        }
    }
    all.into_iter()
        .filter_map(|(k, v)| Counter::median(v).map(|m| (k.to_owned(), m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_the_median_over_runs() {
        // Guards against a mean (10 would pull it to 4) or a first-run value.
        let run = |v: f64| RunSamples {
            counters: BTreeMap::from([("page_faults".to_owned(), Counter::Value(v))]),
            ..RunSamples::single("x", vec![1.0], 1)
        };
        let m = median_counters(&[run(3.0), run(1.0), run(2.0), run(10.0)]);
        assert_eq!(m.get("page_faults"), Some(&Counter::Value(2.5)));
    }

    #[test]
    fn an_unavailable_counter_stays_unavailable_never_zero() {
        let no = Counter::Unavailable {
            unavailable: "ENOENT".into(),
        };
        assert_eq!(Counter::median([&no, &no]), Some(no.clone()));
        // One run that counted wins over runs that could not.
        assert_eq!(
            Counter::median([&no, &Counter::Value(4.0)]),
            Some(Counter::Value(4.0))
        );
        assert_eq!(Counter::median([]), None);
        let json = serde_json::to_string(&no).expect("json");
        assert_eq!(json, r#"{"unavailable":"ENOENT"}"#);
        assert_eq!(
            serde_json::from_str::<Counter>("0.5").expect("v"),
            Counter::Value(0.5)
        );
    }

    #[test]
    fn run_samples_round_trip() {
        let mut r = RunSamples::single("switch", vec![0.1, 1.0 / 3.0, 123_456.789], 16);
        r.counters
            .insert("page_faults_per_op".into(), Counter::Value(0.25));
        let back: RunSamples =
            serde_json::from_str(&serde_json::to_string(&r).expect("ser")).expect("de");
        assert_eq!(r, back);
        assert!(back.series("switch").is_some() && back.series("other").is_none());
    }
}

//! The paper's claims (`results/paper.json`): what the paper says, how sure we are of it, and how
//! our numbers are to be judged against it.
//!
//! Every claim of the paper is listed, also those of experiments not built yet, so the claims
//! table shows the whole paper. A claim carries its status (`confirmed` by an independent
//! source, `unverified`, `absent` where the paper has no number, `qualitative`), the sources it
//! rests on, and, where the suite can judge it, a [`Rule`]: which of our numbers stands for the
//! paper's and when it counts as reproduced. The judging itself is in [`crate::verdict`]; taking
//! our numbers out of a result document is in [`crate::evidence`].

use crate::document::Point;
use model::{MetricResult, Param};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Schema version of `results/paper.json`.
pub const PAPER_SCHEMA: &str = "lwcbench/paper/v2";

/// The paper reference file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a paper reference document.
    #[error("{path}: not a valid {PAPER_SCHEMA} document: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The file declares another schema version.
    #[error("{path}: unknown schema version {found:?}; this lwcbench reads {PAPER_SCHEMA:?}")]
    UnknownSchema {
        /// The file.
        path: String,
        /// The schema it declares.
        found: String,
    },
}

/// The paper and its claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperReference {
    /// Always [`PAPER_SCHEMA`].
    pub schema: String,
    /// Which paper.
    pub paper: PaperInfo,
    /// The hardware and OS the paper measured on.
    pub hardware: Hardware,
    /// The sources the claims rest on, by key (`K`: a seminar report written from the paper).
    pub sources: BTreeMap<String, String>,
    /// Every claim of the paper, in the paper's order.
    pub claims: Vec<Claim>,
}

/// Bibliographic data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperInfo {
    /// Title.
    pub title: String,
    /// Authors.
    pub authors: String,
    /// Venue and year.
    pub venue: String,
}

/// The paper's test machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    /// CPUs.
    pub cpu: String,
    /// Operating system.
    pub os: String,
}

/// How sure we are of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Confirmed by a source written from the paper itself.
    Confirmed,
    /// Given only by a source known to misstate results: not to be presented as the paper's
    /// without its mark.
    Unverified,
    /// The paper has no number for it: ours is new.
    Absent,
    /// The paper states it in words only.
    Qualitative,
}

impl Status {
    /// The status as written in tables.
    pub fn label(self) -> &'static str {
        match self {
            Status::Confirmed => "confirmed",
            Status::Unverified => "unverified",
            Status::Absent => "no paper number",
            Status::Qualitative => "qualitative",
        }
    }
}

/// One claim of the paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// Stable id (`switch.speedup`, `create.lwc`).
    pub id: String,
    /// The experiment of this suite that measures it (`switch`, `web`), built or not.
    pub experiment: String,
    /// What the paper claims, in words.
    pub statement: String,
    /// The paper's number, when it gives one.
    #[serde(default)]
    pub paper: Option<PaperValue>,
    /// How the paper's result reads in a table when there is no number (`"minimal" overhead`).
    #[serde(default)]
    pub shown: Option<String>,
    /// How sure we are of it.
    pub status: Status,
    /// Keys into [`PaperReference::sources`].
    pub sources: Vec<String>,
    /// Caveats, definitions, what ours is.
    #[serde(default)]
    pub note: Option<String>,
    /// How our numbers are judged against it; `None` while the suite cannot judge it.
    #[serde(default)]
    pub judge: Option<Rule>,
}

/// A number of the paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperValue {
    /// The value, in `unit`.
    pub value: f64,
    /// `us`, `s`, `ratio` (a plain factor), `%` (a relative change).
    pub unit: String,
    /// True when the paper gives it as approximate, or it was read from a plot.
    #[serde(default)]
    pub approximate: bool,
    /// How it reads in a table when the number alone does not say it (`2× faster`).
    #[serde(default)]
    pub shown: Option<String>,
    /// Open readings of the number: for each, the factor that turns it into what we measure
    /// (a round trip read as one-way switches: 0.5). Empty: one reading, the value itself.
    #[serde(default)]
    pub readings: Vec<Reading>,
}

/// One reading of an ambiguous number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// What the number is under this reading (`one-way`, `round trip`).
    pub name: String,
    /// Factor from the paper's value to the quantity we measure under this reading.
    pub scale: f64,
}

/// How a claim is judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rule {
    /// Our number against the paper's: reproduced when within a factor `within` of it (either
    /// way), under every reading. Absolute numbers come from other hardware, so the tolerance is
    /// wide.
    Absolute {
        /// Our number.
        of: Selector,
        /// Largest factor between ours and the paper's that still counts as reproduced.
        within: f64,
        /// When ours is explained by what Linux can do.
        #[serde(default)]
        linux: Option<LinuxLimit>,
    },
    /// A ratio of two of our numbers from one run, against the paper's ratio: hardware-neutral.
    Ratio {
        /// Numerator.
        numerator: Selector,
        /// Denominator.
        denominator: Selector,
        /// Reproduced when our ratio is at most this.
        #[serde(default)]
        reproduced_at_most: Option<f64>,
        /// Reproduced when our ratio is at least this.
        #[serde(default)]
        reproduced_at_least: Option<f64>,
        /// When a ratio that misses is explained by what Linux can do.
        #[serde(default)]
        linux: Option<LinuxLimit>,
    },
    /// The paper has no number: ours is shown as new (a ratio of two of our numbers).
    New {
        /// Numerator.
        numerator: Selector,
        /// Denominator.
        denominator: Selector,
        /// What the ratio is, in words.
        meaning: String,
    },
    /// The paper has no number: ours is shown as new (one of our numbers, in its own unit).
    NewValue {
        /// Our number.
        of: Selector,
        /// What it is, in words.
        meaning: String,
    },
}

/// The limit of Linux that explains a miss: "not applicable on Linux" instead of "not
/// reproduced".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinuxLimit {
    /// For an absolute rule: the Linux floor ours is compared with (process-futex for a switch).
    #[serde(default)]
    pub ratio_to: Option<Selector>,
    /// The miss is Linux's when ours (over `ratio_to`, or the rule's ratio) is at most this;
    /// `None`: every miss is.
    #[serde(default)]
    pub at_most: Option<f64>,
    /// Why, in words.
    pub reason: String,
}

/// Which of our numbers: a point's statistic, or a fit over a parameter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selector {
    /// Experiment id.
    pub experiment: String,
    /// Backend name.
    pub backend: String,
    /// Parameters a point must have (a subset of its params); empty matches every point.
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    /// The metric of the point it reads; `None`: the point's headline metric.
    #[serde(default)]
    pub metric: Option<String>,
    /// Which of our numbers stands for the paper's.
    pub statistic: Statistic,
    /// For the fit statistics: the parameter on the x axis (`pages_written`).
    #[serde(default)]
    pub x_param: Option<String>,
    /// Of the matching points, keep those at the smallest or largest value of a parameter.
    #[serde(default)]
    pub extreme: Option<Extreme>,
}

/// Keep the points at one end of a parameter's range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extreme {
    /// The parameter (`resident_bytes`).
    pub param: String,
    /// Which end.
    pub end: End,
}

/// An end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
}

/// Which of our numbers a claim is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// The point's median.
    P50,
    /// The point's mean.
    Mean,
    /// Intercept of a least-squares line of p50 over `x_param`.
    FitIntercept,
    /// Slope of a least-squares line of p50 over `x_param`.
    FitSlope,
}

impl PaperReference {
    /// Parses a paper reference document, checking the schema version first.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, PaperError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|source| PaperError::Parse {
                path: origin.to_owned(),
                source,
            })?;
        let found = value
            .get("schema")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("<none>");
        if found != PAPER_SCHEMA {
            return Err(PaperError::UnknownSchema {
                path: origin.to_owned(),
                found: found.to_owned(),
            });
        }
        serde_json::from_value(value).map_err(|source| PaperError::Parse {
            path: origin.to_owned(),
            source,
        })
    }

    /// Reads and parses a paper reference file.
    pub fn load(path: &Path) -> Result<Self, PaperError> {
        let text = std::fs::read_to_string(path).map_err(|source| PaperError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// The paper reference shipped with this version (`results/paper.json`, compiled in).
    pub fn bundled() -> Result<Self, PaperError> {
        Self::from_json_str(
            include_str!("../../results/paper.json"),
            "results/paper.json",
        )
    }

    /// The claim whose absolute number is `metric` of our `point` (for a `paper` column beside
    /// a point), if any.
    pub fn claim_for(&self, point: &Point, metric: &MetricResult) -> Option<&Claim> {
        self.claims.iter().find(|c| match &c.judge {
            Some(Rule::Absolute { of, .. }) => {
                matches!(of.statistic, Statistic::P50 | Statistic::Mean)
                    && of.matches(point)
                    && of
                        .metric_of(point)
                        .is_some_and(|m| m.spec.name == metric.spec.name)
            }
            _ => false,
        })
    }
}

impl Claim {
    /// The paper's side as a table reads it: the number (`~` when approximate, `†` when
    /// unverified) and its readings, or the words.
    pub fn paper_shown(&self) -> String {
        let dagger = if self.status == Status::Unverified {
            " †"
        } else {
            ""
        };
        match &self.paper {
            Some(v) => {
                let number = v
                    .shown
                    .clone()
                    .unwrap_or_else(|| crate::verdict::show(v.value, &v.unit, v.approximate));
                let readings = if v.readings.len() > 1 {
                    format!(
                        " ({})",
                        v.readings
                            .iter()
                            .map(|r| r.name.as_str())
                            .collect::<Vec<_>>()
                            .join(" or ")
                    )
                } else {
                    String::new()
                };
                format!("{number}{dagger}{readings}")
            }
            None => format!("{}{dagger}", self.shown.as_deref().unwrap_or("no number")),
        }
    }
}

impl Selector {
    /// True when `point` is of this experiment and backend and has every required parameter.
    pub fn matches(&self, point: &Point) -> bool {
        point.id.experiment == self.experiment
            && point.id.backend == self.backend
            && self
                .params
                .iter()
                .all(|(k, v)| point.id.params.get(k) == Some(v))
    }

    /// The metric of `point` this selector reads: the named one, or the headline.
    pub fn metric_of<'a>(&self, point: &'a Point) -> Option<&'a MetricResult> {
        match &self.metric {
            Some(name) => point.metric(name),
            None => point.headline(),
        }
    }
}

//! The paper's reference numbers (`results/paper.json`) and our numbers beside them.
//!
//! Each [`Claim`] carries its provenance and whether it was checked against the paper's PDF.
//! A claim with a [`Match`] names the experiment, backend and statistic it corresponds to:
//! `p50` and `mean` compare one point directly; `fit_intercept` and `fit_slope` fit a
//! least-squares line over the parameter `x_param` (lwC creation: the fixed cost is the intercept
//! over `pages_written`, the per-CoW-fault cost the slope). A match names the metric it reads
//! (`metric`); without one it reads the point's headline metric.

use crate::document::{Point, ResultDocument};
use model::stats::{least_squares, Line};
use model::unit::convert;
use model::{params_display, MetricResult, Param, Params, Unit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Schema version of `results/paper.json`.
pub const PAPER_SCHEMA: &str = "lwcbench/paper/v1";

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

/// The paper and its reference numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperReference {
    /// Always [`PAPER_SCHEMA`].
    pub schema: String,
    /// Which paper.
    pub paper: PaperInfo,
    /// The hardware and OS the paper measured on.
    pub hardware: Hardware,
    /// The reference numbers.
    pub claims: Vec<Claim>,
    /// The paper's findings that are statements rather than numbers.
    #[serde(default)]
    pub observations: Vec<Observation>,
}

/// A finding of the paper that is not a single number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// Stable id (`rollback.apache`).
    pub id: String,
    /// The finding, in words.
    pub statement: String,
    /// Where in the paper it comes from, and from what source it was taken.
    pub provenance: String,
    /// True once someone checked it against the paper's PDF.
    pub verified: bool,
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

/// One reference number of the paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// Stable id (`switch.lwc`, `create.lwc.fixed`).
    pub id: String,
    /// What the number is, in words.
    pub description: String,
    /// The paper's value, in `unit`.
    pub value: f64,
    /// Unit of `value` (`us`, `s`, `req/s`).
    pub unit: Unit,
    /// True when the paper gives the number as approximate ("about 3 µs").
    #[serde(default)]
    pub approximate: bool,
    /// Where in the paper the number comes from, and from what source it was taken.
    pub provenance: String,
    /// True once someone checked the number against the paper's PDF.
    pub verified: bool,
    /// Which of our points it corresponds to; `None` when no experiment measures it yet.
    #[serde(rename = "match")]
    pub matcher: Option<Match>,
}

/// How a claim maps onto our points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Match {
    /// Experiment id.
    pub experiment: String,
    /// Backend name.
    pub backend: String,
    /// Parameters a point must have (a subset of its params); empty matches every point.
    #[serde(default)]
    pub params: Params,
    /// The metric compared (its name); `None` for the point's headline metric.
    #[serde(default)]
    pub metric: Option<String>,
    /// Which of our numbers stands for the paper's.
    pub statistic: Statistic,
    /// For the fit statistics: the parameter on the x axis (`pages_written`).
    #[serde(default)]
    pub x_param: Option<String>,
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

/// Our number beside the paper's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The claim's id.
    pub claim_id: String,
    /// The claim's description.
    pub description: String,
    /// The paper's value, in `unit`.
    pub paper: f64,
    /// True when the paper's value is approximate.
    pub approximate: bool,
    /// True when the paper's value was verified against the PDF.
    pub verified: bool,
    /// Our value in the paper's `unit`; `None` when we have none.
    pub ours: Option<f64>,
    /// Unit of `paper` and `ours`.
    pub unit: Unit,
    /// `ours / paper`; `None` when we have no value.
    pub ratio: Option<f64>,
    /// Which of our points (parameters, fit quality) the number comes from, or why there is none.
    pub context: String,
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

    /// The claim compared directly (p50 or mean) with metric `metric` of `point`, if any.
    pub fn claim_for(&self, point: &Point, metric: &MetricResult) -> Option<&Claim> {
        self.claims.iter().find(|c| {
            c.matcher.as_ref().is_some_and(|m| {
                matches!(m.statistic, Statistic::P50 | Statistic::Mean)
                    && m.matches(point)
                    && m.metric_of(point)
                        .is_some_and(|x| x.spec.name == metric.spec.name)
            })
        })
    }

    /// Every claim whose experiment appears in `doc`, with our number beside it.
    pub fn compare(&self, doc: &ResultDocument) -> Vec<Comparison> {
        let mut out = Vec::new();
        for claim in &self.claims {
            let Some(m) = &claim.matcher else { continue };
            if !doc.experiments.iter().any(|e| e.id == m.experiment) {
                continue;
            }
            let points: Vec<(&Point, &MetricResult)> = doc
                .points()
                .filter(|p| p.status.measured() && m.matches(p))
                .filter_map(|p| m.metric_of(p).map(|x| (p, x)))
                .collect();
            let before = out.len();
            match m.statistic {
                Statistic::P50 | Statistic::Mean => {
                    for (p, x) in &points {
                        let v = x.summary.as_ref().map(|s| match m.statistic {
                            Statistic::Mean => s.mean,
                            _ => s.p50,
                        });
                        let ours = v.and_then(|v| convert(v, &x.spec.unit, &claim.unit));
                        out.push(comparison(claim, ours, p.params_display()));
                    }
                }
                Statistic::FitIntercept | Statistic::FitSlope => {
                    fit_comparisons(claim, m, &points, &mut out);
                }
            }
            if out.len() == before {
                out.push(comparison(
                    claim,
                    None,
                    "not measured in this run".to_owned(),
                ));
            }
        }
        out
    }
}

impl Match {
    /// True when `point` is of this experiment and backend and has every required parameter.
    pub fn matches(&self, point: &Point) -> bool {
        point.id.experiment == self.experiment
            && point.id.backend == self.backend
            && self
                .params
                .iter()
                .all(|(k, v)| point.id.params.get(k) == Some(v))
    }

    /// The metric of `point` this match reads: the named one, or the headline.
    pub fn metric_of<'a>(&self, point: &'a Point) -> Option<&'a MetricResult> {
        match &self.metric {
            Some(name) => point.metric(name),
            None => point.headline(),
        }
    }
}

fn comparison(claim: &Claim, ours: Option<f64>, context: String) -> Comparison {
    Comparison {
        claim_id: claim.id.clone(),
        description: claim.description.clone(),
        paper: claim.value,
        approximate: claim.approximate,
        verified: claim.verified,
        ours,
        unit: claim.unit.clone(),
        ratio: ours.map(|o| o / claim.value),
        context,
    }
}

/// One comparison per group of points that differ only in `x_param`.
fn fit_comparisons(
    claim: &Claim,
    m: &Match,
    points: &[(&Point, &MetricResult)],
    out: &mut Vec<Comparison>,
) {
    let Some(x_param) = &m.x_param else {
        out.push(comparison(
            claim,
            None,
            "claim has no x_param to fit over".to_owned(),
        ));
        return;
    };
    // Keyed by the other params themselves, so that numbers sort as numbers.
    let mut groups: BTreeMap<Params, Vec<(f64, f64)>> = BTreeMap::new();
    for (p, metric) in points {
        let Some(Param::Int(x)) = p.id.params.get(x_param) else {
            continue;
        };
        let Some(y) = metric
            .summary
            .as_ref()
            .and_then(|s| convert(s.p50, &metric.spec.unit, &claim.unit))
        else {
            continue;
        };
        let mut rest = p.id.params.clone();
        rest.remove(x_param);
        groups.entry(rest).or_default().push((*x as f64, y));
    }
    for (rest, pts) in groups {
        let label = if rest.is_empty() {
            String::new()
        } else {
            format!("{}; ", params_display(&rest))
        };
        let line: Option<Line> = least_squares(&pts);
        let (ours, context) = match line {
            Some(l) => {
                let v = match m.statistic {
                    Statistic::FitIntercept => l.intercept,
                    _ => l.slope,
                };
                let r2 = l
                    .r_squared
                    .map_or_else(|| "undefined".to_owned(), |r| format!("{r:.3}"));
                (
                    Some(v),
                    format!(
                        "{label}least squares over {x_param}, {} points, r² {r2}",
                        l.n
                    ),
                )
            }
            None => (
                None,
                format!("{label}fewer than two distinct {x_param} values to fit"),
            ),
        };
        out.push(comparison(claim, ours, context));
    }
}

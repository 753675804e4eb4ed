//! Our side of each claim, taken out of a result document: the numbers a claim's [`Rule`]
//! selects, or why there are none. The verdicts themselves are in [`crate::verdict`].

use crate::document::{Point, ResultDocument};
use crate::paper::{Claim, End, PaperReference, Rule, Selector, Statistic};
use crate::verdict::{judge, Judgement, Measured, Ours};
use model::stats::least_squares;
use model::unit::convert;
use model::{params_display, Param, Params, Summary, Unit};

/// One of our numbers, in the unit of the points it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: Unit,
    /// Where it comes from, in words.
    pub context: String,
}

/// Judges every claim of `paper` on `doc`. `built` lists the experiments this suite has, so a
/// claim of another one reads "not built yet" rather than "did not run"; empty: those of `doc`.
pub fn judge_all<S: AsRef<str>>(
    paper: &PaperReference,
    doc: &ResultDocument,
    built: &[S],
) -> Vec<Judgement> {
    let built: Vec<&str> = if built.is_empty() {
        doc.experiments.iter().map(|e| e.id.as_str()).collect()
    } else {
        built.iter().map(AsRef::as_ref).collect()
    };
    paper
        .claims
        .iter()
        .map(|c| judge(c, &ours(c, doc, &built)))
        .collect()
}

/// Our side of `claim` in `doc`.
pub fn ours(claim: &Claim, doc: &ResultDocument, built: &[&str]) -> Ours {
    let exp = claim.experiment.as_str();
    let ran = doc.experiments.iter().any(|e| e.id == exp);
    if !ran {
        return Ours::Unmeasured(if built.contains(&exp) || doc_knows(doc, exp) {
            format!("the {exp} experiment did not run in this result")
        } else {
            format!("the {exp} experiment is not built yet")
        });
    }
    let Some(rule) = &claim.judge else {
        return Ours::Unmeasured(format!(
            "the {exp} experiment ran, but no rule judges this claim yet"
        ));
    };
    match measure(rule, claim.paper.as_ref().map(|p| p.unit.as_str()), doc) {
        Ok(m) => Ours::Measured(m),
        Err(why) => Ours::Unmeasured(why),
    }
}

/// True when the document's configuration asked for `exp` (an older suite had it).
fn doc_knows(doc: &ResultDocument, exp: &str) -> bool {
    doc.configuration.experiments.iter().any(|e| e == exp)
}

fn measure(
    rule: &Rule,
    paper_unit: Option<&str>,
    doc: &ResultDocument,
) -> Result<Measured, String> {
    match rule {
        Rule::Absolute { of, linux, .. } => {
            let s = select(of, doc)?;
            let unit = paper_unit.map_or_else(|| s.unit.clone(), Unit::parse);
            let value = convert(s.value, &s.unit, &unit).ok_or_else(|| {
                format!("our unit {} does not convert to the paper's {unit}", s.unit)
            })?;
            let floor = linux
                .as_ref()
                .and_then(|l| l.ratio_to.as_ref())
                .and_then(|f| {
                    let floor = select(f, doc).ok()?;
                    Some((ratio_of(&s, &floor)?, f.backend.clone()))
                });
            Ok(Measured {
                value,
                unit: unit.symbol(),
                context: s.context,
                floor,
            })
        }
        Rule::NewValue { of, .. } => {
            let s = select(of, doc)?;
            Ok(Measured {
                value: s.value,
                unit: s.unit.symbol(),
                context: s.context,
                floor: None,
            })
        }
        Rule::Ratio {
            numerator,
            denominator,
            ..
        }
        | Rule::New {
            numerator,
            denominator,
            ..
        } => {
            let (n, d) = (select(numerator, doc)?, select(denominator, doc)?);
            let value = ratio_of(&n, &d).ok_or_else(|| {
                format!(
                    "{} in {} and {} in {} do not make a ratio",
                    numerator.backend, n.unit, denominator.backend, d.unit
                )
            })?;
            let context = if numerator.backend == denominator.backend {
                format!("{} over {}", n.context, d.context)
            } else {
                format!(
                    "{} / {}, {}",
                    numerator.backend,
                    denominator.backend,
                    strip_backend(&n.context, &numerator.backend)
                )
            };
            Ok(Measured {
                value,
                unit: "ratio".to_owned(),
                context,
                floor: None,
            })
        }
    }
}

fn strip_backend<'a>(context: &'a str, backend: &str) -> &'a str {
    context
        .strip_prefix(backend)
        .map(|s| s.trim_start_matches(", "))
        .unwrap_or(context)
}

/// `a / b`, in a common unit; `None` when the units differ and are not both times, or `b` is 0.
fn ratio_of(a: &Selected, b: &Selected) -> Option<f64> {
    let (x, y) = if a.unit == b.unit {
        (a.value, b.value)
    } else {
        (
            a.value * a.unit.ns_per_unit()?,
            b.value * b.unit.ns_per_unit()?,
        )
    };
    (y != 0.0).then(|| x / y)
}

/// The number `sel` names in `doc`, or why there is none.
pub fn select(sel: &Selector, doc: &ResultDocument) -> Result<Selected, String> {
    let all: Vec<&Point> = doc.points().filter(|p| sel.matches(p)).collect();
    let want = format!("{}{}", sel.backend, with_params(&sel.params));
    if all.is_empty() {
        return Err(format!("no {want} point in this result"));
    }
    let mut points: Vec<(&Point, &Summary, &Unit)> = all
        .iter()
        .filter(|p| p.status.measured())
        .filter_map(|p| {
            let m = sel.metric_of(p)?;
            Some((*p, m.summary.as_ref()?, &m.spec.unit))
        })
        .collect();
    if points.is_empty() {
        let why = all
            .iter()
            .find_map(|p| p.error.as_deref())
            .unwrap_or("no reason recorded");
        let status = all.first().map_or("failed", |p| {
            if p.status == crate::PointStatus::Unavailable {
                "is unavailable"
            } else {
                "failed"
            }
        });
        return Err(format!("the {want} point {status}: {why}"));
    }
    if let Some(ext) = &sel.extreme {
        let value = |p: &Point| match p.id.params.get(&ext.param) {
            Some(Param::Int(v)) => Some(*v),
            _ => None,
        };
        let pick = points.iter().filter_map(|(p, ..)| value(p));
        let target = match ext.end {
            End::Min => pick.min(),
            End::Max => pick.max(),
        };
        // Points without the parameter (a sweep that does not vary it) are all kept.
        if target.is_some() {
            points.retain(|(p, ..)| value(p) == target);
        }
    }
    match sel.statistic {
        Statistic::P50 | Statistic::Mean => {
            let (p, summary, unit) = points[0];
            let value = match sel.statistic {
                Statistic::Mean => summary.mean,
                _ => summary.p50,
            };
            Ok(Selected {
                value,
                unit: unit.clone(),
                context: format!("{}{}", p.id.backend, with_params(&p.id.params)),
            })
        }
        Statistic::FitIntercept | Statistic::FitSlope => fit(sel, &points, &want),
    }
}

fn with_params(params: &Params) -> String {
    if params.is_empty() {
        String::new()
    } else {
        format!(", {}", params_display(params))
    }
}

/// A least-squares line of p50 over `x_param` through `points`.
fn fit(
    sel: &Selector,
    points: &[(&Point, &Summary, &Unit)],
    want: &str,
) -> Result<Selected, String> {
    let x_param = sel
        .x_param
        .as_deref()
        .ok_or_else(|| "the claim's fit names no x_param".to_owned())?;
    let unit = points[0].2.clone();
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|(p, s, u)| match p.id.params.get(x_param) {
            Some(Param::Int(x)) => Some((*x as f64, convert(s.p50, u, &unit)?)),
            _ => None,
        })
        .collect();
    let line = least_squares(&xy).ok_or_else(|| {
        format!("fewer than two distinct {x_param} values of {want} to fit a line")
    })?;
    let mut rest = points[0].0.id.params.clone();
    rest.remove(x_param);
    let r2 = line
        .r_squared
        .map_or_else(|| "undefined".to_owned(), |r| format!("{r:.3}"));
    let value = match sel.statistic {
        Statistic::FitIntercept => line.intercept,
        _ => line.slope,
    };
    Ok(Selected {
        value,
        unit,
        context: format!(
            "{}{}; least squares over {x_param}, {} points, r² {r2}",
            sel.backend,
            with_params(&rest),
            line.n
        ),
    })
}

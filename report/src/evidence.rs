//! Our side of each claim, taken out of a result document: the numbers a claim's [`Rule`]
//! selects, or why there are none. The verdicts themselves are in [`crate::verdict`].

use crate::document::{params_display, Param, Point, PointStatus, ResultDocument};
use crate::fit::least_squares;
use crate::paper::{Claim, End, PaperReference, Rule, Selector, Statistic};
use crate::units::{convert, ns_per_unit};
use crate::verdict::{judge, Judgement, Measured, Ours};

/// One of our numbers, in the unit of the points it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    /// The value.
    pub value: f64,
    /// Its unit.
    pub unit: String,
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
            let unit = paper_unit.unwrap_or(&s.unit);
            let value = convert(s.value, &s.unit, unit).ok_or_else(|| {
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
                unit: unit.to_owned(),
                context: s.context,
                floor,
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
            a.value * ns_per_unit(&a.unit)?,
            b.value * ns_per_unit(&b.unit)?,
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
    let mut points: Vec<&Point> = all
        .iter()
        .copied()
        .filter(|p| p.status != PointStatus::Failed && p.p50.is_some())
        .collect();
    if points.is_empty() {
        let why = all
            .iter()
            .find_map(|p| p.error.as_deref())
            .unwrap_or("no reason recorded");
        return Err(format!("the {want} point failed: {why}"));
    }
    if let Some(ext) = &sel.extreme {
        let value = |p: &Point| match p.params.get(&ext.param) {
            Some(Param::Int(v)) => Some(*v),
            _ => None,
        };
        let pick = points.iter().filter_map(|p| value(p));
        let target = match ext.end {
            End::Min => pick.min(),
            End::Max => pick.max(),
        };
        // Points without the parameter (a sweep that does not vary it) are all kept.
        if target.is_some() {
            points.retain(|p| value(p) == target);
        }
    }
    match sel.statistic {
        Statistic::P50 | Statistic::Mean => {
            let p = points[0];
            let v = match sel.statistic {
                Statistic::Mean => p.mean,
                _ => p.p50,
            };
            let value = v.ok_or_else(|| format!("the {want} point has no mean"))?;
            Ok(Selected {
                value,
                unit: p.unit.clone(),
                context: format!("{}{}", p.backend, with_params(&p.params)),
            })
        }
        Statistic::FitIntercept | Statistic::FitSlope => fit(sel, &points, &want),
    }
}

fn with_params(params: &std::collections::BTreeMap<String, Param>) -> String {
    if params.is_empty() {
        String::new()
    } else {
        format!(", {}", params_display(params))
    }
}

/// A least-squares line of p50 over `x_param` through `points`.
fn fit(sel: &Selector, points: &[&Point], want: &str) -> Result<Selected, String> {
    let x_param = sel
        .x_param
        .as_deref()
        .ok_or_else(|| "the claim's fit names no x_param".to_owned())?;
    let unit = points[0].unit.clone();
    let xy: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| match (p.params.get(x_param), p.p50) {
            (Some(Param::Int(x)), Some(y)) => Some((*x as f64, convert(y, &p.unit, &unit)?)),
            _ => None,
        })
        .collect();
    let line = least_squares(&xy).ok_or_else(|| {
        format!("fewer than two distinct {x_param} values of {want} to fit a line")
    })?;
    let mut rest = points[0].params.clone();
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

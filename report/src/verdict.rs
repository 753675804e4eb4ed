//! The claims table's verdicts: pure functions of a claim and our measurement (or why there is
//! none).
//!
//! - *reproduced*: ours agrees with the paper, under every open reading of its number;
//! - *not reproduced*: it does not, and nothing about Linux explains why;
//! - *not applicable on Linux*: it does not, because of what an lwC on Linux is (a process):
//!   the claim's [`LinuxLimit`] says when that holds and why;
//! - *not measured yet*: the experiment is not built, did not run, or its point failed;
//! - *new*: the paper has no number; ours is shown for the record.
//!
//! Every verdict carries a one-line reason computed from the numbers.

use crate::paper::{Claim, LinuxLimit, Reading, Rule, Status};
use model::unit::{human, sig3};
use model::Unit;
use serde::Serialize;

/// The verdict on one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Ours agrees with the paper.
    Reproduced,
    /// Ours disagrees, and Linux does not explain it.
    NotReproduced,
    /// Ours disagrees because of what an lwC on Linux is.
    NotApplicableOnLinux,
    /// No number of ours yet.
    NotMeasuredYet,
    /// The paper has no number: ours is new.
    New,
}

impl Verdict {
    /// The verdict as written in tables.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Reproduced => "reproduced",
            Verdict::NotReproduced => "not reproduced",
            Verdict::NotApplicableOnLinux => "not applicable on Linux",
            Verdict::NotMeasuredYet => "not measured yet",
            Verdict::New => "new (no paper number)",
        }
    }
}

/// Our side of a claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Ours {
    /// A number.
    Measured(Measured),
    /// No number, and why (`the web experiment is not built yet`).
    Unmeasured(String),
}

/// Our number for a claim.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// The value: in the paper's unit for an absolute rule, a plain factor for a ratio.
    pub value: f64,
    /// Its unit (`us`, `ratio`).
    pub unit: String,
    /// Where it comes from (`lwc / process-futex, cores=same-core`).
    pub context: String,
    /// For an absolute rule with a Linux floor: ours over the floor, and the floor's name;
    /// `None` when the rule has none or it was not measured.
    pub floor: Option<(f64, String)>,
}

/// One row of the claims table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// The claim's id.
    pub claim_id: String,
    /// The experiment that measures it.
    pub experiment: String,
    /// The claim, in words.
    pub statement: String,
    /// How sure we are of the paper's side.
    pub status: Status,
    /// The paper's side, as shown (`2.01 µs † (one-way or round trip)`).
    pub paper: String,
    /// Our side, as shown (`4.09 µs`, `0.98×`, `-`).
    pub ours: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in one line, from the numbers.
    pub reason: String,
}

/// A value for a table: times scaled to a readable unit, ratios as `0.98×`, changes as `-22%`;
/// `~` in front when approximate.
pub fn show(value: f64, unit: &str, approximate: bool) -> String {
    let approx = if approximate { "~" } else { "" };
    let text = match unit {
        "ratio" => format!("{}×", sig3(value)),
        "%" => format!("{value:+}%"),
        _ => human(value, &Unit::parse(unit)),
    };
    format!("{approx}{text}")
}

/// Judges `claim` on `ours`.
pub fn judge(claim: &Claim, ours: &Ours) -> Judgement {
    let (verdict, reason, shown) = match ours {
        Ours::Unmeasured(why) => (Verdict::NotMeasuredYet, why.clone(), "-".to_owned()),
        Ours::Measured(m) => {
            let (verdict, reason) = match (&claim.judge, &claim.paper) {
                (Some(Rule::New { meaning, .. } | Rule::NewValue { meaning, .. }), _) => (
                    Verdict::New,
                    format!(
                        "the paper has no number; ours: {} ({meaning}; {})",
                        show(m.value, &m.unit, false),
                        m.context
                    ),
                ),
                (Some(Rule::Absolute { within, linux, .. }), Some(paper)) => {
                    absolute(paper.value, &paper.unit, &paper.readings, *within, linux, m)
                }
                (
                    Some(Rule::Ratio {
                        reproduced_at_most,
                        reproduced_at_least,
                        linux,
                        ..
                    }),
                    Some(paper),
                ) => ratio(
                    paper.value,
                    *reproduced_at_most,
                    *reproduced_at_least,
                    linux,
                    m,
                ),
                _ => (
                    Verdict::NotMeasuredYet,
                    "the claim has no paper number to judge ours against".to_owned(),
                ),
            };
            (verdict, reason, show(m.value, &m.unit, false))
        }
    };
    Judgement {
        claim_id: claim.id.clone(),
        experiment: claim.experiment.clone(),
        statement: claim.statement.clone(),
        status: claim.status,
        paper: claim.paper_shown(),
        ours: shown,
        verdict,
        reason,
    }
}

/// Ours against the paper's number under each reading.
fn absolute(
    paper: f64,
    unit: &str,
    readings: &[Reading],
    within: f64,
    linux: &Option<LinuxLimit>,
    m: &Measured,
) -> (Verdict, String) {
    let single = [Reading {
        name: String::new(),
        scale: 1.0,
    }];
    let readings = if readings.is_empty() {
        &single[..]
    } else {
        readings
    };
    let ours = show(m.value, &m.unit, false);
    let judged: Vec<(bool, String)> = readings
        .iter()
        .map(|r| {
            let target = paper * r.scale;
            let factor = m.value / target;
            let ok = factor <= within && factor >= 1.0 / within;
            let name = if r.name.is_empty() {
                String::new()
            } else {
                format!(" read as {}", r.name)
            };
            (
                ok,
                format!(
                    "{}× the paper's {}{name}",
                    sig3(factor),
                    show(target, unit, false)
                ),
            )
        })
        .collect();
    let all_ok = judged.iter().all(|(ok, _)| *ok);
    let some_ok = judged.iter().any(|(ok, _)| *ok);
    let parts = judged
        .iter()
        .map(|(_, s)| s.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let head = format!("ours {ours} ({}) is {parts}", m.context);
    if all_ok {
        return (
            Verdict::Reproduced,
            format!("{head}: within {}× either way", sig3(within)),
        );
    }
    // A reading that fits does not make the claim reproduced while another reading is open.
    let only = if some_ok {
        let fits: Vec<&str> = readings
            .iter()
            .zip(&judged)
            .filter(|(_, (ok, _))| *ok)
            .map(|(r, _)| r.name.as_str())
            .collect();
        format!(
            " (it fits only if the paper's number is {})",
            fits.join(", ")
        )
    } else {
        String::new()
    };
    if let Some(limit) = linux {
        if let Some((floor, floor_name)) = &m.floor {
            if limit.at_most.is_none_or(|most| *floor <= most) {
                return (
                    Verdict::NotApplicableOnLinux,
                    format!(
                        "{head}{only}; ours is {}× {floor_name}: {}",
                        sig3(*floor),
                        limit.reason
                    ),
                );
            }
            return (
                Verdict::NotReproduced,
                format!(
                    "{head}{only}, beyond {}× either way; ours is {}× {floor_name}, more than \
                     Linux explains",
                    sig3(within),
                    sig3(*floor)
                ),
            );
        }
    }
    (
        Verdict::NotReproduced,
        format!("{head}{only}, beyond {}× either way", sig3(within)),
    )
}

/// Our ratio against the paper's.
fn ratio(
    paper: f64,
    at_most: Option<f64>,
    at_least: Option<f64>,
    linux: &Option<LinuxLimit>,
    m: &Measured,
) -> (Verdict, String) {
    let r = m.value;
    let head = format!(
        "ours {}× ({}) against the paper's ~{}×",
        sig3(r),
        m.context,
        sig3(paper)
    );
    let fits = at_most.is_none_or(|v| r <= v) && at_least.is_none_or(|v| r >= v);
    let bounds = match (at_most, at_least) {
        (Some(hi), Some(lo)) => format!("{}× – {}×", sig3(lo), sig3(hi)),
        (Some(hi), None) => format!("at most {}×", sig3(hi)),
        (None, Some(lo)) => format!("at least {}×", sig3(lo)),
        (None, None) => "any".to_owned(),
    };
    if fits {
        return (
            Verdict::Reproduced,
            format!("{head}: {bounds} counts as reproduced"),
        );
    }
    if let Some(limit) = linux {
        if limit.at_most.is_none_or(|most| r <= most) {
            return (
                Verdict::NotApplicableOnLinux,
                format!("{head}: {}", limit.reason),
            );
        }
        return (
            Verdict::NotReproduced,
            format!(
                "{head}: not {bounds}, and above the {}× that Linux explains",
                sig3(limit.at_most.unwrap_or(f64::INFINITY))
            ),
        );
    }
    (Verdict::NotReproduced, format!("{head}: not {bounds}"))
}

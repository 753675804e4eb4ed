//! The Markdown exporter: a summary for terminals and CI job summaries.
//!
//! Per experiment, one table; points that differ only in backend are grouped and sorted by
//! median, so the backends' relative order reads top to bottom, with each median's ratio to the
//! group's fastest and the paper's number where one matches. Failed points stay in the table with
//! their reason. A last table judges every claim of the paper (built experiments or not): our number
//! beside the paper's, a verdict and its reason.
//! Columns are padded so that the table also reads well as plain text.

use super::{ExportError, Exporter};
use crate::document::{
    params_display, ExperimentStatus, Param, Point, PointStatus, ResultDocument,
};
use crate::evidence::judge_all;
use crate::paper::PaperReference;
use crate::units::{human, sig3};
use crate::verdict::show;
use crate::verdict::Judgement;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Renders the Markdown summary, with the paper column when a paper reference is given.
#[derive(Debug, Default, Clone)]
pub struct MarkdownExporter {
    /// The paper's numbers to show beside ours; `None` leaves the paper out.
    pub paper: Option<PaperReference>,
    /// The experiments the suite has, so a claim of another one reads "not built yet"; empty:
    /// those of the document.
    pub built: Vec<String>,
}

impl MarkdownExporter {
    /// An exporter that compares with `paper`.
    pub fn with_paper(paper: PaperReference) -> Self {
        MarkdownExporter {
            paper: Some(paper),
            built: Vec::new(),
        }
    }

    /// The same exporter, told which experiments the suite has.
    pub fn with_built(mut self, built: &[&str]) -> Self {
        self.built = built.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

impl Exporter for MarkdownExporter {
    fn name(&self) -> &'static str {
        "markdown"
    }

    fn extension(&self) -> &'static str {
        "md"
    }

    fn render(&self, doc: &ResultDocument) -> Result<String, ExportError> {
        let mut out = String::new();
        header(doc, &mut out);
        for exp in &doc.experiments {
            let _ = writeln!(out, "\n## {}\n", exp.id);
            let _ = write!(out, "{}", exp.description);
            match exp.status {
                ExperimentStatus::Ok => out.push('\n'),
                ExperimentStatus::Failed => {
                    let _ = writeln!(
                        out,
                        "\n\n**failed**: {}",
                        exp.error.as_deref().unwrap_or("no reason recorded")
                    );
                }
            }
            if !exp.points.is_empty() {
                out.push('\n');
                out.push_str(&self.points_table(&exp.points));
            } else if exp.status == ExperimentStatus::Ok {
                let _ = writeln!(
                    out,
                    "\nNo points: none of the backends asked for belongs to this experiment."
                );
            }
        }
        if let Some(paper) = &self.paper {
            paper_table(paper, doc, &self.built, &mut out);
        }
        Ok(out)
    }
}

fn header(doc: &ResultDocument, out: &mut String) {
    let m = &doc.machine;
    let _ = writeln!(out, "# lwcbench results\n");
    let vm = match m.virtualization.virtual_machine {
        Some(true) => "virtual machine",
        Some(false) => "bare metal",
        None => "virtualization unknown",
    };
    let _ = writeln!(
        out,
        "Setting `{}`, started {}. {}, {} logical CPUs, Linux {}, {}, lwcbench {}.",
        doc.configuration.setting,
        doc.configuration.started_at,
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.logical_cpus,
        m.kernel_release.as_deref().unwrap_or("(unknown)"),
        vm,
        m.lwcbench_version,
    );
    if !m.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:\n");
        for w in &m.warnings {
            let _ = writeln!(out, "- {w}");
        }
    }
}

impl MarkdownExporter {
    fn points_table(&self, points: &[Point]) -> String {
        // One table per unit; inside it, rows grouped by params so that inside a group only the
        // backend differs, and sorted by median.
        // Keyed by the params themselves, so that numbers sort as numbers.
        let mut by_unit: BTreeMap<String, BTreeMap<&BTreeMap<String, Param>, Vec<&Point>>> =
            BTreeMap::new();
        for p in points {
            by_unit
                .entry(p.unit.clone())
                .or_default()
                .entry(&p.params)
                .or_default()
                .push(p);
        }
        let mut out = String::new();
        for groups in by_unit.values() {
            let mut metrics: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for p in groups.values().flatten() {
                let backends = metrics.entry(p.metric.as_str()).or_default();
                if !backends.contains(&p.backend.as_str()) {
                    backends.push(p.backend.as_str());
                }
            }
            if metrics.len() == 1 {
                let metric = metrics.keys().next().copied().unwrap_or_default();
                let _ = writeln!(out, "Sample: {metric}.\n");
            } else {
                let _ = writeln!(out, "Samples:\n");
                for (metric, backends) in &metrics {
                    let _ = writeln!(out, "- {}: {metric}", backends.join(", "));
                }
                out.push('\n');
            }
            let mut rows = Vec::new();
            let mut failures = Vec::new();
            for (params, group) in groups {
                let params = params_display(params);
                let mut group = group.clone();
                group.sort_by(|a, b| order_key(a).total_cmp(&order_key(b)));
                let fastest = group.iter().filter_map(|p| p.p50).reduce(f64::min);
                for p in group {
                    rows.push(self.row(p, &params, fastest));
                    if p.status != PointStatus::Ok {
                        failures.push((p, params.clone()));
                    }
                }
            }
            out.push_str(&table(
                &[
                    "params",
                    "backend",
                    "p50",
                    "95% CI of p50",
                    "p90",
                    "p99",
                    "runs",
                    "× fastest",
                    "paper",
                ],
                &[
                    Align::Left,
                    Align::Left,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                    Align::Right,
                ],
                &rows,
            ));
            if !failures.is_empty() {
                out.push('\n');
            }
            for (p, params) in failures {
                let what = if p.status == PointStatus::Failed {
                    "failed"
                } else {
                    "had failed runs"
                };
                let _ = writeln!(
                    out,
                    "- `{}` {params} {what}: {}",
                    p.backend,
                    clip(p.error.as_deref().unwrap_or("no reason recorded"), 300)
                );
            }
            out.push('\n');
        }
        out.pop();
        out
    }

    fn row(&self, p: &Point, params: &str, fastest: Option<f64>) -> Vec<String> {
        let runs = format!("{}/{}", p.runs, p.runs_planned);
        if p.status == PointStatus::Failed {
            return vec![
                params.to_owned(),
                p.backend.clone(),
                "failed".to_owned(),
                String::new(),
                String::new(),
                String::new(),
                runs,
                String::new(),
                String::new(),
            ];
        }
        let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| human(v, &p.unit));
        // An interval from too few runs to reach 95% shows its real coverage.
        let ci = p.ci95.map_or_else(
            || "-".to_owned(),
            |ci| {
                let coverage = match ci.coverage {
                    Some(c) if c < 0.95 => format!(" ({:.0}%)", c * 100.0),
                    _ => String::new(),
                };
                format!(
                    "{} – {}{coverage}",
                    human(ci.low, &p.unit),
                    human(ci.high, &p.unit)
                )
            },
        );
        let ratio = match (p.p50, fastest) {
            (Some(v), Some(f)) if f > 0.0 => sig3(v / f),
            _ => "-".to_owned(),
        };
        let paper = self
            .paper
            .as_ref()
            .and_then(|paper| paper.claim_for_point(p))
            .map_or_else(String::new, |c| {
                c.paper
                    .as_ref()
                    .map_or_else(String::new, |v| show(v.value, &v.unit, v.approximate))
            });
        let mut runs = runs;
        if p.status == PointStatus::Partial {
            runs.push_str(" (partial)");
        }
        vec![
            params.to_owned(),
            p.backend.clone(),
            fmt(p.p50),
            ci,
            fmt(p.p90),
            fmt(p.p99),
            runs,
            ratio,
            paper,
        ]
    }
}

/// Measured points by median; failed points last.
fn order_key(p: &Point) -> f64 {
    p.p50.unwrap_or(f64::INFINITY)
}

fn paper_table(paper: &PaperReference, doc: &ResultDocument, built: &[String], out: &mut String) {
    let built: Vec<&str> = if built.is_empty() {
        doc.experiments.iter().map(|e| e.id.as_str()).collect()
    } else {
        built.iter().map(String::as_str).collect()
    };
    let judgements = judge_all(paper, doc, &built);
    let _ = writeln!(
        out,
        "\n## Claims of the paper\n\n*{}*, {}; measured on {}, {}. A number marked † is \
         unverified (only a source known to misstate results gives it); ~ marks a number read \
         from a plot or given as approximate.\n",
        paper.paper.title, paper.paper.venue, paper.hardware.cpu, paper.hardware.os
    );
    out.push_str(&claims_table(&judgements));
}

/// The claims table: every claim with the paper's side, ours, the verdict and its reason.
pub fn claims_table(judgements: &[Judgement]) -> String {
    let rows: Vec<Vec<String>> = judgements
        .iter()
        .map(|j| {
            vec![
                j.statement.clone(),
                j.paper.clone(),
                j.ours.clone(),
                j.verdict.label().to_owned(),
                j.reason.clone(),
            ]
        })
        .collect();
    table(
        &["claim", "paper", "ours", "verdict", "why"],
        &[
            Align::Left,
            Align::Left,
            Align::Right,
            Align::Left,
            Align::Left,
        ],
        &rows,
    )
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
}

/// A Markdown table with every column padded to its widest cell.
fn table(headers: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell(c).chars().count());
        }
    }
    let pad = |s: &str, w: usize, a: Align| {
        let n = w.saturating_sub(s.chars().count());
        match a {
            Align::Left => format!("{s}{}", " ".repeat(n)),
            Align::Right => format!("{}{s}", " ".repeat(n)),
        }
    };
    let mut out = String::new();
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&line(
        headers
            .iter()
            .zip(&widths)
            .zip(align)
            .map(|((h, &w), &a)| pad(h, w, a))
            .collect(),
    ));
    out.push_str(&line(
        widths
            .iter()
            .zip(align)
            .map(|(&w, a)| match a {
                Align::Left => "-".repeat(w.max(1)),
                Align::Right => format!("{}:", "-".repeat(w.max(2) - 1)),
            })
            .collect(),
    ));
    for row in rows {
        out.push_str(&line(
            row.iter()
                .zip(&widths)
                .zip(align)
                .map(|((c, &w), &a)| pad(&cell(c), w, a))
                .collect(),
        ));
    }
    out
}

/// At most `n` characters of `s`, with `…` when cut; newlines become spaces.
fn clip(s: &str, n: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= n {
        flat
    } else {
        let mut t: String = flat.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

//! The Markdown exporter: a summary for terminals and CI job summaries.
//!
//! Per experiment, one table; points that differ only in backend are grouped and sorted by
//! median, so the backends' relative order reads top to bottom, with each median's ratio to the
//! group's fastest and the paper's number where one matches. Failed points stay in the table with
//! their reason. A last table puts every paper claim of the experiments run beside our number.
//! Columns are padded so that the table also reads well as plain text.

use super::{only, ExportError, Exporter, Output};
use crate::document::{ExperimentStatus, Point, PointStatus, ResultDocument};
use crate::paper::PaperReference;
use model::unit::{human, sig3};
use model::{params_display, MetricResult, Params};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Renders the Markdown summary, with the paper column when a paper reference is given.
#[derive(Debug, Default, Clone)]
pub struct MarkdownExporter {
    /// The paper's numbers to show beside ours; `None` leaves the paper out.
    pub paper: Option<PaperReference>,
}

impl MarkdownExporter {
    /// An exporter that compares with `paper`.
    pub fn with_paper(paper: PaperReference) -> Self {
        MarkdownExporter { paper: Some(paper) }
    }
}

impl Exporter for MarkdownExporter {
    fn name(&self) -> &'static str {
        "markdown"
    }

    fn export(&self, docs: &[&ResultDocument], stem: &str) -> Result<Vec<Output>, ExportError> {
        let doc = only(self.name(), docs)?;
        Ok(vec![Output::file(format!("{stem}.md"), self.render(doc))])
    }
}

/// A point's metric: the row of one table.
type Row<'a> = (&'a Point, &'a MetricResult);

impl MarkdownExporter {
    /// The summary as Markdown text.
    pub fn render(&self, doc: &ResultDocument) -> String {
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
            paper_table(paper, doc, &mut out);
        }
        out
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
        // One table per metric (name and unit); inside it, rows grouped by params so that inside
        // a group only the backend differs, and sorted by median.
        // Keyed by the params themselves, so that numbers sort as numbers.
        let mut by_metric: BTreeMap<(String, String), BTreeMap<&Params, Vec<Row<'_>>>> =
            BTreeMap::new();
        for p in points {
            for m in &p.metrics {
                by_metric
                    .entry((m.spec.unit.symbol(), m.spec.name.clone()))
                    .or_default()
                    .entry(&p.id.params)
                    .or_default()
                    .push((p, m));
            }
        }
        let mut out = String::new();
        for groups in by_metric.values() {
            let mut metrics: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (p, m) in groups.values().flatten() {
                let backends = metrics.entry(m.spec.what.as_str()).or_default();
                if !backends.contains(&p.id.backend.as_str()) {
                    backends.push(p.id.backend.as_str());
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
                let fastest = group
                    .iter()
                    .filter_map(|(_, m)| m.summary.as_ref().map(|s| s.p50))
                    .reduce(f64::min);
                for (p, m) in group {
                    rows.push(self.row(p, m, &params, fastest));
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
                let what = match p.status {
                    PointStatus::Failed => "failed",
                    PointStatus::Unavailable => "is unavailable here",
                    _ => "had failed runs",
                };
                let _ = writeln!(
                    out,
                    "- `{}` {params} {what}: {}",
                    p.id.backend,
                    clip(p.error.as_deref().unwrap_or("no reason recorded"), 300)
                );
            }
            out.push('\n');
        }
        out.pop();
        out
    }

    fn row(&self, p: &Point, m: &MetricResult, params: &str, fastest: Option<f64>) -> Vec<String> {
        let runs = format!(
            "{}/{}",
            m.summary.as_ref().map_or(0, |s| s.runs),
            p.runs_planned
        );
        let unit = &m.spec.unit;
        let Some(s) = m.summary.as_ref().filter(|_| p.status.measured()) else {
            let what = if p.status == PointStatus::Unavailable {
                "unavailable"
            } else {
                "failed"
            };
            return vec![
                params.to_owned(),
                p.id.backend.clone(),
                what.to_owned(),
                String::new(),
                String::new(),
                String::new(),
                runs,
                String::new(),
                String::new(),
            ];
        };
        let fmt = |v: f64| human(v, unit);
        // An interval from too few runs to reach 95% shows its real coverage.
        let ci = s.ci95.map_or_else(
            || "-".to_owned(),
            |ci| {
                let coverage = match ci.coverage {
                    Some(c) if c < 0.95 => format!(" ({:.0}%)", c * 100.0),
                    _ => String::new(),
                };
                format!(
                    "{} – {}{coverage}",
                    human(ci.low, unit),
                    human(ci.high, unit)
                )
            },
        );
        let ratio = match fastest {
            Some(f) if f > 0.0 => sig3(s.p50 / f),
            _ => "-".to_owned(),
        };
        let paper = self
            .paper
            .as_ref()
            .and_then(|paper| paper.claim_for(p, m))
            .map_or_else(String::new, |c| {
                let approx = if c.approximate { "~" } else { "" };
                format!("{approx}{}", human(c.value, &c.unit))
            });
        let mut runs = runs;
        if p.status == PointStatus::Partial {
            runs.push_str(" (partial)");
        }
        vec![
            params.to_owned(),
            p.id.backend.clone(),
            fmt(s.p50),
            ci,
            fmt(s.p90),
            fmt(s.p99),
            runs,
            ratio,
            paper,
        ]
    }
}

/// Measured points by median; the others last.
fn order_key((p, m): &Row<'_>) -> f64 {
    m.summary
        .as_ref()
        .filter(|_| p.status.measured())
        .map_or(f64::INFINITY, |s| s.p50)
}

fn paper_table(paper: &PaperReference, doc: &ResultDocument, out: &mut String) {
    let comparisons = paper.compare(doc);
    if comparisons.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n## Beside the paper\n\n*{}*, {}; measured on {}, {}. Numbers not yet verified \
         against the paper's PDF are marked †.\n",
        paper.paper.title, paper.paper.venue, paper.hardware.cpu, paper.hardware.os
    );
    let rows: Vec<Vec<String>> = comparisons
        .iter()
        .map(|c| {
            let approx = if c.approximate { "~" } else { "" };
            let dagger = if c.verified { "" } else { " †" };
            vec![
                c.description.clone(),
                format!("{approx}{}{dagger}", human(c.paper, &c.unit)),
                c.ours.map_or_else(|| "-".to_owned(), |v| human(v, &c.unit)),
                c.ratio.map_or_else(|| "-".to_owned(), sig3),
                c.context.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["claim", "paper", "ours", "ours / paper", "from"],
        &[
            Align::Left,
            Align::Right,
            Align::Right,
            Align::Right,
            Align::Left,
        ],
        &rows,
    ));
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

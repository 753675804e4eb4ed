//! The Markdown exporter: a summary for terminals and CI job summaries.
//!
//! Per experiment, one table; points that differ only in backend are grouped and sorted by
//! median, so the backends' relative order reads top to bottom, with each median's ratio to the
//! group's fastest and the paper's number where one matches. Failed points stay in the table with
//! their reason. A last table judges every claim of the paper (built experiments or not): our number
//! beside the paper's, a verdict and its reason. Columns are padded so that the table also reads
//! well as plain text.

use super::table::{Align, Table};
use super::{only, ExportError, Exporter, Output};
use crate::document::{ExperimentStatus, Point, PointStatus, ResultDocument};
use crate::evidence::judge_all;
use crate::paper::PaperReference;
use crate::verdict::{show, Judgement};
use model::unit::{human, sig3};
use model::{params_display, MetricResult, Params};
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
    /// Figures drawn beside the summary, shown after the machine.
    pub figures: Vec<FigureLink>,
}

/// A figure file the summary shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureLink {
    /// The figure's title.
    pub title: String,
    /// Path of its PNG, relative to the summary.
    pub png: String,
    /// Path of its SVG, relative to the summary.
    pub svg: String,
    /// Sentences under it.
    pub notes: Vec<String>,
}

impl MarkdownExporter {
    /// An exporter that compares with `paper`.
    pub fn with_paper(paper: PaperReference) -> Self {
        MarkdownExporter {
            paper: Some(paper),
            built: Vec::new(),
            figures: Vec::new(),
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
        figures(&self.figures, &mut out);
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
                let found = crate::findings::of(exp);
                if !found.is_empty() {
                    let _ = writeln!(out, "\nFrom the data:\n");
                    for f in found {
                        let _ = writeln!(out, "- {f}");
                    }
                }
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
        out
    }
}

fn header(doc: &ResultDocument, out: &mut String) {
    let m = &doc.machine;
    let _ = writeln!(out, "# lwcbench results\n");
    let _ = writeln!(out, "{}", run_sentence(doc));
    if !m.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:\n");
        for w in &m.warnings {
            let _ = writeln!(out, "- {w}");
        }
    }
}

/// The run and its machine in one sentence (setting, start, CPU, CPUs, kernel, VM, version).
pub fn run_sentence(doc: &ResultDocument) -> String {
    let m = &doc.machine;
    let vm = match m.virtualization.virtual_machine {
        Some(true) => "virtual machine",
        Some(false) => "bare metal",
        None => "virtualization unknown",
    };
    format!(
        "Setting `{}`, started {}. {}, {} logical CPUs, Linux {}, {}, lwcbench {}.",
        doc.configuration.setting,
        doc.configuration.started_at,
        m.cpu_model.as_deref().unwrap_or("unknown CPU"),
        m.logical_cpus,
        m.kernel_release.as_deref().unwrap_or("(unknown)"),
        vm,
        m.lwcbench_version,
    )
}

fn figures(links: &[FigureLink], out: &mut String) {
    if links.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## Figures\n");
    for f in links {
        let _ = writeln!(out, "![{}]({})\n", f.title, f.png);
        for note in &f.notes {
            let _ = writeln!(out, "{note}");
        }
        let _ = writeln!(out, "([SVG]({}))\n", f.svg);
    }
    out.pop();
}

/// One table of an experiment: its points' values of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitSection {
    /// What one sample is: one line, or one per description with its backends.
    pub samples: Vec<String>,
    /// The points.
    pub table: Table,
    /// A line per point that failed, is unavailable or had failed runs, with the reason.
    pub failures: Vec<String>,
}

impl MarkdownExporter {
    fn points_table(&self, points: &[Point]) -> String {
        let mut out = String::new();
        for section in self.unit_sections(points) {
            if let [one] = &section.samples[..] {
                let _ = writeln!(out, "Sample: {one}.\n");
            } else {
                let _ = writeln!(out, "Samples:\n");
                for line in &section.samples {
                    let _ = writeln!(out, "- {line}");
                }
                out.push('\n');
            }
            out.push_str(&section.table.to_markdown());
            if !section.failures.is_empty() {
                out.push('\n');
            }
            for f in &section.failures {
                let _ = writeln!(out, "- {f}");
            }
            out.push('\n');
        }
        out.pop();
        out
    }

    /// The tables of an experiment's points, one per metric (name and unit); inside each, rows
    /// grouped by params so that inside a group only the backend differs, and sorted by median.
    pub fn unit_sections(&self, points: &[Point]) -> Vec<UnitSection> {
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
        let mut out = Vec::new();
        for groups in by_metric.values() {
            let mut metrics: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (p, m) in groups.values().flatten() {
                let backends = metrics.entry(m.spec.what.as_str()).or_default();
                if !backends.contains(&p.id.backend.as_str()) {
                    backends.push(p.id.backend.as_str());
                }
            }
            let samples = if metrics.len() == 1 {
                metrics.keys().map(|m| (*m).to_owned()).collect()
            } else {
                metrics
                    .iter()
                    .map(|(metric, backends)| format!("{}: {metric}", backends.join(", ")))
                    .collect()
            };
            let mut table = Table::new(&[
                ("params", Align::Left),
                ("backend", Align::Left),
                ("p50", Align::Right),
                ("95% CI of p50", Align::Right),
                ("p90", Align::Right),
                ("p99", Align::Right),
                ("runs", Align::Right),
                ("× fastest", Align::Right),
                ("paper", Align::Right),
            ]);
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
                    table.rows.push(self.row(p, m, &params, fastest));
                    if p.status != PointStatus::Ok {
                        let what = match p.status {
                            PointStatus::Failed => "failed",
                            PointStatus::Unavailable => "is unavailable here",
                            _ => "had failed runs",
                        };
                        failures.push(format!(
                            "`{}` {params} {what}: {}",
                            p.id.backend,
                            clip(p.error.as_deref().unwrap_or("no reason recorded"), 300)
                        ));
                    }
                }
            }
            out.push(UnitSection {
                samples,
                table,
                failures,
            });
        }
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
            .and_then(|c| c.paper.as_ref())
            .map_or_else(String::new, |v| show(v.value, &v.unit, v.approximate));
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

fn paper_table(paper: &PaperReference, doc: &ResultDocument, built: &[String], out: &mut String) {
    let judgements = judge_all(paper, doc, built);
    let _ = writeln!(
        out,
        "\n## Claims of the paper\n\n*{}*, {}; measured on {}, {}. A number marked † is \
         unverified (only a source known to misstate results gives it); ~ marks a number read \
         from a plot or given as approximate.\n",
        paper.paper.title, paper.paper.venue, paper.hardware.cpu, paper.hardware.os
    );
    out.push_str(&claims_table(&judgements).to_markdown());
}

/// The claims table: every claim with the paper's side, ours, the verdict and its reason.
pub fn claims_table(judgements: &[Judgement]) -> Table {
    let mut table = Table::new(&[
        ("claim", Align::Left),
        ("paper", Align::Left),
        ("ours", Align::Right),
        ("verdict", Align::Left),
        ("why", Align::Left),
    ]);
    table.rows = judgements
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
    table
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

//! The HTML page: one self-contained file (styles inline, figures inline as SVG, no script, no
//! network), with the machine and its warnings, every figure, the tables and the claims table.
//! The PNG and SVG files beside it are linked, not needed.

use super::markdown::{claims_table, run_sentence, MarkdownExporter};
use super::table::escape;
use crate::document::{ExperimentStatus, ResultDocument};
use crate::evidence::judge_all;
use crate::figure::spec::Figure;
use crate::paper::PaperReference;
use std::fmt::Write as _;

/// A drawn figure as the page shows it.
#[derive(Debug, Clone)]
pub struct PageFigure<'a> {
    /// The figure.
    pub figure: &'a Figure,
    /// Its SVG text, inlined.
    pub svg: &'a str,
    /// File name of its PNG beside the page.
    pub png_file: String,
    /// File name of its SVG beside the page.
    pub svg_file: String,
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:2em auto;\
max-width:1250px;padding:0 1em;color:#222;line-height:1.4}\
h1{font-size:1.6em}h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #ccc}\
h3{font-size:1.05em}table{border-collapse:collapse;margin:.6em 0;font-size:.86em}\
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}\
th{background:#f2f2f2}td.num,th.num{text-align:right;white-space:nowrap}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto;display:block}\
figcaption{font-size:.9em;color:#444}.warn{color:#8a4b00}";

/// Renders the page for `docs` (one or more result files) with their `figures`.
pub fn page(
    docs: &[ResultDocument],
    labels: &[String],
    figures: &[PageFigure<'_>],
    paper: Option<&PaperReference>,
    built: &[String],
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>lwcbench report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <h1>lwcbench report</h1>\n"
    );
    let _ = writeln!(
        out,
        "<h2 id=\"machines\">Machine{}</h2>",
        plural(docs.len())
    );
    for (doc, label) in docs.iter().zip(labels) {
        machine(doc, label, docs.len() > 1, &mut out);
    }
    if !figures.is_empty() {
        let _ = writeln!(out, "<h2 id=\"figures\">Figures</h2>");
    }
    for f in figures {
        let _ = writeln!(
            out,
            "<figure id=\"fig-{}\">\n{}\n<figcaption>",
            escape(&f.figure.id),
            f.svg
        );
        for note in &f.figure.notes {
            let _ = write!(out, "{} ", escape(note));
        }
        let _ = writeln!(
            out,
            "<a href=\"{}\">PNG</a> · <a href=\"{}\">SVG</a></figcaption>\n</figure>",
            escape(&f.png_file),
            escape(&f.svg_file)
        );
    }
    let md = MarkdownExporter::default();
    let mut ids: Vec<&str> = Vec::new();
    for doc in docs {
        for e in &doc.experiments {
            if !ids.contains(&e.id.as_str()) {
                ids.push(&e.id);
            }
        }
    }
    for id in ids {
        let _ = writeln!(out, "<h2 id=\"exp-{0}\">{0}</h2>", escape(id));
        for (doc, label) in docs.iter().zip(labels) {
            let Some(exp) = doc.experiments.iter().find(|e| e.id == id) else {
                continue;
            };
            if docs.len() > 1 {
                let _ = writeln!(out, "<h3>{}</h3>", escape(label));
            }
            let _ = writeln!(out, "<p>{}</p>", escape(&exp.description));
            if exp.status == ExperimentStatus::Failed {
                let _ = writeln!(
                    out,
                    "<p class=\"warn\"><strong>failed</strong>: {}</p>",
                    escape(exp.error.as_deref().unwrap_or("no reason recorded"))
                );
            }
            let md = MarkdownExporter {
                paper: paper.cloned(),
                ..md.clone()
            };
            for section in md.unit_sections(&exp.points) {
                let _ = writeln!(
                    out,
                    "<p>Sample: {}.</p>",
                    escape(&section.samples.join("; "))
                );
                out.push_str(&section.table.to_html());
                if !section.failures.is_empty() {
                    out.push_str("<ul class=\"warn\">\n");
                    for f in &section.failures {
                        let _ = writeln!(out, "<li>{}</li>", escape(f));
                    }
                    out.push_str("</ul>\n");
                }
            }
            let found = crate::findings::of(exp);
            if !found.is_empty() {
                out.push_str("<p>From the data:</p>\n<ul>\n");
                for f in found {
                    let _ = writeln!(out, "<li>{}</li>", escape(&f));
                }
                out.push_str("</ul>\n");
            }
        }
    }
    if let Some(paper) = paper {
        claims(paper, docs, labels, built, &mut out);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn machine(doc: &ResultDocument, label: &str, many: bool, out: &mut String) {
    if many {
        let _ = writeln!(out, "<h3>{}</h3>", escape(label));
    }
    let m = &doc.machine;
    let _ = writeln!(out, "<p>{}</p>", escape(&run_sentence(doc)));
    let flags: Vec<String> = m
        .cpu_flags
        .iter()
        .map(|(f, on)| format!("{f} {}", if *on { "yes" } else { "no" }))
        .collect();
    let counters: Vec<String> = m
        .counters
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let _ = writeln!(
        out,
        "<p>CPU flags: {}. Counters: {}.</p>",
        escape(&or_none(&flags)),
        escape(&or_none(&counters))
    );
    if !m.warnings.is_empty() {
        out.push_str("<p>Warnings:</p>\n<ul class=\"warn\">\n");
        for w in &m.warnings {
            let _ = writeln!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul>\n");
    }
}

fn or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none recorded".to_owned()
    } else {
        items.join(", ")
    }
}

fn claims(
    paper: &PaperReference,
    docs: &[ResultDocument],
    labels: &[String],
    built: &[String],
    out: &mut String,
) {
    let _ = writeln!(
        out,
        "<h2 id=\"claims\">Claims of the paper</h2>\n<p><em>{}</em>, {}; measured on {}, {}. \
         A number marked † is unverified (only a source known to misstate results gives it); \
         ~ marks a number read from a plot or given as approximate.</p>",
        escape(&paper.paper.title),
        escape(&paper.paper.venue),
        escape(&paper.hardware.cpu),
        escape(&paper.hardware.os)
    );
    for (doc, label) in docs.iter().zip(labels) {
        if docs.len() > 1 {
            let _ = writeln!(out, "<h3>{}</h3>", escape(label));
        }
        out.push_str(&claims_table(&judge_all(paper, doc, built)).to_html());
    }
    out.push_str("<p>Sources:</p>\n<ul>\n");
    for (key, what) in &paper.sources {
        let _ = writeln!(out, "<li>[{}] {}</li>", escape(key), escape(what));
    }
    out.push_str("</ul>\n");
}

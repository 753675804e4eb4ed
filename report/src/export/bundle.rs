//! The report of one or more result files: every file it consists of, by name.
//!
//! ```text
//! index.html     the page: machine(s) and warnings, figures inline, tables, claims
//! summary.md     the same in Markdown, figures as PNG links
//! switch.svg     one SVG and one PNG per figure
//! switch.png
//! ...
//! ```

use super::html::{page, PageFigure};
use super::markdown::{FigureLink, MarkdownExporter};
use crate::document::ResultDocument;
use crate::figure::{self, source::machine_labels, FigureError};
use crate::paper::PaperReference;

/// The report's page.
pub const INDEX: &str = "index.html";
/// The report's Markdown summary.
pub const SUMMARY: &str = "summary.md";

/// One file of a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFile {
    /// File name inside the report's folder.
    pub name: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

/// A report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A figure failed.
    #[error(transparent)]
    Figure(#[from] FigureError),
    /// Nothing to report on.
    #[error("a report needs at least one result file")]
    NoDocuments,
}

/// Every file of the report on `docs`. `built` lists the experiments the suite has (so claims of
/// others read "not built yet").
pub fn build(
    docs: &[ResultDocument],
    paper: Option<&PaperReference>,
    built: &[&str],
) -> Result<Vec<ReportFile>, ReportError> {
    if docs.is_empty() {
        return Err(ReportError::NoDocuments);
    }
    let built: Vec<String> = built.iter().map(|s| (*s).to_owned()).collect();
    let labels = machine_labels(docs);
    let figures = figure::all(docs, paper);
    let mut files = Vec::new();
    let mut svgs = Vec::new();
    for f in &figures {
        let svg = figure::render_svg(f)?;
        let png = figure::render_png(f)?;
        files.push(ReportFile {
            name: format!("{}.png", f.id),
            bytes: png.bytes,
        });
        svgs.push(svg);
    }
    let page_figures: Vec<PageFigure<'_>> = figures
        .iter()
        .zip(&svgs)
        .map(|(f, svg)| PageFigure {
            figure: f,
            svg,
            png_file: format!("{}.png", f.id),
            svg_file: format!("{}.svg", f.id),
        })
        .collect();
    files.push(ReportFile {
        name: INDEX.to_owned(),
        bytes: page(docs, &labels, &page_figures, paper, &built).into_bytes(),
    });
    let links: Vec<FigureLink> = figures
        .iter()
        .map(|f| FigureLink {
            title: f.title.clone(),
            png: format!("{}.png", f.id),
            svg: format!("{}.svg", f.id),
            notes: f.notes.clone(),
        })
        .collect();
    let mut summary = String::new();
    for (i, doc) in docs.iter().enumerate() {
        let md = MarkdownExporter {
            paper: paper.cloned(),
            built: built.clone(),
            figures: if i == 0 { links.clone() } else { Vec::new() },
        };
        if i > 0 {
            summary.push('\n');
        }
        summary.push_str(&md.render(doc));
    }
    files.push(ReportFile {
        name: SUMMARY.to_owned(),
        bytes: summary.into_bytes(),
    });
    for (f, svg) in figures.iter().zip(svgs) {
        files.push(ReportFile {
            name: format!("{}.svg", f.id),
            bytes: svg.into_bytes(),
        });
    }
    Ok(files)
}

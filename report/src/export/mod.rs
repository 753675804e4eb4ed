//! Exporters: one file per output format behind one small trait (hyperfine's `export/` layout).
//!
//! - [`json::JsonExporter`]: the result document itself, pretty-printed.
//! - [`markdown::MarkdownExporter`]: a summary table per experiment and the paper comparison, for
//!   terminals and CI summaries.
//!
//! - [`bmf::BmfExporter`]: Bencher Metric Format JSON of the measured points.
//! - [`html`]: the self-contained HTML page, figures inline.
//! - [`bundle`]: a whole report (page, Markdown summary, an SVG and a PNG per figure) as named
//!   files, from one or more result files.
//! - [`table`]: tables as data, rendered to Markdown or HTML.

use crate::document::ResultDocument;

pub mod bmf;
pub mod bundle;
pub mod html;
pub mod json;
pub mod markdown;
pub mod table;

/// An export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Serialising to JSON failed.
    #[error("serialising the result document to JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Turns a result document into one output format.
pub trait Exporter {
    /// Short format name (`json`, `markdown`).
    fn name(&self) -> &'static str;
    /// File extension, without the dot.
    fn extension(&self) -> &'static str;
    /// Renders the whole document.
    fn render(&self, doc: &ResultDocument) -> Result<String, ExportError>;
}

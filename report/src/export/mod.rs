//! Exporters and the export manager (hyperfine's `export/` layout).
//!
//! An [`Exporter`] turns result documents into [`Output`]s: named files (bytes) or folders of
//! them (a page with its figures). It is given every document of the export (one after `lwcbench
//! run`; several when a report puts machines side by side) and says how many it takes. The [`ExportManager`] runs every exporter it holds and writes
//! what they yield atomically ([`write`]): a reader never sees half a file or half a folder.
//! Adding HTML or figures is adding an exporter.
//!
//! - [`json::JsonExporter`]: the result document itself, pretty-printed (`STEM.json`).
//! - [`markdown::MarkdownExporter`]: a summary table per experiment and the paper comparison, for
//!   terminals and CI summaries (`STEM.md`).
//! - [`bmf::BmfExporter`]: Bencher Metric Format JSON of the measured points.
//! - [`html`]: the self-contained HTML page, figures inline.
//! - [`bundle`]: a whole report (page, Markdown summary, an SVG and a PNG per figure) as named
//!   files, from one or more result files.
//! - [`table`]: tables as data, rendered to Markdown or HTML.
//! - [`report::ReportExporter`]: the report folder (page, summary, figures) beside a result.
//!
//! ```
//! use report::export::{ExportManager, JsonExporter, MarkdownExporter};
//! let manager = ExportManager::new()
//!     .with(JsonExporter)
//!     .with(MarkdownExporter::default());
//! assert_eq!(manager.names(), ["json", "markdown"]);
//! ```

use crate::document::ResultDocument;
use std::path::{Path, PathBuf};

pub mod bmf;
pub mod bundle;
pub mod html;
pub mod json;
pub mod markdown;
pub mod report;
pub mod table;
pub mod write;

pub use json::JsonExporter;
pub use markdown::MarkdownExporter;

/// An export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Serialising to JSON failed.
    #[error("serialising the result document to JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// An exporter yielded a name that is not a plain file name.
    #[error("exporter {exporter} yielded {name:?}, which is not a plain file name")]
    BadName {
        /// The exporter.
        exporter: &'static str,
        /// The name.
        name: String,
    },
    /// The exporter takes one document and was given another number.
    #[error("exporter {exporter} exports exactly one result document, not {given}")]
    OneDocument {
        /// The exporter.
        exporter: &'static str,
        /// How many it was given.
        given: usize,
    },
    /// Two outputs have the same name.
    #[error("two outputs are called {0:?}")]
    Duplicate(String),
    /// Writing failed.
    #[error("{what} {path}: {source}")]
    Write {
        /// What was being done (`writing`, `renaming to`).
        what: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Any other failure of an exporter (drawing a figure, encoding an image).
    #[error("exporter {exporter}: {message}")]
    Other {
        /// The exporter.
        exporter: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// What an exporter yields: a file, or a folder of outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A file called `name` holding `bytes`.
    File {
        /// A plain file name (no `/`).
        name: String,
        /// The contents.
        bytes: Vec<u8>,
    },
    /// A folder called `name` holding `entries`.
    Folder {
        /// A plain folder name (no `/`).
        name: String,
        /// What it holds.
        entries: Vec<Output>,
    },
}

impl Output {
    /// A file.
    pub fn file(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Output::File {
            name: name.into(),
            bytes: bytes.into(),
        }
    }

    /// The file's or folder's name.
    pub fn name(&self) -> &str {
        match self {
            Output::File { name, .. } | Output::Folder { name, .. } => name,
        }
    }
}

/// Turns result documents into one output format.
pub trait Exporter {
    /// Short format name (`json`, `markdown`, `html`).
    fn name(&self) -> &'static str;
    /// What to write for `docs` (one or more; see [`only`] for an exporter of one); file names
    /// derive from `stem` where they should sit beside the result file (`STEM.json`, `STEM.md`),
    /// or are fixed (`report/`).
    fn export(&self, docs: &[&ResultDocument], stem: &str) -> Result<Vec<Output>, ExportError>;
}

/// The one document of `docs`, for an exporter of one document.
pub fn only<'a>(
    exporter: &'static str,
    docs: &[&'a ResultDocument],
) -> Result<&'a ResultDocument, ExportError> {
    match docs {
        [doc] => Ok(doc),
        _ => Err(ExportError::OneDocument {
            exporter,
            given: docs.len(),
        }),
    }
}

/// An output, with the exporter that yielded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The exporter's name.
    pub exporter: &'static str,
    /// What it yielded.
    pub output: Output,
}

/// Runs exporters and writes their outputs atomically.
#[derive(Default)]
pub struct ExportManager {
    exporters: Vec<Box<dyn Exporter>>,
}

impl ExportManager {
    /// A manager with no exporter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an exporter.
    pub fn with(mut self, exporter: impl Exporter + 'static) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// The exporters' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.exporters.iter().map(|e| e.name()).collect()
    }

    /// Runs every exporter on `docs`; checks the names (plain, and unique at the top).
    pub fn render(
        &self,
        docs: &[&ResultDocument],
        stem: &str,
    ) -> Result<Vec<Rendered>, ExportError> {
        let mut out: Vec<Rendered> = Vec::new();
        for e in &self.exporters {
            for output in e.export(docs, stem)? {
                check_names(e.name(), &output)?;
                if out.iter().any(|r| r.output.name() == output.name()) {
                    return Err(ExportError::Duplicate(output.name().to_owned()));
                }
                out.push(Rendered {
                    exporter: e.name(),
                    output,
                });
            }
        }
        Ok(out)
    }

    /// Writes rendered outputs into the existing directory `dir`, each atomically; returns the
    /// paths written, in order.
    pub fn write(dir: &Path, rendered: &[Rendered]) -> Result<Vec<PathBuf>, ExportError> {
        rendered
            .iter()
            .map(|r| write::write_output(dir, &r.output))
            .collect()
    }

    /// [`ExportManager::render`] then [`ExportManager::write`].
    pub fn export(
        &self,
        docs: &[&ResultDocument],
        dir: &Path,
        stem: &str,
    ) -> Result<Vec<PathBuf>, ExportError> {
        Self::write(dir, &self.render(docs, stem)?)
    }
}

fn check_names(exporter: &'static str, output: &Output) -> Result<(), ExportError> {
    let name = output.name();
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(ExportError::BadName {
            exporter,
            name: name.to_owned(),
        });
    }
    if let Output::Folder { entries, .. } = output {
        let mut seen = std::collections::BTreeSet::new();
        for e in entries {
            check_names(exporter, e)?;
            if !seen.insert(e.name()) {
                return Err(ExportError::Duplicate(format!("{name}/{}", e.name())));
            }
        }
    }
    Ok(())
}

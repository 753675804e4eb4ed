//! The report exporter: the report folder ([`super::bundle`]) of one result beside it, or of
//! several side by side.

use super::bundle::{build, ReportError};
use super::{ExportError, Exporter, Output};
use crate::document::ResultDocument;
use crate::paper::PaperReference;

/// Yields the report folder (`STEM-report/`, or a fixed name): page, summary and figures.
#[derive(Debug, Clone, Default)]
pub struct ReportExporter {
    /// The paper's claims to judge; `None` leaves the claims table out.
    pub paper: Option<PaperReference>,
    /// The experiments the suite has (claims of others read "not built yet").
    pub built: Vec<String>,
    /// The folder's name; `None`: `STEM-report`.
    pub folder: Option<String>,
}

impl ReportExporter {
    /// A report judged against `paper`, for a suite with the experiments `built`.
    pub fn new(paper: PaperReference, built: &[&str]) -> Self {
        ReportExporter {
            paper: Some(paper),
            built: built.iter().map(|s| (*s).to_owned()).collect(),
            folder: None,
        }
    }

    /// The same exporter, writing into a folder called `name`.
    pub fn in_folder(mut self, name: &str) -> Self {
        self.folder = Some(name.to_owned());
        self
    }
}

impl Exporter for ReportExporter {
    fn name(&self) -> &'static str {
        "report"
    }

    fn export(&self, docs: &[&ResultDocument], stem: &str) -> Result<Vec<Output>, ExportError> {
        let built: Vec<&str> = self.built.iter().map(String::as_str).collect();
        let docs: Vec<ResultDocument> = docs.iter().map(|d| (*d).clone()).collect();
        let files = build(&docs, self.paper.as_ref(), &built).map_err(|e: ReportError| {
            ExportError::Other {
                exporter: "report",
                message: e.to_string(),
            }
        })?;
        Ok(vec![Output::Folder {
            name: self
                .folder
                .clone()
                .unwrap_or_else(|| format!("{stem}-report")),
            entries: files
                .into_iter()
                .map(|f| Output::file(f.name, f.bytes))
                .collect(),
        }])
    }
}

//! The JSON exporter: the result document, pretty-printed, ending in a newline (`STEM.json`).

use super::{only, ExportError, Exporter, Output};
use crate::document::ResultDocument;

/// Writes the result document as pretty JSON.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonExporter;

impl JsonExporter {
    /// The document as pretty JSON text.
    pub fn render(&self, doc: &ResultDocument) -> Result<String, ExportError> {
        let mut s = serde_json::to_string_pretty(doc)?;
        s.push('\n');
        Ok(s)
    }
}

impl Exporter for JsonExporter {
    fn name(&self) -> &'static str {
        "json"
    }

    fn export(&self, docs: &[&ResultDocument], stem: &str) -> Result<Vec<Output>, ExportError> {
        let doc = only(self.name(), docs)?;
        Ok(vec![Output::file(
            format!("{stem}.json"),
            self.render(doc)?,
        )])
    }
}

//! The JSON exporter: the result document, pretty-printed, ending in a newline.

use super::{ExportError, Exporter};
use crate::document::ResultDocument;

/// Writes the result document as pretty JSON.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn name(&self) -> &'static str {
        "json"
    }

    fn extension(&self) -> &'static str {
        "json"
    }

    fn render(&self, doc: &ResultDocument) -> Result<String, ExportError> {
        let mut s = serde_json::to_string_pretty(doc)?;
        s.push('\n');
        Ok(s)
    }
}

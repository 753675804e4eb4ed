//! The export manager: what exporters yield is checked and written, whatever the format.

use crate::common::sample;
use report::export::{
    ExportError, ExportManager, Exporter, JsonExporter, MarkdownExporter, Output,
};
use report::ResultDocument;

/// An exporter like the coming HTML one: a folder with a page and a figure, named by itself.
struct Page;

impl Exporter for Page {
    fn name(&self) -> &'static str {
        "page"
    }

    fn export(&self, docs: &[&ResultDocument], _stem: &str) -> Result<Vec<Output>, ExportError> {
        let index = format!("{} documents", docs.len());
        Ok(vec![Output::Folder {
            name: "report".into(),
            entries: vec![
                Output::file("index.html", index),
                Output::Folder {
                    name: "figures".into(),
                    entries: vec![Output::file("switch.svg", "<svg/>")],
                },
            ],
        }])
    }
}

/// Yields whatever name it is given.
struct Named(&'static str);

impl Exporter for Named {
    fn name(&self) -> &'static str {
        "named"
    }

    fn export(&self, _: &[&ResultDocument], _: &str) -> Result<Vec<Output>, ExportError> {
        Ok(vec![Output::file(self.0, "x")])
    }
}

#[test]
fn files_and_folders_are_written_beside_each_other() {
    // Guards against an exporter's folder not being written, or files named without the stem.
    let dir = tempfile::tempdir().expect("tempdir");
    let doc = sample();
    let manager = ExportManager::new()
        .with(JsonExporter)
        .with(MarkdownExporter::default())
        .with(Page);
    let written = manager.export(&[&doc], dir.path(), "r").expect("export");
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["r.json", "r.md", "report"]);
    let json = std::fs::read_to_string(dir.path().join("r.json")).expect("json");
    assert_eq!(
        ResultDocument::from_json_str(&json, "r.json").expect("loads"),
        doc
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report/figures/switch.svg")).expect("svg"),
        "<svg/>"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("report/index.html")).expect("page"),
        "1 documents"
    );
}

#[test]
fn bad_or_clashing_names_and_wrong_document_counts_are_errors() {
    // Guards against an exporter writing outside the target directory, over another's file, or
    // a one-document format silently exporting only the first of several.
    let doc = sample();
    for bad in ["", "..", "a/b", "../x"] {
        let err = ExportManager::new()
            .with(Named(bad))
            .render(&[&doc], "r")
            .unwrap_err();
        assert!(matches!(err, ExportError::BadName { .. }), "{bad:?}: {err}");
    }
    let err = ExportManager::new()
        .with(Named("r.json"))
        .with(JsonExporter)
        .render(&[&doc], "r")
        .unwrap_err();
    assert!(
        matches!(err, ExportError::Duplicate(ref n) if n == "r.json"),
        "{err}"
    );
    let err = ExportManager::new()
        .with(JsonExporter)
        .render(&[&doc, &doc], "r")
        .unwrap_err();
    assert!(
        matches!(err, ExportError::OneDocument { given: 2, .. }),
        "{err}"
    );
    // A many-document exporter takes both.
    let ok = ExportManager::new().with(Page).render(&[&doc, &doc], "r");
    assert!(ok.is_ok());
}

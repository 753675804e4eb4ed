//! lwcbench result documents and reports.
//!
//! Its vocabulary (points, units, summaries, statistics) is the `model` crate's; this crate holds
//! the document that gathers them and what is made of it.
//!
//! - [`document`]: the versioned result document that `lwcbench run` writes (one JSON file per
//!   run), and loading with a schema-version check (v2, and v1 converted on load).
//! - [`machine`]: the machine fingerprint recorded with every result.
//! - [`export`]: one [`Exporter`] per output format (JSON, Markdown; HTML and figures to come),
//!   each yielding named files or folders, and the [`ExportManager`] that writes them atomically.
//! - [`compare`]: baseline versus current, per point and metric a change and a verdict.
//! - [`paper`]: the paper's reference numbers (`results/paper.json`) and our numbers beside them.
//!
//! ```
//! use report::{MarkdownExporter, PaperReference, ResultDocument};
//!
//! let text = r#"{"schema": "lwcbench/result/v0"}"#;
//! let err = ResultDocument::from_json_str(text, "old.json").unwrap_err();
//! assert!(err.to_string().contains("unknown schema version"));
//!
//! let paper = PaperReference::bundled().expect("results/paper.json parses");
//! assert!(paper.claims.iter().any(|c| c.id == "switch.lwc"));
//! let _md = MarkdownExporter::with_paper(paper);
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod compare;
pub mod document;
pub mod export;
pub mod machine;
pub mod paper;

pub use document::{
    Configuration, ExperimentResult, ExperimentStatus, LoadError, Point, PointStatus,
    ResultDocument, SCHEMA,
};
pub use export::json::JsonExporter;
pub use export::markdown::MarkdownExporter;
pub use export::{ExportError, ExportManager, Exporter, Output};
pub use machine::Machine;
pub use paper::{Comparison, PaperReference};

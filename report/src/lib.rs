//! lwcbench result documents and reports.
//!
//! Its vocabulary (points, units, summaries, statistics) is the `model` crate's; this crate holds
//! the document that gathers them and what is made of it.
//!
//! - [`document`]: the versioned result document that `lwcbench run` writes (one JSON file per
//!   run), and loading with a schema-version check (v2, and v1 converted on load).
//! - [`machine`]: the machine fingerprint recorded with every result.
//! - [`export`]: one [`Exporter`] per output format (JSON, Markdown, HTML with its figures, BMF),
//!   each yielding named files or folders, and the [`ExportManager`] that writes them atomically.
//! - [`figure`]: the figures (plotters; SVG, and PNG with a bundled font), from one or more
//!   result files.
//! - [`findings`]: the sentences the summary states from the data (tlb, scale).
//! - [`compare`]: baseline versus current, per point and metric a change and a verdict.
//! - [`paper`]: every claim of the paper (`results/paper.json`): numbers, provenance, how sure we
//!   are, and the rule that judges ours.
//! - [`verdict`]: the claims table's verdicts, pure functions of a claim and our number.
//! - [`evidence`]: our number for each claim, taken out of a result document.
//!
//! ```
//! use report::{MarkdownExporter, PaperReference, ResultDocument};
//!
//! let text = r#"{"schema": "lwcbench/result/v0"}"#;
//! let err = ResultDocument::from_json_str(text, "old.json").unwrap_err();
//! assert!(err.to_string().contains("unknown schema version"));
//!
//! let paper = PaperReference::bundled().expect("results/paper.json parses");
//! assert!(paper.claims.iter().any(|c| c.id == "switch.speedup"));
//! let _md = MarkdownExporter::with_paper(paper);
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod compare;
pub mod document;
pub mod evidence;
pub mod export;
pub mod figure;
pub mod findings;
pub mod machine;
pub mod paper;
pub mod verdict;

pub use document::{
    Configuration, ExperimentResult, ExperimentStatus, LoadError, Point, PointStatus,
    ResultDocument, SCHEMA,
};
pub use export::bmf::BmfExporter;
pub use export::json::JsonExporter;
pub use export::markdown::MarkdownExporter;
pub use export::{ExportError, ExportManager, Exporter, Output};
pub use machine::Machine;
pub use paper::{Claim, PaperReference};
pub use verdict::{Judgement, Verdict};

//! lwcbench result documents and reports.
//!
//! - [`document`]: the versioned result document that `lwcbench run` writes (one JSON file per
//!   run), and loading with a schema-version check.
//! - [`machine`]: the machine fingerprint recorded with every result.
//! - [`export`]: one exporter per output format (JSON, Markdown) behind the [`Exporter`] trait.
//! - [`compare`]: baseline versus current, per point a change and a verdict.
//! - [`paper`]: every claim of the paper (`results/paper.json`): numbers, provenance, how sure we
//!   are, and the rule that judges ours.
//! - [`verdict`]: the claims table's verdicts, pure functions of a claim and our number.
//! - [`evidence`]: our number for each claim, taken out of a result document.
//! - [`fit`]: least-squares lines (creation cost = fixed part + per-fault part).
//! - [`units`]: time units and their display.
//!
//! ```
//! use report::{Exporter, MarkdownExporter, PaperReference, ResultDocument};
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
pub mod fit;
pub mod machine;
pub mod paper;
pub mod units;
pub mod verdict;

pub use document::{
    Configuration, ExperimentResult, ExperimentStatus, Interval, LoadError, Param, Point,
    PointStatus, ResultDocument, SCHEMA,
};
pub use export::bmf::BmfExporter;
pub use export::json::JsonExporter;
pub use export::markdown::MarkdownExporter;
pub use export::{ExportError, Exporter};
pub use machine::Machine;
pub use paper::{Claim, PaperReference};
pub use verdict::{Judgement, Verdict};

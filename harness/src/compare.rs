//! `lwcbench compare BASE CURRENT`: per point the change of the median and a verdict, as
//! Markdown on stdout (for CI job summaries), or CURRENT in Bencher Metric Format; exit
//! [`exit::REGRESSION`] when a point regressed or now fails. Results from different machine
//! fingerprints are refused unless `--force`. Result files of schema v1 are read too.

use crate::cli::{CompareArgs, CompareFormat};
use anyhow::{bail, Result};
use model::exit;
use std::process::ExitCode;

/// Compares two result files.
pub fn main(args: &CompareArgs) -> Result<ExitCode> {
    if !(args.threshold.is_finite() && args.threshold >= 0.0) {
        bail!(
            "--threshold must be a percentage of 0 or more, not {}",
            args.threshold
        );
    }
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        bail!("--alpha must lie between 0 and 1, not {}", args.alpha);
    }
    let base = report::ResultDocument::load(&args.base)?;
    let current = report::ResultDocument::load(&args.current)?;
    let cmp = report::compare::compare(&base, &current, args.threshold / 100.0, args.alpha);
    if !cmp.same_machine() {
        let list = cmp.machine_differences.join("; ");
        if !args.force {
            bail!(
                "the two results come from different machines ({list}): their numbers are not \
                 comparable; pass --force to compare them anyway"
            );
        }
        eprintln!("warning: comparing results from different machines: {list}");
    }
    match args.format {
        CompareFormat::Markdown => print!("{}", cmp.to_markdown()),
        CompareFormat::Bmf => print!("{}", report::BmfExporter.render(&current)?),
    }
    Ok(if cmp.has_regression() {
        eprintln!("lwcbench compare: regression found");
        ExitCode::from(exit::REGRESSION)
    } else {
        ExitCode::SUCCESS
    })
}

//! `lwcbench compare BASE CURRENT`: not yet implemented beyond loading both files.

use crate::cli::CompareArgs;
use anyhow::Result;
use std::process::ExitCode;

/// Compares two result files.
pub fn main(args: &CompareArgs) -> Result<ExitCode> {
    let _base = report::ResultDocument::load(&args.base)?;
    let _current = report::ResultDocument::load(&args.current)?;
    anyhow::bail!("compare is not implemented yet")
}

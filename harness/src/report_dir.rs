//! `lwcbench report [RESULT.json ...] [--out DIR]`, and the report `run` writes beside its
//! result: figures (SVG and PNG), an HTML page and a Markdown summary, each file written
//! atomically.

use crate::cli::ReportArgs;
use anyhow::{Context, Result};
use report::export::bundle::INDEX;
use report::export::report::ReportExporter;
use report::export::ExportManager;
use report::{PaperReference, ResultDocument};
use std::path::{Path, PathBuf};

/// Writes the report on `docs` into `dir` (its parent created if missing); returns the page's
/// path.
pub fn write(docs: &[ResultDocument], dir: &Path) -> Result<PathBuf> {
    let paper = PaperReference::bundled().context("loading the bundled results/paper.json")?;
    let built: Vec<&str> = crate::suite::all().iter().map(|e| e.id()).collect();
    let name = dir
        .file_name()
        .with_context(|| format!("{} names no folder", dir.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let docs: Vec<&ResultDocument> = docs.iter().collect();
    // One folder, written whole by the export manager: a reader never sees half a report.
    let manager = ExportManager::new().with(ReportExporter::new(paper, &built).in_folder(&name));
    let rendered = manager.render(&docs, "report")?;
    ExportManager::write(parent, &rendered)?;
    Ok(dir.join(INDEX))
}

/// The report folder for a result file: `report/` beside the default results, `STEM-report/`
/// beside a file named with `--out`.
pub fn dir_for(result: &Path, default_location: bool) -> PathBuf {
    let parent = result
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if default_location {
        return parent.join("report");
    }
    let stem = result
        .file_stem()
        .map_or_else(|| "result".into(), |s| s.to_string_lossy().into_owned());
    parent.join(format!("{stem}-report"))
}

/// `lwcbench report`.
pub fn main(args: &ReportArgs) -> Result<()> {
    let results = if args.results.is_empty() {
        vec![Path::new(crate::output::DEFAULT_DIR).join("latest.json")]
    } else {
        args.results.clone()
    };
    let docs = results
        .iter()
        .map(|p| ResultDocument::load(p).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => dir_for(&results[0], args.results.is_empty()),
    };
    let index = write(&docs, &dir)?;
    println!("{}", index.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_folders_sit_beside_their_result() {
        let default = Path::new("lwcbench-results/latest.json");
        assert_eq!(dir_for(default, true), Path::new("lwcbench-results/report"));
        let named = Path::new("ci-out/current.json");
        assert_eq!(dir_for(named, false), Path::new("ci-out/current-report"));
        assert_eq!(dir_for(Path::new("r.json"), false), Path::new("./r-report"));
    }
}

//! Writing: where the result goes, and the export manager that writes every format there
//! atomically. The Markdown summary is also printed on stdout.

use super::plan::RunOptions;
use anyhow::{bail, Context, Result};
use report::export::bundle::INDEX;
use report::export::report::ReportExporter;
use report::export::{ExportManager, Output, Rendered};
use report::{JsonExporter, MarkdownExporter, PaperReference, ResultDocument};
use std::io::Write as _;
use std::path::PathBuf;

/// Where the outputs go: `DIR/STEM.json`, `DIR/STEM.md`, ... and, in the default directory,
/// the same as `latest.*`.
pub struct Target {
    dir: PathBuf,
    stem: String,
    latest: bool,
}

impl Target {
    /// The target `opts` asks for, checked before anything is measured.
    pub fn of(opts: &RunOptions) -> Result<Self> {
        if let Some(out) = &opts.out {
            if out.is_dir() {
                bail!("--out {} is a directory; give a file name", out.display());
            }
            let dir = match out.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => bail!(
                    "output directory {} does not exist (from --out {})",
                    dir.display(),
                    out.display()
                ),
                Some(dir) => dir.to_path_buf(),
                None => PathBuf::from("."),
            };
            let stem = match (out.extension(), out.file_stem()) {
                (Some(ext), Some(stem)) if ext == "json" => stem.to_string_lossy().into_owned(),
                _ => bail!(
                    "--out {} must name a .json file (the other formats go beside it)",
                    out.display()
                ),
            };
            return Ok(Target {
                dir,
                stem,
                latest: false,
            });
        }
        let dir = PathBuf::from(crate::output::DEFAULT_DIR);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Target {
            dir,
            stem: format!(
                "lwcbench-{}-{}",
                crate::output::now_file_stamp(),
                opts.setting.name()
            ),
            latest: true,
        })
    }

    /// Writes every format of `doc`, prints the Markdown summary on stdout and where each file
    /// went on stderr.
    pub fn write(&self, doc: &ResultDocument, paper: PaperReference) -> Result<()> {
        let built: Vec<&str> = crate::suite::all().iter().map(|e| e.id()).collect();
        let report = ReportExporter::new(paper.clone(), &built);
        let manager = ExportManager::new()
            .with(JsonExporter)
            .with(MarkdownExporter::with_paper(paper).with_built(&built));
        // The report goes beside the result: `STEM-report/` for a named file; in the default
        // directory one `report/` for the latest result, rather than one per run.
        let manager = if self.latest {
            manager
        } else {
            manager.with(report.clone())
        };
        let rendered = manager.render(&[doc], &self.stem)?;
        let written = ExportManager::write(&self.dir, &rendered)?;
        let latest = if self.latest {
            let latest = manager.with(report.in_folder("report"));
            let rendered = latest.render(&[doc], "latest")?;
            let paths = ExportManager::write(&self.dir, &rendered)?;
            paths
                .into_iter()
                .zip(rendered)
                .map(|(p, r)| (p, r.exporter))
                .collect()
        } else {
            Vec::new()
        };
        if let Some(Output::File { bytes, .. }) = output_of(&rendered, "markdown") {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes)
                .and_then(|()| out.flush())
                .context("printing the summary")?;
        }
        for (path, what) in written
            .iter()
            .zip(&rendered)
            .filter(|(_, r)| r.exporter != "report")
        {
            eprintln!(
                "lwcbench: {} written to {}",
                describe(what.exporter),
                path.display()
            );
        }
        if let Some((json, _)) = latest.iter().find(|(_, e)| *e == "json") {
            eprintln!("lwcbench: latest result also at {}", json.display());
        }
        let report_dir = written
            .iter()
            .zip(&rendered)
            .map(|(p, r)| (p, r.exporter))
            .chain(latest.iter().map(|(p, e)| (p, *e)))
            .find(|(_, e)| *e == "report");
        if let Some((dir, _)) = report_dir {
            eprintln!("lwcbench: report written to {}", dir.join(INDEX).display());
        }
        Ok(())
    }
}

/// The output of the exporter called `name`.
fn output_of<'a>(rendered: &'a [Rendered], name: &str) -> Option<&'a Output> {
    rendered
        .iter()
        .find(|r| r.exporter == name)
        .map(|r| &r.output)
}

/// What an exporter's output is, for the lines on stderr.
fn describe(exporter: &str) -> &str {
    match exporter {
        "json" => "results",
        "markdown" => "summary",
        other => other,
    }
}

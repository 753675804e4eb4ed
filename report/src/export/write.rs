//! Writing outputs atomically: a file is written to a temporary file in the same directory,
//! flushed and renamed over its name; a folder is built whole in a temporary folder beside it
//! and then put in place of the old one. On an error the old file or folder is left as it was
//! and the temporary one is removed.

use super::{ExportError, Output};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ExportError + 'a {
    move |source| ExportError::Write {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `output` into the existing directory `dir`; returns its path.
pub fn write_output(dir: &Path, output: &Output) -> Result<PathBuf, ExportError> {
    let path = dir.join(output.name());
    match output {
        Output::File { bytes, .. } => write_atomic(&path, bytes)?,
        Output::Folder { name, entries } => write_folder(dir, name, entries)?,
    }
    Ok(path)
}

/// Writes `bytes` to `path` atomically (see the module docs); the file is readable by all.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(err("creating a temporary file in", &dir))?;
    // A result file is for everyone to read (the temporary file starts as 0600).
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|()| tmp.write_all(bytes))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(err("writing", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .map_err(err("renaming a temporary file to", path))?;
    sync_dir(&dir);
    Ok(())
}

/// Makes a rename in `dir` durable (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn write_tree(dir: &Path, entries: &[Output]) -> Result<(), ExportError> {
    for e in entries {
        let path = dir.join(e.name());
        match e {
            Output::File { bytes, .. } => {
                std::fs::write(&path, bytes).map_err(err("writing", &path))?
            }
            Output::Folder { entries, .. } => {
                std::fs::create_dir(&path).map_err(err("creating", &path))?;
                write_tree(&path, entries)?;
            }
        }
    }
    Ok(())
}

/// Builds folder `name` in `dir` whole, then swaps it in for the old one (if any).
fn write_folder(dir: &Path, name: &str, entries: &[Output]) -> Result<(), ExportError> {
    let target = dir.join(name);
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempdir_in(dir)
        .map_err(err("creating a temporary folder in", dir))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
        .map_err(err("setting the permissions of", tmp.path()))?;
    write_tree(tmp.path(), entries)?;
    // Move the old folder aside (kept until the new one is in place), then the new one in.
    let old = if target.exists() {
        let aside = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".old")
            .tempdir_in(dir)
            .map_err(err("creating a temporary folder in", dir))?;
        let aside_path = aside.path().join(name);
        std::fs::rename(&target, &aside_path).map_err(err("moving aside", &target))?;
        Some((aside, aside_path))
    } else {
        None
    };
    let built = tmp.keep();
    if let Err(e) = std::fs::rename(&built, &target) {
        // Put the old one back; leave nothing of ours behind.
        if let Some((_, aside_path)) = &old {
            let _ = std::fs::rename(aside_path, &target);
        }
        let _ = std::fs::remove_dir_all(&built);
        return Err(err("renaming a temporary folder to", &target)(e));
    }
    sync_dir(dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("r.json");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(names(dir.path()), ["r.json"]);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn atomic_write_into_a_missing_directory_fails_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing/r.json");
        let e = write_atomic(&path, b"x").unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        assert!(!path.exists());
    }

    #[test]
    fn a_folder_is_replaced_whole() {
        // Guards against a folder written into in place (an old file surviving) or a temporary
        // folder left behind.
        let dir = tempfile::tempdir().expect("tempdir");
        let page = |files: &[(&str, &str)]| Output::Folder {
            name: "report".into(),
            entries: files
                .iter()
                .map(|(n, b)| Output::file(*n, b.as_bytes()))
                .collect(),
        };
        write_output(
            dir.path(),
            &page(&[("index.html", "one"), ("old.svg", "x")]),
        )
        .expect("first");
        let p = write_output(
            dir.path(),
            &Output::Folder {
                name: "report".into(),
                entries: vec![
                    Output::file("index.html", "two"),
                    Output::Folder {
                        name: "figures".into(),
                        entries: vec![Output::file("a.svg", "<svg/>")],
                    },
                ],
            },
        )
        .expect("second");
        assert_eq!(names(dir.path()), ["report"]);
        assert_eq!(names(&p), ["figures", "index.html"]);
        assert_eq!(
            std::fs::read_to_string(p.join("index.html")).expect("read"),
            "two"
        );
        assert_eq!(names(&p.join("figures")), ["a.svg"]);
    }
}

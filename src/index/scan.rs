//! Finding the photos under a library's folders.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::preprocess::has_photo_extension;
use crate::{Error, Result};

/// Folders and files skipped unless the user says otherwise: NAS thumbnail folders,
/// version control, dependency trees, trash folders.
pub const DEFAULT_EXCLUDES: &[&str] = &["@eaDir", ".git", "node_modules", "#recycle", "$RECYCLE.BIN", ".Trash-*"];

/// A photo file found by a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
}

/// What a scan found.
#[derive(Clone, Debug, Default)]
pub struct ScanResult {
    /// Photo files (also of formats this build cannot decode), sorted by path, each once.
    pub photos: Vec<Found>,
    /// Places that could not be read (permissions, symlink loops), with why.
    pub problems: Vec<(PathBuf, String)>,
    /// Library folders that are not there (missing, not a folder, unreadable), with why:
    /// not walked, and their photos are not "gone".
    pub unavailable: Vec<(PathBuf, String)>,
}

/// Why a library folder cannot be walked now, or `None` when it can: missing (an unplugged
/// drive whose mount point was removed, a renamed folder), not a folder, or unreadable.
pub fn root_unavailable(root: &Path) -> Option<String> {
    match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => match std::fs::read_dir(root) {
            Ok(_) => None,
            Err(e) => Some(format!("the folder cannot be read: {e}")),
        },
        Ok(_) => Some("it is not a folder".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("the folder is missing".into()),
        Err(e) => Some(format!("the folder cannot be reached: {e}")),
    }
}

/// Why a folder of the library that has nothing in it counts as offline.
pub const EMPTY_ROOT: &str = "the folder is empty; is its drive unplugged?";

/// True when `root` is a folder with nothing at all in it: how the mount point of an
/// unplugged drive looks.
pub fn root_is_empty(root: &Path) -> bool {
    std::fs::read_dir(root).is_ok_and(|mut entries| entries.next().is_none())
}

/// Modification time of file metadata in nanoseconds since the epoch (0 when unknown).
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Walks `roots` recursively: photo extensions in any case, hidden files and folders
/// skipped, `excludes` (gitignore-style globs, e.g. `@eaDir` or `*.tmp`) skipped, the
/// folders Glimpse writes itself (`own`: the index's thumbnails) skipped, symbolic links
/// followed without looping, each file once even when reachable twice.
pub fn scan(roots: &[PathBuf], excludes: &[String], own: &[PathBuf], stop: &AtomicBool) -> Result<ScanResult> {
    let mut result = ScanResult::default();
    let mut seen = HashSet::new();
    for root in roots {
        if let Some(reason) = root_unavailable(root) {
            result.unavailable.push((root.clone(), reason));
            continue;
        }
        let mut overrides = ignore::overrides::OverrideBuilder::new(root);
        for pattern in excludes {
            overrides
                .add(&format!("!{pattern}"))
                .map_err(|e| Error::Invalid(format!("bad exclude pattern '{pattern}': {e}")))?;
        }
        let overrides = overrides.build().map_err(|e| Error::Invalid(format!("bad exclude patterns: {e}")))?;
        let own = own.to_vec();
        let walker = ignore::WalkBuilder::new(root)
            .standard_filters(false)
            .hidden(true)
            .follow_links(true)
            .overrides(overrides)
            .filter_entry(move |entry| !own.iter().any(|o| entry.path() == o))
            .build();
        for entry in walker {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    result.problems.push((problem_path(&e).unwrap_or_else(|| root.clone()), e.to_string()));
                    continue;
                }
            };
            let path = entry.path();
            // Photos whose decoder is missing here are found too, to be listed as skipped.
            if !has_photo_extension(path) {
                continue;
            }
            match entry.file_type() {
                Some(t) if t.is_file() => {}
                // A folder named like a photo is walked into like any folder.
                Some(t) if t.is_dir() => continue,
                _ => {
                    result.problems.push((
                        path.to_path_buf(),
                        "not a regular file (a FIFO, socket or device); only photo files are read".into(),
                    ));
                    continue;
                }
            }
            let Ok(meta) = std::fs::metadata(path) else { continue };
            let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            if seen.insert(key) {
                result.photos.push(Found { path: path.to_path_buf(), size: meta.len(), mtime_ns: mtime_ns(&meta) });
            }
        }
    }
    result.photos.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(result)
}

fn problem_path(error: &ignore::Error) -> Option<PathBuf> {
    match error {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } => problem_path(err),
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[test]
    fn a_scan_finds_photos_by_extension_in_any_case_and_skips_hidden_and_excluded_places() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "a.jpg",
            "b.JPEG",
            "sub/c.Png",
            "sub/deeper/d.webp",
            "notes.txt",
            ".hidden.jpg",
            ".cache/e.jpg",
            "@eaDir/f.jpg",
            "node_modules/g.jpg",
            "h.gif",
            "i.TIFF",
            "j.bmp",
        ] {
            touch(&d.join(f));
        }
        let excludes: Vec<String> = DEFAULT_EXCLUDES.iter().map(|s| s.to_string()).collect();
        let found = scan(&[d.to_path_buf()], &excludes, &[], &AtomicBool::new(false)).unwrap();
        let names: Vec<String> =
            found.photos.iter().map(|f| f.path.strip_prefix(d).unwrap().display().to_string()).collect();
        assert_eq!(names, ["a.jpg", "b.JPEG", "h.gif", "i.TIFF", "j.bmp", "sub/c.Png", "sub/deeper/d.webp"]);
    }

    #[test]
    fn a_symlink_loop_is_reported_and_does_not_hang_and_linked_files_count_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(&d.join("photos/a.jpg"));
        std::os::unix::fs::symlink(d.join("photos"), d.join("photos/loop")).unwrap();
        std::os::unix::fs::symlink(d.join("photos/a.jpg"), d.join("photos/alias.jpg")).unwrap();
        let found = scan(&[d.join("photos")], &[], &[], &AtomicBool::new(false)).unwrap();
        assert_eq!(found.photos.len(), 1);
        assert!(!found.problems.is_empty(), "the loop should be reported");
    }

    #[test]
    fn a_missing_root_or_a_file_as_root_is_unavailable_and_the_other_roots_are_still_walked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        touch(&d.join("here/a.jpg"));
        touch(&d.join("file.jpg"));
        std::fs::create_dir(d.join("empty")).unwrap();
        let roots = [d.join("gone"), d.join("file.jpg"), d.join("here"), d.join("empty")];
        let found = scan(&roots, &[], &[], &AtomicBool::new(false)).unwrap();
        assert_eq!(found.photos.len(), 1);
        let why: Vec<(PathBuf, String)> = found.unavailable;
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].1.contains("missing"), "{why:?}");
        assert!(why[1].1.contains("not a folder"), "{why:?}");
        assert!(root_is_empty(&d.join("empty")));
        assert!(!root_is_empty(&d.join("here")));
    }
}

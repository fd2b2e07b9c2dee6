//! Writing files so that a crash leaves the old or the new content, never a mix.

use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Writes `parts` to `path` through a temporary file in the same folder, fsync, rename
/// over the old file, and an fsync of the folder.
pub fn write_atomically(path: &Path, parts: &[&[u8]]) -> Result<()> {
    write_atomically_with(path, |file| {
        for part in parts {
            file.write_all(part).map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

/// [`write_atomically`] with the content written by `write` into the temporary file (which
/// it may seek in); an error leaves the old file as it was and removes the temporary.
pub fn write_atomically_with(path: &Path, write: impl FnOnce(&mut std::fs::File) -> Result<()>) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    write(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_whole_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file.bin");
        write_atomically(&path, &[b"first version, long"]).unwrap();
        write_atomically(&path, &[b"new", b" parts"]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new parts");
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }
}

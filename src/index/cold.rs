//! The cold part of an index file (see [`super::store`]): one fixed-size row of backbone
//! features per photo, in the hot part's order, which only indexing, re-projection,
//! duplicates and photo search without a text model read. Rows are read one at a time
//! through the handle the file was opened with; the whole part is checked against its
//! blake3 once, before anything copies it.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The cold part of an index file: fixed-size rows of features, read one at a time through
/// the handle the file was opened with (so a newer file renamed over it changes nothing).
pub struct ColdRows {
    file: std::fs::File,
    path: PathBuf,
    start: u64,
    row_len: usize,
    rows: usize,
    checksum: [u8; 32],
    checked: std::sync::OnceLock<std::result::Result<(), String>>,
}

impl std::fmt::Debug for ColdRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ColdRows({} rows of {} bytes in {})", self.rows, self.row_len, self.path.display())
    }
}

// Two cold parts are equal when they hold the same rows: same shape and same checksum.
impl PartialEq for ColdRows {
    fn eq(&self, other: &Self) -> bool {
        (self.row_len, self.rows, self.checksum) == (other.row_len, other.rows, other.checksum)
    }
}

impl ColdRows {
    /// The `rows` rows of `row_len` bytes from byte `start` of `file` (opened from `path`),
    /// whose blake3 is `checksum`; checked whole by [`ColdRows::verify`] when first asked.
    pub(super) fn new(
        file: std::fs::File,
        path: &Path,
        start: u64,
        row_len: usize,
        rows: usize,
        checksum: [u8; 32],
    ) -> ColdRows {
        ColdRows { file, path: path.to_path_buf(), start, row_len, rows, checksum, checked: std::sync::OnceLock::new() }
    }

    /// The same rows, known to match their checksum (they were hashed as they were
    /// written), so [`ColdRows::verify`] need not read them again.
    pub(super) fn known_good(self) -> ColdRows {
        let _ = self.checked.set(Ok(()));
        self
    }

    /// The stored feature bytes of row `row`.
    pub fn read(&self, row: usize) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        if row >= self.rows {
            return Err(Error::index_damaged(&self.path, format!("its cold part has no row {row}")));
        }
        let mut bytes = vec![0u8; self.row_len];
        self.file
            .read_exact_at(&mut bytes, self.start + (row * self.row_len) as u64)
            .map_err(|e| Error::index_damaged(&self.path, format!("its cold part cannot be read: {e}")))?;
        Ok(bytes)
    }

    /// Reads the whole cold part once and checks it against its checksum (later calls give
    /// the first answer).
    pub fn verify(&self) -> Result<()> {
        let answer = self.checked.get_or_init(|| {
            use std::os::unix::fs::FileExt;
            let mut hasher = blake3::Hasher::new();
            let mut buffer = vec![0u8; 1 << 20];
            let (mut at, end) = (self.start, self.start + (self.rows * self.row_len) as u64);
            while at < end {
                let n = buffer.len().min((end - at) as usize);
                self.file
                    .read_exact_at(&mut buffer[..n], at)
                    .map_err(|e| format!("its cold part cannot be read: {e}"))?;
                hasher.update(&buffer[..n]);
                at += n as u64;
            }
            if hasher.finalize().as_bytes() != &self.checksum {
                return Err("the checksum of its features does not match (the file was altered or damaged)".into());
            }
            Ok(())
        });
        answer.clone().map_err(|reason| Error::index_damaged(&self.path, reason))
    }
}

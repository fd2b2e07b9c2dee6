//! A fast content hash that recognises a photo after a rename or move.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::{Error, Result};

/// Bytes read from each end of the file.
const EDGE: u64 = 64 * 1024;

/// A content hash: 16 bytes of blake3 (stable across releases and machines).
pub type ContentHash = [u8; 16];

/// blake3 over the file size, its first 64 KiB and its last 64 KiB: a renamed photo keeps
/// its hash, an edited one (new size, new header or new tail) gets a new one. Reading two
/// small pieces instead of the whole file keeps a re-scan of a large library fast.
pub fn content_hash(path: &Path) -> Result<(ContentHash, u64)> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut hasher = blake3::Hasher::new();
    hasher.update(&size.to_le_bytes());
    let mut buf = vec![0u8; EDGE.min(size) as usize];
    file.read_exact(&mut buf).map_err(|e| Error::io(path, e))?;
    hasher.update(&buf);
    if size > EDGE {
        let tail = EDGE.min(size - EDGE);
        file.seek(SeekFrom::Start(size - tail)).map_err(|e| Error::io(path, e))?;
        let mut buf = vec![0u8; tail as usize];
        file.read_exact(&mut buf).map_err(|e| Error::io(path, e))?;
        hasher.update(&buf);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
    Ok((out, size))
}

/// Lower-case hex of a hash, for file names.
pub fn hex(hash: &ContentHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_file_keeps_its_hash_and_an_edited_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jpg");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&a, &data).unwrap();
        let (h1, size) = content_hash(&a).unwrap();
        assert_eq!(size, 300_000);
        let b = dir.path().join("b.jpg");
        std::fs::rename(&a, &b).unwrap();
        assert_eq!(content_hash(&b).unwrap().0, h1);
        let mut edited = data.clone();
        edited[299_999] ^= 1;
        std::fs::write(&b, &edited).unwrap();
        assert_ne!(content_hash(&b).unwrap().0, h1);
    }

    #[test]
    fn small_and_empty_files_hash_without_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("e");
        std::fs::write(&empty, b"").unwrap();
        let small = dir.path().join("s");
        std::fs::write(&small, b"abc").unwrap();
        assert_ne!(content_hash(&empty).unwrap().0, content_hash(&small).unwrap().0);
    }
}

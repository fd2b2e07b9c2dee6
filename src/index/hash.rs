//! A content hash that recognises a photo after a rename or move, and only then.

use std::io::Read;
use std::path::Path;

use crate::files::open_regular;
use crate::{Error, Result};

/// A content hash: 16 bytes of blake3 (stable across releases and machines).
pub type ContentHash = [u8; 16];

/// blake3 over the file size and every byte of the file: a renamed photo keeps its hash,
/// and any edit gives a new one (hashing only the two ends took an edit in the middle that
/// kept the size for a move, and kept the old vectors). Only new or changed files are
/// hashed, and those are decoded right after from the page cache, so the whole read costs
/// little (`glimpse bench hash`). Files that are not regular or exceed `cap` bytes are
/// refused without being read.
pub fn content_hash(path: &Path, cap: u64) -> Result<(ContentHash, u64)> {
    let (mut file, size) = open_regular(path, cap).map_err(|refusal| Error::photo(path, refusal.to_string()))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(&size.to_le_bytes());
    let mut buf = vec![0u8; 256 * 1024];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::photo(path, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        if read > cap {
            return Err(Error::photo(path, "the file grew past the size limit while it was read"));
        }
        hasher.update(&buf[..n]);
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

    const CAP: u64 = crate::files::DEFAULT_MAX_FILE_BYTES;

    #[test]
    fn a_renamed_file_keeps_its_hash_and_an_edited_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jpg");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&a, &data).unwrap();
        let (h1, size) = content_hash(&a, CAP).unwrap();
        assert_eq!(size, 300_000);
        let b = dir.path().join("b.jpg");
        std::fs::rename(&a, &b).unwrap();
        assert_eq!(content_hash(&b, CAP).unwrap().0, h1);
        let mut edited = data.clone();
        edited[299_999] ^= 1;
        std::fs::write(&b, &edited).unwrap();
        assert_ne!(content_hash(&b, CAP).unwrap().0, h1);
        // An edit in the middle that keeps the size and both ends is still an edit.
        let mut middle = data.clone();
        middle[150_000] ^= 1;
        std::fs::write(&b, &middle).unwrap();
        assert_ne!(content_hash(&b, CAP).unwrap().0, h1);
    }

    #[test]
    fn small_and_empty_files_hash_without_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("e");
        std::fs::write(&empty, b"").unwrap();
        let small = dir.path().join("s");
        std::fs::write(&small, b"abc").unwrap();
        assert_ne!(content_hash(&empty, CAP).unwrap().0, content_hash(&small, CAP).unwrap().0);
    }
}

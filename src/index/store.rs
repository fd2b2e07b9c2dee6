//! The index file: a checked header and a bincode payload, written atomically.
//!
//! ```text
//! "GLMPSIDX" | format u32 LE | payload length u64 LE | blake3(payload) 32 bytes | payload
//! ```
//!
//! A file that is too short, foreign, of another format, truncated or altered is refused
//! with a reason; nothing is guessed from a damaged file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hash::ContentHash;
use crate::durable::write_atomically;
use crate::{Error, Result};

/// First bytes of every index file.
pub const MAGIC: &[u8; 8] = b"GLMPSIDX";
/// The payload format this build writes and reads.
pub const FORMAT: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 32;

/// Raw bytes of a path, so that file names that are not UTF-8 survive.
pub fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

/// The path for raw bytes stored by [`path_bytes`].
pub fn bytes_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// One indexed photo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoEntry {
    /// The photo's path, raw bytes.
    #[serde(with = "serde_bytes")]
    pub path: Vec<u8>,
    /// File size in bytes when indexed.
    pub size: u64,
    /// Modification time when indexed, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Content hash (see [`super::hash::content_hash`]).
    pub hash: ContentHash,
    /// Displayed width in pixels.
    pub width: u32,
    /// Displayed height in pixels.
    pub height: u32,
    /// EXIF DateTimeOriginal, seconds since the epoch (camera local time read as UTC).
    pub taken: Option<i64>,
    /// Backbone features, f16 little-endian.
    #[serde(with = "serde_bytes")]
    pub features: Vec<u8>,
    /// The features projected into the joint text–image space by the index's head, f32
    /// little-endian, followed by the photo's hubness offset when that head is calibrated
    /// (`joint_dim + 1` values; see [`crate::train::hubness`]); empty until projected.
    #[serde(with = "serde_bytes")]
    pub joint: Vec<u8>,
}

impl PhotoEntry {
    /// The photo's path.
    pub fn path(&self) -> PathBuf {
        bytes_path(&self.path)
    }

    /// The features as f32.
    pub fn features_f32(&self) -> Vec<f32> {
        use half::slice::HalfFloatSliceExt;
        let halves: Vec<half::f16> =
            self.features.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]])).collect();
        let mut out = vec![0.0f32; halves.len()];
        // Uses the F16C instructions when the processor has them.
        halves.convert_to_f32_slice(&mut out);
        out
    }

    /// The joint-space vector as f32 (empty when not projected).
    pub fn joint_f32(&self) -> Vec<f32> {
        self.joint.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    /// Stores a joint-space vector.
    pub fn encode_joint(joint: &[f32]) -> Vec<u8> {
        joint.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Stores f32 features as f16 (half the bytes; ranking by cosine is unchanged to
    /// three decimals).
    pub fn encode_features(features: &[f32]) -> Vec<u8> {
        features.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect()
    }
}

/// A file that was looked at and not indexed, with why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// The file, raw bytes.
    #[serde(with = "serde_bytes")]
    pub path: Vec<u8>,
    /// Size when tried, so an unchanged bad file is not tried again.
    pub size: u64,
    /// Modification time when tried.
    pub mtime_ns: i64,
    /// Why it was skipped.
    pub reason: String,
}

/// Everything an index file holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexData {
    /// sha256 of the graphs that made the vectors.
    pub model_id: String,
    /// Backbone name.
    pub backbone: String,
    /// The preprocessing fingerprint.
    pub preprocess: String,
    /// Length of each feature vector.
    pub feature_dim: usize,
    /// sha256 of the projection head that made the joint vectors (empty: none).
    pub head_id: String,
    /// Length of each joint vector (0: none).
    pub joint_dim: usize,
    /// Changes at every full write; a journal only applies to its own generation.
    pub generation: u64,
    /// The library's folders, raw bytes.
    pub roots: Vec<serde_bytes::ByteBuf>,
    /// Glob patterns excluded from scans.
    pub excludes: Vec<String>,
    /// The photos.
    pub photos: Vec<PhotoEntry>,
    /// Files that were skipped, with reasons.
    pub skipped: Vec<Skipped>,
}

impl IndexData {
    /// Position of each photo by path.
    pub fn positions(&self) -> HashMap<Vec<u8>, usize> {
        self.photos.iter().enumerate().map(|(i, p)| (p.path.clone(), i)).collect()
    }

    /// Inserts or replaces the entry with the same path.
    pub fn upsert(&mut self, entry: PhotoEntry) {
        self.skipped.retain(|s| s.path != entry.path);
        match self.photos.iter().position(|p| p.path == entry.path) {
            Some(i) => self.photos[i] = entry,
            None => self.photos.push(entry),
        }
    }

    /// Removes a photo (and any skip record) by path.
    pub fn remove(&mut self, path: &[u8]) {
        self.photos.retain(|p| p.path != path);
        self.skipped.retain(|s| s.path != path);
    }

    /// Records a skipped file, replacing an older record of it.
    pub fn skip(&mut self, skipped: Skipped) {
        self.photos.retain(|p| p.path != skipped.path);
        self.skipped.retain(|s| s.path != skipped.path);
        self.skipped.push(skipped);
    }
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value with the index's bincode configuration.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, config()).map_err(|e| Error::Invalid(format!("cannot encode the index: {e}")))
}

/// Decodes a value written by [`encode`].
pub fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    bincode::serde::decode_from_slice(bytes, config()).map(|(v, _)| v).map_err(|e| e.to_string())
}

/// An index file and its contents.
#[derive(Clone, Debug)]
pub struct Index {
    /// Where it lives.
    pub path: PathBuf,
    /// What it holds.
    pub data: IndexData,
}

fn damaged(path: &Path, reason: impl Into<String>) -> Error {
    Error::IndexDamaged { path: path.to_path_buf(), reason: reason.into() }
}

impl Index {
    /// An empty index that will live at `path`.
    pub fn empty(path: &Path) -> Self {
        Index { path: path.to_path_buf(), data: IndexData::default() }
    }

    /// Reads and checks an index file (without its journal).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let data = Self::parse(path, &bytes)?;
        Ok(Index { path: path.to_path_buf(), data })
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<IndexData> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(damaged(path, "this is not a Glimpse index file"));
        }
        if bytes.len() < HEADER_LEN {
            return Err(damaged(path, "the file is truncated (its header is incomplete)"));
        }
        let format = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if format != FORMAT {
            let age = if format < FORMAT { "an older" } else { "a newer" };
            return Err(damaged(path, format!("it has {age} format ({format}; this Glimpse reads {FORMAT})")));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[12..20]);
        let len = u64::from_le_bytes(len);
        let payload = &bytes[HEADER_LEN..];
        if payload.len() as u64 != len {
            return Err(damaged(
                path,
                format!("the file is truncated or padded ({} payload bytes, header says {len})", payload.len()),
            ));
        }
        if blake3::hash(payload).as_bytes() != &bytes[20..52] {
            return Err(damaged(path, "its checksum does not match (the file was altered or damaged)"));
        }
        decode(payload).map_err(|e| damaged(path, format!("its contents cannot be read: {e}")))
    }

    /// Writes the whole index atomically: a temporary file in the same folder, fsync,
    /// rename over the old file, fsync of the folder. A crash leaves the old or the new
    /// file, never a mix.
    pub fn save(&mut self) -> Result<()> {
        self.data.generation = self.data.generation.wrapping_add(1);
        let payload = encode(&self.data)?;
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&FORMAT.to_le_bytes());
        header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        header.extend_from_slice(blake3::hash(&payload).as_bytes());
        write_atomically(&self.path, &[&header, &payload])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> IndexData {
        IndexData {
            model_id: "abc".into(),
            backbone: "tiny".into(),
            feature_dim: 2,
            photos: vec![PhotoEntry {
                path: b"/p/\xffodd.jpg".to_vec(),
                size: 10,
                mtime_ns: 5,
                hash: [7; 16],
                width: 3,
                height: 4,
                taken: Some(1_600_000_000),
                features: PhotoEntry::encode_features(&[0.5, -1.25]),
                joint: PhotoEntry::encode_joint(&[0.25]),
            }],
            ..IndexData::default()
        }
    }

    #[test]
    fn an_index_round_trips_including_a_file_name_that_is_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("library.glimpse");
        let mut index = Index { path: path.clone(), data: sample() };
        index.save().unwrap();
        let read = Index::read(&path).unwrap();
        assert_eq!(read.data, index.data);
        assert_eq!(read.data.photos[0].features_f32(), vec![0.5, -1.25]);
    }

    #[test]
    fn truncated_foreign_older_and_altered_files_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("library.glimpse");
        let mut index = Index { path: path.clone(), data: sample() };
        index.save().unwrap();
        let good = std::fs::read(&path).unwrap();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("truncated", good[..good.len() - 5].to_vec(), "truncated"),
            ("header only", good[..30].to_vec(), "header is incomplete"),
            ("foreign", b"PK\x03\x04 a zip file".to_vec(), "not a Glimpse index"),
            ("empty", Vec::new(), "not a Glimpse index"),
            ("older", [&good[..8], &0u32.to_le_bytes()[..], &good[12..]].concat(), "an older format"),
            (
                "altered",
                {
                    let mut b = good.clone();
                    let last = b.len() - 1;
                    b[last] ^= 0x40;
                    b
                },
                "checksum does not match",
            ),
        ];
        for (what, bytes, reason) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let err = Index::read(&path).unwrap_err().to_string();
            assert!(err.contains(reason), "{what}: {err}");
        }
    }
}

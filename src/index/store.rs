//! The index file: a checked header and a bincode payload, written atomically.
//!
//! ```text
//! "GLMPSIDX" | format u32 LE | payload length u64 LE | blake3(payload) 32 bytes | payload
//! ```
//!
//! A file that does not start with the magic is not ours: it is refused and never touched.
//! An index of a newer format is refused; one of an older format is converted as it is read.
//! A file that is truncated or altered is refused with a reason; nothing is guessed from a
//! damaged file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::hash::ContentHash;
use crate::checked;
use crate::{Error, Result};

/// First bytes of every index file.
pub const MAGIC: &[u8; 8] = b"GLMPSIDX";
/// The payload format this build writes and reads.
/// 2 added the folders found offline; 1 is converted when read.
pub const FORMAT: u32 = 2;
/// The oldest format this build converts.
pub const OLDEST_FORMAT: u32 = 1;

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
    /// Folders of the library that were offline (missing, not a folder, or without any photo
    /// while the index has photos there) at the last indexing run: their photos are kept but
    /// left out of results until the folder is back.
    pub offline: Vec<serde_bytes::ByteBuf>,
    /// Where each photo and skip record is, by path (not stored; rebuilt when stale).
    #[serde(skip)]
    rows: Rows,
}

/// Format 1's payload, read to convert an index written by an earlier Glimpse.
#[derive(Deserialize)]
struct IndexDataV1 {
    model_id: String,
    backbone: String,
    preprocess: String,
    feature_dim: usize,
    head_id: String,
    joint_dim: usize,
    generation: u64,
    roots: Vec<serde_bytes::ByteBuf>,
    excludes: Vec<String>,
    photos: Vec<PhotoEntry>,
    skipped: Vec<Skipped>,
}

impl From<IndexDataV1> for IndexData {
    fn from(v1: IndexDataV1) -> Self {
        IndexData {
            model_id: v1.model_id,
            backbone: v1.backbone,
            preprocess: v1.preprocess,
            feature_dim: v1.feature_dim,
            head_id: v1.head_id,
            joint_dim: v1.joint_dim,
            generation: v1.generation,
            roots: v1.roots,
            excludes: v1.excludes,
            photos: v1.photos,
            skipped: v1.skipped,
            offline: Vec::new(),
            rows: Rows::default(),
        }
    }
}

/// Positions of photos and skip records by path, so that changing one entry costs O(1)
/// instead of a scan of every entry (a first index of 100k photos was quadratic). It is a
/// cache: checked against the vectors on every use and rebuilt when they were changed
/// behind its back, so it can never point at the wrong entry.
#[derive(Clone, Debug, Default)]
struct Rows {
    photos: HashMap<Vec<u8>, usize>,
    skipped: HashMap<Vec<u8>, usize>,
}

// A cache of the data, not part of it.
impl PartialEq for Rows {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The position of `path` in `items` through `map`, rebuilding `map` when it does not match.
fn find<T>(map: &mut HashMap<Vec<u8>, usize>, items: &[T], path: &[u8], key: impl Fn(&T) -> &[u8]) -> Option<usize> {
    let fresh = |map: &HashMap<Vec<u8>, usize>| {
        map.len() == items.len() && map.get(path).is_none_or(|&i| items.get(i).is_some_and(|t| key(t) == path))
    };
    if !fresh(map) {
        *map = items.iter().enumerate().map(|(i, t)| (key(t).to_vec(), i)).collect();
    }
    map.get(path).copied()
}

/// Removes `items[i]` by moving the last item into its place, keeping `map` true.
fn swap_remove<T>(map: &mut HashMap<Vec<u8>, usize>, items: &mut Vec<T>, i: usize, key: impl Fn(&T) -> &[u8]) {
    let gone = items.swap_remove(i);
    map.remove(key(&gone));
    if let Some(moved) = items.get(i) {
        map.insert(key(moved).to_vec(), i);
    }
}

impl IndexData {
    /// Position of each photo by path.
    pub fn positions(&self) -> HashMap<Vec<u8>, usize> {
        self.photos.iter().enumerate().map(|(i, p)| (p.path.clone(), i)).collect()
    }

    fn photo_row(&mut self, path: &[u8]) -> Option<usize> {
        find(&mut self.rows.photos, &self.photos, path, |p| &p.path)
    }

    fn drop_skip(&mut self, path: &[u8]) {
        if let Some(i) = find(&mut self.rows.skipped, &self.skipped, path, |s| &s.path) {
            swap_remove(&mut self.rows.skipped, &mut self.skipped, i, |s| &s.path);
        }
    }

    fn drop_photo(&mut self, path: &[u8]) {
        if let Some(i) = self.photo_row(path) {
            swap_remove(&mut self.rows.photos, &mut self.photos, i, |p| &p.path);
        }
    }

    /// Inserts or replaces the entry with the same path.
    pub fn upsert(&mut self, entry: PhotoEntry) {
        self.drop_skip(&entry.path);
        match self.photo_row(&entry.path) {
            Some(i) => self.photos[i] = entry,
            None => {
                self.rows.photos.insert(entry.path.clone(), self.photos.len());
                self.photos.push(entry);
            }
        }
    }

    /// Removes a photo (and any skip record) by path.
    pub fn remove(&mut self, path: &[u8]) {
        self.drop_photo(path);
        self.drop_skip(path);
    }

    /// Records a skipped file, replacing an older record of it.
    pub fn skip(&mut self, skipped: Skipped) {
        self.drop_photo(&skipped.path);
        self.drop_skip(&skipped.path);
        self.rows.skipped.insert(skipped.path.clone(), self.skipped.len());
        self.skipped.push(skipped);
    }

    /// True when `path` lies under one of the folders found offline at the last run.
    pub fn is_offline(&self, path: &Path) -> bool {
        self.offline.iter().any(|root| path.starts_with(bytes_path(root)))
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
        Self::read_converting(path).map(|(index, _)| index)
    }

    /// [`Index::read`], also telling the format the file had when it was older than
    /// [`FORMAT`] and was converted (it is written in the new format at the next save).
    pub fn read_converting(path: &Path) -> Result<(Self, Option<u32>)> {
        let bytes = crate::files::read_regular(path, u64::MAX).map_err(|refusal| match refusal {
            crate::files::ReadRefusal::Io(e) => Error::io(path, e),
            _ => Error::NotAnIndex { path: path.to_path_buf() },
        })?;
        let (data, format) = Self::parse(path, &bytes)?;
        Ok((Index { path: path.to_path_buf(), data }, (format < FORMAT).then_some(format)))
    }

    /// Checks that `path` is absent or starts like a Glimpse index of a format this build
    /// reads, reading only its header: a foreign file or a newer index must never be moved
    /// or written over, nor get a lock file beside it.
    pub fn check_ours(path: &Path) -> Result<()> {
        use std::io::Read;
        let mut file = match crate::files::open_regular(path, u64::MAX) {
            Ok((file, _)) => file,
            Err(crate::files::ReadRefusal::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(crate::files::ReadRefusal::Io(e)) => return Err(Error::io(path, e)),
            Err(_) => return Err(Error::NotAnIndex { path: path.to_path_buf() }),
        };
        let mut head = Vec::with_capacity(12);
        file.by_ref().take(12).read_to_end(&mut head).map_err(|e| Error::io(path, e))?;
        Self::refuse_foreign_or_newer(path, &head)
    }

    /// Refuses, untouched, a file without the index magic and an index of a newer format,
    /// judging by its first 12 bytes (magic and format) only.
    fn refuse_foreign_or_newer(path: &Path, head: &[u8]) -> Result<()> {
        if head.len() < 8 || &head[..8] != MAGIC {
            return Err(Error::NotAnIndex { path: path.to_path_buf() });
        }
        if let Some(format) = head.get(8..12).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            && format > FORMAT
        {
            return Err(Error::IndexTooNew { path: path.to_path_buf(), format, reads: FORMAT });
        }
        Ok(())
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<(IndexData, u32)> {
        Self::refuse_foreign_or_newer(path, bytes)?;
        let format = checked::container_format(bytes, MAGIC).map_err(|refusal| damaged(path, refusal.to_string()))?;
        if format < OLDEST_FORMAT {
            return Err(damaged(
                path,
                format!("it has format {format}, which no Glimpse wrote (this one reads {OLDEST_FORMAT} to {FORMAT})"),
            ));
        }
        let payload = checked::container_payload(bytes).map_err(|refusal| damaged(path, refusal.to_string()))?;
        let data = if format == 1 { decode::<IndexDataV1>(payload).map(IndexData::from) } else { decode(payload) };
        data.map(|d| (d, format)).map_err(|e| damaged(path, format!("its contents cannot be read: {e}")))
    }

    /// Writes the whole index atomically: a temporary file in the same folder, fsync,
    /// rename over the old file, fsync of the folder. A crash leaves the old or the new
    /// file, never a mix.
    pub fn save(&mut self) -> Result<()> {
        self.data.generation = self.data.generation.wrapping_add(1);
        let payload = encode(&self.data)?;
        checked::write_container(&self.path, MAGIC, FORMAT, &payload)
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
            ("never written", [&good[..8], &0u32.to_le_bytes()[..], &good[12..]].concat(), "which no Glimpse wrote"),
            ("newer", [&good[..8], &(FORMAT + 1).to_le_bytes()[..], &good[12..]].concat(), "made by a newer Glimpse"),
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

    /// Format 1 exactly as the earlier writer laid it out (field order is the format).
    #[derive(Serialize)]
    struct WrittenByFormat1 {
        model_id: String,
        backbone: String,
        preprocess: String,
        feature_dim: usize,
        head_id: String,
        joint_dim: usize,
        generation: u64,
        roots: Vec<serde_bytes::ByteBuf>,
        excludes: Vec<String>,
        photos: Vec<PhotoEntry>,
        skipped: Vec<Skipped>,
    }

    #[test]
    fn an_index_of_format_1_is_converted_when_read_and_saved_in_the_new_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("library.glimpse");
        let old = sample();
        let payload = encode(&WrittenByFormat1 {
            model_id: old.model_id.clone(),
            backbone: old.backbone.clone(),
            preprocess: old.preprocess.clone(),
            feature_dim: old.feature_dim,
            head_id: old.head_id.clone(),
            joint_dim: old.joint_dim,
            generation: 4,
            roots: vec![serde_bytes::ByteBuf::from(b"/p".to_vec())],
            excludes: vec![".git".into()],
            photos: old.photos.clone(),
            skipped: Vec::new(),
        })
        .unwrap();
        let header =
            [&MAGIC[..], &1u32.to_le_bytes(), &(payload.len() as u64).to_le_bytes(), blake3::hash(&payload).as_bytes()]
                .concat();
        std::fs::write(&path, [header, payload].concat()).unwrap();
        let (mut index, converted) = Index::read_converting(&path).unwrap();
        assert_eq!(converted, Some(1));
        assert_eq!(index.data.photos, old.photos);
        assert_eq!(index.data.generation, 4);
        assert_eq!(index.data.roots, vec![serde_bytes::ByteBuf::from(b"/p".to_vec())]);
        assert!(index.data.offline.is_empty());
        index.save().unwrap();
        let (again, converted) = Index::read_converting(&path).unwrap();
        assert_eq!(converted, None);
        assert_eq!(again.data.photos, old.photos);
    }

    #[test]
    fn a_foreign_file_or_a_newer_index_is_refused_by_its_header_alone() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("mine.jpg");
        std::fs::write(&photo, b"\xff\xd8\xff\xe0 a photo").unwrap();
        assert!(matches!(Index::check_ours(&photo), Err(Error::NotAnIndex { .. })));
        let newer = dir.path().join("newer.glimpse");
        std::fs::write(&newer, [&MAGIC[..], &(FORMAT + 1).to_le_bytes()].concat()).unwrap();
        assert!(matches!(Index::check_ours(&newer), Err(Error::IndexTooNew { .. })));
        assert!(Index::check_ours(&dir.path().join("absent.glimpse")).is_ok());
        assert!(matches!(Index::check_ours(dir.path()), Err(Error::NotAnIndex { .. })));
    }

    #[test]
    fn changing_one_entry_finds_it_by_path_even_after_the_photos_were_changed_directly() {
        let mut data = IndexData::default();
        let entry = |name: &str| PhotoEntry { path: name.as_bytes().to_vec(), ..sample().photos[0].clone() };
        for name in ["a", "b", "c", "d"] {
            data.upsert(entry(name));
        }
        data.remove(b"b");
        let names =
            |d: &IndexData| d.photos.iter().map(|p| String::from_utf8(p.path.clone()).unwrap()).collect::<Vec<_>>();
        assert_eq!(names(&data), ["a", "d", "c"]);
        data.skip(Skipped { path: b"c".to_vec(), size: 1, mtime_ns: 1, reason: "bad".into() });
        assert_eq!(names(&data), ["a", "d"]);
        data.upsert(entry("c"));
        assert!(data.skipped.is_empty());
        // Changed behind the cache's back: it must notice, not point at the wrong row.
        data.photos.swap(0, 1);
        data.photos.push(entry("e"));
        let mut replaced = entry("a");
        replaced.size = 99;
        data.upsert(replaced);
        assert_eq!(names(&data), ["d", "a", "c", "e"]);
        assert_eq!(data.photos[1].size, 99);
    }
}

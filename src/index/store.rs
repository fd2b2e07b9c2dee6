//! The index file: a hot part that search reads, then a cold part that only indexing and
//! re-projection read, each checked by its own blake3; written atomically.
//!
//! ```text
//! "GLMPSIDX" | format u32 LE | hot length u64 LE | blake3(hot) 32 bytes | hot
//!            | cold length u64 LE | blake3(cold) 32 bytes | cold
//! hot:  bincode: settings, folders, and per photo its path, size, mtime, hash, size in
//!       pixels, date and compact joint vector (codes and hubness offset)
//! cold: per photo, in the hot part's order, one fixed-size row of backbone features
//!       (f32 low, f32 step, one byte per value)
//! ```
//!
//! Formats 1 and 2 (one payload, f16 features and f32 joint vectors per photo) are converted
//! as they are read: features to bytes, joint vectors kept until the text model's compact
//! projection encodes them (see [`IndexData::joint_codec`]).
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
/// The format this build writes and reads.
/// 3 split the file into hot and cold parts; 2 added the folders found offline; 1 and 2 are
/// converted when read.
pub const FORMAT: u32 = 3;
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
    /// Backbone features as [`PhotoEntry::encode_features`] stores them; empty while they
    /// are still in the file's cold part (see [`IndexData::feature_bytes`]).
    #[serde(with = "serde_bytes")]
    pub features: Vec<u8>,
    /// The joint-space vector: with a [`IndexData::joint_codec`], its `joint_dim` codes
    /// (i8) and the photo's hubness offset (f32 LE; see [`crate::train::hubness`]); in an
    /// index converted from format 2, the f32 vector (and offset) that format stored.
    /// Empty until projected.
    #[serde(with = "serde_bytes")]
    pub joint: Vec<u8>,
    /// The row of the file's cold part holding its features, when not in `features`.
    #[serde(skip)]
    pub cold_row: Option<u32>,
}

impl PhotoEntry {
    /// The photo's path.
    pub fn path(&self) -> PathBuf {
        bytes_path(&self.path)
    }

    /// The in-memory features as f32 (empty when they are in the cold part).
    pub fn features_f32(&self) -> Vec<f32> {
        decode_features(&self.features)
    }

    /// Stores f32 features in `8 + n` bytes: the lowest value and the step (f32 LE), then
    /// one byte per value, `low + step · byte`. Cosines between stored features stay within
    /// 1e-3 of the f32 ones, and the backbone's features (averages of ReLU6 maps, 0 to 6)
    /// keep steps of about 0.01.
    pub fn encode_features(features: &[f32]) -> Vec<u8> {
        let low = features.iter().copied().fold(f32::INFINITY, f32::min);
        let high = features.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (low, step) = if features.is_empty() { (0.0, 0.0) } else { (low, (high - low) / 255.0) };
        let mut out = Vec::with_capacity(8 + features.len());
        out.extend_from_slice(&low.to_le_bytes());
        out.extend_from_slice(&step.to_le_bytes());
        out.extend(
            features.iter().map(|v| if step > 0.0 { ((v - low) / step).round().clamp(0.0, 255.0) as u8 } else { 0 }),
        );
        out
    }

    /// Stored bytes for the compact joint codes and the hubness offset.
    pub fn encode_compact(codes: &[i8], offset: f32) -> Vec<u8> {
        let mut out: Vec<u8> = codes.iter().map(|&c| c as u8).collect();
        out.extend_from_slice(&offset.to_le_bytes());
        out
    }

    /// The compact codes and offset of a photo of an index with a joint codec, when it has
    /// `dim` codes.
    pub fn compact(&self, dim: usize) -> Option<(&[i8], f32)> {
        if self.joint.len() != dim + 4 {
            return None;
        }
        let codes: &[i8] = bytemuck::cast_slice(&self.joint[..dim]);
        let o = &self.joint[dim..];
        Some((codes, f32::from_le_bytes([o[0], o[1], o[2], o[3]])))
    }

    /// The f32 values of a joint vector as format 2 stored it.
    pub fn legacy_joint(&self) -> Vec<f32> {
        self.joint.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    /// A joint vector as format 2 stored it (`codec.input_dim` values, then the offset when
    /// the head was calibrated) as `codec`'s codes of its unit vector, and the offset (zero
    /// without one); `None` when it has another length.
    pub fn legacy_compact(&self, codec: &super::compact::Codec) -> Option<(Vec<i8>, f32)> {
        let dim = codec.input_dim;
        let mut values = self.legacy_joint();
        let offset = match values.len() {
            n if n == dim => 0.0,
            n if n == dim + 1 => values[dim],
            _ => return None,
        };
        super::search::normalize(&mut values[..dim]);
        Some((codec.encode(&values[..dim]), offset))
    }
}

/// f32 features from bytes written by [`PhotoEntry::encode_features`].
pub fn decode_features(bytes: &[u8]) -> Vec<f32> {
    if bytes.len() < 8 {
        return Vec::new();
    }
    let low = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let step = f32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    bytes[8..].iter().map(|&b| low + step * b as f32).collect()
}

/// Features stored as f16 (formats 1 and 2) in today's form.
pub(crate) fn features_from_f16(bytes: &[u8]) -> Vec<u8> {
    use half::slice::HalfFloatSliceExt;
    let halves: Vec<half::f16> = bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]])).collect();
    let mut values = vec![0.0f32; halves.len()];
    halves.convert_to_f32_slice(&mut values);
    PhotoEntry::encode_features(&values)
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
#[derive(Clone, Debug, Default, PartialEq)]
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
    /// Length of each joint vector (0: none): codes per photo with a `joint_codec`.
    pub joint_dim: usize,
    /// The compact projection that made the joint codes ([`super::compact::Codec::id`]);
    /// empty for none or, with vectors, for f32 vectors converted from format 2.
    pub joint_codec: String,
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
    rows: Rows,
    /// The cold part of the file this was read from, for features not in memory.
    pub cold: Option<std::sync::Arc<ColdRows>>,
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
            ..IndexData::default()
        }
        .converted_from_f16()
    }
}

/// Format 2's payload: format 1's fields, then the folders found offline. bincode writes a
/// struct's fields one after another, so this pair reads it.
type IndexDataV2 = (IndexDataV1, Vec<serde_bytes::ByteBuf>);

/// One photo as the hot part stores it (everything but its features).
#[derive(Serialize)]
struct HotPhotoRef<'a> {
    #[serde(with = "serde_bytes")]
    path: &'a [u8],
    size: u64,
    mtime_ns: i64,
    hash: ContentHash,
    width: u32,
    height: u32,
    taken: Option<i64>,
    #[serde(with = "serde_bytes")]
    joint: &'a [u8],
}

/// [`HotPhotoRef`] as read back, borrowing from the bytes read.
#[derive(Deserialize)]
struct HotPhoto<'a> {
    #[serde(borrow)]
    path: &'a [u8],
    size: u64,
    mtime_ns: i64,
    hash: ContentHash,
    width: u32,
    height: u32,
    taken: Option<i64>,
    #[serde(borrow)]
    joint: &'a [u8],
}

/// The hot part as written (field order is the format).
#[derive(Serialize)]
struct HotRef<'a> {
    model_id: &'a str,
    backbone: &'a str,
    preprocess: &'a str,
    feature_dim: usize,
    head_id: &'a str,
    joint_dim: usize,
    joint_codec: &'a str,
    generation: u64,
    roots: &'a [serde_bytes::ByteBuf],
    excludes: &'a [String],
    offline: &'a [serde_bytes::ByteBuf],
    skipped: &'a [Skipped],
    photos: Vec<HotPhotoRef<'a>>,
}

/// The hot part as read back.
#[derive(Deserialize)]
struct Hot<'a> {
    model_id: String,
    backbone: String,
    preprocess: String,
    feature_dim: usize,
    head_id: String,
    joint_dim: usize,
    joint_codec: String,
    generation: u64,
    roots: Vec<serde_bytes::ByteBuf>,
    excludes: Vec<String>,
    offline: Vec<serde_bytes::ByteBuf>,
    skipped: Vec<Skipped>,
    #[serde(borrow)]
    photos: Vec<HotPhoto<'a>>,
}

impl Hot<'_> {
    /// The data read; with `joint`, every photo's joint bytes go into it back to back
    /// (and none into the entries) when they all have the codes of the index's codec.
    fn into_data(self, joint: Option<&mut Vec<u8>>) -> IndexData {
        let row_len = self.joint_dim + 4;
        let mut sink = joint.filter(|_| {
            !self.joint_codec.is_empty() && self.joint_dim > 0 && self.photos.iter().all(|p| p.joint.len() == row_len)
        });
        if let Some(sink) = sink.as_mut() {
            sink.reserve_exact(row_len * self.photos.len());
        }
        let mut joint_of = |bytes: &[u8]| match sink.as_mut() {
            Some(sink) => {
                sink.extend_from_slice(bytes);
                Vec::new()
            }
            None => bytes.to_vec(),
        };
        let photos = self
            .photos
            .into_iter()
            .enumerate()
            .map(|(row, p)| PhotoEntry {
                path: p.path.to_vec(),
                size: p.size,
                mtime_ns: p.mtime_ns,
                hash: p.hash,
                width: p.width,
                height: p.height,
                taken: p.taken,
                features: Vec::new(),
                joint: joint_of(p.joint),
                cold_row: Some(row as u32),
            })
            .collect();
        IndexData {
            model_id: self.model_id,
            backbone: self.backbone,
            preprocess: self.preprocess,
            feature_dim: self.feature_dim,
            head_id: self.head_id,
            joint_dim: self.joint_dim,
            joint_codec: self.joint_codec,
            generation: self.generation,
            roots: self.roots,
            excludes: self.excludes,
            photos,
            skipped: self.skipped,
            offline: self.offline,
            ..IndexData::default()
        }
    }
}

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
    /// The stored feature bytes of row `row`.
    pub fn read(&self, row: usize) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        if row >= self.rows {
            return Err(damaged(&self.path, format!("its cold part has no row {row}")));
        }
        let mut bytes = vec![0u8; self.row_len];
        self.file
            .read_exact_at(&mut bytes, self.start + (row * self.row_len) as u64)
            .map_err(|e| damaged(&self.path, format!("its cold part cannot be read: {e}")))?;
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
        answer.clone().map_err(|reason| damaged(&self.path, reason))
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
    /// Formats 1 and 2 stored f16 features; today's bytes replace them.
    fn converted_from_f16(mut self) -> Self {
        for photo in &mut self.photos {
            photo.features = features_from_f16(&photo.features);
        }
        self
    }

    /// The stored feature bytes of photo `row`: in memory, or read from the cold part.
    pub fn feature_bytes(&self, row: usize) -> Result<Vec<u8>> {
        let photo = &self.photos[row];
        if !photo.features.is_empty() {
            return Ok(photo.features.clone());
        }
        match (photo.cold_row, &self.cold) {
            (Some(cold_row), Some(cold)) => cold.read(cold_row as usize),
            _ => Err(Error::Invalid(format!("the index holds no features for {}", photo.path().display()))),
        }
    }

    /// The features of photo `row` as f32.
    pub fn features_of(&self, row: usize) -> Result<Vec<f32>> {
        Ok(decode_features(&self.feature_bytes(row)?))
    }

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

/// An index file and its contents.
#[derive(Clone, Debug)]
pub struct Index {
    /// Where it lives.
    pub path: PathBuf,
    /// What it holds.
    pub data: IndexData,
}

/// Opens an index file (a regular file, whatever its size) and gives its length.
fn open_file(path: &Path) -> Result<(std::fs::File, u64)> {
    crate::files::open_regular(path, u64::MAX).map_err(|refusal| match refusal {
        crate::files::ReadRefusal::Io(e) => Error::io(path, e),
        _ => Error::NotAnIndex { path: path.to_path_buf() },
    })
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
        Self::read_hot_with(path, None)
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

    /// Formats 1 and 2: one checked payload, read whole.
    fn parse_old(path: &Path, bytes: &[u8], format: u32) -> Result<IndexData> {
        let payload = checked::container_payload(bytes).map_err(|refusal| damaged(path, refusal.to_string()))?;
        let data = match format {
            1 => checked::decode::<IndexDataV1>(payload).map(IndexData::from),
            _ => checked::decode::<IndexDataV2>(payload)
                .map(|(v1, offline)| IndexData { offline, ..IndexData::from(v1) }),
        };
        data.map_err(|e| damaged(path, format!("its contents cannot be read: {e}")))
    }

    /// Reads the hot part only, checked; features stay on disk and are read row by row when
    /// asked for (see [`IndexData::feature_bytes`]); an older format is read whole and
    /// converted. With `joint`, the photos' joint bytes are put in it back to back instead
    /// of in each entry, when every photo has the codes of the index's codec (what search
    /// holds: one allocation instead of one per photo).
    pub fn read_hot_with(path: &Path, joint: Option<&mut Vec<u8>>) -> Result<(Self, Option<u32>)> {
        use std::io::Read;
        let (mut file, len) = open_file(path)?;
        let mut header = Vec::with_capacity(checked::HEADER_LEN);
        file.by_ref().take(checked::HEADER_LEN as u64).read_to_end(&mut header).map_err(|e| Error::io(path, e))?;
        Self::refuse_foreign_or_newer(path, &header)?;
        let format = checked::container_format(&header, MAGIC).map_err(|refusal| damaged(path, refusal.to_string()))?;
        if format < OLDEST_FORMAT {
            return Err(damaged(
                path,
                format!("it has format {format}, which no Glimpse wrote (this one reads {OLDEST_FORMAT} to {FORMAT})"),
            ));
        }
        if format < FORMAT {
            let mut bytes = header;
            file.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
            let data = Self::parse_old(path, &bytes, format)?;
            return Ok((Index { path: path.to_path_buf(), data }, Some(format)));
        }
        let hot_len = u64::from_le_bytes(header[12..20].try_into().unwrap_or([0; 8]));
        let truncated = || damaged(path, "the file is truncated");
        let cold_header_end = (checked::HEADER_LEN as u64).checked_add(hot_len).and_then(|n| n.checked_add(40));
        if cold_header_end.is_none_or(|end| end > len) {
            return Err(truncated());
        }
        let mut hot = vec![0u8; hot_len as usize];
        file.read_exact(&mut hot).map_err(|_| truncated())?;
        if blake3::hash(&hot).as_bytes() != &header[20..52] {
            return Err(damaged(path, checked::Refusal::Checksum.to_string()));
        }
        let mut data = checked::decode_borrowed::<Hot>(&hot)
            .map(|h| h.into_data(joint))
            .map_err(|e| damaged(path, format!("its contents cannot be read: {e}")))?;
        drop(hot);
        let mut cold_header = [0u8; 40];
        file.read_exact(&mut cold_header).map_err(|_| truncated())?;
        let cold_len = u64::from_le_bytes(cold_header[..8].try_into().unwrap_or([0; 8]));
        let start = checked::HEADER_LEN as u64 + hot_len + 40;
        let row_len = if data.photos.is_empty() { 0 } else { 8 + data.feature_dim };
        if start.checked_add(cold_len) != Some(len) || cold_len != (row_len * data.photos.len()) as u64 {
            return Err(damaged(
                path,
                format!(
                    "the file is truncated or padded ({} bytes of features, header says {cold_len})",
                    len.saturating_sub(start)
                ),
            ));
        }
        let mut checksum = [0u8; 32];
        checksum.copy_from_slice(&cold_header[8..]);
        data.cold = Some(std::sync::Arc::new(ColdRows {
            file,
            path: path.to_path_buf(),
            start,
            row_len,
            rows: data.photos.len(),
            checksum,
            checked: std::sync::OnceLock::new(),
        }));
        Ok((Index { path: path.to_path_buf(), data }, None))
    }

    /// Writes the whole index atomically: a temporary file in the same folder, fsync,
    /// rename over the old file, fsync of the folder. A crash leaves the old or the new
    /// file, never a mix. Features not in memory are copied row by row from the file read.
    pub fn save(&mut self) -> Result<()> {
        use std::io::{Seek, Write};
        self.data.generation = self.data.generation.wrapping_add(1);
        let data = &self.data;
        if let Some(cold) = &data.cold {
            // Never copy damaged features into a fresh, checksummed file.
            cold.verify()?;
        }
        let hot = checked::encode(
            &HotRef {
                model_id: &data.model_id,
                backbone: &data.backbone,
                preprocess: &data.preprocess,
                feature_dim: data.feature_dim,
                head_id: &data.head_id,
                joint_dim: data.joint_dim,
                joint_codec: &data.joint_codec,
                generation: data.generation,
                roots: &data.roots,
                excludes: &data.excludes,
                offline: &data.offline,
                skipped: &data.skipped,
                photos: data
                    .photos
                    .iter()
                    .map(|p| HotPhotoRef {
                        path: &p.path,
                        size: p.size,
                        mtime_ns: p.mtime_ns,
                        hash: p.hash,
                        width: p.width,
                        height: p.height,
                        taken: p.taken,
                        joint: &p.joint,
                    })
                    .collect(),
            },
            "the index",
        )?;
        let row_len = 8 + data.feature_dim;
        let path = &self.path;
        let mut checksum = [0u8; 32];
        let cold_start = (checked::HEADER_LEN + hot.len() + 40) as u64;
        crate::durable::write_atomically_with(path, |file| {
            let io = |e: std::io::Error| Error::io(path, e);
            let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
            out.write_all(&checked::header(MAGIC, FORMAT, &hot)).map_err(io)?;
            out.write_all(&hot).map_err(io)?;
            out.write_all(&[0u8; 40]).map_err(io)?;
            let mut hasher = blake3::Hasher::new();
            for row in 0..data.photos.len() {
                let bytes = data.feature_bytes(row)?;
                if bytes.len() != row_len {
                    return Err(Error::Invalid(format!(
                        "{} has {} bytes of features; the index stores {row_len}",
                        data.photos[row].path().display(),
                        bytes.len()
                    )));
                }
                hasher.update(&bytes);
                out.write_all(&bytes).map_err(io)?;
            }
            let file = out.into_inner().map_err(|e| io(e.into_error()))?;
            file.seek(std::io::SeekFrom::Start(cold_start - 40)).map_err(io)?;
            let cold_len = (row_len * data.photos.len()) as u64;
            file.write_all(&cold_len.to_le_bytes()).map_err(io)?;
            checksum = *hasher.finalize().as_bytes();
            file.write_all(&checksum).map_err(io)?;
            Ok(())
        })?;
        // The features now live in the new file: keep none in memory.
        let (file, _) = open_file(path)?;
        let checked = std::sync::OnceLock::new();
        let _ = checked.set(Ok(()));
        let rows = self.data.photos.len();
        self.data.cold = Some(std::sync::Arc::new(ColdRows {
            file,
            path: path.clone(),
            start: cold_start,
            row_len,
            rows,
            checksum,
            checked,
        }));
        for (row, photo) in self.data.photos.iter_mut().enumerate() {
            photo.cold_row = Some(row as u32);
            photo.features = Vec::new();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &[u8], features: Vec<u8>, joint: Vec<u8>) -> PhotoEntry {
        PhotoEntry {
            path: path.to_vec(),
            size: 10,
            mtime_ns: 5,
            hash: [7; 16],
            width: 3,
            height: 4,
            taken: Some(1_600_000_000),
            features,
            joint,
            cold_row: None,
        }
    }

    fn sample() -> IndexData {
        IndexData {
            model_id: "abc".into(),
            backbone: "tiny".into(),
            feature_dim: 2,
            joint_dim: 1,
            joint_codec: "compact-test".into(),
            photos: vec![
                entry(
                    b"/p/\xffodd.jpg",
                    PhotoEntry::encode_features(&[0.5, -1.25]),
                    PhotoEntry::encode_compact(&[25], 0.1),
                ),
                entry(b"/p/b.jpg", PhotoEntry::encode_features(&[2.0, 1.0]), PhotoEntry::encode_compact(&[-3], 0.0)),
            ],
            ..IndexData::default()
        }
    }

    /// The same photos with their features where they are after a read (the cold part).
    fn without_features(data: &IndexData) -> Vec<PhotoEntry> {
        let mut photos = data.photos.clone();
        for (row, p) in photos.iter_mut().enumerate() {
            p.features.clear();
            p.cold_row = Some(row as u32);
        }
        photos
    }

    #[test]
    fn an_index_round_trips_including_a_file_name_that_is_not_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("library.glimpse");
        let original = sample();
        let mut index = Index { path: path.clone(), data: original.clone() };
        index.save().unwrap();
        let read = Index::read(&path).unwrap();
        assert_eq!(read.data.photos, without_features(&original));
        assert_eq!((read.data.joint_codec.as_str(), read.data.generation), ("compact-test", 1));
        // Features come from the cold part, to within a 255th of their range.
        let f = read.data.features_of(0).unwrap();
        assert!((f[0] - 0.5).abs() < 1e-6 && (f[1] + 1.25).abs() < 1e-6, "{f:?}");
        assert_eq!(read.data.features_of(1).unwrap(), vec![2.0, 1.0]);
        assert_eq!(read.data.photos[0].compact(1), Some((&[25i8][..], 0.1)));
        // Saving again copies the cold rows across, unchanged.
        let mut again = read;
        again.save().unwrap();
        assert_eq!(Index::read(&path).unwrap().data.features_of(0).unwrap(), f);
        assert!(again.data.photos.iter().all(|p| p.features.is_empty()), "no features are kept in memory after a save");
    }

    #[test]
    fn stored_features_keep_cosines_to_a_thousandth() {
        let a: Vec<f32> = (0..1280).map(|i| ((i * 37) % 101) as f32 / 17.0).collect();
        let b: Vec<f32> = (0..1280).map(|i| ((i * 53) % 89) as f32 / 15.0).collect();
        let cosine = |x: &[f32], y: &[f32]| {
            crate::index::search::dot(x, y) / (crate::index::search::dot(x, x) * crate::index::search::dot(y, y)).sqrt()
        };
        let (da, db) =
            (decode_features(&PhotoEntry::encode_features(&a)), decode_features(&PhotoEntry::encode_features(&b)));
        assert_eq!(PhotoEntry::encode_features(&a).len(), 8 + 1280);
        assert!((cosine(&a, &b) - cosine(&da, &db)).abs() < 1e-3);
        assert_eq!(decode_features(&PhotoEntry::encode_features(&[3.0; 4])), vec![3.0; 4]);
    }

    #[test]
    fn truncated_foreign_older_and_altered_files_are_refused_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("library.glimpse");
        let mut index = Index { path: path.clone(), data: sample() };
        index.save().unwrap();
        let good = std::fs::read(&path).unwrap();
        let flip = |at: usize| {
            let mut b = good.clone();
            b[at] ^= 0x40;
            b
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("truncated", good[..good.len() - 5].to_vec(), "truncated"),
            ("cut in the hot part", good[..60].to_vec(), "truncated"),
            ("header only", good[..30].to_vec(), "header is incomplete"),
            ("foreign", b"PK\x03\x04 a zip file".to_vec(), "not a Glimpse index"),
            ("empty", Vec::new(), "not a Glimpse index"),
            ("never written", [&good[..8], &0u32.to_le_bytes()[..], &good[12..]].concat(), "which no Glimpse wrote"),
            ("newer", [&good[..8], &(FORMAT + 1).to_le_bytes()[..], &good[12..]].concat(), "made by a newer Glimpse"),
            ("altered", flip(checked::HEADER_LEN + 3), "checksum does not match"),
        ];
        for (what, bytes, reason) in cases {
            std::fs::write(&path, &bytes).unwrap();
            let err = Index::read(&path).unwrap_err().to_string();
            assert!(err.contains(reason), "{what}: {err}");
        }
        // Damaged features: the hot part reads (search works), the features are refused when
        // read whole, and a save never copies them into a fresh file.
        std::fs::write(&path, flip(good.len() - 1)).unwrap();
        let mut read = Index::read(&path).unwrap();
        let cold = read.data.cold.clone().unwrap();
        assert!(cold.verify().unwrap_err().to_string().contains("checksum of its features"));
        assert!(read.save().unwrap_err().to_string().contains("checksum of its features"));
        assert_eq!(std::fs::read(&path).unwrap(), flip(good.len() - 1), "the file was left as it was");
    }

    /// Formats 1 and 2 exactly as the earlier writers laid them out (field order is the
    /// format): f16 features, f32 joint vectors followed by the offset.
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
        photos: Vec<OldEntry>,
        skipped: Vec<Skipped>,
    }

    #[derive(Serialize)]
    struct WrittenByFormat2 {
        model_id: String,
        backbone: String,
        preprocess: String,
        feature_dim: usize,
        head_id: String,
        joint_dim: usize,
        generation: u64,
        roots: Vec<serde_bytes::ByteBuf>,
        excludes: Vec<String>,
        photos: Vec<OldEntry>,
        skipped: Vec<Skipped>,
        offline: Vec<serde_bytes::ByteBuf>,
    }

    #[derive(Serialize)]
    struct OldEntry {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
        size: u64,
        mtime_ns: i64,
        hash: ContentHash,
        width: u32,
        height: u32,
        taken: Option<i64>,
        #[serde(with = "serde_bytes")]
        features: Vec<u8>,
        #[serde(with = "serde_bytes")]
        joint: Vec<u8>,
    }

    fn old_entry(name: &str, features: &[f32], joint: &[f32]) -> OldEntry {
        OldEntry {
            path: name.as_bytes().to_vec(),
            size: 10,
            mtime_ns: 5,
            hash: [7; 16],
            width: 3,
            height: 4,
            taken: None,
            features: features.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
            joint: joint.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    fn write_old(path: &Path, format: u32, payload: &[u8]) {
        std::fs::write(path, checked::container(MAGIC, format, payload)).unwrap();
    }

    #[test]
    fn indexes_of_formats_1_and_2_are_converted_when_read_and_saved_in_the_new_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("library.glimpse");
        let photos = || {
            vec![
                old_entry("/p/a.jpg", &[0.5, 2.0], &[0.6, 0.8, 0.05]),
                old_entry("/p/b.jpg", &[1.0, 0.0], &[1.0, 0.0, 0.2]),
            ]
        };
        let v1 = checked::encode(
            &WrittenByFormat1 {
                model_id: "m".into(),
                backbone: "tiny".into(),
                preprocess: "p".into(),
                feature_dim: 2,
                head_id: "h".into(),
                joint_dim: 2,
                generation: 4,
                roots: vec![serde_bytes::ByteBuf::from(b"/p".to_vec())],
                excludes: vec![".git".into()],
                photos: photos(),
                skipped: Vec::new(),
            },
            "the index",
        )
        .unwrap();
        write_old(&path, 1, &v1);
        let (index, converted) = Index::read_converting(&path).unwrap();
        assert_eq!(converted, Some(1));
        assert_eq!((index.data.generation, index.data.photos.len()), (4, 2));
        assert!(index.data.offline.is_empty());

        let v2 = checked::encode(
            &WrittenByFormat2 {
                model_id: "m".into(),
                backbone: "tiny".into(),
                preprocess: "p".into(),
                feature_dim: 2,
                head_id: "h".into(),
                joint_dim: 2,
                generation: 9,
                roots: vec![serde_bytes::ByteBuf::from(b"/p".to_vec())],
                excludes: vec![".git".into()],
                photos: photos(),
                skipped: Vec::new(),
                offline: vec![serde_bytes::ByteBuf::from(b"/p/usb".to_vec())],
            },
            "the index",
        )
        .unwrap();
        write_old(&path, 2, &v2);
        let (mut index, converted) = Index::read_converting(&path).unwrap();
        assert_eq!(converted, Some(2));
        let data = &index.data;
        assert_eq!((data.generation, data.head_id.as_str(), data.joint_codec.as_str()), (9, "h", ""));
        assert_eq!(data.offline, vec![serde_bytes::ByteBuf::from(b"/p/usb".to_vec())]);
        // f16 features become bytes; the f32 joint vectors wait for the model's codec.
        assert_eq!(data.features_of(0).unwrap(), vec![0.5, 2.0]);
        assert_eq!(data.photos[1].legacy_joint(), vec![1.0, 0.0, 0.2]);
        index.save().unwrap();
        let (again, converted) = Index::read_converting(&path).unwrap();
        assert_eq!(converted, None);
        assert_eq!(again.data.features_of(1).unwrap(), vec![1.0, 0.0]);
        assert_eq!(again.data.photos[0].legacy_joint(), vec![0.6, 0.8, 0.05]);
        // Opened for search, the model's codec encodes them (offsets kept), without writing.
        let mut library = crate::index::Library::open(&path).unwrap();
        assert!(library.joint.is_none());
        let codec = crate::index::compact::Codec::plain(2);
        assert!(library.encode_converted(&codec));
        let joint = library.joint.as_ref().unwrap();
        assert_eq!((joint.len(), joint.offset(0), joint.offset(1)), (2, 0.05, 0.2));
        let a = codec.decode(joint.row(0));
        assert!((a[0] - 0.6).abs() < codec.scales[0] && (a[1] - 0.8).abs() < codec.scales[1], "{a:?}");
        assert_eq!(library.index.data.joint_codec, codec.id());
        assert_eq!(Index::read_converting(&path).unwrap().0.data.joint_codec, "", "nothing was written");
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

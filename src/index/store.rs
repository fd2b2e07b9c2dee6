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
//! What the file holds is [`IndexData`]; its cold part is read row by row through
//! [`ColdRows`]. Formats 1 and 2 (one payload, f16 features and f32 joint vectors per photo)
//! are converted as they are read ([`super::legacy`]).
//!
//! A file that does not start with the magic is not ours: it is refused and never touched.
//! An index of a newer format is refused; one of an older format is converted as it is read.
//! A file that is truncated or altered is refused with a reason; nothing is guessed from a
//! damaged file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cold::ColdRows;
use super::contents::{IndexData, PhotoEntry, Skipped};
use super::hash::ContentHash;
use super::legacy;
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
        let format = checked::container_format(&header, MAGIC)
            .map_err(|refusal| Error::index_damaged(path, refusal.to_string()))?;
        if format < OLDEST_FORMAT {
            return Err(Error::index_damaged(
                path,
                format!("it has format {format}, which no Glimpse wrote (this one reads {OLDEST_FORMAT} to {FORMAT})"),
            ));
        }
        if format < FORMAT {
            let mut bytes = header;
            file.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
            let data = legacy::parse(&bytes, format).map_err(|reason| Error::index_damaged(path, reason))?;
            return Ok((Index { path: path.to_path_buf(), data }, Some(format)));
        }
        let hot_len = u64::from_le_bytes(header[12..20].try_into().unwrap_or([0; 8]));
        let truncated = || Error::index_damaged(path, "the file is truncated");
        let cold_header_end = (checked::HEADER_LEN as u64).checked_add(hot_len).and_then(|n| n.checked_add(40));
        if cold_header_end.is_none_or(|end| end > len) {
            return Err(truncated());
        }
        let mut hot = vec![0u8; hot_len as usize];
        file.read_exact(&mut hot).map_err(|_| truncated())?;
        if blake3::hash(&hot).as_bytes() != &header[20..52] {
            return Err(Error::index_damaged(path, checked::Refusal::Checksum.to_string()));
        }
        let mut data = checked::decode_borrowed::<Hot>(&hot)
            .map(|h| h.into_data(joint))
            .map_err(|e| Error::index_damaged(path, format!("its contents cannot be read: {e}")))?;
        drop(hot);
        let mut cold_header = [0u8; 40];
        file.read_exact(&mut cold_header).map_err(|_| truncated())?;
        let cold_len = u64::from_le_bytes(cold_header[..8].try_into().unwrap_or([0; 8]));
        let start = checked::HEADER_LEN as u64 + hot_len + 40;
        let row_len = if data.photos.is_empty() { 0 } else { 8 + data.feature_dim };
        if start.checked_add(cold_len) != Some(len) || cold_len != (row_len * data.photos.len()) as u64 {
            return Err(Error::index_damaged(
                path,
                format!(
                    "the file is truncated or padded ({} bytes of features, header says {cold_len})",
                    len.saturating_sub(start)
                ),
            ));
        }
        let mut checksum = [0u8; 32];
        checksum.copy_from_slice(&cold_header[8..]);
        data.cold = Some(Arc::new(ColdRows::new(file, path, start, row_len, data.photos.len(), checksum)));
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
        let rows = self.data.photos.len();
        self.data.cold = Some(Arc::new(ColdRows::new(file, path, cold_start, row_len, rows, checksum).known_good()));
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
    use crate::index::bytes::{encode_compact, encode_features};

    use crate::index::contents::test_entry as entry;

    fn sample() -> IndexData {
        IndexData {
            model_id: "abc".into(),
            backbone: "tiny".into(),
            feature_dim: 2,
            joint_dim: 1,
            joint_codec: "compact-test".into(),
            photos: vec![
                entry(b"/p/\xffodd.jpg", encode_features(&[0.5, -1.25]), encode_compact(&[25], 0.1)),
                entry(b"/p/b.jpg", encode_features(&[2.0, 1.0]), encode_compact(&[-3], 0.0)),
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
}

//! What an index holds ([`IndexData`]): its settings, folders, photos ([`PhotoEntry`]) and
//! skipped files ([`Skipped`]), with a path → row cache that makes changing one entry O(1).
//! The file they are stored in is [`super::store`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::bytes::{bytes_path, decode_compact, decode_features};
use super::cold::ColdRows;
use super::hash::ContentHash;
use crate::{Error, Result};

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
    /// Backbone features as [`super::bytes::encode_features`] stores them; empty while they
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

    /// The compact codes and offset of a photo of an index with a joint codec, when it has
    /// `dim` codes.
    pub fn compact(&self, dim: usize) -> Option<(&[i8], f32)> {
        decode_compact(&self.joint, dim)
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
#[derive(Clone, Debug, Default)]
pub struct IndexData {
    /// sha256 of the backbone's graph, which made the features.
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
    /// Visible to the modules that build an `IndexData` from a file, never changed there.
    pub(super) rows: Rows,
    /// The cold part of the file this was read from, for features not in memory.
    pub cold: Option<Arc<ColdRows>>,
}

/// Positions of photos and skip records by path, so that changing one entry costs O(1)
/// instead of a scan of every entry (a first index of 100k photos was quadratic). It is a
/// cache: checked against the vectors on every use and rebuilt when they were changed
/// behind its back, so it can never point at the wrong entry.
#[derive(Clone, Debug, Default)]
pub(super) struct Rows {
    photos: HashMap<Vec<u8>, usize>,
    skipped: HashMap<Vec<u8>, usize>,
}

// Equal data, whatever the path → row cache holds (a cache of the data, not part of it).
// The destructuring names every field, so a new one cannot be left out unnoticed.
impl PartialEq for IndexData {
    fn eq(&self, other: &Self) -> bool {
        let IndexData {
            model_id,
            backbone,
            preprocess,
            feature_dim,
            head_id,
            joint_dim,
            joint_codec,
            generation,
            roots,
            excludes,
            photos,
            skipped,
            offline,
            rows: _,
            cold,
        } = self;
        *model_id == other.model_id
            && *backbone == other.backbone
            && *preprocess == other.preprocess
            && *feature_dim == other.feature_dim
            && *head_id == other.head_id
            && *joint_dim == other.joint_dim
            && *joint_codec == other.joint_codec
            && *generation == other.generation
            && *roots == other.roots
            && *excludes == other.excludes
            && *photos == other.photos
            && *skipped == other.skipped
            && *offline == other.offline
            && *cold == other.cold
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

/// A photo entry for the index's unit tests: the given path, features and joint codes, the
/// rest fixed.
#[cfg(test)]
pub(super) fn test_entry(path: &[u8], features: Vec<u8>, joint: Vec<u8>) -> PhotoEntry {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::bytes::encode_features;

    fn entry(name: &str) -> PhotoEntry {
        test_entry(name.as_bytes(), encode_features(&[0.5, -1.25]), Vec::new())
    }

    #[test]
    fn changing_one_entry_finds_it_by_path_even_after_the_photos_were_changed_directly() {
        let mut data = IndexData::default();
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

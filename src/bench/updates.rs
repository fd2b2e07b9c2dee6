//! `glimpse bench updates`: what keeping a large library up to date costs per photo:
//! changing one entry, writing and replaying the journal, and hashing whole files against
//! decoding them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::engine::Preprocess;
use crate::index::bytes::encode_features;
use crate::index::contents::{IndexData, PhotoEntry};
use crate::index::hash::content_hash;
use crate::index::journal::{self, Journal, JournalRecord};
use crate::{Error, Result};

/// One-entry updates and the journal at `photos` entries.
#[derive(Clone, Debug, Serialize)]
pub struct UpdateCost {
    /// Entries.
    pub photos: usize,
    /// Backbone features per entry (stored as f16).
    pub feature_dim: usize,
    /// Adding every entry one at a time, as indexing does, seconds.
    pub upsert_s: f64,
    /// Appending a journal record for every entry, seconds (no fsync).
    pub journal_write_s: f64,
    /// Reading the journal and applying every record to an empty index, seconds.
    pub journal_replay_s: f64,
    /// Size of that journal.
    pub journal_bytes: u64,
    /// The same adds at `baseline_photos` entries with a scan of every entry per add (how
    /// an add was found before the path map), seconds…
    pub baseline_scan_s: f64,
    /// …and with the path map, seconds, measured in the same run.
    pub baseline_map_s: f64,
    /// Entries in the baseline comparison.
    pub baseline_photos: usize,
    /// `baseline_scan_s / baseline_map_s`.
    pub speedup: f64,
}

/// Hashing whole photo files against decoding them (what every new photo costs anyway).
#[derive(Clone, Debug, Serialize)]
pub struct HashCost {
    /// Photos measured.
    pub photos: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Hashing every byte of each, seconds.
    pub hash_s: f64,
    /// Reading and decoding each for the backbone, seconds.
    pub decode_s: f64,
    /// `hash_s / decode_s`: the hash's share of what a new photo costs before inference.
    pub ratio: f64,
}

fn entry(i: usize, feature_dim: usize) -> PhotoEntry {
    let features: Vec<f32> = (0..feature_dim).map(|d| ((i * 31 + d * 7) % 97) as f32 / 97.0).collect();
    PhotoEntry {
        path: format!("/home/someone/Pictures/{:03}/IMG_{i:07}.jpg", i % 500).into_bytes(),
        size: 3_000_000 + i as u64,
        mtime_ns: 1_700_000_000_000_000_000 + i as i64,
        hash: {
            let mut h = [0u8; 16];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            h
        },
        width: 4000,
        height: 3000,
        taken: None,
        features: encode_features(&features),
        joint: Vec::new(),
        cold_row: None,
    }
}

/// Measures one-entry updates and the journal at `photos` entries of `feature_dim`, and
/// the adds with and without the path map at `baseline_photos`.
pub fn update_cost(photos: usize, feature_dim: usize, baseline_photos: usize, dir: &Path) -> Result<UpdateCost> {
    let entries: Vec<PhotoEntry> = (0..photos).map(|i| entry(i, feature_dim)).collect();
    let started = Instant::now();
    let mut data = IndexData::default();
    for e in &entries {
        data.upsert(e.clone());
    }
    let upsert_s = started.elapsed().as_secs_f64();

    let path = dir.join("bench.journal");
    let started = Instant::now();
    let mut journal = Journal::create(&path, 1)?;
    for e in &entries {
        journal.append(&JournalRecord::Upsert(e.clone()))?;
    }
    drop(journal);
    let journal_write_s = started.elapsed().as_secs_f64();
    let journal_bytes = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
    let started = Instant::now();
    let mut replayed = IndexData::default();
    journal::replay_onto(&path, 1, &mut replayed);
    let journal_replay_s = started.elapsed().as_secs_f64();
    if replayed.photos.len() != photos {
        return Err(Error::Invalid(format!("the journal replayed {} of {photos} entries", replayed.photos.len())));
    }

    let base: Vec<PhotoEntry> = entries.iter().take(baseline_photos).cloned().collect();
    let started = Instant::now();
    let mut scanned: Vec<PhotoEntry> = Vec::new();
    for e in &base {
        match scanned.iter().position(|p| p.path == e.path) {
            Some(i) => scanned[i] = e.clone(),
            None => scanned.push(e.clone()),
        }
    }
    let baseline_scan_s = started.elapsed().as_secs_f64();
    std::hint::black_box(&scanned);
    let started = Instant::now();
    let mut mapped = IndexData::default();
    for e in &base {
        mapped.upsert(e.clone());
    }
    let baseline_map_s = started.elapsed().as_secs_f64();
    Ok(UpdateCost {
        photos,
        feature_dim,
        upsert_s,
        journal_write_s,
        journal_replay_s,
        journal_bytes,
        baseline_scan_s,
        baseline_map_s,
        baseline_photos: base.len(),
        speedup: baseline_scan_s / baseline_map_s.max(1e-9),
    })
}

/// Measures hashing whole files against decoding them for `preprocess`, over `photos`.
pub fn hash_cost(photos: &[PathBuf], preprocess: &Preprocess) -> Result<HashCost> {
    let mut bytes = 0;
    let started = Instant::now();
    for p in photos {
        bytes += content_hash(p, u64::MAX)?.1;
    }
    let hash_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for p in photos {
        std::hint::black_box(preprocess.prepare_path(p)?);
    }
    let decode_s = started.elapsed().as_secs_f64();
    Ok(HashCost { photos: photos.len(), bytes, hash_s, decode_s, ratio: hash_s / decode_s.max(1e-9) })
}

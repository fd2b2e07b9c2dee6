//! `glimpse bench search`: query latency over synthetic libraries, and the cost of opening
//! a large index.

use std::time::Instant;

use serde::Serialize;

use crate::index::filter::Filter;
use crate::index::library::{Library, SearchOptions};
use crate::index::search::Matrix;
use crate::index::store::{Index, IndexData, PhotoEntry};
use crate::{Error, Result};

/// Latency of one library size.
#[derive(Clone, Debug, Serialize)]
pub struct SearchLatency {
    /// Vectors in the library.
    pub vectors: usize,
    /// Their dimension.
    pub dim: usize,
    /// Median query time, milliseconds (top-10).
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
}

/// What opening a large index costs.
#[derive(Clone, Debug, Serialize)]
pub struct OpenCost {
    /// Photos in the index.
    pub photos: usize,
    /// Index file size divided by photos.
    pub bytes_per_photo: f64,
    /// Reading, checking and decoding the file, and building the joint-space matrix (what
    /// a text search needs).
    pub open_s: f64,
    /// Then building the backbone-feature matrix (what the first search by photo needs).
    pub features_matrix_s: f64,
    /// Median top-10 text search (joint space) over the opened index, milliseconds.
    pub p50_ms: f64,
    /// The same with a folder and a date-range filter (half the photos pass), milliseconds.
    pub p50_filtered_ms: f64,
    /// `p50_filtered_ms / p50_ms`, measured in the same run.
    pub filtered_ratio: f64,
}

/// A deterministic pseudo-random stream (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
}

/// Measures top-10 query latency over `vectors` random unit vectors of `dim`.
pub fn latency(vectors: usize, dim: usize, queries: usize) -> SearchLatency {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ vectors as u64);
    let mut matrix = Matrix::new(dim);
    let mut row = vec![0.0f32; dim];
    for _ in 0..vectors {
        row.iter_mut().for_each(|v| *v = rng.next_f32());
        // Rows carry a hubness offset, as with the shipped (calibrated) model.
        let offset = rng.next_f32() * 0.1;
        matrix.push_with_offset(&row, offset);
    }
    let mut times: Vec<f64> = (0..queries.max(1))
        .map(|_| {
            row.iter_mut().for_each(|v| *v = rng.next_f32());
            let started = Instant::now();
            let hits = matrix.top_k(&row, 10, |_| true);
            std::hint::black_box(hits);
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    SearchLatency { vectors, dim, p50_ms: pick(0.5), p99_ms: pick(0.99) }
}

/// Writes an index of `photos` synthetic entries with `dim`-long features and
/// `joint_dim`-long joint vectors (each followed by an offset) into `dir`, then times
/// opening it for search.
pub fn open_cost(photos: usize, dim: usize, joint_dim: usize, dir: &std::path::Path) -> Result<OpenCost> {
    let path = dir.join("bench.glimpse");
    let mut rng = Rng(7);
    let mut data = IndexData::default();
    data.model_id = "bench".into();
    data.backbone = "bench".into();
    data.feature_dim = dim;
    data.head_id = "bench".into();
    data.joint_dim = joint_dim;
    data.photos = (0..photos)
        .map(|i| {
            let features: Vec<f32> = (0..dim).map(|_| rng.next_f32()).collect();
            // The vector and the hubness offset a calibrated model (the shipped one) stores after it.
            let joint: Vec<f32> = (0..=joint_dim).map(|_| rng.next_f32()).collect();
            PhotoEntry {
                path: format!("/home/someone/Pictures/2024/holiday-{:03}/IMG_{i:06}.jpg", i % 500).into_bytes(),
                size: 3_000_000 + i as u64,
                mtime_ns: 1_700_000_000_000_000_000 + i as i64,
                hash: *blake3::hash(&i.to_le_bytes()).as_bytes().first_chunk().unwrap_or(&[0; 16]),
                width: 4000,
                height: 3000,
                taken: Some(1_700_000_000 + i as i64),
                features: PhotoEntry::encode_features(&features),
                joint: PhotoEntry::encode_joint(&joint),
            }
        })
        .collect();
    let mut index = Index { path: path.clone(), data };
    index.save()?;
    let bytes = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
    // Read once so the timed open sees a warm page cache, as a desktop app does.
    let _ = std::fs::read(&path);
    let started = Instant::now();
    let library = Library::open(&path)?;
    let open_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    std::hint::black_box(library.features().len());
    let features_matrix_s = started.elapsed().as_secs_f64();
    let joint = library.joint.as_ref().ok_or_else(|| Error::Invalid("the bench index has no joint vectors".into()))?;
    let plain = SearchOptions::default();
    // Every photo is under the folder (so each one is checked); half fall in the date range.
    let filtered = SearchOptions {
        filter: Filter {
            folder: Some("/home/someone/Pictures/2024".into()),
            after: Some(1_700_000_000 + photos as i64 / 4),
            before: Some(1_700_000_000 + 3 * photos as i64 / 4),
            types: Vec::new(),
        },
        ..SearchOptions::default()
    };
    // Interleaved, so both see the same machine state.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut q = vec![0.0f32; joint_dim];
    for _ in 0..40 {
        q.iter_mut().for_each(|v| *v = rng.next_f32());
        for (options, times) in [(&plain, &mut a), (&filtered, &mut b)] {
            let started = Instant::now();
            std::hint::black_box(library.search_in(joint, &q, options));
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let median = |t: &mut Vec<f64>| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let (p50_ms, p50_filtered_ms) = (median(&mut a), median(&mut b));
    Ok(OpenCost {
        photos,
        bytes_per_photo: bytes as f64 / photos as f64,
        open_s,
        features_matrix_s,
        p50_ms,
        p50_filtered_ms,
        filtered_ratio: p50_filtered_ms / p50_ms,
    })
}

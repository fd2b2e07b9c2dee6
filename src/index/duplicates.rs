//! Near-duplicate photos (burst shots, resized copies, re-encodes, slight crops): groups of
//! photos whose backbone features (not the joint space, which keeps only what captions
//! say) are nearly parallel.
//!
//! All pairs at 100k photos would be 5·10⁹ dot products, so candidates come from
//! random-hyperplane hashing (SimHash): each of [`TABLES`] tables cuts the feature space with
//! [`BITS`] random hyperplanes, and photos that land on the same side of all of them share a
//! bucket. A pair at cosine 0.95 shares a bucket in at least one table with probability
//! ≈ 0.98, a pair at 0.9 ≈ 0.82; every candidate is then checked exactly, and pairs above the
//! threshold are joined into groups (union–find).

use std::collections::HashMap;

use rayon::prelude::*;

use super::filter::{DateSource, date_of};
use super::library::Library;
use super::search::{Matrix, dot};
use super::thumbs::ThumbCache;
use crate::Result;

/// Cosine above which two photos count as the same picture, chosen by measurement
/// (`glimpse bench duplicates`) on the default backbone's features: copies of the 120 sample
/// photos resized to 40 %, re-encoded at JPEG quality 60 or cropped by 5 % score at least
/// 0.781, 0.910 and 0.885 with their originals (int8 backbone; 0.771, 0.905, 0.888 with
/// fp32), while the closest two distinct sample photos score 0.713; 0.75 sits between.
pub const DEFAULT_THRESHOLD: f32 = 0.75;
/// Hyperplanes per table.
pub const BITS: usize = 10;
/// Hash tables. A pair at cosine c lands in one table's bucket with probability
/// (1 − acos(c)/π)^BITS; missing it in every table: 0.1 % at 0.885 (the lowest 5 % crop of
/// the sample photos) and 3 % at 0.80 with 32 tables, against 1.6 % and 12 % with 20.
pub const TABLES: usize = 32;
/// Buckets larger than this are compared within a sliding window of their members instead of
/// all pairs (keeps a library of near-identical frames from going quadratic).
const BUCKET_ALL_PAIRS: usize = 32;

/// A deterministic ±1 stream (SplitMix64): random hyperplanes that are the same every run.
struct Signs(u64);

impl Signs {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A hyperplane normal of ±1 entries.
    fn plane(&mut self, dim: usize) -> Vec<f32> {
        let mut v = Vec::with_capacity(dim);
        while v.len() < dim {
            let bits = self.next();
            for b in 0..64.min(dim - v.len()) {
                v.push(if bits >> b & 1 == 1 { 1.0 } else { -1.0 });
            }
        }
        v
    }
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

/// Groups of rows of `features` (unit rows) whose cosine with another member is at least
/// `threshold`; each group sorted, groups ordered by their first row. Rows in no group are
/// left out.
pub fn groups(features: &Matrix, threshold: f32) -> Vec<Vec<usize>> {
    let (n, dim) = (features.len(), features.dim());
    if n < 2 || dim == 0 {
        return Vec::new();
    }
    let mut signs = Signs(0x6C69_6D70_7365);
    // Per table: BITS hyperplanes for the bucket, and one more direction whose projection
    // orders a bucket's members so that near-copies sit close together in it.
    let planes: Vec<Vec<f32>> = (0..(BITS + 1) * TABLES).map(|_| signs.plane(dim)).collect();
    let signatures: Vec<[(u16, f32); TABLES]> = (0..n)
        .into_par_iter()
        .map(|i| {
            let row = features.row(i);
            let mut sig = [(0u16, 0.0f32); TABLES];
            for (t, (bucket, key)) in sig.iter_mut().enumerate() {
                let base = t * (BITS + 1);
                for b in 0..BITS {
                    if dot(row, &planes[base + b]) > 0.0 {
                        *bucket |= 1 << b;
                    }
                }
                *key = dot(row, &planes[base + BITS]);
            }
            sig
        })
        .collect();
    let pairs: Vec<(usize, usize)> = (0..TABLES)
        .into_par_iter()
        .flat_map_iter(|t| {
            let mut buckets: HashMap<u16, Vec<usize>> = HashMap::new();
            for (i, sig) in signatures.iter().enumerate() {
                buckets.entry(sig[t].0).or_default().push(i);
            }
            let mut found = Vec::new();
            for members in buckets.values_mut().filter(|m| m.len() > 1) {
                members.sort_by(|&a, &b| signatures[a][t].1.total_cmp(&signatures[b][t].1));
                let window = if members.len() <= BUCKET_ALL_PAIRS { members.len() } else { BUCKET_ALL_PAIRS };
                for (a, &i) in members.iter().enumerate() {
                    for &j in members.iter().skip(a + 1).take(window - 1) {
                        if dot(features.row(i), features.row(j)) >= threshold {
                            found.push((i, j));
                        }
                    }
                }
            }
            found
        })
        .collect();
    let mut parent: Vec<usize> = (0..n).collect();
    for (i, j) in pairs {
        let (a, b) = (find(&mut parent, i), find(&mut parent, j));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut by_root: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..n {
        let root = find(&mut parent, i);
        by_root.entry(root).or_default().push(i);
    }
    let mut out: Vec<Vec<usize>> = by_root.into_values().filter(|g| g.len() > 1).collect();
    out.iter_mut().for_each(|g| g.sort_unstable());
    out.sort_unstable_by_key(|g| g[0]);
    out
}

/// One photo of a duplicate group, with what a person compares copies by.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DuplicatePhoto {
    /// The file.
    pub path: std::path::PathBuf,
    /// File size in bytes.
    pub bytes: u64,
    /// Size in pixels.
    pub width: u32,
    /// Size in pixels.
    pub height: u32,
    /// Seconds since the epoch.
    pub date: i64,
    /// Where the date comes from.
    pub date_source: DateSource,
    /// Its cached thumbnail, when there is one.
    #[serde(skip)]
    pub thumbnail: Option<std::path::PathBuf>,
}

/// The library's near-duplicate groups by backbone features, largest file first in each
/// group (usually the original), groups in index order.
pub fn library_groups(library: &Library, threshold: f32) -> Result<Vec<Vec<DuplicatePhoto>>> {
    let data = &library.index.data;
    let thumbs = ThumbCache::for_index(&library.index.path);
    Ok(groups(library.features()?, threshold)
        .into_iter()
        .map(|group| {
            let mut photos: Vec<DuplicatePhoto> = group
                .into_iter()
                .map(|i| {
                    let e = &data.photos[i];
                    let (date, date_source) = date_of(e);
                    // Missing or broken thumbnails are remade from the photo when drawn.
                    let thumbnail = Some(thumbs.path(&e.hash));
                    DuplicatePhoto {
                        path: e.path(),
                        bytes: e.size,
                        width: e.width,
                        height: e.height,
                        date,
                        date_source,
                        thumbnail,
                    }
                })
                .collect();
            photos.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
            photos
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::search::normalize;

    fn unit(mut v: Vec<f32>) -> Vec<f32> {
        normalize(&mut v);
        v
    }

    /// A pseudo-random unit vector.
    fn random(signs: &mut Signs, dim: usize) -> Vec<f32> {
        unit((0..dim).map(|_| (signs.next() % 2001) as f32 / 1000.0 - 1.0).collect())
    }

    #[test]
    fn near_copies_group_together_and_distinct_vectors_stay_alone() {
        let dim = 256;
        let mut signs = Signs(7);
        let mut m = Matrix::new(dim);
        let originals: Vec<Vec<f32>> = (0..200).map(|_| random(&mut signs, dim)).collect();
        for v in &originals {
            m.push(v);
        }
        // Rows 200.. are copies of rows 0, 1, 2 nudged to cosine ≈ 0.97.
        for original in &originals[..3] {
            let noise = random(&mut signs, dim);
            let copy: Vec<f32> = original.iter().zip(&noise).map(|(a, b)| a + 0.25 * b).collect();
            m.push(&unit(copy));
        }
        let found = groups(&m, 0.9);
        assert_eq!(found, vec![vec![0, 200], vec![1, 201], vec![2, 202]]);
    }

    #[test]
    fn a_chain_of_near_copies_is_one_group() {
        let mut m = Matrix::new(2);
        for angle in [0.0f32, 0.3, 0.6, 2.0] {
            m.push(&[angle.cos(), angle.sin()]);
        }
        // cos 0.3 = 0.955: 0–1 and 1–2 pair up, 0–2 (cos 0.6 = 0.83) joins through 1.
        assert_eq!(groups(&m, 0.95), vec![vec![0, 1, 2]]);
    }
}

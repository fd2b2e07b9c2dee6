//! Near-duplicate detection measured: how close copies of real photos stay to their
//! originals in backbone-feature space (and how close distinct photos get), which sets the
//! default threshold; and how long grouping takes at library scale.

use std::path::{Path, PathBuf};
use std::time::Instant;

use image::imageops::FilterType;
use serde::Serialize;

use crate::engine::Backbone;
use crate::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use crate::index::duplicates::groups;
use crate::index::search::{Matrix, dot, normalize};
use crate::{Error, Result};

/// The kinds of copy a library collects.
pub const COPY_KINDS: [&str; 3] = ["resized to 40 %", "re-encoded at JPEG quality 60", "cropped by 5 % on each side"];

/// Writes one copy of each kind of `photo` into `out`; returns their paths in
/// [`COPY_KINDS`] order.
pub fn make_copies(photo: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let img = image::open(photo).map_err(|e| Error::photo(photo, e.to_string()))?.to_rgb8();
    let stem = photo.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let (w, h) = img.dimensions();
    let resized = image::imageops::resize(&img, (w * 2 / 5).max(1), (h * 2 / 5).max(1), FilterType::Triangle);
    let (cx, cy) = (w / 20, h / 20);
    let cropped = image::imageops::crop_imm(&img, cx, cy, w - 2 * cx, h - 2 * cy).to_image();
    let paths = [
        out.join(format!("{stem}-small.png")),
        out.join(format!("{stem}-q60.jpg")),
        out.join(format!("{stem}-crop.png")),
    ];
    let save = |p: &Path, r: image::ImageResult<()>| r.map_err(|e| Error::photo(p, e.to_string()));
    save(&paths[0], resized.save(&paths[0]))?;
    let file = std::fs::File::create(&paths[1]).map_err(|e| Error::io(&paths[1], e))?;
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 60);
    save(&paths[1], img.write_with_encoder(encoder))?;
    save(&paths[2], cropped.save(&paths[2]))?;
    Ok(paths.to_vec())
}

/// Unit backbone features of `photos`, in order.
pub fn unit_features(backbone: &Backbone, photos: &[PathBuf]) -> Result<Vec<Vec<f32>>> {
    let job = pipeline::embed(backbone, photos.to_vec(), EmbedOptions::default(), None)?;
    let mut out = vec![Vec::new(); photos.len()];
    for event in job.events().iter() {
        match event {
            EmbedEvent::Embedded(mut e) => {
                normalize(&mut e.features);
                out[e.index] = e.features;
            }
            EmbedEvent::Failed { error, .. } => return Err(error),
        }
    }
    job.wait()??;
    Ok(out)
}

/// Cosines of copies with their originals, and between distinct originals.
#[derive(Clone, Debug, Serialize)]
pub struct CopyCosines {
    /// Photos copied.
    pub originals: usize,
    /// Lowest cosine of a copy with its original, per kind of copy ([`COPY_KINDS`] order).
    pub lowest_per_kind: Vec<f32>,
    /// Highest cosine between two distinct originals.
    pub highest_distinct: f32,
}

/// Copies each of `photos` three ways into `work`, embeds all, and measures.
pub fn copy_cosines(backbone: &Backbone, photos: &[PathBuf], work: &Path) -> Result<CopyCosines> {
    let mut copies = Vec::new();
    for p in photos {
        copies.extend(make_copies(p, work)?);
    }
    let originals = unit_features(backbone, photos)?;
    let copied = unit_features(backbone, &copies)?;
    let mut lowest = vec![1.0f32; COPY_KINDS.len()];
    for (c, v) in copied.iter().enumerate() {
        let (orig, kind) = (c / COPY_KINDS.len(), c % COPY_KINDS.len());
        lowest[kind] = lowest[kind].min(dot(v, &originals[orig]));
    }
    let mut highest = f32::MIN;
    for i in 0..originals.len() {
        for j in i + 1..originals.len() {
            highest = highest.max(dot(&originals[i], &originals[j]));
        }
    }
    Ok(CopyCosines { originals: photos.len(), lowest_per_kind: lowest, highest_distinct: highest })
}

/// Grouping time and recall at library scale.
#[derive(Clone, Debug, Serialize)]
pub struct GroupingSpeed {
    /// Vectors grouped.
    pub photos: usize,
    /// Their dimension.
    pub dim: usize,
    /// Seconds to group them.
    pub seconds: f64,
    /// Planted near-copy pairs (cosine ≈ 0.85).
    pub planted: usize,
    /// Of those, how many were grouped together.
    pub found: usize,
    /// Groups in all.
    pub groups: usize,
}

/// Groups `n` random unit vectors of `dim` among which `planted` pairs are near-copies.
pub fn grouping_speed(n: usize, dim: usize, planted: usize, threshold: f32) -> GroupingSpeed {
    let mut state = 0x1234_5678_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 20_001) as f32 / 10_000.0 - 1.0
    };
    let mut m = Matrix::new(dim);
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(planted);
    for i in 0..n - planted {
        let mut v: Vec<f32> = (0..dim).map(|_| next()).collect();
        normalize(&mut v);
        if i < planted {
            rows.push(v.clone());
        }
        m.push(&v);
    }
    for row in &rows {
        // Orthogonal-ish noise of 0.62 of the length: cosine 1/√(1 + 0.62²) ≈ 0.85.
        let mut noise: Vec<f32> = (0..dim).map(|_| next()).collect();
        normalize(&mut noise);
        let mut v: Vec<f32> = row.iter().zip(&noise).map(|(a, b)| a + 0.62 * b).collect();
        normalize(&mut v);
        m.push(&v);
    }
    let start = Instant::now();
    let found_groups = groups(&m, threshold);
    let seconds = start.elapsed().as_secs_f64();
    let base = n - planted;
    let found =
        (0..planted).filter(|&i| found_groups.iter().any(|g| g.contains(&i) && g.contains(&(base + i)))).count();
    GroupingSpeed { photos: n, dim, seconds, planted, found, groups: found_groups.len() }
}

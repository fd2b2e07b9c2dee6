//! `glimpse bench embed`: the backbone's raw rate on ready-made tensors against the
//! end-to-end rate (read, decode, resize, infer) on real photos, in one run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array4;
use serde::Serialize;

use crate::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use crate::engine::{Backbone, preprocess};
use crate::{Error, Result};

/// What one benchmark run measured.
#[derive(Clone, Debug, Serialize)]
pub struct EmbedBench {
    /// Backbone name.
    pub backbone: String,
    /// Execution provider.
    pub provider: String,
    /// Photos per backbone call.
    pub batch_size: usize,
    /// Distinct photo files used.
    pub photos: usize,
    /// Photo embeddings per measured pass (photos × repeats).
    pub images_per_pass: usize,
    /// Photos that failed to decode.
    pub failed: usize,
    /// Backbone alone, on pre-made tensors (best of the passes).
    pub raw_images_per_s: f64,
    /// Read, decode, resize and infer (best of the passes).
    pub end_to_end_images_per_s: f64,
    /// end_to_end / raw.
    pub ratio: f64,
    /// Read, decode and resize alone on one thread, for diagnosis.
    pub decode_one_thread_images_per_s: f64,
}

/// Measures the raw and end-to-end rates on `photos`, each pass embedding every photo
/// `repeats` times; each rate is the best of `passes` passes, raw and end-to-end
/// alternating so that both see the same machine state.
pub fn run(
    backbone: &Backbone,
    photos: &[PathBuf],
    options: &EmbedOptions,
    repeats: usize,
    passes: usize,
) -> Result<EmbedBench> {
    if photos.is_empty() {
        return Err(Error::Invalid("no photos to benchmark".into()));
    }
    let side = backbone.preprocess().size as usize;
    let batch = options.batch_size.max(1);
    let total = photos.len() * repeats.max(1);
    let work: Vec<PathBuf> = photos.iter().cycle().take(total).cloned().collect();
    // Deterministic, photo-like values; their content does not change the backbone's cost.
    let tensor = Array4::<f32>::from_shape_fn((batch, 3, side, side), |(n, c, y, x)| {
        (((n * 7 + c * 13 + y * 3 + x) % 255) as f32 - 127.0) / 128.0
    });
    // Warm-up: the first call allocates and plans.
    backbone.run(tensor.view(), false)?;

    let mut best_raw = 0.0f64;
    let mut best_e2e = 0.0f64;
    let mut failed = 0;
    for _ in 0..passes.max(1) {
        let started = Instant::now();
        let mut done = 0;
        while done < total {
            let n = batch.min(total - done);
            backbone.run(tensor.slice(ndarray::s![0..n, .., .., ..]), false)?;
            done += n;
        }
        best_raw = best_raw.max(total as f64 / started.elapsed().as_secs_f64());

        let started = Instant::now();
        let job = pipeline::embed(backbone, work.clone(), options.clone(), None)?;
        failed = job.events().iter().filter(|e| matches!(e, EmbedEvent::Failed { .. })).count();
        job.wait()??;
        best_e2e = best_e2e.max(total as f64 / started.elapsed().as_secs_f64());
    }
    let mut pre = backbone.preprocess();
    pre.reduced_jpeg = options.reduced_jpeg;
    let started = Instant::now();
    for photo in photos {
        let _ = pre.prepare_path(photo);
    }
    let decode_one_thread_images_per_s = photos.len() as f64 / started.elapsed().as_secs_f64();
    Ok(EmbedBench {
        backbone: backbone.model().manifest.name.clone(),
        provider: backbone.provider().to_string(),
        batch_size: batch,
        photos: photos.len(),
        images_per_pass: total,
        failed,
        raw_images_per_s: best_raw,
        end_to_end_images_per_s: best_e2e,
        ratio: best_e2e / best_raw,
        decode_one_thread_images_per_s,
    })
}

/// Writes `count` large JPEGs (`width × height`, quality 90) made by enlarging `sources`,
/// for measuring what big camera photos cost.
pub fn make_large_photos(
    sources: &[PathBuf],
    count: usize,
    width: u32,
    height: u32,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    for (i, source) in sources.iter().cycle().take(count).enumerate() {
        let img = image::open(source).map_err(|e| Error::photo(source, e.to_string()))?.into_rgb8();
        let big = preprocess::resize_exact(&img, width, height).map_err(|e| Error::photo(source, e))?;
        let path = dir.join(format!("large-{i:03}.jpg"));
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut writer = std::io::BufWriter::new(file);
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut writer, 90)
            .encode_image(&big)
            .map_err(|e| Error::photo(&path, e.to_string()))?;
        made.push(path);
    }
    Ok(made)
}

/// The photos (by extension) directly inside `dir`, sorted.
pub fn photos_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut photos: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| preprocess::has_photo_extension(p)).collect();
    photos.sort();
    Ok(photos)
}

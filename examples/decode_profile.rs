//! Times each preprocessing step on a folder of photos (a diagnosis aid for `bench embed`).
#![allow(clippy::print_stdout, clippy::unwrap_used, missing_docs)]
use std::time::Instant;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "../shared/photos".into());
    let photos = glimpse::bench::embed::photos_in(std::path::Path::new(&dir)).unwrap();
    let bytes: Vec<Vec<u8>> = photos.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let pre = glimpse::engine::Preprocess {
        size: 224,
        mean: [127.0; 3],
        std: [128.0; 3],
        max_pixels: 200_000_000,
        max_file_bytes: glimpse::files::DEFAULT_MAX_FILE_BYTES,
        thumbnail: None,
        reduced_jpeg: true,
    };
    let t = Instant::now();
    for b in &bytes {
        let _ = image::load_from_memory(b).unwrap().into_rgb8();
    }
    let decode = t.elapsed().as_secs_f64() / bytes.len() as f64 * 1000.0;
    let imgs: Vec<image::RgbImage> = bytes.iter().map(|b| image::load_from_memory(b).unwrap().into_rgb8()).collect();
    let t = Instant::now();
    for i in &imgs {
        let _ = glimpse::engine::preprocess::squash(i, 224).unwrap();
    }
    let resize = t.elapsed().as_secs_f64() / bytes.len() as f64 * 1000.0;
    let sq = glimpse::engine::preprocess::squash(&imgs[0], 224).unwrap();
    let t = Instant::now();
    for _ in &imgs {
        let _ = pre.normalize(&sq);
    }
    let norm = t.elapsed().as_secs_f64() / bytes.len() as f64 * 1000.0;
    let t = Instant::now();
    for b in &bytes {
        let _ = pre.prepare_bytes(b).unwrap();
    }
    let all = t.elapsed().as_secs_f64() / bytes.len() as f64 * 1000.0;
    println!(
        "per photo: decode {decode:.2} ms, resize {resize:.2} ms, normalise {norm:.2} ms, prepare_bytes {all:.2} ms"
    );
}

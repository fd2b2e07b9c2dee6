//! Helpers shared by the integration tests: fixtures generated at test time.

use std::path::{Path, PathBuf};

use glimpse::engine::manifest::sha256_file;
use glimpse::onnx::graph::Attr;
use glimpse::onnx::{Dim, GraphBuilder};

/// The shared data folder beside the checkout, when present.
pub fn shared() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    dir.join("photos").is_dir().then_some(dir)
}

/// Skips the calling test with a message when `../shared` is absent; under CI (`CI` set),
/// where `../shared` is always laid out, its absence fails the test instead of passing it
/// silently.
#[macro_export]
macro_rules! need_shared {
    () => {
        match $crate::util::shared() {
            Some(dir) => dir,
            None if std::env::var_os("CI").is_some() => panic!("../shared/photos is missing, and CI always has it"),
            None => {
                eprintln!("skipped: ../shared/photos is not here");
                return;
            }
        }
    };
}

/// The shape of a generated backbone.
pub struct TinySpec {
    pub size: u32,
    pub dim: usize,
    pub classes: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub input_name: &'static str,
}

impl Default for TinySpec {
    fn default() -> Self {
        TinySpec { size: 8, dim: 4, classes: 3, mean: [127.0; 3], std: [128.0; 3], input_name: "input" }
    }
}

/// The feature projection of tiny backbones: feature j = sum_c pooled[c] * w[c][j].
pub fn tiny_weights(dim: usize) -> Vec<f32> {
    (0..3 * dim).map(|i| ((i % 7) as f32 - 3.0) * 0.25).collect()
}

/// Writes a backbone folder: a graph that averages each channel over the image and
/// projects the three means to `dim` features, then to `classes` logits; its manifest;
/// its labels. Returns the folder.
pub fn write_tiny_backbone(dir: &Path, name: &str, spec: &TinySpec) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let s = i64::from(spec.size);
    let dim = spec.dim as i64;
    let classes = spec.classes as i64;
    let mut g = GraphBuilder::new(name);
    g.input_f32(spec.input_name, &[Dim::Named("N"), Dim::Fixed(3), Dim::Fixed(s), Dim::Fixed(s)])
        .output_f32("features", &[Dim::Named("N"), Dim::Fixed(dim)])
        .output_f32("logits", &[Dim::Named("N"), Dim::Fixed(classes)])
        .initializer_f32("w", &[3, dim], &tiny_weights(spec.dim))
        .initializer_f32("w2", &[dim, classes], &(0..dim * classes).map(|i| i as f32 * 0.1).collect::<Vec<_>>())
        .node("GlobalAveragePool", &[spec.input_name], &["pooled"], &[])
        .node("Flatten", &["pooled"], &["flat"], &[("axis", Attr::Int(1))])
        .node("MatMul", &["flat", "w"], &["features"], &[])
        .node("MatMul", &["features", "w2"], &["logits"], &[]);
    let graph = folder.join("model.onnx");
    std::fs::write(&graph, g.to_bytes()).unwrap();
    let labels: Vec<String> = (0..spec.classes).map(|i| format!("class{i}")).collect();
    std::fs::write(folder.join("labels.txt"), labels.join("\n")).unwrap();
    let manifest = format!(
        r#"format = 1
name = "{name}"
description = "generated test backbone"
source = "tests/util.rs"
license = "MIT"
graph = "model.onnx"
sha256 = "{sha}"

[input]
name = "input"
size = {size}
resize = "squash"

[normalize]
mean = {mean:?}
std = {std:?}

[features]
output = "features"
dim = {dim}

[logits]
output = "logits"
labels = "labels.txt"
"#,
        sha = sha256_file(&graph).unwrap(),
        size = spec.size,
        mean = spec.mean,
        std = spec.std,
        dim = spec.dim,
    );
    std::fs::write(folder.join("manifest.toml"), manifest).unwrap();
    folder
}

/// Writes a solid-colour PNG.
pub fn solid_png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
    image::RgbImage::from_pixel(w, h, image::Rgb(rgb)).save(path).unwrap();
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

/// A JPEG whose EXIF says to display it with the given orientation (1–8).
pub fn jpeg_with_orientation(img: &image::RgbImage, orientation: u16) -> Vec<u8> {
    jpeg_with_exif(img, orientation, None)
}

/// A JPEG with an EXIF orientation (1–8) and, when given, a DateTimeOriginal
/// ("YYYY:MM:DD HH:MM:SS").
pub fn jpeg_with_exif(img: &image::RgbImage, orientation: u16, taken: Option<&str>) -> Vec<u8> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(img).unwrap();
    // APP1 "Exif": a big-endian TIFF header and IFD0 with Orientation (SHORT) and, for a
    // date, a pointer (0x8769) to an Exif IFD holding DateTimeOriginal (0x9003, ASCII 20).
    let entries: u16 = if taken.is_some() { 2 } else { 1 };
    let mut tiff = vec![b'M', b'M', 0, 42, 0, 0, 0, 8];
    tiff.extend_from_slice(&entries.to_be_bytes());
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    if let Some(taken) = taken {
        let exif_ifd = 8 + 2 + 12 * u32::from(entries) + 4;
        tiff.extend_from_slice(&[0x87, 0x69, 0, 4, 0, 0, 0, 1]);
        tiff.extend_from_slice(&exif_ifd.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        let date_at = exif_ifd + 2 + 12 + 4;
        tiff.extend_from_slice(&[0, 1, 0x90, 0x03, 0, 2, 0, 0, 0, 20]);
        tiff.extend_from_slice(&date_at.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(taken.len(), 19, "YYYY:MM:DD HH:MM:SS");
        tiff.extend_from_slice(taken.as_bytes());
        tiff.push(0);
    } else {
        tiff.extend_from_slice(&[0, 0, 0, 0]);
    }
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    segment.extend_from_slice(b"Exif\0\0");
    segment.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&segment);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The colours of the tiny Flickr8k, with their names.
pub const COLOURS: [(&str, [u8; 3]); 8] = [
    ("red", [220, 30, 30]),
    ("green", [30, 200, 40]),
    ("blue", [30, 40, 220]),
    ("yellow", [230, 220, 30]),
    ("white", [245, 245, 245]),
    ("black", [10, 10, 10]),
    ("purple", [140, 30, 160]),
    ("cyan", [30, 220, 220]),
];

/// An official-layout Flickr8k: per colour a train photo `<c>_0.jpg` and a dev photo
/// `<c>_1.jpg` (a slightly different shade), five captions each.
pub fn tiny_flickr8k(dir: &Path) -> PathBuf {
    let root = dir.join("flickr8k");
    let photos = root.join("Flicker8k_Dataset");
    let text = root.join("Flickr8k_text");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::create_dir_all(&text).unwrap();
    let (mut tokens, mut train, mut dev) = (String::new(), String::new(), String::new());
    for (name, rgb) in COLOURS {
        for i in 0..2u8 {
            let file = format!("{name}_{i}.jpg");
            let shade = rgb.map(|c| c.saturating_add(i * 8));
            image::RgbImage::from_pixel(24, 16, image::Rgb(shade)).save(photos.join(&file)).unwrap();
            let captions = [
                format!("A {name} square ."),
                format!("a plain {name} picture"),
                format!("The colour is {name}"),
                format!("something {name}"),
                format!("{name} , all {name} !"),
            ];
            for (k, c) in captions.iter().enumerate() {
                tokens.push_str(&format!("{file}#{k}\t{c}\n"));
            }
            if i == 0 { &mut train } else { &mut dev }.push_str(&format!("{file}\n"));
        }
    }
    std::fs::write(text.join("Flickr8k.token.txt"), tokens).unwrap();
    std::fs::write(text.join("Flickr_8k.trainImages.txt"), train).unwrap();
    std::fs::write(text.join("Flickr_8k.devImages.txt"), dev).unwrap();
    root
}

/// A GloVe file with 8-d vectors for the colour words and a few others; "cyan" is left out.
pub fn tiny_glove(dir: &Path) -> PathBuf {
    let mut text = String::new();
    let words = ["red", "green", "blue", "yellow", "white", "black", "purple", "square", "plain", "picture", "the"];
    for (w, word) in words.iter().enumerate() {
        let v: Vec<String> = (0..8).map(|d| format!("{:.3}", ((w * 7 + d * 3) % 11) as f32 / 10.0 - 0.5)).collect();
        text.push_str(&format!("{word} {}\n", v.join(" ")));
    }
    let path = dir.join("glove.8d.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// Copies the first `n` photos of `shared/photos` into `to` (created); returns the copies.
pub fn copy_photos(shared: &Path, to: &Path, n: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(to).unwrap();
    let mut photos = glimpse::bench::embed::photos_in(&shared.join("photos")).unwrap();
    photos.truncate(n);
    photos
        .iter()
        .map(|p| {
            let dest = to.join(p.file_name().unwrap());
            std::fs::copy(p, &dest).unwrap();
            dest
        })
        .collect()
}

/// Longest a test waits for a background job: a job still going after this fails the test
/// instead of hanging the suite.
pub const JOB_PATIENCE: std::time::Duration = std::time::Duration::from_secs(180);

/// Every event of a job until it ends, within [`JOB_PATIENCE`].
pub fn drain<E: std::fmt::Debug>(events: &crossbeam_channel::Receiver<E>) -> Vec<E> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + JOB_PATIENCE;
    loop {
        match events.recv_timeout(std::time::Duration::from_millis(50)) {
            Ok(e) => seen.push(e),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return seen,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                assert!(std::time::Instant::now() < deadline, "the job did not end in time: {seen:?}")
            }
        }
    }
}

/// The next event of a job, within [`JOB_PATIENCE`].
pub fn next<E>(events: &crossbeam_channel::Receiver<E>) -> E {
    events.recv_timeout(JOB_PATIENCE).expect("the job sent nothing in time")
}

/// Encodes `source` (a JPEG or PNG file) as HEIC, or AVIF when `out` ends in `.avif`, with
/// libheif's `heif-enc` (Debian's libheif-examples, which scripts/setup.sh --test installs),
/// passing `args` before the input; EXIF orientation becomes the file's `irot`/`imir`.
pub fn heif_enc(source: &Path, out: &Path, args: &[&str]) {
    let status = std::process::Command::new("heif-enc")
        .args(args)
        .arg("-o")
        .arg(out)
        .arg(source)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("heif-enc (package libheif-examples) runs");
    assert!(status.success(), "heif-enc {source:?} failed");
}

/// A minimal DNG file (see [`glimpse::bench::formats::dng`]).
pub use glimpse::bench::formats::dng;

/// The shared photos among `names` that at least four of their five Flickr8k captions call a dog.
pub fn dog_photos(shared: &Path, names: &[PathBuf]) -> Vec<PathBuf> {
    let tokens = std::fs::read_to_string(shared.join("flickr8k/Flickr8k_text/Flickr8k.token.txt")).unwrap();
    names
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            let dog = |c: &str| c.split(|ch: char| !ch.is_alphanumeric()).any(|w| w.eq_ignore_ascii_case("dog"));
            tokens.lines().filter(|l| l.starts_with(&format!("{name}#")) && dog(l)).count() >= 4
        })
        .cloned()
        .collect()
}

/// Captions a person writes for their dog: its name, which no caption of Flickr8k has.
pub const PERSONAL_CAPTIONS: [&str; 6] =
    ["Bramble", "Bramble again", "Bramble outside", "Bramble at play", "Bramble", "Bramble out and about"];

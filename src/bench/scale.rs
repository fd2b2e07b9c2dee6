//! `glimpse bench scale`: libraries of 100k and 1M photos written by the real writer in the
//! real format, then opened and searched in a process of their own, as `glimpse search`
//! and the window do: how many bytes a photo costs on disk and in memory, how long opening
//! takes, and what a text search costs with its encoding, with and without filters.

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::engine::{Runtime, SessionOptions};
use crate::finder::{FilterText, Finder, SearchRequest, Subject};
use crate::index::bytes::{encode_compact, encode_features};
use crate::index::compact::Codec;
use crate::index::contents::{IndexData, PhotoEntry};
use crate::index::store::Index;
use crate::model::JointManifest;
use crate::{Error, Result};

/// What the searching process measured on one library.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measured {
    /// Photos in the library.
    pub photos: usize,
    /// Growth of the process' resident memory from opening the library, per photo.
    pub resident_bytes_per_photo: f64,
    /// Reading and checking the index file's hot part and building the search matrix.
    pub open_s: f64,
    /// Then opening the backbone and the text model.
    pub models_s: f64,
    /// Median top-10 text search through `Finder::search` (query parsing and text encoding
    /// included), milliseconds.
    pub search_p50_ms: f64,
    /// Its 99th percentile, milliseconds.
    pub search_p99_ms: f64,
    /// Of which encoding the query's text: median, milliseconds.
    pub text_p50_ms: f64,
    /// The same searches with a folder and a date-range filter (half the photos pass).
    pub filtered_p50_ms: f64,
    /// `filtered_p50_ms / search_p50_ms`, measured interleaved in the same run.
    pub filtered_ratio: f64,
    /// The same queries with a concept ("Swatch in …", its vector fitted and kept before),
    /// median, milliseconds.
    pub concept_p50_ms: f64,
    /// `concept_p50_ms / search_p50_ms`, interleaved in the same run.
    pub concept_ratio: f64,
    /// Peak resident memory of the searching process (`VmHWM`), MB.
    pub peak_rss_mb: f64,
}

/// A row of the report: [`Measured`] and the file's size.
#[derive(Clone, Debug, Serialize)]
pub struct ScaleRow {
    /// Photos in the library.
    pub photos: usize,
    /// Index file size over photos (features included).
    pub disk_bytes_per_photo: f64,
    /// Teaching the library a concept of five photos (the fit), seconds.
    pub concept_fit_s: f64,
    /// What the searching process measured.
    #[serde(flatten)]
    pub measured: Measured,
}

/// A deterministic pseudo-random stream (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Writes a library of `photos` synthetic photos at `path` with the real writer: backbone
/// features of `feature_dim` values, and compact joint codes and offsets as the text model
/// in `model_dir` would have made them (its head and codec recorded), so that `Finder`
/// searches it with that model. Paths fall in 500 folders of two years under
/// [`pictures`] (whose year folders are made, empty); dates are spread.
pub fn write_library(
    path: &Path,
    photos: usize,
    model_dir: &Path,
    backbone: &crate::engine::BackboneModel,
) -> Result<()> {
    let manifest = JointManifest::load(model_dir)?;
    let codec = Codec::for_model(model_dir, manifest.compact_file(), manifest.model.joint_dim)?;
    let feature_dim = backbone.manifest.features.dim;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ photos as u64);
    let root = pictures(path);
    for year in ["2023", "2024"] {
        std::fs::create_dir_all(root.join(year)).map_err(|e| Error::io(&root, e))?;
    }
    let mut data = IndexData::default();
    data.model_id = backbone.manifest.sha256.clone();
    data.backbone = backbone.manifest.name.clone();
    data.feature_dim = feature_dim;
    data.head_id = manifest.image_head.sha256.clone();
    data.joint_dim = codec.dim();
    data.joint_codec = codec.id().to_string();
    let mut features = vec![0.0f32; feature_dim];
    data.photos = (0..photos)
        .map(|i| {
            // A few distinct feature rows are enough: the cold part's size is what counts here.
            if i < 16 {
                features.iter_mut().for_each(|v| *v = (rng.next() % 6000) as f32 / 1000.0);
            }
            let codes: Vec<i8> = (0..codec.dim()).map(|_| (rng.next() % 255) as i8).collect();
            let offset = (rng.next() % 1000) as f32 / 10_000.0;
            PhotoEntry {
                path: format!("/home/someone/Pictures/{}/trip-{:03}/IMG_{i:07}.jpg", 2023 + i % 2, i % 500)
                    .into_bytes(),
                size: 3_000_000 + i as u64,
                mtime_ns: 1_700_000_000_000_000_000 + i as i64,
                hash: *blake3::hash(&i.to_le_bytes()).as_bytes().first_chunk().unwrap_or(&[0; 16]),
                width: 4000,
                height: 3000,
                taken: Some(1_700_000_000 + i as i64 * 60),
                features: encode_features(&features),
                joint: encode_compact(&codes, offset),
                cold_row: None,
            }
        })
        .collect();
    Index { path: path.to_path_buf(), data }.save()
}

/// The folder the photos of the library at `index` lie in (it is not a library folder, so
/// that the library has no offline folders to look for).
pub fn pictures(index: &Path) -> std::path::PathBuf {
    index.with_extension("pictures")
}

/// This process' resident memory now and at its peak, bytes (Linux `/proc/self/status`).
pub fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Queries a person might type.
const QUERIES: [&str; 10] = [
    "a dog running through water",
    "two children playing on the beach",
    "a man riding a bike on a mountain trail",
    "a woman in a red jacket",
    "people sitting at a table outside",
    "a black and white dog",
    "a boy jumping into a pool",
    "a crowd at a concert",
    "snow covered mountains",
    "a girl with a balloon",
];

/// The concept [`teach_concept`] makes in a bench library.
pub const CONCEPT: &str = "Swatch";

/// Teaches the library at `path` the concept [`CONCEPT`] (its first five photos), as
/// `glimpse concept add` does; the seconds the fit took (trained words embedded, their
/// cosines with a sample of the library, the whitening), in this process so that the
/// searching one measures only searches.
pub fn teach_concept(
    path: &Path,
    runtime: &'static Runtime,
    options: &SessionOptions,
    model_dir: &Path,
) -> Result<f64> {
    let finder = Finder::open(path, runtime, options, Some(model_dir))?;
    let examples: Vec<std::path::PathBuf> =
        (0..5).filter_map(|row| finder.library.photo(row)).map(|e| e.path()).collect();
    let started = Instant::now();
    finder.teach(CONCEPT, &examples, &[])?;
    Ok(started.elapsed().as_secs_f64())
}

/// Opens the library at `path` and searches it `queries` times through [`Finder::search`],
/// timing each; then the same with a folder and date filter, and with a concept,
/// interleaved.
pub fn measure_library(
    path: &Path,
    runtime: &'static Runtime,
    options: &SessionOptions,
    model_dir: Option<&Path>,
    queries: usize,
) -> Result<Measured> {
    let before = memory().0;
    let started = Instant::now();
    let library = crate::index::Library::open(path)?;
    let open_s = started.elapsed().as_secs_f64();
    let resident = memory().0.saturating_sub(before);
    let photos = library.index.data.photos.len();
    let started = Instant::now();
    let finder = Finder::for_library(library, crate::finder::Models::new(runtime, options, model_dir))?;
    let models_s = started.elapsed().as_secs_f64();
    if let Some(problem) = finder.text_problem() {
        return Err(Error::Invalid(format!("the bench library cannot be searched by text: {problem}")));
    }
    let filter = FilterText {
        folder: Some(pictures(path).join("2023")),
        after: Some("2023-11-14".into()),
        before: Some("2099-01-01".into()),
        types: None,
    };
    let text_model = finder.models().text_model()?.ok_or_else(|| Error::Invalid("no text model".into()))?;
    let mut text = Vec::new();
    for i in 0..queries.max(1) {
        let started = Instant::now();
        std::hint::black_box(text_model.embed_texts(&[QUERIES[i % QUERIES.len()]])?);
        text.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (mut plain, mut filtered, mut concept) = (Vec::new(), Vec::new(), Vec::new());
    let has_concept = finder.concepts().find(CONCEPT).is_some();
    for i in 0..queries.max(1) {
        let query = QUERIES[i % QUERIES.len()];
        let subject = Subject::Text(query.into());
        let with_concept = Subject::Text(format!("{CONCEPT} in {query}"));
        let mut runs = vec![
            (subject.clone(), FilterText::default(), &mut plain),
            (subject.clone(), filter.clone(), &mut filtered),
        ];
        if has_concept {
            runs.push((with_concept, FilterText::default(), &mut concept));
        }
        for (subject, filter, times) in runs {
            let request = SearchRequest { subject, filter, ..SearchRequest::default() };
            let started = Instant::now();
            let answer = finder.search(&request)?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            std::hint::black_box(answer);
        }
    }
    let pick = |times: &mut Vec<f64>, q: f64| {
        times.sort_by(f64::total_cmp);
        times[((times.len() - 1) as f64 * q).round() as usize]
    };
    let (p50, p99, f50) = (pick(&mut plain, 0.5), pick(&mut plain, 0.99), pick(&mut filtered, 0.5));
    let c50 = if concept.is_empty() { 0.0 } else { pick(&mut concept, 0.5) };
    Ok(Measured {
        photos,
        resident_bytes_per_photo: resident as f64 / photos.max(1) as f64,
        open_s,
        models_s,
        search_p50_ms: p50,
        search_p99_ms: p99,
        text_p50_ms: pick(&mut text, 0.5),
        filtered_p50_ms: f50,
        filtered_ratio: f50 / p50,
        concept_p50_ms: c50,
        concept_ratio: c50 / p50,
        peak_rss_mb: memory().1 as f64 / 1e6,
    })
}

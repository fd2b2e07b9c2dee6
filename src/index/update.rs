//! The indexing job: scan the library's folders, embed what is new, reuse what moved, drop
//! what is gone; crash-safe through the journal.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::hash::{ContentHash, content_hash};
use super::journal::{self, Journal, JournalRecord};
use super::scan::{self, Found};
use super::store::{Index, PhotoEntry, Skipped, bytes_path, path_bytes};
use super::thumbs::{THUMBNAIL_SIDE, ThumbCache};
use crate::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use crate::engine::{Backbone, ProjectionHead};
use crate::job::{Job, JobContext, Waker};
use crate::{Error, Result};

/// How an indexing run behaves.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    /// Folders to add to the library (the library's earlier folders are rescanned too).
    pub add_roots: Vec<PathBuf>,
    /// Folders to take out of the library (their photos leave the index).
    pub remove_roots: Vec<PathBuf>,
    /// Glob patterns to skip; `None` keeps the library's (default: [`scan::DEFAULT_EXCLUDES`]).
    pub excludes: Option<Vec<String>>,
    /// The embedding pipeline's settings.
    pub embed: EmbedOptions,
    /// Make the journal durable after this many photos…
    pub checkpoint_photos: usize,
    /// …or this much time, whichever comes first.
    pub checkpoint_interval: Duration,
    /// The image head of the text model: when given, every photo also gets a joint-space
    /// vector, re-projected from stored features whenever the head changes.
    pub head: Option<ProjectionHead>,
}

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            add_roots: Vec::new(),
            remove_roots: Vec::new(),
            excludes: None,
            embed: EmbedOptions { thumbnail: Some(THUMBNAIL_SIDE), ..EmbedOptions::default() },
            // An fsync costs ~1–10 ms; every 64 photos or 2 s keeps it under 1 % of the run
            // while a crash loses at most a few seconds of work.
            checkpoint_photos: 64,
            checkpoint_interval: Duration::from_secs(2),
            head: None,
        }
    }
}

/// What an indexing run reports while it works.
#[derive(Debug)]
pub enum IndexEvent {
    /// Something the user should know (a damaged index was set aside, the model changed).
    Notice(String),
    /// The scan is done: how the found files divide up.
    Planned {
        /// Photo files found.
        found: usize,
        /// Unchanged since the last run: not decoded.
        unchanged: usize,
        /// Renamed or moved: vectors reused.
        moved: usize,
        /// Gone from disk: removed.
        removed: usize,
        /// To decode and embed.
        to_embed: usize,
    },
    /// Joint-space vectors made from stored features (no decoding).
    Projected {
        /// Photos projected so far.
        done: usize,
        /// Photos to project in all.
        total: usize,
    },
    /// One photo embedded or skipped.
    Progress {
        /// Photos finished so far (embedded or skipped).
        done: usize,
        /// Photos to embed in all.
        total: usize,
    },
    /// A file was skipped, with why.
    Skipped {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The end of an indexing run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct IndexReport {
    /// Photos in the index now.
    pub photos: usize,
    /// Photos decoded and embedded in this run.
    pub embedded: usize,
    /// Photos whose vectors were reused after a rename or move.
    pub moved: usize,
    /// Photos left as they were.
    pub unchanged: usize,
    /// Photos removed because their files are gone.
    pub removed: usize,
    /// Photos given joint-space vectors from their stored features in this run.
    pub projected: usize,
    /// Files skipped in this run.
    pub skipped: usize,
    /// True when stopped early; finished work is kept and the next run resumes.
    pub stopped: bool,
    /// Wall-clock time.
    pub elapsed_s: f64,
}

/// Opens an index with its journal applied. A missing file is an empty index; a damaged
/// one is an [`Error::IndexDamaged`].
pub fn open(path: &Path) -> Result<Index> {
    open_counting(path).map(|(index, _)| index)
}

/// [`open`], also telling how many journal records were applied (0 for a missing file).
fn open_counting(path: &Path) -> Result<(Index, usize)> {
    if !path.exists() {
        return Ok((Index::empty(path), 0));
    }
    let mut index = Index::read(path)?;
    let records = journal::replay(&journal::journal_path(path), index.data.generation);
    let count = records.len();
    for record in records {
        record.apply(&mut index.data);
    }
    Ok((index, count))
}

/// The identity of the vectors a backbone makes: its graph's sha256.
pub fn model_id(backbone: &Backbone) -> String {
    backbone.model().manifest.sha256.clone()
}

/// Starts indexing into the index file at `index_path`.
pub fn start(
    index_path: PathBuf,
    backbone: &Backbone,
    options: IndexOptions,
    waker: Option<Waker>,
) -> Result<Job<IndexEvent, Result<IndexReport>>> {
    let backbone = backbone.clone();
    Job::spawn("glimpse-index", 256, waker, move |cx| run(&index_path, &backbone, &options, &cx))
}

fn prepare(
    index_path: &Path,
    backbone: &Backbone,
    options: &IndexOptions,
    cx: &JobContext<IndexEvent>,
) -> Result<Index> {
    let exists = index_path.exists();
    let (mut index, replayed) = match open_counting(index_path) {
        Ok(opened) => opened,
        Err(Error::IndexDamaged { reason, .. }) => {
            let aside = index_path.with_extension("glimpse.damaged");
            std::fs::rename(index_path, &aside).map_err(|e| Error::io(index_path, e))?;
            let _ = std::fs::remove_file(journal::journal_path(index_path));
            cx.send(IndexEvent::Notice(format!(
                "the index could not be read ({reason}); it was moved to {} and is being rebuilt",
                aside.display()
            )));
            (Index::empty(index_path), 0)
        }
        Err(e) => return Err(e),
    };
    let data = &mut index.data;
    let settings = |d: &super::store::IndexData| {
        (d.model_id.clone(), d.preprocess.clone(), d.feature_dim, d.excludes.clone(), d.roots.clone(), d.photos.len())
    };
    let before = settings(data);
    let preprocess = {
        let mut p = backbone.preprocess();
        p.reduced_jpeg = options.embed.reduced_jpeg;
        p.fingerprint()
    };
    let model = model_id(backbone);
    if !data.model_id.is_empty() && (data.model_id != model || data.preprocess != preprocess) {
        cx.send(IndexEvent::Notice(format!(
            "the index was made with another backbone or preprocessing ({}); every photo is embedded again",
            data.backbone
        )));
        data.photos.clear();
        data.skipped.clear();
    }
    data.model_id = model;
    data.backbone = backbone.model().manifest.name.clone();
    data.preprocess = preprocess;
    data.feature_dim = backbone.dim();
    if data.excludes.is_empty() && data.roots.is_empty() {
        data.excludes = scan::DEFAULT_EXCLUDES.iter().map(|s| s.to_string()).collect();
    }
    if let Some(excludes) = &options.excludes {
        data.excludes = excludes.clone();
    }
    for root in &options.add_roots {
        let root = std::fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
        if !root.is_dir() {
            return Err(Error::Invalid(format!("{} is not a folder", root.display())));
        }
        let bytes = serde_bytes::ByteBuf::from(path_bytes(&root));
        if !data.roots.contains(&bytes) {
            data.roots.push(bytes);
        }
    }
    for root in &options.remove_roots {
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
        data.roots.retain(|r| bytes_path(r) != root);
    }
    // The new journal must continue the file on disk: write it whole first when the old
    // journal had records or anything above changed (not on a plain re-run of a large library).
    if !exists || replayed > 0 || settings(&index.data) != before {
        index.save()?;
    }
    let _ = std::fs::remove_file(journal::journal_path(index_path));
    Ok(index)
}

struct Plan {
    to_embed: Vec<(Found, ContentHash)>,
    moved: Vec<PhotoEntry>,
    removed: Vec<(Vec<u8>, ContentHash)>,
    unchanged: usize,
    found: usize,
}

fn plan(index: &Index, found: Vec<Found>, cx: &JobContext<IndexEvent>) -> Plan {
    let data = &index.data;
    let by_path = data.positions();
    let skipped: HashMap<&[u8], &Skipped> = data.skipped.iter().map(|s| (s.path.as_slice(), s)).collect();
    let found_paths: HashSet<Vec<u8>> = found.iter().map(|f| path_bytes(&f.path)).collect();
    let removed: Vec<(Vec<u8>, ContentHash)> =
        data.photos.iter().filter(|p| !found_paths.contains(&p.path)).map(|p| (p.path.clone(), p.hash)).collect();
    let mut by_hash: HashMap<ContentHash, &PhotoEntry> = HashMap::new();
    for p in &data.photos {
        by_hash.entry(p.hash).or_insert(p);
    }
    let mut plan = Plan { to_embed: Vec::new(), moved: Vec::new(), removed, unchanged: 0, found: found.len() };
    for f in found {
        if cx.should_stop() {
            break;
        }
        let key = path_bytes(&f.path);
        if let Some(&i) = by_path.get(&key) {
            let p = &data.photos[i];
            if p.size == f.size && p.mtime_ns == f.mtime_ns {
                plan.unchanged += 1;
                continue;
            }
        }
        if let Some(s) = skipped.get(key.as_slice())
            && s.size == f.size
            && s.mtime_ns == f.mtime_ns
        {
            continue;
        }
        let hash = match content_hash(&f.path) {
            Ok((hash, _)) => hash,
            Err(e) => {
                cx.send(IndexEvent::Skipped { path: f.path.clone(), reason: e.to_string() });
                continue;
            }
        };
        match by_hash.get(&hash) {
            Some(same) => {
                plan.moved.push(PhotoEntry { path: key, size: f.size, mtime_ns: f.mtime_ns, ..(*same).clone() })
            }
            None => plan.to_embed.push((f, hash)),
        }
    }
    plan
}

/// EXIF DateTimeOriginal as seconds since the epoch (camera local time taken as UTC).
pub fn exif_taken(path: &Path) -> Option<i64> {
    let file = std::fs::File::open(path).ok()?;
    let exif = exif::Reader::new().read_from_container(&mut std::io::BufReader::new(file)).ok()?;
    let field = exif.get_field(exif::Tag::DateTimeOriginal, exif::In::PRIMARY)?;
    let exif::Value::Ascii(ref v) = field.value else { return None };
    let dt = exif::DateTime::from_ascii(v.first()?).ok()?;
    days_from_civil(i64::from(dt.year), i64::from(dt.month), i64::from(dt.day))
        .map(|days| days * 86_400 + i64::from(dt.hour) * 3600 + i64::from(dt.minute) * 60 + i64::from(dt.second))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// The inverse of [`days_from_civil`]: days since 1970-01-01 → (year, month, day).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn run(
    index_path: &Path,
    backbone: &Backbone,
    options: &IndexOptions,
    cx: &JobContext<IndexEvent>,
) -> Result<IndexReport> {
    let started = Instant::now();
    let mut index = prepare(index_path, backbone, options, cx)?;
    let thumbs = ThumbCache::for_index(index_path);
    let roots: Vec<PathBuf> = index.data.roots.iter().map(|r| bytes_path(r)).collect();
    let scanned = scan::scan(&roots, &index.data.excludes, &cx.stop_flag())?;
    for (path, reason) in &scanned.problems {
        cx.send(IndexEvent::Skipped { path: path.clone(), reason: reason.clone() });
    }
    let plan = plan(&index, scanned.photos, cx);
    let mut report = IndexReport { unchanged: plan.unchanged, ..IndexReport::default() };
    cx.send(IndexEvent::Planned {
        found: plan.found,
        unchanged: plan.unchanged,
        moved: plan.moved.len(),
        removed: plan.removed.iter().filter(|(_, h)| !plan.moved.iter().any(|m| m.hash == *h)).count(),
        to_embed: plan.to_embed.len(),
    });
    let mut journal = Journal::create(&journal::journal_path(index_path), index.data.generation)?;
    let record = |index: &mut Index, journal: &mut Journal, r: JournalRecord| -> Result<()> {
        journal.append(&r)?;
        r.apply(&mut index.data);
        Ok(())
    };
    let stop_scan = cx.should_stop();
    if !stop_scan {
        // A path whose content reappeared elsewhere was moved, not removed.
        let moved: HashSet<ContentHash> = plan.moved.iter().map(|p| p.hash).collect();
        for (path, hash) in &plan.removed {
            record(&mut index, &mut journal, JournalRecord::Remove(path.clone()))?;
            if !moved.contains(hash) {
                report.removed += 1;
            }
        }
    }
    for entry in plan.moved {
        record(&mut index, &mut journal, JournalRecord::Upsert(entry))?;
        report.moved += 1;
    }
    journal.sync()?;

    let total = plan.to_embed.len();
    let mut pending: HashMap<usize, (Found, ContentHash)> = plan.to_embed.into_iter().enumerate().collect();
    let paths: Vec<PathBuf> = (0..total).map(|i| pending[&i].0.path.clone()).collect();
    let job = pipeline::embed(backbone, paths, options.embed.clone(), None)?;
    let mut done = 0;
    let mut since_sync = 0;
    let mut last_sync = Instant::now();
    for event in job.events() {
        if cx.should_stop() {
            job.stop();
        }
        let rec = match event {
            EmbedEvent::Embedded(e) => {
                let Some((found, hash)) = pending.remove(&e.index) else { continue };
                if let Some(thumb) = &e.thumbnail
                    && let Err(err) = thumbs.store(&hash, thumb)
                {
                    cx.send(IndexEvent::Notice(format!("thumbnail not saved: {err}")));
                }
                report.embedded += 1;
                JournalRecord::Upsert(PhotoEntry {
                    path: path_bytes(&found.path),
                    size: found.size,
                    mtime_ns: found.mtime_ns,
                    hash,
                    width: e.width,
                    height: e.height,
                    taken: exif_taken(&found.path),
                    features: PhotoEntry::encode_features(&e.features),
                    joint: Vec::new(),
                })
            }
            EmbedEvent::Failed { index: i, path, error } => {
                let Some((found, _)) = pending.remove(&i) else { continue };
                report.skipped += 1;
                let reason = match error {
                    Error::Photo { reason, .. } => reason,
                    other => other.to_string(),
                };
                cx.send(IndexEvent::Skipped { path, reason: reason.clone() });
                JournalRecord::Skip(Skipped {
                    path: path_bytes(&found.path),
                    size: found.size,
                    mtime_ns: found.mtime_ns,
                    reason,
                })
            }
        };
        record(&mut index, &mut journal, rec)?;
        done += 1;
        since_sync += 1;
        if since_sync >= options.checkpoint_photos || last_sync.elapsed() >= options.checkpoint_interval {
            journal.sync()?;
            since_sync = 0;
            last_sync = Instant::now();
        }
        cx.send(IndexEvent::Progress { done, total });
    }
    let embed_report = job.wait()??;
    journal.sync()?;
    drop(journal);
    if let Some(head) = &options.head
        && !cx.should_stop()
    {
        report.projected = project(&mut index, head, cx)?;
    }
    // Thumbnails of photos that left the index, unless another photo has the same content.
    let live: HashSet<ContentHash> = index.data.photos.iter().map(|p| p.hash).collect();
    if !stop_scan {
        for (_, hash) in plan.removed.iter().filter(|(_, h)| !live.contains(h)) {
            thumbs.remove(hash);
        }
    }
    let changed = report.embedded + report.moved + report.skipped + report.projected > 0 || !plan.removed.is_empty();
    if changed {
        index.save()?;
    }
    let _ = std::fs::remove_file(journal::journal_path(index_path));
    report.photos = index.data.photos.len();
    report.stopped = embed_report.stopped || cx.should_stop();
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Gives every photo without a joint vector from `head` one, from its stored features;
/// a different head than the index's re-projects them all. Returns how many were projected.
pub fn project(index: &mut Index, head: &ProjectionHead, cx: &JobContext<IndexEvent>) -> Result<usize> {
    let data = &mut index.data;
    if head.in_dim() != data.feature_dim {
        return Err(Error::Invalid(format!(
            "the text model's image head takes {}-long features but the index holds {}-long ones: pick the backbone the model was trained on",
            head.in_dim(),
            data.feature_dim
        )));
    }
    if data.head_id != head.id() {
        data.photos.iter_mut().for_each(|p| p.joint.clear());
        data.head_id = head.id().to_string();
        data.joint_dim = head.out_dim();
    }
    let todo: Vec<usize> = (0..data.photos.len()).filter(|&i| data.photos[i].joint.is_empty()).collect();
    let mut done = 0;
    // 256 rows keep one call at ~1 MB of input while amortising the call's overhead.
    for chunk in todo.chunks(256) {
        if cx.should_stop() {
            break;
        }
        let mut batch = ndarray::Array2::<f32>::zeros((chunk.len(), data.feature_dim));
        for (row, &i) in chunk.iter().enumerate() {
            let features = data.photos[i].features_f32();
            batch.row_mut(row).iter_mut().zip(&features).for_each(|(b, f)| *b = *f);
        }
        let (rows, offsets) = head.project_with_offsets(batch.view())?;
        for (n, (&i, mut joint)) in chunk.iter().zip(rows).enumerate() {
            // A calibrated head's offset is stored after the vector.
            joint.extend(offsets.as_ref().map(|o| o[n]));
            data.photos[i].joint = PhotoEntry::encode_joint(&joint);
        }
        done += chunk.len();
        cx.send(IndexEvent::Projected { done, total: todo.len() });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_convert_to_unix_days() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(2024, 2, 29), Some(19_782));
        assert_eq!(days_from_civil(2024, 13, 1), None);
    }
}

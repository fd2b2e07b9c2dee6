//! The indexing job: scan the library's folders, embed what is new, reuse what moved, drop
//! what is gone; crash-safe through the journal.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::bytes::{bytes_path, decode_features, encode_features, path_bytes};
use super::contents::{IndexData, PhotoEntry, Skipped};
use super::filter::exif_taken;
use super::hash::{ContentHash, content_hash};
use super::journal::{self, Journal, JournalRecord};
use super::library::{OfflineFolder, indexed_under, offline_reason};
use super::lock::{WhenBusy, WriterLock};
use super::opening::{Opened, open_counting, set_aside};
use super::project::{self, Projection};
use super::scan::{self, Found};
use super::store::Index;
use super::thumbs::{THUMBNAIL_SIDE, ThumbCache};
use crate::engine::Backbone;
use crate::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use crate::engine::preprocess::{cannot_read_reason, is_format_reason};
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
    /// The image head of the text model and its compact projection: when given, every
    /// photo also gets a joint-space vector, re-projected from stored features whenever the
    /// head changes.
    pub head: Option<Projection>,
    /// What to do when another process is updating the library: wait for it or fail.
    pub when_busy: WhenBusy,
}

impl IndexEvent {
    /// The one line that says how the found files divide up, for a
    /// [`IndexEvent::Planned`] (`None` for other events).
    pub fn planned_line(&self) -> Option<String> {
        match self {
            IndexEvent::Planned { found, unchanged, moved, copied, removed, to_embed } => Some(format!(
                "{found} photos found: {unchanged} unchanged, {moved} moved, {}{removed} gone, {to_embed} to embed",
                if *copied > 0 { format!("{copied} copied, ") } else { String::new() }
            )),
            _ => None,
        }
    }
}

impl IndexReport {
    /// What the run did, in one line: "120 photos (60 embedded, …) in 2.3 s".
    pub fn summary(&self) -> String {
        format!(
            "{} photos ({} embedded, {} moved, {}{} unchanged, {} removed, {} skipped, {} projected{}) in {:.1} s",
            self.photos,
            self.embedded,
            self.moved,
            if self.copied > 0 { format!("{} copied, ", self.copied) } else { String::new() },
            self.unchanged,
            self.removed,
            self.skipped,
            self.projected,
            if self.offline > 0 { format!(", {} offline", self.offline) } else { String::new() },
            self.elapsed_s
        )
    }
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
            when_busy: WhenBusy::Wait,
        }
    }
}

/// What an indexing run reports while it works.
#[derive(Debug)]
pub enum IndexEvent {
    /// Something the user should know (a damaged index was set aside, the model changed).
    Notice(String),
    /// Another process is updating the library; this run waits for it (Stop ends the wait).
    Waiting {
        /// The other process, when known.
        pid: Option<u32>,
    },
    /// A library folder is offline: its photos stay in the index, left out of results,
    /// until it is back.
    Offline {
        /// The folder.
        folder: PathBuf,
        /// Why it counts as offline.
        reason: String,
        /// Photos of the index under it.
        photos: usize,
    },
    /// The scan is done: how the found files divide up.
    Planned {
        /// Photo files found.
        found: usize,
        /// Unchanged since the last run: not decoded.
        unchanged: usize,
        /// Renamed or moved: vectors reused.
        moved: usize,
        /// New copies of photos that are still in the library: vectors reused.
        copied: usize,
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
    /// New copies of photos still in the library, which reuse their vectors.
    pub copied: usize,
    /// Photos left as they were.
    pub unchanged: usize,
    /// Photos removed because their files are gone.
    pub removed: usize,
    /// Photos given joint-space vectors from their stored features in this run.
    pub projected: usize,
    /// Files skipped in this run.
    pub skipped: usize,
    /// Photos kept in the index whose folder is offline (missing, or empty where the index
    /// has photos): back without re-embedding when the folder returns.
    pub offline: usize,
    /// True when stopped early; finished work is kept and the next run resumes.
    pub stopped: bool,
    /// Wall-clock time.
    pub elapsed_s: f64,
}

/// Why a photo was skipped, without its path (the event carries the path).
fn photo_reason(error: Error) -> String {
    match error {
        Error::Photo { reason, .. } => reason,
        other => other.to_string(),
    }
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
    // The writer copies every stored feature into the next file: check them whole first.
    let checked = open_counting(index_path).and_then(|opened| match &opened.index.data.cold {
        Some(cold) => cold.verify().map(|()| opened),
        None => Ok(opened),
    });
    let (opened, was_damaged) = match checked {
        Ok(opened) => (opened, false),
        Err(Error::IndexDamaged { reason, .. }) => {
            let aside = set_aside(index_path)?;
            // Photos embedded since the damaged file was last written whole are still in its
            // journal; those of this backbone's length are kept.
            let journal_path = journal::journal_path(index_path);
            let mut index = Index::empty(index_path);
            for record in journal::replay_any(&journal_path) {
                if let journal::JournalRecord::Upsert(entry) = &record
                    && entry.features.len() != 8 + backbone.dim()
                {
                    continue;
                }
                record.apply(&mut index.data);
            }
            let _ = std::fs::remove_file(&journal_path);
            let salvaged = index.data.photos.len();
            cx.send(IndexEvent::Notice(format!(
                "the index could not be read ({reason}); it was moved to {}{}",
                aside.display(),
                if salvaged > 0 {
                    format!("; {salvaged} photos were recovered from its journal and the rest is being rebuilt")
                } else {
                    " and is being rebuilt".to_string()
                }
            )));
            (Opened { index, replayed: 0, converted_from: None }, true)
        }
        Err(e) => return Err(e),
    };
    if let Some(format) = opened.converted_from {
        cx.send(IndexEvent::Notice(format!(
            "the index was written by an earlier Glimpse (format {format}); it is converted from its stored vectors, no photo is decoded again"
        )));
    }
    // The file on disk is not what the index now holds: a journal was applied, the format
    // converted, or a damaged file set aside.
    let differs_from_disk = !exists || was_damaged || opened.replayed > 0 || opened.converted_from.is_some();
    let mut index = opened.index;
    let data = &mut index.data;
    let settings = |d: &IndexData| {
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
    if differs_from_disk || settings(&index.data) != before {
        index.save()?;
    }
    let _ = std::fs::remove_file(journal::journal_path(index_path));
    Ok(index)
}

struct Plan {
    to_embed: Vec<(Found, ContentHash)>,
    /// Moved photos and copies: new paths whose content the index has (vectors reused).
    moved: Vec<PhotoEntry>,
    /// How many of `moved` are copies: the photo they share content with is still there.
    copied: usize,
    /// Photos of a format this build cannot decode: skipped with why, not read.
    unreadable: Vec<Skipped>,
    removed: Vec<(Vec<u8>, ContentHash)>,
    unchanged: usize,
    found: usize,
}

/// The library's folders that count as offline, with why and how many indexed photos lie
/// under each: unavailable ones, and ones where nothing was found while the index has photos
/// (the empty mount point of an unplugged drive). Their photos are kept, not "gone".
fn offline_roots(data: &IndexData, roots: &[PathBuf], scanned: &scan::ScanResult) -> Vec<OfflineFolder> {
    let mut offline = Vec::new();
    for root in roots {
        let photos = indexed_under(data, root);
        let unavailable = scanned.unavailable.iter().find(|(r, _)| r == root).map(|(_, why)| why.clone());
        let there = || scanned.photos.iter().any(|f| f.path.starts_with(root));
        if let Some(reason) = offline_reason(root, unavailable, photos, there, false) {
            offline.push(OfflineFolder { folder: root.clone(), reason, photos });
        }
    }
    offline
}

fn plan(index: &Index, found: Vec<Found>, cap: u64, cx: &JobContext<IndexEvent>) -> Plan {
    let data = &index.data;
    let by_path = data.positions();
    let skipped: HashMap<&[u8], &Skipped> = data.skipped.iter().map(|s| (s.path.as_slice(), s)).collect();
    let found_paths: HashSet<Vec<u8>> = found.iter().map(|f| path_bytes(&f.path)).collect();
    let removed: Vec<(Vec<u8>, ContentHash)> = data
        .photos
        .iter()
        .filter(|p| !found_paths.contains(&p.path) && !data.is_offline(&p.path()))
        .map(|p| (p.path.clone(), p.hash))
        .collect();
    let mut by_hash: HashMap<ContentHash, usize> = HashMap::new();
    for (row, p) in data.photos.iter().enumerate() {
        by_hash.entry(p.hash).or_insert(row);
    }
    let mut plan = Plan {
        to_embed: Vec::new(),
        moved: Vec::new(),
        copied: 0,
        unreadable: Vec::new(),
        removed,
        unchanged: 0,
        found: found.len(),
    };
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
        let cannot_read = cannot_read_reason(&f.path);
        // A file skipped for its format is tried again once its format can be read
        // (libheif installed, a newer Glimpse); a damaged one only when it changes.
        if let Some(s) = skipped.get(key.as_slice())
            && s.size == f.size
            && s.mtime_ns == f.mtime_ns
            && (cannot_read.is_some() || !is_format_reason(&s.reason))
        {
            continue;
        }
        if let Some(reason) = cannot_read {
            plan.unreadable.push(Skipped { path: key, size: f.size, mtime_ns: f.mtime_ns, reason });
            continue;
        }
        let hash = match content_hash(&f.path, cap) {
            Ok((hash, _)) => hash,
            Err(e) => {
                cx.send(IndexEvent::Skipped { path: f.path.clone(), reason: photo_reason(e) });
                continue;
            }
        };
        // A moved photo's journal record carries its features, so a replay needs no old file.
        match by_hash.get(&hash).and_then(|&row| Some((row, data.feature_bytes(row).ok()?))) {
            Some((row, features)) => {
                let original = &data.photos[row].path;
                plan.copied += usize::from(*original != key && found_paths.contains(original));
                plan.moved.push(PhotoEntry {
                    path: key,
                    size: f.size,
                    mtime_ns: f.mtime_ns,
                    features,
                    cold_row: None,
                    ..data.photos[row].clone()
                })
            }
            None => plan.to_embed.push((f, hash)),
        }
    }
    plan
}

/// Photos embedded in one go before the image head runs over them: a batch of the pipeline's
/// default size and then some, so one head call serves a whole batch.
const PROJECT_BATCH: usize = 32;

/// Gives the photos already in the index their joint vectors of `projection` (all of them
/// when the text model changed, else those without one: a run stopped before projecting)
/// from their stored features, before anything new is embedded; a stop leaves the rest
/// for the next run. The file is written whole when that changed anything, so the journal
/// that follows continues a file that names the head its vectors were made by.
fn project_stored(index: &mut Index, projection: &Projection, cx: &JobContext<IndexEvent>) -> Result<usize> {
    let ids = |d: &IndexData| (d.head_id.clone(), d.joint_codec.clone());
    let before = ids(&index.data);
    let projected = project::project(index, &projection.head, &projection.codec, &cx.stop_flag(), |done, total| {
        cx.send(IndexEvent::Projected { done, total });
    })?;
    if projected > 0 || ids(&index.data) != before {
        index.save()?;
    }
    Ok(projected)
}

/// Gives freshly embedded photos their joint vectors of `projection` (none without one),
/// from their features as stored, so they rank exactly as a later re-projection would rank
/// them. Returns how many got one.
fn with_joint(entries: &mut [PhotoEntry], projection: Option<&Projection>) -> Result<usize> {
    let Some(Projection { head, codec }) = projection else { return Ok(0) };
    let dim = head.in_dim();
    let mut batch = ndarray::Array2::<f32>::zeros((entries.len(), dim));
    for (mut row, entry) in batch.rows_mut().into_iter().zip(entries.iter()) {
        let features = decode_features(&entry.features);
        if features.len() != dim {
            return Err(Error::Invalid(format!(
                "the text model's image head takes {dim}-long features but the backbone made {}-long ones",
                features.len()
            )));
        }
        row.iter_mut().zip(&features).for_each(|(r, f)| *r = *f);
    }
    for (entry, joint) in entries.iter_mut().zip(project::joint_bytes(head, codec, batch.view())?) {
        entry.joint = joint;
    }
    Ok(entries.len())
}

fn run(
    index_path: &Path,
    backbone: &Backbone,
    options: &IndexOptions,
    cx: &JobContext<IndexEvent>,
) -> Result<IndexReport> {
    let started = Instant::now();
    // A foreign file or a newer index is refused before anything is written beside it.
    Index::check_ours(index_path)?;
    if let Some(dir) = index_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let Some(_lock) = WriterLock::acquire(index_path, options.when_busy, &cx.stop_flag(), |pid| {
        cx.send(IndexEvent::Waiting { pid });
    })?
    else {
        return Ok(IndexReport { stopped: true, elapsed_s: started.elapsed().as_secs_f64(), ..IndexReport::default() });
    };
    let mut index = prepare(index_path, backbone, options, cx)?;
    let projected_before = match &options.head {
        Some(projection) => project_stored(&mut index, projection, cx)?,
        None => 0,
    };
    let thumbs = ThumbCache::for_index(index_path);
    // Only the lock holder writes thumbnails, so any temporary there is a leftover.
    thumbs.remove_temporaries();
    let roots: Vec<PathBuf> = index.data.roots.iter().map(|r| bytes_path(r)).collect();
    let scanned = scan::scan(&roots, &index.data.excludes, &[thumbs.dir().to_path_buf()], &cx.stop_flag())?;
    for (path, reason) in &scanned.problems {
        cx.send(IndexEvent::Skipped { path: path.clone(), reason: reason.clone() });
    }
    let offline_before = index.data.offline.clone();
    let offline = offline_roots(&index.data, &roots, &scanned);
    index.data.offline = offline.iter().map(|o| serde_bytes::ByteBuf::from(path_bytes(&o.folder))).collect();
    for o in &offline {
        cx.send(IndexEvent::Offline { folder: o.folder.clone(), reason: o.reason.clone(), photos: o.photos });
    }
    let plan = plan(&index, scanned.photos, options.embed.max_file_bytes, cx);
    let mut report = IndexReport {
        unchanged: plan.unchanged,
        projected: projected_before,
        offline: offline.iter().map(|o| o.photos).sum(),
        ..IndexReport::default()
    };
    let moved_hashes: HashSet<ContentHash> = plan.moved.iter().map(|p| p.hash).collect();
    cx.send(IndexEvent::Planned {
        found: plan.found,
        unchanged: plan.unchanged,
        moved: plan.moved.len() - plan.copied,
        copied: plan.copied,
        removed: plan.removed.iter().filter(|(_, h)| !moved_hashes.contains(h)).count(),
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
    report.copied = plan.copied;
    report.moved = plan.moved.len() - plan.copied;
    for entry in plan.moved {
        record(&mut index, &mut journal, JournalRecord::Upsert(entry))?;
    }
    for skipped in plan.unreadable {
        cx.send(IndexEvent::Skipped { path: bytes_path(&skipped.path), reason: skipped.reason.clone() });
        record(&mut index, &mut journal, JournalRecord::Skip(skipped))?;
        report.skipped += 1;
    }
    journal.sync()?;

    let total = plan.to_embed.len();
    let mut pending: HashMap<usize, (Found, ContentHash)> = plan.to_embed.into_iter().enumerate().collect();
    let paths: Vec<PathBuf> = (0..total).map(|i| pending[&i].0.path.clone()).collect();
    let job = pipeline::embed(backbone, paths, options.embed.clone(), None)?;
    let mut done = 0;
    let mut since_sync = 0;
    let mut last_sync = Instant::now();
    // Embedded photos wait here for the rest of their batch, so the image head runs once a
    // batch; each is journaled with its joint vector, searchable by text as soon as it is synced.
    let mut embedded: Vec<PhotoEntry> = Vec::new();
    loop {
        if cx.should_stop() {
            job.stop();
        }
        // Woken every 100 ms, so a stop is seen even while a photo's read hangs.
        let event = match job.events().recv_timeout(Duration::from_millis(100)) {
            Ok(event) => Some(event),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        let mut finished = Vec::new();
        match event {
            Some(EmbedEvent::Embedded(e)) => {
                let Some((found, hash)) = pending.remove(&e.index) else { continue };
                if let Some(thumb) = &e.thumbnail
                    && let Err(err) = thumbs.store(&hash, thumb)
                {
                    cx.send(IndexEvent::Notice(format!("thumbnail not saved: {err}")));
                }
                report.embedded += 1;
                embedded.push(PhotoEntry {
                    path: path_bytes(&found.path),
                    size: found.size,
                    mtime_ns: found.mtime_ns,
                    hash,
                    width: e.width,
                    height: e.height,
                    taken: exif_taken(&found.path),
                    features: encode_features(&e.features),
                    joint: Vec::new(),
                    cold_row: None,
                });
            }
            Some(EmbedEvent::Failed { index: i, path, error }) => {
                let Some((found, _)) = pending.remove(&i) else { continue };
                report.skipped += 1;
                let reason = photo_reason(error);
                cx.send(IndexEvent::Skipped { path, reason: reason.clone() });
                finished.push(JournalRecord::Skip(Skipped {
                    path: path_bytes(&found.path),
                    size: found.size,
                    mtime_ns: found.mtime_ns,
                    reason,
                }));
            }
            None => {}
        }
        if !embedded.is_empty() && (job.events().is_empty() || embedded.len() >= PROJECT_BATCH) {
            report.projected += with_joint(&mut embedded, options.head.as_ref())?;
            finished.extend(embedded.drain(..).map(JournalRecord::Upsert));
        }
        if finished.is_empty() {
            continue;
        }
        for rec in finished {
            record(&mut index, &mut journal, rec)?;
            done += 1;
            since_sync += 1;
        }
        if since_sync >= options.checkpoint_photos || last_sync.elapsed() >= options.checkpoint_interval {
            journal.sync()?;
            since_sync = 0;
            last_sync = Instant::now();
        }
        cx.send(IndexEvent::Progress { done, total });
    }
    if !embedded.is_empty() {
        report.projected += with_joint(&mut embedded, options.head.as_ref())?;
        for entry in embedded {
            record(&mut index, &mut journal, JournalRecord::Upsert(entry))?;
            done += 1;
        }
        cx.send(IndexEvent::Progress { done, total });
    }
    let embed_report = job.wait()??;
    journal.sync()?;
    drop(journal);
    if let Some(projection) = &options.head
        && !cx.should_stop()
    {
        let (head, codec) = (&projection.head, &projection.codec);
        report.projected += super::project::project(&mut index, head, codec, &cx.stop_flag(), |done, total| {
            cx.send(IndexEvent::Projected { done, total });
        })?;
    }
    // Thumbnails of photos that left the index, unless another photo has the same content.
    let live: HashSet<ContentHash> = index.data.photos.iter().map(|p| p.hash).collect();
    if !stop_scan {
        for (_, hash) in plan.removed.iter().filter(|(_, h)| !live.contains(h)) {
            thumbs.remove(hash);
        }
    }
    let changed = report.embedded + report.moved + report.skipped + report.projected > 0
        || !plan.removed.is_empty()
        || index.data.offline != offline_before;
    if changed {
        index.save()?;
    }
    let _ = std::fs::remove_file(journal::journal_path(index_path));
    report.photos = index.data.photos.len();
    report.stopped = embed_report.stopped || cx.should_stop();
    report.elapsed_s = started.elapsed().as_secs_f64();
    Ok(report)
}

//! Backbone features of dataset photos, computed once through the engine's embedding
//! pipeline and cached on disk, so that training and evaluation runs do not decode and embed
//! the same 8000 photos again.
//!
//! One cache file per backbone graph (`<sha256 prefix>.features` in the cache folder), keyed
//! inside by photo name and the blake3 of the photo's bytes: a changed photo or another
//! backbone is never served stale features. File layout: magic, format version, payload
//! length, blake3 of the payload, then the bincode payload; written atomically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checked;
use crate::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use crate::engine::{Backbone, BackboneModel};
use crate::{Error, Result};

/// The first bytes of a feature cache file.
pub const CACHE_MAGIC: &[u8; 8] = b"GLIMFEAT";
/// The cache format this build writes and reads; other versions are rebuilt.
pub const CACHE_VERSION: u32 = 1;

/// The default cache folder: `<user cache>/features`.
pub fn default_cache_dir() -> PathBuf {
    crate::locations::cache_dir().unwrap_or_else(|| PathBuf::from(".glimpse-cache")).join("features")
}

/// Per photo name: the blake3 of its bytes and its features.
type Entries = HashMap<String, ([u8; 32], Vec<f32>)>;

#[derive(Serialize, Deserialize, Clone)]
struct Entry {
    name: String,
    content: [u8; 32],
    /// f32 little-endian: training sees exactly what the engine computed.
    #[serde(with = "serde_bytes")]
    features: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    backbone_sha256: String,
    dim: u32,
    entries: Vec<Entry>,
}

/// Progress of [`FeatureCache::features`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureProgress {
    /// Photos found in the cache.
    pub reused: usize,
    /// Photos embedded so far in this run.
    pub computed: usize,
    /// Photos that must be embedded in this run.
    pub to_compute: usize,
}

/// Features of a list of photos, in the list's order, without the photos that failed.
#[derive(Clone, Debug, Default)]
pub struct PhotoFeatures {
    /// Feature dimension.
    pub dim: usize,
    /// Positions (in the list asked for) of the photos that have features.
    pub kept: Vec<usize>,
    /// `kept.len() × dim` values, row-major.
    pub data: Vec<f32>,
    /// Photos that could not be read or embedded, with why.
    pub failed: Vec<(PathBuf, String)>,
    /// Photos served from the cache.
    pub reused: usize,
    /// Photos embedded in this run.
    pub computed: usize,
    /// True when the run was stopped before every photo was embedded.
    pub stopped: bool,
}

/// The features of one backbone's photos, as stored on disk.
pub struct FeatureCache {
    path: PathBuf,
    backbone_sha256: String,
    dim: usize,
    entries: Entries,
    /// Why an existing file was not used (damaged, old version), for the user.
    pub notice: Option<String>,
    dirty: bool,
}

impl FeatureCache {
    /// Opens the cache of `backbone` in `dir`; a missing file is an empty cache, and an
    /// unreadable one is started afresh with a notice (it only holds recomputable data).
    pub fn open(dir: &Path, backbone: &BackboneModel) -> Self {
        let sha = backbone.manifest.sha256.to_ascii_lowercase();
        let prefix: String = sha.chars().take(16).collect();
        let path = dir.join(format!("{}-{prefix}.features", backbone.manifest.name));
        let dim = backbone.manifest.features.dim;
        let mut cache =
            FeatureCache { path, backbone_sha256: sha, dim, entries: HashMap::new(), notice: None, dirty: false };
        match std::fs::read(&cache.path) {
            Ok(bytes) => match cache.parse(&bytes) {
                Ok(entries) => cache.entries = entries,
                Err(reason) => {
                    cache.notice = Some(format!("{}: {reason}; computing the features again", cache.path.display()))
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => cache.notice = Some(format!("{}: {e}; computing the features again", cache.path.display())),
        }
        cache
    }

    fn parse(&self, bytes: &[u8]) -> std::result::Result<Entries, String> {
        let version = checked::container_format(bytes, CACHE_MAGIC).map_err(|refusal| match refusal {
            checked::Refusal::Foreign => "not a Glimpse feature cache".to_string(),
            other => format!("damaged: {other}"),
        })?;
        if version != CACHE_VERSION {
            return Err(format!("cache format {version}, this Glimpse uses {CACHE_VERSION}"));
        }
        let payload = checked::container_payload(bytes).map_err(|refusal| format!("damaged: {refusal}"))?;
        let payload: Payload = checked::decode(payload).map_err(|e| format!("damaged payload: {e}"))?;
        if payload.backbone_sha256 != self.backbone_sha256 || payload.dim as usize != self.dim {
            return Err("made with another backbone graph".into());
        }
        let mut entries = HashMap::with_capacity(payload.entries.len());
        for e in payload.entries {
            if e.features.len() != self.dim * 4 {
                return Err(format!("features of {} have the wrong length", e.name));
            }
            let values = e.features.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            entries.insert(e.name, (e.content, values));
        }
        Ok(entries)
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Photos held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Features of `photos` (`(name, path)` pairs; the name is the cache key): reused when
    /// the photo's bytes are unchanged, else embedded with `backbone` through the engine's
    /// pipeline. `progress` is called as photos finish and returns `false` to stop; what was
    /// computed until then is kept. A photo that fails is reported, not fatal.
    pub fn features(
        &mut self,
        backbone: &Backbone,
        photos: &[(String, PathBuf)],
        progress: &mut dyn FnMut(FeatureProgress) -> bool,
    ) -> Result<PhotoFeatures> {
        if !backbone.model().manifest.sha256.eq_ignore_ascii_case(&self.backbone_sha256) {
            return Err(Error::Invalid(format!(
                "the feature cache {} belongs to another backbone",
                self.path.display()
            )));
        }
        let mut hashes = Vec::with_capacity(photos.len());
        let mut failed = Vec::new();
        let mut todo = Vec::new();
        let mut reused = 0;
        for (i, (name, path)) in photos.iter().enumerate() {
            match std::fs::read(path) {
                Ok(bytes) => {
                    let hash = *blake3::hash(&bytes).as_bytes();
                    match self.entries.get(name) {
                        Some((h, _)) if *h == hash => reused += 1,
                        _ => todo.push(i),
                    }
                    hashes.push(Some(hash));
                }
                Err(e) => {
                    failed.push((path.clone(), e.to_string()));
                    hashes.push(None);
                }
            }
        }
        let mut state = FeatureProgress { reused, computed: 0, to_compute: todo.len() };
        let mut stopped = !progress(state);
        if !todo.is_empty() && !stopped {
            let paths: Vec<PathBuf> = todo.iter().map(|&i| photos[i].1.clone()).collect();
            let job = pipeline::embed(backbone, paths, EmbedOptions::default(), None)?;
            for event in job.events() {
                match event {
                    EmbedEvent::Embedded(e) => {
                        let i = todo[e.index];
                        if let Some(hash) = hashes[i] {
                            self.entries.insert(photos[i].0.clone(), (hash, e.features));
                            self.dirty = true;
                        }
                        state.computed += 1;
                    }
                    EmbedEvent::Failed { index, path, error } => {
                        hashes[todo[index]] = None;
                        failed.push((path, error.to_string()));
                    }
                }
                if !progress(state) {
                    stopped = true;
                    job.stop();
                    break;
                }
            }
            let report = job.wait()??;
            stopped |= report.stopped;
            // Embedded photos are worth keeping even when the run stops here.
            self.save()?;
        }
        let mut out = PhotoFeatures { dim: self.dim, reused, computed: state.computed, stopped, ..Default::default() };
        for (i, (name, _)) in photos.iter().enumerate() {
            if let (Some(hash), Some((h, values))) = (hashes[i], self.entries.get(name))
                && hash == *h
            {
                out.kept.push(i);
                out.data.extend_from_slice(values);
            }
        }
        out.failed = failed;
        Ok(out)
    }

    /// Writes the cache if anything was added since it was read.
    pub fn save(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut names: Vec<&String> = self.entries.keys().collect();
        names.sort();
        let entries = names
            .into_iter()
            .map(|name| {
                let (content, values) = &self.entries[name];
                Entry {
                    name: name.clone(),
                    content: *content,
                    features: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                }
            })
            .collect();
        let payload = Payload { backbone_sha256: self.backbone_sha256.clone(), dim: self.dim as u32, entries };
        let payload = checked::encode(&payload, "the feature cache")?;
        checked::write_container(&self.path, CACHE_MAGIC, CACHE_VERSION, &payload)?;
        self.dirty = false;
        Ok(())
    }
}

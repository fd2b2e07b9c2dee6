//! The workflows that finish a model folder, as jobs with progress and a stop flag, so that
//! the CLI and the window run the same code: measuring a model on a Flickr8k split,
//! combining models into one, and calibrating one against a bank of training captions.
//! (Measuring and storing the "no strong match" cue is `bench::cue::start`.)

use std::path::{Path, PathBuf};

use super::combine;
use super::hubness;
use super::recipe::{self, EmbeddedSplit};
use super::trainer::TrainEvent;
use crate::dataset::{Flickr8k, Split};
use crate::engine::{Backbone, BackboneModel, Runtime, SessionOptions};
use crate::job::{Job, JobContext, Waker};
use crate::model::manifest::{Hubness, JointManifest};
use crate::model::{ExportedModel, config::Metrics};
use crate::text::WordCounts;
use crate::{Error, Result};

/// Where a workflow finds what it opens: ONNX Runtime and its options, Flickr8k, and the
/// cache of backbone features of its photos.
#[derive(Clone, Debug)]
pub struct ModelSetup {
    /// The loaded ONNX Runtime.
    pub runtime: &'static Runtime,
    /// Provider and threads for the sessions.
    pub options: SessionOptions,
    /// The Flickr8k folder.
    pub flickr8k: PathBuf,
    /// The feature cache folder.
    pub cache_dir: PathBuf,
}

impl ModelSetup {
    /// The model in `dir` and the backbone it was trained on, both opened.
    pub(crate) fn open(&self, dir: &Path) -> Result<(ExportedModel, Backbone)> {
        let model = ExportedModel::open(self.runtime, dir, &self.options)?;
        let backbone =
            Backbone::open(self.runtime, BackboneModel::find(&model.manifest.backbone.name)?, &self.options)?;
        Ok((model, backbone))
    }

    /// Measures the model in `dir` on `split` exactly as search ranks with it.
    pub fn measure(&self, dir: &Path, split: Split, cx: &JobContext<TrainEvent>) -> Result<Metrics> {
        let (model, backbone) = self.open(dir)?;
        recipe::evaluate_exported(&model, &backbone, &self.flickr8k, split, &self.cache_dir, cx)
    }

    /// The model in `dir` and `split` in its joint space, as search embeds them.
    pub fn embed_split(&self, dir: &Path, split: Split, cx: &JobContext<TrainEvent>) -> Result<EmbeddedSplit> {
        let (model, backbone) = self.open(dir)?;
        let items = Flickr8k::open(&self.flickr8k)?.split(split)?;
        recipe::embed_split(&model, &backbone, &items, &self.cache_dir, cx)
    }
}

/// A combined model, and its dev metrics when it was measured.
#[derive(Clone, Debug)]
pub struct Combined {
    /// Its manifest, as saved.
    pub manifest: JointManifest,
    /// Dev metrics, recorded in the manifest.
    pub dev: Option<Metrics>,
}

/// Starts combining the model folders `members` into `out` (`glimpse combine`); with a
/// setup, the result is measured on dev and the metrics recorded in its manifest.
pub fn start_combine(
    out: PathBuf,
    members: Vec<PathBuf>,
    measure_with: Option<ModelSetup>,
    waker: Option<Waker>,
) -> Result<Job<TrainEvent, Result<Combined>>> {
    Job::spawn("glimpse-combine", 64, waker, move |cx| {
        let mut manifest = combine::combine(&out, &members)?;
        cx.send(TrainEvent::Note(format!(
            "{}: {} models combined, {}-d",
            out.display(),
            members.len(),
            manifest.model.joint_dim
        )));
        let Some(setup) = measure_with else { return Ok(Combined { manifest, dev: None }) };
        let dev = setup.measure(&out, Split::Dev, &cx)?;
        if let Some(combination) = manifest.combination.as_mut() {
            combination.dev = Some(dev);
        }
        manifest.save(&out)?;
        Ok(Combined { manifest, dev: Some(dev) })
    })
}

/// A calibrated model.
#[derive(Clone, Debug)]
pub struct Calibrated {
    /// Its manifest, as saved.
    pub manifest: JointManifest,
    /// Dev metrics after calibration, recorded in the manifest.
    pub dev: Metrics,
    /// Training captions in the bank.
    pub bank: usize,
}

/// Starts calibrating the model in `dir` in place with `settings` (`glimpse calibrate`): a
/// bank of training captions embedded by the model's own text encoder goes into its image
/// head, which then also gives each photo's offset; then it is measured on dev.
pub fn start_calibrate(
    setup: ModelSetup,
    dir: PathBuf,
    settings: Hubness,
    waker: Option<Waker>,
) -> Result<Job<TrainEvent, Result<Calibrated>>> {
    // Refused at once (before the bank is embedded) when the model is calibrated already.
    hubness::load_uncalibrated(&dir)?;
    Job::spawn("glimpse-calibrate", 64, waker, move |cx| {
        let train = Flickr8k::open(&setup.flickr8k)?.split(Split::Train)?;
        let texts = hubness::bank_captions(&train, settings.bank, settings.seed);
        cx.send(TrainEvent::Note(format!("embedding {} training captions for the bank…", texts.len())));
        let model = ExportedModel::open(setup.runtime, &dir, &setup.options)?;
        let mut bank = Vec::with_capacity(texts.len() * model.dim());
        for chunk in texts.chunks(1024) {
            if cx.should_stop() {
                return Err(Error::Invalid("calibration stopped; the model was not changed".into()));
            }
            bank.extend(model.embed_texts(chunk)?.iter().copied());
        }
        drop(model);
        let mut manifest = hubness::calibrate(&dir, &bank, &settings)?;
        let dev = setup.measure(&dir, Split::Dev, &cx)?;
        if let Some(h) = manifest.hubness.as_mut() {
            h.dev = Some(dev);
        }
        manifest.save(&dir)?;
        Ok(Calibrated { manifest, dev, bank: texts.len() })
    })
}

/// A split measured as search ranks it and at full precision.
#[derive(Clone, Copy, Debug)]
pub struct Measured {
    /// Through the model's compact projection, as search ranks.
    pub compact: Metrics,
    /// With the full joint vectors.
    pub exact: Metrics,
    /// Bytes per photo of the compact vector (codes and offset).
    pub bytes: usize,
    /// The same over the split's captions with a word that no caption of the train split
    /// has (each ranks all the split's photos; a photo ranks only those captions).
    pub unseen_words: UnseenWords,
}

/// The metrics of [`Measured`] over the captions with a word never seen in training.
#[derive(Clone, Copy, Debug)]
pub struct UnseenWords {
    /// How many of the split's captions have such a word.
    pub captions: usize,
    /// Through the compact projection, as search ranks; `None` when no caption has one.
    pub compact: Option<Metrics>,
    /// With the full joint vectors; `None` when no caption has one.
    pub exact: Option<Metrics>,
}

/// Starts measuring the model in `dir` on `split` both ways (`glimpse eval`).
pub fn start_measure_both(
    setup: ModelSetup,
    dir: PathBuf,
    split: Split,
    waker: Option<Waker>,
) -> Result<Job<TrainEvent, Result<Measured>>> {
    Job::spawn("glimpse-eval", 64, waker, move |cx| {
        let (model, backbone) = setup.open(&dir)?;
        let codec = recipe::model_codec(&model)?;
        let flickr8k = Flickr8k::open(&setup.flickr8k)?;
        let items = flickr8k.split(split)?;
        let seen = WordCounts::from_captions(flickr8k.split(Split::Train)?.iter().flat_map(|i| &i.captions));
        let embedded = recipe::embed_split(&model, &backbone, &items, &setup.cache_dir, &cx)?;
        let compacted = embedded.compacted(&codec);
        let unseen = recipe::captions_with_unseen_words(&items, &embedded.kept, &seen);
        let subset = |split: &EmbeddedSplit| -> Result<Option<Metrics>> {
            if unseen.is_empty() { Ok(None) } else { split.with_captions(&unseen).metrics().map(Some) }
        };
        Ok(Measured {
            compact: compacted.metrics()?,
            exact: embedded.metrics()?,
            bytes: codec.dim() + 4,
            unseen_words: UnseenWords {
                captions: unseen.len(),
                compact: subset(&compacted)?,
                exact: subset(&embedded)?,
            },
        })
    })
}

/// One candidate compact projection, measured on dev.
#[derive(Clone, Copy, Debug)]
pub struct CompactTrial {
    /// Dimensions kept.
    pub dim: usize,
    /// Quantile of the training photos' magnitudes the int8 range covers.
    pub clip: f32,
    /// Dev metrics through it.
    pub dev: Metrics,
}

/// What `glimpse compact` measured, and what it wrote.
#[derive(Clone, Debug)]
pub struct CompactReport {
    /// Dev metrics at full precision.
    pub exact: Metrics,
    /// Dev metrics keeping every dimension at one byte ([`crate::index::compact::Codec::plain`]).
    pub plain: Metrics,
    /// Dimensions of the joint space.
    pub plain_dim: usize,
    /// Each fitted candidate.
    pub trials: Vec<CompactTrial>,
    /// The manifest, when a projection was written into the model folder.
    pub written: Option<JointManifest>,
}

impl CompactReport {
    /// Bytes per photo keeping every dimension at one byte, with the offset.
    pub fn plain_bytes(&self) -> usize {
        self.plain_dim + 4
    }
}

/// Starts fitting compact projections of the model in `dir` on Flickr8k train photos and
/// captions, one per `(dims, clip)` pair, and measuring each on dev (`glimpse compact`);
/// with `write`, the single candidate is stored in the model folder.
pub fn start_compact(
    setup: ModelSetup,
    dir: PathBuf,
    candidates: Vec<(usize, f32)>,
    write: bool,
    waker: Option<Waker>,
) -> Result<Job<TrainEvent, Result<CompactReport>>> {
    if write && candidates.len() != 1 {
        return Err(Error::Invalid("writing a compact projection needs exactly one size and clip".into()));
    }
    Job::spawn("glimpse-compact", 64, waker, move |cx| {
        cx.send(TrainEvent::Note("embedding Flickr8k train and dev…".into()));
        let train = setup.embed_split(&dir, Split::Train, &cx)?;
        let dev = setup.embed_split(&dir, Split::Dev, &cx)?;
        let plain = dev.compacted(&crate::index::compact::Codec::plain(dev.dim)).metrics()?;
        let mut report =
            CompactReport { exact: dev.metrics()?, plain, plain_dim: dev.dim, trials: Vec::new(), written: None };
        for &(dims, clip) in &candidates {
            if cx.should_stop() {
                return Err(Error::Invalid("stopped; the model was not changed".into()));
            }
            cx.send(TrainEvent::Note(format!("fitting {dims} dimensions (clip {clip})…")));
            let codec = super::compact::fit(&train.images, &train.captions, train.dim, dims, clip, 1)?;
            report.trials.push(CompactTrial { dim: dims, clip, dev: dev.compacted(&codec).metrics()? });
            if write {
                report.written = Some(super::compact::store(&dir, &codec)?);
            }
        }
        Ok(report)
    })
}

//! The whole recipe on Flickr8k, as one job the CLI and the app start: read the dataset,
//! get the photos' backbone features (cached), build the vocabulary and its GloVe matrix,
//! train, and export the best epoch as a model folder. Also the evaluation of an exported
//! model on a split, through the engine exactly as search runs it.

use std::path::PathBuf;
use std::time::Instant;

use ndarray::Array2;

use super::eval::{Metrics, evaluate_with_ranks};
use super::export::export;
use super::features::{FeatureCache, PhotoFeatures};
use super::model::{FeatureSlice, ModelConfig, TextEncoderKind};
use super::trainer::{EpochReport, Pairs, Substitution, TrainConfig, TrainEvent, train_with};
use crate::dataset::{Flickr8k, ImageCaptions, Split};
use crate::engine::Backbone;
use crate::index::compact::Codec;
use crate::job::{Job, JobContext, Waker};
use crate::model::ExportedModel;
use crate::model::manifest::{JointManifest, TrainingRecord};
use crate::text::{DEFAULT_OOV_SEED, Glove, Vocab, VocabSettings, WordCounts, embedding_matrix};
use crate::{Error, Result};

/// Everything a training run on Flickr8k needs.
#[derive(Clone)]
pub struct Flickr8kTraining {
    /// The Flickr8k folder (official or Kaggle layout).
    pub flickr8k: PathBuf,
    /// A GloVe text file (plain or gzip).
    pub glove: PathBuf,
    /// The model folder to write.
    pub out: PathBuf,
    /// The feature cache folder.
    pub cache_dir: PathBuf,
    /// The backbone whose features the model learns from.
    pub backbone: Backbone,
    /// How the vocabulary is built.
    pub vocab: VocabSettings,
    /// Trainable word-vector dimensions added after GloVe's (0 = GloVe's dimension only):
    /// a mean of 50-d vectors can only span 50 directions of the joint space.
    pub extra_word_dims: usize,
    /// Joint-space dimension.
    pub joint_dim: usize,
    /// Hidden width of the image head (`None`: linear).
    pub image_hidden: Option<usize>,
    /// The text tower's encoder.
    pub text_encoder: TextEncoderKind,
    /// The backbone features the image head reads (`None`: all of them).
    pub feature_slice: Option<FeatureSlice>,
    /// The training settings.
    pub train: TrainConfig,
}

/// What a finished run produced.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// The manifest of the exported model.
    pub manifest: JointManifest,
    /// The exported epoch (from 1).
    pub best_epoch: usize,
    /// Its dev metrics.
    pub dev: Metrics,
    /// Every finished epoch.
    pub history: Vec<EpochReport>,
    /// True when the run was stopped early by the user.
    pub stopped: bool,
    /// Seconds for the whole run.
    pub seconds: f64,
}

/// Starts training in the background (thread `glimpse-train`).
pub fn start(run: Flickr8kTraining, waker: Option<Waker>) -> Result<Job<TrainEvent, Result<TrainReport>>> {
    Job::spawn("glimpse-train", 64, waker, move |cx| train_flickr8k(&run, &cx))
}

/// Backbone features of `items`' photos from the cache (computing what is missing), with
/// progress as [`TrainEvent::Features`]; photos that fail are reported and left out.
pub fn split_features(
    cache: &mut FeatureCache,
    backbone: &Backbone,
    items: &[ImageCaptions],
    cx: &JobContext<TrainEvent>,
) -> Result<PhotoFeatures> {
    let photos: Vec<(String, PathBuf)> = items.iter().map(|i| (i.image.clone(), i.path.clone())).collect();
    let mut last = std::time::Instant::now();
    let features = cache.features(backbone, &photos, &mut |p| {
        // Progress at most 10 times a second.
        if p.computed == p.to_compute || last.elapsed().as_millis() >= 100 {
            last = std::time::Instant::now();
            if !cx.send(TrainEvent::Features { done: p.computed, total: p.to_compute }) {
                return false;
            }
        }
        !cx.should_stop()
    })?;
    for (path, reason) in features.failed.iter().take(5) {
        cx.send(TrainEvent::Note(format!("skipped {}: {reason}", path.display())));
    }
    if features.stopped {
        return Err(Error::Stopped(format!(
            "while computing photo features; the {} computed so far are kept in the feature cache for the next run",
            features.computed
        )));
    }
    Ok(features)
}

/// Keeps only the columns of `slice` of every photo's features (all of them for `None`).
fn slice_features(mut features: PhotoFeatures, slice: Option<FeatureSlice>) -> PhotoFeatures {
    if let Some(FeatureSlice { start, end }) = slice {
        let dim = features.dim;
        features.data = features.data.chunks_exact(dim).flat_map(|row| row[start..end].iter().copied()).collect();
        features.dim = end - start;
    }
    features
}

/// Turns a split's photos (those with features) and captions into [`Pairs`].
pub fn pairs(items: &[ImageCaptions], features: PhotoFeatures, vocab: &Vocab) -> Pairs {
    let seq_len = vocab.settings().seq_len;
    let mut out = Pairs { feature_dim: features.dim, features: features.data, seq_len, ..Pairs::default() };
    for (row, &i) in features.kept.iter().enumerate() {
        for caption in &items[i].captions {
            out.ids.extend(vocab.encode(caption).ids);
            out.caption_image.push(row);
        }
    }
    out
}

/// A run's data made ready for the trainer: the vocabulary, the model's shape, its starting
/// word vectors and both splits as pairs.
pub struct Prepared {
    /// The vocabulary built from the training captions.
    pub vocab: Vocab,
    /// The model's shape.
    pub model: ModelConfig,
    /// Starting word vectors, `[vocab, word_dim]` row-major.
    pub words: Vec<f32>,
    /// The train split.
    pub train: Pairs,
    /// The dev split.
    pub dev: Pairs,
    /// Which words have a GloVe vector, for substitution.
    pub substitution: Substitution,
}

/// Reads the dataset, fills the feature cache, builds the vocabulary and the starting word
/// vectors: everything before the first training step.
pub fn prepare(run: &Flickr8kTraining, cx: &JobContext<TrainEvent>) -> Result<Prepared> {
    let data = Flickr8k::open(&run.flickr8k)?;
    for warning in &data.warnings {
        cx.send(TrainEvent::Note(format!("warning: {warning}")));
    }
    if let Some(slice) = run.feature_slice {
        slice.check(run.backbone.dim())?;
    }
    let train_items = data.split(Split::Train)?;
    let dev_items = data.split(Split::Dev)?;
    let mut cache = FeatureCache::open(&run.cache_dir, &run.backbone.model().clone());
    if let Some(notice) = &cache.notice {
        cx.send(TrainEvent::Note(notice.clone()));
    }
    let train_features = split_features(&mut cache, &run.backbone, &train_items, cx)?;
    let dev_features = split_features(&mut cache, &run.backbone, &dev_items, cx)?;
    cx.send(TrainEvent::Note(format!(
        "features: {} photos from the cache, {} computed ({})",
        train_features.reused + dev_features.reused,
        train_features.computed + dev_features.computed,
        cache.path().display()
    )));

    let counts = WordCounts::from_captions(train_items.iter().flat_map(|i| i.captions.iter()));
    let (vocab, glove) = if run.vocab.keep_glove_words {
        let glove = Glove::load(&run.glove, |w| counts.count(w) > 0)?;
        let vocab = Vocab::build_with_vectors(&counts, run.vocab.clone(), |w| glove.get(w).is_some())?;
        (vocab, glove)
    } else {
        let vocab = Vocab::build(&counts, run.vocab.clone())?;
        let glove = Glove::load_for_vocab(&run.glove, &vocab)?;
        (vocab, glove)
    };
    let matrix = embedding_matrix(&vocab, &glove, DEFAULT_OOV_SEED);
    cx.send(TrainEvent::Note(format!("vocabulary: {} ids; GloVe {}", vocab.len(), matrix.coverage)));
    let (word_dim, words) = widen(&matrix.data, matrix.dim, run.extra_word_dims, run.train.seed);
    let first = crate::text::vocab::FIRST_WORD_ID as usize;
    let has = (0..vocab.len()).map(|id| id >= first && glove.get(&vocab.words()[id - first]).is_some()).collect();
    let substitution = Substitution { dim: matrix.dim, has };

    let train_pairs = pairs(&train_items, slice_features(train_features, run.feature_slice), &vocab);
    let dev_pairs = pairs(&dev_items, slice_features(dev_features, run.feature_slice), &vocab);
    cx.send(TrainEvent::Note(format!(
        "training on {} photos / {} captions, choosing on {} dev photos / {} captions",
        train_pairs.images(),
        train_pairs.captions(),
        dev_pairs.images(),
        dev_pairs.captions()
    )));
    let model = ModelConfig {
        feature_dim: run.backbone.dim(),
        image_hidden: run.image_hidden,
        vocab_size: vocab.len(),
        word_dim,
        joint_dim: run.joint_dim,
        text_encoder: run.text_encoder,
        feature_slice: run.feature_slice,
    };
    Ok(Prepared { vocab, model, words, train: train_pairs, dev: dev_pairs, substitution })
}

fn train_flickr8k(run: &Flickr8kTraining, cx: &JobContext<TrainEvent>) -> Result<TrainReport> {
    let started = Instant::now();
    let Prepared { vocab, model, words, train: train_pairs, dev: dev_pairs, substitution } = prepare(run, cx)?;
    let trained = train_with(&model, &words, Some(&substitution), &run.train, &train_pairs, &dev_pairs, cx)?;
    if trained.best_epoch == 0 {
        return Err(Error::Stopped(
            "before the first epoch finished, so no model was written; the photo features are kept in the feature cache for the next run".into(),
        ));
    }
    let seconds = started.elapsed().as_secs_f64();
    let record = TrainingRecord {
        data: format!("flickr8k train ({} photos, {} captions)", train_pairs.images(), train_pairs.captions()),
        glove: run.glove.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        config: run.train.clone(),
        best_epoch: trained.best_epoch,
        dev: trained.best,
        seconds,
    };
    let manifest = export(&run.out, &trained.two_tower()?, &model, &vocab, run.backbone.model(), Some(record))?;
    Ok(TrainReport {
        manifest,
        best_epoch: trained.best_epoch,
        dev: trained.best,
        history: trained.history,
        stopped: trained.stopped,
        seconds,
    })
}

/// Appends `extra` columns to each row of a `[rows, dim]` matrix: small seeded values
/// (uniform in ±0.17, σ ≈ 0.1) for every row but padding (row 0), which stays zero.
fn widen(data: &[f32], dim: usize, extra: usize, seed: u64) -> (usize, Vec<f32>) {
    if extra == 0 {
        return (dim, data.to_vec());
    }
    let mut rng = super::rng::Rng::new(seed ^ 0x776f_7264);
    let mut out = Vec::with_capacity(data.len() / dim * (dim + extra));
    for (row, values) in data.chunks_exact(dim).enumerate() {
        out.extend_from_slice(values);
        out.extend((0..extra).map(|_| if row == 0 { 0.0 } else { rng.range(-0.17, 0.17) }));
    }
    (dim + extra, out)
}

/// Measures an exported model on a Flickr8k split: photos through the backbone (cached by
/// content) and the exported image head, captions through the vocabulary and the exported
/// text encoder, all in ONNX Runtime.
pub fn evaluate_exported(
    model: &ExportedModel,
    backbone: &Backbone,
    flickr8k: &std::path::Path,
    split: Split,
    cache_dir: &std::path::Path,
    cx: &JobContext<TrainEvent>,
) -> Result<Metrics> {
    let items = Flickr8k::open(flickr8k)?.split(split)?;
    Ok(rank_captions(model, backbone, &items, cache_dir, cx)?.metrics)
}

/// The compact projection search stores with `model`'s vectors (see [`crate::index::compact`]).
pub fn model_codec(model: &ExportedModel) -> Result<Codec> {
    Codec::for_model(&model.dir, model.manifest.compact_file(), model.dim())
}

/// Where a model ranks each caption's photo among a split's photos.
#[derive(Clone, Debug)]
pub struct CaptionRanks {
    /// Recalls over the whole split.
    pub metrics: Metrics,
    /// `ranks[i][c]`: the text→image rank (1 is best) of `items[i]`'s photo for its caption
    /// `c`; empty for a photo whose features could not be computed.
    pub ranks: Vec<Vec<usize>>,
}

/// A split's photos and captions in a model's joint space (unit rows, row-major).
#[derive(Clone, Debug)]
pub struct EmbeddedSplit {
    /// Joint dimension.
    pub dim: usize,
    /// One row per kept photo.
    pub images: Vec<f32>,
    /// One row per caption of the kept photos, in order.
    pub captions: Vec<f32>,
    /// The row in `images` of each caption's photo.
    pub caption_image: Vec<usize>,
    /// The index in `items` of each kept photo (photos whose features failed are left out).
    pub kept: Vec<usize>,
    /// Each kept photo's hubness offset (zero for a model that is not calibrated): search
    /// ranks by cosine minus offset.
    pub offsets: Vec<f32>,
}

/// Runs `items` through an exported model exactly as search does: photos through the
/// backbone (cached by content) and the image head, captions through the text encoder.
pub fn embed_split(
    model: &ExportedModel,
    backbone: &Backbone,
    items: &[ImageCaptions],
    cache_dir: &std::path::Path,
    cx: &JobContext<TrainEvent>,
) -> Result<EmbeddedSplit> {
    model.check_backbone(backbone.model())?;
    let mut cache = FeatureCache::open(cache_dir, &backbone.model().clone());
    let features = split_features(&mut cache, backbone, items, cx)?;
    let (dim, kept) = (features.dim, features.kept.clone());
    let features = Array2::from_shape_vec((kept.len(), dim), features.data)
        .map_err(|e| Error::Invalid(format!("feature matrix: {e}")))?;
    let (images, offsets) = model.embed_features_with_offsets(features.view())?;
    let mut texts = Vec::new();
    let mut caption_image = Vec::new();
    for (row, &i) in kept.iter().enumerate() {
        for caption in &items[i].captions {
            texts.push(caption.as_str());
            caption_image.push(row);
        }
    }
    let mut captions = Vec::with_capacity(texts.len() * model.dim());
    for chunk in texts.chunks(1024) {
        captions.extend(model.embed_texts(chunk)?.iter().copied());
    }
    let images: Vec<f32> = images.iter().copied().collect();
    Ok(EmbeddedSplit { dim: model.dim(), images, captions, caption_image, kept, offsets })
}

impl EmbeddedSplit {
    /// The split as search ranks it through `codec`: each photo's vector as its codes stand
    /// for it, each caption projected (not quantised), so that their dot products are the
    /// scores search computes.
    pub fn compacted(&self, codec: &Codec) -> EmbeddedSplit {
        let images = self.images.chunks_exact(self.dim).flat_map(|x| codec.decode(&codec.encode(x))).collect();
        let captions = self.captions.chunks_exact(self.dim).flat_map(|t| codec.project(t)).collect();
        EmbeddedSplit {
            dim: codec.dim(),
            images,
            captions,
            caption_image: self.caption_image.clone(),
            kept: self.kept.clone(),
            offsets: self.offsets.clone(),
        }
    }

    /// The split with only the captions of rows `captions` (in `self.captions`' order) and
    /// every photo: each of those captions still ranks all photos, and a photo ranks only
    /// those captions (a photo with none of them counts for no image→text rank).
    pub fn with_captions(&self, captions: &[usize]) -> EmbeddedSplit {
        let rows = captions.iter().flat_map(|&c| self.captions[c * self.dim..(c + 1) * self.dim].iter().copied());
        EmbeddedSplit {
            dim: self.dim,
            images: self.images.clone(),
            captions: rows.collect(),
            caption_image: captions.iter().map(|&c| self.caption_image[c]).collect(),
            kept: self.kept.clone(),
            offsets: self.offsets.clone(),
        }
    }

    /// Recalls of this split's vectors as they are.
    pub fn metrics(&self) -> Result<Metrics> {
        Ok(evaluate_with_ranks(&self.images, &self.captions, self.dim, &self.caption_image, &self.offsets)?.0)
    }
}

/// The caption rows of [`embed_split`] (the captions of the kept photos `kept` of `items`,
/// in order) that have at least one word no caption counted in `seen` has: what `glimpse
/// eval` measures apart as captions with unseen words.
pub fn captions_with_unseen_words(items: &[ImageCaptions], kept: &[usize], seen: &WordCounts) -> Vec<usize> {
    kept.iter()
        .flat_map(|&i| &items[i].captions)
        .enumerate()
        .filter(|(_, caption)| crate::text::tokenize(caption).iter().any(|w| seen.count(w) == 0))
        .map(|(row, _)| row)
        .collect()
}

/// Ranks every caption's photo among all of `items`' photos, as search would (through the
/// model's compact projection).
pub fn rank_captions(
    model: &ExportedModel,
    backbone: &Backbone,
    items: &[ImageCaptions],
    cache_dir: &std::path::Path,
    cx: &JobContext<TrainEvent>,
) -> Result<CaptionRanks> {
    let EmbeddedSplit { dim, images, captions, caption_image, kept, offsets } =
        embed_split(model, backbone, items, cache_dir, cx)?.compacted(&model_codec(model)?);
    let (metrics, flat) = evaluate_with_ranks(&images, &captions, dim, &caption_image, &offsets)?;
    let mut ranks = vec![Vec::new(); items.len()];
    let mut flat = flat.into_iter();
    for &i in &kept {
        ranks[i] = flat.by_ref().take(items[i].captions.len()).collect();
    }
    Ok(CaptionRanks { metrics, ranks })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(image: &str, captions: &[&str]) -> ImageCaptions {
        ImageCaptions {
            image: image.into(),
            path: image.into(),
            captions: captions.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn a_caption_counts_as_unseen_when_one_of_its_words_is_in_no_training_caption() {
        let seen = WordCounts::from_captions(["a dog runs", "the red square"]);
        let items = [
            item("0.jpg", &["A dog runs", "a giraffe runs"]),
            item("1.jpg", &["the RED square!", "a red zebra"]),
            item("2.jpg", &["a xyzzy"]),
        ];
        // Photo 1 was left out (its features failed): rows are photo 0's captions, then 2's.
        assert_eq!(captions_with_unseen_words(&items, &[0, 2], &seen), [1, 2]);
        assert_eq!(captions_with_unseen_words(&items, &[0, 1, 2], &seen), [1, 3, 4]);
    }

    #[test]
    fn a_split_cut_to_some_captions_ranks_them_against_every_photo() {
        // Photos along the axes; caption 0 finds photo 0 first, caption 1 (photo 1) ranks it
        // second, caption 2 (photo 1) first.
        let split = EmbeddedSplit {
            dim: 2,
            images: vec![1.0, 0.0, 0.0, 1.0],
            captions: vec![1.0, 0.0, 0.8, 0.6, 0.0, 1.0],
            caption_image: vec![0, 1, 1],
            kept: vec![0, 1],
            offsets: vec![0.0, 0.0],
        };
        let all = split.metrics().unwrap();
        let cut = split.with_captions(&[1]);
        assert_eq!((cut.caption_image.as_slice(), cut.captions.as_slice()), (&[1][..], &[0.8, 0.6][..]));
        let m = cut.metrics().unwrap();
        assert_eq!((m.images, m.captions), (2, 1));
        assert_eq!((m.t2i.r1, m.t2i.r5, m.t2i.medr), (0.0, 100.0, 2.0));
        assert!((all.t2i.r1 - 200.0 / 3.0).abs() < 1e-9, "{:?}", all.t2i);
    }
}

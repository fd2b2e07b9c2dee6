//! The training loop: AdamW over shuffled batches of (photo features, caption) pairs, a
//! learning-rate schedule, evaluation on dev after every epoch, the best epoch kept by dev
//! R@sum, early stopping, and a stop flag that ends the run with the best model so far.
//!
//! Every random choice (starting weights, batches, negatives, dropout) comes from the
//! run's seed, so a seed gives the same result.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::eval::{Metrics, evaluate};
use super::loss::{Mining, triplet_loss};
use super::model::{ModelConfig, TextEncoderKind, TwoTower, candle_err, init_vars};
use super::rng::Rng;
use crate::job::JobContext;
pub use crate::model::config::{Schedule, TrainConfig};
use crate::{Error, Result};

/// Photo features and captions as ids: one split's training or evaluation data.
#[derive(Clone, Debug, Default)]
pub struct Pairs {
    /// Backbone feature dimension.
    pub feature_dim: usize,
    /// `photos × feature_dim`, row-major.
    pub features: Vec<f32>,
    /// Ids per caption.
    pub seq_len: usize,
    /// `captions × seq_len` word ids, padding 0.
    pub ids: Vec<u32>,
    /// The photo (row of `features`) of each caption.
    pub caption_image: Vec<usize>,
}

impl Pairs {
    /// Photos held.
    pub fn images(&self) -> usize {
        self.features.len() / self.feature_dim.max(1)
    }

    /// Captions held.
    pub fn captions(&self) -> usize {
        self.caption_image.len()
    }

    fn check(&self, what: &str) -> Result<()> {
        let n = self.images();
        if n == 0 || self.features.len() != n * self.feature_dim || self.ids.len() != self.captions() * self.seq_len {
            return Err(Error::Invalid(format!("the {what} data is empty or inconsistent")));
        }
        if self.caption_image.iter().any(|&i| i >= n) {
            return Err(Error::Invalid(format!("a {what} caption points past the last photo")));
        }
        Ok(())
    }
}

/// Progress of a training run.
#[derive(Clone, Debug)]
pub enum TrainEvent {
    /// A line of information for the user (data sizes, cache use, warnings).
    Note(String),
    /// Backbone features of the dataset's photos are being computed (done, to do).
    Features {
        /// Photos embedded so far.
        done: usize,
        /// Photos to embed in all.
        total: usize,
    },
    /// Some training steps finished.
    Step {
        /// Epoch, from 1.
        epoch: usize,
        /// Steps done in this epoch.
        step: usize,
        /// Steps per epoch.
        steps: usize,
        /// Mean loss per caption over the steps since the last event.
        loss: f32,
    },
    /// An epoch finished and was evaluated on dev.
    Epoch(EpochReport),
}

/// One epoch's numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochReport {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean loss per caption.
    pub loss: f32,
    /// Negatives used in this epoch.
    pub mining: Mining,
    /// Dev metrics after the epoch.
    pub dev: Metrics,
    /// True when this is the best epoch so far.
    pub best: bool,
    /// Seconds of training (without evaluation).
    pub train_seconds: f64,
}

/// The outcome of a run: the best weights and how they were found.
pub struct Trained {
    /// The model's shape.
    pub model: ModelConfig,
    /// The settings of the run.
    pub config: TrainConfig,
    /// The weights of the best epoch, by name (`image.layer0.weight`, `text.embedding`, …).
    pub weights: VarMap,
    /// The best epoch (from 1) and its dev metrics; epoch 0 means no epoch finished.
    pub best_epoch: usize,
    /// Dev metrics of the best epoch.
    pub best: Metrics,
    /// Every finished epoch.
    pub history: Vec<EpochReport>,
    /// True when the stop flag ended the run early.
    pub stopped: bool,
}

impl Trained {
    /// The model with the best weights.
    pub fn two_tower(&self) -> Result<TwoTower> {
        TwoTower::new(&self.model, VarBuilder::from_varmap(&self.weights, DType::F32, &Device::Cpu)).map_err(candle_err)
    }
}

/// Embeds a split with `model` and measures retrieval on it.
pub fn evaluate_model(model: &TwoTower, data: &Pairs) -> Result<Metrics> {
    let (images, captions, dim) = embed_pairs(model, data).map_err(candle_err)?;
    evaluate(&images, &captions, dim, &data.caption_image)
}

/// Joint vectors of every photo and caption of `data`.
pub fn embed_pairs(model: &TwoTower, data: &Pairs) -> candle_core::Result<(Vec<f32>, Vec<f32>, usize)> {
    let dev = Device::Cpu;
    let features = Tensor::from_slice(&data.features, (data.images(), data.feature_dim), &dev)?;
    let images = model.image.forward(&features)?.detach();
    let dim = images.dim(1)?;
    let mut captions = Vec::with_capacity(data.captions() * dim);
    // Chunks bound the [N, L, E] gather in memory.
    for chunk in data.ids.chunks(1024 * data.seq_len) {
        let ids = Tensor::from_slice(chunk, (chunk.len() / data.seq_len, data.seq_len), &dev)?;
        captions.extend(model.text.forward(&ids)?.detach().flatten_all()?.to_vec1::<f32>()?);
    }
    Ok((images.flatten_all()?.to_vec1::<f32>()?, captions, dim))
}

fn snapshot(varmap: &VarMap) -> Result<HashMap<String, Tensor>> {
    let data = varmap.data().lock().map_err(|_| Error::Invalid("the model's weights are poisoned".into()))?;
    data.iter().map(|(k, v)| Ok((k.clone(), v.as_tensor().copy().map_err(candle_err)?))).collect()
}

/// Trains a model of shape `model` from `embedding` (its starting word vectors) on `train`,
/// choosing the epoch by `dev`, reporting through `cx`.
pub fn train(
    model: &ModelConfig,
    embedding: &[f32],
    config: &TrainConfig,
    train: &Pairs,
    dev: &Pairs,
    cx: &JobContext<TrainEvent>,
) -> Result<Trained> {
    train_with(model, embedding, None, config, train, dev, cx)
}

/// [`train`] where `substitution` says which words have a GloVe vector, for
/// [`TrainConfig::glove_substitution`] (without it, no word is substituted).
pub fn train_with(
    model: &ModelConfig,
    embedding: &[f32],
    substitution: Option<&Substitution>,
    config: &TrainConfig,
    train: &Pairs,
    dev: &Pairs,
    cx: &JobContext<TrainEvent>,
) -> Result<Trained> {
    config.check()?;
    train.check("training")?;
    dev.check("dev")?;
    let width = model.head_input_dim();
    if train.feature_dim != width || dev.feature_dim != width {
        return Err(Error::Invalid("the features do not have the model's dimension".into()));
    }
    let varmap = VarMap::new();
    init_vars(&varmap, model, embedding, config.seed)?;
    let net = TwoTower::new(model, VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).map_err(candle_err)?;
    let (embedding_vars, head_vars): (Vec<_>, Vec<_>) = {
        let data = varmap.data().lock().map_err(|_| Error::Invalid("the model's weights are poisoned".into()))?;
        let mut named: Vec<_> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named.into_iter().partition(|(k, _)| k == "text.embedding")
    };
    let params = |lr| ParamsAdamW { lr, weight_decay: config.weight_decay, ..ParamsAdamW::default() };
    let mut head_opt =
        AdamW::new(head_vars.into_iter().map(|v| v.1).collect(), params(config.lr)).map_err(candle_err)?;
    let embedding_lr = config.lr * config.embedding_lr_scale;
    let mut embedding_opt = AdamW::new(
        if embedding_lr > 0.0 { embedding_vars.into_iter().map(|v| v.1).collect() } else { Vec::new() },
        params(embedding_lr),
    )
    .map_err(candle_err)?;

    let mut rng = Rng::new(config.seed.wrapping_add(1));
    let recurrent = !matches!(model.text_encoder, TextEncoderKind::Mean);
    let n = train.captions();
    let steps = n.div_ceil(config.batch_size);
    let total_steps = (steps * config.epochs) as f64;
    let mut order: Vec<usize> = (0..n).collect();
    let mut best: Option<(usize, Metrics, HashMap<String, Tensor>)> = None;
    let mut history = Vec::new();
    let mut stopped = false;
    let mut since_best = 0;
    let substitution = substitution.filter(|s| config.glove_substitution > 0.0 && s.dim <= model.word_dim);
    // GloVe's part of the starting rows: the map's input, fixed while the rows train.
    let glove: Vec<f32> = match substitution {
        Some(sub) => embedding.chunks_exact(model.word_dim).flat_map(|row| row[..sub.dim].iter().copied()).collect(),
        None => Vec::new(),
    };
    'epochs: for epoch in 1..=config.epochs {
        let started = Instant::now();
        let mapped = match substitution {
            Some(sub) => Some(sub.mapped(net.text.embedding(), &glove)?),
            None => None,
        };
        let substituted = mapped.as_ref().zip(substitution).map(|(m, s)| (m, s.has.as_slice()));
        let mining = if epoch <= config.warmup_epochs { Mining::Sum } else { config.mining };
        rng.shuffle(&mut order);
        let batches = batches(&order, train, config.batch_size, recurrent, &mut rng);
        let (mut epoch_loss, mut window_loss, mut window_n) = (0.0f64, 0.0f64, 0usize);
        for (step, batch) in batches.iter().enumerate() {
            if cx.should_stop() {
                stopped = true;
                break 'epochs;
            }
            // A lone last caption has no negatives; its epoch is done.
            if batch.len() < 2 {
                continue;
            }
            let factor = config.lr_factor(((epoch - 1) * steps + step) as f64 / total_steps);
            head_opt.set_learning_rate(config.lr * factor);
            embedding_opt.set_learning_rate(embedding_lr * factor);
            let loss = train_step(&net, train, batch, config, mining, substituted, &mut rng).map_err(candle_err)?;
            let value = loss.to_scalar::<f32>().map_err(candle_err)?;
            let grads = loss.backward().map_err(candle_err)?;
            head_opt.step(&grads).map_err(candle_err)?;
            embedding_opt.step(&grads).map_err(candle_err)?;
            epoch_loss += f64::from(value);
            window_loss += f64::from(value);
            window_n += batch.len();
            // About 20 updates an epoch are plenty for a progress display.
            if (step + 1) % steps.div_ceil(20).max(1) == 0 || step + 1 == steps {
                let loss = (window_loss / window_n.max(1) as f64) as f32;
                if !cx.send(TrainEvent::Step { epoch, step: step + 1, steps, loss }) {
                    stopped = true;
                    break 'epochs;
                }
                (window_loss, window_n) = (0.0, 0);
            }
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let metrics = evaluate_model(&net, dev)?;
        let is_best = best.as_ref().is_none_or(|b| metrics.rsum() > b.1.rsum());
        if is_best {
            best = Some((epoch, metrics, snapshot(&varmap)?));
            since_best = 0;
        } else {
            since_best += 1;
        }
        let report = EpochReport {
            epoch,
            loss: (epoch_loss / n as f64) as f32,
            mining,
            dev: metrics,
            best: is_best,
            train_seconds,
        };
        history.push(report.clone());
        if !cx.send(TrainEvent::Epoch(report)) {
            stopped = true;
            break;
        }
        if config.patience > 0 && since_best >= config.patience && epoch > config.warmup_epochs {
            cx.send(TrainEvent::Note(format!("no better dev R@sum for {} epochs: stopping early", config.patience)));
            break;
        }
    }
    let (best_epoch, best_metrics, weights) = match best {
        Some(b) => b,
        None => (0, Metrics::default(), snapshot(&varmap)?),
    };
    let best_map = VarMap::new();
    {
        let mut data = best_map.data().lock().map_err(|_| Error::Invalid("the model's weights are poisoned".into()))?;
        for (name, tensor) in weights {
            data.insert(name, candle_core::Var::from_tensor(&tensor).map_err(candle_err)?);
        }
    }
    Ok(Trained {
        model: model.clone(),
        config: config.clone(),
        weights: best_map,
        best_epoch,
        best: best_metrics,
        history,
        stopped,
    })
}

/// Batches per step in pools this many batches long are of about one caption length.
const LENGTH_POOL: usize = 50;

/// The words a run may read through the map from GloVe vectors to word vectors
/// ([`TrainConfig::glove_substitution`]): the map a model's open vocabulary gives the words it
/// never trained on, fitted again on the trained vectors at the start of every epoch, so the
/// encoder learns to read such vectors as the exported model will.
#[derive(Clone, Debug, Default)]
pub struct Substitution {
    /// GloVe's columns at the start of each row of the starting embedding.
    pub dim: usize,
    /// Per id: whether the word has a GloVe vector (never padding or unknown).
    pub has: Vec<bool>,
}

/// The ridge penalty of the map, as a multiple of the words fitted: what
/// `glimpse repack --glove` chose for every member of the shipped model.
const SUBSTITUTION_RIDGE: f64 = 1e-3;

impl Substitution {
    /// Each id's vector through the map fitted from `glove` (`[V, dim]`) to the embedding's
    /// rows as they are now, `[V, E]`; rows of words without a GloVe vector are zero (never read).
    fn mapped(&self, embedding: &Tensor, glove: &[f32]) -> Result<Tensor> {
        let (rows, width) = embedding.dims2().map_err(candle_err)?;
        let trained: Vec<f32> = embedding.flatten_all().and_then(|t| t.to_vec1()).map_err(candle_err)?;
        let ids: Vec<usize> = (0..rows).filter(|&i| self.has.get(i).copied().unwrap_or(false)).collect();
        let x: Vec<&[f32]> = ids.iter().map(|&i| &glove[i * self.dim..(i + 1) * self.dim]).collect();
        let y: Vec<&[f32]> = ids.iter().map(|&i| &trained[i * width..(i + 1) * width]).collect();
        let map = super::open_vocab::ridge_fit(&x, &y, SUBSTITUTION_RIDGE)?;
        let mut out = vec![0.0f32; rows * width];
        for (&i, x) in ids.iter().zip(&x) {
            out[i * width..(i + 1) * width].copy_from_slice(&map.apply(x));
        }
        Tensor::from_vec(out, (rows, width), &Device::Cpu).map_err(candle_err)
    }
}

/// An epoch's captions (`order`, shuffled) in batches. A recurrent encoder costs as many
/// steps as the longest caption of its batch, so for one the captions are sorted by length
/// within pools of [`LENGTH_POOL`] batches and the batches shuffled: about half the steps
/// of random batches on Flickr8k, and each batch still draws on a random tenth of the data.
fn batches(order: &[usize], data: &Pairs, batch_size: usize, by_length: bool, rng: &mut Rng) -> Vec<Vec<usize>> {
    if !by_length {
        return order.chunks(batch_size).map(<[usize]>::to_vec).collect();
    }
    let words = |c: usize| {
        data.ids[c * data.seq_len..(c + 1) * data.seq_len].iter().filter(|&&id| id != crate::text::PAD_ID).count()
    };
    let mut out = Vec::new();
    for pool in order.chunks(batch_size * LENGTH_POOL) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&c| words(c));
        out.extend(pool.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut out);
    out
}

/// The loss of one batch (captions `batch` of `data`), with dropout applied.
fn train_step(
    net: &TwoTower,
    data: &Pairs,
    batch: &[usize],
    config: &TrainConfig,
    mining: Mining,
    substituted: Option<(&Tensor, &[bool])>,
    rng: &mut Rng,
) -> candle_core::Result<Tensor> {
    let dev = Device::Cpu;
    let (f, l) = (data.feature_dim, data.seq_len);
    let b = batch.len();
    let groups: Vec<usize> = batch.iter().map(|&c| data.caption_image[c]).collect();
    let mut features = Vec::with_capacity(b * f);
    for &img in &groups {
        features.extend_from_slice(&data.features[img * f..(img + 1) * f]);
    }
    if config.feature_dropout > 0.0 {
        let keep = 1.0 / (1.0 - config.feature_dropout);
        for x in &mut features {
            *x = if rng.uniform() < config.feature_dropout { 0.0 } else { *x * keep };
        }
    }
    let mut ids = Vec::with_capacity(b * l);
    let mut mask = Vec::with_capacity(b * l);
    for &c in batch {
        let row = &data.ids[c * l..(c + 1) * l];
        match substituted {
            // A substituted word reads the mapped table, which follows the vocabulary's rows.
            Some((mapped, has)) => {
                let rows = mapped.dim(0)? as u32;
                ids.extend(row.iter().map(|&id| {
                    let can = has.get(id as usize).copied().unwrap_or(false);
                    if can && rng.uniform() < config.glove_substitution { id + rows } else { id }
                }));
            }
            None => ids.extend_from_slice(row),
        }
        let start = mask.len();
        mask.extend(row.iter().map(|&id| {
            let word = id != crate::text::PAD_ID;
            let dropped = config.word_dropout > 0.0 && word && rng.uniform() < config.word_dropout;
            if word && !dropped { 1.0f32 } else { 0.0 }
        }));
        // Never drop every word of a caption.
        if mask[start..].iter().all(|&m| m == 0.0) {
            for (m, &id) in mask[start..].iter_mut().zip(row) {
                *m = if id != crate::text::PAD_ID { 1.0 } else { 0.0 };
            }
        }
    }
    let features = Tensor::from_vec(features, (b, f), &dev)?;
    let ids = Tensor::from_vec(ids, (b, l), &dev)?;
    let mask = Tensor::from_vec(mask, (b, l), &dev)?;
    let images = net.image.forward(&features)?;
    let captions = match substituted {
        Some((mapped, _)) => net.text.forward_from(&Tensor::cat(&[net.text.embedding(), mapped], 0)?, &ids, &mask)?,
        None => net.text.forward_masked(&ids, &mask)?,
    };
    let sim = images.matmul(&captions.t()?)?;
    triplet_loss(&sim, &groups, config.margin, mining, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_substitution_table_maps_each_glove_vector_as_the_trained_words_are_mapped() {
        // 12 words whose 4 values are their 2 GloVe values and a linear function of them;
        // id 0 (padding), 1 (unknown) and 5 have no GloVe vector.
        let (rows, dim, width) = (12usize, 2usize, 4usize);
        let has: Vec<bool> = (0..rows).map(|i| i >= 2 && i != 5).collect();
        let glove: Vec<f32> = (0..rows * dim).map(|i| ((i * 7 % 11) as f32 * 0.3 - 1.5).sin()).collect();
        let mut trained = Vec::new();
        for g in glove.chunks_exact(dim) {
            trained.extend([g[0], g[1], 2.0 * g[0] - g[1] + 0.5, 0.3 * g[1] - 1.0]);
        }
        let embedding = Tensor::from_vec(trained.clone(), (rows, width), &Device::Cpu).unwrap();
        let mapped = Substitution { dim, has: has.clone() }.mapped(&embedding, &glove).unwrap();
        let mapped: Vec<Vec<f32>> = mapped.to_vec2().unwrap();
        for (id, row) in mapped.iter().enumerate() {
            if has[id] {
                for (m, t) in row.iter().zip(&trained[id * width..(id + 1) * width]) {
                    assert!((m - t).abs() < 0.02, "id {id}: {row:?}");
                }
            } else {
                assert!(row.iter().all(|&v| v == 0.0), "id {id} is never read: {row:?}");
            }
        }
        let few = Substitution { dim, has: (0..rows).map(|i| i == 3 || i == 4).collect() };
        assert!(few.mapped(&embedding, &glove).unwrap_err().to_string().contains("too few"));
    }
}

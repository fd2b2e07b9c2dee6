//! The two-tower model: an image head over backbone features and a text encoder over word
//! ids, both ending in L2-normalised vectors of one joint space, so that a dot product is
//! the cosine similarity search ranks by.
//!
//! Models are plain structs built from a `VarBuilder` (`new(vb)`) with a `forward`; their
//! starting weights are put into the `VarMap` first by [`init_vars`], from a seeded
//! generator and the GloVe matrix, so a run is repeatable.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};

use super::rng::Rng;
pub use crate::model::config::{FeatureSlice, ModelConfig, TextEncoderKind};
use crate::{Error, Result};

/// Below this norm a vector is not scaled up further (avoids dividing by zero for an empty
/// caption); the exported graphs use the same floor.
pub const NORM_EPS: f64 = 1e-12;

/// Turns training errors of candle into library errors.
pub(crate) fn candle_err(e: candle_core::Error) -> Error {
    Error::Invalid(format!("training computation failed: {e}"))
}

/// Rows scaled to unit length: `x / max(‖x‖₂, NORM_EPS)`.
pub fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.maximum(NORM_EPS)?;
    x.broadcast_div(&norm)
}

/// Backbone features `[N, F]` → joint vectors `[N, D]`: a linear layer, or two with a ReLU
/// between them.
pub struct ImageHead {
    layers: Vec<Linear>,
}

impl ImageHead {
    /// Builds the head from `vb` (`layer0`, and `layer1` when there is a hidden layer).
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let mut layers = Vec::new();
        let mut width = config.head_input_dim();
        for (i, out) in config.image_hidden.into_iter().chain([config.joint_dim]).enumerate() {
            layers.push(candle_nn::linear(width, out, vb.pp(format!("layer{i}")))?);
            width = out;
        }
        Ok(ImageHead { layers })
    }

    /// The layers, first to last (for export).
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// Unit joint vectors of a batch of features.
    pub fn forward(&self, features: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = features.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0 {
                x = x.relu()?;
            }
            x = layer.forward(&x)?;
        }
        l2_normalize(&x)
    }
}

/// The weights of a GRU in PyTorch's gate order (reset, update, new), stored input-major
/// so a step is `x @ w_ih + b_ih` and `h @ w_hh + b_hh` without a transpose.
pub struct Gru {
    /// `[E, 3H]`.
    pub w_ih: Tensor,
    /// `[H, 3H]`.
    pub w_hh: Tensor,
    /// `[3H]`.
    pub b_ih: Tensor,
    /// `[3H]`.
    pub b_hh: Tensor,
    /// H.
    pub hidden: usize,
}

impl Gru {
    fn new(word_dim: usize, hidden: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Gru {
            w_ih: vb.get((word_dim, 3 * hidden), "w_ih")?,
            w_hh: vb.get((hidden, 3 * hidden), "w_hh")?,
            b_ih: vb.get(3 * hidden, "b_ih")?,
            b_hh: vb.get(3 * hidden, "b_hh")?,
            hidden,
        })
    }

    /// The hidden states over the words of `ids` `[N, L]` (rows of `embedding`),
    /// averaged over the steps where `mask` `[N, L]` is 1; a step where it is 0 leaves the
    /// state as it was. Steps after the last word of the batch change nothing and are not
    /// computed. Each step gathers its own words: slicing one `[N, L, …]` tensor per step
    /// would cost a full-size gradient per step in the backward pass.
    fn forward(&self, embedding: &Tensor, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (n, len) = ids.dims2()?;
        let hh = self.hidden;
        let mask_rows: Vec<Vec<f32>> = mask.to_vec2()?;
        let steps = (0..len).rev().find(|&t| mask_rows.iter().any(|row| row[t] > 0.0)).map_or(1, |last| last + 1);
        let id_rows: Vec<Vec<u32>> = ids.to_vec2()?;
        let mut h = Tensor::zeros((n, hh), DType::F32, ids.device())?;
        let mut acc = Tensor::zeros((n, hh), DType::F32, ids.device())?;
        for t in 0..steps {
            let step_ids = Tensor::from_iter(id_rows.iter().map(|row| row[t]), ids.device())?;
            let m = Tensor::from_iter(mask_rows.iter().map(|row| row[t]), ids.device())?.reshape((n, 1))?;
            let x = embedding.index_select(&step_ids, 0)?.matmul(&self.w_ih)?.broadcast_add(&self.b_ih)?;
            let g = h.matmul(&self.w_hh)?.broadcast_add(&self.b_hh)?;
            let r = candle_nn::ops::sigmoid(&(x.narrow(1, 0, hh)? + g.narrow(1, 0, hh)?)?)?;
            let z = candle_nn::ops::sigmoid(&(x.narrow(1, hh, hh)? + g.narrow(1, hh, hh)?)?)?;
            let cand = (x.narrow(1, 2 * hh, hh)? + (r * g.narrow(1, 2 * hh, hh)?)?)?.tanh()?;
            let next = (&cand + (z * (&h - &cand)?)?)?;
            h = (&h + (next - &h)?.broadcast_mul(&m)?)?;
            acc = (acc + h.broadcast_mul(&m)?)?;
        }
        let count = mask.sum_keepdim(1)?.maximum(1.0)?;
        acc.broadcast_div(&count)
    }
}

/// Word ids `[N, L]` (u32, padding 0) → joint vectors `[N, D]`: embedding, an encoder
/// over the words that are not padding (their mean, or a GRU's states averaged), linear
/// projection.
pub struct TextEncoder {
    embedding: Tensor,
    gru: Option<Gru>,
    projection: Linear,
}

impl TextEncoder {
    /// Builds the encoder from `vb` (`embedding`, `gru.*` for a GRU, `projection`).
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let embedding = vb.get((config.vocab_size, config.word_dim), "embedding")?;
        let gru = match config.text_encoder {
            TextEncoderKind::Mean => None,
            TextEncoderKind::Gru { hidden } => Some(Gru::new(config.word_dim, hidden, vb.pp("gru"))?),
        };
        let width = config.text_encoder.output_dim(config.word_dim);
        let projection = candle_nn::linear(width, config.joint_dim, vb.pp("projection"))?;
        Ok(TextEncoder { embedding, gru, projection })
    }

    /// The embedding matrix `[V, E]` (for export).
    pub fn embedding(&self) -> &Tensor {
        &self.embedding
    }

    /// The GRU, when the encoder has one (for export).
    pub fn gru(&self) -> Option<&Gru> {
        self.gru.as_ref()
    }

    /// The projection layer (for export).
    pub fn projection(&self) -> &Linear {
        &self.projection
    }

    /// The mask of words that are not padding, `[N, L]` f32.
    pub fn mask(ids: &Tensor) -> candle_core::Result<Tensor> {
        ids.ne(crate::text::PAD_ID)?.to_dtype(DType::F32)
    }

    /// Unit joint vectors of a batch of id sequences.
    pub fn forward(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_masked(ids, &Self::mask(ids)?)
    }

    /// Like [`TextEncoder::forward`] with a given word mask (training drops words this way).
    pub fn forward_masked(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_from(&self.embedding, ids, mask)
    }

    /// Like [`TextEncoder::forward_masked`] with the word vectors read from `table`, whose
    /// first rows are [`TextEncoder::embedding`] and whose later rows, at ids past the
    /// vocabulary, training substitutes for some words (see
    /// [`crate::train::trainer::Substitution`]).
    pub fn forward_from(&self, table: &Tensor, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let pooled = match &self.gru {
            Some(gru) => gru.forward(table, ids, mask)?,
            None => {
                let (n, len) = ids.dims2()?;
                let words = table.index_select(&ids.flatten_all()?, 0)?.reshape((n, len, ()))?;
                let summed = words.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
                let count = mask.sum_keepdim(1)?.maximum(1.0)?;
                summed.broadcast_div(&count)?
            }
        };
        l2_normalize(&self.projection.forward(&pooled)?)
    }
}

/// Both towers.
pub struct TwoTower {
    /// The image side.
    pub image: ImageHead,
    /// The text side.
    pub text: TextEncoder,
}

impl TwoTower {
    /// Builds both towers from `vb` (`image.*`, `text.*`).
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(TwoTower { image: ImageHead::new(config, vb.pp("image"))?, text: TextEncoder::new(config, vb.pp("text"))? })
    }
}

/// Starting weights drawn in order from one generator.
struct Init {
    rng: Rng,
    tensors: Vec<(String, Tensor)>,
}

impl Init {
    /// A tensor of `shape` with values U(−bound, bound).
    fn uniform(&mut self, name: &str, shape: &[usize], bound: f32) -> Result<()> {
        let values: Vec<f32> = (0..shape.iter().product()).map(|_| self.rng.range(-bound, bound)).collect();
        self.tensors.push((name.into(), Tensor::from_vec(values, shape, &Device::Cpu).map_err(candle_err)?));
        Ok(())
    }

    /// A linear layer `inp → out`: weight then bias, U(−1/√in, 1/√in).
    fn linear(&mut self, name: &str, inp: usize, out: usize) -> Result<()> {
        let bound = 1.0 / (inp as f32).sqrt();
        self.uniform(&format!("{name}.weight"), &[out, inp], bound)?;
        self.uniform(&format!("{name}.bias"), &[out], bound)
    }
}

/// Puts the starting weights of a model of `config` into `varmap`: `embedding` (row-major
/// `[vocab_size, word_dim]`, usually GloVe) for the words, and for each linear layer
/// U(−1/√in, 1/√in) weights and biases (PyTorch's default), drawn from `seed`.
pub fn init_vars(varmap: &VarMap, config: &ModelConfig, embedding: &[f32], seed: u64) -> Result<()> {
    if embedding.len() != config.vocab_size * config.word_dim {
        return Err(Error::Invalid(format!(
            "the embedding matrix has {} values, expected {} × {}",
            embedding.len(),
            config.vocab_size,
            config.word_dim
        )));
    }
    let mut init = Init { rng: Rng::new(seed), tensors: Vec::new() };
    let mut width = config.head_input_dim();
    for (i, out) in config.image_hidden.into_iter().chain([config.joint_dim]).enumerate() {
        init.linear(&format!("image.layer{i}"), width, out)?;
        width = out;
    }
    if let TextEncoderKind::Gru { hidden } = config.text_encoder {
        // PyTorch's GRU default: every weight and bias U(−1/√H, 1/√H).
        let bound = 1.0 / (hidden as f32).sqrt();
        init.uniform("text.gru.w_ih", &[config.word_dim, 3 * hidden], bound)?;
        init.uniform("text.gru.w_hh", &[hidden, 3 * hidden], bound)?;
        init.uniform("text.gru.b_ih", &[3 * hidden], bound)?;
        init.uniform("text.gru.b_hh", &[3 * hidden], bound)?;
    }
    init.linear("text.projection", config.text_encoder.output_dim(config.word_dim), config.joint_dim)?;
    let mut tensors = init.tensors;
    tensors.push((
        "text.embedding".into(),
        Tensor::from_slice(embedding, (config.vocab_size, config.word_dim), &Device::Cpu).map_err(candle_err)?,
    ));
    let mut data = varmap.data().lock().map_err(|_| Error::Invalid("the model's weights are poisoned".into()))?;
    for (name, tensor) in tensors {
        data.insert(name, candle_core::Var::from_tensor(&tensor).map_err(candle_err)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (ModelConfig, VarMap) {
        let config = ModelConfig {
            feature_dim: 6,
            image_hidden: None,
            vocab_size: 5,
            word_dim: 3,
            joint_dim: 4,
            text_encoder: TextEncoderKind::Mean,
            feature_slice: None,
        };
        let varmap = VarMap::new();
        let embedding: Vec<f32> = (0..15).map(|i| i as f32 * 0.1 - 0.7).collect();
        init_vars(&varmap, &config, &embedding, 3).unwrap();
        (config, varmap)
    }

    #[test]
    fn both_towers_give_unit_vectors_and_padding_does_not_change_a_caption() {
        let (config, varmap) = tiny();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = TwoTower::new(&config, vb).unwrap();
        let features = Tensor::from_vec((0..12).map(|i| i as f32 / 12.0).collect(), (2, 6), &Device::Cpu).unwrap();
        let img = model.image.forward(&features).unwrap().to_vec2::<f32>().unwrap();
        for row in &img {
            assert!((row.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-5);
        }
        let short = Tensor::new(&[[2u32, 3, 0]], &Device::Cpu).unwrap();
        let long = Tensor::new(&[[2u32, 3, 0, 0, 0]], &Device::Cpu).unwrap();
        let a = model.text.forward(&short).unwrap().to_vec2::<f32>().unwrap();
        let b = model.text.forward(&long).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(a, b);
        let other = model.text.forward(&Tensor::new(&[[2u32, 4, 0]], &Device::Cpu).unwrap()).unwrap();
        assert_ne!(a, other.to_vec2::<f32>().unwrap());
    }

    #[test]
    fn the_same_seed_gives_the_same_starting_weights() {
        let (_, a) = tiny();
        let (_, b) = tiny();
        let get = |m: &VarMap| {
            m.data().lock().unwrap()["image.layer0.weight"].as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        assert_eq!(get(&a), get(&b));
    }

    #[test]
    fn feature_slices_parse_as_start_colon_end_and_must_fit_the_backbone() {
        let slice: FeatureSlice = "1280:2560".parse().unwrap();
        assert_eq!(slice, FeatureSlice { start: 1280, end: 2560 });
        assert_eq!((slice.len(), slice.to_string()), (1280, "1280:2560".to_string()));
        let backwards = FeatureSlice { start: 9, end: 2 };
        assert_eq!((backwards.len(), backwards.is_empty()), (0, true));
        assert!(backwards.check(3840).is_err());
        assert!(slice.check(3840).is_ok());
        assert!(slice.check(2000).unwrap_err().to_string().contains("does not fit"));
        for bad in ["5:5", "9:2", "0-1280", ":3", "a:b"] {
            assert!(bad.parse::<FeatureSlice>().is_err(), "{bad}");
        }
        let (mut config, _) = tiny();
        assert_eq!(config.head_input_dim(), 6);
        config.feature_slice = Some(FeatureSlice { start: 2, end: 5 });
        assert_eq!(config.head_input_dim(), 3);
    }
}

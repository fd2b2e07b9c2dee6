//! The two-tower model: an image head over backbone features and a text encoder over word
//! ids, both ending in L2-normalised vectors of one joint space, so that a dot product is
//! the cosine similarity search ranks by.
//!
//! Models are plain structs built from a `VarBuilder` (`new(vb)`) with a `forward`; their
//! starting weights are put into the `VarMap` first by [`init_vars`], from a seeded
//! generator and the GloVe matrix, so a run is repeatable.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::rng::Rng;
use crate::{Error, Result};

/// Below this norm a vector is not scaled up further (avoids dividing by zero for an empty
/// caption); the exported graphs use the same floor.
pub const NORM_EPS: f64 = 1e-12;

/// The shape of a two-tower model; saved in the model manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Backbone feature dimension (Lite0: 1280).
    pub feature_dim: usize,
    /// Hidden width of the image head; `None` for a single linear layer.
    pub image_hidden: Option<usize>,
    /// Rows of the embedding matrix (vocabulary size, padding and unknown included).
    pub vocab_size: usize,
    /// Word vector dimension (the GloVe file's).
    pub word_dim: usize,
    /// Dimension of the joint space.
    pub joint_dim: usize,
}

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
        let mut width = config.feature_dim;
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

/// Word ids `[N, L]` (u32, padding 0) → joint vectors `[N, D]`: embedding, mean over the
/// words that are not padding, linear projection.
pub struct TextEncoder {
    embedding: Tensor,
    projection: Linear,
}

impl TextEncoder {
    /// Builds the encoder from `vb` (`embedding`, `projection`).
    pub fn new(config: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let embedding = vb.get((config.vocab_size, config.word_dim), "embedding")?;
        let projection = candle_nn::linear(config.word_dim, config.joint_dim, vb.pp("projection"))?;
        Ok(TextEncoder { embedding, projection })
    }

    /// The embedding matrix `[V, E]` (for export).
    pub fn embedding(&self) -> &Tensor {
        &self.embedding
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
        let (n, len) = ids.dims2()?;
        let words = self.embedding.index_select(&ids.flatten_all()?, 0)?.reshape((n, len, ()))?;
        let summed = words.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
        let count = mask.sum_keepdim(1)?.maximum(1.0)?;
        let mean = summed.broadcast_div(&count)?;
        l2_normalize(&self.projection.forward(&mean)?)
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

fn uniform(rng: &mut Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.range(-bound, bound)).collect()
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
    let mut rng = Rng::new(seed);
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    let dev = Device::Cpu;
    let mut linear = |name: &str, inp: usize, out: usize, rng: &mut Rng| -> candle_core::Result<()> {
        let bound = 1.0 / (inp as f32).sqrt();
        tensors.push((format!("{name}.weight"), Tensor::from_vec(uniform(rng, out * inp, bound), (out, inp), &dev)?));
        tensors.push((format!("{name}.bias"), Tensor::from_vec(uniform(rng, out, bound), out, &dev)?));
        Ok(())
    };
    let mut width = config.feature_dim;
    for (i, out) in config.image_hidden.into_iter().chain([config.joint_dim]).enumerate() {
        linear(&format!("image.layer{i}"), width, out, &mut rng).map_err(candle_err)?;
        width = out;
    }
    linear("text.projection", config.word_dim, config.joint_dim, &mut rng).map_err(candle_err)?;
    tensors.push((
        "text.embedding".into(),
        Tensor::from_slice(embedding, (config.vocab_size, config.word_dim), &dev).map_err(candle_err)?,
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
        let config = ModelConfig { feature_dim: 6, image_hidden: None, vocab_size: 5, word_dim: 3, joint_dim: 4 };
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
}

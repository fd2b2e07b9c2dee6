//! Export of a trained model as data the engine runs: the image head (`features` `[N, F]` →
//! `embedding` `[N, D]`) and the text encoder (`ids` int64 `[N, L]` → `embedding` `[N, D]`)
//! as ONNX graphs written by [`crate::onnx::GraphBuilder`], the vocabulary, and a versioned
//! manifest with the graphs' sha256 and the backbone they expect.

use std::path::Path;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::eval::Metrics;
use super::model::{ImageHead, ModelConfig, NORM_EPS, TextEncoder, TwoTower, candle_err};
use super::trainer::TrainConfig;
use crate::durable::write_atomically;
use crate::engine::BackboneModel;
use crate::onnx::graph::Attr;
use crate::onnx::{Dim, GraphBuilder};
use crate::text::{PAD_ID, Vocab};
use crate::{Error, Result};

/// What a joint-model manifest says it is.
pub const MODEL_FORMAT: &str = "glimpse-joint-model";
/// The manifest version this build writes and reads.
pub const MODEL_VERSION: u32 = 1;
/// The manifest's file name in a model folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The image head's graph file.
pub const IMAGE_GRAPH: &str = "image_head.onnx";
/// The text encoder's graph file.
pub const TEXT_GRAPH: &str = "text_encoder.onnx";
/// The vocabulary file.
pub const VOCAB_FILE: &str = "vocab.json";
/// Input and output names of both graphs.
pub const FEATURES_INPUT: &str = "features";
/// The text encoder's input.
pub const IDS_INPUT: &str = "ids";
/// Both graphs' output.
pub const EMBEDDING_OUTPUT: &str = "embedding";

/// The backbone a model's image head expects features from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneRef {
    /// Its folder name under `models/backbones`.
    pub name: String,
    /// sha256 of its graph.
    pub sha256: String,
    /// Its feature dimension.
    pub feature_dim: usize,
}

/// A graph file and its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphRef {
    /// File name inside the model folder.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
}

/// How a model was trained, for its model card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRecord {
    /// The training data (e.g. `flickr8k train`).
    pub data: String,
    /// The word vectors it started from.
    pub glove: String,
    /// The settings of the run.
    pub config: TrainConfig,
    /// The chosen epoch.
    pub best_epoch: usize,
    /// Dev metrics of that epoch.
    pub dev: Metrics,
    /// Seconds the run took.
    pub seconds: f64,
}

/// `manifest.json` of a joint-model folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointManifest {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// [`MODEL_VERSION`] when written.
    pub version: u32,
    /// The model's shape.
    pub model: ModelConfig,
    /// The backbone whose features the image head takes.
    pub backbone: BackboneRef,
    /// `features [N, F]` → `embedding [N, D]`.
    pub image_head: GraphRef,
    /// `ids [N, seq_len]` int64 → `embedding [N, D]`.
    pub text_encoder: GraphRef,
    /// Ids per text, as the vocabulary encodes them.
    pub seq_len: usize,
    /// The vocabulary file.
    pub vocab: String,
    /// How it was trained, when known.
    pub training: Option<TrainingRecord>,
    /// When search should say "no strong match", measured on dev (`glimpse bench cue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_match: Option<NoMatchCue>,
    /// For a model combining others (`glimpse combine`): its members and dev metrics. Its
    /// `model` then gives the interface (feature, vocabulary and joint sizes; the rest are
    /// the first member's) and `training` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combination: Option<super::combine::Combination>,
    /// For a calibrated model (`glimpse calibrate`): how its image head's per-photo
    /// offsets were made; search ranks by cosine minus offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubness: Option<super::hubness::Hubness>,
}

/// The "no strong match" cue of a model: a statistic of a query's scores and the threshold
/// below which no photo of the library is likely to show what was asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoMatchCue {
    /// `top1`: the best cosine among the shown results (the only statistic search applies;
    /// a calibrated model's offsets order the results but are not part of this cosine).
    pub statistic: String,
    /// The cue shows when the statistic is below this.
    pub threshold: f32,
}

impl NoMatchCue {
    /// True when a ranking whose best cosine (see `statistic`) is `top` should say "no strong match".
    pub fn fires(&self, top: Option<f32>) -> bool {
        self.statistic == "top1" && top.is_some_and(|t| t < self.threshold)
    }
}

impl JointManifest {
    /// Writes `dir/manifest.json` (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("could not write the model manifest: {e}")))?;
        write_atomically(&dir.join(MANIFEST_FILE), &[json.as_bytes(), b"\n"])
    }

    /// The model's dev metrics as search ranks with it: after calibration when calibrated,
    /// else those of its training run or of its combination.
    pub fn dev_metrics(&self) -> Option<Metrics> {
        if let Some(hubness) = &self.hubness {
            return hubness.dev;
        }
        match (&self.training, &self.combination) {
            (Some(training), _) => Some(training.dev),
            (None, Some(combination)) => combination.dev,
            (None, None) => None,
        }
    }

    /// Reads and checks `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<JointManifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("damaged JSON: {e}")))?;
        match (value.get("format").and_then(|f| f.as_str()), value.get("version").and_then(|v| v.as_u64())) {
            (Some(MODEL_FORMAT), Some(v)) if v == u64::from(MODEL_VERSION) => {}
            (Some(MODEL_FORMAT), v) => {
                return Err(Error::model(
                    &path,
                    format!(
                        "model version {v:?}; this Glimpse reads version {MODEL_VERSION}: re-export or update Glimpse"
                    ),
                ));
            }
            _ => return Err(Error::model(&path, format!("not a Glimpse joint model ('{MODEL_FORMAT}')"))),
        }
        serde_json::from_value(value).map_err(|e| Error::model(&path, format!("not a valid manifest: {e}")))
    }
}

fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(candle_err)
}

/// Adds `input @ weightᵀ + bias` for a candle linear layer (`weight` is `[out, in]`).
fn linear(g: &mut GraphBuilder, layer: &candle_nn::Linear, prefix: &str, input: &str, output: &str) -> Result<()> {
    let w = layer.weight();
    let (out, inp) = w.dims2().map_err(candle_err)?;
    let wt = values(&w.t().map_err(candle_err)?.contiguous().map_err(candle_err)?)?;
    let (w_name, b_name, mm) = (format!("{prefix}.weight"), format!("{prefix}.bias"), format!("{prefix}.matmul"));
    g.initializer_f32(&w_name, &[inp as i64, out as i64], &wt);
    match layer.bias() {
        Some(b) => {
            g.initializer_f32(&b_name, &[out as i64], &values(b)?);
            g.node("MatMul", &[input, &w_name], &[&mm], &[]).node("Add", &[&mm, &b_name], &[output], &[]);
        }
        None => {
            g.node("MatMul", &[input, &w_name], &[output], &[]);
        }
    }
    Ok(())
}

/// Adds `x / max(‖x‖₂, NORM_EPS)` over the last axis of a `[N, D]` value.
fn l2_normalize(g: &mut GraphBuilder, input: &str, output: &str) {
    g.initializer_i64("l2.axes", &[1], &[1])
        .initializer_f32("l2.eps", &[], &[NORM_EPS as f32])
        .node("ReduceL2", &[input, "l2.axes"], &["l2.norm"], &[("keepdims", Attr::Int(1))])
        .node("Max", &["l2.norm", "l2.eps"], &["l2.safe"], &[])
        .node("Div", &[input, "l2.safe"], &[output], &[]);
}

/// The image head as an ONNX graph.
pub fn image_head_graph(head: &ImageHead, config: &ModelConfig) -> Result<Vec<u8>> {
    let mut g = GraphBuilder::new("glimpse-image-head");
    g.input_f32(FEATURES_INPUT, &[Dim::Named("N"), Dim::Fixed(config.feature_dim as i64)])
        .output_f32(EMBEDDING_OUTPUT, &[Dim::Named("N"), Dim::Fixed(config.joint_dim as i64)]);
    let mut x = FEATURES_INPUT.to_string();
    if let Some(slice) = config.feature_slice {
        slice.check(config.feature_dim)?;
        g.initializer_i64("slice.starts", &[1], &[slice.start as i64])
            .initializer_i64("slice.ends", &[1], &[slice.end as i64])
            .initializer_i64("slice.axes", &[1], &[1])
            .node("Slice", &[&x, "slice.starts", "slice.ends", "slice.axes"], &["features.slice"], &[]);
        x = "features.slice".to_string();
    }
    for (i, layer) in head.layers().iter().enumerate() {
        if i > 0 {
            let relu = format!("layer{i}.relu");
            g.node("Relu", &[&x], &[&relu], &[]);
            x = relu;
        }
        let out = format!("layer{i}.out");
        linear(&mut g, layer, &format!("layer{i}"), &x, &out)?;
        x = out;
    }
    l2_normalize(&mut g, &x, EMBEDDING_OUTPUT);
    Ok(g.to_bytes())
}

/// Adds a GRU unrolled over `seq_len` steps, from `words` `[N, L, E]`, `mask` `[N, L]` and
/// `count1` `[N, 1]` to `pooled` `[N, H]`: the same arithmetic as [`super::model::Gru`],
/// step by step (a masked step keeps the state; the states of words are averaged). The
/// weights are split per gate so every step is plain MatMul/Add/Sigmoid/Tanh.
fn gru_steps(g: &mut GraphBuilder, gru: &super::model::Gru, seq_len: usize) -> Result<()> {
    let h = gru.hidden;
    let gate = |t: &Tensor, i: usize| -> Result<Vec<f32>> {
        values(&t.narrow(t.rank() - 1, i * h, h).map_err(candle_err)?.contiguous().map_err(candle_err)?)
    };
    let e = gru.w_ih.dim(0).map_err(candle_err)?;
    for (i, name) in ["r", "z", "n"].into_iter().enumerate() {
        g.initializer_f32(&format!("gru.w_i{name}"), &[e as i64, h as i64], &gate(&gru.w_ih, i)?)
            .initializer_f32(&format!("gru.w_h{name}"), &[h as i64, h as i64], &gate(&gru.w_hh, i)?)
            .initializer_f32(&format!("gru.b_i{name}"), &[h as i64], &gate(&gru.b_ih, i)?)
            .initializer_f32(&format!("gru.b_h{name}"), &[h as i64], &gate(&gru.b_hh, i)?)
            .node("MatMul", &["words", &format!("gru.w_i{name}")], &[&format!("gru.xw{name}")], &[])
            .node("Add", &[&format!("gru.xw{name}"), &format!("gru.b_i{name}")], &[&format!("gru.x{name}")], &[]);
    }
    // h₀ = 0 of shape [N, H]: ConstantOfShape's default value is float 0.
    g.initializer_i64("gru.t0", &[], &[0])
        .node("Gather", &["gru.xr", "gru.t0"], &["gru.x0"], &[("axis", Attr::Int(1))])
        .node("Shape", &["gru.x0"], &["gru.hshape"], &[])
        .node("ConstantOfShape", &["gru.hshape"], &["h0"], &[])
        .node("Identity", &["h0"], &["acc0"], &[]);
    for t in 0..seq_len {
        let v = |name: &str| format!("gru{t}.{name}");
        let (h_prev, acc_prev) = (format!("h{t}"), format!("acc{t}"));
        g.initializer_i64(&v("t"), &[], &[t as i64]);
        for name in ["r", "z", "n"] {
            g.node(
                "Gather",
                &[&format!("gru.x{name}"), &v("t")],
                &[&v(&format!("x{name}"))],
                &[("axis", Attr::Int(1))],
            )
            .node("MatMul", &[&h_prev, &format!("gru.w_h{name}")], &[&v(&format!("hw{name}"))], &[])
            .node(
                "Add",
                &[&v(&format!("hw{name}")), &format!("gru.b_h{name}")],
                &[&v(&format!("h{name}"))],
                &[],
            );
        }
        g.node("Add", &[&v("xr"), &v("hr")], &[&v("rsum")], &[])
            .node("Sigmoid", &[&v("rsum")], &[&v("r")], &[])
            .node("Add", &[&v("xz"), &v("hz")], &[&v("zsum")], &[])
            .node("Sigmoid", &[&v("zsum")], &[&v("z")], &[])
            .node("Mul", &[&v("r"), &v("hn")], &[&v("rhn")], &[])
            .node("Add", &[&v("xn"), &v("rhn")], &[&v("nsum")], &[])
            .node("Tanh", &[&v("nsum")], &[&v("n")], &[])
            .node("Sub", &[&h_prev, &v("n")], &[&v("hmn")], &[])
            .node("Mul", &[&v("z"), &v("hmn")], &[&v("zhmn")], &[])
            .node("Add", &[&v("n"), &v("zhmn")], &[&v("next")], &[])
            .node("Gather", &["mask", &v("t")], &[&v("m1")], &[("axis", Attr::Int(1))])
            .node("Unsqueeze", &[&v("m1"), "axis1"], &[&v("m")], &[])
            .node("Sub", &[&v("next"), &h_prev], &[&v("delta")], &[])
            .node("Mul", &[&v("delta"), &v("m")], &[&v("mdelta")], &[])
            .node("Add", &[&h_prev, &v("mdelta")], &[&format!("h{}", t + 1)], &[])
            .node("Mul", &[&format!("h{}", t + 1), &v("m")], &[&v("mh")], &[])
            .node("Add", &[&acc_prev, &v("mh")], &[&format!("acc{}", t + 1)], &[]);
    }
    g.node("Div", &[&format!("acc{seq_len}"), "count1"], &["pooled"], &[]);
    Ok(())
}

/// The text encoder as an ONNX graph over `seq_len` int64 ids: padding (id 0) is masked
/// with Equal/Not/Cast; the word vectors are averaged with ReduceSum/Div, or run through
/// an unrolled GRU whose states are averaged.
pub fn text_encoder_graph(text: &TextEncoder, config: &ModelConfig, seq_len: usize) -> Result<Vec<u8>> {
    let mut g = GraphBuilder::new("glimpse-text-encoder");
    g.input_i64(IDS_INPUT, &[Dim::Named("N"), Dim::Fixed(seq_len as i64)])
        .output_f32(EMBEDDING_OUTPUT, &[Dim::Named("N"), Dim::Fixed(config.joint_dim as i64)])
        .initializer_f32(
            "word_vectors",
            &[config.vocab_size as i64, config.word_dim as i64],
            &values(text.embedding())?,
        )
        .initializer_i64("pad", &[], &[i64::from(PAD_ID)])
        .initializer_i64("axis1", &[1], &[1])
        .initializer_i64("axis2", &[1], &[2])
        .initializer_f32("one", &[], &[1.0])
        .node("Gather", &["word_vectors", IDS_INPUT], &["words"], &[("axis", Attr::Int(0))])
        .node("Equal", &[IDS_INPUT, "pad"], &["is_pad"], &[])
        .node("Not", &["is_pad"], &["is_word"], &[])
        .node("Cast", &["is_word"], &["mask"], &[("to", Attr::Int(i64::from(crate::onnx::proto::FLOAT)))])
        .node("Unsqueeze", &["mask", "axis2"], &["mask3"], &[])
        .node("ReduceSum", &["mask", "axis1"], &["count"], &[("keepdims", Attr::Int(1))])
        .node("Max", &["count", "one"], &["count1"], &[]);
    match text.gru() {
        None => {
            g.node("Mul", &["words", "mask3"], &["masked"], &[])
                .node("ReduceSum", &["masked", "axis1"], &["summed"], &[("keepdims", Attr::Int(0))])
                .node("Div", &["summed", "count1"], &["pooled"], &[]);
        }
        Some(gru) => gru_steps(&mut g, gru, seq_len)?,
    }
    linear(&mut g, text.projection(), "projection", "pooled", "projected")?;
    l2_normalize(&mut g, "projected", EMBEDDING_OUTPUT);
    Ok(g.to_bytes())
}

/// Lowercase hex sha256 of `bytes`, as manifests record graphs.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Writes a model folder: both graphs, `vocab.json` and `manifest.json` (last, so a folder
/// with a manifest is complete). Returns the manifest.
pub fn export(
    dir: &Path,
    model: &TwoTower,
    config: &ModelConfig,
    vocab: &Vocab,
    backbone: &BackboneModel,
    training: Option<TrainingRecord>,
) -> Result<JointManifest> {
    if backbone.manifest.features.dim != config.feature_dim || vocab.len() != config.vocab_size {
        return Err(Error::Invalid(
            "the model does not match the backbone's feature size or the vocabulary's size".into(),
        ));
    }
    let seq_len = vocab.settings().seq_len;
    let image = image_head_graph(&model.image, config)?;
    let text = text_encoder_graph(&model.text, config, seq_len)?;
    write_atomically(&dir.join(IMAGE_GRAPH), &[&image])?;
    write_atomically(&dir.join(TEXT_GRAPH), &[&text])?;
    write_atomically(&dir.join(VOCAB_FILE), &[vocab.to_json().as_bytes()])?;
    let manifest = JointManifest {
        format: MODEL_FORMAT.into(),
        version: MODEL_VERSION,
        model: config.clone(),
        backbone: BackboneRef {
            name: backbone.manifest.name.clone(),
            sha256: backbone.manifest.sha256.to_ascii_lowercase(),
            feature_dim: config.feature_dim,
        },
        image_head: GraphRef { file: IMAGE_GRAPH.into(), sha256: sha256(&image) },
        text_encoder: GraphRef { file: TEXT_GRAPH.into(), sha256: sha256(&text) },
        seq_len,
        vocab: VOCAB_FILE.into(),
        training,
        no_match: None,
        hubness: None,
        combination: None,
    };
    manifest.save(dir)?;
    Ok(manifest)
}

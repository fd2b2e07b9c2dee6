//! Export of a trained model as data the engine runs: the image head (`features` `[N, F]` →
//! `embedding` `[N, D]`) and the text encoder (`ids` int64 `[N, L]` → `embedding` `[N, D]`)
//! as ONNX graphs written by [`crate::onnx::GraphBuilder`], the vocabulary, and a versioned
//! manifest with the graphs' sha256 and the backbone they expect.

use std::path::Path;

use candle_core::Tensor;

use super::model::{ImageHead, ModelConfig, NORM_EPS, TextEncoder, TwoTower, candle_err};
use crate::durable::write_atomically;
use crate::engine::BackboneModel;
use crate::model::manifest::{
    BackboneRef, EMBEDDING_OUTPUT, FEATURES_INPUT, GraphRef, IDS_INPUT, IMAGE_GRAPH, JointManifest, MODEL_FORMAT,
    MODEL_VERSION, TEXT_GRAPH, TrainingRecord, VOCAB_FILE, sha256,
};
use crate::onnx::graph::{Attr, HALF_MIN_VALUES, initializer_values};
use crate::onnx::proto::GraphProto;
use crate::onnx::{Dim, GraphBuilder};
use crate::text::{PAD_ID, Vocab};
use crate::{Error, Result};

fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(candle_err)
}

/// The row-major matrix `m` (`[rows, columns]`) transposed to `[columns, rows]`.
pub(super) fn transpose(m: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    (0..columns).flat_map(|c| (0..rows).map(move |r| m[r * columns + c])).collect()
}

/// A linear layer as plain arrays: `weight` `[inputs, outputs]` (input-major, as MatMul
/// takes it) and an optional bias `[outputs]`.
#[derive(Clone)]
pub(crate) struct LinearWeights {
    inputs: usize,
    outputs: usize,
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
}

impl LinearWeights {
    /// A candle linear layer (`weight` `[out, in]`), transposed.
    fn of(layer: &candle_nn::Linear) -> Result<Self> {
        let w = layer.weight();
        let (outputs, inputs) = w.dims2().map_err(candle_err)?;
        let weight = values(&w.t().map_err(candle_err)?.contiguous().map_err(candle_err)?)?;
        let bias = layer.bias().map(values).transpose()?;
        Ok(LinearWeights { inputs, outputs, weight, bias })
    }

    /// A layer from its input-major weight (`[inputs, outputs]`) and bias.
    pub(crate) fn new(inputs: usize, outputs: usize, weight: Vec<f32>, bias: Option<Vec<f32>>) -> Self {
        LinearWeights { inputs, outputs, weight, bias }
    }

    /// `x @ weight + bias` for one input row.
    pub(crate) fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut y = self.bias.clone().unwrap_or_else(|| vec![0.0; self.outputs]);
        for (xi, row) in x.iter().zip(self.weight.chunks_exact(self.outputs)) {
            y.iter_mut().zip(row).for_each(|(y, w)| *y += xi * w);
        }
        y
    }

    /// `input @ weight + bias` into `output`.
    fn add_to(&self, g: &mut GraphBuilder, prefix: &str, input: &str, output: &str) {
        self.add_initializers(g, prefix);
        self.add_nodes(g, prefix, input, output);
    }

    /// The weight `PREFIX.weight` and bias `PREFIX.bias` as initializers.
    fn add_initializers(&self, g: &mut GraphBuilder, prefix: &str) {
        g.initializer_f32(&format!("{prefix}.weight"), &[self.inputs as i64, self.outputs as i64], &self.weight);
        if let Some(b) = &self.bias {
            g.initializer_f32(&format!("{prefix}.bias"), &[self.outputs as i64], b);
        }
    }

    /// `input @ PREFIX.weight + PREFIX.bias` into `output` (once per prefix in a graph).
    fn add_nodes(&self, g: &mut GraphBuilder, prefix: &str, input: &str, output: &str) {
        let (w_name, b_name, mm) = (format!("{prefix}.weight"), format!("{prefix}.bias"), format!("{prefix}.matmul"));
        match &self.bias {
            Some(_) => {
                g.node("MatMul", &[input, &w_name], &[&mm], &[]).node("Add", &[&mm, &b_name], &[output], &[]);
            }
            None => {
                g.node("MatMul", &[input, &w_name], &[output], &[]);
            }
        }
    }
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
        LinearWeights::of(layer)?.add_to(&mut g, &format!("layer{i}"), &x, &out);
        x = out;
    }
    l2_normalize(&mut g, &x, EMBEDDING_OUTPUT);
    Ok(g.half_weights().to_bytes())
}

/// A GRU's weights per gate, in the order reset, update, new; each input-major as a step
/// uses it: `x @ input[g] + input_bias[g]` and `h @ hidden[g] + hidden_bias[g]`.
pub(crate) struct GruWeights {
    /// E, the width of a word vector.
    inputs: usize,
    /// H.
    hidden: usize,
    /// `[E, H]` each.
    input: [Vec<f32>; 3],
    /// `[H, H]` each.
    state: [Vec<f32>; 3],
    /// `[H]` each.
    input_bias: [Vec<f32>; 3],
    /// `[H]` each.
    state_bias: [Vec<f32>; 3],
}

/// The gate names of [`GruWeights`]' order, as the earlier step-by-step graphs named them.
const GATES: [&str; 3] = ["r", "z", "n"];

impl GruWeights {
    fn of(gru: &super::model::Gru) -> Result<Self> {
        let h = gru.hidden;
        let gate = |t: &Tensor, i: usize| -> Result<Vec<f32>> {
            values(&t.narrow(t.rank() - 1, i * h, h).map_err(candle_err)?.contiguous().map_err(candle_err)?)
        };
        let gates = |t: &Tensor| -> Result<[Vec<f32>; 3]> { Ok([gate(t, 0)?, gate(t, 1)?, gate(t, 2)?]) };
        Ok(GruWeights {
            inputs: gru.w_ih.dim(0).map_err(candle_err)?,
            hidden: h,
            input: gates(&gru.w_ih)?,
            state: gates(&gru.w_hh)?,
            input_bias: gates(&gru.b_ih)?,
            state_bias: gates(&gru.b_hh)?,
        })
    }

    /// Adds ONNX's `GRU` operator from `ids` `[N, L]` to `pooled` `[N, H]`, computing what
    /// [`super::model::Gru`] does: a padding step keeps the state and the states of the words
    /// are averaged. The operator cannot skip a step, so each row's words are first moved
    /// ahead of its padding (in their order; `TopK` over position + L·padding) and the
    /// operator runs each row for its number of words (`sequence_lens`); past that it gives
    /// zeros, so summing its outputs over time sums the states of the words.
    fn add_to(&self, g: &mut GraphBuilder, seq_len: usize, words: &dyn Fn(&mut GraphBuilder, &str, &str)) {
        let (e, h) = (self.inputs, self.hidden);
        // ONNX's layout: W [1, 3H, E], R [1, 3H, H] and B [1, 6H] in the gate order update,
        // reset, new; each block [H, E] is a gate's input-major matrix transposed.
        let order = [1, 0, 2];
        let w: Vec<f32> = order.iter().flat_map(|&i| transpose(&self.input[i], e, h)).collect();
        let r: Vec<f32> = order.iter().flat_map(|&i| transpose(&self.state[i], h, h)).collect();
        let b: Vec<f32> = order
            .iter()
            .flat_map(|&i| self.input_bias[i].clone())
            .chain(order.iter().flat_map(|&i| self.state_bias[i].clone()))
            .collect();
        let positions: Vec<f32> = (0..seq_len).map(|t| t as f32).collect();
        g.initializer_f32("gru.positions", &[seq_len as i64], &positions)
            .initializer_f32("gru.pad_shift", &[], &[seq_len as f32])
            .initializer_i64("gru.length", &[1], &[seq_len as i64])
            .initializer_i64("gru.axis0", &[1], &[0])
            .initializer_f32("gru.W", &[1, 3 * h as i64, e as i64], &w)
            .initializer_f32("gru.R", &[1, 3 * h as i64, h as i64], &r)
            .initializer_f32("gru.B", &[1, 6 * h as i64], &b)
            .node("Cast", &["is_pad"], &["gru.is_pad"], &[("to", Attr::Int(i64::from(crate::onnx::proto::FLOAT)))])
            .node("Mul", &["gru.is_pad", "gru.pad_shift"], &["gru.shift"], &[])
            .node("Add", &["gru.positions", "gru.shift"], &["gru.keys"], &[])
            .node(
                "TopK",
                &["gru.keys", "gru.length"],
                &["gru.sorted", "gru.order"],
                &[("axis", Attr::Int(1)), ("largest", Attr::Int(0)), ("sorted", Attr::Int(1))],
            )
            .node("GatherElements", &[IDS_INPUT, "gru.order"], &["gru.ids"], &[("axis", Attr::Int(1))]);
        words(g, "gru.ids", "gru.words");
        g.node("Transpose", &["gru.words"], &["gru.x"], &[("perm", Attr::Ints(vec![1, 0, 2]))])
            .node("Squeeze", &["count", "axis1"], &["gru.count"], &[])
            .node("Cast", &["gru.count"], &["gru.lens"], &[("to", Attr::Int(i64::from(crate::onnx::proto::INT32)))])
            .node(
                "GRU",
                &["gru.x", "gru.W", "gru.R", "gru.B", "gru.lens"],
                &["gru.states"],
                &[("hidden_size", Attr::Int(h as i64)), ("linear_before_reset", Attr::Int(1))],
            )
            // [L, 1, N, H] → [N, H]
            .node("ReduceSum", &["gru.states", "gru.axis0"], &["gru.summed"], &[("keepdims", Attr::Int(0))])
            .node("Squeeze", &["gru.summed", "gru.axis0"], &["gru.acc"], &[])
            .node("Div", &["gru.acc", "count1"], &["pooled"], &[]);
    }

    /// The weights of the GRU in a text-encoder graph, from the names its initializers have
    /// under `prefix`: the step-by-step graphs' per-gate matrices, or the `GRU` operator's.
    fn from_graph(graph: &GraphProto, prefix: &str) -> Result<Option<Self>> {
        let get = |name: &str| initializer_values(graph, &format!("{prefix}{name}"));
        if let Some((_, dims)) = get("gru.w_ir") {
            let (e, h) = (dims[0] as usize, dims[1] as usize);
            let each = |kind: &str| -> Result<[Vec<f32>; 3]> {
                let one = |gate: &str| {
                    get(&format!("gru.{kind}{gate}")).map(|(v, _)| v).ok_or_else(|| missing(prefix, "gru weights"))
                };
                Ok([one(GATES[0])?, one(GATES[1])?, one(GATES[2])?])
            };
            return Ok(Some(GruWeights {
                inputs: e,
                hidden: h,
                input: each("w_i")?,
                state: each("w_h")?,
                input_bias: each("b_i")?,
                state_bias: each("b_h")?,
            }));
        }
        let Some((w, dims)) = get("gru.W") else { return Ok(None) };
        let (h, e) = (dims[1] as usize / 3, dims[2] as usize);
        let (r, b) = match (get("gru.R"), get("gru.B")) {
            (Some((r, _)), Some((b, _))) => (r, b),
            _ => return Err(missing(prefix, "gru weights")),
        };
        // ONNX's blocks come in the order update, reset, new; block `k` ([H, rows]) transposed back.
        let block = |m: &[f32], k: usize, rows: usize| transpose(&m[k * h * rows..(k + 1) * h * rows], h, rows);
        let ours = |k: usize| [1, 0, 2][k];
        let by_gate = |f: &dyn Fn(usize) -> Vec<f32>| -> [Vec<f32>; 3] { [f(ours(0)), f(ours(1)), f(ours(2))] };
        Ok(Some(GruWeights {
            inputs: e,
            hidden: h,
            input: by_gate(&|k| block(&w, k, e)),
            state: by_gate(&|k| block(&r, k, h)),
            input_bias: by_gate(&|k| b[k * h..(k + 1) * h].to_vec()),
            state_bias: by_gate(&|k| b[(3 + k) * h..(4 + k) * h].to_vec()),
        }))
    }
}

fn missing(prefix: &str, what: &str) -> Error {
    Error::Invalid(format!("the text encoder graph has no {what} under '{prefix}'"))
}

/// The initializer of the GloVe codes of the words past the trained vocabulary (int8,
/// `[words, G]`), shared by every member of a combined text encoder.
pub const GLOVE_CODES: &str = "glove.i8";
/// The initializer of [`GLOVE_CODES`]' scales, one per column (`[G]`).
pub const GLOVE_SCALES: &str = "glove.scale";

/// The GloVe vectors of the words past the trained vocabulary, in id order, as int8 codes
/// with one scale per column. The graph gathers the codes of a query's words and only then
/// turns them into floats, so ONNX Runtime keeps the table as int8 (5 MB for 100,000 words
/// of 50 dimensions) instead of folding it into a float table four times the size.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GloveTable {
    /// Words (rows).
    pub rows: usize,
    /// G, the GloVe dimension (columns).
    pub dim: usize,
    /// `rows × dim` codes, row-major.
    pub codes: Vec<i8>,
    /// One scale per column: a value is `code · scale`.
    pub scales: Vec<f32>,
}

impl GloveTable {
    fn from_graph(graph: &GraphProto) -> Result<Self> {
        let bad = || Error::Invalid(format!("the text encoder graph's '{GLOVE_CODES}' or '{GLOVE_SCALES}' is damaged"));
        let (codes, dims) = crate::onnx::graph::initializer_i8(graph, GLOVE_CODES).ok_or_else(bad)?;
        let (scales, _) = initializer_values(graph, GLOVE_SCALES).ok_or_else(bad)?;
        if dims.len() != 2 || scales.len() as i64 != dims[1] {
            return Err(bad());
        }
        Ok(GloveTable { rows: dims[0] as usize, dim: dims[1] as usize, codes, scales })
    }
}

/// How a text encoder gives a vector to a word it was not trained on: ids from `trained`
/// on are rows of the shared [`GloveTable`] (id − `trained`), mapped to a word vector by a
/// linear map fitted on the trained words (see [`super::open_vocab`]); ids below it keep
/// their trained vectors, exactly.
#[derive(Clone)]
pub(crate) struct OpenWords {
    /// The ids below this one are trained words (rows of the word table).
    pub trained: usize,
    /// GloVe vector → word vector: `[G, E]` and a bias `[E]`.
    pub map: LinearWeights,
    /// The GloVe vectors of the ids from `trained` on.
    pub glove: std::sync::Arc<GloveTable>,
}

impl OpenWords {
    fn from_graph(graph: &GraphProto, prefix: &str) -> Result<Option<Self>> {
        let Some((weight, dims)) = initializer_values(graph, &format!("{prefix}open.map.weight")) else {
            return Ok(None);
        };
        let bias = initializer_values(graph, &format!("{prefix}open.map.bias")).map(|(b, _)| b);
        let trained = crate::onnx::graph::initializer_i64(graph, &format!("{prefix}open.trained"))
            .and_then(|t| t.first().copied())
            .ok_or_else(|| missing(prefix, "open.trained"))?;
        let map = LinearWeights { inputs: dims[0] as usize, outputs: dims[1] as usize, weight, bias };
        Ok(Some(OpenWords {
            trained: trained as usize,
            map,
            glove: std::sync::Arc::new(GloveTable::from_graph(graph)?),
        }))
    }

    /// Adds the word vectors of `ids` (`[N, L]` int64) as `output` (`[N, L, E]`): the
    /// trained row below [`OpenWords::trained`], the mapped GloVe row from it on.
    fn add_lookup(&self, g: &mut GraphBuilder, ids: &str, output: &str) {
        let glove = &self.glove;
        let name = |part: &str| format!("{output}.{part}");
        if !g.graph().initializer.iter().any(|t| t.name == "open.trained") {
            g.initializer_i64("open.trained", &[], &[self.trained as i64])
                .initializer_i64("open.unk", &[], &[i64::from(crate::text::UNK_ID)])
                .initializer_i64("open.zero", &[], &[0])
                .initializer_i64("open.axes", &[1], &[2])
                .initializer_i8(GLOVE_CODES, &[glove.rows as i64, glove.dim as i64], &glove.codes)
                .initializer_f32(GLOVE_SCALES, &[glove.dim as i64], &glove.scales);
            self.map.add_initializers(g, "open.map");
        }
        let float = ("to", Attr::Int(i64::from(crate::onnx::proto::FLOAT)));
        g.node("Less", &[ids, "open.trained"], &[&name("known")], &[])
            .node("Where", &[&name("known"), ids, "open.unk"], &[&name("trained_ids")], &[])
            .node("Gather", &["word_vectors", &name("trained_ids")], &[&name("trained")], &[("axis", Attr::Int(0))])
            .node("Sub", &[ids, "open.trained"], &[&name("past")], &[])
            .node("Max", &[&name("past"), "open.zero"], &[&name("rows")], &[])
            .node("Gather", &[GLOVE_CODES, &name("rows")], &[&name("codes")], &[("axis", Attr::Int(0))])
            .node("Cast", &[&name("codes")], &[&name("codes_f")], &[float])
            .node("Mul", &[&name("codes_f"), GLOVE_SCALES], &[&name("glove")], &[]);
        self.map.add_nodes(g, "open.map", &name("glove"), &name("mapped"));
        g.node("Unsqueeze", &[&name("known"), "open.axes"], &[&name("known3")], &[]).node(
            "Where",
            &[&name("known3"), &name("trained"), &name("mapped")],
            &[output],
            &[],
        );
    }
}

/// A text encoder's weights as plain arrays: what its graph is written from.
pub(crate) struct TextWeights {
    /// `[trained vocabulary, E]`.
    pub(crate) word_vectors: Vec<f32>,
    pub(crate) vocab_size: usize,
    pub(crate) word_dim: usize,
    gru: Option<GruWeights>,
    projection: LinearWeights,
    /// The words past the trained vocabulary, when it is open.
    pub(crate) open: Option<OpenWords>,
}

impl TextWeights {
    fn of(text: &TextEncoder, config: &ModelConfig) -> Result<Self> {
        Ok(TextWeights {
            word_vectors: values(text.embedding())?,
            vocab_size: config.vocab_size,
            word_dim: config.word_dim,
            gru: text.gru().map(GruWeights::of).transpose()?,
            projection: LinearWeights::of(text.projection())?,
            open: None,
        })
    }

    /// The weights of the text encoder graph (or of one member of a combined one) whose
    /// initializers are named under `prefix`.
    pub(crate) fn from_graph(graph: &GraphProto, prefix: &str) -> Result<Self> {
        let get =
            |name: &str| initializer_values(graph, &format!("{prefix}{name}")).ok_or_else(|| missing(prefix, name));
        let (word_vectors, dims) = get("word_vectors")?;
        let (weight, w_dims) = get("projection.weight")?;
        let bias = initializer_values(graph, &format!("{prefix}projection.bias")).map(|(b, _)| b);
        Ok(TextWeights {
            word_vectors,
            vocab_size: dims[0] as usize,
            word_dim: dims[1] as usize,
            gru: GruWeights::from_graph(graph, prefix)?,
            projection: LinearWeights { inputs: w_dims[0] as usize, outputs: w_dims[1] as usize, weight, bias },
            open: OpenWords::from_graph(graph, prefix)?,
        })
    }

    /// Adds the word vectors of `ids` as `output`: a row of the word table, or for an open
    /// vocabulary the mapped GloVe vector of a word past the trained ones.
    fn add_words(&self, g: &mut GraphBuilder, ids: &str, output: &str) {
        match &self.open {
            None => {
                g.node("Gather", &["word_vectors", ids], &[output], &[("axis", Attr::Int(0))]);
            }
            Some(open) => open.add_lookup(g, ids, output),
        }
    }

    /// The text encoder as an ONNX graph over `seq_len` int64 ids: padding (id 0) is
    /// masked with Equal/Not/Cast; the word vectors are averaged with ReduceSum/Div, or run
    /// through ONNX's GRU operator whose states are averaged. Large weights are stored as
    /// float16.
    pub(crate) fn graph(&self, seq_len: usize) -> GraphBuilder {
        let mut g = GraphBuilder::new("glimpse-text-encoder");
        g.input_i64(IDS_INPUT, &[Dim::Named("N"), Dim::Fixed(seq_len as i64)])
            .output_f32(EMBEDDING_OUTPUT, &[Dim::Named("N"), Dim::Fixed(self.projection.outputs as i64)])
            .initializer_f32("word_vectors", &[self.vocab_size as i64, self.word_dim as i64], &self.word_vectors)
            .initializer_i64("pad", &[], &[i64::from(PAD_ID)])
            .initializer_i64("axis1", &[1], &[1])
            .initializer_f32("one", &[], &[1.0])
            .node("Equal", &[IDS_INPUT, "pad"], &["is_pad"], &[])
            .node("Not", &["is_pad"], &["is_word"], &[])
            .node("Cast", &["is_word"], &["mask"], &[("to", Attr::Int(i64::from(crate::onnx::proto::FLOAT)))])
            .node("ReduceSum", &["mask", "axis1"], &["count"], &[("keepdims", Attr::Int(1))])
            .node("Max", &["count", "one"], &["count1"], &[]);
        match &self.gru {
            None => {
                self.add_words(&mut g, IDS_INPUT, "words");
                g.initializer_i64("axis2", &[1], &[2])
                    .node("Unsqueeze", &["mask", "axis2"], &["mask3"], &[])
                    .node("Mul", &["words", "mask3"], &["masked"], &[])
                    .node("ReduceSum", &["masked", "axis1"], &["summed"], &[("keepdims", Attr::Int(0))])
                    .node("Div", &["summed", "count1"], &["pooled"], &[]);
            }
            Some(gru) => gru.add_to(&mut g, seq_len, &|g, ids, out| self.add_words(g, ids, out)),
        }
        self.projection.add_to(&mut g, "projection", "pooled", "projected");
        l2_normalize(&mut g, "projected", EMBEDDING_OUTPUT);
        if self.word_vectors.len() >= HALF_MIN_VALUES {
            g.int8_columns("word_vectors");
        }
        g.half_weights();
        g
    }
}

/// The text encoder as an ONNX graph over `seq_len` int64 ids (see [`TextWeights::graph`]).
pub fn text_encoder_graph(text: &TextEncoder, config: &ModelConfig, seq_len: usize) -> Result<Vec<u8>> {
    Ok(TextWeights::of(text, config)?.graph(seq_len).to_bytes())
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
        compact: None,
        personalised: None,
        combination: None,
    };
    manifest.save(dir)?;
    Ok(manifest)
}

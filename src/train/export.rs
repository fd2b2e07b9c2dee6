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
use crate::onnx::graph::Attr;
use crate::onnx::{Dim, GraphBuilder};
use crate::text::{PAD_ID, Vocab};
use crate::{Error, Result};

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
        combination: None,
    };
    manifest.save(dir)?;
    Ok(manifest)
}

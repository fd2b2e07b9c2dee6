//! Several exported models as one: each member's graphs side by side in one graph per
//! tower, their unit vectors concatenated and scaled by 1/√k. A dot product of two
//! combined vectors is then the mean of the members' cosines, so search, the index and
//! `glimpse eval` rank by the ensemble with no change. Members must share the backbone and
//! the vocabulary (the same training data and vocabulary settings give the same one).

use std::path::{Path, PathBuf};

use super::export::{GLOVE_CODES, GLOVE_SCALES, TextWeights};
use super::model::ModelConfig;
use crate::durable::write_atomically;
use crate::model::manifest::{
    Combination, EMBEDDING_OUTPUT, FEATURES_INPUT, GraphRef, IDS_INPUT, IMAGE_GRAPH, JointManifest, MODEL_FORMAT,
    MODEL_VERSION, Member, TEXT_GRAPH, VOCAB_FILE, sha256,
};
use crate::onnx::proto::GraphProto;
use crate::onnx::read::read_graph;
use crate::onnx::{Dim, GraphBuilder};
use crate::{Error, Result};

/// One tower of every member in one graph: `input` → each member's part → `embedding`.
pub(crate) fn combined_graph(name: &str, graphs: &[GraphProto], input: (&str, bool, i64), joint_dim: usize) -> Vec<u8> {
    let (input_name, ids, width) = input;
    let mut g = GraphBuilder::new(name);
    let dims = [Dim::Named("N"), Dim::Fixed(width)];
    if ids {
        g.input_i64(input_name, &dims);
    } else {
        g.input_f32(input_name, &dims);
    }
    g.output_f32(EMBEDDING_OUTPUT, &[Dim::Named("N"), Dim::Fixed(joint_dim as i64)]);
    let mut parts = Vec::new();
    for (i, graph) in graphs.iter().enumerate() {
        parts.extend(g.include(graph, &format!("m{i}/"), &[input_name, GLOVE_CODES, GLOVE_SCALES]));
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let scale = 1.0 / (graphs.len() as f32).sqrt();
    g.initializer_f32("combined.scale", &[], &[scale])
        .node("Concat", &parts, &["combined.parts"], &[("axis", crate::onnx::graph::Attr::Int(1))])
        .node("Mul", &["combined.parts", "combined.scale"], &[EMBEDDING_OUTPUT], &[]);
    g.to_bytes()
}

/// Writes the model folder `dir` combining the exported models `members` (at least two,
/// none itself combined). Returns its manifest; `dev` is left for the caller to measure.
pub fn combine(dir: &Path, members: &[PathBuf]) -> Result<JointManifest> {
    if members.len() < 2 {
        return Err(Error::Invalid("combining needs at least two models".into()));
    }
    let manifests: Vec<JointManifest> = members.iter().map(|m| JointManifest::load(m)).collect::<Result<_>>()?;
    let first = &manifests[0];
    let vocab = std::fs::read(members[0].join(&first.vocab)).map_err(|e| Error::io(&members[0], e))?;
    for (path, m) in members.iter().zip(&manifests) {
        if m.hubness.is_some() {
            return Err(Error::model(path, "is calibrated: combine the models it was made from, then calibrate"));
        }
        if m.combination.is_some() {
            return Err(Error::model(path, "is itself a combined model: combine its members instead"));
        }
        if m.backbone.sha256 != first.backbone.sha256 {
            return Err(Error::model(
                path,
                format!(
                    "was trained on features of '{}', the first model on '{}': members must share the backbone",
                    m.backbone.name, first.backbone.name
                ),
            ));
        }
        if read_graph(&path.join(&m.text_encoder.file))?.initializer.iter().any(|t| t.name == GLOVE_CODES) {
            return Err(Error::model(
                path,
                "has an open vocabulary: combine the models it was made from, then open the vocabulary of the combination (`glimpse repack --glove`)",
            ));
        }
        let theirs = std::fs::read(path.join(&m.vocab)).map_err(|e| Error::io(path, e))?;
        if theirs != vocab || m.seq_len != first.seq_len {
            return Err(Error::model(
                path,
                "has another vocabulary than the first model: train the members with the same data and vocabulary settings",
            ));
        }
    }
    let joint_dim: usize = manifests.iter().map(|m| m.model.joint_dim).sum();
    let graphs = |file: fn(&JointManifest) -> &str| -> Result<Vec<GraphProto>> {
        members.iter().zip(&manifests).map(|(dir, m)| read_graph(&dir.join(file(m)))).collect()
    };
    let image = combined_graph(
        "glimpse-combined-image-head",
        &graphs(|m| &m.image_head.file)?,
        (FEATURES_INPUT, false, first.model.feature_dim as i64),
        joint_dim,
    );
    let text = combined_graph(
        "glimpse-combined-text-encoder",
        &graphs(|m| &m.text_encoder.file)?,
        (IDS_INPUT, true, first.seq_len as i64),
        joint_dim,
    );
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    write_atomically(&dir.join(IMAGE_GRAPH), &[&image])?;
    write_atomically(&dir.join(TEXT_GRAPH), &[&text])?;
    write_atomically(&dir.join(VOCAB_FILE), &[&vocab])?;
    let manifest = JointManifest {
        format: MODEL_FORMAT.into(),
        version: MODEL_VERSION,
        model: ModelConfig { joint_dim, image_hidden: None, feature_slice: None, ..first.model.clone() },
        backbone: first.backbone.clone(),
        image_head: GraphRef { file: IMAGE_GRAPH.into(), sha256: sha256(&image) },
        text_encoder: GraphRef { file: TEXT_GRAPH.into(), sha256: sha256(&text) },
        seq_len: first.seq_len,
        vocab: VOCAB_FILE.into(),
        training: None,
        no_match: None,
        hubness: None,
        compact: None,
        personalised: None,
        combination: Some(Combination {
            members: manifests
                .iter()
                .map(|m| Member { model: m.model.clone(), training: m.training.clone() })
                .collect(),
            dev: None,
        }),
    };
    manifest.save(dir)?;
    Ok(manifest)
}

/// The weights of the text encoder graph `graph` of the model `manifest` describes: one
/// per member of a combined model, else one.
pub(crate) fn text_members(manifest: &JointManifest, graph: &GraphProto) -> Result<Vec<TextWeights>> {
    match &manifest.combination {
        None => Ok(vec![TextWeights::from_graph(graph, "")?]),
        Some(combination) => {
            (0..combination.members.len()).map(|i| TextWeights::from_graph(graph, &format!("m{i}/"))).collect()
        }
    }
}

/// The text encoder graph of the model `manifest` describes, from its members' weights
/// ([`text_members`]), in the form [`super::export`] writes today.
pub(crate) fn text_graph(manifest: &JointManifest, members: &[TextWeights]) -> Vec<u8> {
    match (&manifest.combination, members) {
        (None, [one]) => one.graph(manifest.seq_len).to_bytes(),
        _ => combined_graph(
            "glimpse-combined-text-encoder",
            &members.iter().map(|m| m.graph(manifest.seq_len).graph().clone()).collect::<Vec<_>>(),
            (IDS_INPUT, true, manifest.seq_len as i64),
            manifest.model.joint_dim,
        ),
    }
}

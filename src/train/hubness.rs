//! Hubness correction. In a high-dimensional joint space some photos sit close to a great
//! many captions ("hubs") and crowd the top of rankings they do not belong in. Each photo
//! gets an offset, `weight ×` the mean cosine of its `k` nearest captions in a bank of
//! training captions, and text search ranks by cosine minus offset: cross-domain similarity
//! local scaling (Lample et al., 2018) with a bank of training queries (as in query-bank
//! normalisation, Bogolin et al., 2022).
//!
//! The bank (float16) lives in the image head graph, which then has a second output,
//! `offset [N]`, beside `embedding [N, D]`: ONNX Runtime computes both when a photo is
//! projected, the index stores the offset beside the vector, and `glimpse eval` ranks with
//! it exactly as search does. Image→text rankings do not change (a photo's offset is the
//! same for every caption).

use std::path::Path;

use super::rng::Rng;
use crate::dataset::flickr8k::ImageCaptions;
use crate::durable::write_atomically;
use crate::model::manifest::{EMBEDDING_OUTPUT, FEATURES_INPUT, GraphRef, Hubness, IMAGE_GRAPH, JointManifest, sha256};
use crate::onnx::graph::Attr;
use crate::onnx::proto;
use crate::onnx::read::read_graph;
use crate::onnx::{Dim, GraphBuilder};
use crate::{Error, Result};

pub use crate::engine::head::OFFSET_OUTPUT;

/// `n` of `items`' captions (all of them when there are fewer), chosen at random with
/// `seed`: the same data and seed give the same bank.
pub fn bank_captions(items: &[ImageCaptions], n: usize, seed: u64) -> Vec<String> {
    let mut all: Vec<&str> = items.iter().flat_map(|i| i.captions.iter().map(String::as_str)).collect();
    Rng::new(seed).shuffle(&mut all);
    all.into_iter().take(n).map(str::to_string).collect()
}

/// The manifest of the model folder `dir`, refused when the model is calibrated already
/// (checked before the bank is embedded, and again by [`calibrate`]).
pub fn load_uncalibrated(dir: &Path) -> Result<JointManifest> {
    let manifest = JointManifest::load(dir)?;
    if manifest.hubness.is_some() {
        return Err(Error::model(dir, "is already calibrated: calibrate the model it was made from"));
    }
    Ok(manifest)
}

/// Rewrites the image head of the model folder `dir` to output offsets against `bank`
/// (unit rows, `bank.len() / dim` of them, from the model's own text encoder) and records
/// `settings` in its manifest. A model that already has offsets is refused: calibrate the
/// model it was made from.
pub fn calibrate(dir: &Path, bank: &[f32], settings: &Hubness) -> Result<JointManifest> {
    let mut manifest = load_uncalibrated(dir)?;
    let dim = manifest.model.joint_dim;
    let rows = bank.len().checked_div(dim).unwrap_or(0);
    if rows == 0 || rows * dim != bank.len() {
        return Err(Error::Invalid(format!("the caption bank must be whole {dim}-long rows, at least one")));
    }
    if settings.k == 0 || settings.k > rows {
        return Err(Error::Invalid(format!("k must be 1 to the bank's {rows} captions, not {}", settings.k)));
    }
    let path = dir.join(&manifest.image_head.file);
    let base = read_graph(&path)?;
    if base.output.len() != 1 {
        return Err(Error::model(&path, "an image head to calibrate has exactly one output"));
    }
    let graph = calibrated_graph(&base, manifest.model.feature_dim, dim, bank, rows, settings);
    write_atomically(&dir.join(IMAGE_GRAPH), &[&graph])?;
    manifest.image_head = GraphRef { file: IMAGE_GRAPH.into(), sha256: sha256(&graph) };
    manifest.hubness = Some(Hubness { dev: None, ..settings.clone() });
    // The cue's threshold was measured on uncorrected scores.
    manifest.no_match = None;
    manifest.save(dir)?;
    Ok(manifest)
}

/// `base` (features → embedding) with the offset computed beside it:
/// `offset = weight · mean(top_k(embedding · bankᵀ))`.
fn calibrated_graph(
    base: &proto::GraphProto,
    feature_dim: usize,
    dim: usize,
    bank: &[f32],
    rows: usize,
    settings: &Hubness,
) -> Vec<u8> {
    let mut g = GraphBuilder::new("glimpse-calibrated-image-head");
    g.input_f32(FEATURES_INPUT, &[Dim::Named("N"), Dim::Fixed(feature_dim as i64)])
        .output_f32(EMBEDDING_OUTPUT, &[Dim::Named("N"), Dim::Fixed(dim as i64)])
        .output_f32(OFFSET_OUTPUT, &[Dim::Named("N")]);
    let outputs = g.include(base, "head/", &[FEATURES_INPUT]);
    // The bank transposed to [D, B], so that one MatMul gives every photo's cosines.
    let transposed = super::export::transpose(bank, rows, dim);
    g.node("Identity", &[&outputs[0]], &[EMBEDDING_OUTPUT], &[])
        .initializer_f32(BANK, &[dim as i64, rows as i64], &transposed)
        .node("MatMul", &[EMBEDDING_OUTPUT, BANK], &["hubness.cosines"], &[])
        .initializer_i64("hubness.k", &[1], &[settings.k as i64])
        .node(
            "TopK",
            &["hubness.cosines", "hubness.k"],
            &["hubness.top", "hubness.top_ids"],
            &[("axis", Attr::Int(1)), ("largest", Attr::Int(1)), ("sorted", Attr::Int(1))],
        )
        .initializer_i64("hubness.axes", &[1], &[1])
        .node("ReduceMean", &["hubness.top", "hubness.axes"], &["hubness.mean"], &[("keepdims", Attr::Int(0))])
        .initializer_f32("hubness.weight", &[], &[settings.weight])
        .node("Mul", &["hubness.mean", "hubness.weight"], &[OFFSET_OUTPUT], &[]);
    g.int8_columns(BANK).half_weights().to_bytes()
}

/// The bank's name in a calibrated image head: `[D, B]`, one caption per column, stored
/// as int8 codes with one scale per caption.
const BANK: &str = "hubness.bank";

/// The float16 bank of image heads calibrated before the int8 one, with the `Cast` that
/// read it.
const BANK_F16: &str = "hubness.bank16";

/// Stores the bank of a calibrated image head of the earlier form (float16) as int8
/// columns, as [`calibrated_graph`] now writes it. Returns false when the graph has no
/// float16 bank.
pub(crate) fn repack_bank(graph: &mut proto::GraphProto) -> bool {
    let Some(tensor) = graph.initializer.iter_mut().find(|t| t.name == BANK_F16) else { return false };
    // `int8_columns` reads float16 as well: the bank only takes the name the MatMul reads.
    tensor.name = BANK.to_string();
    graph.node.retain(|n| !(n.op_type == "Cast" && n.input.first().is_some_and(|i| i == BANK_F16)));
    crate::onnx::graph::int8_columns(graph, BANK)
}

/// What [`calibrated_graph`] computes, in plain Rust over a bank rounded to int8 as the
/// graph stores it (one scale per caption): the offset of one unit photo vector.
pub fn reference_offset(embedding: &[f32], bank: &[f32], settings: &Hubness) -> f32 {
    let dim = embedding.len();
    let mut cosines: Vec<f32> = bank
        .chunks_exact(dim)
        .map(|row| {
            // One caption is one column of the stored [D, B] bank: one scale for the row.
            let (codes, scale) = crate::onnx::graph::int8_columns_of(row, 1);
            codes.iter().zip(embedding).map(|(c, e)| f32::from(*c) * scale[0] * e).sum()
        })
        .collect();
    cosines.sort_by(|a, b| b.total_cmp(a));
    let k = settings.k.min(cosines.len()).max(1);
    settings.weight * cosines[..k].iter().sum::<f32>() / k as f32
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn items(n: usize) -> Vec<ImageCaptions> {
        (0..n)
            .map(|i| ImageCaptions {
                image: format!("{i}.jpg"),
                path: PathBuf::from(format!("{i}.jpg")),
                captions: (0..5).map(|c| format!("photo {i} caption {c}")).collect(),
            })
            .collect()
    }

    #[test]
    fn the_bank_is_a_seeded_choice_of_distinct_captions() {
        let items = items(20);
        let bank = bank_captions(&items, 30, 7);
        assert_eq!(bank, bank_captions(&items, 30, 7));
        assert_ne!(bank, bank_captions(&items, 30, 8));
        let mut distinct = bank.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 30);
        // Drawn from all over, not the first photos' captions in order.
        let photo_of = |c: &String| c.split(' ').nth(1).and_then(|i| i.parse::<usize>().ok()).unwrap();
        assert!(bank.iter().any(|c| photo_of(c) >= 10));
        assert_eq!(bank_captions(&items, 500, 7).len(), 100);
    }

    #[test]
    fn the_reference_offset_is_the_weighted_mean_of_the_k_best_cosines() {
        let bank = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        let settings = Hubness { bank: 3, k: 2, weight: 0.5, seed: 0, dev: None };
        // Cosines of (0.6, 0.8): 0.6, 0.8, 1.0 → best two 1.0 and 0.8.
        let offset = reference_offset(&[0.6, 0.8], &bank, &settings);
        assert!((offset - 0.45).abs() < 1e-3, "{offset}");
    }
}

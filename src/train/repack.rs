//! `glimpse repack`: a model folder's graphs rewritten in the form [`super::export`] writes
//! today, keeping every weight (see [`repack`]).

use std::path::Path;

use prost::Message;

use super::combine::{text_graph, text_members};
use super::hubness::repack_bank;
use crate::durable::write_atomically;
use crate::engine::BackboneModel;
use crate::model::manifest::{JointManifest, sha256};
use crate::onnx::graph::{HALF_MIN_VALUES, half_weights};
use crate::onnx::read::{read_graph, read_model};
use crate::{Error, Result};

/// What [`repack`] did to one graph file.
#[derive(Clone, Debug)]
pub struct Repacked {
    /// The file name inside the model folder.
    pub file: String,
    /// Its size before and after, in bytes.
    pub bytes: (u64, u64),
}

/// Rewrites the graphs of the model folder `dir` in the form [`super::export`] writes
/// today, keeping every weight: large weights stored as float16, and a GRU text encoder as
/// ONNX's `GRU` operator instead of one group of nodes per word (which ONNX Runtime takes
/// about 0.3 s to open), and a calibrated head's caption bank as int8. Combined models are
/// rebuilt member by member. The manifest gets
/// the graphs' new sha256; the vocabulary, the calibration and the compact projection stay.
/// The vectors change only by the rounding of the weights. With `backbone`, the model is
/// recorded as taking that backbone's features instead (same feature size required):
/// for a backbone measured to give features the model fits, such as an int8 copy of the
/// one it was trained on.
pub fn repack(dir: &Path, backbone: Option<&BackboneModel>) -> Result<(JointManifest, Vec<Repacked>)> {
    let mut manifest = JointManifest::load(dir)?;
    if let Some(backbone) = backbone {
        if backbone.manifest.features.dim != manifest.backbone.feature_dim {
            return Err(Error::model(
                dir,
                format!(
                    "takes {}-long features; the backbone '{}' gives {}",
                    manifest.backbone.feature_dim, backbone.manifest.name, backbone.manifest.features.dim
                ),
            ));
        }
        manifest.backbone.name = backbone.manifest.name.clone();
        manifest.backbone.sha256 = backbone.manifest.sha256.to_ascii_lowercase();
    }
    let size =
        |file: &str| std::fs::metadata(dir.join(file)).map(|m| m.len()).map_err(|e| Error::io(dir.join(file), e));
    let (text_file, head_file) = (manifest.text_encoder.file.clone(), manifest.image_head.file.clone());
    let before = (size(&text_file)?, size(&head_file)?);

    let old_text = read_graph(&dir.join(&text_file))?;
    let text = text_graph(&manifest, &text_members(&manifest, &old_text)?);
    let head_path = dir.join(&head_file);
    let mut head = read_model(&head_path)?;
    let graph = head.graph.get_or_insert_default();
    repack_bank(graph);
    half_weights(graph, HALF_MIN_VALUES);
    let head = head.encode_to_vec();

    write_atomically(&dir.join(&text_file), &[&text])?;
    write_atomically(&head_path, &[&head])?;
    manifest.text_encoder.sha256 = sha256(&text);
    manifest.image_head.sha256 = sha256(&head);
    manifest.save(dir)?;
    let done = vec![
        Repacked { file: text_file, bytes: (before.0, text.len() as u64) },
        Repacked { file: head_file, bytes: (before.1, head.len() as u64) },
    ];
    Ok((manifest, done))
}

//! An exported joint model opened for use: its manifest checked, its vocabulary loaded, both
//! graphs open in ONNX Runtime. This is exactly what search runs, and what `glimpse eval`
//! measures.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::{Array2, ArrayView2, Ix2};
use ort::session::Session;
use ort::value::TensorRef;

use super::manifest::{EMBEDDING_OUTPUT, FEATURES_INPUT, IDS_INPUT, JointManifest, MANIFEST_FILE};
use crate::engine::head::OFFSET_OUTPUT;
use crate::engine::manifest::sha256_file;
use crate::engine::{BackboneModel, Runtime, SessionOptions, session};
use crate::text::Vocab;
use crate::{Error, Result};

/// The folder of the model Glimpse ships (`<models>/text`), if one is installed.
pub fn default_model_dir() -> Option<PathBuf> {
    crate::locations::model_roots().into_iter().map(|r| r.join("text")).find(|d| d.join(MANIFEST_FILE).is_file())
}

/// An exported model, ready to embed backbone features and texts.
pub struct ExportedModel {
    /// The model folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: JointManifest,
    /// Its vocabulary.
    pub vocab: Vocab,
    image: Mutex<Session>,
    text: Mutex<Session>,
}

fn run(
    session: &Mutex<Session>,
    input: &str,
    value: TensorRef<'_, impl ort::value::PrimitiveTensorElementType + std::fmt::Debug>,
) -> Result<Array2<f32>> {
    Ok(run_with_offsets(session, input, value, false)?.0)
}

/// Runs a tower; with `offsets`, also reads the image head's [`OFFSET_OUTPUT`].
fn run_with_offsets(
    session: &Mutex<Session>,
    input: &str,
    value: TensorRef<'_, impl ort::value::PrimitiveTensorElementType + std::fmt::Debug>,
    offsets: bool,
) -> Result<(Array2<f32>, Option<Vec<f32>>)> {
    let mut session = session.lock().map_err(|_| Error::Ort("a previous run crashed".into()))?;
    let outputs = session.run(ort::inputs![input => value])?;
    let out = outputs
        .get(EMBEDDING_OUTPUT)
        .ok_or_else(|| Error::Ort(format!("the graph produced no '{EMBEDDING_OUTPUT}'")))?;
    let view = out.try_extract_array::<f32>()?;
    let embedding = view
        .into_dimensionality::<Ix2>()
        .map(|v| v.to_owned())
        .map_err(|_| Error::Ort(format!("output '{EMBEDDING_OUTPUT}' is not two-dimensional")))?;
    if !offsets {
        return Ok((embedding, None));
    }
    let out = outputs
        .get(OFFSET_OUTPUT)
        .ok_or_else(|| Error::Ort(format!("the calibrated image head produced no '{OFFSET_OUTPUT}'")))?;
    let offsets: Vec<f32> = out.try_extract_array::<f32>()?.iter().copied().collect();
    if offsets.len() != embedding.nrows() {
        return Err(Error::Ort(format!("{} offsets for {} photos", offsets.len(), embedding.nrows())));
    }
    Ok((embedding, Some(offsets)))
}

impl ExportedModel {
    /// Opens the model folder `dir`: checks the manifest's version and the graphs' sha256,
    /// loads the vocabulary, opens both graphs.
    pub fn open(runtime: &Runtime, dir: &Path, options: &SessionOptions) -> Result<ExportedModel> {
        let manifest = JointManifest::load(dir)?;
        for graph in [&manifest.image_head, &manifest.text_encoder] {
            let path = dir.join(&graph.file);
            let actual = sha256_file(&path)?;
            if !actual.eq_ignore_ascii_case(&graph.sha256) {
                return Err(Error::model(
                    &path,
                    format!(
                        "sha256 is {actual} but manifest.json says {}: the file is damaged or was replaced; export the model again",
                        graph.sha256
                    ),
                ));
            }
        }
        let vocab = Vocab::load(&dir.join(&manifest.vocab))?;
        if vocab.len() != manifest.model.vocab_size || vocab.settings().seq_len != manifest.seq_len {
            return Err(Error::model(dir, "the vocabulary does not match the model's manifest"));
        }
        let image = session::open(runtime, &dir.join(&manifest.image_head.file), options)?.session;
        let text = session::open(runtime, &dir.join(&manifest.text_encoder.file), options)?.session;
        Ok(ExportedModel { dir: dir.to_path_buf(), manifest, vocab, image: Mutex::new(image), text: Mutex::new(text) })
    }

    /// Refuses a backbone other than the one the image head was trained on.
    pub fn check_backbone(&self, backbone: &BackboneModel) -> Result<()> {
        let want = &self.manifest.backbone;
        if !backbone.manifest.sha256.eq_ignore_ascii_case(&want.sha256) {
            return Err(Error::model(
                &self.dir,
                format!(
                    "this model was trained on features of the backbone '{}' (sha256 {}), not of '{}' (sha256 {})",
                    want.name, want.sha256, backbone.manifest.name, backbone.manifest.sha256
                ),
            ));
        }
        Ok(())
    }

    /// Joint dimension.
    pub fn dim(&self) -> usize {
        self.manifest.model.joint_dim
    }

    /// Unit joint vectors of backbone features `[N, F]`.
    pub fn embed_features(&self, features: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        Ok(self.embed_features_with_offsets(features)?.0)
    }

    /// Unit joint vectors of backbone features `[N, F]` and each photo's hubness offset
    /// (all zero for a model that is not calibrated): search ranks by cosine minus offset.
    pub fn embed_features_with_offsets(&self, features: ArrayView2<'_, f32>) -> Result<(Array2<f32>, Vec<f32>)> {
        if features.ncols() != self.manifest.model.feature_dim {
            return Err(Error::Invalid(format!(
                "features have {} values, the model takes {}",
                features.ncols(),
                self.manifest.model.feature_dim
            )));
        }
        let features = features.as_standard_layout();
        let calibrated = self.manifest.hubness.is_some();
        let (embedding, offsets) =
            run_with_offsets(&self.image, FEATURES_INPUT, TensorRef::from_array_view(features.view())?, calibrated)?;
        let offsets = offsets.unwrap_or_else(|| vec![0.0; embedding.nrows()]);
        Ok((embedding, offsets))
    }

    /// Unit joint vectors of id sequences `[N, seq_len]`.
    pub fn embed_ids(&self, ids: ArrayView2<'_, i64>) -> Result<Array2<f32>> {
        if ids.ncols() != self.manifest.seq_len {
            return Err(Error::Invalid(format!(
                "{} ids per text, the model takes {}",
                ids.ncols(),
                self.manifest.seq_len
            )));
        }
        let ids = ids.as_standard_layout();
        run(&self.text, IDS_INPUT, TensorRef::from_array_view(ids.view())?)
    }

    /// Unit joint vectors of texts, encoded by the model's vocabulary.
    pub fn embed_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Array2<f32>> {
        let seq_len = self.manifest.seq_len;
        let mut ids = Array2::<i64>::zeros((texts.len(), seq_len));
        for (mut row, text) in ids.rows_mut().into_iter().zip(texts) {
            for (slot, id) in row.iter_mut().zip(self.vocab.encode(text.as_ref()).ids) {
                *slot = i64::from(id);
            }
        }
        self.embed_ids(ids.view())
    }
}

//! An exported joint model opened for use: its manifest checked and its vocabulary loaded;
//! each graph is checked against its sha256 and opened in ONNX Runtime when first needed,
//! so a text query never loads the image head and indexing never loads the text encoder. This is exactly what search runs, and what
//! `glimpse eval` measures.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::{Array2, ArrayView2, Ix2};
use ort::session::Session;
use ort::value::TensorRef;

use super::manifest::{EMBEDDING_OUTPUT, IDS_INPUT, JointManifest, MANIFEST_FILE};
use crate::engine::{BackboneModel, ProjectionHead, Runtime, SessionOptions, session};
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
    image: std::sync::OnceLock<ProjectionHead>,
    text: std::sync::OnceLock<Mutex<Session>>,
    runtime: &'static Runtime,
    options: SessionOptions,
}

/// Checks a graph of the model folder against the sha256 its manifest records.
fn check_sha256(path: &Path, expected: &str) -> Result<()> {
    crate::engine::manifest::check_sha256(path, expected, "manifest.json", "export the model again")
}

/// Runs the text tower.
fn run(
    session: &Mutex<Session>,
    input: &str,
    value: TensorRef<'_, impl ort::value::PrimitiveTensorElementType + std::fmt::Debug>,
) -> Result<Array2<f32>> {
    let mut session = session.lock().map_err(|_| Error::Ort("a previous run crashed".into()))?;
    let outputs = session.run(ort::inputs![input => value])?;
    let out = outputs
        .get(EMBEDDING_OUTPUT)
        .ok_or_else(|| Error::Ort(format!("the graph produced no '{EMBEDDING_OUTPUT}'")))?;
    let view = out.try_extract_array::<f32>()?;
    Ok(view
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::Ort(format!("output '{EMBEDDING_OUTPUT}' is not two-dimensional")))?
        .to_owned())
}

impl ExportedModel {
    /// Opens the model folder `dir`: checks the manifest's version, that both graphs are
    /// there and that the vocabulary fits; each graph is opened, and its sha256 checked, on
    /// its first use (a text query never opens the image head).
    pub fn open(runtime: &'static Runtime, dir: &Path, options: &SessionOptions) -> Result<ExportedModel> {
        let manifest = JointManifest::load(dir)?;
        for graph in [&manifest.text_encoder, &manifest.image_head] {
            let path = dir.join(&graph.file);
            if !path.is_file() {
                return Err(Error::model(&path, "is missing: export the model again"));
            }
        }
        let vocab = Vocab::load(&dir.join(&manifest.vocab))?;
        if vocab.len() != manifest.model.vocab_size || vocab.settings().seq_len != manifest.seq_len {
            return Err(Error::model(dir, "the vocabulary does not match the model's manifest"));
        }
        Ok(ExportedModel {
            dir: dir.to_path_buf(),
            manifest,
            vocab,
            image: std::sync::OnceLock::new(),
            text: std::sync::OnceLock::new(),
            runtime,
            options: options.clone(),
        })
    }

    /// The text encoder's session, opened and checked against the manifest on the first call.
    fn text(&self) -> Result<&Mutex<Session>> {
        if let Some(text) = self.text.get() {
            return Ok(text);
        }
        let path = self.dir.join(&self.manifest.text_encoder.file);
        check_sha256(&path, &self.manifest.text_encoder.sha256)?;
        let session = session::open(self.runtime, &path, &self.options)?.session;
        Ok(self.text.get_or_init(|| Mutex::new(session)))
    }

    /// Opens and checks both graphs now (what `glimpse doctor` verifies).
    pub fn check_graphs(&self) -> Result<()> {
        self.text()?;
        self.head().map(|_| ())
    }

    /// True once the text encoder was opened.
    pub fn text_opened(&self) -> bool {
        self.text.get().is_some()
    }

    /// True once [`ExportedModel::head`] opened the image head.
    pub fn head_opened(&self) -> bool {
        self.image.get().is_some()
    }

    /// The image head, opened and checked against the manifest on the first call (photo
    /// terms, "find similar", indexing, measuring); later calls share it.
    pub fn head(&self) -> Result<&ProjectionHead> {
        if let Some(head) = self.image.get() {
            return Ok(head);
        }
        let path = self.dir.join(&self.manifest.image_head.file);
        check_sha256(&path, &self.manifest.image_head.sha256)?;
        let head = ProjectionHead::open(self.runtime, &path, &self.options)?;
        if head.has_offset() != self.manifest.hubness.is_some() {
            return Err(Error::model(&path, "its offset output does not match the manifest's calibration"));
        }
        Ok(self.image.get_or_init(|| head))
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
        let (rows, offsets) = self.head()?.project_with_offsets(features.view())?;
        let dim = rows.first().map_or(self.dim(), Vec::len);
        let n = rows.len();
        let embedding = Array2::from_shape_vec((n, dim), rows.into_iter().flatten().collect())
            .map_err(|e| Error::Ort(format!("the image head's output: {e}")))?;
        Ok((embedding, offsets.unwrap_or_else(|| vec![0.0; n])))
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
        run(self.text()?, IDS_INPUT, TensorRef::from_array_view(ids.view())?)
    }

    /// Unit joint vectors of texts, encoded by the model's vocabulary as search encodes them
    /// ([`Vocab::encode_known`]): a word it has no vector for is read as the word meant
    /// where one is found (a typo), else left out.
    pub fn embed_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Array2<f32>> {
        let seq_len = self.manifest.seq_len;
        let mut ids = Array2::<i64>::zeros((texts.len(), seq_len));
        for (mut row, text) in ids.rows_mut().into_iter().zip(texts) {
            for (slot, id) in row.iter_mut().zip(self.vocab.encode_known(text.as_ref()).encoded.ids) {
                *slot = i64::from(id);
            }
        }
        self.embed_ids(ids.view())
    }
}

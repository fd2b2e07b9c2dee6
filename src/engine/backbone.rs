//! A backbone session: image tensors in, pooled features (and class logits) out.

use std::sync::{Arc, Mutex};

use ndarray::{Array2, ArrayView4, Ix2};
use ort::session::Session;
use ort::value::{TensorRef, ValueType};

use super::manifest::BackboneModel;
use super::preprocess::Preprocess;
use super::runtime::Runtime;
use super::session::{self, ActiveProvider, SessionOptions};
use crate::{Error, Result};

/// Features (and logits) for a batch of photos.
#[derive(Clone, Debug)]
pub struct BackboneOutput {
    /// `[batch, dim]` pooled features.
    pub features: Array2<f32>,
    /// `[batch, classes]` classifier logits, when asked for and the graph has them.
    pub logits: Option<Array2<f32>>,
}

/// An open backbone: its model folder and one ONNX Runtime session.
///
/// Cloning is cheap and shares the session; runs are serialised by a lock, because ONNX
/// Runtime sessions run one call at a time.
#[derive(Clone)]
pub struct Backbone {
    model: Arc<BackboneModel>,
    session: Arc<Mutex<Session>>,
    provider: ActiveProvider,
    notice: Option<String>,
}

fn dims_of(value_type: &ValueType) -> Option<Vec<i64>> {
    match value_type {
        ValueType::Tensor { shape, .. } => Some(shape.iter().copied().collect()),
        _ => None,
    }
}

impl Backbone {
    /// Opens the model's graph and checks that its inputs and outputs are the ones its
    /// manifest describes; a mismatch names both.
    pub fn open(runtime: &Runtime, model: BackboneModel, options: &SessionOptions) -> Result<Self> {
        let graph = model.graph_path();
        let opened = session::open(runtime, &graph, options)?;
        let m = &model.manifest;
        let input = opened.session.inputs().iter().find(|i| i.name() == m.input.name).ok_or_else(|| {
            let names: Vec<_> = opened.session.inputs().iter().map(|i| i.name().to_string()).collect();
            Error::model(
                &graph,
                format!("has no input '{}' (it has {names:?}); is this the right model file?", m.input.name),
            )
        })?;
        let size = i64::from(m.input.size);
        match dims_of(input.dtype()).as_deref() {
            Some([_, 3, h, w]) if (*h == size || *h < 0) && (*w == size || *w < 0) => {}
            other => {
                return Err(Error::model(
                    &graph,
                    format!(
                        "input '{}' has shape {other:?}, but the manifest says [N, 3, {size}, {size}]",
                        m.input.name
                    ),
                ));
            }
        }
        let mut wanted = vec![(&m.features.output, Some(m.features.dim))];
        if let Some(logits) = &m.logits {
            wanted.push((&logits.output, model.labels.as_ref().map(Vec::len)));
        }
        for (name, dim) in wanted {
            let output = opened.session.outputs().iter().find(|o| o.name() == name.as_str()).ok_or_else(|| {
                let names: Vec<_> = opened.session.outputs().iter().map(|o| o.name().to_string()).collect();
                Error::model(
                    &graph,
                    format!("has no output '{name}' (it has {names:?}); is this the right model file?"),
                )
            })?;
            if let (Some(dims), Some(dim)) = (dims_of(output.dtype()), dim) {
                let last = dims.last().copied().unwrap_or(-1);
                if dims.len() != 2 || (last >= 0 && last != dim as i64) {
                    return Err(Error::model(
                        &graph,
                        format!("output '{name}' has shape {dims:?}, but the manifest says [N, {dim}]"),
                    ));
                }
            }
        }
        Ok(Backbone {
            model: Arc::new(model),
            session: Arc::new(Mutex::new(opened.session)),
            provider: opened.provider,
            notice: opened.notice,
        })
    }

    /// The model folder this backbone was opened from.
    pub fn model(&self) -> &BackboneModel {
        &self.model
    }

    /// The execution provider the session runs on.
    pub fn provider(&self) -> ActiveProvider {
        self.provider
    }

    /// Why the session does not run on the provider the user asked for, if it does not.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// The preprocessing this backbone's manifest asks for.
    pub fn preprocess(&self) -> Preprocess {
        Preprocess::from_manifest(&self.model.manifest)
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.model.manifest.features.dim
    }

    /// Asks ONNX Runtime to give back the memory its arena holds beyond what one photo
    /// needs, by running a blank photo with arena shrinkage on: called when a run of
    /// indexing ends, so a window that indexed goes back to about what it used before, while
    /// batches during indexing keep reusing their memory.
    pub fn release_memory(&self) -> Result<()> {
        let m = &self.model.manifest;
        let side = m.input.size as usize;
        let blank = ndarray::Array4::<f32>::zeros((1, 3, side, side));
        let mut options = ort::session::RunOptions::new()?;
        options.set("memory.enable_memory_arena_shrinkage", "cpu:0")?;
        let mut session = self.session.lock().map_err(|_| Error::Ort("a previous run crashed".into()))?;
        session.run_with_options(
            ort::inputs![m.input.name.as_str() => TensorRef::from_array_view(blank.view())?],
            &options,
        )?;
        Ok(())
    }

    /// Runs a batch `[N, 3, S, S]`.
    pub fn run(&self, batch: ArrayView4<'_, f32>, want_logits: bool) -> Result<BackboneOutput> {
        let m = &self.model.manifest;
        let mut session = self.session.lock().map_err(|_| Error::Ort("a previous run crashed".into()))?;
        let input = TensorRef::from_array_view(batch)?;
        let outputs = session.run(ort::inputs![m.input.name.as_str() => input])?;
        let extract = |name: &str| -> Result<Array2<f32>> {
            let value = outputs.get(name).ok_or_else(|| Error::Ort(format!("the graph produced no '{name}'")))?;
            let view = value.try_extract_array::<f32>()?;
            view.into_dimensionality::<Ix2>()
                .map(|v| v.to_owned())
                .map_err(|_| Error::Ort(format!("output '{name}' is not two-dimensional")))
        };
        let features = extract(&m.features.output)?;
        let logits = match (&m.logits, want_logits) {
            (Some(spec), true) => Some(extract(&spec.output)?),
            _ => None,
        };
        Ok(BackboneOutput { features, logits })
    }
}

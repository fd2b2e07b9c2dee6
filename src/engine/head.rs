//! A projection head: a small graph that maps backbone features into the joint text–image
//! space (`[N, F]` → `[N, D]`). Because the index stores backbone features, a new head
//! re-projects a whole library without decoding a photo.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ndarray::{ArrayView2, Ix2};
use ort::session::Session;
use ort::value::{TensorRef, ValueType};

use super::manifest::sha256_file;
use super::runtime::Runtime;
use super::session::{self, SessionOptions};
use crate::{Error, Result};

/// The second output of a calibrated head: each row's hubness offset.
pub const OFFSET_OUTPUT: &str = "offset";

/// Projected rows, and each row's offset when the head is calibrated.
pub type Projected = (Vec<Vec<f32>>, Option<Vec<f32>>);

/// An open projection head. Cloning shares the session.
#[derive(Clone)]
pub struct ProjectionHead {
    session: Arc<Mutex<Session>>,
    input: String,
    output: String,
    /// The second output (`offset [N]`) of a calibrated head, if it has one.
    offset: Option<String>,
    in_dim: usize,
    out_dim: usize,
    sha256: String,
}

fn last_dim(value_type: &ValueType) -> Option<usize> {
    match value_type {
        ValueType::Tensor { shape, .. } if shape.len() == 2 => usize::try_from(shape[1]).ok(),
        _ => None,
    }
}

impl std::fmt::Debug for ProjectionHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectionHead")
            .field("in_dim", &self.in_dim)
            .field("out_dim", &self.out_dim)
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl ProjectionHead {
    /// Opens a head graph with one float input `[N, F]` and one float output `[N, D]`, and
    /// for a calibrated text model a second output `offset [N]` (see
    /// [`crate::train::hubness`]).
    pub fn open(runtime: &Runtime, graph: &Path, options: &SessionOptions) -> Result<Self> {
        let opened = session::open(runtime, graph, options)?;
        let s = &opened.session;
        let (Some(input), Some(output)) = (s.inputs().first(), s.outputs().first()) else {
            return Err(Error::model(graph, "a projection head needs one input and one output"));
        };
        let (Some(in_dim), Some(out_dim)) = (last_dim(input.dtype()), last_dim(output.dtype())) else {
            return Err(Error::model(graph, "a projection head maps [N, F] to [N, D] with fixed F and D"));
        };
        let offset = match s.outputs() {
            [_] => None,
            [_, second] if second.name() == OFFSET_OUTPUT => Some(second.name().to_string()),
            _ => {
                return Err(Error::model(
                    graph,
                    "a projection head has one output, or two with the second named 'offset'",
                ));
            }
        };
        Ok(ProjectionHead {
            input: input.name().to_string(),
            output: output.name().to_string(),
            offset,
            in_dim,
            out_dim,
            sha256: sha256_file(graph)?,
            session: Arc::new(Mutex::new(opened.session)),
        })
    }

    /// Feature length it takes.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }

    /// Joint-space length it gives.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// sha256 of its graph: the identity of the joint vectors it makes.
    pub fn id(&self) -> &str {
        &self.sha256
    }

    /// True for a calibrated head, whose rows come with an offset.
    pub fn has_offset(&self) -> bool {
        self.offset.is_some()
    }

    /// Projects a batch of feature rows.
    pub fn project(&self, features: ArrayView2<'_, f32>) -> Result<Vec<Vec<f32>>> {
        Ok(self.project_with_offsets(features)?.0)
    }

    /// Projects a batch of feature rows, with each row's offset when the head is calibrated.
    pub fn project_with_offsets(&self, features: ArrayView2<'_, f32>) -> Result<Projected> {
        if features.ncols() != self.in_dim {
            return Err(Error::Invalid(format!(
                "the projection head takes {}-long features, not {}",
                self.in_dim,
                features.ncols()
            )));
        }
        let mut session = self.session.lock().map_err(|_| Error::Ort("a previous run crashed".into()))?;
        let outputs = session.run(ort::inputs![self.input.as_str() => TensorRef::from_array_view(features)?])?;
        let value = outputs.get(&self.output).ok_or_else(|| Error::Ort(format!("no output '{}'", self.output)))?;
        let array = value
            .try_extract_array::<f32>()?
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::Ort("the head's output is not two-dimensional".into()))?;
        let rows: Vec<Vec<f32>> = array.rows().into_iter().map(|r| r.to_vec()).collect();
        let Some(name) = &self.offset else {
            return Ok((rows, None));
        };
        let value = outputs.get(name).ok_or_else(|| Error::Ort(format!("no output '{name}'")))?;
        let offsets: Vec<f32> = value.try_extract_array::<f32>()?.iter().copied().collect();
        if offsets.len() != rows.len() {
            return Err(Error::Ort(format!("the head gave {} offsets for {} rows", offsets.len(), rows.len())));
        }
        Ok((rows, Some(offsets)))
    }
}

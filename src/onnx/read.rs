//! Reads an ONNX model file back into the messages of [`super::proto`], for the steps that
//! rewrite exported graphs (combining, calibrating, repacking, opening a vocabulary).

use std::path::Path;

use prost::Message;

use super::proto::{GraphProto, ModelProto};
use crate::{Error, Result};

/// The ONNX model at `path`, with its graph.
pub(crate) fn read_model(path: &Path) -> Result<ModelProto> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let model =
        ModelProto::decode(bytes.as_slice()).map_err(|e| Error::model(path, format!("not an ONNX model: {e}")))?;
    if model.graph.is_none() {
        return Err(Error::model(path, "the ONNX model has no graph"));
    }
    Ok(model)
}

/// The graph of the ONNX model at `path`.
pub(crate) fn read_graph(path: &Path) -> Result<GraphProto> {
    Ok(read_model(path)?.graph.unwrap_or_default())
}

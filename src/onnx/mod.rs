//! A small writer for ONNX graphs.
//!
//! Glimpse writes its own graphs in two places: tests generate tiny backbones with the same
//! interface as the real ones, and training exports its heads. Only the messages of
//! `onnx.proto` that those graphs need are declared, with their official field numbers.

pub mod graph;
pub mod proto;

pub use graph::{Dim, GraphBuilder};

//! A small writer (and reader) for ONNX graphs.
//!
//! Glimpse writes its own graphs in two places: tests generate tiny backbones with the same
//! interface as the real ones, and training exports its heads. Only the messages of
//! `onnx.proto` that those graphs need are declared, with their official field numbers.
//! Exported graphs are read back ([`read`]) to be combined, calibrated or repacked.

pub mod graph;
pub mod proto;
pub mod read;

pub use graph::{Dim, GraphBuilder};

//! The joint text–image model as data and files: what it is and how it was made
//! ([`config`]), its folder's manifest with the records of training, combination and
//! calibration ([`manifest`]), a personalised model's record ([`personal`]), and the model opened in ONNX Runtime ([`exported`]).
//!
//! Training, combining and calibrating write model folders and search reads them; all of
//! them depend on this module and none on another.

pub mod config;
pub mod exported;
pub mod manifest;
pub mod personal;

pub use exported::{ExportedModel, default_model_dir};
pub use manifest::JointManifest;

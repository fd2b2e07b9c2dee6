//! Training the joint image–text model: cached backbone features of a captioned dataset, a
//! two-tower model (candle), a margin triplet loss with selectable mining, Recall@K
//! evaluation, and export of both towers as ONNX graphs the engine runs.
//!
//! - [`rng`]: the seeded generator behind every random choice of a run.
//! - [`features`]: backbone features of dataset photos, computed once and cached on disk.
//! - [`model`]: the image head and the text encoder.
//! - [`loss`]: the triplet loss in both directions and its mining strategies.
//! - [`eval`]: Recall@K and median rank, text→image and image→text.
//! - [`trainer`]: the training loop (AdamW, schedule, early stopping, best epoch kept).
//! - [`export`]: both towers as ONNX graphs, the vocabulary and a versioned manifest.
//! - [`combine`]: several exported models as one ensemble model.
//! - [`hubness`]: calibration against a bank of training captions, so photos close to
//!   everything stop crowding rankings (`glimpse calibrate`).
//! - [`compact`]: the compact projection search stores per photo, fitted on training
//!   features (`glimpse compact`).
//! - [`repack`]: a model folder's graphs rewritten in today's form, every weight kept.
//! - [`open_vocab`]: vectors for GloVe words no caption taught, mapped from their GloVe
//!   vectors (`glimpse repack --glove`).
//! - [`personalise`]: the text model fine-tuned on Flickr8k plus a person's own captions,
//!   offered only when it finds their held-out captions' photos better.
//! - [`recipe`]: the whole run on Flickr8k as one job, and evaluation of an exported model.
//! - [`workflow`]: measuring, combining and calibrating model folders as jobs, for the CLI and the window.

pub mod combine;
pub mod compact;
pub mod eval;
pub mod export;
pub mod features;
pub mod hubness;
pub mod loss;
pub mod model;
pub mod open_vocab;
pub mod personalise;
pub mod recipe;
pub mod repack;
pub mod rng;
pub mod trainer;
pub mod workflow;

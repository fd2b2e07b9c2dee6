//! Glimpse finds photos by what they show.
//!
//! The library is organised in layers (see `ARCHITECTURE.md`):
//! - [`engine`]: ONNX Runtime, backbone models and photo preprocessing. It knows nothing of
//!   the layers above it.
//! - [`onnx`]: a small writer and reader of ONNX graphs (test fixtures, exported heads, and
//!   the graphs combining, calibrating and repacking rewrite).
//! - [`job`]: the owned handle every long task runs behind (progress, stop flag, report).
//! - [`bench`]: measurements reported by `glimpse bench`.
//!
//! The `glimpse` binary and the desktop app call only this public API.

pub mod app;
pub mod bench;
pub mod checked;
pub mod dataset;
pub mod durable;
pub mod engine;
pub mod error;
pub mod files;
pub mod finder;
pub mod index;
pub mod job;
pub mod locations;
pub mod model;
pub mod onnx;
pub mod text;
pub mod train;

pub use error::{Error, Result};

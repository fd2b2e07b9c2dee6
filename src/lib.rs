//! Glimpse finds photos by what they show.
//!
//! The library is organised in layers, lowest first (see `ARCHITECTURE.md`, whose drawing a
//! test keeps true); a module uses only the layers below its own:
//! - foundations, which know nothing of photos or models: [`error`], [`job`] (the owned
//!   handle every long task runs behind), [`locations`], [`durable`], [`checked`], [`files`],
//!   [`onnx`] (a small writer and reader of ONNX graphs);
//! - [`engine`] (ONNX Runtime, backbones, photo decoding and preprocessing), [`text`] (words
//!   to ids to vectors), [`dataset`] (Flickr8k);
//! - [`index`] (the photo library: scan, embed, store, search, watch) and [`model`] (the joint
//!   model as data and files);
//! - [`train`] (training, export, combining, calibrating);
//! - [`finder`] (a library opened with its models: the one search);
//! - [`bench`] (measurements reported by `glimpse bench`);
//! - [`app`] (the desktop window).
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

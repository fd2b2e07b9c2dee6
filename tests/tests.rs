//! Integration tests, in one binary so they link once.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

mod app;
mod cli;
mod engine;
mod index;
mod layers;
mod preprocess;
mod real_photos;
mod safety;
mod train;
mod util;

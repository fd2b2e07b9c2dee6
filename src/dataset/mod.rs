//! Captioned photo collections to train and evaluate on, read from the layouts users have.
//!
//! - [`flickr8k`]: Flickr8k in its official or Kaggle layout, with the official splits.

pub mod flickr8k;

pub use flickr8k::{Flickr8k, ImageCaptions, Layout, Split};

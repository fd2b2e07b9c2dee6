//! The photo library index: which photos there are, their vectors, and how to keep that up
//! to date and crash-safe.
//!
//! Built on the engine; knows nothing of the app.

pub mod bytes;
pub mod cold;
pub mod collections;
pub mod compact;
pub mod concept;
pub mod concepts;
pub mod contents;
pub mod duplicates;
pub mod export;
pub mod feedback;
pub mod filter;
pub mod hash;
pub mod journal;
pub mod legacy;
pub mod library;
pub mod lock;
pub mod opening;
pub mod project;
pub mod query;
pub mod scan;
pub mod search;
pub mod store;
pub mod thumbs;
pub mod update;
pub mod watch;

pub use contents::{PhotoEntry, Skipped};
pub use library::{Library, Ranked};
pub use opening::open;
pub use search::{Matrix, SearchHit};
pub use store::Index;
pub use update::{IndexEvent, IndexOptions, IndexReport};

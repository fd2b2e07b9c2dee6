//! The engine: ONNX Runtime, backbone models and photo preprocessing.
//!
//! It turns photos into feature vectors and knows nothing of indexes, training or the app.

pub mod backbone;
pub mod head;
pub mod heif;
pub mod labels;
pub mod manifest;
pub mod pipeline;
pub mod preprocess;
pub mod raw;
pub mod runtime;
pub mod session;
pub mod system_library;

pub use backbone::{Backbone, BackboneOutput};
pub use head::ProjectionHead;
pub use manifest::{BackboneModel, Manifest};
pub use pipeline::{EmbedEvent, EmbedOptions, EmbedReport, Embedded};
pub use preprocess::{Prepared, Preprocess};
pub use runtime::Runtime;
pub use session::{ActiveProvider, ProviderChoice, SessionOptions};

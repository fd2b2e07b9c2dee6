//! The library's error type: every variant carries what a person needs to act on it.

use std::path::PathBuf;

/// Shorthand for results of library calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the library, each with a reason a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No ONNX Runtime library was found in any of the places Glimpse looks.
    #[error(
        "ONNX Runtime {wanted} was not found (looked in: {searched}).\n  Fix: run `{fix}` in the Glimpse source folder, or pass --ort-lib PATH / set ORT_DYLIB_PATH"
    )]
    RuntimeMissing {
        /// The version Glimpse is built for.
        wanted: &'static str,
        /// The places that were searched, in order.
        searched: String,
        /// The command that installs it.
        fix: &'static str,
    },
    /// A file was given as the ONNX Runtime library but it cannot be used.
    #[error(
        "{path}: not a usable ONNX Runtime library: {reason}.\n  Fix: run `{fix}`, or point --ort-lib at libonnxruntime.so.{wanted}"
    )]
    RuntimeUnusable {
        /// The library file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
        /// The version Glimpse is built for.
        wanted: &'static str,
        /// The command that installs the right one.
        fix: &'static str,
    },
    /// The ONNX Runtime library has an incompatible version.
    #[error(
        "{path} is ONNX Runtime {found}, but Glimpse needs {wanted} (1.{min_minor} or newer works).\n  Fix: run `{fix}`, or point --ort-lib at libonnxruntime.so.{wanted}"
    )]
    RuntimeVersion {
        /// The library file.
        path: PathBuf,
        /// Its version.
        found: String,
        /// The version Glimpse is built for.
        wanted: &'static str,
        /// The oldest minor version that works.
        min_minor: u32,
        /// The command that installs the right one.
        fix: &'static str,
    },
    /// An error reported by ONNX Runtime itself.
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    /// A model folder, manifest or graph is missing, damaged or does not match its manifest.
    #[error("model {path}: {reason}")]
    Model {
        /// The file or folder at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A photo could not be read or decoded; an error for that photo only.
    #[error("{path}: {reason}")]
    Photo {
        /// The photo.
        path: PathBuf,
        /// Why it was skipped.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// An index file cannot be used; indexing again rebuilds it.
    #[error(
        "index {path}: {reason}.\n  Fix: run `glimpse index` on your folders again; Glimpse rebuilds the index and keeps the damaged file beside it"
    )]
    IndexDamaged {
        /// The index file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting or argument is out of range.
    #[error("{0}")]
    Invalid(String),
    /// A background job's worker thread died; this is a bug in Glimpse.
    #[error("the background job '{0}' stopped unexpectedly (this is a bug in Glimpse)")]
    JobCrashed(String),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A model error with the file at fault.
    pub fn model(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Model { path: path.into(), reason: reason.into() }
    }

    /// A per-photo error.
    pub fn photo(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Photo { path: path.into(), reason: reason.into() }
    }
}

impl<R> From<ort::Error<R>> for Error {
    fn from(e: ort::Error<R>) -> Self {
        Error::Ort(e.message().to_string())
    }
}

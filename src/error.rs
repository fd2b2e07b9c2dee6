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
    /// A file given as the index is not a Glimpse index; it is never moved or overwritten.
    #[error(
        "{path} is not a Glimpse index (it does not start with the index header), so Glimpse leaves it untouched.\n  Fix: pass --index a new file name, or leave --index out to use the default library"
    )]
    NotAnIndex {
        /// The file.
        path: PathBuf,
    },
    /// An index written by a newer Glimpse; it is left untouched.
    #[error(
        "index {path} was made by a newer Glimpse (format {format}; this one reads up to {reads}), so it is left untouched.\n  Fix: use the newer Glimpse, or pass --index another file"
    )]
    IndexTooNew {
        /// The index file.
        path: PathBuf,
        /// Its format.
        format: u32,
        /// The newest format this build reads.
        reads: u32,
    },
    /// Another process is updating the library and this one was told not to wait.
    #[error(
        "another Glimpse{} is updating the library {index}.\n  Fix: wait for it to finish, or run again without --no-wait to wait for it",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    LibraryBusy {
        /// The index file.
        index: PathBuf,
        /// The process holding the lock, when known.
        pid: Option<u32>,
    },
    /// A text query none of whose words the text model has a vector for (not even GloVe
    /// has them, e.g. "xyzzy"): ranking by it would show arbitrary photos.
    #[error(
        "Glimpse knows none of the words of \u{201c}{query}\u{201d} ({}): there is nothing to search for; try other words",
        .words.join(", ")
    )]
    UnknownWords {
        /// The query as typed.
        query: String,
        /// Its words that have no vector, in order.
        words: Vec<String>,
    },
    /// A setting or argument is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The work was stopped as asked before it had a result: when, and what was kept
    /// (`"while computing photo features; … kept …"`). Not a failure: the window reports it
    /// as a stop, not in red.
    #[error("stopped {0}")]
    Stopped(String),
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

    /// An index file that cannot be used, with what is wrong with it.
    pub fn index_damaged(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::IndexDamaged { path: path.into(), reason: reason.into() }
    }

    /// A per-photo error.
    pub fn photo(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Photo { path: path.into(), reason: reason.into() }
    }
}

/// The message of a caught panic, for the report of the photo or batch it happened on.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "no message".to_string()
    }
}

/// Runs `work`, turning a panic inside it into `on_panic(message)`: a crash in a decoder or
/// in one inference call becomes that item's error instead of ending the run.
pub fn catch_panic<T>(work: impl FnOnce() -> Result<T>, on_panic: impl FnOnce(String) -> Error) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|p| Err(on_panic(panic_message(&*p))))
}

impl<R> From<ort::Error<R>> for Error {
    fn from(e: ort::Error<R>) -> Self {
        Error::Ort(e.message().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_item_s_error_with_its_message() {
        let caught = catch_panic::<()>(|| panic!("bad huffman table {}", 3), |m| Error::photo("a.jpg", m));
        assert_eq!(caught.unwrap_err().to_string(), "a.jpg: bad huffman table 3");
        let caught = catch_panic::<()>(|| std::panic::panic_any(7u8), |m| Error::photo("b.jpg", m));
        assert_eq!(caught.unwrap_err().to_string(), "b.jpg: no message");
        assert_eq!(catch_panic(|| Ok(5), Error::Invalid).unwrap(), 5);
    }
}

//! Finding, checking and loading the ONNX Runtime shared library.
//!
//! Glimpse does not link ONNX Runtime: it loads `libonnxruntime.so` at start-up from, in
//! order, `--ort-lib PATH` / `ORT_DYLIB_PATH`, the per-user cache that
//! `scripts/fetch-onnxruntime.sh` fills, and an installed package's private lib folder.
//! Its version is read before ort touches it, so a wrong library is a clear error.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::{Error, Result, locations};

/// The ONNX Runtime release Glimpse is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";
/// The oldest minor release with the C API that `ort` is compiled for (feature `api-31`).
pub const MIN_MINOR: u32 = 31;

/// The command that installs the library Glimpse needs.
pub const FIX_COMMAND: &str =
    if cfg!(feature = "cuda") { "scripts/fetch-onnxruntime.sh --gpu" } else { "scripts/fetch-onnxruntime.sh" };

/// The library file name inside the wheel and the cache.
pub fn library_file_name() -> String {
    format!("libonnxruntime.so.{ORT_VERSION}")
}

/// The cache folder `scripts/fetch-onnxruntime.sh` installs into.
pub fn cache_library_dir() -> Option<PathBuf> {
    let flavour = if cfg!(feature = "cuda") { "gpu" } else { "cpu" };
    locations::cache_dir().map(|d| d.join("onnxruntime").join(format!("{ORT_VERSION}-{flavour}")))
}

/// Where a library path came from, for `glimpse doctor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibrarySource {
    /// `--ort-lib PATH`.
    Flag,
    /// The `ORT_DYLIB_PATH` environment variable.
    Environment,
    /// The per-user cache.
    Cache,
    /// An installed package's private lib folder.
    Installed,
}

impl std::fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LibrarySource::Flag => "--ort-lib",
            LibrarySource::Environment => "ORT_DYLIB_PATH",
            LibrarySource::Cache => "per-user cache",
            LibrarySource::Installed => "installed with Glimpse",
        })
    }
}

/// Picks the library file to load: the explicit path (flag or environment) when given,
/// else the first candidate that exists.
pub fn locate(explicit: Option<&Path>) -> Result<(PathBuf, LibrarySource)> {
    if let Some(path) = explicit {
        return Ok((path.to_path_buf(), LibrarySource::Flag));
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Ok((PathBuf::from(path), LibrarySource::Environment));
    }
    let mut candidates = Vec::new();
    if let Some(dir) = cache_library_dir() {
        candidates.push((dir.join(library_file_name()), LibrarySource::Cache));
    }
    if let Some(exe) = locations::exe_dir() {
        candidates.push((exe.join("../lib/glimpse").join(library_file_name()), LibrarySource::Installed));
    }
    if let Some(found) = candidates.iter().find(|(p, _)| p.is_file()) {
        return Ok(found.clone());
    }
    Err(Error::RuntimeMissing {
        wanted: ORT_VERSION,
        searched: candidates.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>().join(", "),
        fix: FIX_COMMAND,
    })
}

/// Reads the version string of an ONNX Runtime library without handing it to ort.
#[allow(unsafe_code)]
pub fn library_version(path: &Path) -> Result<String> {
    let unusable = |reason: String| Error::RuntimeUnusable {
        path: path.to_path_buf(),
        reason,
        wanted: ORT_VERSION,
        fix: FIX_COMMAND,
    };
    if !path.is_file() {
        return Err(unusable("no such file".into()));
    }
    // SAFETY: loading a shared library runs its initialisers; the file was named as ONNX
    // Runtime by the user or the setup script. The symbol is checked by name and has the C
    // signature of ONNX Runtime's `OrtGetApiBase`, which returns a pointer to a static table
    // whose `GetVersionString` returns a static, NUL-terminated string.
    unsafe {
        let lib = libloading::Library::new(path).map_err(|e| unusable(e.to_string()))?;
        let get_base: libloading::Symbol<unsafe extern "system" fn() -> *const ort::sys::OrtApiBase> =
            lib.get(b"OrtGetApiBase").map_err(|_| unusable("it does not export OrtGetApiBase".into()))?;
        let base = get_base();
        if base.is_null() {
            return Err(unusable("OrtGetApiBase returned nothing".into()));
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return Err(unusable("it reports no version".into()));
        }
        Ok(CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}

/// True when `version` (like "1.31.1") has the C API Glimpse is compiled for.
pub fn version_is_supported(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    matches!((parts.next(), parts.next()), (Some(Some(1)), Some(Some(minor))) if minor >= MIN_MINOR)
}

/// The loaded ONNX Runtime: its file, version and ort environment.
pub struct Runtime {
    /// The library file.
    pub path: PathBuf,
    /// Where the path came from.
    pub source: LibrarySource,
    /// The library's own version string.
    pub version: String,
    pub(crate) environment: ort::environment::Environment,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("path", &self.path).field("version", &self.version).finish()
    }
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

impl Runtime {
    /// Loads ONNX Runtime once per process (later calls return the same runtime).
    ///
    /// `explicit` is `--ort-lib`; without it `ORT_DYLIB_PATH`, the cache and the installed
    /// location are tried. A missing file or a wrong version is an error that names the fix.
    pub fn load(explicit: Option<&Path>) -> Result<&'static Runtime> {
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let _guard = LOADING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(rt) = RUNTIME.get() {
            return Ok(rt);
        }
        let (path, source) = locate(explicit)?;
        let version = library_version(&path)?;
        if !version_is_supported(&version) {
            return Err(Error::RuntimeVersion {
                path,
                found: version,
                wanted: ORT_VERSION,
                min_minor: MIN_MINOR,
                fix: FIX_COMMAND,
            });
        }
        let builder = ort::init_from(&path).map_err(|e| Error::RuntimeUnusable {
            path: path.clone(),
            reason: e.to_string(),
            wanted: ORT_VERSION,
            fix: FIX_COMMAND,
        })?;
        let environment = builder.with_name("glimpse").with_telemetry(false).build()?;
        Ok(RUNTIME.get_or_init(|| Runtime { path, source, version, environment }))
    }

    /// The execution providers this ONNX Runtime build offers (for example
    /// `CPUExecutionProvider`, `CUDAExecutionProvider`).
    #[allow(unsafe_code)]
    pub fn available_providers(&self) -> Vec<String> {
        let api = ort::api();
        let mut names: *mut *mut std::ffi::c_char = std::ptr::null_mut();
        let mut count: std::ffi::c_int = 0;
        // SAFETY: the runtime is loaded (self exists); GetAvailableProviders fills an array of
        // `count` NUL-terminated strings that we copy and then release with the matching call.
        unsafe {
            let status = (api.GetAvailableProviders)(&mut names, &mut count);
            if !status.0.is_null() {
                (api.ReleaseStatus)(status.0);
                return Vec::new();
            }
            if names.is_null() {
                return Vec::new();
            }
            let list =
                (0..count as usize).map(|i| CStr::from_ptr(*names.add(i)).to_string_lossy().into_owned()).collect();
            let status = (api.ReleaseAvailableProviders)(names, count);
            if !status.0.is_null() {
                (api.ReleaseStatus)(status.0);
            }
            list
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_the_compiled_api_onwards_are_supported() {
        assert!(version_is_supported("1.31.1"));
        assert!(version_is_supported("1.32.0"));
        assert!(!version_is_supported("1.30.9"));
        assert!(!version_is_supported("1.17.3"));
        assert!(!version_is_supported("2"));
        assert!(!version_is_supported("garbage"));
    }

    #[test]
    fn a_file_that_is_not_a_library_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libonnxruntime.so.1.31.1");
        std::fs::write(&fake, b"not a shared library").unwrap();
        let err = library_version(&fake).unwrap_err().to_string();
        assert!(err.contains("not a usable ONNX Runtime library"), "{err}");
        assert!(err.contains(FIX_COMMAND), "{err}");
    }

    #[test]
    fn a_library_without_the_onnx_runtime_entry_point_is_refused() {
        let libc = ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.is_file());
        let Some(libm) = libc else {
            return;
        };
        let err = library_version(libm).unwrap_err().to_string();
        assert!(err.contains("does not export OrtGetApiBase"), "{err}");
    }

    #[test]
    fn an_explicit_path_wins_over_every_other_place() {
        let (path, source) = locate(Some(Path::new("/nowhere/libonnxruntime.so"))).unwrap();
        assert_eq!(path, Path::new("/nowhere/libonnxruntime.so"));
        assert_eq!(source, LibrarySource::Flag);
    }
}

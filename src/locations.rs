//! Where Glimpse keeps things on disk: the per-user cache and data folders, and the
//! shipped models.

use std::path::PathBuf;

/// The per-user cache folder (`$XDG_CACHE_HOME/glimpse`, usually `~/.cache/glimpse`).
///
/// `scripts/fetch-onnxruntime.sh` puts the ONNX Runtime library here.
pub fn cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "glimpse").map(|d| d.cache_dir().to_path_buf())
}

/// The per-user data folder (`$XDG_DATA_HOME/glimpse`, usually `~/.local/share/glimpse`).
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "glimpse").map(|d| d.data_dir().to_path_buf())
}

/// The folder of the running executable, if it can be told.
pub fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe().ok()?.parent().map(PathBuf::from)
}

/// Folders that may hold the shipped models, in the order they are searched:
/// `GLIMPSE_MODELS`, an installed layout (`<exe>/../share/glimpse/models`), and the source
/// checkout this binary was built from.
pub fn model_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Some(dir) = std::env::var_os("GLIMPSE_MODELS") {
        roots.push(PathBuf::from(dir));
    }
    if let Some(exe) = exe_dir() {
        roots.push(exe.join("../share/glimpse/models"));
    }
    roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
    roots
}

/// The default index file (`~/.local/share/glimpse/library.glimpse`).
pub fn default_index() -> PathBuf {
    data_dir().unwrap_or_else(|| PathBuf::from(".")).join("library.glimpse")
}
/// A path as a person typed it: `~/x` is `x` in the home folder; anything else as is.
pub fn expand_home(typed: &str) -> PathBuf {
    match (typed.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(typed),
    }
}

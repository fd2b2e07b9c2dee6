//! Backbone models as data: a folder with `model.onnx`, `manifest.toml` and, optionally,
//! the label list of its classifier output.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result, locations};

/// The manifest format this build reads.
pub const MANIFEST_FORMAT: u32 = 1;
/// The backbone used when the user names none: EfficientNet-Lite0, Lite1 and Lite2 side by
/// side, chosen on retrieval quality (see models/backbones/README.md).
pub const DEFAULT_BACKBONE: &str = "efficientnet-lite012-int8";

/// How a photo is fitted into the square input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    /// Stretch to the square, not keeping the aspect ratio (how Flickr8k was prepared).
    Squash,
}

/// The graph's image input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Input tensor name.
    pub name: String,
    /// Side of the square input in pixels.
    pub size: u32,
    /// How photos are fitted into it.
    pub resize: ResizeMode,
}

/// Per-channel normalisation on the 0–255 scale: `(x - mean) / std`, channels R, G, B.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    /// Subtracted from each channel.
    pub mean: [f32; 3],
    /// Divides each channel.
    pub std: [f32; 3],
}

/// The pooled feature output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Output tensor name.
    pub output: String,
    /// Feature dimension.
    pub dim: usize,
}

/// The optional classifier output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogitsSpec {
    /// Output tensor name.
    pub output: String,
    /// A text file with one class name per line, relative to the model folder.
    pub labels: String,
}

/// What was measured when the graph was exported (informational).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExportCheck {
    /// What the graph was compared with.
    #[serde(default)]
    pub reference: String,
    /// Largest absolute difference of the features.
    #[serde(default)]
    pub max_abs_diff_features: f64,
    /// Largest absolute difference of the logits.
    #[serde(default)]
    pub max_abs_diff_logits: f64,
    /// How many real photos got the same top-1 class.
    #[serde(default)]
    pub top1_agreement: String,
}

/// `manifest.toml` of a backbone folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format version.
    pub format: u32,
    /// Short name, also the folder name.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Where the weights come from.
    pub source: String,
    /// The weights' licence.
    pub license: String,
    /// The graph file, relative to the folder.
    pub graph: String,
    /// sha256 of the graph file, hex.
    pub sha256: String,
    /// Image input.
    pub input: InputSpec,
    /// Normalisation.
    pub normalize: Normalize,
    /// Feature output.
    pub features: FeatureSpec,
    /// Classifier output, if the graph has one.
    pub logits: Option<LogitsSpec>,
    /// Export check results.
    #[serde(default)]
    pub export_check: Option<ExportCheck>,
}

/// A backbone folder whose manifest has been read and checked.
#[derive(Clone, Debug)]
pub struct BackboneModel {
    /// The folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
    /// Class names of the logits output, when present.
    pub labels: Option<Vec<String>>,
}

/// sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Checks a file against the sha256 that `manifest` (a file name, for the message) records;
/// a mismatch means a damaged or replaced file, and `fix` says what to do.
pub fn check_sha256(path: &Path, expected: &str, manifest: &str, fix: &str) -> Result<()> {
    let actual = sha256_file(path)?;
    if !actual.eq_ignore_ascii_case(expected) {
        return Err(Error::model(
            path,
            format!("sha256 is {actual} but {manifest} says {expected}: the file is damaged or was replaced; {fix}"),
        ));
    }
    Ok(())
}

impl BackboneModel {
    /// Reads `dir/manifest.toml` and the label list; checks the format and that the files
    /// it names exist. The graph's hash is checked separately by [`BackboneModel::verify`].
    pub fn open(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|e| Error::model(&manifest_path, format!("not a valid manifest: {e}")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::model(
                &manifest_path,
                format!(
                    "manifest format {} is not supported (this Glimpse reads format {MANIFEST_FORMAT})",
                    manifest.format
                ),
            ));
        }
        if manifest.input.size == 0 || manifest.features.dim == 0 {
            return Err(Error::model(&manifest_path, "input size and feature dimension must be positive"));
        }
        if manifest.normalize.std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err(Error::model(&manifest_path, "normalize.std must be finite and non-zero"));
        }
        let graph = dir.join(&manifest.graph);
        if !graph.is_file() {
            return Err(Error::model(&graph, "the graph file named in manifest.toml is missing"));
        }
        let labels = match &manifest.logits {
            None => None,
            Some(spec) => {
                let path = dir.join(&spec.labels);
                let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                Some(text.lines().map(str::to_string).collect())
            }
        };
        Ok(BackboneModel { dir: dir.to_path_buf(), manifest, labels })
    }

    /// The graph file.
    pub fn graph_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.graph)
    }

    /// Checks the graph against the sha256 in the manifest; a mismatch means a damaged or
    /// replaced file.
    pub fn verify(&self) -> Result<()> {
        check_sha256(
            &self.graph_path(),
            &self.manifest.sha256,
            "manifest.toml",
            "re-export it with tools/export_backbone.py or reinstall Glimpse",
        )
    }

    /// Finds a backbone by name in the model roots (`<root>/backbones/<name>`).
    pub fn find(name: &str) -> Result<Self> {
        let roots = locations::model_roots();
        for root in &roots {
            let dir = root.join("backbones").join(name);
            if dir.join("manifest.toml").is_file() {
                return Self::open(&dir);
            }
        }
        Err(Error::model(
            PathBuf::from(name),
            format!(
                "no backbone of that name (looked in {}); `glimpse doctor` lists the installed ones",
                roots.iter().map(|r| r.join("backbones").display().to_string()).collect::<Vec<_>>().join(", ")
            ),
        ))
    }

    /// Every backbone folder found in the model roots, each opened or with its error.
    pub fn list_installed() -> Vec<(PathBuf, Result<Self>)> {
        let mut found = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for root in locations::model_roots() {
            let Ok(entries) = std::fs::read_dir(root.join("backbones")) else { continue };
            let mut dirs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("manifest.toml").is_file())
                .collect();
            dirs.sort();
            for dir in dirs {
                let name = dir.file_name().map(|n| n.to_os_string()).unwrap_or_default();
                if seen.insert(name) {
                    let opened = Self::open(&dir);
                    found.push((dir, opened));
                }
            }
        }
        found
    }
}

//! A joint model's folder as files: `manifest.json` (what the model is, the backbone it
//! fits, its graphs and their hashes, how it was trained, combined and calibrated, its "no
//! strong match" cue), read with its format and version checked.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::{Metrics, ModelConfig, TrainConfig};
use crate::durable::write_atomically;
use crate::{Error, Result};

/// What a joint-model manifest says it is.
pub const MODEL_FORMAT: &str = "glimpse-joint-model";
/// The manifest version this build writes and reads.
pub const MODEL_VERSION: u32 = 1;
/// The manifest's file name in a model folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The image head's graph file.
pub const IMAGE_GRAPH: &str = "image_head.onnx";
/// The text encoder's graph file.
pub const TEXT_GRAPH: &str = "text_encoder.onnx";
/// The vocabulary file.
pub const VOCAB_FILE: &str = "vocab.json";
/// Input and output names of both graphs.
pub const FEATURES_INPUT: &str = "features";
/// The text encoder's input.
pub const IDS_INPUT: &str = "ids";
/// Both graphs' output.
pub const EMBEDDING_OUTPUT: &str = "embedding";
/// The compact projection's file (see [`crate::index::compact`]).
pub const COMPACT_FILE: &str = "compact.bin";

/// The backbone a model's image head expects features from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackboneRef {
    /// Its folder name under `models/backbones`.
    pub name: String,
    /// sha256 of its graph.
    pub sha256: String,
    /// Its feature dimension.
    pub feature_dim: usize,
}

/// A graph file and its hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphRef {
    /// File name inside the model folder.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
}

/// How a model was trained, for its model card.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingRecord {
    /// The training data (e.g. `flickr8k train`).
    pub data: String,
    /// The word vectors it started from.
    pub glove: String,
    /// The settings of the run.
    pub config: TrainConfig,
    /// The chosen epoch.
    pub best_epoch: usize,
    /// Dev metrics of that epoch.
    pub dev: Metrics,
    /// Seconds the run took.
    pub seconds: f64,
}

/// `manifest.json` of a joint-model folder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointManifest {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// [`MODEL_VERSION`] when written.
    pub version: u32,
    /// The model's shape.
    pub model: ModelConfig,
    /// The backbone whose features the image head takes.
    pub backbone: BackboneRef,
    /// `features [N, F]` → `embedding [N, D]`.
    pub image_head: GraphRef,
    /// `ids [N, seq_len]` int64 → `embedding [N, D]`.
    pub text_encoder: GraphRef,
    /// Ids per text, as the vocabulary encodes them.
    pub seq_len: usize,
    /// The vocabulary file.
    pub vocab: String,
    /// How it was trained, when known.
    pub training: Option<TrainingRecord>,
    /// When search should say "no strong match", measured on dev (`glimpse bench cue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_match: Option<NoMatchCue>,
    /// For a model combining others (`glimpse combine`): its members and dev metrics. Its
    /// `model` then gives the interface (feature, vocabulary and joint sizes; the rest are
    /// the first member's) and `training` is absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub combination: Option<Combination>,
    /// For a calibrated model (`glimpse calibrate`): how its image head's per-photo
    /// offsets were made; search ranks by cosine minus offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubness: Option<Hubness>,
    /// The compact projection search stores per photo (`glimpse compact`); without one,
    /// search keeps every dimension at one byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact: Option<CompactRef>,
    /// For a personalised model (`glimpse personalise`): the adapter after its text encoder,
    /// how it was trained and how it measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personalised: Option<super::personal::Personalised>,
}

/// A model's compact projection file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompactRef {
    /// File name inside the model folder.
    pub file: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Dimensions it keeps (bytes per photo).
    pub dim: usize,
}

/// The "no strong match" cue of a model: a statistic of a query's scores and the threshold
/// below which no photo of the library is likely to show what was asked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoMatchCue {
    /// `top1`: the best cosine among the shown results (the only statistic search applies;
    /// a calibrated model's offsets order the results but are not part of this cosine).
    pub statistic: String,
    /// The cue shows when the statistic is below this.
    pub threshold: f32,
}

impl NoMatchCue {
    /// True when a ranking whose best cosine (see `statistic`) is `top` should say "no strong match".
    pub fn fires(&self, top: Option<f32>) -> bool {
        self.statistic == "top1" && top.is_some_and(|t| t < self.threshold)
    }
}

impl JointManifest {
    /// Writes `dir/manifest.json` (atomically).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Invalid(format!("could not write the model manifest: {e}")))?;
        write_atomically(&dir.join(MANIFEST_FILE), &[json.as_bytes(), b"\n"])
    }

    /// The model's dev metrics as search ranks with it: after personalising when personalised,
    /// after calibration when calibrated,
    /// else those of its training run or of its combination.
    pub fn dev_metrics(&self) -> Option<Metrics> {
        if let Some(personalised) = &self.personalised {
            return Some(personalised.comparison.dev_after);
        }
        if let Some(hubness) = &self.hubness {
            return hubness.dev;
        }
        match (&self.training, &self.combination) {
            (Some(training), _) => Some(training.dev),
            (None, Some(combination)) => combination.dev,
            (None, None) => None,
        }
    }

    /// The compact projection's file and its sha256, when the model has one.
    pub fn compact_file(&self) -> Option<(&str, &str)> {
        self.compact.as_ref().map(|c| (c.file.as_str(), c.sha256.as_str()))
    }

    /// Reads and checks `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<JointManifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("damaged JSON: {e}")))?;
        crate::checked::check_json_version(&value, "joint model", MODEL_FORMAT, MODEL_VERSION)
            .map_err(|reason| Error::model(&path, format!("{reason}: re-export the model or update Glimpse")))?;
        serde_json::from_value(value).map_err(|e| Error::model(&path, format!("not a valid manifest: {e}")))
    }
}

/// One member of a combined model, as its own manifest described it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The member's shape.
    pub model: ModelConfig,
    /// How it was trained, when known.
    pub training: Option<TrainingRecord>,
}

/// What a combined model is made of, and how the combination measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Combination {
    /// The members, in the order of their parts of the joint vector.
    pub members: Vec<Member>,
    /// Dev metrics of the combination (through the exported graphs), when measured.
    pub dev: Option<Metrics>,
}

/// How a model's offsets were made, recorded in its manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hubness {
    /// Training captions in the bank.
    pub bank: usize,
    /// Nearest bank captions averaged per photo.
    pub k: usize,
    /// The offset is this times that mean cosine.
    pub weight: f32,
    /// Seed of the choice of bank captions.
    pub seed: u64,
    /// Dev metrics with the offsets (through the exported graphs), when measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<Metrics>,
}

impl Default for Hubness {
    /// The settings of the shipped model, chosen on the dev split: the gain holds from 2000
    /// to 30,000 bank captions, k from 5 to 200 and weights 0.4 to 0.6 (see the model card).
    fn default() -> Self {
        Hubness { bank: 4000, k: 10, weight: 0.5, seed: 1, dev: None }
    }
}

/// Lowercase hex sha256 of `bytes`, as manifests record graphs.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

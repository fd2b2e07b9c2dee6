//! What the app remembers between runs (eframe persistence), apart from its runtime state.
//! Every field has a default, so a settings file from an older or newer Glimpse still loads.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::{ProviderChoice, SessionOptions};
use crate::index::filter::SortOrder;
use crate::train::trainer::TrainConfig;

/// The key under which eframe stores [`Settings`].
pub const STORAGE_KEY: &str = "glimpse-settings";
/// Bumped when a field changes meaning; an unknown version falls back to the defaults.
pub const SETTINGS_VERSION: u32 = 1;

/// The views of the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tab {
    /// Query box and result grid.
    #[default]
    Search,
    /// Folders, indexing, skipped files.
    Library,
    /// Training a text model on Flickr8k.
    Training,
    /// Flickr8k photos beside their captions.
    Annotator,
    /// Near-duplicate groups.
    Duplicates,
    /// Provider, threads, batch size, model.
    Settings,
}

/// Settings of a training run, as the training panel edits them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingForm {
    /// Negative mining after the warm-up: easy, semi-hard, hard or sum.
    pub mining: String,
    /// Triplet margin.
    pub margin: f32,
    /// At most this many epochs.
    pub epochs: usize,
    /// Captions per step.
    pub batch_size: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// Trainable word-vector dimensions added after GloVe's.
    pub extra_word_dims: usize,
    /// Text encoder: mean, gru or gru-WIDTH.
    pub encoder: String,
}

impl Default for TrainingForm {
    /// The recipe of the shipped model's mean-encoder member (see models/text/README.md).
    fn default() -> Self {
        TrainingForm {
            mining: "semi-hard".into(),
            margin: TrainConfig::default().margin,
            epochs: 12,
            batch_size: TrainConfig::default().batch_size,
            lr: 2e-3,
            extra_word_dims: 250,
            encoder: "mean".into(),
        }
    }
}

/// Everything the app remembers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// [`SETTINGS_VERSION`] when written.
    pub version: u32,
    /// The library's index file.
    pub index: PathBuf,
    /// Execution provider: auto, cpu or cuda.
    pub provider: String,
    /// ONNX Runtime threads (0 = one per core).
    pub threads: usize,
    /// Photos per backbone call while indexing.
    pub batch_size: usize,
    /// The text model folder (`None`: the installed one).
    pub model: Option<PathBuf>,
    /// Results shown.
    pub k: usize,
    /// relevance, newest or oldest.
    pub sort: String,
    /// How many best matches a date order chooses from.
    pub pool: usize,
    /// The view shown last.
    pub tab: Tab,
    /// The Flickr8k folder (training and annotator).
    pub flickr8k: String,
    /// The GloVe file for training.
    pub glove: String,
    /// The training panel's settings.
    pub training: TrainingForm,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: SETTINGS_VERSION,
            index: crate::locations::default_index(),
            provider: "auto".into(),
            threads: 0,
            batch_size: 16,
            model: None,
            k: 10,
            sort: "relevance".into(),
            pool: 100,
            tab: Tab::Search,
            flickr8k: String::new(),
            glove: String::new(),
            training: TrainingForm::default(),
        }
    }
}

impl Settings {
    /// Settings read back from storage, or the defaults when they are missing, damaged or
    /// from another settings version.
    pub fn checked(self) -> Settings {
        if self.version == SETTINGS_VERSION { self } else { Settings::default() }
    }

    /// The ONNX Runtime session options these settings ask for.
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions { provider: self.provider.parse().unwrap_or(ProviderChoice::Auto), intra_threads: self.threads }
    }

    /// The result order these settings ask for.
    pub fn sort_order(&self) -> SortOrder {
        self.sort.parse().unwrap_or(SortOrder::Relevance)
    }
}

//! What the app remembers between runs (eframe persistence), apart from its runtime state.
//! Every field has a default, so a settings file from an older or newer Glimpse still loads.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::{ProviderChoice, SessionOptions};
use crate::index::filter::SortOrder;
use crate::model::config::{Mining, TextEncoderKind, TrainConfig};

/// The key under which eframe stores [`Settings`].
pub const STORAGE_KEY: &str = "glimpse-settings";
/// Bumped when a field changes meaning. Settings of another version are read field by
/// field (see [`Settings::from_stored`]).
pub const SETTINGS_VERSION: u32 = 1;

/// The result grid's tile side at first, in points: 6 columns in the default 1200-point
/// window, 8 at 1600.
pub const DEFAULT_TILE: f32 = 180.0;
/// The smallest and largest tile sides the zoom allows, in points (thumbnails are 256 px,
/// so larger tiles would only blur them).
pub const TILE_RANGE: std::ops::RangeInclusive<f32> = 96.0..=320.0;

/// Runs that embed fewer photos than this leave the remembered rate alone: their rate is
/// mostly start-up.
pub const RATE_MIN_PHOTOS: usize = 20;

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
    /// Negative mining after the warm-up.
    #[serde(with = "as_text")]
    pub mining: Mining,
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
    /// Text encoder: the mean of word vectors, or a GRU.
    #[serde(with = "as_text")]
    pub encoder: TextEncoderKind,
}

impl Default for TrainingForm {
    /// The recipe of the shipped model's mean-encoder member (see models/text/README.md).
    fn default() -> Self {
        TrainingForm {
            mining: Mining::SemiHard,
            margin: TrainConfig::default().margin,
            epochs: 12,
            batch_size: TrainConfig::default().batch_size,
            lr: 2e-3,
            extra_word_dims: 250,
            encoder: TextEncoderKind::Mean,
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
    /// Execution provider.
    #[serde(with = "as_text")]
    pub provider: ProviderChoice,
    /// ONNX Runtime threads (0 = one per core).
    pub threads: usize,
    /// Photos per backbone call while indexing.
    pub batch_size: usize,
    /// The text model folder (`None`: the installed one).
    pub model: Option<PathBuf>,
    /// The result grid's preferred tile side, in points (the zoom slider and Ctrl+wheel);
    /// tiles stretch from it so that whole columns fill the width.
    pub tile: f32,
    /// Best match first, or newest/oldest first among the `pool` best matches.
    #[serde(with = "as_text")]
    pub sort: SortOrder,
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
    /// Photos a second this computer looked at in its last indexing run of at least
    /// [`RATE_MIN_PHOTOS`] photos (the welcome screen says it; nothing until measured).
    pub photos_per_second: Option<f32>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: SETTINGS_VERSION,
            index: crate::locations::default_index(),
            provider: ProviderChoice::Auto,
            threads: 0,
            batch_size: crate::engine::EmbedOptions::default().batch_size,
            model: None,
            tile: DEFAULT_TILE,
            sort: SortOrder::Relevance,
            pool: 100,
            tab: Tab::Search,
            flickr8k: String::new(),
            glove: String::new(),
            training: TrainingForm::default(),
            photos_per_second: None,
        }
    }
}

impl Settings {
    /// Settings read back from their stored text (RON, as eframe writes it), field by
    /// field: a field that is missing, or that another version of Glimpse wrote with another
    /// type, takes its default and every other field is kept (so which library is open is
    /// not forgotten because one setting changed shape). Unreadable text gives the defaults.
    pub fn from_stored(text: &str) -> Settings {
        let mut settings = Settings::default();
        if let Ok(stored) = ron::from_str::<StoredFields>(text) {
            stored.apply(&mut settings);
        }
        if !settings.tile.is_finite() {
            settings.tile = DEFAULT_TILE;
        }
        settings.tile = settings.tile.clamp(*TILE_RANGE.start(), *TILE_RANGE.end());
        settings.version = SETTINGS_VERSION;
        settings
    }

    /// The ONNX Runtime session options these settings ask for.
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions { provider: self.provider, intra_threads: self.threads }
    }
}

/// Choices stored as the words the CLI takes (`"cpu"`, `"semi-hard"`, `"gru-256"`), as
/// every version has stored them; a word this version does not know fails that field alone.
mod as_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: std::fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A stored field's raw RON, kept for reading on its own.
fn raw<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<ron::value::RawValue>>, D::Error> {
    Box::<ron::value::RawValue>::deserialize(d).map(Some)
}

/// The stored settings with each field as raw RON (fields this version does not know are
/// ignored), so that each is read into its type on its own.
macro_rules! stored_fields {
    (values: $($name:ident),*; words: $($word:ident),* $(,)?) => {
        #[derive(Default, Deserialize)]
        #[serde(default)]
        struct StoredFields {
            $(#[serde(deserialize_with = "raw")] $name: Option<Box<ron::value::RawValue>>,)*
            $(#[serde(deserialize_with = "raw")] $word: Option<Box<ron::value::RawValue>>,)*
        }

        impl StoredFields {
            /// Sets each field of `settings` that was stored and reads as its type (the
            /// choices stored as words through their parsers).
            fn apply(self, settings: &mut Settings) {
                $(if let Some(value) = self.$name.and_then(|raw| raw.into_rust().ok()) {
                    settings.$name = value;
                })*
                $(if let Some(value) =
                    self.$word.and_then(|raw| raw.into_rust::<String>().ok()).and_then(|w| w.parse().ok())
                {
                    settings.$word = value;
                })*
            }
        }
    };
}

stored_fields!(values: index, threads, batch_size, model, tile, pool, tab, flickr8k, glove, training, photos_per_second; words: provider, sort);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_settings_come_back_whole_and_a_field_of_another_shape_resets_only_itself() {
        let mut saved = Settings {
            index: PathBuf::from("/photos/family.glimpse"),
            provider: ProviderChoice::Cpu,
            threads: 3,
            tile: 240.0,
            tab: Tab::Library,
            model: Some(PathBuf::from("/models/mine")),
            ..Settings::default()
        };
        saved.training.epochs = 5;
        saved.training.encoder = TextEncoderKind::Gru { hidden: 256 };
        saved.sort = SortOrder::Newest;
        saved.photos_per_second = Some(41.5);
        let text = ron::ser::to_string_pretty(&saved, ron::ser::PrettyConfig::default()).unwrap();
        assert_eq!(Settings::from_stored(&text), saved);
        // Another version wrote `threads` as text and has a field this one does not know.
        let other =
            text.replace("threads: 3", "threads: \"three\", future_field: (1, 2)").replace("version: 1", "version: 7");
        assert_ne!(other, text);
        let read = Settings::from_stored(&other);
        assert_eq!(read.threads, Settings::default().threads);
        assert_eq!(read.index, saved.index);
        assert_eq!(read.tab, Tab::Library);
        assert_eq!(read.training.epochs, 5);
        assert_eq!(read.training.encoder, TextEncoderKind::Gru { hidden: 256 });
        assert_eq!((read.provider, read.sort), (ProviderChoice::Cpu, SortOrder::Newest));
        assert_eq!(read.version, SETTINGS_VERSION);
        assert_eq!(Settings::from_stored("not ron at all ("), Settings::default());
        // A zoom from a hand-edited file is brought back into the slider's range.
        let huge = text.replace("tile: 240.0", "tile: 5000.0");
        assert_ne!(huge, text);
        assert_eq!(Settings::from_stored(&huge).tile, *TILE_RANGE.end());
    }
}

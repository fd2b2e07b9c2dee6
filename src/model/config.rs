//! What a joint model is and how it was made, as data: its shape ([`ModelConfig`]), the
//! settings of its training run ([`TrainConfig`]) and the metrics it reached ([`Metrics`]).
//! Training fills these in; the model folder's manifest records them; search only reads them.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The shape of a two-tower model; saved in the model manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Backbone feature dimension (Lite0: 1280).
    pub feature_dim: usize,
    /// Hidden width of the image head; `None` for a single linear layer.
    pub image_hidden: Option<usize>,
    /// Rows of the embedding matrix (vocabulary size, padding and unknown included).
    pub vocab_size: usize,
    /// Word vector dimension (the GloVe file's).
    pub word_dim: usize,
    /// Dimension of the joint space.
    pub joint_dim: usize,
    /// How the text side turns word vectors into one vector (absent in older manifests:
    /// the mean).
    #[serde(default)]
    pub text_encoder: TextEncoderKind,
    /// The backbone features the image head reads, when not all of them (e.g. one network's
    /// part of a fused backbone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_slice: Option<FeatureSlice>,
}

impl ModelConfig {
    /// The width of the image head's first layer: the slice's, else every feature.
    pub fn head_input_dim(&self) -> usize {
        self.feature_slice.map_or(self.feature_dim, FeatureSlice::len)
    }
}

/// Backbone feature columns `start..end` (end exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSlice {
    /// First column.
    pub start: usize,
    /// One past the last column.
    pub end: usize,
}

impl FeatureSlice {
    /// Columns in the slice (none when a hand-edited manifest has `end` before `start`).
    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// True when the slice has no columns.
    pub fn is_empty(self) -> bool {
        self.end <= self.start
    }

    /// Checks that the slice has columns and fits in `dim` features.
    pub fn check(self, dim: usize) -> Result<()> {
        if self.is_empty() || self.end > dim {
            return Err(Error::Invalid(format!(
                "feature slice {self} does not fit the backbone's {dim} features (use START:END with START < END <= {dim})"
            )));
        }
        Ok(())
    }
}

impl std::fmt::Display for FeatureSlice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.start, self.end)
    }
}

impl std::str::FromStr for FeatureSlice {
    type Err = Error;
    /// `START:END`, e.g. `0:1280`.
    fn from_str(s: &str) -> Result<Self> {
        let parsed = s.split_once(':').and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
        match parsed {
            Some((start, end)) if start < end => Ok(FeatureSlice { start, end }),
            _ => Err(Error::Invalid(format!("'{s}' is not a feature slice: use START:END, e.g. 0:1280"))),
        }
    }
}

/// The text tower's encoder between the word vectors and the projection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum TextEncoderKind {
    /// The mean of the caption's word vectors.
    #[default]
    Mean,
    /// A GRU over the caption's words; the mean of its hidden states over the words.
    Gru {
        /// Hidden-state width.
        hidden: usize,
    },
}

impl TextEncoderKind {
    /// The width of the vector the projection takes.
    pub fn output_dim(&self, word_dim: usize) -> usize {
        match *self {
            TextEncoderKind::Mean => word_dim,
            TextEncoderKind::Gru { hidden } => hidden,
        }
    }

    /// A short name for tables and the model card.
    pub fn describe(&self) -> String {
        match *self {
            TextEncoderKind::Mean => "mean".into(),
            TextEncoderKind::Gru { hidden } => format!("gru-{hidden}"),
        }
    }
}

impl std::fmt::Display for TextEncoderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::str::FromStr for TextEncoderKind {
    type Err = Error;
    /// `mean`, `gru` (hidden 512) or `gru-H`.
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("unknown text encoder '{s}': use mean, gru or gru-WIDTH (e.g. gru-256)"));
        match s {
            "mean" => Ok(TextEncoderKind::Mean),
            "gru" => Ok(TextEncoderKind::Gru { hidden: 512 }),
            _ => match s.strip_prefix("gru-").map(str::parse::<usize>) {
                Some(Ok(hidden)) if hidden > 0 => Ok(TextEncoderKind::Gru { hidden }),
                _ => Err(bad()),
            },
        }
    }
}

/// How the learning rate moves over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Half a cosine from the rate down to 1 % of it over all epochs.
    Cosine,
    /// A tenth of the rate from the second half of the epochs on.
    Step,
}

impl std::str::FromStr for Schedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine),
            "step" => Ok(Schedule::Step),
            other => Err(Error::Invalid(format!("unknown schedule '{other}': use constant, cosine or step"))),
        }
    }
}

/// Everything that decides a training run besides the data; saved in the model manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Which negatives count (after the warm-up).
    pub mining: Mining,
    /// Epochs at the start that sum over all negatives instead: hard mining alone sits on a
    /// plateau for many epochs first (see `../shared/flickr8k/README.md`).
    pub warmup_epochs: usize,
    /// The triplet margin.
    pub margin: f32,
    /// At most this many passes over the training captions.
    pub epochs: usize,
    /// Captions per step.
    pub batch_size: usize,
    /// AdamW learning rate of the heads.
    pub lr: f64,
    /// The word embeddings' learning rate, as a fraction of `lr`: they start from GloVe.
    pub embedding_lr_scale: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Stop after this many epochs without a better dev R@sum (0 = never).
    pub patience: usize,
    /// Probability of dropping each word of a training caption.
    pub word_dropout: f32,
    /// Probability of zeroing each backbone feature of a training photo.
    pub feature_dropout: f32,
    /// Probability of reading a training caption's word through the map from GloVe vectors
    /// to word vectors instead of its own vector (the words a model never trained on are read
    /// that way); 0 never does.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub glove_substitution: f32,
    /// The seed of every random choice.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            mining: Mining::Hard,
            warmup_epochs: 2,
            margin: 0.2,
            epochs: 30,
            batch_size: 128,
            lr: 5e-4,
            embedding_lr_scale: 1.0,
            weight_decay: 1e-4,
            schedule: Schedule::Cosine,
            patience: 6,
            word_dropout: 0.0,
            feature_dropout: 0.0,
            glove_substitution: 0.0,
            seed: 1,
        }
    }
}

impl TrainConfig {
    /// Refuses settings a run cannot use.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Invalid(what.to_string()));
        if self.epochs == 0 {
            return bad("epochs must be at least 1");
        }
        if self.batch_size < 2 {
            return bad("the batch must hold at least 2 captions (negatives come from the batch)");
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.lr) || !(positive(self.embedding_lr_scale) || self.embedding_lr_scale == 0.0) {
            return bad("the learning rate must be positive");
        }
        if !positive(f64::from(self.margin)) {
            return bad("the margin must be positive");
        }
        if ![self.word_dropout, self.feature_dropout, self.glove_substitution].iter().all(|p| (0.0..1.0).contains(p)) {
            return bad("dropout probabilities must be in [0, 1)");
        }
        Ok(())
    }

    /// The learning-rate factor at `progress` ∈ [0, 1] of the run.
    pub fn lr_factor(&self, progress: f64) -> f64 {
        match self.schedule {
            Schedule::Constant => 1.0,
            Schedule::Cosine => 0.01 + 0.99 * 0.5 * (1.0 + (std::f64::consts::PI * progress.clamp(0.0, 1.0)).cos()),
            Schedule::Step if progress >= 0.5 => 0.1,
            Schedule::Step => 1.0,
        }
    }
}

/// Which in-batch negatives an anchor is trained against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mining {
    /// One negative drawn at random.
    Easy,
    /// The most similar negative that is still less similar than the positive; the most
    /// similar one when none is.
    SemiHard,
    /// The most similar negative (VSE++'s max of hinges).
    Hard,
    /// Every negative, summed (a gentler start before hard mining).
    Sum,
}

impl Mining {
    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            Mining::Easy => "easy",
            Mining::SemiHard => "semi-hard",
            Mining::Hard => "hard",
            Mining::Sum => "sum",
        }
    }
}

impl std::fmt::Display for Mining {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Mining {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "easy" | "random" => Ok(Mining::Easy),
            "semi-hard" | "semihard" => Ok(Mining::SemiHard),
            "hard" | "hardest" => Ok(Mining::Hard),
            "sum" | "all" => Ok(Mining::Sum),
            other => Err(Error::Invalid(format!("unknown mining '{other}': use easy, semi-hard, hard or sum"))),
        }
    }
}

/// Recalls (percent) and median rank of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recall {
    /// Percent of queries whose true item is ranked first.
    pub r1: f64,
    /// … in the first five.
    pub r5: f64,
    /// … in the first ten.
    pub r10: f64,
    /// Median rank of the true item (1 is best).
    pub medr: f64,
}

impl Recall {
    /// From 1-based ranks.
    pub fn from_ranks(ranks: &[usize]) -> Recall {
        if ranks.is_empty() {
            return Recall::default();
        }
        let pct = |k: usize| 100.0 * ranks.iter().filter(|&&r| r <= k).count() as f64 / ranks.len() as f64;
        let mut sorted = ranks.to_vec();
        sorted.sort_unstable();
        Recall { r1: pct(1), r5: pct(5), r10: pct(10), medr: sorted[(sorted.len() - 1) / 2] as f64 }
    }

    /// R@1 + R@5 + R@10.
    pub fn sum(&self) -> f64 {
        self.r1 + self.r5 + self.r10
    }
}

/// Both directions over a set of photos and their captions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Photos ranked.
    pub images: usize,
    /// Captions ranked.
    pub captions: usize,
    /// Text→image: captions as queries.
    pub t2i: Recall,
    /// Image→text: photos as queries.
    pub i2t: Recall,
}

impl Metrics {
    /// The sum of all six recalls, the usual single number to choose models by.
    pub fn rsum(&self) -> f64 {
        self.t2i.sum() + self.i2t.sum()
    }
}

/// True for 0: a setting left at 0 is not written, so manifests of runs without it read as before.
fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

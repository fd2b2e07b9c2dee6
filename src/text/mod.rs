//! The text side: captions and queries to word ids, and word ids to starting vectors.
//!
//! - [`tokenizer`]: the fixed rules that cut text into words.
//! - [`vocab`]: words to ids, built from training captions, saved as `vocab.json`.
//! - [`spelling`]: a typed word the vocabulary lacks, read as the word meant (a typo).
//! - [`glove`]: GloVe vectors for a vocabulary, and the embedding matrix built from them.
//!
//! Training and search encode text through the same call, [`Vocab::encode`], so a query
//! becomes ids exactly as a caption did.

pub mod glove;
pub mod spelling;
pub mod tokenizer;
pub mod vocab;

pub use glove::{Coverage, DEFAULT_OOV_SEED, EmbeddingMatrix, Glove, embedding_matrix};
pub use tokenizer::{TOKENIZER_RULES, tokenize};
pub use vocab::{Encoded, KnownWords, PAD_ID, Reading, UNK_ID, Vocab, VocabSettings, WordCounts};

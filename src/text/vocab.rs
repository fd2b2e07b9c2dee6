//! The vocabulary: words to ids, built by frequency over training captions, saved with the
//! tokenizer settings it was built for.
//!
//! Id 0 is padding and id 1 stands for every word the vocabulary lacks; words follow from
//! id 2, most frequent first (ties by word, so a rebuild gives the same ids).
//! [`Vocab::encode`] is the only way text becomes ids, for training captions and for search
//! queries alike.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::spelling;
use super::tokenizer::{TOKENIZER_RULES, is_word, tokenize};
use crate::{Error, Result};

/// The id of padding after the last word.
pub const PAD_ID: u32 = 0;
/// The id of every word the vocabulary does not have.
pub const UNK_ID: u32 = 1;
/// Ids below this one are reserved (padding, unknown).
pub const FIRST_WORD_ID: u32 = 2;

/// What a vocabulary file says it is.
pub const VOCAB_FORMAT: &str = "glimpse-vocab";
/// The vocabulary file version this build writes and reads.
pub const VOCAB_VERSION: u32 = 1;

/// How a vocabulary is built and how text is cut to ids; saved inside the vocabulary file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VocabSettings {
    /// At most this many words, not counting padding and unknown (classic: 4500).
    pub max_words: usize,
    /// A word must occur at least this often in the training captions.
    pub min_count: u64,
    /// Also keep every training word (any count) that has a GloVe vector, beyond
    /// `max_words` and `min_count`: such words start from a pre-trained meaning.
    pub keep_glove_words: bool,
    /// Every text becomes exactly this many ids: cut after it, padded with [`PAD_ID`] up to it.
    pub seq_len: usize,
}

impl Default for VocabSettings {
    /// The classic setup: 4500 words, every word that occurs, 30 ids per caption. On
    /// Flickr8k a caption has 9.3 words on average and 1 of the 35,000 has more than 30;
    /// the train split has 7356 distinct words, 4433 of them occurring twice or more.
    fn default() -> Self {
        VocabSettings { max_words: 4500, min_count: 1, keep_glove_words: false, seq_len: 30 }
    }
}

impl VocabSettings {
    /// Refuses settings that cannot make a usable vocabulary.
    pub fn check(&self) -> Result<()> {
        if self.max_words == 0 {
            return Err(Error::Invalid("vocabulary max_words must be at least 1".into()));
        }
        if self.min_count == 0 {
            return Err(Error::Invalid("vocabulary min_count must be at least 1".into()));
        }
        if self.seq_len == 0 {
            return Err(Error::Invalid("vocabulary seq_len must be at least 1".into()));
        }
        if u32::try_from(self.max_words).is_err() {
            return Err(Error::Invalid(format!("vocabulary max_words {} is too large", self.max_words)));
        }
        Ok(())
    }
}

/// How often each word occurs in a set of captions, counted with the shared tokenizer.
#[derive(Clone, Debug, Default)]
pub struct WordCounts {
    counts: HashMap<String, u64>,
    captions: u64,
}

impl WordCounts {
    /// No captions counted yet.
    pub fn new() -> Self {
        WordCounts::default()
    }

    /// Counts the words of every caption.
    pub fn from_captions<S: AsRef<str>>(captions: impl IntoIterator<Item = S>) -> Self {
        let mut counts = WordCounts::new();
        for caption in captions {
            counts.add(caption.as_ref());
        }
        counts
    }

    /// Counts the words of one caption.
    pub fn add(&mut self, caption: &str) {
        self.captions += 1;
        for word in tokenize(caption) {
            *self.counts.entry(word).or_insert(0) += 1;
        }
    }

    /// How often `word` occurred (0 if never).
    pub fn count(&self, word: &str) -> u64 {
        self.counts.get(word).copied().unwrap_or(0)
    }

    /// Every distinct word seen, in no particular order (for loading their GloVe vectors).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.counts.keys().map(String::as_str)
    }

    /// The number of distinct words.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// True before any word was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The number of captions counted.
    pub fn captions(&self) -> u64 {
        self.captions
    }
}

/// A text cut to ids: always `seq_len` ids, the words first, then padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// `seq_len` ids; [`UNK_ID`] for unknown words, [`PAD_ID`] after the last word.
    pub ids: Vec<u32>,
    /// How many leading ids are words (known or not); the rest is padding.
    pub len: usize,
}

/// A typed word with no id, read as a word that has one (see [`spelling`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// The word as typed (lowercased by the tokenizer).
    pub typed: String,
    /// The word it was read as.
    pub read_as: String,
}

/// A query encoded by [`Vocab::encode_known`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownWords {
    /// The ids of the words kept and of the words read in place of typos.
    pub encoded: Encoded,
    /// The words read as others, in order.
    pub read: Vec<Reading>,
    /// The words left out, in order: no id, and nothing to read them as.
    pub ignored: Vec<String>,
}

/// Words to ids and back, with the settings they were built with.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    settings: VocabSettings,
    /// The words from id [`FIRST_WORD_ID`] on, in id order.
    words: Vec<String>,
    /// Training count of each word in `words`.
    counts: Vec<u64>,
    ids: HashMap<String, u32>,
}

/// The on-disk form of a vocabulary (`vocab.json`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabFile {
    format: String,
    version: u32,
    tokenizer: String,
    pad_id: u32,
    unk_id: u32,
    settings: VocabSettings,
    /// Words from id 2 on, in id order.
    words: Vec<String>,
    /// Training count of each word.
    counts: Vec<u64>,
}

impl Vocab {
    /// Builds the vocabulary of `counts`: words occurring at least `min_count` times, the
    /// `max_words` most frequent of them. Settings that ask to keep GloVe words need
    /// [`Vocab::build_with_vectors`].
    pub fn build(counts: &WordCounts, settings: VocabSettings) -> Result<Vocab> {
        if settings.keep_glove_words {
            return Err(Error::Invalid(
                "keep_glove_words needs the GloVe vectors: build the vocabulary with Vocab::build_with_vectors".into(),
            ));
        }
        Vocab::select(counts, settings, |_| false)
    }

    /// Like [`Vocab::build`], and when `settings.keep_glove_words` is set, also keeps every
    /// other training word for which `has_vector` is true.
    pub fn build_with_vectors(
        counts: &WordCounts,
        settings: VocabSettings,
        has_vector: impl Fn(&str) -> bool,
    ) -> Result<Vocab> {
        let keep = settings.keep_glove_words;
        Vocab::select(counts, settings, |w| keep && has_vector(w))
    }

    fn select(counts: &WordCounts, settings: VocabSettings, keep_anyway: impl Fn(&str) -> bool) -> Result<Vocab> {
        settings.check()?;
        let mut ranked: Vec<(&str, u64)> = counts.counts.iter().map(|(w, c)| (w.as_str(), *c)).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut chosen = 0;
        let kept: Vec<(&str, u64)> = ranked
            .into_iter()
            .filter(|(w, c)| {
                let frequent = *c >= settings.min_count && chosen < settings.max_words;
                if frequent {
                    chosen += 1;
                }
                frequent || keep_anyway(w)
            })
            .collect();
        Vocab::from_words(
            settings,
            kept.iter().map(|(w, _)| w.to_string()).collect(),
            kept.iter().map(|k| k.1).collect(),
        )
    }

    fn from_words(settings: VocabSettings, words: Vec<String>, counts: Vec<u64>) -> Result<Vocab> {
        let mut ids = HashMap::with_capacity(words.len());
        for (i, word) in words.iter().enumerate() {
            let id = u32::try_from(i)
                .ok()
                .and_then(|i| i.checked_add(FIRST_WORD_ID))
                .ok_or_else(|| Error::Invalid(format!("a vocabulary of {} words is too large", words.len())))?;
            if ids.insert(word.clone(), id).is_some() {
                return Err(Error::Invalid(format!("the word '{word}' is in the vocabulary twice")));
            }
        }
        Ok(Vocab { settings, words, counts, ids })
    }

    /// Turns a caption or a query into exactly `seq_len` ids (see [`Encoded`]).
    pub fn encode(&self, text: &str) -> Encoded {
        let mut ids: Vec<u32> = tokenize(text)
            .iter()
            .take(self.settings.seq_len)
            .map(|w| self.ids.get(w.as_str()).copied().unwrap_or(UNK_ID))
            .collect();
        let len = ids.len();
        ids.resize(self.settings.seq_len, PAD_ID);
        Encoded { ids, len }
    }

    /// [`Vocab::encode`] for search and `glimpse eval`: a word with no id is read as a word
    /// that has one where [`spelling::read_as`] finds it (`moutain` as `mountain`), else
    /// left out instead of given [`UNK_ID`], so an ignored word (say "xyzzy") moves nothing.
    /// Training keeps [`Vocab::encode`].
    pub fn encode_known(&self, text: &str) -> KnownWords {
        let (mut ids, mut read, mut ignored) = (Vec::new(), Vec::new(), Vec::new());
        for word in tokenize(text) {
            if let Some(id) = self.id(&word) {
                ids.push(id);
            } else if let Some(read_as) = spelling::read_as(self, &word) {
                ids.extend(self.id(&read_as));
                read.push(Reading { typed: word, read_as });
            } else {
                ignored.push(word);
            }
        }
        ids.truncate(self.settings.seq_len);
        let len = ids.len();
        ids.resize(self.settings.seq_len, PAD_ID);
        KnownWords { encoded: Encoded { ids, len }, read, ignored }
    }

    /// The words of `encoded`, as a text that encodes to the same ids with nothing to read
    /// or leave out: a query as [`Vocab::encode_known`] read it.
    pub fn text_of(&self, encoded: &Encoded) -> String {
        let words: Vec<&str> = encoded.ids[..encoded.len].iter().filter_map(|&id| self.word(id)).collect();
        words.join(" ")
    }

    /// This vocabulary followed by the words of `more` it does not have yet, each given the
    /// next id (count 0: never seen in training), in the order given; a word the tokenizer
    /// cannot produce (`'s`, `u.s.`, `a`) is skipped, since no text would ever reach it.
    /// Every id of this vocabulary keeps its word.
    pub fn extended<'w>(&self, more: impl IntoIterator<Item = &'w str>) -> Result<Vocab> {
        let (mut words, mut counts) = (self.words.clone(), self.counts.clone());
        let mut have = self.word_set();
        for word in more {
            if !have.contains(word) && is_word(word) {
                have.insert(word);
                words.push(word.to_string());
                counts.push(0);
            }
        }
        Vocab::from_words(self.settings.clone(), words, counts)
    }

    /// The id of `word` (already tokenized), if the vocabulary has it.
    pub fn id(&self, word: &str) -> Option<u32> {
        self.ids.get(word).copied()
    }

    /// The word of `id`: `<pad>` and `<unk>` for the reserved ids, `None` past the end.
    pub fn word(&self, id: u32) -> Option<&str> {
        match id {
            PAD_ID => Some("<pad>"),
            UNK_ID => Some("<unk>"),
            _ => self.words.get((id - FIRST_WORD_ID) as usize).map(String::as_str),
        }
    }

    /// The words from id [`FIRST_WORD_ID`] on, in id order.
    pub fn words(&self) -> &[String] {
        &self.words
    }

    /// The training count of the word with `id` (0 for the reserved ids).
    pub fn count(&self, id: u32) -> u64 {
        id.checked_sub(FIRST_WORD_ID).and_then(|i| self.counts.get(i as usize)).copied().unwrap_or(0)
    }

    /// The training count of each word of [`Vocab::words`], in the same order.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of ids, padding and unknown included: the rows of an embedding matrix.
    pub fn len(&self) -> usize {
        self.words.len() + FIRST_WORD_ID as usize
    }

    /// Never true: padding and unknown are always there. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The settings the vocabulary was built with.
    pub fn settings(&self) -> &VocabSettings {
        &self.settings
    }

    /// The vocabulary as the JSON text of a `vocab.json` file.
    pub fn to_json(&self) -> String {
        let file = VocabFile {
            format: VOCAB_FORMAT.into(),
            version: VOCAB_VERSION,
            tokenizer: TOKENIZER_RULES.into(),
            pad_id: PAD_ID,
            unk_id: UNK_ID,
            settings: self.settings.clone(),
            words: self.words.clone(),
            counts: self.counts.clone(),
        };
        // Invariant: a struct of strings and numbers always serialises.
        serde_json::to_string_pretty(&file).unwrap_or_default()
    }

    /// Reads a vocabulary from the JSON text of a `vocab.json` file; `origin` names it in
    /// errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Vocab> {
        let bad = |reason: String| Error::Invalid(format!("{origin}: {reason}"));
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("not a vocabulary file (damaged JSON: {e}); rebuild the vocabulary")))?;
        crate::checked::check_json_version(&value, "vocabulary", VOCAB_FORMAT, VOCAB_VERSION)
            .map_err(|reason| bad(format!("{reason}; rebuild the vocabulary or use a matching Glimpse")))?;
        let file: VocabFile =
            serde_json::from_value(value).map_err(|e| bad(format!("damaged vocabulary: {e}; rebuild it")))?;
        if file.tokenizer != TOKENIZER_RULES {
            return Err(bad(format!(
                "made for tokenizer '{}', but this Glimpse tokenizes with '{TOKENIZER_RULES}'; rebuild the vocabulary",
                file.tokenizer
            )));
        }
        if file.pad_id != PAD_ID || file.unk_id != UNK_ID {
            return Err(bad(format!(
                "padding/unknown ids are {}/{}, expected {PAD_ID}/{UNK_ID}; rebuild the vocabulary",
                file.pad_id, file.unk_id
            )));
        }
        if file.words.len() != file.counts.len() {
            return Err(bad(format!(
                "damaged vocabulary: {} words but {} counts; rebuild it",
                file.words.len(),
                file.counts.len()
            )));
        }
        if let Some(w) = file.words.iter().find(|w| !is_word(w)) {
            return Err(bad(format!("damaged vocabulary: '{w}' is not a word the tokenizer can produce; rebuild it")));
        }
        file.settings.check().map_err(|e| bad(e.to_string()))?;
        Vocab::from_words(file.settings, file.words, file.counts).map_err(|e| bad(e.to_string()))
    }

    /// Writes the vocabulary to `path` atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::durable::write_atomically(path, &[self.to_json().as_bytes()])
    }

    /// Reads a vocabulary written by [`Vocab::save`].
    pub fn load(path: &Path) -> Result<Vocab> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Vocab::from_json(&text, &path.display().to_string())
    }

    /// The vocabulary's words as a set, for loading just their GloVe vectors.
    pub fn word_set(&self) -> HashSet<&str> {
        self.words.iter().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTIONS: [&str; 4] = [
        "A dog runs through the water.",
        "The black dog runs on the grass .",
        "Two dogs play in the water",
        "A child in a pink dress .",
    ];

    fn classic() -> VocabSettings {
        VocabSettings::default()
    }

    fn vocab() -> Vocab {
        Vocab::build(&WordCounts::from_captions(CAPTIONS), classic()).unwrap()
    }

    #[test]
    fn words_are_ranked_by_count_then_alphabetically() {
        // the: 4; dog, in, runs, water: 2; then every count-1 word alphabetically.
        assert_eq!(
            vocab().words(),
            [
                "the", "dog", "in", "runs", "water", "black", "child", "dogs", "dress", "grass", "on", "pink", "play",
                "through", "two"
            ]
        );
    }

    #[test]
    fn a_fixed_caption_gets_exactly_these_ids() {
        let e = vocab().encode("A dog runs through the water.");
        let mut expected = vec![3, 5, 15, 2, 6];
        expected.resize(30, 0);
        assert_eq!(e.ids, expected);
        assert_eq!(e.len, 5);
    }

    #[test]
    fn unknown_words_get_id_1_and_keep_their_place() {
        let e = vocab().encode("A cat runs into the zebra water!");
        assert_eq!(&e.ids[..7], [1, 5, 1, 2, 1, 6, 0]);
        assert_eq!(e.len, 6);
    }

    #[test]
    fn empty_and_punctuation_only_text_is_all_padding() {
        for text in ["", "   ", "?!.,", "a a a"] {
            let e = vocab().encode(text);
            assert_eq!(e.ids, vec![0; 30], "{text:?}");
            assert_eq!(e.len, 0);
        }
    }

    #[test]
    fn an_over_long_caption_is_cut_to_seq_len() {
        let long = ["dog"; 40].join(" ") + " water";
        let e = vocab().encode(&long);
        assert_eq!(e.ids, vec![3; 30]);
        assert_eq!(e.len, 30);
        let short = Vocab::build(&WordCounts::from_captions(CAPTIONS), VocabSettings { seq_len: 3, ..classic() })
            .unwrap()
            .encode("A dog runs through the water.");
        assert_eq!(short.ids, [3, 5, 15]);
        assert_eq!(short.len, 3);
    }

    #[test]
    fn unicode_text_is_encoded_like_its_lowercase_words() {
        let v = Vocab::build(&WordCounts::from_captions(["Café au lait", "東京 café"]), classic()).unwrap();
        assert_eq!(v.words(), ["café", "au", "lait", "東京"]);
        let e = v.encode("CAFÉ in 東京");
        assert_eq!(e.ids[..e.len], [2, 1, 5]);
    }

    #[test]
    fn max_words_and_min_count_limit_the_vocabulary() {
        let counts = WordCounts::from_captions(CAPTIONS);
        assert_eq!((counts.len(), counts.captions(), counts.count("the")), (15, 4, 4));
        let top = Vocab::build(&counts, VocabSettings { max_words: 3, ..classic() }).unwrap();
        assert_eq!(top.words(), ["the", "dog", "in"]);
        assert_eq!(top.len(), 5);
        let frequent = Vocab::build(&counts, VocabSettings { min_count: 2, ..classic() }).unwrap();
        assert_eq!(frequent.words(), ["the", "dog", "in", "runs", "water"]);
        assert_eq!(frequent.count(2), 4);
        assert_eq!(frequent.count(PAD_ID), 0);
    }

    #[test]
    fn keep_glove_words_adds_rare_words_that_have_a_vector() {
        let counts = WordCounts::from_captions(CAPTIONS);
        let settings = VocabSettings { min_count: 2, keep_glove_words: true, ..classic() };
        let has_vector = |w: &str| matches!(w, "pink" | "grass" | "zebra" | "the");
        let v = Vocab::build_with_vectors(&counts, settings.clone(), has_vector).unwrap();
        // Kept words stay in count-then-word order; "zebra" never occurred, so it is not added.
        assert_eq!(v.words(), ["the", "dog", "in", "runs", "water", "grass", "pink"]);
        assert!(Vocab::build(&counts, settings).is_err());
        let off = Vocab::build_with_vectors(&counts, VocabSettings { min_count: 2, ..classic() }, has_vector).unwrap();
        assert_eq!(off.words(), ["the", "dog", "in", "runs", "water"]);
    }

    #[test]
    fn an_extended_vocabulary_keeps_every_id_and_adds_new_words_after_them() {
        let v = vocab();
        let more = ["dog", "zebra", "'s", "a", "u.s.", "giraffe", "zebra", "3"];
        let open = v.extended(more).unwrap();
        assert_eq!(&open.words()[..v.words().len()], v.words());
        assert_eq!(&open.words()[v.words().len()..], ["zebra", "giraffe", "3"]);
        assert_eq!((open.id("zebra"), open.count(open.id("zebra").unwrap())), (Some(17), 0));
        let caption = "A dog runs through the water.";
        assert_eq!(open.encode(caption), v.encode(caption));
    }

    #[test]
    fn encoding_the_known_words_leaves_the_others_out_and_names_them() {
        let v = vocab();
        let known = v.encode_known("A xyzzy dog runs into the zebra water!");
        assert_eq!(&known.encoded.ids[..5], [3, 5, 2, 6, 0]);
        assert_eq!(known.encoded.len, 4);
        assert_eq!(known.ignored, ["xyzzy", "into", "zebra"]);
        assert!(known.read.is_empty());
        let caption = "The dog runs through the water";
        assert_eq!(v.encode_known(caption), KnownWords { encoded: v.encode(caption), read: vec![], ignored: vec![] });
        let nothing = v.encode_known("xyzzy plugh");
        assert_eq!((nothing.encoded.len, nothing.ignored.len()), (0, 2));
    }

    #[test]
    fn a_typo_is_encoded_as_the_word_it_is_read_as_and_named() {
        let v = vocab();
        let typo = v.encode_known("the dog rnus through the watr");
        assert_eq!(typo.encoded, v.encode("the dog runs through the water"));
        let read = |typed: &str, word: &str| Reading { typed: typed.into(), read_as: word.into() };
        assert_eq!(typo.read, [read("rnus", "runs"), read("watr", "water")]);
        assert!(typo.ignored.is_empty());
        // The query as read encodes to the same ids, with nothing left to read.
        let as_read = v.encode_known(&v.text_of(&v.encode_known("The dog rnus xyzzy the watr!").encoded));
        assert_eq!(as_read, KnownWords { encoded: v.encode("the dog runs the water"), read: vec![], ignored: vec![] });
    }

    #[test]
    fn reserved_ids_have_names_and_ids_past_the_end_have_none() {
        let v = vocab();
        assert_eq!(v.word(PAD_ID), Some("<pad>"));
        assert_eq!(v.word(UNK_ID), Some("<unk>"));
        assert_eq!(v.word(2), Some("the"));
        assert_eq!(v.id("the"), Some(2));
        assert_eq!(v.word(v.len() as u32), None);
        assert_eq!(v.id("<pad>"), None);
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let counts = WordCounts::from_captions(CAPTIONS);
        for bad in [
            VocabSettings { max_words: 0, ..classic() },
            VocabSettings { min_count: 0, ..classic() },
            VocabSettings { seq_len: 0, ..classic() },
        ] {
            assert!(matches!(Vocab::build(&counts, bad), Err(Error::Invalid(_))));
        }
    }

    #[test]
    fn a_vocabulary_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.json");
        let settings = VocabSettings { min_count: 1, seq_len: 12, ..classic() };
        let v = Vocab::build(&WordCounts::from_captions(CAPTIONS), settings).unwrap();
        v.save(&path).unwrap();
        let back = Vocab::load(&path).unwrap();
        assert_eq!(back, v);
        assert_eq!(back.encode("the dog"), v.encode("the dog"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"format\": \"glimpse-vocab\""));
        assert!(text.contains("\"seq_len\": 12"));
    }

    fn refusal(text: &str) -> String {
        match Vocab::from_json(text, "vocab.json") {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn foreign_newer_and_damaged_files_are_refused_with_a_reason() {
        let good: serde_json::Value = serde_json::from_str(&vocab().to_json()).unwrap();
        let edited = |edit: &dyn Fn(&mut serde_json::Value)| {
            let mut v = good.clone();
            edit(&mut v);
            refusal(&v.to_string())
        };
        assert!(refusal("{\"format\": \"glim").contains("damaged JSON"));
        assert!(refusal("[1, 2]").contains("no \"format\""));
        assert!(edited(&|v| v["format"] = "glimpse-index".into()).contains("'glimpse-index' file"));
        assert!(edited(&|v| v["version"] = 2.into()).contains("version 2"));
        assert!(edited(&|v| v["version"] = serde_json::Value::Null).contains("no version"));
        assert!(edited(&|v| v["tokenizer"] = "bpe".into()).contains("tokenizer 'bpe'"));
        assert!(edited(&|v| v["unk_id"] = 7.into()).contains("ids are 0/7"));
        assert!(edited(&|v| v["counts"] = serde_json::json!([1])).contains("15 words but 1 counts"));
        let words = |w: serde_json::Value| {
            move |v: &mut serde_json::Value| {
                v["counts"] = serde_json::json!(vec![1; w.as_array().map_or(0, Vec::len)]);
                v["words"] = w.clone();
            }
        };
        assert!(edited(&words(serde_json::json!(["the", "the"]))).contains("'the' is in the vocabulary twice"));
        assert!(edited(&words(serde_json::json!(["Dog"]))).contains("'Dog' is not a word"));
        assert!(edited(&words(serde_json::json!(["two words"]))).contains("'two words' is not a word"));
        assert!(edited(&|v| v["settings"]["seq_len"] = 0.into()).contains("seq_len must be at least 1"));
        let no_seq_len = |v: &mut serde_json::Value| {
            v["settings"].as_object_mut().map(|s| s.remove("seq_len"));
        };
        assert!(edited(&no_seq_len).contains("missing field `seq_len`"));
        assert!(edited(&|v| v["extra"] = 1.into()).contains("unknown field `extra`"));
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_it() {
        let err = Vocab::load(Path::new("/nonexistent/vocab.json")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/vocab.json"), "{err}");
    }
}

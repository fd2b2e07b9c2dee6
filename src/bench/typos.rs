//! Typos, measured on a Flickr8k split (`glimpse bench typos`): one word of each caption is
//! mistyped the way fingers do (two neighbours swapped, a letter dropped, doubled or
//! changed), and the captions search the split's photos three ways, each as search ranks:
//! as written (the reference), with the mistyped word left out (what search did before it
//! read typos, and still does for a word it cannot read), and as typed, read by
//! [`crate::text::spelling`].
//!
//! The mistyped word is a trained word of at least [`MIN_TYPO_LEN`] letters, chosen at
//! random in each caption, and the typo is never itself a word of the vocabulary (a typo
//! that makes another real word cannot be told from that word). Captions with no such word
//! are left out of all three.

use serde::Serialize;

use std::path::PathBuf;

use crate::dataset::{Flickr8k, ImageCaptions, Split};
use crate::job::{Job, Waker};
use crate::model::config::Metrics;
use crate::text::spelling::MIN_TYPO_LEN;
use crate::text::{Vocab, tokenize};
use crate::train::recipe::{self, EmbeddedSplit};
use crate::train::rng::Rng;
use crate::train::trainer::TrainEvent;
use crate::train::workflow::ModelSetup;
use crate::{Error, Result};

/// One edit of `word` at random (at least two letters), or `None` when the edit drawn gives
/// back `word` (a doubled letter swapped, a letter changed into itself).
pub fn mistype(word: &str, rng: &mut Rng) -> Option<String> {
    let mut letters: Vec<char> = word.chars().collect();
    let n = letters.len();
    if n < 2 {
        return None;
    }
    match rng.below(4) {
        0 => {
            let i = rng.below(n - 1);
            letters.swap(i, i + 1);
        }
        1 => {
            letters.remove(rng.below(n));
        }
        2 => {
            let i = rng.below(n);
            letters.insert(i, letters[i]);
        }
        _ => {
            let alphabet: Vec<char> = ('a'..='z').collect();
            letters[rng.below(n)] = alphabet[rng.below(alphabet.len())];
        }
    }
    let typed: String = letters.into_iter().collect();
    (typed != word).then_some(typed)
}

/// A caption with one word mistyped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mistyped {
    /// The caption's words, as the tokenizer gives them.
    pub words: Vec<String>,
    /// Which word was mistyped.
    pub at: usize,
    /// What was typed instead.
    pub typed: String,
}

impl Mistyped {
    /// The caption with the typo.
    pub fn typed(&self) -> String {
        self.with(Some(&self.typed))
    }

    /// The caption without the mistyped word.
    pub fn left_out(&self) -> String {
        self.with(None)
    }

    fn with(&self, word: Option<&str>) -> String {
        let mut words: Vec<&str> = self.words.iter().map(String::as_str).collect();
        match word {
            Some(w) => words[self.at] = w,
            None => {
                words.remove(self.at);
            }
        }
        words.join(" ")
    }
}

/// `caption` with one of its trained words of at least [`MIN_TYPO_LEN`] letters mistyped
/// into something `vocab` does not have (five tries), or `None`.
pub fn mistype_caption(caption: &str, vocab: &Vocab, rng: &mut Rng) -> Option<Mistyped> {
    let words = tokenize(caption);
    let trained = |w: &str| vocab.id(w).is_some_and(|id| vocab.count(id) > 0);
    let candidates: Vec<usize> = (0..words.len())
        .filter(|&i| words[i].chars().count() >= MIN_TYPO_LEN && words[i].chars().all(char::is_alphabetic))
        .filter(|&i| trained(&words[i]))
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let at = candidates[rng.below(candidates.len())];
    for _ in 0..5 {
        if let Some(typed) = mistype(&words[at], rng)
            && vocab.id(&typed).is_none()
        {
            return Some(Mistyped { words, at, typed });
        }
    }
    None
}

/// What `glimpse bench typos` measured: text → image over the mistyped captions.
#[derive(Clone, Debug, Serialize)]
pub struct TyposReport {
    /// Captions with a mistyped word (each ranks all the split's photos).
    pub captions: usize,
    /// Of those, the share (percent) whose typo was read as the word meant.
    pub read_right: f64,
    /// ... read as another word.
    pub read_wrong: f64,
    /// ... left out (no rule read it).
    pub left_out: f64,
    /// Mean and slowest time to read one typo, in milliseconds (what a query with a typo
    /// costs search on top of its encoding).
    pub read_ms: (f64, f64),
    /// The captions as written.
    pub written: Metrics,
    /// The captions without the mistyped word.
    pub without_word: Metrics,
    /// The captions as typed, read by search.
    pub as_typed: Metrics,
}

/// Starts measuring typos on `split` with the model in `dir` (see the module documentation).
pub fn start(
    setup: ModelSetup,
    dir: PathBuf,
    split: Split,
    seed: u64,
    waker: Option<Waker>,
) -> Result<Job<TrainEvent, Result<TyposReport>>> {
    Job::spawn("glimpse-bench-typos", 64, waker, move |cx| {
        let (model, backbone) = setup.open(&dir)?;
        let codec = recipe::model_codec(&model)?;
        let items = Flickr8k::open(&setup.flickr8k)?.split(split)?;
        let mut rng = Rng::new(seed);
        // Each caption's typo, in embed_split's caption order (all photos' captions).
        let typos: Vec<Vec<Option<Mistyped>>> = items
            .iter()
            .map(|i| i.captions.iter().map(|c| mistype_caption(c, &model.vocab, &mut rng)).collect())
            .collect();
        let variant = |text: &dyn Fn(&str, &Option<Mistyped>) -> String| -> Vec<ImageCaptions> {
            items
                .iter()
                .zip(&typos)
                .map(|(item, t)| ImageCaptions {
                    captions: item.captions.iter().zip(t).map(|(c, m)| text(c, m)).collect(),
                    ..item.clone()
                })
                .collect()
        };
        let measure = |variant: &[ImageCaptions]| -> Result<EmbeddedSplit> {
            recipe::embed_split(&model, &backbone, variant, &setup.cache_dir, &cx)
        };
        let written = measure(&items)?;
        let rows: Vec<usize> = written
            .kept
            .iter()
            .flat_map(|&i| &typos[i])
            .enumerate()
            .filter(|(_, m)| m.is_some())
            .map(|(row, _)| row)
            .collect();
        if rows.is_empty() {
            return Err(Error::Invalid("no caption of the split has a word to mistype".into()));
        }
        let without = measure(&variant(&|c, m| m.as_ref().map_or_else(|| c.to_string(), Mistyped::left_out)))?;
        let typed = measure(&variant(&|c, m| m.as_ref().map_or_else(|| c.to_string(), Mistyped::typed)))?;
        let metrics = |s: &EmbeddedSplit| s.compacted(&codec).with_captions(&rows).metrics();
        let (mut right, mut wrong, mut out) = (0usize, 0usize, 0usize);
        let (mut total, mut slowest) = (0.0f64, 0.0f64);
        for m in written.kept.iter().flat_map(|&i| &typos[i]).flatten() {
            let start = std::time::Instant::now();
            let read = crate::text::spelling::read_as(&model.vocab, &m.typed);
            let ms = start.elapsed().as_secs_f64() * 1e3;
            (total, slowest) = (total + ms, slowest.max(ms));
            match read {
                Some(read) if read == m.words[m.at] => right += 1,
                Some(_) => wrong += 1,
                None => out += 1,
            }
        }
        let share = |n: usize| 100.0 * n as f64 / rows.len() as f64;
        Ok(TyposReport {
            captions: rows.len(),
            read_right: share(right),
            read_wrong: share(wrong),
            left_out: share(out),
            read_ms: (total / rows.len() as f64, slowest),
            written: metrics(&written)?,
            without_word: metrics(&without)?,
            as_typed: metrics(&typed)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{VocabSettings, WordCounts};

    #[test]
    fn a_typo_is_one_edit_away_and_the_same_seed_makes_the_same_typos() {
        let typos = |seed| {
            let mut rng = Rng::new(seed);
            (0..50).filter_map(|_| mistype("mountain", &mut rng)).collect::<Vec<_>>()
        };
        let made = typos(3);
        assert!(made.len() > 40, "most edits change the word: {made:?}");
        for typed in &made {
            assert_eq!(strsim::osa_distance(typed, "mountain"), 1, "{typed}");
        }
        assert_eq!(made, typos(3));
        assert_ne!(made, typos(4));
    }

    #[test]
    fn a_caption_is_mistyped_in_a_long_trained_word_into_no_word_of_the_vocabulary() {
        let counts = WordCounts::from_captions(["the dog runs in the water", "dog water"]);
        let vocab = Vocab::build(&counts, VocabSettings::default()).unwrap().extended(["zebra"]).unwrap();
        let mut rng = Rng::new(1);
        for _ in 0..50 {
            let m = mistype_caption("The dog runs in the zebra water.", &vocab, &mut rng).unwrap();
            // "runs" and "water": long enough and trained ("zebra" is only in GloVe).
            assert!(["runs", "water"].contains(&m.words[m.at].as_str()), "{m:?}");
            assert!(vocab.id(&m.typed).is_none(), "{m:?}");
            assert_eq!(m.left_out().split(' ').count(), 6);
            assert!(m.typed().contains(&m.typed));
        }
        assert_eq!(mistype_caption("the dog in it", &vocab, &mut rng), None);
    }
}

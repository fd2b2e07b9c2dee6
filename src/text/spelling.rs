//! Reading a typed word that the vocabulary does not have as the word meant: a typo of a
//! word it has (`moutain` as `mountain`, `hsirt` as `shirt`).
//!
//! Only words with no vector at all get here: a word the vocabulary has (trained, or one of
//! GloVe's) is always read as itself. Two rules, tried in this order:
//! 1. one edit (a letter added, dropped, changed, or two neighbours swapped) away from a
//!    word, for words of at least [`MIN_TYPO_LEN`] letters;
//! 2. two edits away from a word that training captions have (not merely GloVe: a rarer word
//!    two edits away is more often another word than the one meant), for words of at least
//!    [`MIN_TWO_EDITS_LEN`] letters.
//!
//! Among the words a rule finds, the one whose first letter is the typed word's comes first,
//! then the lowest id: trained words by how often training captions use them, then GloVe's
//! by how often its corpus does. Words with a digit are left alone.
//!
//! Chosen on dev (`glimpse bench typos`, `glimpse eval`; see the project README): two more
//! rules, an ending taken off (`gemmed` as `gem`) and two words written as one
//! (`sandcastles` as `sand castles`), ranked no better and cost image → text a few photos.

use super::vocab::Vocab;

/// Words shorter than this are not read as typos: one edit away from a three-letter word
/// there are dozens of others.
pub const MIN_TYPO_LEN: usize = 4;
/// The shortest word read as a word two edits away.
pub const MIN_TWO_EDITS_LEN: usize = 6;

/// The word of `vocab` that the unknown `word` is read as (see the module documentation),
/// or `None` when no rule gives one.
pub fn read_as(vocab: &Vocab, word: &str) -> Option<String> {
    if !word.chars().all(|c| c.is_alphabetic()) || vocab.id(word).is_some() {
        return None;
    }
    let len = word.chars().count();
    if len >= MIN_TYPO_LEN
        && let Some(w) = closest(vocab, word, 1, false)
    {
        return Some(w);
    }
    if len >= MIN_TWO_EDITS_LEN {
        return closest(vocab, word, 2, true);
    }
    None
}

/// Rules 1 and 2: the best word of `vocab` at most `edits` edits from `word` (see the
/// module documentation for "best"), among trained words only when `trained_only`. One edit
/// is checked in one pass over the letters ([`one_edit`]); two by `strsim`, over the few
/// thousand trained words only.
fn closest(vocab: &Vocab, word: &str, edits: usize, trained_only: bool) -> Option<String> {
    let typed: Vec<char> = word.chars().collect();
    let mut letters: Vec<char> = Vec::new();
    let mut best: Option<((usize, bool, usize), &str)> = None;
    for (i, (candidate, &count)) in vocab.words().iter().zip(vocab.counts()).enumerate() {
        if trained_only && count == 0 {
            continue;
        }
        letters.clear();
        letters.extend(candidate.chars());
        if letters.len().abs_diff(typed.len()) > edits || !letters.iter().all(|c| c.is_alphabetic()) {
            continue;
        }
        let d = if edits == 1 {
            usize::from(!one_edit(&typed, &letters)) + 1
        } else {
            strsim::osa_distance(word, candidate)
        };
        if d == 0 || d > edits {
            continue;
        }
        let key = (d, letters.first() != typed.first(), i);
        if best.is_none_or(|(b, _)| key < b) {
            best = Some((key, candidate));
        }
    }
    best.map(|(_, w)| w.to_string())
}

/// True when `a` and `b` are exactly one edit apart: a letter added, dropped or changed, or
/// two neighbours swapped (optimal string alignment distance 1).
pub fn one_edit(a: &[char], b: &[char]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let Some(i) = short.iter().zip(long).position(|(x, y)| x != y) else {
        // One is the other with letters added at the end.
        return long.len() == short.len() + 1;
    };
    if short.len() == long.len() {
        let changed = short[i + 1..] == long[i + 1..];
        let swapped = i + 1 < short.len()
            && short[i] == long[i + 1]
            && short[i + 1] == long[i]
            && short[i + 2..] == long[i + 2..];
        changed || swapped
    } else {
        long.len() == short.len() + 1 && short[i..] == long[i + 1..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{VocabSettings, WordCounts};

    /// Trained words (each caption once, so earlier captions' words are more common), then
    /// words known only from GloVe.
    fn vocab() -> Vocab {
        let mut counts = WordCounts::new();
        for (caption, times) in
            [("mountain shirt blue", 5), ("sand castles windsurf", 4), ("shirts peach", 3), ("speech", 2)]
        {
            for _ in 0..times {
                counts.add(caption);
            }
        }
        let settings = VocabSettings { min_count: 1, ..VocabSettings::default() };
        Vocab::build(&counts, settings).unwrap().extended(["speeches", "mountains", "blew", "zip"]).unwrap()
    }

    fn read(word: &str) -> Option<String> {
        read_as(&vocab(), word)
    }

    #[test]
    fn a_typo_is_read_as_the_word_one_edit_away() {
        assert_eq!(read("moutain").as_deref(), Some("mountain"));
        // Two neighbours swapped, even the first two letters.
        assert_eq!(read("hsirt").as_deref(), Some("shirt"));
        // "speach" is one edit from both "peach" (trained, more common) and "speech": the
        // word with the typed first letter wins.
        assert_eq!(read("speach").as_deref(), Some("speech"));
        // A form the vocabulary lacks, one letter from one it has.
        assert_eq!(read("windsurfs").as_deref(), Some("windsurf"));
    }

    #[test]
    fn one_edit_agrees_with_the_optimal_string_alignment_distance() {
        let words = [
            "mountain",
            "moutain",
            "mountian",
            "mountains",
            "muontain",
            "mountai",
            "ountain",
            "mmountain",
            "nountain",
            "omuntain",
            "mountaim",
            "mounatin",
            "ab",
            "ba",
            "abc",
            "acb",
            "bac",
            "a",
            "",
            "café",
            "cafe",
            "caféé",
        ];
        for a in words {
            for b in words {
                let chars = |w: &str| w.chars().collect::<Vec<_>>();
                assert_eq!(one_edit(&chars(a), &chars(b)), strsim::osa_distance(a, b) == 1, "{a} / {b}");
            }
        }
    }

    #[test]
    fn two_edits_reach_only_trained_words() {
        // Two neighbours swapped twice: two edits from "mountain" (trained).
        assert_eq!(read("muontian").as_deref(), Some("mountain"));
        // Two edits from "speeches", which only GloVe has: not read.
        assert_eq!(read("speachis"), None);
    }

    #[test]
    fn short_words_words_with_digits_and_known_words_are_left_alone() {
        // One edit from "zip", but too short to be read as a typo.
        assert_eq!(read("zop"), None);
        assert_eq!(read("m0untain"), None);
        assert_eq!(read("blew"), None);
        assert_eq!(read("xyzzy"), None);
    }
}

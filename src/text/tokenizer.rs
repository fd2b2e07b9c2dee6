//! Caption and query text to words: the one tokenizer that training and search share.
//!
//! The rules are the classic caption pipeline, fixed and named ([`TOKENIZER_RULES`]) so
//! that a vocabulary file made with other rules is refused rather than silently misread:
//! - lowercase (Unicode-aware: `Café` becomes `café`);
//! - every character that is not a letter or a digit separates words. That includes the
//!   hyphen and the apostrophe: `t-shirt` gives `t` + `shirt` and `dog's` gives `dog` + `s`,
//!   so the parts meet the words GloVe and the captions already have (`shirt`, `dog`)
//!   instead of rare joined forms (`tshirt`, `dogs`);
//! - combining accents (U+0300–U+036F) are dropped, so a decomposed `cafe\u{301}` becomes
//!   `cafe` instead of splitting into `cafe` and nothing;
//! - single letters are dropped (`a`, and the `t`/`s` left by the rule above);
//! - numbers are kept, single digits too (`3 dogs` keeps `3`): GloVe has vectors for them
//!   and a query may count things.

/// The name of the rules above, recorded in vocabulary files.
pub const TOKENIZER_RULES: &str = "glimpse-words-1";

/// Splits `text` into lowercase words by the rules in the module documentation.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase().filter(|l| !is_combining_accent(*l)));
        } else if !is_combining_accent(c) {
            push_word(&mut current, &mut words);
        }
    }
    push_word(&mut current, &mut words);
    words
}

/// True when [`tokenize`] gives `word` back as its only word: what a vocabulary may hold.
/// Checked without allocating, since a vocabulary of 100,000 words is checked each time a
/// model opens.
pub fn is_word(word: &str) -> bool {
    let mut chars = word.chars();
    let single_letter = matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphabetic());
    !word.is_empty()
        && !single_letter
        && word.chars().all(|c| {
            let mut lower = c.to_lowercase();
            c.is_alphanumeric() && lower.next() == Some(c) && lower.next().is_none()
        })
}

/// Moves the word being built into `words`, unless it is empty or a single letter.
fn push_word(current: &mut String, words: &mut Vec<String>) {
    let mut chars = current.chars();
    let single_letter = matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphabetic());
    if current.is_empty() || single_letter {
        current.clear();
    } else {
        words.push(std::mem::take(current));
    }
}

/// The Unicode block of combining diacritical marks (accents written after their letter).
fn is_combining_accent(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        tokenize(text)
    }

    #[test]
    fn a_word_is_what_tokenizing_it_gives_back_alone() {
        for w in ["dog", "3", "12", "café", "東京", "a", "s", "Dog", "t-shirt", "'s", "u.s.", "", "two words", "İ"]
        {
            assert_eq!(is_word(w), tokenize(w) == [w], "{w:?}");
        }
    }

    #[test]
    fn a_caption_is_lowercased_stripped_of_punctuation_and_of_single_letters() {
        assert_eq!(words("A dog runs through the water."), ["dog", "runs", "through", "the", "water"]);
        assert_eq!(
            words("A child in a pink dress is climbing up a set of stairs in an entry way ."),
            ["child", "in", "pink", "dress", "is", "climbing", "up", "set", "of", "stairs", "in", "an", "entry", "way"]
        );
    }

    #[test]
    fn hyphens_and_apostrophes_separate_words() {
        assert_eq!(words("A boy in a t-shirt"), ["boy", "in", "shirt"]);
        assert_eq!(words("snow-covered hill"), ["snow", "covered", "hill"]);
        assert_eq!(words("the dog's toy"), ["the", "dog", "toy"]);
        assert_eq!(words("the dog 's toy"), ["the", "dog", "toy"]);
        assert_eq!(words("don't"), ["don"]);
        assert_eq!(words("the dog’s toy"), ["the", "dog", "toy"]);
    }

    #[test]
    fn numbers_are_kept_even_single_digits() {
        assert_eq!(words("3 dogs and 25 cats"), ["3", "dogs", "and", "25", "cats"]);
        assert_eq!(words("the 2nd 4x4 truck"), ["the", "2nd", "4x4", "truck"]);
        assert_eq!(words("3.5 miles"), ["3", "5", "miles"]);
    }

    #[test]
    fn empty_blank_and_punctuation_only_text_has_no_words() {
        assert!(words("").is_empty());
        assert!(words("   \t\n").is_empty());
        assert!(words("?!... -- '\" ,;:()").is_empty());
        assert!(words("a A b I").is_empty());
    }

    #[test]
    fn unicode_letters_are_kept_and_lowercased() {
        assert_eq!(words("Café ÉCOLE naïve"), ["café", "école", "naïve"]);
        assert_eq!(words("東京 tower"), ["東京", "tower"]);
        assert_eq!(words("Straße"), ["straße"]);
        // Decomposed accents are dropped rather than splitting the word.
        assert_eq!(words("cafe\u{301} noir"), ["cafe", "noir"]);
        // An emoji is a separator, not part of a word.
        assert_eq!(words("dog🐶park"), ["dog", "park"]);
        // A single non-Latin letter is still a single letter.
        assert_eq!(words("é ß"), Vec::<String>::new());
    }

    #[test]
    fn whitespace_of_every_kind_separates_words() {
        assert_eq!(words("dog\tcat\r\nbird\u{a0}fish"), ["dog", "cat", "bird", "fish"]);
        assert_eq!(words("  two   spaces  "), ["two", "spaces"]);
    }
}

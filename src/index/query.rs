//! Query algebra: weighted sums and differences of text and photos.
//!
//! ```text
//! dog on a beach                 one text term
//! "dog on a beach" - people      minus a concept
//! 2:"sunset" + ./photo.jpg       twice "sunset", plus what a photo shows
//! ./a.jpg - ./b.jpg              photos only
//! ```
//!
//! `+` and `-` are operators only with a space on each side (so "t-shirt" is one word). A
//! term is a photo when it names an existing file or starts with `./`, `../`, `/` or `~/`;
//! otherwise it is text. `N:` before a term weights it (default 1).
//!
//! A concept's name ([`super::concepts`]) written anywhere outside quotes, in any case and
//! as whole words, is that concept: `Rex on the beach` is the concept "Rex" plus the text
//! "on the beach", both with the term's weight. Inside quotes words are always words
//! (`"bike"` is the word even when "bike" is also a concept).

use std::path::PathBuf;

use crate::{Error, Result};

/// What a term stands for.
#[derive(Clone, Debug, PartialEq)]
pub enum Term {
    /// Words, encoded by the text model.
    Text(String),
    /// A photo, embedded by the backbone.
    Photo(PathBuf),
    /// A concept taught by example, by its name as saved.
    Concept(String),
}

/// One weighted term of a query.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryPart {
    /// Signed weight (a `-` before the term makes it negative).
    pub weight: f32,
    /// The term.
    pub term: Term,
}

fn split_terms(query: &str) -> Vec<(f32, String)> {
    let mut parts = Vec::new();
    let mut sign = 1.0;
    let mut current = String::new();
    let mut in_quotes = false;
    let chars: Vec<char> = query.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let spaced = |j: usize| j == 0 || chars.get(j - 1).is_some_and(|p| p.is_whitespace());
        let followed = chars.get(i + 1).is_none_or(|n| n.is_whitespace());
        if c == '"' {
            in_quotes = !in_quotes;
            current.push(c);
        } else if !in_quotes && (c == '+' || c == '-') && spaced(i) && followed {
            if !current.trim().is_empty() {
                parts.push((sign, current.trim().to_string()));
            }
            current.clear();
            sign = if c == '-' { -1.0 } else { 1.0 };
        } else {
            current.push(c);
        }
    }
    if !current.trim().is_empty() {
        parts.push((sign, current.trim().to_string()));
    }
    parts
}

/// Parses a query into weighted terms.
pub fn parse(query: &str) -> Result<Vec<QueryPart>> {
    parse_with_concepts(query, &[])
}

/// Lower case with one kind of apostrophe, char by char (so positions stay the same).
fn folded(text: &str) -> Vec<char> {
    text.chars().map(|c| if c == '\u{2019}' { '\'' } else { c.to_lowercase().next().unwrap_or(c) }).collect()
}

/// Splits text into the concepts named in it and the text around them, in order.
fn split_concepts(text: &str, names: &[String]) -> Vec<Term> {
    let chars: Vec<char> = text.chars().collect();
    let lower = folded(text);
    let wanted: Vec<(Vec<char>, &String)> = names.iter().map(|n| (folded(n), n)).collect();
    let boundary =
        |i: usize| i == 0 || i >= chars.len() || !chars[i].is_alphanumeric() || !chars[i - 1].is_alphanumeric();
    let (mut terms, mut rest, mut i) = (Vec::new(), String::new(), 0);
    while i < chars.len() {
        let hit = boundary(i).then(|| {
            wanted
                .iter()
                .filter(|(n, _)| !n.is_empty() && lower[i..].starts_with(n) && boundary(i + n.len()))
                .max_by_key(|(n, _)| n.len())
        });
        match hit.flatten() {
            Some((n, name)) => {
                if rest.chars().any(char::is_alphanumeric) {
                    terms.push(Term::Text(rest.split_whitespace().collect::<Vec<_>>().join(" ")));
                }
                rest.clear();
                terms.push(Term::Concept((*name).clone()));
                i += n.len();
            }
            None => {
                rest.push(chars[i]);
                i += 1;
            }
        }
    }
    if rest.chars().any(char::is_alphanumeric) {
        terms.push(Term::Text(rest.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    terms
}

/// Parses a query into weighted terms, the concept `names` (longest first, as
/// [`super::concepts::Concepts::names_longest_first`] gives them) recognised outside quotes.
pub fn parse_with_concepts(query: &str, names: &[String]) -> Result<Vec<QueryPart>> {
    let mut out = Vec::new();
    for (sign, raw) in split_terms(query) {
        let (weight, body) = match raw.split_once(':') {
            Some((w, rest)) if w.trim().parse::<f32>().is_ok() => (w.trim().parse::<f32>().unwrap_or(1.0), rest.trim()),
            _ => (1.0, raw.as_str()),
        };
        if !weight.is_finite() {
            return Err(Error::Invalid(format!("the weight in '{raw}' is not a number")));
        }
        let unquoted = body.trim_matches('"').trim();
        if unquoted.is_empty() {
            continue;
        }
        let looks_like_path = ["./", "../", "/", "~/"].iter().any(|p| unquoted.starts_with(p));
        let expanded = crate::locations::expand_home(unquoted);
        if looks_like_path || expanded.is_file() {
            out.push(QueryPart { weight: sign * weight, term: Term::Photo(expanded) });
        } else if body.trim().starts_with('"') || names.is_empty() {
            out.push(QueryPart { weight: sign * weight, term: Term::Text(unquoted.to_string()) });
        } else {
            out.extend(
                split_concepts(unquoted, names).into_iter().map(|term| QueryPart { weight: sign * weight, term }),
            );
        }
    }
    if out.is_empty() {
        return Err(Error::Invalid("the query is empty".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(w: f32, s: &str) -> QueryPart {
        QueryPart { weight: w, term: Term::Text(s.into()) }
    }

    #[test]
    fn plain_words_are_one_text_term_and_hyphenated_words_stay_whole() {
        assert_eq!(parse("a dog in a t-shirt").unwrap(), vec![text(1.0, "a dog in a t-shirt")]);
    }

    #[test]
    fn minus_and_plus_with_spaces_combine_terms() {
        assert_eq!(
            parse("\"dog on a beach\" - people").unwrap(),
            vec![text(1.0, "dog on a beach"), text(-1.0, "people")]
        );
        assert_eq!(
            parse("2:\"sunset\" + ./photo.jpg").unwrap(),
            vec![text(2.0, "sunset"), QueryPart { weight: 1.0, term: Term::Photo("./photo.jpg".into()) }]
        );
        assert_eq!(parse("cat - 0.5:grass").unwrap(), vec![text(1.0, "cat"), text(-0.5, "grass")]);
    }

    #[test]
    fn an_operator_inside_quotes_is_text() {
        assert_eq!(parse("\"salt + pepper\"").unwrap(), vec![text(1.0, "salt + pepper")]);
    }

    #[test]
    fn an_existing_file_is_a_photo_term_even_without_a_dot_slash() {
        let dir = tempfile::tempdir().unwrap();
        let photo = dir.path().join("p.jpg");
        std::fs::write(&photo, b"x").unwrap();
        let q = format!("{} - snow", photo.display());
        assert_eq!(parse(&q).unwrap()[0].term, Term::Photo(photo));
    }

    #[test]
    fn a_concept_name_is_a_term_of_its_own_in_any_case_and_only_as_whole_words_outside_quotes() {
        let names = vec!["grandma's garden".to_string(), "garden".to_string(), "Rex".to_string()];
        let concept = |w: f32, s: &str| QueryPart { weight: w, term: Term::Concept(s.into()) };
        assert_eq!(
            parse_with_concepts("rex on the beach", &names).unwrap(),
            vec![concept(1.0, "Rex"), text(1.0, "on the beach")]
        );
        assert_eq!(parse_with_concepts("Rex - snow", &names).unwrap(), vec![concept(1.0, "Rex"), text(-1.0, "snow")]);
        assert_eq!(
            parse_with_concepts("Grandma\u{2019}s Garden in winter", &names).unwrap(),
            vec![concept(1.0, "grandma's garden"), text(1.0, "in winter")],
            "the longest name wins"
        );
        assert_eq!(parse_with_concepts("a rexy dog", &names).unwrap(), vec![text(1.0, "a rexy dog")]);
        assert_eq!(parse_with_concepts("\"rex\"", &names).unwrap(), vec![text(1.0, "rex")]);
        assert_eq!(
            parse_with_concepts("2:rex, garden", &names).unwrap(),
            vec![concept(2.0, "Rex"), concept(2.0, "garden")]
        );
    }

    #[test]
    fn an_empty_query_is_refused() {
        assert!(parse("  ").is_err());
        assert!(parse("\"\"").is_err());
    }
}

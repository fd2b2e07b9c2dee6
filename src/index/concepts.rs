//! The concepts a person taught by example ("Rex", "grandma's garden"), kept beside the
//! index: `library.glimpse` → `library.concepts.json`. A concept is made of photos (its
//! examples and the photos marked bad), so it survives re-indexing and a new text model; the
//! query vector fitted from them ([`super::concept::fit`]) is kept with the model it was
//! fitted for and fitted again when that model changes.
//!
//! The file is small JSON, versioned, and replaced whole and atomically, so a kill at any
//! moment leaves the old or the new list. A damaged file is set aside (`….damaged`) and
//! reported, and the library goes on with no concepts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::collections::Collection;
use super::opening::set_aside;
use crate::{Error, Result};

/// The `"format"` of a concepts file.
pub const CONCEPTS_FORMAT: &str = "glimpse-concepts";
/// The version this Glimpse writes and reads.
pub const CONCEPTS_VERSION: u32 = 1;
/// The longest name, in characters.
pub const MAX_NAME: usize = 60;

/// A photo of a concept: where it was, and its content hash (hex), which finds it again
/// after a move or a rename.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The photo's path when it was added.
    pub path: PathBuf,
    /// Its content hash, hex, when the library knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

impl Example {
    /// True when `other` is the same photo: the same path, or the same content (moved).
    pub fn same_photo(&self, other: &Example) -> bool {
        self.path == other.path || (self.hash.is_some() && self.hash == other.hash)
    }
}

/// A concept's query vector, for one text model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedFor {
    /// What the vector was fitted in: the text model's image head and codec
    /// ([`Concepts::model_key`]).
    pub model: String,
    /// The joint-space unit vector.
    pub vector: Vec<f32>,
    /// The vocabulary's words that single the examples out, best first.
    pub words: Vec<String>,
}

/// One concept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Concept {
    /// The name a query uses, as the person wrote it.
    pub name: String,
    /// Photos of it.
    pub examples: Vec<Example>,
    /// Photos marked bad when it was saved or taught.
    #[serde(default)]
    pub negatives: Vec<Example>,
    /// When it was made, seconds since the epoch.
    pub created: i64,
    /// Its query vector for the text model it was last fitted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fitted: Option<FittedFor>,
}

impl Concept {
    /// Its query vector when it was fitted for `model` ([`Concepts::model_key`]).
    pub fn vector_for(&self, model: &str) -> Option<&FittedFor> {
        self.fitted.as_ref().filter(|f| f.model == model)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConceptsFile {
    format: String,
    version: u32,
    concepts: Vec<Concept>,
    #[serde(default)]
    collections: Vec<Collection>,
    #[serde(default)]
    captions: Vec<Caption>,
}

/// A caption a person wrote for a photo of the library.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Caption {
    /// The photo.
    #[serde(flatten)]
    pub photo: Example,
    /// What it shows, in the person's words.
    pub text: String,
    /// When it was written, seconds since the epoch.
    pub written: i64,
}

/// What a person taught one library: its concepts and its collections
/// ([`super::collections`]), kept in one file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Concepts {
    /// Where they are kept.
    pub path: PathBuf,
    /// In the order they were made.
    pub list: Vec<Concept>,
    /// Saved searches, in the order they were saved.
    pub collections: Vec<Collection>,
    /// Captions of the library's photos, in the order they were written.
    pub captions: Vec<Caption>,
}

/// What opening a concepts file found.
#[derive(Debug)]
pub struct OpenedConcepts {
    /// The concepts (none when the file is absent or was set aside).
    pub concepts: Concepts,
    /// A damaged file set aside, in words, to show the person.
    pub notice: Option<String>,
}

/// A name a person may give a concept: trimmed, 1–60 characters, made of letters, digits,
/// spaces, `'`, `-` and `_`, with at least one letter (so it cannot be read as a weight, a
/// path or an operator of the query algebra).
pub fn checked_name(name: &str) -> Result<String> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(Error::Invalid("a concept needs a name".into()));
    }
    if name.chars().count() > MAX_NAME {
        return Err(Error::Invalid(format!("a concept's name has at most {MAX_NAME} characters")));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_alphanumeric() || matches!(c, ' ' | '\'' | '\u{2019}' | '-' | '_'))) {
        return Err(Error::Invalid(format!(
            "'{c}' cannot be in a concept's name: use letters, digits, spaces, ' - and _"
        )));
    }
    if !name.chars().any(char::is_alphabetic) {
        return Err(Error::Invalid("a concept's name needs a letter".into()));
    }
    Ok(name)
}

/// Two names are the same concept when they differ only in case (and in the kind of
/// apostrophe).
pub fn same_name(a: &str, b: &str) -> bool {
    let fold = |s: &str| s.replace('\u{2019}', "'").to_lowercase();
    fold(a) == fold(b)
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Concepts {
    /// The concepts file of the index at `index`.
    pub fn path_for(index: &Path) -> PathBuf {
        index.with_extension("concepts.json")
    }

    /// The key a fitted vector is kept under: a text model's image head and codec (the
    /// library's joint vectors are made by both).
    pub fn model_key(head_sha256: &str, codec_id: &str) -> String {
        format!("{head_sha256}/{codec_id}")
    }

    /// The concepts of the index at `index`: none when there is no file; a damaged or
    /// foreign file is set aside and said in [`OpenedConcepts::notice`].
    pub fn open(index: &Path) -> Result<OpenedConcepts> {
        let path = Concepts::path_for(index);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(OpenedConcepts { concepts: Concepts { path, ..Concepts::default() }, notice: None });
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => String::new(),
            Err(e) => return Err(Error::io(&path, e)),
        };
        match Concepts::parse(&text) {
            Ok(file) => Ok(OpenedConcepts {
                concepts: Concepts {
                    path,
                    list: file.concepts,
                    collections: file.collections,
                    captions: file.captions,
                },
                notice: None,
            }),
            Err(why) => {
                let aside = set_aside(&path)?;
                Ok(OpenedConcepts {
                    concepts: Concepts { path, ..Concepts::default() },
                    notice: Some(format!(
                        "the concepts file was damaged ({why}); it was set aside as {} and the library has no concepts or collections now",
                        aside.display()
                    )),
                })
            }
        }
    }

    fn parse(text: &str) -> std::result::Result<ConceptsFile, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        crate::checked::check_json_version(&value, "concepts file", CONCEPTS_FORMAT, CONCEPTS_VERSION)?;
        let file: ConceptsFile = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let mut names: Vec<&str> = Vec::new();
        for c in &file.concepts {
            checked_name(&c.name).map_err(|e| e.to_string())?;
            if names.iter().any(|n| same_name(n, &c.name)) {
                return Err(format!("the name '{}' is there twice", c.name));
            }
            if c.fitted.as_ref().is_some_and(|f| f.vector.iter().any(|x| !x.is_finite())) {
                return Err(format!("the vector of '{}' is not a number", c.name));
            }
            names.push(&c.name);
        }
        let mut names: Vec<&str> = Vec::new();
        for c in &file.collections {
            checked_name(&c.name).map_err(|e| e.to_string())?;
            if names.iter().any(|n| same_name(n, &c.name)) {
                return Err(format!("the collection '{}' is there twice", c.name));
            }
            if !c.threshold.is_finite() {
                return Err(format!("the threshold of '{}' is not a number", c.name));
            }
            names.push(&c.name);
        }
        Ok(file)
    }

    /// Writes the list whole, atomically.
    pub fn save(&self) -> Result<()> {
        let file = ConceptsFile {
            format: CONCEPTS_FORMAT.into(),
            version: CONCEPTS_VERSION,
            concepts: self.list.clone(),
            collections: self.collections.clone(),
            captions: self.captions.clone(),
        };
        let text = serde_json::to_vec_pretty(&file).map_err(|e| Error::Invalid(format!("concepts: {e}")))?;
        crate::durable::write_atomically(&self.path, &[&text])
    }

    /// The concept called `name` (any case).
    pub fn find(&self, name: &str) -> Option<&Concept> {
        self.list.iter().find(|c| same_name(&c.name, name))
    }

    fn find_mut(&mut self, name: &str) -> Option<&mut Concept> {
        self.list.iter_mut().find(|c| same_name(&c.name, name))
    }

    /// Adds `examples` (and `negatives`) to the concept `name`, made when there is none;
    /// a photo already there is not added twice, and a photo added as an example stops being
    /// a negative. Its fitted vector is dropped: the caller fits it again. Returns its name.
    pub fn add(&mut self, name: &str, examples: Vec<Example>, negatives: Vec<Example>) -> Result<String> {
        let name = checked_name(name)?;
        if examples.is_empty() && self.find(&name).is_none() {
            return Err(Error::Invalid(format!("'{name}' needs at least one photo")));
        }
        if self.find(&name).is_none() {
            self.list.push(Concept {
                name: name.clone(),
                examples: Vec::new(),
                negatives: Vec::new(),
                created: now(),
                fitted: None,
            });
        }
        let concept = self.find_mut(&name).ok_or_else(|| Error::Invalid(format!("no concept '{name}'")))?;
        for e in examples {
            concept.negatives.retain(|n| !n.same_photo(&e));
            if !concept.examples.iter().any(|x| x.same_photo(&e)) {
                concept.examples.push(e);
            }
        }
        for n in negatives {
            if !concept.examples.iter().any(|x| x.same_photo(&n)) && !concept.negatives.iter().any(|x| x.same_photo(&n))
            {
                concept.negatives.push(n);
            }
        }
        concept.fitted = None;
        Ok(concept.name.clone())
    }

    /// Keeps `fitted` as the vector of `name` (when it is still there).
    pub fn set_fitted(&mut self, name: &str, fitted: FittedFor) {
        if let Some(c) = self.find_mut(name) {
            c.fitted = Some(fitted);
        }
    }

    /// Renames a concept; a name another concept has is refused.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        let to = checked_name(to)?;
        if self.find(&to).is_some_and(|c| !same_name(&c.name, from)) {
            return Err(Error::Invalid(format!("there is a concept '{to}' already")));
        }
        let concept = self.find_mut(from).ok_or_else(|| Error::Invalid(format!("no concept '{from}'")))?;
        concept.name = to;
        Ok(())
    }

    /// Removes a concept and returns it.
    pub fn remove(&mut self, name: &str) -> Result<Concept> {
        let at = self
            .list
            .iter()
            .position(|c| same_name(&c.name, name))
            .ok_or_else(|| Error::Invalid(format!("no concept '{name}'")))?;
        Ok(self.list.remove(at))
    }

    /// The collection called `name` (any case).
    pub fn collection(&self, name: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| same_name(&c.name, name))
    }

    /// See [`Concepts::collection`].
    pub fn collection_mut(&mut self, name: &str) -> Option<&mut Collection> {
        self.collections.iter_mut().find(|c| same_name(&c.name, name))
    }

    /// Keeps `collection`, replacing one of the same name; the name is checked.
    pub fn put_collection(&mut self, mut collection: Collection) -> Result<()> {
        collection.name = checked_name(&collection.name)?;
        match self.collection_mut(&collection.name) {
            Some(old) => *old = collection,
            None => self.collections.push(collection),
        }
        Ok(())
    }

    /// Removes a collection and returns it (its photos stay).
    pub fn remove_collection(&mut self, name: &str) -> Result<Collection> {
        let at = self
            .collections
            .iter()
            .position(|c| same_name(&c.name, name))
            .ok_or_else(|| Error::Invalid(format!("no collection '{name}'")))?;
        Ok(self.collections.remove(at))
    }

    /// Writes `text` as the caption of `photo` (an empty text removes it).
    pub fn set_caption(&mut self, photo: Example, text: &str, now: i64) {
        self.captions.retain(|c| !c.photo.same_photo(&photo));
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            self.captions.push(Caption { photo, text, written: now });
        }
    }

    /// The names, longest first: the order a query is matched in, so "grandma's garden"
    /// wins over "garden".
    pub fn names_longest_first(&self) -> Vec<String> {
        let mut names: Vec<String> = self.list.iter().map(|c| c.name.clone()).collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.chars().count()));
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(p: &str) -> Example {
        Example { path: p.into(), hash: Some(format!("h{p}")) }
    }

    #[test]
    fn names_are_checked_and_compared_without_case() {
        assert_eq!(checked_name("  grandma's   garden ").unwrap(), "grandma's garden");
        for bad in ["", "   ", "2", "a+b", "./rex", "rex:2", &"x".repeat(61)] {
            assert!(checked_name(bad).is_err(), "{bad:?}");
        }
        assert!(same_name("Grandma\u{2019}s Garden", "grandma's garden"));
        assert!(!same_name("rex", "rexy"));
    }

    #[test]
    fn concepts_are_saved_and_read_back_and_photos_are_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("library.glimpse");
        let mut concepts = Concepts::open(&index).unwrap().concepts;
        assert!(concepts.list.is_empty());
        assert!(concepts.add("Rex", Vec::new(), Vec::new()).is_err(), "a new concept needs a photo");
        concepts.add("Rex", vec![example("a"), example("b")], vec![example("z")]).unwrap();
        concepts.set_fitted("rex", FittedFor { model: "m".into(), vector: vec![1.0, 0.0], words: vec!["dog".into()] });
        // "z" becomes an example: it is no longer a negative; "a" moved is still "a".
        let moved = Example { path: "elsewhere".into(), hash: Some("ha".into()) };
        assert_eq!(concepts.add("REX", vec![moved, example("z")], Vec::new()).unwrap(), "Rex");
        let rex = concepts.find("rex").unwrap();
        assert_eq!(rex.examples.len(), 3);
        assert!(rex.negatives.is_empty());
        assert!(rex.fitted.is_none(), "new examples drop the old vector");
        concepts.set_fitted("Rex", FittedFor { model: "m".into(), vector: vec![0.6, 0.8], words: Vec::new() });
        concepts.add("grandma's garden", vec![example("g")], Vec::new()).unwrap();
        concepts.save().unwrap();
        let back = Concepts::open(&index).unwrap();
        assert!(back.notice.is_none());
        assert_eq!(back.concepts, concepts);
        assert_eq!(back.concepts.find("rex").unwrap().vector_for("m").unwrap().vector, [0.6, 0.8]);
        assert!(back.concepts.find("rex").unwrap().vector_for("other model").is_none());
        assert_eq!(back.concepts.names_longest_first()[0], "grandma's garden");
    }

    #[test]
    fn a_caption_is_replaced_by_the_next_and_an_empty_one_removes_it() {
        let mut taught = Concepts::default();
        taught.set_caption(example("a"), "  a  dog ", 1);
        taught.set_caption(Example { path: "moved".into(), hash: Some("ha".into()) }, "Rex", 2);
        assert_eq!(taught.captions.len(), 1, "the same photo, moved, has one caption");
        assert_eq!(taught.captions[0].text, "Rex");
        taught.set_caption(example("b"), "a  cat", 3);
        assert_eq!(taught.captions[1].text, "a cat");
        taught.set_caption(example("b"), " ", 4);
        assert_eq!(taught.captions.len(), 1);
    }

    #[test]
    fn renaming_to_a_taken_name_is_refused_and_removing_an_unknown_concept_says_so() {
        let mut concepts = Concepts::default();
        concepts.add("Rex", vec![example("a")], Vec::new()).unwrap();
        concepts.add("Tom", vec![example("b")], Vec::new()).unwrap();
        assert!(concepts.rename("rex", "TOM").is_err());
        concepts.rename("rex", "Rexie").unwrap();
        concepts.rename("rexie", "REXIE").unwrap();
        assert_eq!(concepts.find("rexie").unwrap().name, "REXIE");
        assert!(concepts.remove("nobody").is_err());
        assert_eq!(concepts.remove("tom").unwrap().examples, [example("b")]);
    }

    #[test]
    fn a_damaged_concepts_file_is_set_aside_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("library.glimpse");
        let path = Concepts::path_for(&index);
        for damaged in
            [&b"{\"format\": \"glimpse-concepts\", \"version\": 1, \"conc"[..], b"\xff\xfe", b"{\"format\": \"other\"}"]
        {
            std::fs::write(&path, damaged).unwrap();
            let opened = Concepts::open(&index).unwrap();
            assert!(opened.concepts.list.is_empty());
            let notice = opened.notice.expect("a notice");
            assert!(notice.contains("set aside"), "{notice}");
            assert!(!path.exists(), "the damaged file is moved away");
        }
        let aside: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(aside.len(), 3, "each damaged file is kept under a name of its own");
    }
}

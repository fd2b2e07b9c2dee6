//! Concepts in the window: saving the good/bad marks under a name, listing the library's
//! concepts beside the query, removing one. The work (fitting, writing the file) runs in a
//! job through [`crate::finder::Finder`], as `glimpse concept` does it.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Mark, State};
use crate::Result;
use crate::finder::Finder;
use crate::job::Job;

/// A concept as the window lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConceptChip {
    /// Its name as saved.
    pub name: String,
    /// Its example photos.
    pub examples: usize,
    /// The words that describe it, best first.
    pub words: Vec<String>,
}

/// The concepts part of the window's state.
#[derive(Default)]
pub struct ConceptsState {
    /// The library's concepts, as last read.
    pub list: Vec<ConceptChip>,
    /// The name being typed for the marks, while the person saves them.
    pub naming: Option<String>,
    /// Saving or removing, with what to say when it is done.
    pub(super) job: Option<Job<(), Result<String>>>,
    /// The library the list was read from.
    read_from: Option<Arc<Finder>>,
}

impl ConceptsState {
    /// True while a concept is saved or removed.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }
}

fn chips(finder: &Finder) -> Option<Vec<ConceptChip>> {
    let concepts = finder.try_concepts()?;
    Some(
        concepts
            .list
            .iter()
            .map(|c| ConceptChip {
                name: c.name.clone(),
                examples: c.examples.len(),
                words: c.fitted.as_ref().map(|f| f.words.clone()).unwrap_or_default(),
            })
            .collect(),
    )
}

impl State {
    /// Saves the current query's marks as the concept `name`: good marks as its examples,
    /// bad ones as photos that are not it.
    pub(super) fn save_concept(&mut self, name: String) -> Result<()> {
        let Some(finder) = self.finder.clone() else { return Ok(()) };
        let pick = |wanted: Mark| -> Vec<PathBuf> {
            self.search.marks.iter().filter(|(_, m)| **m == wanted).map(|(p, _)| p.clone()).collect()
        };
        let (good, bad) = (pick(Mark::Good), pick(Mark::Bad));
        let job = Job::spawn("glimpse-concept", 1, self.waker(), move |_cx| {
            let taught = finder.teach(&name, &good, &bad)?;
            let like =
                if taught.words.is_empty() { String::new() } else { format!(", like {}", taught.words.join(", ")) };
            let photos =
                if taught.examples == 1 { "1 photo".to_string() } else { format!("{} photos", taught.examples) };
            Ok(format!(
                "Saved \u{201c}{}\u{201d}: {photos}{like}. Use its name in any query, e.g. \u{201c}{} on the beach\u{201d}.",
                taught.name, taught.name
            ))
        })?;
        self.concepts.job = Some(job);
        self.concepts.naming = None;
        Ok(())
    }

    /// Removes the concept `name` (its photos stay).
    pub(super) fn remove_concept(&mut self, name: String) -> Result<()> {
        let Some(finder) = self.finder.clone() else { return Ok(()) };
        let job = Job::spawn("glimpse-concept", 1, self.waker(), move |_cx| {
            let removed = finder.forget(&name)?;
            Ok(format!("Removed the concept \u{201c}{}\u{201d} (its photos are untouched)", removed.name))
        })?;
        self.concepts.job = Some(job);
        Ok(())
    }

    /// Takes a finished save or removal, and reads the list again when the library changed.
    pub(super) fn poll_concepts(&mut self, notices: &mut Vec<(String, bool)>, search_again: &mut bool) {
        if let Some(job) = self.concepts.job.take_if(|j| j.is_finished()) {
            match job.wait().and_then(|r| r) {
                Ok(said) => notices.push((said, false)),
                Err(e) => notices.push((e.to_string(), true)),
            }
            self.concepts.read_from = None;
            // A query naming the concept ranks by it now.
            *search_again = true;
        }
        let current = self.finder.as_ref();
        let same = match (current, &self.concepts.read_from) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            match current {
                Some(finder) => {
                    if let Some(list) = chips(finder) {
                        self.concepts.list = list;
                        self.concepts.read_from = Some(finder.clone());
                        if let Some(notice) = finder.concepts_notice() {
                            notices.push((notice.to_string(), true));
                        }
                    }
                }
                None => {
                    self.concepts.list.clear();
                    self.concepts.read_from = None;
                }
            }
        }
    }
}

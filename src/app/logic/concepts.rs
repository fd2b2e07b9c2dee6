//! Concepts and collections in the window: saving the good/bad marks under a name, saving
//! the query as a collection, listing both beside the query with the collections' counts
//! (brought up to date whenever the library changes), removing one. The work (fitting,
//! searching, writing the file) runs in jobs through [`crate::finder::Finder`], as
//! `glimpse concept` and `glimpse collection` do it.

use std::path::PathBuf;
use std::sync::Arc;

use super::{Mark, State};
use crate::Result;
use crate::finder::{CollectionSummary, Finder, SearchRequest};
use crate::job::Job;

/// Results a collection saved in the window starts with.
pub const COLLECTION_START: usize = 20;

/// A collection's name and the photos that were new to it when it was opened.
type NewInCollection = (String, Vec<PathBuf>);

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
    /// The library's collections with their counts, as last brought up to date.
    pub collections: Vec<CollectionSummary>,
    /// The name being typed for the query, while the person saves it as a collection.
    pub naming_collection: Option<String>,
    /// Bringing the collections up to date (after the library changed).
    refresh: Option<Job<(), Result<Vec<CollectionSummary>>>>,
    /// Saving or removing, with what to say when it is done.
    pub(super) job: Option<Job<(), Result<String>>>,
    /// Opening a collection: its name and the photos that were new to it.
    opening: Option<Job<(), Result<NewInCollection>>>,
    /// The library the list was read from.
    read_from: Option<Arc<Finder>>,
}

impl ConceptsState {
    /// True while a concept or collection is saved or removed, or the counts are brought
    /// up to date.
    pub fn busy(&self) -> bool {
        self.job.is_some() || self.refresh.is_some() || self.opening.is_some()
    }
}

/// The concepts as chips, and whether the library has collections; `None` while a concept
/// is being taught (the list is read again next frame).
fn chips(finder: &Finder) -> Option<(Vec<ConceptChip>, bool)> {
    let concepts = finder.try_concepts()?;
    let chips = concepts
        .list
        .iter()
        .map(|c| ConceptChip {
            name: c.name.clone(),
            examples: c.examples.len(),
            words: c.fitted.as_ref().map(|f| f.words.clone()).unwrap_or_default(),
        })
        .collect();
    Some((chips, !concepts.collections.is_empty()))
}

impl State {
    /// Runs `work` on the open library in the `glimpse-concept` job; what it returns is said
    /// when it is done. Without a library there is nothing to change.
    fn concept_job(&mut self, work: impl FnOnce(&Finder) -> Result<String> + Send + 'static) -> Result<()> {
        let Some(finder) = self.finder.clone() else { return Ok(()) };
        let job = Job::spawn("glimpse-concept", 1, self.waker(), move |_cx| work(&finder))?;
        self.concepts.job = Some(job);
        Ok(())
    }

    /// Saves the current query's marks as the concept `name`: good marks as its examples,
    /// bad ones as photos that are not it.
    pub(super) fn save_concept(&mut self, name: String) -> Result<()> {
        let pick = |wanted: Mark| -> Vec<PathBuf> {
            self.search.marks.iter().filter(|(_, m)| **m == wanted).map(|(p, _)| p.clone()).collect()
        };
        let (good, bad) = (pick(Mark::Good), pick(Mark::Bad));
        self.concept_job(move |finder| {
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
        self.concepts.naming = None;
        Ok(())
    }

    /// Saves the query in the box (with its filters and marks) as the collection `name`, its
    /// first [`COLLECTION_START`] results as its photos.
    pub(super) fn save_collection(&mut self, name: String, request: SearchRequest) -> Result<()> {
        self.concept_job(move |finder| {
            let saved = finder.save_collection(&name, &request)?;
            Ok(format!(
                "Saved the collection \u{201c}{}\u{201d}: {} photos. Photos added to the library later that match as well join it.",
                saved.name, saved.photos
            ))
        })?;
        self.concepts.naming_collection = None;
        Ok(())
    }

    /// Opens the collection `name` (the grid shows its photos): the photos new to it are
    /// kept to be flagged, and count as seen from now on.
    pub(super) fn open_collection(&mut self, name: &str) -> Result<()> {
        let Some(finder) = self.finder.clone() else { return Ok(()) };
        let name = name.to_string();
        let job = Job::spawn("glimpse-concept", 1, self.waker(), move |_cx| {
            let photos = finder.collection_photos(&name, true)?;
            Ok((name, photos.into_iter().filter(|p| p.new).map(|p| p.path).collect()))
        })?;
        self.concepts.opening = Some(job);
        Ok(())
    }

    /// Adds `photo` to the collection `name` for good (`pin`), or takes it out for good.
    pub(super) fn pin_to_collection(&mut self, name: String, photo: PathBuf, pin: bool) -> Result<()> {
        self.concept_job(move |finder| {
            let file = photo.file_name().unwrap_or(photo.as_os_str()).to_string_lossy().to_string();
            if pin {
                finder.pin(&name, &photo)?;
                Ok(format!("Added {file} to \u{201c}{name}\u{201d}: it stays, whatever its score"))
            } else {
                finder.exclude(&name, &photo)?;
                Ok(format!("Took {file} out of \u{201c}{name}\u{201d}: it stays out"))
            }
        })
    }

    /// Removes the collection `name` (its photos stay).
    pub(super) fn remove_collection(&mut self, name: String) -> Result<()> {
        self.concept_job(move |finder| {
            finder.forget_collection(&name)?;
            Ok(format!("Removed the collection \u{201c}{name}\u{201d} (its photos are untouched)"))
        })
    }

    /// Removes the concept `name` (its photos stay).
    pub(super) fn remove_concept(&mut self, name: String) -> Result<()> {
        self.concept_job(move |finder| {
            let removed = finder.forget(&name)?;
            Ok(format!("Removed the concept \u{201c}{}\u{201d} (its photos are untouched)", removed.name))
        })
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
        if let Some(job) = self.concepts.opening.take_if(|j| j.is_finished()) {
            match job.wait().and_then(|r| r) {
                Ok(opened) => self.search.new_in_collection = Some(opened),
                Err(e) => notices.push((e.to_string(), true)),
            }
            // Its count of new photos is read again.
            self.concepts.read_from = None;
        }
        if let Some(job) = self.concepts.refresh.take_if(|j| j.is_finished()) {
            match job.wait().and_then(|r| r) {
                Ok(list) => self.concepts.collections = list,
                Err(e) => notices.push((format!("The collections could not be brought up to date: {e}"), true)),
            }
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
                    if let Some((list, has_collections)) = chips(finder) {
                        self.concepts.list = list;
                        self.concepts.read_from = Some(finder.clone());
                        // The library changed (photos indexed, a collection saved): new photos
                        // that match join their collections, and all are counted, off the
                        // drawing thread (counting looks up every member in the library).
                        if has_collections {
                            let finder = finder.clone();
                            match Job::spawn("glimpse-collections", 1, self.waker(), move |_cx| {
                                finder.refresh_collections()
                            }) {
                                Ok(job) => self.concepts.refresh = Some(job),
                                Err(e) => notices.push((e.to_string(), true)),
                            }
                        } else {
                            self.concepts.collections.clear();
                        }
                        if let Some(notice) = finder.concepts_notice() {
                            notices.push((notice.to_string(), true));
                        }
                    }
                }
                None => {
                    self.concepts.list.clear();
                    self.concepts.collections.clear();
                    self.concepts.read_from = None;
                }
            }
        }
    }
}

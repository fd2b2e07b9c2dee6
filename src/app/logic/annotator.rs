//! The annotator's state and work: the library's photos with the captions a person writes
//! for them (kept with the library through [`Finder::set_caption`]); or a Flickr8k split
//! loaded and its captions ranked with the current model.

use super::Command;
use super::Notices;
use super::State;
use crate::app::settings::Settings;
use crate::dataset::Flickr8k;
use crate::dataset::ImageCaptions;
use crate::dataset::Split;
use crate::finder::Finder;
use crate::job::Job;
use crate::train::recipe::{self, CaptionRanks};
use crate::train::trainer::TrainEvent;
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Loading a Flickr8k split for the annotator.
type LoadJob = Job<(), Result<(Split, Vec<ImageCaptions>)>>;

/// Which photos the annotator shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// The person's own library: they write its captions.
    #[default]
    Library,
    /// A Flickr8k split with its five captions per photo, ranked by the current model.
    Flickr8k,
}

/// A photo of the library with its caption.
#[derive(Clone, Debug, PartialEq)]
pub struct CaptionedPhoto {
    /// Where it is.
    pub path: PathBuf,
    /// Its caption ("" for none).
    pub caption: String,
}

/// The library's photos as the annotator captions them.
#[derive(Default)]
pub struct LibraryCaptions {
    /// Every photo of the library, by path (changed only here, which bumps `revision`).
    pub photos: Vec<CaptionedPhoto>,
    /// Counts the changes of `photos`: the filtered list is made again after one.
    revision: u64,
    /// The filtered list, with the words, the "without a caption" choice and the revision
    /// it was made for (filtering tokenizes every caption: not on every frame).
    filtered: Option<((String, bool, u64), Vec<usize>)>,
    /// Words the caption or the file name must contain.
    pub words: String,
    /// Show only the photos that have no caption yet.
    pub uncaptioned_only: bool,
    /// The photo shown.
    pub selected: Option<usize>,
    /// The caption being written for the photo shown.
    pub draft: String,
    /// The photo the draft is for (a new selection starts from its own caption).
    pub draft_for: Option<PathBuf>,
    /// Writing a caption.
    saving: Option<Job<(), Result<()>>>,
    /// Captions written by the person and not yet kept, oldest first.
    pending: Vec<CaptionedPhoto>,
    /// The library the photos were read from.
    read_from: Option<Arc<Finder>>,
    /// Reading the library's photos and captions, with the revision it began at.
    reading: Option<(Job<(), Vec<CaptionedPhoto>>, u64)>,
}

impl LibraryCaptions {
    /// True while a caption is being written.
    pub fn saving(&self) -> bool {
        self.saving.is_some() || !self.pending.is_empty()
    }

    /// True while the library's photos and captions are being read.
    pub fn reading(&self) -> bool {
        self.reading.is_some()
    }

    /// How many photos have a caption.
    pub fn captioned(&self) -> usize {
        self.photos.iter().filter(|p| !p.caption.trim().is_empty()).count()
    }

    /// Indices of the photos the filters leave: every typed word in the caption or the file
    /// name (in any case), and without a caption when asked. Made again only when the
    /// filters or the photos changed.
    pub fn visible(&mut self) -> Vec<usize> {
        let key = (self.words.clone(), self.uncaptioned_only, self.revision);
        if let Some((made_for, list)) = &self.filtered
            && *made_for == key
        {
            return list.clone();
        }
        let list = self.filter();
        self.filtered = Some((key, list.clone()));
        list
    }

    fn filter(&self) -> Vec<usize> {
        let words: Vec<String> = crate::text::tokenizer::tokenize(&self.words);
        (0..self.photos.len())
            .filter(|&i| {
                let p = &self.photos[i];
                if self.uncaptioned_only && !p.caption.trim().is_empty() {
                    return false;
                }
                if words.is_empty() {
                    return true;
                }
                let name = p.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                let mut have = crate::text::tokenizer::tokenize(&p.caption);
                have.extend(crate::text::tokenizer::tokenize(&name.replace(['_', '-', '.'], " ")));
                words.iter().all(|w| have.contains(w))
            })
            .collect()
    }
}

/// Every photo of `finder`'s library with its caption, by path.
fn library_photos(finder: &Finder) -> Vec<CaptionedPhoto> {
    let captions: HashMap<PathBuf, String> = finder.captions().into_iter().collect();
    let mut photos: Vec<CaptionedPhoto> = (0..finder.library.len())
        .filter_map(|row| finder.library.photo(row).map(|e| e.path()))
        .map(|path| CaptionedPhoto { caption: captions.get(&path).cloned().unwrap_or_default(), path })
        .collect();
    photos.sort_by(|a, b| a.path.cmp(&b.path));
    photos
}

/// The annotator's state.
#[derive(Default)]
pub struct AnnotatorState {
    /// Which photos are shown.
    pub source: Source,
    /// The library's photos and their captions.
    pub library: LibraryCaptions,
    /// The split shown.
    pub split: Option<Split>,
    /// Its photos and captions.
    pub items: Vec<ImageCaptions>,
    /// Words the captions must contain.
    pub words: String,
    /// The photo shown.
    pub selected: Option<usize>,
    /// Where the current model ranks each caption's photo (per item, per caption).
    pub ranks: Option<CaptionRanks>,
    /// Progress of the ranking job (done, total photo features).
    pub ranking: Option<(usize, usize)>,
    /// Why loading or ranking failed.
    pub error: Option<String>,
    /// Show the worst-ranked captions first.
    pub worst_first: bool,
    /// Rank the captions as soon as the split is loaded.
    rank_when_loaded: bool,
    loading: Option<LoadJob>,
    rank_job: Option<Job<TrainEvent, Result<CaptionRanks>>>,
}

impl AnnotatorState {
    /// Progress of the ranking job, while it runs.
    pub fn rank_running(&self) -> Option<(usize, usize)> {
        self.rank_job.as_ref().map(|_| self.ranking.unwrap_or((0, 0)))
    }
}

impl State {
    pub(super) fn load_flickr8k(&mut self, settings: &Settings) -> Result<()> {
        let dir = PathBuf::from(settings.flickr8k.trim());
        if settings.flickr8k.trim().is_empty() {
            return Err(Error::Invalid("choose the Flickr8k folder first".into()));
        }
        let split = self.annotator.split.unwrap_or(Split::Dev);
        self.annotator.source = Source::Flickr8k;
        self.annotator.ranks = None;
        self.annotator.error = None;
        self.annotator.loading = Some(Job::spawn("glimpse-flickr8k", 1, self.waker(), move |_cx| {
            let data = Flickr8k::open(&dir)?;
            Ok((split, data.split(split)?))
        })?);
        Ok(())
    }

    pub(super) fn rank_captions(&mut self) -> Result<()> {
        let Some(engine) = self.engine.clone() else {
            return Err(Error::Invalid("the models are still loading".into()));
        };
        if engine.model.is_none() {
            return Err(Error::Invalid("there is no text model to rank with".into()));
        }
        if self.annotator.loading.is_some() {
            self.annotator.rank_when_loaded = true;
            return Ok(());
        }
        if self.annotator.items.is_empty() {
            return Err(Error::Invalid("load a split first".into()));
        }
        let items = self.annotator.items.clone();
        let cache = self.feature_cache();
        self.annotator.ranking = Some((0, 0));
        self.annotator.rank_job = Some(Job::spawn("glimpse-rank", 64, self.waker(), move |cx| {
            // The window's own text model: its graphs are already open, or open once here.
            let model = engine
                .models
                .text_model()?
                .ok_or_else(|| Error::Invalid("there is no text model to rank with".into()))?;
            recipe::rank_captions(&model, &engine.backbone, &items, &cache, &cx)
        })?);
        Ok(())
    }

    /// Keeps `text` as the caption of the library photo `photo` ("" removes it).
    /// The list shows it at once; captions are written one after another, in order.
    pub(super) fn save_caption(&mut self, photo: PathBuf, text: String) -> Result<()> {
        if self.finder.is_none() {
            return Err(Error::Invalid("add a folder to the library first".into()));
        }
        let lib = &mut self.annotator.library;
        let caption = text.trim().to_string();
        if let Some(p) = lib.photos.iter_mut().find(|p| p.path == photo) {
            p.caption = caption.clone();
            lib.revision += 1;
        }
        lib.pending.push(CaptionedPhoto { path: photo, caption });
        self.write_next_caption()
    }

    /// Starts writing the oldest caption not yet kept, unless one is being written.
    fn write_next_caption(&mut self) -> Result<()> {
        let lib = &mut self.annotator.library;
        if lib.saving.is_some() || lib.pending.is_empty() {
            return Ok(());
        }
        let Some(finder) = self.finder.clone() else { return Ok(()) };
        let next = lib.pending.remove(0);
        let job =
            Job::spawn("glimpse-caption", 1, self.waker(), move |_cx| finder.set_caption(&next.path, &next.caption))?;
        self.annotator.library.saving = Some(job);
        Ok(())
    }

    /// Takes a written caption; reads the library's photos and captions again, off the
    /// drawing thread (they are every photo of the library), when the library changed.
    fn poll_library_captions(&mut self, notices: &mut Notices) {
        if let Some(job) = self.annotator.library.saving.take_if(|j| j.is_finished()) {
            if let Err(e) = job.wait().and_then(|r| r) {
                notices.push((format!("The caption was not kept: {e}"), true));
                // The list shows what the library keeps.
                self.annotator.library.read_from = None;
            }
            if let Err(e) = self.write_next_caption() {
                notices.push((format!("The caption was not kept: {e}"), true));
            }
        }
        let lib = &mut self.annotator.library;
        if let Some((job, revision)) = lib.reading.take_if(|(j, _)| j.is_finished()) {
            match job.wait() {
                // A caption written since the read began is not in it: read again.
                Ok(_) if revision != lib.revision => lib.read_from = None,
                Ok(photos) => {
                    let shown = lib.selected.and_then(|i| lib.photos.get(i)).map(|p| p.path.clone());
                    lib.selected = shown.and_then(|s| photos.iter().position(|p| p.path == s));
                    lib.photos = photos;
                    lib.revision += 1;
                }
                Err(e) => notices.push((format!("The library's captions could not be read: {e}"), true)),
            }
        }
        let same = match (&self.finder, &lib.read_from) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same || lib.saving() || lib.reading.is_some() {
            return;
        }
        lib.read_from = self.finder.clone();
        let Some(finder) = self.finder.clone() else {
            lib.photos.clear();
            lib.revision += 1;
            lib.selected = None;
            return;
        };
        let revision = lib.revision;
        match Job::spawn("glimpse-captions", 1, self.waker(), move |_cx| library_photos(&finder)) {
            Ok(job) => self.annotator.library.reading = Some((job, revision)),
            Err(e) => notices.push((e.to_string(), true)),
        }
    }

    pub(super) fn poll_annotator(&mut self, commands: &mut Vec<Command>, notices: &mut Notices) {
        self.poll_library_captions(notices);
        let an = &mut self.annotator;
        if let Some(job) = &an.loading
            && job.is_finished()
            && let Some(job) = an.loading.take()
        {
            match job.wait().and_then(|r| r) {
                Ok((split, items)) => {
                    an.split = Some(split);
                    an.items = items;
                    an.selected = (!an.items.is_empty()).then_some(0);
                }
                Err(e) => an.error = Some(e.to_string()),
            }
            if std::mem::take(&mut an.rank_when_loaded) && !an.items.is_empty() {
                commands.push(Command::RankCaptions);
            }
        }
        if let Some(job) = &an.rank_job {
            let finished = job.is_finished();
            while let Ok(event) = job.events().try_recv() {
                if let TrainEvent::Features { done, total } = event {
                    an.ranking = Some((done, total));
                }
            }
            if finished && let Some(job) = an.rank_job.take() {
                an.ranking = None;
                match job.wait().and_then(|r| r) {
                    Ok(ranks) => an.ranks = Some(ranks),
                    Err(e) => an.error = Some(e.to_string()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(path: &str, caption: &str) -> CaptionedPhoto {
        CaptionedPhoto { path: PathBuf::from(path), caption: caption.into() }
    }

    #[test]
    fn the_library_list_filters_by_caption_and_file_name_words_and_by_having_no_caption() {
        let mut lib = LibraryCaptions {
            photos: vec![
                photo("/p/IMG_1.jpg", "Rex asleep on Grandma's sofa"),
                photo("/p/beach-day.jpg", ""),
                photo("/p/IMG_3.jpg", "the blue house"),
            ],
            ..LibraryCaptions::default()
        };
        assert_eq!(lib.visible(), vec![0, 1, 2]);
        assert_eq!(lib.captioned(), 2);
        lib.words = "rex SOFA".into();
        assert_eq!(lib.visible(), vec![0], "every word, in any case");
        lib.words = "rex house".into();
        assert!(lib.visible().is_empty(), "one photo must have all the words");
        lib.words = "beach".into();
        assert_eq!(lib.visible(), vec![1], "a file name's words count");
        lib.words.clear();
        lib.uncaptioned_only = true;
        assert_eq!(lib.visible(), vec![1]);
    }
}

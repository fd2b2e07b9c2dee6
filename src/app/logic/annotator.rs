//! The annotator's state and work: loading a Flickr8k split, ranking its captions with the current model.

use super::Command;
use super::State;
use crate::app::settings::Settings;
use crate::dataset::Flickr8k;
use crate::dataset::ImageCaptions;
use crate::dataset::Split;
use crate::job::Job;
use crate::train::recipe::{self, CaptionRanks};
use crate::train::trainer::TrainEvent;
use crate::{Error, Result};
use std::path::PathBuf;

/// Loading a Flickr8k split for the annotator.
type LoadJob = Job<(), Result<(Split, Vec<ImageCaptions>)>>;

/// The annotator's state.
#[derive(Default)]
pub struct AnnotatorState {
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

    pub(super) fn poll_annotator(&mut self, commands: &mut Vec<Command>) {
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

//! The library view's state and work: indexing runs with their phase, progress, rate and ETA, folders waiting to be added, and what was skipped.

use super::Notices;
use super::State;
use crate::app::settings::Settings;
use crate::index::lock::waiting_message;
use crate::index::update::IndexOptions;
use crate::index::update::IndexReport;
use crate::index::update::{self, IndexEvent};
use crate::index::watch::{self, WatchEvent};
use crate::job::Job;
use crate::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;
use std::time::Instant;

/// What indexing is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Phase {
    /// Nothing runs.
    #[default]
    Idle,
    /// Loading models, walking folders.
    Scanning,
    /// Decoding and embedding photos.
    Embedding,
    /// Making joint vectors from stored features.
    Projecting,
}

/// The library view's state.
#[derive(Default)]
pub struct IndexingState {
    /// What runs.
    pub phase: Phase,
    /// Photos done in this phase.
    pub done: usize,
    /// Photos to do in this phase.
    pub total: usize,
    /// When this phase started.
    pub phase_started: Option<Instant>,
    /// Files skipped in this run, with why.
    pub skipped: Vec<(PathBuf, String)>,
    /// The last finished run.
    pub report: Option<IndexReport>,
    /// The folder typed in the library view.
    pub typed_folder: String,
    /// Exclude patterns, one per line (empty: the defaults).
    pub excludes: String,
    /// The "found N photos" line of the current run.
    pub plan: Option<String>,
    /// Set while the run waits for another process that is updating the library.
    pub waiting: Option<String>,
    /// Folders added while a run was going, added when it ends.
    pub queued: Vec<PathBuf>,
    /// Folders the current run adds.
    pub adding: Vec<PathBuf>,
    /// The running indexing job.
    pub(super) job: Option<Job<IndexEvent, Result<IndexReport>>>,
    pub(super) stopping: bool,
    /// When the library was last reopened during this run's embedding, to show what it
    /// finished so far.
    pub(super) refreshed: Option<Instant>,
}

/// The library's folders under watch while the window is open: a settled burst of changes
/// starts an indexing run, as "Update index" does (see [`crate::index::watch`]).
#[derive(Default)]
pub struct WatchState {
    job: Option<Job<WatchEvent, Result<()>>>,
    /// The folders the job watches.
    roots: Vec<PathBuf>,
    /// How many folders are watched, and why the others are not.
    pub watching: Option<(usize, Vec<(PathBuf, String)>)>,
    /// Changes came that no run has looked at yet (one was going, or the models were
    /// loading): a run starts as soon as it can.
    pub pending: bool,
    /// Why watching stopped, when it did.
    pub failed: Option<String>,
}

/// How often the library is reopened while a run embeds, so that finished photos join the
/// results and the count: opening reads the index and replays the run's journal (a fraction
/// of a second at 100k photos, on the opening thread).
const LIVE_REFRESH: Duration = Duration::from_secs(5);

impl IndexingState {
    /// Photos a second in this phase, and the seconds left, once there is enough to say.
    pub fn rate_and_eta(&self) -> Option<(f64, f64)> {
        let elapsed = self.phase_started?.elapsed().as_secs_f64();
        if self.done == 0 || elapsed < 0.5 {
            return None;
        }
        let rate = self.done as f64 / elapsed;
        Some((rate, (self.total.saturating_sub(self.done)) as f64 / rate))
    }

    /// True while a run is going.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }

    /// True after cancel was asked and before the run ended.
    pub fn stopping(&self) -> bool {
        self.stopping
    }
}

/// Keeps the rate of the embedding phase that just ended in the settings, when it looked at
/// enough photos to say.
fn remember_rate(ix: &IndexingState, settings: &mut Settings) {
    if ix.done >= super::super::settings::RATE_MIN_PHOTOS
        && let Some((rate, _)) = ix.rate_and_eta()
    {
        settings.photos_per_second = Some(rate as f32);
    }
}

impl State {
    /// Keeps the watch on the open library's folders and starts an indexing run when they
    /// changed and none is going.
    pub(super) fn poll_watch(&mut self, settings: &Settings, notices: &mut Notices) {
        let roots = self.finder.as_deref().map(|f| f.library.roots()).unwrap_or_default();
        if roots != self.watch.roots {
            self.watch = WatchState { pending: self.watch.pending, ..WatchState::default() };
            if !roots.is_empty() {
                let own = crate::index::thumbs::ThumbCache::for_index(&settings.index).dir().to_path_buf();
                match watch::start(roots.clone(), vec![own], self.waker()) {
                    Ok(job) => self.watch.job = Some(job),
                    Err(e) => self.watch.failed = Some(e.to_string()),
                }
            }
            self.watch.roots = roots;
        }
        let Some(job) = &self.watch.job else { return };
        let finished = job.is_finished();
        for event in job.events().try_iter() {
            match event {
                WatchEvent::Watching { watched, problems } => self.watch.watching = Some((watched, problems)),
                WatchEvent::Changed(_) => self.watch.pending = true,
            }
        }
        if finished && let Some(job) = self.watch.job.take() {
            let why = match job.wait() {
                Ok(Ok(())) => "it stopped".to_string(),
                Ok(Err(e)) | Err(e) => e.to_string(),
            };
            notices.push((format!("Glimpse no longer watches the library's folders ({why}); use Update index"), true));
            self.watch.failed = Some(why);
        }
        if self.watch.pending && !self.indexing.running() && self.engine.is_some() && self.opening.is_none() {
            self.watch.pending = false;
            if let Err(e) = self.start_indexing(settings, vec![], vec![]) {
                notices.push((e.to_string(), true));
            }
        }
    }

    pub(super) fn start_indexing(
        &mut self,
        settings: &Settings,
        add: Vec<PathBuf>,
        remove: Vec<PathBuf>,
    ) -> Result<()> {
        if self.indexing.running() {
            return Err(Error::Invalid("indexing is already running: cancel it first, or wait".into()));
        }
        let Some(engine) = &self.engine else {
            return Err(Error::Invalid(
                self.engine_error
                    .clone()
                    .unwrap_or_else(|| "the models are still loading; try again in a moment".into()),
            ));
        };
        // Folders are checked by the job (the UI thread never touches the file system: a
        // hung network mount must not freeze the window).
        if add.is_empty() && self.finder.as_ref().is_none_or(|f| f.library.roots().is_empty()) {
            return Err(Error::Invalid("add a folder of photos first".into()));
        }
        let excludes: Vec<String> =
            self.indexing.excludes.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        let adding = add.clone();
        let mut options = IndexOptions {
            add_roots: add,
            remove_roots: remove,
            excludes: (!excludes.is_empty()).then_some(excludes),
            head: engine.head.clone(),
            ..IndexOptions::default()
        };
        options.embed.batch_size = settings.batch_size.max(1);
        let job = update::start(settings.index.clone(), &engine.backbone, options, self.waker())?;
        self.indexing = IndexingState {
            phase: Phase::Scanning,
            phase_started: Some(Instant::now()),
            typed_folder: std::mem::take(&mut self.indexing.typed_folder),
            excludes: std::mem::take(&mut self.indexing.excludes),
            adding,
            job: Some(job),
            ..IndexingState::default()
        };
        Ok(())
    }

    pub(super) fn poll_indexing(&mut self, settings: &mut Settings, notices: &mut Notices) {
        let Some(job) = &self.indexing.job else { return };
        // Checked before draining, so no event sent before the end is left behind.
        let finished = job.is_finished();
        let events: Vec<IndexEvent> = job.events().try_iter().collect();
        let ix = &mut self.indexing;
        for event in events {
            if let Some(line) = event.planned_line() {
                ix.plan = Some(line);
            }
            match event {
                IndexEvent::Notice(n) => notices.push((n, false)),
                IndexEvent::Waiting { pid } => ix.waiting = Some(waiting_message(pid).replace("Ctrl-C", "Cancel")),
                // The library view marks offline folders from the reopened library.
                IndexEvent::Offline { .. } => {}
                IndexEvent::Planned { to_embed, .. } => {
                    ix.waiting = None;
                    ix.phase = Phase::Embedding;
                    ix.done = 0;
                    ix.total = to_embed;
                    ix.phase_started = Some(Instant::now());
                    ix.refreshed = ix.phase_started;
                }
                IndexEvent::Progress { done, total } => {
                    ix.done = done;
                    ix.total = total;
                }
                IndexEvent::Projected { done, total } => {
                    if ix.phase == Phase::Embedding {
                        remember_rate(ix, settings);
                    }
                    if ix.phase != Phase::Projecting {
                        ix.phase = Phase::Projecting;
                        ix.phase_started = Some(Instant::now());
                    }
                    ix.done = done;
                    ix.total = total;
                }
                IndexEvent::Skipped { path, reason } => ix.skipped.push((path, reason)),
            }
        }
        if !finished {
            // Finished photos join the results and the count while the run goes on: the
            // library is reopened with the run's journal, as a search from the CLI sees it.
            let due = ix.phase == Phase::Embedding && ix.refreshed.is_some_and(|t| t.elapsed() >= LIVE_REFRESH);
            if due && self.opening.is_none() {
                self.indexing.refreshed = Some(Instant::now());
                if let Err(e) = self.reopen_library(settings) {
                    notices.push((e.to_string(), true));
                }
            }
            return;
        }
        let Some(job) = ix.job.take() else { return };
        if ix.phase == Phase::Embedding {
            remember_rate(ix, settings);
        }
        ix.phase = Phase::Idle;
        ix.waiting = None;
        ix.stopping = false;
        match job.wait().and_then(|r| r) {
            Ok(report) => {
                if report.stopped {
                    notices.push(("Indexing stopped; finished photos are kept. Index again to finish.".into(), false));
                }
                ix.report = Some(report);
            }
            Err(e) => notices.push((format!("indexing failed: {e}"), true)),
        }
        if let Err(e) = self.reopen_library(settings) {
            notices.push((e.to_string(), true));
        }
        let queued = std::mem::take(&mut self.indexing.queued);
        if !queued.is_empty()
            && let Err(e) = self.start_indexing(settings, queued, vec![])
        {
            notices.push((e.to_string(), true));
        }
    }
}

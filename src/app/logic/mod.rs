//! The one place where commands become jobs, and where the jobs' events become state:
//! [`State::run`] dispatches a command, [`State::poll`] drains every job once a frame. Each
//! view's state lives with its start and poll code (`search`, `indexing`, `training`,
//! `annotator`, `opening`, `pickers`). Nothing here blocks: every job runs on a worker
//! thread; each frame only drains their channels.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

use super::images::Images;
use super::settings::Settings;
use super::{Startup, desktop};
use crate::Result;
use crate::finder::{Finder, Subject};
use crate::job::{Job, Waker};

mod annotator;
mod concepts;
mod duplicates;
mod indexing;
mod opening;
mod pickers;
mod rate;
mod search;
mod training;

pub use annotator::{AnnotatorState, Source};
pub use concepts::ConceptsState;
pub use duplicates::DuplicatesState;
pub use indexing::{IndexingState, Phase, WatchState};
pub use opening::Engine;
use opening::Opened;
pub use search::{Mark, PAGE, ResultItem, SearchState, date_label};
pub use training::TrainingState;

/// How long typing must pause before a search runs: the query encodes in well under a
/// millisecond, so this only keeps the grid from flickering on every keystroke.
pub const SEARCH_DEBOUNCE: Duration = Duration::from_millis(120);

/// Something the user asked for. Widgets push these; [`State::run`] carries them out.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Load the runtime, the backbone, the text model and the library again (settings changed).
    Reopen,
    /// Run the query in the search box now.
    Search,
    /// Load a page more results (the grid was scrolled to its end).
    MoreResults,
    /// Rank the library by how much each photo looks like this one.
    FindSimilar(PathBuf),
    /// Pick a folder with the desktop's dialog and add it to the library.
    PickFolder,
    /// Pick a photo and find the library's photos that look like it.
    PickPhoto,
    /// Pick the Flickr8k folder.
    PickFlickr8k,
    /// Pick the GloVe file.
    PickGlove,
    /// Pick a text model folder and use it.
    PickModel,
    /// Add a folder to the library and index it.
    AddFolder(PathBuf),
    /// Take a folder out of the library.
    RemoveFolder(PathBuf),
    /// Bring the index up to date with the library's folders.
    Reindex,
    /// Stop indexing (finished work is kept).
    CancelIndexing,
    /// Start training with the training panel's settings.
    StartTraining,
    /// Stop training (the best epoch so far is exported).
    StopTraining,
    /// Fine-tune the text model in use on Flickr8k plus the library's captions.
    StartPersonalise,
    /// Stop personalising.
    StopPersonalise,
    /// Use the text model in this folder (re-projects the library from stored features).
    UseModel(PathBuf),
    /// Go back to the installed text model.
    UseInstalledModel,
    /// Load the Flickr8k captions for the annotator.
    LoadFlickr8k,
    /// Rank the annotator split's captions with the current text model.
    RankCaptions,
    /// Keep this caption for this library photo ("" removes it).
    SaveCaption(PathBuf, String),
    /// Open a photo in the desktop's viewer.
    Open(PathBuf),
    /// Show a photo in its folder.
    Reveal(PathBuf),
    /// Copy a photo's path to the clipboard.
    CopyPath(PathBuf),
    /// Mark a result as a good or bad match, or clear its mark.
    Mark(PathBuf, Option<Mark>),
    /// Undo the last mark change (Ctrl+Z).
    UndoMark,
    /// Take the marks made in the last query marked into this one.
    UseMarks,
    /// Clear every good/bad mark, this query's and the one offered.
    ClearMarks,
    /// Group the library's near-duplicates.
    FindDuplicates,
    /// Save this query's marks as a concept with this name (good: its examples; bad: not it).
    SaveConcept(String),
    /// Remove the concept with this name (its photos stay).
    RemoveConcept(String),
    /// Save the query in the box (filters and marks included) as a collection with this name.
    SaveCollection(String),
    /// Show this collection's photos (its new ones flagged) and count them as seen.
    OpenCollection(String),
    /// Add this photo to this collection for good, whatever its score.
    PinToCollection(String, PathBuf),
    /// Take this photo out of this collection for good.
    ExcludeFromCollection(String, PathBuf),
    /// Remove the collection with this name (its photos stay).
    RemoveCollection(String),
}

/// Everything the app holds apart from its settings.
pub struct State {
    /// Decoded thumbnails and previews.
    pub images: Option<Images>,
    /// The models, once opened.
    pub engine: Option<Engine>,
    /// The library with its models, once opened (none before the first indexing).
    pub finder: Option<Arc<Finder>>,
    /// Why the models could not be opened.
    pub engine_error: Option<String>,
    /// Search view.
    pub search: SearchState,
    /// Library view.
    pub indexing: IndexingState,
    /// The library's folders under watch.
    pub watch: WatchState,
    /// Training panel.
    pub training: TrainingState,
    /// Annotator view.
    pub annotator: AnnotatorState,
    startup: Startup,
    waker: Option<Waker>,
    opening: Option<Job<(), Result<Opened>>>,
    picker: Option<(Command, Instant, Job<(), Option<PathBuf>>)>,
    /// Commands to run once the models are open (from the command line).
    pub after_open: Vec<Command>,
    /// Duplicates view.
    pub duplicates: DuplicatesState,
    /// The library's concepts.
    pub concepts: ConceptsState,
    /// "Show in folder" requests whose file manager has not answered yet.
    reveals: Vec<Job<(), Result<()>>>,
}

type Notices = Vec<(String, bool)>;

impl State {
    /// How many photos the open library holds (0 when none is open).
    pub fn photos(&self) -> usize {
        self.finder.as_ref().map_or(0, |f| f.library.len())
    }

    /// Fresh state and the image loader.
    pub fn new(startup: Startup, waker: Waker) -> Result<State> {
        let images = Images::start(Some(Arc::clone(&waker)))?;
        let mut state = State::without_images();
        state.images = Some(images);
        state.startup = startup;
        state.waker = Some(waker);
        Ok(state)
    }

    /// State with no image loader (when its thread could not start).
    pub fn without_images() -> State {
        State {
            images: None,
            engine: None,
            finder: None,
            engine_error: None,
            search: SearchState { k: PAGE, columns: 1, ..SearchState::default() },
            indexing: IndexingState::default(),
            watch: WatchState::default(),
            training: TrainingState::default(),
            annotator: AnnotatorState::default(),
            startup: Startup::default(),
            waker: None,
            opening: None,
            picker: None,
            after_open: Vec::new(),
            duplicates: DuplicatesState::default(),
            concepts: ConceptsState::default(),
            reveals: Vec::new(),
        }
    }

    /// True while the models or the library are being (re)opened.
    pub fn opening(&self) -> bool {
        self.opening.is_some()
    }

    /// One line for the top bar: what the engine runs on and what the library holds.
    pub fn status_line(&self) -> String {
        // After indexing only the library reopens: the models stay loaded.
        if self.opening.is_some() && self.engine.is_none() {
            return "loading models…".into();
        }
        let photos = self.photos();
        match &self.engine {
            Some(engine) => format!(
                "{} photos · {} on {}",
                photos,
                engine.backbone.model().manifest.name,
                engine.backbone.provider()
            ),
            None => "models not loaded".into(),
        }
    }

    fn waker(&self) -> Option<Waker> {
        self.waker.clone()
    }

    /// The folder trained models are written into.
    fn models_out(&self) -> PathBuf {
        self.startup.models_out()
    }

    fn feature_cache(&self) -> PathBuf {
        self.startup.feature_cache()
    }

    /// Carries out one command.
    pub fn run(&mut self, command: Command, settings: &mut Settings, ctx: &egui::Context) -> Notices {
        let mut notices = Notices::new();
        let mut note = |r: Result<()>| {
            if let Err(e) = r {
                notices.push((e.to_string(), true));
            }
        };
        match command {
            Command::Reopen => note(self.reopen(settings)),
            Command::Search => note(self.start_search(settings)),
            Command::MoreResults => note(self.more_results(settings)),
            Command::FindSimilar(photo) => {
                self.search.subject = Subject::Photo(photo);
                note(self.start_search(settings));
            }
            Command::PickFolder
            | Command::PickPhoto
            | Command::PickFlickr8k
            | Command::PickGlove
            | Command::PickModel => note(self.start_picker(command)),
            // A folder added while a run goes on (say the re-projection after a model change)
            // is added right after it, not refused.
            Command::AddFolder(dir) if self.indexing.running() => self.indexing.queued.push(dir),
            Command::AddFolder(dir) => note(self.start_indexing(settings, vec![dir], vec![])),
            Command::RemoveFolder(dir) => note(self.start_indexing(settings, vec![], vec![dir])),
            Command::Reindex => note(self.start_indexing(settings, vec![], vec![])),
            Command::CancelIndexing => {
                if let Some(job) = &self.indexing.job {
                    job.stop();
                    self.indexing.stopping = true;
                }
            }
            Command::StartTraining => note(self.start_training(settings)),
            Command::StartPersonalise => note(self.start_personalise(settings)),
            Command::StopPersonalise => {
                if let Some(job) = &self.training.personal.job {
                    self.training.personal.stopping = true;
                    job.stop();
                }
            }
            Command::StopTraining => {
                if let Some(job) = &self.training.job {
                    job.stop();
                    self.training.stopping = true;
                }
            }
            Command::UseModel(dir) => {
                settings.model = Some(dir);
                note(self.reopen(settings));
            }
            Command::UseInstalledModel => {
                settings.model = None;
                note(self.reopen(settings));
            }
            Command::LoadFlickr8k => note(self.load_flickr8k(settings)),
            Command::RankCaptions => note(self.rank_captions()),
            Command::SaveCaption(photo, text) => note(self.save_caption(photo, text)),
            Command::Open(path) => note(desktop::open(&path)),
            Command::Reveal(path) => {
                // A file manager may take a moment to answer: never on the UI thread. Its
                // answer comes back as a job's report, so a failure is shown, not lost.
                match Job::spawn("glimpse-reveal", 1, self.waker(), move |_cx| desktop::reveal(&path)) {
                    Ok(job) => self.reveals.push(job),
                    Err(e) => note(Err(e)),
                }
            }
            Command::CopyPath(path) => {
                ctx.copy_text(path.display().to_string());
                notices.push((format!("Copied {}", path.display()), false));
            }
            Command::Mark(path, mark) => {
                // A first mark belongs to the query whose results it was made on.
                if self.search.marks.is_empty() {
                    let shown = self.search.asked.as_ref().map_or(&self.search.subject, |asked| &asked.subject);
                    self.search.marks_for = shown.clone();
                }
                let before = match mark {
                    Some(mark) => self.search.marks.insert(path.clone(), mark),
                    None => self.search.marks.remove(&path),
                };
                self.search.mark_history.push((path, before));
                note(self.start_search(settings));
            }
            Command::UndoMark => {
                if let Some((path, before)) = self.search.mark_history.pop() {
                    match before {
                        Some(mark) => self.search.marks.insert(path, mark),
                        None => self.search.marks.remove(&path),
                    };
                    note(self.start_search(settings));
                }
            }
            Command::UseMarks => {
                self.search.use_parked_marks();
                note(self.start_search(settings));
            }
            Command::ClearMarks => {
                self.search.marks.clear();
                self.search.parked = None;
                self.search.mark_history.clear();
                note(self.start_search(settings));
            }
            Command::FindDuplicates => note(self.start_duplicates()),
            Command::SaveConcept(name) => note(self.save_concept(name)),
            Command::RemoveConcept(name) => note(self.remove_concept(name)),
            Command::SaveCollection(name) => {
                let request = self.search_request(settings, concepts::COLLECTION_START);
                note(self.save_collection(name, request));
            }
            Command::OpenCollection(name) => {
                self.search.subject = Subject::Collection(name.clone());
                note(self.start_search(settings));
                note(self.open_collection(&name));
            }
            Command::PinToCollection(name, photo) => note(self.pin_to_collection(name, photo, true)),
            Command::ExcludeFromCollection(name, photo) => note(self.pin_to_collection(name, photo, false)),
            Command::RemoveCollection(name) => note(self.remove_collection(name)),
        }
        notices
    }

    /// Drains every job's events into state; returns notices for the user. Runs each frame
    /// (and while the window is hidden), never blocks.
    pub fn poll(&mut self, ctx: &egui::Context, settings: &mut Settings, commands: &mut Vec<Command>) -> Notices {
        let mut notices = Notices::new();
        if let Some(images) = &mut self.images {
            images.poll(ctx);
        }
        if let Some(edited) = self.search.edited {
            let left = SEARCH_DEBOUNCE.saturating_sub(edited.elapsed());
            if left.is_zero() {
                commands.push(Command::Search);
            } else {
                ctx.request_repaint_after(left);
            }
        }
        self.poll_opening(commands, &mut notices);
        self.poll_search();
        self.poll_picker(settings, commands, &mut notices);
        self.poll_indexing(settings, &mut notices);
        self.poll_watch(settings, &mut notices);
        self.poll_training(&mut notices);
        self.poll_personalise(&mut notices);
        self.poll_annotator(commands, &mut notices);
        self.poll_duplicates(&mut notices);
        let mut search_again = false;
        self.poll_concepts(&mut notices, &mut search_again);
        if search_again && !self.search.subject.is_empty() {
            commands.push(Command::Search);
        }
        let (answered, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.reveals).into_iter().partition(Job::is_finished);
        self.reveals = waiting;
        for job in answered {
            if let Err(e) = job.wait().and_then(|shown| shown) {
                notices.push((e.to_string(), true));
            }
        }
        notices
    }
}

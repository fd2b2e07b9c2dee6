//! The one place where commands become jobs, and where the jobs' events become state.
//! Nothing here blocks: opening models, indexing, searching, training, ranking and file
//! pickers all run on worker threads; each frame only drains their channels.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

use super::images::Images;
use super::settings::Settings;
use super::{Startup, desktop};
use crate::dataset::{Flickr8k, ImageCaptions, Split};
use crate::engine::manifest::DEFAULT_BACKBONE;
use crate::engine::{Backbone, BackboneModel, ProjectionHead, Runtime};
use crate::finder::{Feedback, FilterText, Finder, SearchRequest, Subject, projection_head_for};
use crate::index::duplicates::{DEFAULT_THRESHOLD, DuplicatePhoto, library_groups};
use crate::index::filter::{DateSource, format_date};
use crate::index::library::Ranked;
use crate::index::lock::waiting_message;
use crate::index::store::bytes_path;
use crate::index::thumbs::ThumbCache;
use crate::index::update::{self, IndexEvent, IndexOptions, IndexReport};
use crate::job::{Job, Waker};
use crate::model::{ExportedModel, JointManifest, default_model_dir};
use crate::text::VocabSettings;
use crate::train::eval::Metrics;
use crate::train::features::default_cache_dir;
use crate::train::recipe::{self, CaptionRanks, Flickr8kTraining, TrainReport};
use crate::train::trainer::{EpochReport, TrainConfig, TrainEvent};
use crate::{Error, Result};

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
    /// Use the text model in this folder (re-projects the library from stored features).
    UseModel(PathBuf),
    /// Go back to the installed text model.
    UseInstalledModel,
    /// Load the Flickr8k captions for the annotator.
    LoadFlickr8k,
    /// Rank the annotator split's captions with the current text model.
    RankCaptions,
    /// Open a photo in the desktop's viewer.
    Open(PathBuf),
    /// Show a photo in its folder.
    Reveal(PathBuf),
    /// Copy a photo's path to the clipboard.
    CopyPath(PathBuf),
    /// Mark a result as a good or bad match, or clear its mark.
    Mark(PathBuf, Option<Mark>),
    /// Clear every good/bad mark.
    ClearMarks,
    /// Group the library's near-duplicates.
    FindDuplicates,
}

/// A relevance-feedback mark on a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// More like this.
    Good,
    /// Less like this.
    Bad,
}

/// The models the app runs, opened once per settings change.
#[derive(Clone)]
pub struct Engine {
    /// The loaded ONNX Runtime.
    pub runtime: &'static Runtime,
    /// The default backbone, for indexing.
    pub backbone: Backbone,
    /// The text model's image head, when it fits the backbone.
    pub head: Option<ProjectionHead>,
    /// The text model's folder and manifest, when there is one.
    pub model: Option<(PathBuf, JointManifest)>,
}

/// What the opening job produces.
struct Opened {
    engine: Engine,
    finder: Option<Finder>,
    notices: Vec<String>,
}

/// One result in the grid.
#[derive(Clone, Debug)]
pub struct ResultItem {
    /// Rank, path, score, date.
    pub ranked: Ranked,
    /// The cached thumbnail, when the index has one.
    pub thumbnail: Option<PathBuf>,
    /// Size in pixels.
    pub width: u32,
    /// Size in pixels.
    pub height: u32,
    /// File size in bytes.
    pub bytes: u64,
}

/// A running search, answering one query.
/// A search's results with the "no strong match" flag and what was searched for.
type SearchJob = Job<(), Result<(Vec<ResultItem>, bool, String)>>;
/// Loading a Flickr8k split for the annotator.
type LoadJob = Job<(), Result<(Split, Vec<ImageCaptions>)>>;

/// Filters as typed in the search view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterForm {
    /// A folder the results must be under.
    pub folder: String,
    /// YYYY-MM-DD, inclusive.
    pub after: String,
    /// YYYY-MM-DD, exclusive.
    pub before: String,
    /// e.g. `jpg,png`.
    pub types: String,
}

impl FilterForm {
    /// The filters as a search request takes them: an empty field sets no condition.
    fn text(&self) -> FilterText {
        fn field(s: &str) -> Option<String> {
            Some(s.trim().to_string()).filter(|t| !t.is_empty())
        }
        FilterText {
            folder: field(&self.folder).map(PathBuf::from),
            after: field(&self.after),
            before: field(&self.before),
            types: field(&self.types),
        }
    }
}

/// The search view's state.
#[derive(Default)]
pub struct SearchState {
    /// What is searched for: the query box's text, or a photo ("find similar", a dropped
    /// file), whose query box then shows nothing.
    pub subject: Subject,
    /// When the query last changed and has not been searched yet.
    pub edited: Option<Instant>,
    /// How many results.
    pub k: usize,
    /// Filters.
    pub filter: FilterForm,
    /// The grid.
    pub results: Vec<ResultItem>,
    /// What the grid answers (for the heading), once a search has run.
    pub answered: Option<String>,
    /// Why the last search failed.
    pub error: Option<String>,
    /// The best score is below the model's "no strong match" threshold.
    pub weak: bool,
    /// The highlighted result.
    pub selected: Option<usize>,
    /// The result shown large.
    pub preview: Option<usize>,
    /// Good/bad marks.
    pub marks: BTreeMap<PathBuf, Mark>,
    job: Option<SearchJob>,
}

impl SearchState {
    /// True while a search runs.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }
}

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
    job: Option<Job<IndexEvent, Result<IndexReport>>>,
    stopping: bool,
}

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

/// The training panel's state.
#[derive(Default)]
pub struct TrainingState {
    /// Mean loss points: (epoch as a fraction, loss).
    pub losses: Vec<[f64; 2]>,
    /// Finished epochs.
    pub epochs: Vec<EpochReport>,
    /// Lines from the run.
    pub notes: Vec<String>,
    /// Feature progress (done, total) while photo features are computed.
    pub features: Option<(usize, usize)>,
    /// The result of the last finished run.
    pub report: Option<TrainReport>,
    /// Where the run writes its model.
    pub out: Option<PathBuf>,
    /// Why the last run failed.
    pub error: Option<String>,
    job: Option<Job<TrainEvent, Result<TrainReport>>>,
}

impl TrainingState {
    /// True while training runs.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }
}

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
    /// Training panel.
    pub training: TrainingState,
    /// Annotator view.
    pub annotator: AnnotatorState,
    startup: Startup,
    waker: Option<Waker>,
    opening: Option<Job<(), Result<Opened>>>,
    picker: Option<(Command, Job<(), Option<PathBuf>>)>,
    /// Commands to run once the models are open (from the command line).
    pub after_open: Vec<Command>,
    /// The library's near-duplicate groups, once found.
    pub duplicates: Option<Vec<Vec<DuplicatePhoto>>>,
    duplicates_job: Option<Job<(), Vec<Vec<DuplicatePhoto>>>>,
}

type Notices = Vec<(String, bool)>;

impl State {
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
            search: SearchState { k: 10, ..SearchState::default() },
            indexing: IndexingState::default(),
            training: TrainingState::default(),
            annotator: AnnotatorState::default(),
            startup: Startup::default(),
            waker: None,
            opening: None,
            picker: None,
            after_open: Vec::new(),
            duplicates: None,
            duplicates_job: None,
        }
    }

    /// One line for the top bar: what the engine runs on and what the library holds.
    pub fn status_line(&self) -> String {
        if self.opening.is_some() {
            return "loading models…".into();
        }
        let photos = self.finder.as_ref().map_or(0, |f| f.library.index.data.photos.len());
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
        self.startup
            .models_out
            .clone()
            .unwrap_or_else(|| crate::locations::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("models"))
    }

    fn feature_cache(&self) -> PathBuf {
        self.startup.feature_cache.clone().unwrap_or_else(default_cache_dir)
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
            Command::FindSimilar(photo) => {
                self.search.subject = Subject::Photo(photo);
                self.search.marks.clear();
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
            Command::StopTraining => {
                if let Some(job) = &self.training.job {
                    job.stop();
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
            Command::Open(path) => note(desktop::open(&path)),
            Command::Reveal(path) => {
                // A file manager may take a moment to answer; never on the UI thread.
                let spawned = std::thread::Builder::new().name("glimpse-reveal".into()).spawn(move || {
                    let _ = desktop::reveal(&path);
                });
                note(spawned.map(|_| ()).map_err(|e| Error::Invalid(format!("cannot show the folder: {e}"))));
            }
            Command::CopyPath(path) => {
                ctx.copy_text(path.display().to_string());
                notices.push((format!("Copied {}", path.display()), false));
            }
            Command::Mark(path, mark) => {
                match mark {
                    Some(mark) => self.search.marks.insert(path, mark),
                    None => self.search.marks.remove(&path),
                };
                note(self.start_search(settings));
            }
            Command::ClearMarks => {
                self.search.marks.clear();
                note(self.start_search(settings));
            }
            Command::FindDuplicates => {
                if let Some(finder) = self.finder.clone() {
                    let job = Job::spawn("glimpse-duplicates", 1, self.waker(), move |_cx| {
                        library_groups(&finder.library, DEFAULT_THRESHOLD)
                    });
                    match job {
                        Ok(job) => self.duplicates_job = Some(job),
                        Err(e) => note(Err(e)),
                    }
                }
            }
        }
        notices
    }

    /// Opens the runtime, the default backbone, the text model and the library in the
    /// background; running searches and indexing keep going with the old ones meanwhile.
    fn reopen(&mut self, settings: &Settings) -> Result<()> {
        let ort_lib = self.startup.ort_lib.clone();
        let options = settings.session_options();
        let index = settings.index.clone();
        let model_dir = settings.model.clone();
        self.opening = Some(Job::spawn("glimpse-open", 1, self.waker(), move |_cx| {
            let runtime = Runtime::load(ort_lib.as_deref())?;
            let backbone = Backbone::open(runtime, BackboneModel::find(DEFAULT_BACKBONE)?, &options)?;
            let mut notices: Vec<String> = backbone.notice().map(str::to_string).into_iter().collect();
            let head = projection_head_for(runtime, &backbone, model_dir.as_deref(), &options)?;
            let model = match model_dir.clone().or_else(default_model_dir) {
                Some(dir) => Some((dir.clone(), JointManifest::load(&dir)?)),
                None => None,
            };
            let finder = if index.exists() {
                match Finder::open_with(&index, Some(&backbone), runtime, &options, model_dir.as_deref()) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        notices.push(format!("the library could not be opened: {e}"));
                        None
                    }
                }
            } else {
                None
            };
            Ok(Opened { engine: Engine { runtime, backbone, head, model }, finder, notices })
        })?);
        Ok(())
    }

    /// Reopens only the library (after indexing), reusing the engine.
    fn reopen_library(&mut self, settings: &Settings) -> Result<()> {
        let Some(engine) = self.engine.clone() else { return self.reopen(settings) };
        let options = settings.session_options();
        let index = settings.index.clone();
        let model_dir = settings.model.clone();
        self.opening = Some(Job::spawn("glimpse-open", 1, self.waker(), move |_cx| {
            let finder = if index.exists() {
                Some(Finder::open_with(&index, Some(&engine.backbone), engine.runtime, &options, model_dir.as_deref())?)
            } else {
                None
            };
            Ok(Opened { engine, finder, notices: Vec::new() })
        })?);
        Ok(())
    }

    /// Starts a search for the query box (or the photo being searched by), replacing any
    /// search still running: only the newest query matters.
    fn start_search(&mut self, settings: &Settings) -> Result<()> {
        self.search.edited = None;
        let Some(finder) = self.finder.clone() else {
            self.search.results.clear();
            return Ok(());
        };
        if self.search.subject.is_empty() {
            self.search.results.clear();
            self.search.answered = None;
            self.search.error = None;
            self.search.job = None;
            return Ok(());
        }
        let mut feedback = Feedback::default();
        for (path, mark) in &self.search.marks {
            match mark {
                Mark::Good => feedback.good.push(path.clone()),
                Mark::Bad => feedback.bad.push(path.clone()),
            }
        }
        let request = SearchRequest {
            subject: self.search.subject.clone(),
            filter: self.search.filter.text(),
            feedback,
            k: self.search.k.max(1),
            sort: settings.sort_order(),
            pool: settings.pool,
        };
        // The request is answered (its query parsed, its folder looked up: both touch files)
        // in the search job, never on the UI thread.
        let job = Job::spawn("glimpse-search", 1, self.waker(), move |_cx| {
            let answer = finder.search(&request)?;
            Ok((describe(&finder, answer.hits), answer.no_strong_match, answer.label))
        })?;
        self.search.job = Some(job);
        Ok(())
    }

    fn start_picker(&mut self, command: Command) -> Result<()> {
        if self.picker.is_some() {
            return Ok(());
        }
        let kind = command.clone();
        let job = Job::spawn("glimpse-picker", 1, self.waker(), move |_cx| match kind {
            Command::PickGlove => rfd::FileDialog::new()
                .set_title("Choose a GloVe file")
                .add_filter("GloVe vectors", &["txt", "gz"])
                .pick_file(),
            Command::PickFlickr8k => rfd::FileDialog::new().set_title("Choose the Flickr8k folder").pick_folder(),
            Command::PickModel => rfd::FileDialog::new().set_title("Choose a text model folder").pick_folder(),
            Command::PickPhoto => rfd::FileDialog::new()
                .set_title("Find photos like…")
                .add_filter("Photos", &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"])
                .pick_file(),
            _ => rfd::FileDialog::new().set_title("Add a folder of photos").pick_folder(),
        })?;
        self.picker = Some((command, job));
        Ok(())
    }

    fn start_indexing(&mut self, settings: &Settings, add: Vec<PathBuf>, remove: Vec<PathBuf>) -> Result<()> {
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
        if add.is_empty() && self.finder.as_ref().is_none_or(|f| f.library.index.data.roots.is_empty()) {
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

    fn start_training(&mut self, settings: &Settings) -> Result<()> {
        if self.training.running() {
            return Err(Error::Invalid("a training run is already going".into()));
        }
        let Some(engine) = &self.engine else {
            return Err(Error::Invalid("the models are still loading; try again in a moment".into()));
        };
        let form = &settings.training;
        if settings.flickr8k.trim().is_empty() || settings.glove.trim().is_empty() {
            return Err(Error::Invalid("choose the Flickr8k folder and a GloVe file first".into()));
        }
        let config = TrainConfig {
            mining: form.mining.parse()?,
            margin: form.margin,
            epochs: form.epochs,
            batch_size: form.batch_size,
            lr: form.lr,
            ..TrainConfig::default()
        };
        config.check()?;
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let out = self.models_out().join(format!("model-{stamp}"));
        let run = Flickr8kTraining {
            flickr8k: PathBuf::from(settings.flickr8k.trim()),
            glove: PathBuf::from(settings.glove.trim()),
            out: out.clone(),
            cache_dir: self.feature_cache(),
            backbone: engine.backbone.clone(),
            vocab: VocabSettings::default(),
            extra_word_dims: form.extra_word_dims,
            joint_dim: 512,
            image_hidden: None,
            text_encoder: form.encoder.parse()?,
            feature_slice: None,
            train: config,
        };
        let job = recipe::start(run, self.waker())?;
        self.training = TrainingState { out: Some(out), job: Some(job), ..TrainingState::default() };
        Ok(())
    }

    fn load_flickr8k(&mut self, settings: &Settings) -> Result<()> {
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

    fn rank_captions(&mut self) -> Result<()> {
        let Some(engine) = self.engine.clone() else {
            return Err(Error::Invalid("the models are still loading".into()));
        };
        let Some((dir, _)) = engine.model.clone() else {
            return Err(Error::Invalid("there is no text model to rank with".into()));
        };
        if self.annotator.loading.is_some() {
            self.annotator.rank_when_loaded = true;
            return Ok(());
        }
        if self.annotator.items.is_empty() {
            return Err(Error::Invalid("load a split first".into()));
        }
        let items = self.annotator.items.clone();
        let cache = self.feature_cache();
        let options = crate::engine::SessionOptions::default();
        self.annotator.ranking = Some((0, 0));
        self.annotator.rank_job = Some(Job::spawn("glimpse-rank", 64, self.waker(), move |cx| {
            let model = ExportedModel::open(engine.runtime, &dir, &options)?;
            recipe::rank_captions(&model, &engine.backbone, &items, &cache, &cx)
        })?);
        Ok(())
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
        self.poll_picker(settings, commands);
        self.poll_indexing(settings, &mut notices);
        self.poll_training(&mut notices);
        self.poll_annotator(commands);
        if self.duplicates_job.as_ref().is_some_and(Job::is_finished)
            && let Some(job) = self.duplicates_job.take()
        {
            match job.wait() {
                Ok(groups) => self.duplicates = Some(groups),
                Err(e) => notices.push((e.to_string(), true)),
            }
        }
        notices
    }

    fn poll_opening(&mut self, commands: &mut Vec<Command>, notices: &mut Notices) {
        let Some(job) = &self.opening else { return };
        if !job.is_finished() {
            return;
        }
        let Some(job) = self.opening.take() else { return };
        match job.wait() {
            Ok(Ok(opened)) => {
                notices.extend(opened.notices.into_iter().map(|n| (n, false)));
                self.engine = Some(opened.engine);
                self.engine_error = None;
                self.finder = opened.finder.map(Arc::new);
                if let Some(finder) = &self.finder {
                    if let Some(problem) = finder.text_problem() {
                        notices.push((problem.to_string(), false));
                    }
                    if self.indexing.excludes.is_empty() {
                        self.indexing.excludes = finder.library.index.data.excludes.join("\n");
                    }
                    // The model changed under the library: re-project it from stored features.
                    let head_changed = match &self.engine.as_ref().and_then(|e| e.head.as_ref()) {
                        Some(head) => finder.library.index.data.head_id != head.id(),
                        None => false,
                    };
                    if head_changed && !self.indexing.running() && !finder.library.index.data.photos.is_empty() {
                        commands.push(Command::Reindex);
                    }
                }
                if !self.search.subject.is_empty() {
                    commands.push(Command::Search);
                }
                commands.append(&mut self.after_open);
            }
            Ok(Err(e)) => {
                let text = e.to_string();
                self.engine_error = Some(text.clone());
                notices.push((text, true));
            }
            Err(e) => notices.push((e.to_string(), true)),
        }
    }

    fn poll_search(&mut self) {
        let Some(job) = &self.search.job else { return };
        if !job.is_finished() {
            return;
        }
        let Some(job) = self.search.job.take() else { return };
        match job.wait().and_then(|r| r) {
            Ok((results, weak, label)) => {
                self.search.results = results;
                self.search.weak = weak;
                self.search.error = None;
                self.search.answered = Some(label);
                if self.search.selected.is_some_and(|s| s >= self.search.results.len()) {
                    self.search.selected = None;
                }
                self.search.preview = None;
            }
            Err(e) => self.search.error = Some(e.to_string()),
        }
    }

    fn poll_picker(&mut self, settings: &mut Settings, commands: &mut Vec<Command>) {
        let Some((_, job)) = &self.picker else { return };
        if !job.is_finished() {
            return;
        }
        let Some((kind, job)) = self.picker.take() else { return };
        let Ok(Some(path)) = job.wait() else { return };
        match kind {
            Command::PickFlickr8k => settings.flickr8k = path.display().to_string(),
            Command::PickGlove => settings.glove = path.display().to_string(),
            Command::PickModel => commands.push(Command::UseModel(path)),
            Command::PickPhoto => commands.push(Command::FindSimilar(path)),
            _ => commands.push(Command::AddFolder(path)),
        }
    }

    fn poll_indexing(&mut self, settings: &Settings, notices: &mut Notices) {
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
                }
                IndexEvent::Progress { done, total } => {
                    ix.done = done;
                    ix.total = total;
                }
                IndexEvent::Projected { done, total } => {
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
            return;
        }
        let Some(job) = ix.job.take() else { return };
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

    fn poll_training(&mut self, notices: &mut Notices) {
        let Some(job) = &self.training.job else { return };
        let finished = job.is_finished();
        let events: Vec<TrainEvent> = job.events().try_iter().collect();
        let tr = &mut self.training;
        for event in events {
            match event {
                TrainEvent::Note(line) => tr.notes.push(line),
                TrainEvent::Features { done, total } => tr.features = Some((done, total)),
                TrainEvent::Step { epoch, step, steps, loss } => {
                    tr.features = None;
                    let x = (epoch - 1) as f64 + step as f64 / steps.max(1) as f64;
                    tr.losses.push([x, f64::from(loss)]);
                }
                TrainEvent::Epoch(e) => tr.epochs.push(e),
            }
        }
        if !finished {
            return;
        }
        let Some(job) = tr.job.take() else { return };
        match job.wait().and_then(|r| r) {
            Ok(report) => {
                notices.push((format!("Training finished: dev R@1 {:.1}", report.dev.t2i.r1), false));
                tr.report = Some(report);
            }
            Err(e) => {
                tr.error = Some(e.to_string());
                notices.push((format!("training failed: {e}"), true));
            }
        }
    }

    fn poll_annotator(&mut self, commands: &mut Vec<Command>) {
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

    /// True while near-duplicates are being grouped.
    pub fn duplicates_running(&self) -> bool {
        self.duplicates_job.is_some()
    }

    /// The current model's dev metrics, from its manifest.
    pub fn current_metrics(&self) -> Option<(PathBuf, Metrics)> {
        let (dir, manifest) = self.engine.as_ref()?.model.as_ref()?;
        Some((dir.clone(), manifest.dev_metrics()?))
    }
}

/// Results with what the grid shows beside each: thumbnail, size, bytes.
fn describe(finder: &Finder, ranked: Vec<Ranked>) -> Vec<ResultItem> {
    let data = &finder.library.index.data;
    let thumbs = ThumbCache::for_index(&finder.library.index.path);
    ranked
        .into_iter()
        .map(|r| {
            let entry = data.photos.get(r.row);
            // Missing or broken thumbnails are remade from the photo when drawn.
            let thumbnail = entry.map(|e| thumbs.path(&e.hash));
            ResultItem {
                thumbnail,
                width: entry.map_or(0, |e| e.width),
                height: entry.map_or(0, |e| e.height),
                bytes: entry.map_or(0, |e| e.size),
                ranked: r,
            }
        })
        .collect()
}

/// A date as YYYY-MM-DD with where it came from.
pub fn date_label(seconds: i64, source: DateSource) -> String {
    let from = match source {
        DateSource::Exif => "taken (EXIF)",
        DateSource::Mtime => "file modified",
    };
    format!("{}, {from}", format_date(seconds))
}

/// The library's folders, as paths.
pub fn library_roots(finder: &Finder) -> Vec<PathBuf> {
    finder.library.index.data.roots.iter().map(|r| bytes_path(r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_calendar_days_with_their_source() {
        assert_eq!(date_label(0, DateSource::Mtime), "1970-01-01, file modified");
        // 2024-02-29 12:00 UTC, a leap day.
        assert_eq!(date_label(1_709_208_000, DateSource::Exif), "2024-02-29, taken (EXIF)");
    }

    #[test]
    fn filter_form_gives_the_typed_fields_and_leaves_out_blank_ones() {
        let form = FilterForm {
            after: " 2020-01-02 ".into(),
            types: "jpg, PNG".into(),
            folder: "  ".into(),
            ..FilterForm::default()
        };
        let text = form.text();
        assert_eq!(text.after.as_deref(), Some("2020-01-02"));
        assert_eq!(text.types.as_deref(), Some("jpg, PNG"));
        assert_eq!((text.folder, text.before), (None, None));
    }
}

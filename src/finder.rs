//! A library opened together with the models that answer its queries. `glimpse search`,
//! `glimpse similar`, `glimpse index` and the app's search and library views all go through
//! here, so a query means the same thing everywhere.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::{Backbone, BackboneModel, Runtime, SessionOptions};
use crate::index::collections::{Collection, SavedFilter};
use crate::index::compact::Codec;
use crate::index::concept::{Recipe, WordScores, WordTable, fit};
use crate::index::concepts::{Concept, Concepts, Example, FittedFor, OpenedConcepts};
use crate::index::feedback::Rocchio;
use crate::index::filter::{Filter, SortOrder};
use crate::index::hash::hex;
use crate::index::library::{Library, Ranked, SearchOptions, Space, embed_photo, photo_joint};
use crate::index::project::Projection;
use crate::index::query::{self, QueryPart, Term};
use crate::model::personal::CaptionedLibrary;
use crate::model::{ExportedModel, JointManifest, default_model_dir};
use crate::text::Reading;
use crate::{Error, Result};

/// What to look for.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// Parsed query algebra: text and photo terms with weights (`index::query::parse`).
    Terms(Vec<QueryPart>),
    /// Photos that look like this one, by backbone features ("find similar").
    LooksLike(PathBuf),
}

/// Relevance feedback: photos of the library the user marked as good or bad results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Feedback {
    /// Good results: the query moves towards them.
    pub good: Vec<PathBuf>,
    /// Bad results: the query moves away from them.
    pub bad: Vec<PathBuf>,
}

impl Feedback {
    /// True when nothing is marked.
    pub fn is_empty(&self) -> bool {
        self.good.is_empty() && self.bad.is_empty()
    }
}

/// What a search is about: what the query box or `glimpse search` says, or a photo
/// ("find similar", a dropped file, `glimpse similar`).
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// Query algebra as typed: text and photo terms with weights (`index::query::parse`).
    Text(String),
    /// Photos that look like this one, by backbone features.
    Photo(PathBuf),
    /// The photos of the collection with this name, best match of its query first.
    Collection(String),
}

impl Default for Subject {
    fn default() -> Self {
        Subject::Text(String::new())
    }
}

impl Subject {
    /// True for a query with nothing typed.
    pub fn is_empty(&self) -> bool {
        matches!(self, Subject::Text(t) if t.trim().is_empty())
    }
}

/// Filters as the user gave them; each absent one sets no condition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterText {
    /// Only photos under this folder.
    pub folder: Option<PathBuf>,
    /// Only photos taken on or after this day (YYYY-MM-DD).
    pub after: Option<String>,
    /// Only photos taken before this day (YYYY-MM-DD).
    pub before: Option<String>,
    /// Only these file types, e.g. `jpg,png`.
    pub types: Option<String>,
}

/// One search, as the CLI and the window both ask it.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchRequest {
    /// What to look for.
    pub subject: Subject,
    /// Which photos may be returned.
    pub filter: FilterText,
    /// Results marked good or bad.
    pub feedback: Feedback,
    /// How many results.
    pub k: usize,
    /// Best match first, or newest/oldest first among the `pool` best matches.
    pub sort: SortOrder,
    /// How many best matches a date order chooses from.
    pub pool: usize,
}

impl Default for SearchRequest {
    fn default() -> Self {
        let options = SearchOptions::default();
        SearchRequest {
            subject: Subject::default(),
            filter: FilterText::default(),
            feedback: Feedback::default(),
            k: options.k,
            sort: options.sort,
            pool: options.pool,
        }
    }
}

/// The answer to a [`SearchRequest`].
#[derive(Clone, Debug)]
pub struct SearchAnswer {
    /// The ranked photos, best first (or in date order).
    pub hits: Vec<Ranked>,
    /// What the cue was decided on, when the model has one and the query has text.
    pub cue: Option<CueReading>,
    /// What was searched for, in words (`“a dog”`, `photos like x.jpg`, `your library`).
    pub label: String,
    /// Nothing was asked for: the hits are the library itself, by date.
    pub browsing: bool,
    /// Photos of the library this search could not rank: they have no vector of the text
    /// model yet (an indexing run stopped before projecting them; the next one does).
    pub unranked: usize,
    /// The typed words that have no vector in the text model (not even GloVe has them, e.g.
    /// "xyzzy"), in order: they were left out of the query.
    pub ignored_words: Vec<String>,
    /// The typed words the text model has no vector for, read as words it has (a typo as the
    /// word meant, see [`crate::text::spelling`]), in order, each once.
    pub read_words: Vec<Reading>,
    /// The concepts the query named, in order.
    pub concepts: Vec<UsedConcept>,
}

/// The typed words of a query the text model has no vector for: those left out, and those
/// read as others.
#[derive(Clone, Debug, Default, PartialEq)]
struct QueryWords {
    ignored: Vec<String>,
    read: Vec<Reading>,
}

/// A concept a query named, as the CLI's note and the window's chip say it.
#[derive(Clone, Debug, PartialEq)]
pub struct UsedConcept {
    /// Its name as saved.
    pub name: String,
    /// Its example photos.
    pub examples: usize,
    /// Its name is also made of words the text model knows: the concept stands in for them
    /// (quotes make them words again), and the person is told so.
    pub shadows_words: bool,
    /// The vocabulary's words that describe its examples best.
    pub words: Vec<String>,
}

/// A used concept in words, as the CLI's note and the window's chip say it: "“Rex” is your
/// concept (5 photos, like dog, grass)", and when its name is also words the model knows,
/// how to search for the words instead.
pub fn concept_note(used: &UsedConcept) -> String {
    let photos = if used.examples == 1 { "1 photo".to_string() } else { format!("{} photos", used.examples) };
    let like = if used.words.is_empty() { String::new() } else { format!(", like {}", used.words.join(", ")) };
    let mut note = format!("\u{201c}{}\u{201d} is your concept ({photos}{like})", used.name);
    if used.shadows_words {
        note.push_str(&format!("; for the word instead, write it in quotes: \"{}\"", used.name));
    }
    note
}

/// A concept after [`Finder::teach`].
#[derive(Clone, Debug, PartialEq)]
pub struct Taught {
    /// Its name as saved.
    pub name: String,
    /// Its example photos, all told.
    pub examples: usize,
    /// Its photos marked bad, all told.
    pub negatives: usize,
    /// The vocabulary's words that describe its examples best.
    pub words: Vec<String>,
}

/// A collection as listed: its name and query, its photos in the library now, how many
/// joined since the person last looked, and why it could not be brought up to date.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CollectionSummary {
    /// Its name.
    pub name: String,
    /// Its query as typed.
    pub query: String,
    /// Its photos that are in the library now.
    pub photos: usize,
    /// Of which joined since it was last looked at.
    pub new: usize,
    /// Why its query could not be searched now (its photos are kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A photo of a collection as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectionPhoto {
    /// Where it is now (found by content hash when it moved).
    pub path: PathBuf,
    /// It joined since the collection was last looked at.
    pub new: bool,
    /// It was pinned in by hand.
    pub pinned: bool,
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Library photos that stand for the whole library when a concept is fitted (evenly spread
/// over it): the words' statistics and the library's mean are taken over them.
const CONCEPT_SAMPLE: usize = 1000;

/// Library photos a personalised model's held-out captions are ranked among (the captioned
/// ones and a sample of the rest), and that stand for the library's photos in its training.
pub const PERSONAL_SAMPLE: usize = 3000;

/// Words as a person reads them in a note, each quoted ("“xyzzy”, “plugh”"), with how to
/// refer to them ("this word" or "these words").
pub fn quoted_words(words: &[String]) -> (String, &'static str) {
    let quoted: Vec<String> = words.iter().map(|w| format!("\u{201c}{w}\u{201d}")).collect();
    (quoted.join(", "), if words.len() == 1 { "this word" } else { "these words" })
}

/// How the CLI's note and the window's line say what typed words were read as:
/// `read “moutain” as “mountain”, “hsirt” as “shirt”`.
pub fn reading_note(read: &[Reading]) -> String {
    let each: Vec<String> =
        read.iter().map(|r| format!("\u{201c}{}\u{201d} as \u{201c}{}\u{201d}", r.typed, r.read_as)).collect();
    format!("read {}", each.join(", "))
}

impl SearchAnswer {
    /// The best match is weak enough that the model's cue says "no strong match".
    pub fn no_strong_match(&self) -> bool {
        self.cue.is_some_and(|c| c.fires())
    }
}

/// The results the "no strong match" cue looks at: the first this many of the typed query's
/// ranking, as `glimpse bench cue` measures its threshold, whatever the number of results,
/// their order or the marks.
pub const CUE_RESULTS: usize = 10;

/// How the "no strong match" cue read a ranking.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CueReading {
    /// The best cosine between the typed query (without the marks) and the first
    /// [`CUE_RESULTS`] photos of its ranking that are not marked bad.
    pub best: f32,
    /// The model's threshold: the cue fires below it.
    pub threshold: f32,
}

impl CueReading {
    /// True when the cue says "no strong match".
    pub fn fires(&self) -> bool {
        self.best < self.threshold
    }
}

/// The words the text model was trained on (its own vectors, not a GloVe word's map), each
/// embedded alone: what a concept's words are chosen from ([`crate::index::concept::WordScores::best_words`]).
pub fn word_table(model: &ExportedModel) -> Result<WordTable> {
    let vocab = &model.vocab;
    let trained: Vec<String> = (0..vocab.words().len() as u32)
        .map(|i| i + crate::text::vocab::FIRST_WORD_ID)
        .filter(|&id| vocab.count(id) > 0)
        .filter_map(|id| vocab.word(id).map(str::to_string))
        .collect();
    WordTable::embed(trained, model.dim(), |texts| Ok(model.embed_texts(texts)?.into_iter().collect()))
}

/// The text model, as search uses it, and its compact projection.
struct TextSide {
    model: Arc<ExportedModel>,
    codec: Codec,
}

/// The compact projection of `model` (fitted, or every dimension at one byte).
fn model_codec(model: &ExportedModel) -> Result<Codec> {
    Codec::for_model(&model.dir, model.manifest.compact_file(), model.dim())
}

/// The models of one process, each ONNX graph opened at most once and only when first
/// needed: backbones by name; the text model's text encoder and image head, each on first
/// use. The CLI, the window and every [`Finder`] share one.
pub struct Models {
    runtime: &'static Runtime,
    options: SessionOptions,
    model_dir: Option<PathBuf>,
    backbones: Mutex<Vec<Backbone>>,
    text: Mutex<Option<Arc<ExportedModel>>>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Models").field("model_dir", &self.model_dir).finish_non_exhaustive()
    }
}

impl Models {
    /// Nothing opened yet; the text model is the one in `model_dir`, else the installed one.
    pub fn new(runtime: &'static Runtime, options: &SessionOptions, model_dir: Option<&Path>) -> Arc<Models> {
        Arc::new(Models {
            runtime,
            options: options.clone(),
            model_dir: model_dir.map(Path::to_path_buf),
            backbones: Mutex::new(Vec::new()),
            text: Mutex::new(None),
        })
    }

    /// The loaded ONNX Runtime.
    pub fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    /// The graphs opened so far, in words ("backbone NAME", "text encoder", "image head").
    pub fn opened(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .backbones
            .lock()
            .map(|b| b.iter().map(|b| format!("backbone {}", b.model().manifest.name)).collect())
            .unwrap_or_default();
        if let Ok(Some(text)) = self.text.lock().as_deref() {
            if text.text_opened() {
                names.push("text encoder".into());
            }
            if text.head_opened() {
                names.push("image head".into());
            }
        }
        names
    }

    /// The text model's folder: the one asked for, else the installed one.
    pub fn text_dir(&self) -> Option<PathBuf> {
        self.model_dir.clone().or_else(default_model_dir)
    }

    /// The backbone `model`, opened on the first call for its name.
    pub fn backbone(&self, model: BackboneModel) -> Result<Backbone> {
        let mut opened = self.backbones.lock().map_err(|_| Error::JobCrashed("models".into()))?;
        if let Some(b) = opened.iter().find(|b| b.model().manifest.name == model.manifest.name) {
            return Ok(b.clone());
        }
        let backbone = Backbone::open(self.runtime, model, &self.options)?;
        opened.push(backbone.clone());
        Ok(backbone)
    }

    /// The text model, opened on the first call; `None` when none is installed or asked for.
    pub fn text_model(&self) -> Result<Option<Arc<ExportedModel>>> {
        let Some(dir) = self.text_dir() else { return Ok(None) };
        let mut text = self.text.lock().map_err(|_| Error::JobCrashed("models".into()))?;
        if let Some(model) = text.as_ref() {
            return Ok(Some(model.clone()));
        }
        let model = Arc::new(ExportedModel::open(self.runtime, &dir, &self.options)?);
        *text = Some(model.clone());
        Ok(Some(model))
    }

    /// The image head and compact projection of the text model when it was trained on
    /// `backbone`'s features: what `glimpse index` projects the library with. A model asked
    /// for explicitly that does not fit is an error; the installed one is then simply not used.
    pub fn projection_for(&self, backbone: &BackboneModel) -> Result<Option<Projection>> {
        let Some(dir) = self.text_dir() else { return Ok(None) };
        let manifest = JointManifest::load(&dir)?;
        if manifest.backbone.sha256 != backbone.manifest.sha256 {
            if self.model_dir.is_some() {
                return Err(Error::Invalid(format!(
                    "the text model in {} was trained on the backbone '{}', not '{}'",
                    dir.display(),
                    manifest.backbone.name,
                    backbone.manifest.name
                )));
            }
            return Ok(None);
        }
        let Some(model) = self.text_model()? else { return Ok(None) };
        Ok(Some(Projection { head: model.head()?.clone(), codec: model_codec(&model)? }))
    }
}

/// A library with its backbone and, when one fits, its text model.
pub struct Finder {
    /// The opened library.
    pub library: Library,
    models: Arc<Models>,
    backbone: std::sync::OnceLock<Backbone>,
    text: Option<TextSide>,
    /// Why text search is unavailable, when it is.
    text_problem: Option<String>,
    /// The concepts kept with the library (read when it was opened, changed by
    /// [`Finder::teach`]).
    concepts: std::sync::RwLock<Concepts>,
    /// A damaged concepts file set aside when the library was opened, in words.
    concepts_notice: Option<String>,
    /// Concept vectors fitted in this process for the current model but not yet saved.
    fitted: Mutex<Vec<(String, Vec<f32>)>>,
}

/// The image head and compact projection of the text model in `model_dir` (or the
/// installed one) when it was trained on `backbone`'s features (see [`Models::projection_for`]).
pub fn projection_head_for(
    runtime: &'static Runtime,
    backbone: &Backbone,
    model_dir: Option<&Path>,
    options: &SessionOptions,
) -> Result<Option<Projection>> {
    Models::new(runtime, options, model_dir).projection_for(backbone.model())
}

impl Finder {
    /// Opens the index at `index` and the text model in `model_dir` (default: the installed
    /// one); the backbone the library was indexed with opens when a photo needs it. A
    /// missing or unfitting text model is not an error here: search by photo still works,
    /// and a text query says what is wrong.
    pub fn open(
        index: &Path,
        runtime: &'static Runtime,
        options: &SessionOptions,
        model_dir: Option<&Path>,
    ) -> Result<Finder> {
        Finder::for_library(Library::open(index)?, Models::new(runtime, options, model_dir))
    }

    /// [`Finder::open`] with the models of `models` (opened at most once across finders).
    pub fn open_with(index: &Path, models: Arc<Models>) -> Result<Finder> {
        Finder::for_library(Library::open(index)?, models)
    }

    /// A finder for a library opened already.
    pub fn for_library(library: Library, models: Arc<Models>) -> Result<Finder> {
        let indexed_with = BackboneModel::find(&library.index.data.backbone)?;
        // A concepts file that cannot be read does not keep the library from opening.
        let opened = Concepts::open(&library.index.path).unwrap_or_else(|e| OpenedConcepts {
            concepts: Concepts { path: Concepts::path_for(&library.index.path), ..Concepts::default() },
            notice: Some(format!("the library's concepts cannot be read now ({e}); search goes on without them")),
        });
        let mut finder = Finder {
            library,
            models,
            backbone: std::sync::OnceLock::new(),
            text: None,
            text_problem: None,
            concepts: std::sync::RwLock::new(opened.concepts),
            concepts_notice: opened.notice,
            fitted: Mutex::new(Vec::new()),
        };
        match finder.models.text_model()? {
            None => {
                finder.text_problem = Some(
                    "text search needs a text model and none is installed: train one with `glimpse train` and copy it to models/text, or search by photo".into(),
                )
            }
            Some(model) if model.manifest.backbone.sha256 != indexed_with.manifest.sha256 => {
                finder.text_problem = Some(format!(
                    "the text model in {} takes features of the backbone '{}', but this library was indexed with '{}': index it again (`glimpse index`, or the Library view) to embed its photos with '{}'",
                    model.dir.display(),
                    model.manifest.backbone.name,
                    finder.library.index.data.backbone,
                    model.manifest.backbone.name
                ));
            }
            Some(model) => {
                let codec = model_codec(&model)?;
                // An index converted from format 2 holds this head's f32 vectors: encode them.
                if finder.library.index.data.head_id == model.manifest.image_head.sha256 {
                    finder.library.encode_converted(&codec);
                }
                finder.text = Some(TextSide { model, codec });
            }
        }
        Ok(finder)
    }

    /// What the backbone had to say when it opened (e.g. CUDA unusable), if it was needed.
    pub fn backbone_notice(&self) -> Option<&str> {
        self.backbone.get().and_then(Backbone::notice)
    }

    /// The models this finder opens what it needs from.
    pub fn models(&self) -> &Arc<Models> {
        &self.models
    }

    /// The backbone the library was indexed with, opened on the first call.
    pub fn backbone(&self) -> Result<&Backbone> {
        if let Some(backbone) = self.backbone.get() {
            return Ok(backbone);
        }
        let backbone = self.models.backbone(BackboneModel::find(&self.library.index.data.backbone)?)?;
        Ok(self.backbone.get_or_init(|| backbone))
    }

    /// The folder of the text model the library is searched with, when there is one.
    pub fn text_model_dir(&self) -> Option<&Path> {
        self.text.as_ref().map(|t| t.model.dir.as_path())
    }

    /// Why text queries cannot be answered, or `None` when they can.
    pub fn text_problem(&self) -> Option<&str> {
        self.text_problem.as_deref()
    }

    /// The library's compact joint vectors with the text model's codec, when they were made
    /// by its head and codec.
    fn joint_space(&self, offsets: bool) -> Option<Space<'_>> {
        let (text, matrix, data) = (self.text.as_ref()?, self.library.joint.as_ref()?, &self.library.index.data);
        (data.head_id == text.model.manifest.image_head.sha256 && data.joint_codec == text.codec.id())
            .then_some(Space::Joint { matrix, codec: &text.codec, offsets })
    }

    /// A photo's joint vector: the library's backbone, then the text model's image head.
    fn photo_joint(&self, text: &TextSide, photo: &Path) -> Result<Vec<f32>> {
        photo_joint(self.backbone()?, text.model.head()?, photo)
    }

    /// The space a query ranks in and its vector there, before feedback. "Find similar"
    /// compares joint vectors (photo to photo, no offsets) when the library has them, else
    /// backbone features. A text query opens no image model.
    pub fn query_vector(&self, query: &Query) -> Result<(Space<'_>, Vec<f32>)> {
        match query {
            Query::LooksLike(photo) => match (self.joint_space(false), &self.text) {
                (Some(space), Some(text)) => Ok((space, self.photo_joint(text, photo)?)),
                _ => Ok((Space::Features(self.library.features()?), embed_photo(self.backbone()?, photo)?)),
            },
            Query::Terms(parts) => {
                let wants_text = parts.iter().any(|p| matches!(p.term, Term::Text(_) | Term::Concept(_)));
                // The hubness offsets are fitted to captions' cosines: a query of concepts
                // (and photos) without text ranks by cosine alone, which `glimpse bench
                // concepts` measured better (k = 10: P@10 0.46 by cosine, 0.44 less the offsets).
                let concepts_only = parts.iter().any(|p| matches!(p.term, Term::Concept(_)))
                    && !parts.iter().any(|p| matches!(p.term, Term::Text(_)));
                match (&self.text, self.joint_space(!concepts_only)) {
                    (Some(text), Some(space)) => {
                        let encode = |t: &str| -> Result<Vec<f32>> { Ok(text.model.embed_texts(&[t])?.row(0).to_vec()) };
                        let photo = |p: &Path| self.photo_joint(text, p);
                        let concept = |name: &str| self.concept_vector(name);
                        let q = self.library.joint_terms_vector(parts, text.model.dim(), &encode, &photo, &concept)?;
                        Ok((space, q))
                    }
                    (Some(_), None) if wants_text => Err(Error::Invalid(
                        "the library has no vectors for the text model yet: index it again (it projects the stored features; no photo is decoded again)".into(),
                    )),
                    (None, _) if wants_text => Err(Error::Invalid(
                        self.text_problem.clone().unwrap_or_else(|| "text search is unavailable".into()),
                    )),
                    _ => Ok((Space::Features(self.library.features()?), self.library.query_vector(parts, self.backbone()?)?)),
                }
            }
        }
    }

    /// The "no strong match" cue for a query whose vector without feedback is `plain`: the
    /// best cosine (score with the photo's hubness offset added back) among the first
    /// [`CUE_RESULTS`] photos of the query's own ranking (without feedback, in best-match
    /// order) that `feedback` does not mark bad, against the threshold in the model's manifest
    /// (`glimpse bench cue --write`). So the cue does not depend on how many results are
    /// shown, their order or a good mark, and a bad mark changes it only by taking that photo
    /// out. `ranked` is the answer's own ranking when it is that ranking (no feedback, best
    /// match first, at least [`CUE_RESULTS`] asked): then no second top-k runs. `None` for a
    /// query without text or with a concept, or a model without a cue.
    fn cue(
        &self,
        query: &Query,
        (space, plain): (Space<'_>, &[f32]),
        options: &SearchOptions,
        feedback: &Feedback,
        ranked: Option<&[Ranked]>,
    ) -> Option<CueReading> {
        let Query::Terms(parts) = query else { return None };
        // The threshold is measured on captions: a query with a concept is not one.
        if !matches!(space, Space::Joint { .. })
            || !parts.iter().any(|p| matches!(p.term, Term::Text(_)))
            || parts.iter().any(|p| matches!(p.term, Term::Concept(_)))
        {
            return None;
        }
        let text = self.text.as_ref()?;
        let cue = text.model.manifest.no_match.as_ref().filter(|c| c.statistic == "top1")?;
        let reusable = feedback.is_empty() && options.sort == SortOrder::Relevance && options.k >= CUE_RESULTS;
        let own;
        let ranked = match ranked.filter(|_| reusable) {
            Some(ranked) => ranked,
            None => {
                let k = CUE_RESULTS + feedback.bad.len();
                let wanted = SearchOptions { k, filter: options.filter.clone(), sort: SortOrder::Relevance, pool: 0 };
                own = self.library.search_in(space, plain, &wanted);
                &own
            }
        };
        let best = ranked
            .iter()
            .filter(|r| !feedback.bad.contains(&r.path))
            .take(CUE_RESULTS)
            .filter_map(|r| self.library.text_cosine(r))
            .reduce(f32::max);
        best.map(|best| CueReading { best, threshold: cue.threshold })
    }

    /// Answers a search request: parses the subject and the filters, ranks (with the
    /// feedback), and says whether the best match is weak. The CLI and the window both ask
    /// here, so the same request gives the same answer.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchAnswer> {
        self.search_until(request, &AtomicBool::new(false))
    }

    /// [`Finder::search`], given up with [`Error::Stopped`] between its steps once `stop` is
    /// set (the window sets it when a newer search replaces this one).
    pub fn search_until(&self, request: &SearchRequest, stop: &AtomicBool) -> Result<SearchAnswer> {
        let f = &request.filter;
        let filter =
            Filter::from_text(f.folder.as_deref(), f.after.as_deref(), f.before.as_deref(), f.types.as_deref())?;
        let options = SearchOptions { k: request.k.max(1), filter, sort: request.sort, pool: request.pool };
        // Nothing typed: browse the library, newest first, as a photo app opens.
        if request.subject.is_empty() {
            let hits = self.library.browse(&options);
            return Ok(SearchAnswer {
                hits,
                cue: None,
                label: "your library".into(),
                browsing: true,
                ignored_words: Vec::new(),
                read_words: Vec::new(),
                unranked: 0,
                concepts: Vec::new(),
            });
        }
        // "Find similar" does not answer with the photo it was asked about.
        let (query, label, source, QueryWords { ignored: ignored_words, read: read_words }) = match &request.subject {
            Subject::Collection(name) => return self.collection_answer(name, &options, stop),
            Subject::Text(text) => {
                let text = text.trim();
                let names = self.concepts.read().map(|c| c.names_longest_first()).unwrap_or_default();
                let (parts, words) = self.known_terms(text, query::parse_with_concepts(text, &names)?)?;
                (Query::Terms(parts), format!("\u{201c}{text}\u{201d}"), None, words)
            }
            Subject::Photo(photo) => (
                Query::LooksLike(photo.clone()),
                format!("photos like {}", photo.display()),
                Some(std::fs::canonicalize(photo).unwrap_or_else(|_| photo.clone())),
                QueryWords::default(),
            ),
        };
        let concepts = self.used_concepts(&query);
        // A library with no photo yet (a first run stopped early) has nothing to rank.
        if self.library.index.data.photos.is_empty() {
            return Ok(SearchAnswer {
                hits: Vec::new(),
                cue: None,
                label,
                browsing: false,
                unranked: 0,
                ignored_words,
                read_words,
                concepts,
            });
        }
        // One pass: the query's vector is made once (its text encoded, its photos decoded);
        // the ranking, the feedback and the cue all start from it.
        let (space, plain) = self.query_vector(&query)?;
        let stopped = || {
            if stop.load(Ordering::Relaxed) {
                Err(Error::Stopped("searching: a newer search replaced it".into()))
            } else {
                Ok(())
            }
        };
        stopped()?;
        let q = if request.feedback.is_empty() {
            plain.clone()
        } else {
            let good = self.library.vectors_of(space, &request.feedback.good)?;
            let bad = self.library.vectors_of(space, &request.feedback.bad)?;
            Rocchio::default().apply(&plain, &good, &bad)
        };
        let unranked = if self.joint_space(false).is_some() { self.library.unprojected() } else { 0 };
        let captioned = self.caption_matches(request);
        let hits = match &source {
            None if !captioned.is_empty() && options.sort == SortOrder::Relevance => {
                // Photos whose caption has the query's words come first, most words first.
                let all = SearchOptions { k: self.library.len().max(1), ..options.clone() };
                let mut ranked = self.library.search_in(space, &q, &all);
                let words = |r: &Ranked| captioned.iter().find(|(row, _)| *row == r.row).map_or(0, |(_, n)| *n);
                ranked.sort_by_key(|r| std::cmp::Reverse(words(r)));
                ranked.truncate(options.k);
                ranked.iter_mut().enumerate().for_each(|(i, r)| r.rank = i + 1);
                ranked
            }
            None => self.library.search_in(space, &q, &options),
            Some(source) => {
                let wider = SearchOptions { k: options.k + 1, ..options.clone() };
                let mut hits: Vec<Ranked> = self
                    .library
                    .search_in(space, &q, &wider)
                    .into_iter()
                    .filter(|r| r.path != *source)
                    .take(options.k)
                    .collect();
                hits.iter_mut().enumerate().for_each(|(i, r)| r.rank = i + 1);
                hits
            }
        };
        stopped()?;
        let own = (source.is_none() && captioned.is_empty()).then_some(hits.as_slice());
        let cue = self.cue(&query, (space, &plain), &options, &request.feedback, own);
        Ok(SearchAnswer { hits, cue, label, browsing: false, unranked, ignored_words, read_words, concepts })
    }

    /// The concepts `query` names, each once, as a note or a chip shows them.
    fn used_concepts(&self, query: &Query) -> Vec<UsedConcept> {
        let Query::Terms(parts) = query else { return Vec::new() };
        let Ok(concepts) = self.concepts.read() else { return Vec::new() };
        let mut used: Vec<UsedConcept> = Vec::new();
        for part in parts {
            let Term::Concept(name) = &part.term else { continue };
            let Some(concept) = concepts.find(name) else { continue };
            if used.iter().any(|u| u.name == concept.name) {
                continue;
            }
            let shadows_words = self.text.as_ref().is_some_and(|t| {
                let known = t.model.vocab.encode_known(&concept.name);
                known.encoded.len > 0 && known.ignored.is_empty()
            });
            let words =
                self.model_key().and_then(|key| concept.vector_for(&key).map(|f| f.words.clone())).unwrap_or_default();
            used.push(UsedConcept {
                name: concept.name.clone(),
                examples: concept.examples.len(),
                shadows_words,
                words,
            });
        }
        used
    }

    /// The concepts kept with the library.
    pub fn concepts(&self) -> Concepts {
        self.concepts.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// A damaged concepts file set aside when the library was opened, in words.
    pub fn concepts_notice(&self) -> Option<&str> {
        self.concepts_notice.as_deref()
    }

    /// What concept vectors are kept under: the text model's image head and codec, when
    /// the library's joint vectors were made by them.
    fn model_key(&self) -> Option<String> {
        self.joint_space(false)?;
        let text = self.text.as_ref()?;
        Some(Concepts::model_key(&text.model.manifest.image_head.sha256, text.codec.id()))
    }

    /// Rows of the library for photos of a concept: by path, else by content hash (a photo
    /// moved or renamed since); photos no longer in the library are left out.
    fn concept_rows(&self, photos: &[Example], positions: &std::collections::HashMap<Vec<u8>, usize>) -> Vec<usize> {
        photos.iter().filter_map(|e| self.row_of(e, positions)).filter(|&row| self.library.is_projected(row)).collect()
    }

    /// The query vector of `concept` for the current text model ([`fit`] with the default
    /// [`Recipe`]), from its photos' joint vectors, a sample of the library and the text
    /// model's words.
    fn fit_concept(&self, concept: &Concept) -> Result<FittedFor> {
        let (Some(text), Some(space), Some(key)) = (self.text.as_ref(), self.joint_space(false), self.model_key())
        else {
            return Err(Error::Invalid(
                self.text_problem
                    .clone()
                    .unwrap_or_else(|| "concepts need the library's vectors of the text model: index it again".into()),
            ));
        };
        let positions = self.library.index.data.positions();
        let examples = self.concept_rows(&concept.examples, &positions);
        if examples.is_empty() {
            return Err(Error::Invalid(format!(
                "none of the {} photos of \u{201c}{}\u{201d} is in the library now: add photos of it again (`glimpse concept add`)",
                concept.examples.len(),
                concept.name
            )));
        }
        let negatives = self.concept_rows(&concept.negatives, &positions);
        let projected: Vec<usize> = (0..self.library.len()).filter(|&r| self.library.is_projected(r)).collect();
        let step = projected.len().div_ceil(CONCEPT_SAMPLE).max(1);
        let sample: Vec<usize> = projected.iter().step_by(step).copied().collect();
        let rows: Vec<usize> = sample.iter().chain(&examples).chain(&negatives).copied().collect();
        let dim = text.model.dim();
        let mut photos = Vec::with_capacity(rows.len() * dim);
        for &row in &rows {
            let mut v = space.vector(row);
            crate::index::search::normalize(&mut v);
            photos.extend(v);
        }
        // Made for each fit (about 0.3 s) rather than kept: 4500 words of 2048 values would
        // hold 37 MB for the rest of the process, and fits are rare.
        let table = word_table(&text.model)?;
        let library: Vec<usize> = (0..sample.len()).collect();
        let scores = WordScores::new(&table, &photos, &library);
        let at = |from: usize, n: usize| (from..from + n).collect::<Vec<usize>>();
        let fitted = fit(
            &Recipe::default(),
            &photos,
            dim,
            &at(sample.len(), examples.len()),
            &at(sample.len() + examples.len(), negatives.len()),
            &library,
            Some((&table, &scores)),
        );
        Ok(FittedFor { model: key, vector: fitted.vector, words: fitted.words.into_iter().map(|(w, _)| w).collect() })
    }

    /// The query vector of the concept `name`: kept in the concepts file for this model, else
    /// fitted now (and kept, when the file can be written).
    fn concept_vector(&self, name: &str) -> Result<Vec<f32>> {
        let concept = self
            .concepts
            .read()
            .ok()
            .and_then(|c| c.find(name).cloned())
            .ok_or_else(|| Error::Invalid(format!("no concept \u{201c}{name}\u{201d}")))?;
        let key = self.model_key().unwrap_or_default();
        if let Some(fitted) = concept.vector_for(&key) {
            return Ok(fitted.vector.clone());
        }
        if let Some((_, v)) = self.fitted.lock().ok().and_then(|f| f.iter().find(|(n, _)| *n == concept.name).cloned())
        {
            return Ok(v);
        }
        let fitted = self.fit_concept(&concept)?;
        let vector = fitted.vector.clone();
        if let Ok(mut cache) = self.fitted.lock() {
            cache.push((concept.name.clone(), vector.clone()));
        }
        // Kept for the next search; a library on a read-only disk fits it again then.
        if let Ok(mut concepts) = self.concepts.write() {
            concepts.set_fitted(&concept.name, fitted);
            let _ = concepts.save();
        }
        Ok(vector)
    }

    /// Teaches the concept `name` (made when there is none) the library photos `examples`
    /// and `negatives` (photos marked bad), fits its query vector and saves the concepts
    /// file. A photo that is not in the library is refused: index its folder first.
    pub fn teach(&self, name: &str, examples: &[PathBuf], negatives: &[PathBuf]) -> Result<Taught> {
        let positions = self.library.index.data.positions();
        let resolve = |paths: &[PathBuf]| -> Result<Vec<Example>> {
            paths.iter().map(|p| self.library_photo(p, &positions)).collect()
        };
        let (examples, negatives) = (resolve(examples)?, resolve(negatives)?);
        let taught = self.rewrite(|fresh| {
            let name = fresh.add(name, examples, negatives)?;
            let concept = fresh.find(&name).cloned().ok_or_else(|| Error::Invalid(format!("no concept '{name}'")))?;
            let fitted = self.fit_concept(&concept)?;
            let words = fitted.words.clone();
            fresh.set_fitted(&name, fitted);
            Ok(Taught { name, examples: concept.examples.len(), negatives: concept.negatives.len(), words })
        })?;
        if let Ok(mut cache) = self.fitted.lock() {
            cache.retain(|(n, _)| *n != taught.name);
        }
        Ok(taught)
    }

    /// Changes what the library was taught with `change`, on the file as it is now (another
    /// window or command may have changed it since this finder read it), and saves it; this
    /// finder then holds what was saved. One change at a time within the process.
    fn rewrite<T>(&self, change: impl FnOnce(&mut Concepts) -> Result<T>) -> Result<T> {
        let mut concepts = self.concepts.write().map_err(|_| Error::JobCrashed("concepts".into()))?;
        let mut fresh = Concepts::open(&self.library.index.path)?.concepts;
        let out = change(&mut fresh)?;
        fresh.save()?;
        *concepts = fresh;
        Ok(out)
    }

    /// Removes the concept `name` from the library's concepts file (its photos stay).
    pub fn forget(&self, name: &str) -> Result<Concept> {
        self.rewrite(|fresh| fresh.remove(name))
    }

    /// The concepts kept with the library, or `None` while one is being taught (never waits:
    /// the window asks from its drawing thread).
    pub fn try_concepts(&self) -> Option<Concepts> {
        self.concepts.try_read().ok().map(|c| c.clone())
    }

    /// The library's row of a photo kept by path and hash (a moved photo is found by its hash).
    fn row_of(&self, photo: &Example, positions: &std::collections::HashMap<Vec<u8>, usize>) -> Option<usize> {
        positions.get(crate::index::bytes::path_bytes(&photo.path).as_slice()).copied().or_else(|| {
            let hash = photo.hash.as_deref()?;
            self.library.index.data.photos.iter().position(|p| hex(&p.hash) == hash)
        })
    }

    /// A library photo as a collection or concept keeps it; refused when not in the library.
    fn library_photo(&self, path: &Path, positions: &std::collections::HashMap<Vec<u8>, usize>) -> Result<Example> {
        match self.kept_photo(path, positions) {
            (photo, Some(_)) => Ok(photo),
            (_, None) => Err(Error::Invalid(format!(
                "{} is not in the library: add its folder and index it first (`glimpse index`)",
                path.display()
            ))),
        }
    }

    /// A photo as a collection or concept keeps it (its canonical path, and its content hash
    /// when the library has it), with its row when it is in the library.
    fn kept_photo(
        &self,
        path: &Path,
        positions: &std::collections::HashMap<Vec<u8>, usize>,
    ) -> (Example, Option<usize>) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let row = positions.get(crate::index::bytes::path_bytes(&canonical).as_slice()).copied();
        let hash = row.and_then(|r| self.library.photo(r)).map(|e| hex(&e.hash));
        (Example { path: canonical, hash }, row)
    }

    /// `request` ranking the whole library best first, with its marks that are no longer in
    /// the library left out (a saved collection keeps marks on photos that may have gone).
    fn whole_ranking(
        &self,
        request: &SearchRequest,
        positions: &std::collections::HashMap<Vec<u8>, usize>,
    ) -> SearchRequest {
        let present = |p: &PathBuf| positions.contains_key(crate::index::bytes::path_bytes(p).as_slice());
        let mut request = request.clone();
        request.feedback.good.retain(present);
        request.feedback.bad.retain(present);
        request.k = self.library.len().max(1);
        request.sort = SortOrder::Relevance;
        request
    }

    /// The photos of the library `request` finds whose score reaches `threshold`, with the
    /// marks that are no longer in the library left out.
    fn matching(&self, request: &SearchRequest, threshold: f32) -> Result<Vec<Example>> {
        let request = self.whole_ranking(request, &self.library.index.data.positions());
        let answer = self.search(&request)?;
        Ok(answer
            .hits
            .into_iter()
            .take_while(|h| h.score >= threshold)
            .map(|h| Example { hash: self.library.photo(h.row).map(|e| hex(&e.hash)), path: h.path })
            .collect())
    }

    /// Saves `request` (a typed query with its filters and marks) as the collection `name`,
    /// its `request.k` best results as its photos: any photo that later scores as well as the
    /// last of them joins. A collection of that name is replaced.
    pub fn save_collection(&self, name: &str, request: &SearchRequest) -> Result<CollectionSummary> {
        let Subject::Text(query) = &request.subject else {
            return Err(Error::Invalid("a collection is a saved text query; this search is by photo".into()));
        };
        if query.trim().is_empty() {
            return Err(Error::Invalid("type a query to save as a collection".into()));
        }
        let answer = self.search(&SearchRequest { sort: SortOrder::Relevance, ..request.clone() })?;
        let Some(last) = answer.hits.last() else {
            return Err(Error::Invalid(format!("\u{201c}{query}\u{201d} finds no photo to start the collection with")));
        };
        let threshold = last.score;
        let at = now();
        let f = &request.filter;
        let mut collection = Collection {
            name: name.to_string(),
            query: query.trim().to_string(),
            filter: SavedFilter {
                folder: f.folder.clone(),
                after: f.after.clone(),
                before: f.before.clone(),
                types: f.types.clone(),
            },
            good: request.feedback.good.clone(),
            bad: request.feedback.bad.clone(),
            threshold,
            members: Vec::new(),
            pinned: Vec::new(),
            excluded: Vec::new(),
            created: at,
            seen: at,
        };
        let photos = answer
            .hits
            .iter()
            .map(|h| Example { hash: self.library.photo(h.row).map(|e| hex(&e.hash)), path: h.path.clone() });
        collection.take_in(photos, at);
        collection.look(at);
        self.rewrite(|fresh| fresh.put_collection(collection))?;
        let summary = self.summaries().into_iter().find(|c| crate::index::concepts::same_name(&c.name, name));
        summary.ok_or_else(|| Error::Invalid(format!("no collection '{name}'")))
    }

    /// The collection `name` as kept now.
    fn collection(&self, name: &str) -> Result<Collection> {
        self.concepts.read().ok().and_then(|c| c.collection(name).cloned()).ok_or_else(|| {
            Error::Invalid(format!("no collection \u{201c}{name}\u{201d}: `glimpse collection list` shows them"))
        })
    }

    /// The photos of the collection `name` that are in the library, best match of its query
    /// first (any its query cannot rank now after the rest, in the order they joined),
    /// `options.k` of them. Its members are listed whatever its filter says now (a pinned
    /// photo may be outside it).
    fn collection_answer(&self, name: &str, options: &SearchOptions, stop: &AtomicBool) -> Result<SearchAnswer> {
        let collection = self.collection(name)?;
        let positions = self.library.index.data.positions();
        let rows: Vec<usize> = collection.members.iter().filter_map(|m| self.row_of(&m.photo, &positions)).collect();
        let mut request = self.whole_ranking(&Finder::collection_request(&collection), &positions);
        request.filter = FilterText::default();
        let answer = match self.search_until(&request, stop) {
            Err(Error::Stopped(why)) => return Err(Error::Stopped(why)),
            answer => answer,
        };
        let scores: std::collections::HashMap<usize, f32> =
            answer.as_ref().map(|a| a.hits.iter().map(|h| (h.row, h.score)).collect()).unwrap_or_default();
        let mut order: Vec<(usize, Option<f32>)> = rows.iter().map(|&row| (row, scores.get(&row).copied())).collect();
        // Best first; members without a score keep the order they joined in, after the rest.
        order.sort_by(|a, b| match (a.1, b.1) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let photos = &self.library.index.data.photos;
        let hits = order
            .into_iter()
            .take(options.k)
            .enumerate()
            .map(|(i, (row, score))| {
                let (date, date_source) = crate::index::filter::date_of(&photos[row]);
                Ranked { rank: i + 1, path: photos[row].path(), score: score.unwrap_or(0.0), date, date_source, row }
            })
            .collect();
        let (ignored_words, read_words, concepts) = match answer {
            Ok(a) => (a.ignored_words, a.read_words, a.concepts),
            Err(_) => (Vec::new(), Vec::new(), Vec::new()),
        };
        Ok(SearchAnswer {
            hits,
            cue: None,
            label: format!("the collection \u{201c}{}\u{201d}", collection.name),
            browsing: false,
            unranked: 0,
            ignored_words,
            read_words,
            concepts,
        })
    }

    /// The request a collection's query is searched with.
    fn collection_request(collection: &Collection) -> SearchRequest {
        let f = &collection.filter;
        SearchRequest {
            subject: Subject::Text(collection.query.clone()),
            filter: FilterText {
                folder: f.folder.clone(),
                after: f.after.clone(),
                before: f.before.clone(),
                types: f.types.clone(),
            },
            feedback: Feedback { good: collection.good.clone(), bad: collection.bad.clone() },
            ..SearchRequest::default()
        }
    }

    /// Brings every collection up to date: photos that match now and are not members join
    /// (flagged new); the file is written when one joined. Returns the summaries.
    pub fn refresh_collections(&self) -> Result<Vec<CollectionSummary>> {
        let collections = self.concepts.read().map(|c| c.collections.clone()).unwrap_or_default();
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut joined: Vec<(String, Vec<Example>)> = Vec::new();
        for c in &collections {
            match self.matching(&Finder::collection_request(c), c.threshold) {
                Ok(found) => {
                    let fresh: Vec<Example> = found.into_iter().filter(|p| !c.has(p) && !c.is_excluded(p)).collect();
                    if !fresh.is_empty() {
                        joined.push((c.name.clone(), fresh));
                    }
                }
                Err(e) => problems.push((c.name.clone(), e.to_string())),
            }
        }
        if !joined.is_empty() {
            let at = now();
            self.rewrite(|fresh| {
                for (name, photos) in joined {
                    if let Some(c) = fresh.collection_mut(&name) {
                        c.take_in(photos, at);
                    }
                }
                Ok(())
            })?;
        }
        let mut summaries = self.summaries();
        for s in &mut summaries {
            s.problem = problems.iter().find(|(n, _)| *n == s.name).map(|(_, p)| p.clone());
        }
        Ok(summaries)
    }

    /// The collections with their photos in the library now (without searching).
    pub fn summaries(&self) -> Vec<CollectionSummary> {
        let positions = self.library.index.data.positions();
        let concepts = self.concepts.read().map(|c| c.collections.clone()).unwrap_or_default();
        concepts
            .iter()
            .map(|c| {
                let present: Vec<&crate::index::collections::Member> =
                    c.members.iter().filter(|m| self.row_of(&m.photo, &positions).is_some()).collect();
                CollectionSummary {
                    name: c.name.clone(),
                    query: c.query.clone(),
                    photos: present.len(),
                    new: present.iter().filter(|m| m.added > c.seen).count(),
                    problem: None,
                }
            })
            .collect()
    }

    /// The photos of the collection `name` that are in the library now, in the order they
    /// joined; with `seen`, they stop being new.
    pub fn collection_photos(&self, name: &str, seen: bool) -> Result<Vec<CollectionPhoto>> {
        let positions = self.library.index.data.positions();
        let collection = self.collection(name)?;
        let photos = collection
            .members
            .iter()
            .filter_map(|m| {
                let row = self.row_of(&m.photo, &positions)?;
                let path = self.library.photo(row).map(|e| e.path())?;
                let pinned = collection.is_pinned(&m.photo);
                Some(CollectionPhoto { path, new: m.added > collection.seen, pinned })
            })
            .collect();
        if seen {
            self.change_collection(name, |c| c.look(now()))?;
        }
        Ok(photos)
    }

    fn change_collection(&self, name: &str, change: impl FnOnce(&mut Collection)) -> Result<()> {
        self.rewrite(|fresh| {
            let c = fresh
                .collection_mut(name)
                .ok_or_else(|| Error::Invalid(format!("no collection \u{201c}{name}\u{201d}")))?;
            change(c);
            Ok(())
        })
    }

    /// Pins the library photo `photo` into the collection `name`, whatever its score.
    pub fn pin(&self, name: &str, photo: &Path) -> Result<()> {
        let photo = self.library_photo(photo, &self.library.index.data.positions())?;
        self.change_collection(name, |c| c.pin(photo))
    }

    /// Takes the photo `photo` out of the collection `name` for good.
    pub fn exclude(&self, name: &str, photo: &Path) -> Result<()> {
        // A photo no longer in the library can still be taken out.
        let (photo, _) = self.kept_photo(photo, &self.library.index.data.positions());
        self.change_collection(name, |c| c.exclude(photo))
    }

    /// Removes the collection `name` (its photos stay).
    pub fn forget_collection(&self, name: &str) -> Result<Collection> {
        self.rewrite(|fresh| fresh.remove_collection(name))
    }

    /// The keywords a collection's photos are exported with: its name, then the concepts its
    /// query names.
    pub fn collection_keywords(&self, name: &str) -> Result<Vec<String>> {
        let concepts = self.concepts.read().map_err(|_| Error::JobCrashed("concepts".into()))?;
        let c =
            concepts.collection(name).ok_or_else(|| Error::Invalid(format!("no collection \u{201c}{name}\u{201d}")))?;
        let mut keywords = vec![c.name.clone()];
        for part in query::parse_with_concepts(&c.query, &concepts.names_longest_first()).unwrap_or_default() {
            if let Term::Concept(n) = part.term
                && !keywords.contains(&n)
            {
                keywords.push(n);
            }
        }
        Ok(keywords)
    }

    /// Library rows whose caption has at least half of the typed query's words (of three
    /// letters or more, in any case), with how many: what ranks them first.
    fn caption_matches(&self, request: &SearchRequest) -> Vec<(usize, usize)> {
        let Subject::Text(text) = &request.subject else { return Vec::new() };
        let Ok(taught) = self.concepts.read() else { return Vec::new() };
        if taught.captions.is_empty() {
            return Vec::new();
        }
        let mut wanted: Vec<String> =
            crate::text::tokenizer::tokenize(text).into_iter().filter(|w| w.chars().count() >= 3).collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Vec::new();
        }
        let positions = self.library.index.data.positions();
        taught
            .captions
            .iter()
            .filter_map(|c| {
                let words = crate::text::tokenizer::tokenize(&c.text);
                let found = wanted.iter().filter(|w| words.contains(w)).count();
                if found == 0 || found * 2 < wanted.len() {
                    return None;
                }
                Some((self.row_of(&c.photo, &positions)?, found))
            })
            .collect()
    }

    /// Writes `text` as the caption of the library photo `photo` (empty: removes it); a
    /// caption's words find its photo first ([`Finder::search`]).
    pub fn set_caption(&self, photo: &Path, text: &str) -> Result<()> {
        let photo = self.library_photo(photo, &self.library.index.data.positions())?;
        self.rewrite(|taught| {
            taught.set_caption(photo, text, now());
            Ok(())
        })
    }

    /// The captions of photos in the library now, as (where the photo is, its caption).
    pub fn captions(&self) -> Vec<(PathBuf, String)> {
        let positions = self.library.index.data.positions();
        let Ok(taught) = self.concepts.read() else { return Vec::new() };
        taught
            .captions
            .iter()
            .filter_map(|c| {
                let row = self.row_of(&c.photo, &positions)?;
                Some((self.library.photo(row)?.path(), c.text.clone()))
            })
            .collect()
    }

    /// The library's captions and their photos' joint vectors as search holds them (and their
    /// offsets), then a sample of the other photos (up to [`PERSONAL_SAMPLE`] photos in all):
    /// what personalising the text model learns from and is measured against.
    pub fn captioned_library(&self) -> Result<CaptionedLibrary> {
        let (Some(text), Some(space), Some(matrix)) =
            (self.text.as_ref(), self.joint_space(true), self.library.joint.as_ref())
        else {
            return Err(Error::Invalid(self.text_problem.clone().unwrap_or_else(|| {
                "personalising needs the library's vectors of the text model: index it again".into()
            })));
        };
        let positions = self.library.index.data.positions();
        let taught = self.concepts.read().map_err(|_| Error::Invalid("the concepts file is poisoned".into()))?;
        let mut rows: Vec<usize> = Vec::new();
        let (mut texts, mut caption_photo) = (Vec::new(), Vec::new());
        for caption in &taught.captions {
            let Some(row) = self.row_of(&caption.photo, &positions).filter(|&r| self.library.is_projected(r)) else {
                continue;
            };
            let at = rows.iter().position(|&r| r == row).unwrap_or_else(|| {
                rows.push(row);
                rows.len() - 1
            });
            texts.push(caption.text.clone());
            caption_photo.push(at);
        }
        let captioned: std::collections::HashSet<usize> = rows.iter().copied().collect();
        let others: Vec<usize> =
            (0..self.library.len()).filter(|&r| self.library.is_projected(r) && !captioned.contains(&r)).collect();
        let room = PERSONAL_SAMPLE.saturating_sub(rows.len());
        rows.extend(others.iter().step_by(others.len().div_ceil(room.max(1)).max(1)).take(room));
        let dim = text.model.dim();
        Ok(CaptionedLibrary {
            dim,
            photos: rows.iter().flat_map(|&r| space.vector(r)).collect(),
            offsets: rows.iter().map(|&r| matrix.offset(r)).collect(),
            texts,
            caption_photo,
        })
    }

    /// Reads the concepts file again (after another window or command changed it).
    pub fn reload_concepts(&self) -> Result<()> {
        let opened = Concepts::open(&self.library.index.path)?;
        if let Ok(mut concepts) = self.concepts.write() {
            *concepts = opened.concepts;
        }
        if let Ok(mut cache) = self.fitted.lock() {
            cache.clear();
        }
        Ok(())
    }

    /// The terms of the query `text` that mean something to the text model, the words it
    /// has no vector for (in order, each once), and the words among those read as others
    /// (see [`crate::text::Vocab::encode_known`]). Each text term becomes the words it was
    /// read as; a text term made only of words left out is left out whole, and a query
    /// left with no term is [`Error::UnknownWords`]. Without a text model the terms stay as
    /// they are (the search then says why text cannot be searched).
    fn known_terms(&self, text: &str, parts: Vec<QueryPart>) -> Result<(Vec<QueryPart>, QueryWords)> {
        let Some(side) = &self.text else { return Ok((parts, QueryWords::default())) };
        let mut ignored: Vec<String> = Vec::new();
        let mut read: Vec<Reading> = Vec::new();
        let mut kept = Vec::with_capacity(parts.len());
        for mut part in parts {
            if let Term::Text(words) = &part.term {
                let vocab = &side.model.vocab;
                let known = vocab.encode_known(words);
                for word in &known.ignored {
                    if !ignored.contains(word) {
                        ignored.push(word.clone());
                    }
                }
                for reading in known.read {
                    if !read.contains(&reading) {
                        read.push(reading);
                    }
                }
                if known.encoded.len == 0 && !known.ignored.is_empty() {
                    continue;
                }
                // The term as read, so that encoding it for the query's vector reads no typo
                // a second time.
                part.term = Term::Text(vocab.text_of(&known.encoded));
            }
            kept.push(part);
        }
        if kept.is_empty() && !ignored.is_empty() {
            return Err(Error::UnknownWords { query: text.to_string(), words: ignored });
        }
        Ok((kept, QueryWords { ignored, read }))
    }
}

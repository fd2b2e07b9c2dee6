//! The search view's state and work: the query and filters, results with what the grid shows, marks; starting a search in the background and taking its answer.

use super::State;
use crate::app::settings::Settings;
use crate::finder::CueReading;
use crate::finder::Feedback;
use crate::finder::FilterText;
use crate::finder::Finder;
use crate::finder::SearchRequest;
use crate::finder::Subject;
use crate::finder::UsedConcept;
use crate::index::filter::DateSource;
use crate::index::filter::format_date;
use crate::index::library::Ranked;
use crate::job::Job;
use crate::text::Reading;
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// Results asked for at once: the first page of a new query, and each page more as the grid
/// is scrolled to its end (the CLI keeps its own `-k`, 10 by default). 50 fill a 2560-point
/// wide window of the smallest tiles twice over; a page ranks in milliseconds.
pub const PAGE: usize = 50;

/// What a search asks apart from the marks and how many: when it changes, the grid starts
/// again from its first page.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Asked {
    pub(super) subject: Subject,
    filter: FilterForm,
    sort: crate::index::filter::SortOrder,
    pool: usize,
}

/// A relevance-feedback mark on a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// More like this.
    Good,
    /// Less like this.
    Bad,
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
    /// For a text query: the photo's cosine with the query, the scale the "no strong
    /// match" cue reads (its score is that less the photo's hubness offset).
    pub cosine: Option<f32>,
}

/// What a finished search hands the grid.
pub(super) struct Answered {
    results: Vec<ResultItem>,
    cue: Option<CueReading>,
    label: String,
    browsing: bool,
    unranked: usize,
    ignored: Vec<String>,
    read: Vec<Reading>,
    concepts: Vec<UsedConcept>,
}

/// A running search, answering one query.
type SearchJob = Job<(), Result<Answered>>;

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
    /// How many results the grid has asked for: a page at first, a page more each time the
    /// grid is scrolled to its end (see [`PAGE`]).
    pub k: usize,
    /// Filters.
    pub filter: FilterForm,
    /// The grid.
    pub results: Vec<ResultItem>,
    /// What the grid answers (for the heading), once a search has run.
    pub answered: Option<String>,
    /// Why the last search failed.
    pub error: Option<String>,
    /// What the model's "no strong match" cue read for the last answer (a text query).
    pub cue: Option<CueReading>,
    /// The grid shows the library itself (nothing was asked for), by date.
    pub browsing: bool,
    /// Photos the last answer could not rank: no vector of the text model yet.
    pub unranked: usize,
    /// The last query's words that the text model has no vector for: left out of it.
    pub ignored: Vec<String>,
    /// The last query's words that the text model has no vector for, read as words it has
    /// (typos as the word meant).
    pub read: Vec<Reading>,
    /// The concepts the last query named.
    pub concepts: Vec<UsedConcept>,
    /// The highlighted result.
    pub selected: Option<usize>,
    /// The result shown large.
    pub preview: Option<usize>,
    /// Good/bad marks of the query they were made in ([`Self::marks_for`]): only its search
    /// uses them. Another query parks them ([`Self::parked`]); "Clear marks" ends them.
    pub marks: BTreeMap<PathBuf, Mark>,
    /// The query the marks belong to.
    pub marks_for: Subject,
    /// The marks of the last query marked before this one: offered to the current query
    /// ("Use 2 marks from …") and given back to their own query when it is asked again.
    pub parked: Option<(Subject, BTreeMap<PathBuf, Mark>)>,
    /// Each mark change as (photo, its mark before), newest last: Ctrl+Z undoes the last.
    pub mark_history: Vec<(PathBuf, Option<Mark>)>,
    /// The grid's columns as last drawn (the arrow keys move by its rows).
    pub columns: usize,
    /// The keys moved the highlight: the grid scrolls to show it.
    pub scroll_to_selected: bool,
    /// The grid's scroll offset and visible height as last drawn, in points.
    pub grid_view: (f32, f32),
    /// A new query's first page: the grid scrolls back to its top.
    pub scroll_to_top: bool,
    /// The collection opened last and its photos that were new to it when it was opened:
    /// the grid flags them while it shows that collection.
    pub new_in_collection: Option<(String, Vec<PathBuf>)>,
    /// The last search's request apart from marks and k.
    pub(super) asked: Option<Asked>,
    pub(super) job: Option<SearchJob>,
}

impl SearchState {
    /// Browsing asked oldest first, as the order menu does.
    #[cfg(test)]
    pub fn browsing_oldest_first_for_test(&mut self) {
        self.asked = Some(Asked {
            subject: Subject::Text(String::new()),
            filter: FilterForm::default(),
            sort: crate::index::filter::SortOrder::Oldest,
            pool: 0,
        });
    }

    /// The order of the library shown when nothing is asked (`None` while ranking a query).
    pub fn browse_order(&self) -> Option<crate::index::filter::SortOrder> {
        self.browsing.then(|| self.asked.as_ref().map_or(crate::index::filter::SortOrder::Newest, |a| a.sort))
    }

    /// Files the marks under their query before the query in the box is searched: marks made
    /// in another query are parked (replacing an older parked set), and a parked set made in
    /// this query comes back. Ctrl+Z does not reach across queries.
    fn file_marks(&mut self) {
        let subject = self.subject.clone();
        if !self.marks.is_empty() && !same_query(&self.marks_for, &subject) {
            let marks = std::mem::take(&mut self.marks);
            self.parked = Some((std::mem::replace(&mut self.marks_for, subject.clone()), marks));
            self.mark_history.clear();
        }
        if self.marks.is_empty() {
            if let Some((_, marks)) = self.parked.take_if(|(from, _)| same_query(from, &subject)) {
                self.marks = marks;
                self.mark_history.clear();
            }
            self.marks_for = subject;
        }
    }

    /// Takes the parked marks into the query in the box (a mark already made here wins).
    pub(super) fn use_parked_marks(&mut self) {
        if let Some((_, parked)) = self.parked.take() {
            for (path, mark) in parked {
                self.marks.entry(path).or_insert(mark);
            }
            self.marks_for = self.subject.clone();
            self.mark_history.clear();
        }
    }

    /// True when the grid shows a collection that `photo` joined since it was last looked at.
    pub fn is_new_in_collection(&self, photo: &std::path::Path) -> bool {
        match (&self.subject, &self.new_in_collection) {
            (Subject::Collection(shown), Some((name, new))) => shown == name && new.iter().any(|p| p == photo),
            _ => false,
        }
    }

    /// True while a search runs.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// True when scrolling further may bring more results: the last answer filled what was
    /// asked, and fewer were asked than the library (or, in date order, the pool of best
    /// matches the order chooses from) holds.
    pub fn more_available(&self, photos: usize, settings: &Settings) -> bool {
        let limit = match settings.sort {
            crate::index::filter::SortOrder::Relevance => photos,
            _ if self.browsing => photos,
            _ => settings.pool.min(photos),
        };
        self.error.is_none() && self.results.len() >= self.k && self.k < limit
    }
}

/// Results with what the grid shows beside each: thumbnail, size, bytes, and for a text
/// query (`text`: ranked with the photos' hubness offsets) the cosine.
fn describe(finder: &Finder, ranked: Vec<Ranked>, text: bool) -> Vec<ResultItem> {
    let thumbs = finder.library.thumbnails();
    ranked
        .into_iter()
        .map(|r| {
            let entry = finder.library.photo(r.row);
            // Missing or broken thumbnails are remade from the photo when drawn.
            let thumbnail = entry.map(|e| thumbs.path(&e.hash));
            ResultItem {
                thumbnail,
                width: entry.map_or(0, |e| e.width),
                height: entry.map_or(0, |e| e.height),
                bytes: entry.map_or(0, |e| e.size),
                cosine: finder.library.text_cosine(&r).filter(|_| text),
                ranked: r,
            }
        })
        .collect()
}

/// Whether two queries are the same search (text compared as trimmed).
fn same_query(a: &Subject, b: &Subject) -> bool {
    match (a, b) {
        (Subject::Text(a), Subject::Text(b)) => a.trim() == b.trim(),
        _ => a == b,
    }
}

/// A date as YYYY-MM-DD with where it came from.
pub fn date_label(seconds: i64, source: DateSource) -> String {
    let from = match source {
        DateSource::Exif => "taken (EXIF)",
        DateSource::Mtime => "file modified",
    };
    format!("{}, {from}", format_date(seconds))
}

impl SearchState {
    /// The marks as a search request takes them.
    fn feedback(&self) -> Feedback {
        let mut feedback = Feedback::default();
        for (path, mark) in &self.marks {
            match mark {
                Mark::Good => feedback.good.push(path.clone()),
                Mark::Bad => feedback.bad.push(path.clone()),
            }
        }
        feedback
    }
}

impl State {
    /// The search the query box, its filters and marks ask for, `k` results.
    pub(super) fn search_request(&self, settings: &Settings, k: usize) -> SearchRequest {
        SearchRequest {
            subject: self.search.subject.clone(),
            filter: self.search.filter.text(),
            feedback: self.search.feedback(),
            k,
            sort: settings.sort,
            pool: settings.pool,
        }
    }

    /// Starts a search for the query box (or the photo being searched by), replacing any
    /// search still running: only the newest query matters.
    pub(super) fn start_search(&mut self, settings: &Settings) -> Result<()> {
        self.search.edited = None;
        self.search.file_marks();
        let Some(finder) = self.finder.clone() else {
            self.search.results.clear();
            return Ok(());
        };
        let feedback = self.search.feedback();
        let asked = Asked {
            subject: self.search.subject.clone(),
            filter: self.search.filter.clone(),
            sort: settings.sort,
            pool: settings.pool,
        };
        // Another question starts from its first page; new marks re-rank what is loaded.
        if self.search.asked.as_ref() != Some(&asked) {
            self.search.k = PAGE;
            self.search.scroll_to_top = true;
            self.search.asked = Some(asked);
        }
        let request = SearchRequest {
            subject: self.search.subject.clone(),
            filter: self.search.filter.text(),
            feedback,
            k: self.search.k.max(1),
            sort: settings.sort,
            pool: settings.pool,
        };
        // The request is answered (its query parsed, its folder looked up: both touch files)
        // in the search job, never on the UI thread.
        // Replacing the job drops the older one, whose stop flag ends its search early.
        let job = Job::spawn("glimpse-search", 1, self.waker(), move |cx| {
            let answer = finder.search_until(&request, &cx.stop_flag())?;
            // The cue is read for text queries only, which rank with the offsets.
            let text = answer.cue.is_some();
            Ok(Answered {
                results: describe(&finder, answer.hits, text),
                cue: answer.cue,
                label: answer.label,
                browsing: answer.browsing,
                unranked: answer.unranked,
                ignored: answer.ignored_words,
                read: answer.read_words,
                concepts: answer.concepts,
            })
        })?;
        self.search.job = Some(job);
        Ok(())
    }

    /// Asks for a page more results when the grid reached its end and more may come.
    pub(super) fn more_results(&mut self, settings: &Settings) -> Result<()> {
        if self.search.busy() || !self.search.more_available(self.photos(), settings) {
            return Ok(());
        }
        self.search.k += PAGE;
        self.start_search(settings)
    }

    pub(super) fn poll_search(&mut self) {
        let Some(job) = &self.search.job else { return };
        if !job.is_finished() {
            return;
        }
        let Some(job) = self.search.job.take() else { return };
        match job.wait().and_then(|r| r) {
            Ok(Answered { results, cue, label, browsing, unranked, ignored, read, concepts }) => {
                // The highlight and the preview follow their photo to its new place (or go
                // when it left the results), so the next mark can only land on that photo.
                let search = &mut self.search;
                let path_at = |i: Option<usize>| i.and_then(|i| search.results.get(i)).map(|r| r.ranked.path.clone());
                let (selected, preview) = (path_at(search.selected), path_at(search.preview));
                let place = |path: &Option<PathBuf>| {
                    path.as_ref().and_then(|p| results.iter().position(|r| &r.ranked.path == p))
                };
                search.selected = place(&selected);
                search.preview = place(&preview);
                search.results = results;
                search.cue = cue;
                search.error = None;
                search.answered = Some(label);
                search.browsing = browsing;
                search.unranked = unranked;
                search.ignored = ignored;
                search.read = read;
                search.concepts = concepts;
            }
            // The grid no longer answers the query in the box: it says why instead of
            // showing the previous query's results under their old heading. A query of words
            // without a vector shows no photos either (they would be arbitrary) and names them.
            Err(e) => {
                let search = &mut self.search;
                search.ignored = match &e {
                    Error::UnknownWords { words, .. } => words.clone(),
                    _ => Vec::new(),
                };
                search.read.clear();
                search.error = Some(e.to_string());
                search.results.clear();
                search.answered = None;
                search.cue = None;
                search.selected = None;
                search.preview = None;
                search.unranked = 0;
                search.concepts.clear();
            }
        }
    }
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

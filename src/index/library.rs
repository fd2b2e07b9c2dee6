//! A library opened for searching: the index, and its vectors as one search matrix.

use std::path::{Path, PathBuf};

use super::bytes::bytes_path;
use super::compact::{Codec, CompactMatrix};
use super::contents::{IndexData, PhotoEntry};
use super::filter::{DateSource, Filter, SortOrder, date_of};
use super::query::{QueryPart, Term};
use super::search::{Matrix, SearchHit, normalize};
use super::store::Index;
use crate::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use crate::engine::{Backbone, ProjectionHead};
use crate::{Error, Result};

/// A searchable library.
pub struct Library {
    /// The index.
    pub index: Index,
    /// Unit-length backbone features, one row per photo in index order; read from the
    /// file's cold part on first use (only search by photo without a text model and
    /// duplicate grouping need them: at 100k photos they take 1.5 GB as f32).
    features: std::sync::OnceLock<Matrix>,
    /// Compact joint-space codes and offsets, when some photo has them (see
    /// [`super::project::project`]); text queries and "find similar" rank against these.
    /// A photo without them (an indexing run stopped before it was projected) has a row of
    /// zeros here and is left out of those results.
    pub joint: Option<CompactMatrix>,
    /// Per photo: true when it has no joint vector yet (empty when every photo has one).
    unprojected: Vec<bool>,
    /// Folders that are offline now (see [`Library::offline`]).
    offline: Vec<OfflineFolder>,
    /// Per photo: true when it lies in an offline folder and is left out of results (empty
    /// when no folder is offline).
    hidden: Vec<bool>,
    /// The older format the file has, converted in memory (the next `glimpse index` writes
    /// it in today's format).
    pub converted_from: Option<u32>,
}

/// A library folder whose photos are kept but not shown, because it is not there now.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct OfflineFolder {
    /// The folder.
    pub folder: PathBuf,
    /// Why it counts as offline.
    pub reason: String,
    /// Indexed photos in it.
    pub photos: usize,
}

/// The library's folders that are offline now: missing, not a folder or unreadable, empty
/// while the index has photos in them, or found without photos at the last indexing run
/// (and not back since). Folders that are there cost a `stat` and a look inside, nothing
/// per photo.
pub fn offline_folders(data: &IndexData) -> Vec<OfflineFolder> {
    let mut offline = Vec::new();
    for root in data.roots.iter().map(|r| bytes_path(r)) {
        let photos = indexed_under(data, &root);
        let unavailable = super::scan::root_unavailable(&root);
        let there = || !super::scan::root_is_empty(&root);
        if let Some(reason) = offline_reason(&root, unavailable, photos, there, data.is_offline(&root)) {
            offline.push(OfflineFolder { folder: root, reason, photos });
        }
    }
    offline
}

/// The one rule for a library folder being offline, with why, or `None`: it cannot be
/// read (`unavailable`), or the index has photos under it and none is `there` (the empty
/// mount point of an unplugged drive), or it was `remembered` offline by the last indexing
/// run. Its photos are kept, never taken for deleted. The window and `glimpse status` ask
/// with a look inside the folder; an indexing run with what its scan found.
pub(crate) fn offline_reason(
    root: &Path,
    unavailable: Option<String>,
    indexed: usize,
    there: impl FnOnce() -> bool,
    remembered: bool,
) -> Option<String> {
    if unavailable.is_some() {
        return unavailable;
    }
    if indexed > 0 && !there() {
        return Some(if super::scan::root_is_empty(root) {
            super::scan::EMPTY_ROOT.to_string()
        } else {
            "none of its photos are there now; is its drive unplugged?".to_string()
        });
    }
    remembered.then(|| "none of its photos were there at the last indexing run; is its drive unplugged?".to_string())
}

/// How many photos of the index lie under `root`.
pub(crate) fn indexed_under(data: &IndexData, root: &Path) -> usize {
    data.photos.iter().filter(|p| p.path().starts_with(root)).count()
}

/// One ranked photo.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Ranked {
    /// 1-based rank.
    pub rank: usize,
    /// The photo.
    pub path: PathBuf,
    /// Cosine similarity.
    pub score: f32,
    /// The photo's date, seconds since the epoch.
    pub date: i64,
    /// Where the date comes from (EXIF or the file's modification time).
    pub date_source: DateSource,
    /// Its position in the index's photos, for callers that show more of it.
    #[serde(skip)]
    pub row: usize,
}

/// The vectors a query ranks against.
#[derive(Clone, Copy, Debug)]
pub enum Space<'a> {
    /// Backbone features (search by photo without a text model).
    Features(&'a Matrix),
    /// Compact joint vectors through their codec; with `offsets`, each photo's hubness
    /// offset is subtracted (text queries), without them photos are compared as they are.
    Joint {
        /// The library's codes.
        matrix: &'a CompactMatrix,
        /// The codec that made them.
        codec: &'a Codec,
        /// Subtract hubness offsets.
        offsets: bool,
    },
}

impl Space<'_> {
    /// The photo at `row` as a query-space vector (for relevance feedback): its features,
    /// or its joint vector as its codes stand for it.
    pub fn vector(&self, row: usize) -> Vec<f32> {
        match self {
            Space::Features(m) => m.row(row).to_vec(),
            Space::Joint { matrix, codec, .. } => codec.reconstruct(matrix.row(row)),
        }
    }

    /// The `k` best rows for a query vector (normalised here) among those `allow` accepts.
    pub fn top_k(&self, query: &[f32], k: usize, allow: impl Fn(usize) -> bool + Sync) -> Vec<SearchHit> {
        match self {
            Space::Features(m) => m.top_k(query, k, allow),
            Space::Joint { matrix, codec, offsets } => {
                let mut q = query.to_vec();
                normalize(&mut q);
                matrix.top_k(&codec.query(&q), k, *offsets, allow)
            }
        }
    }
}

/// How a search is narrowed and ordered.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    /// How many results.
    pub k: usize,
    /// Which photos may be returned (applied before the top-K selection).
    pub filter: Filter,
    /// Best match first, or newest/oldest first among the `pool` best matches.
    pub sort: SortOrder,
    /// How many best matches a date order chooses from.
    pub pool: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { k: 10, filter: Filter::default(), sort: SortOrder::Relevance, pool: 100 }
    }
}

impl Library {
    /// A text query's hit's cosine with the query: its score with the photo's hubness offset
    /// added back (what the "no strong match" cue reads); `None` without joint vectors.
    pub fn text_cosine(&self, hit: &Ranked) -> Option<f32> {
        self.joint.as_ref().map(|j| hit.score + j.offset(hit.row))
    }

    /// Opens the index at `path` (with its journal) for searching.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Invalid(format!(
                "there is no index at {} yet: run `glimpse index FOLDER` first",
                path.display()
            )));
        }
        let mut rows = Vec::new();
        let mut unprojected = Vec::new();
        let opened = super::opening::open_for_search(path, &mut rows)?;
        let (mut index, converted_from) = (opened.index, opened.converted_from);
        let dim = index.data.joint_dim;
        let coded = !index.data.joint_codec.is_empty() && dim > 0;
        let joint = if !rows.is_empty() {
            Some(CompactMatrix::from_rows(dim, &rows))
        } else if coded && index.data.photos.iter().any(|p| p.compact(dim).is_some()) {
            // Codes in the entries (a journal was replayed, or some photo has none yet): they
            // move into one matrix; a photo without them gets zeros and is marked.
            let mut joint = CompactMatrix::new(dim);
            joint.reserve(index.data.photos.len());
            let zeros = vec![0i8; dim];
            let missing = index.data.photos.iter().filter(|p| p.compact(dim).is_none()).count();
            for photo in &mut index.data.photos {
                let (codes, offset) = photo.compact(dim).unwrap_or((&zeros, 0.0));
                joint.push(codes, offset);
                if missing > 0 {
                    unprojected.push(photo.compact(dim).is_none());
                }
                photo.joint = Vec::new();
            }
            Some(joint)
        } else {
            None
        };
        drop(rows);
        let offline = offline_folders(&index.data);
        // Nothing is hidden (and nothing is looked at per photo) while every folder is there.
        let hidden = if offline.is_empty() {
            Vec::new()
        } else {
            let hide = |p: &PhotoEntry| offline.iter().any(|o| p.path().starts_with(&o.folder));
            index.data.photos.iter().map(hide).collect()
        };
        Ok(Library { index, features: std::sync::OnceLock::new(), joint, unprojected, offline, hidden, converted_from })
    }

    /// How many photos the library holds (offline ones included).
    pub fn len(&self) -> usize {
        self.index.data.photos.len()
    }

    /// True when the library holds no photo.
    pub fn is_empty(&self) -> bool {
        self.index.data.photos.is_empty()
    }

    /// The photo of a result's row, when the row is the library's.
    pub fn photo(&self, row: usize) -> Option<&super::contents::PhotoEntry> {
        self.index.data.photos.get(row)
    }

    /// The library's folders.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.index.data.roots.iter().map(|r| bytes_path(r)).collect()
    }

    /// The files the last indexing runs skipped, with why.
    pub fn skipped(&self) -> impl Iterator<Item = (PathBuf, &str)> {
        self.index.data.skipped.iter().map(|s| (bytes_path(&s.path), s.reason.as_str()))
    }

    /// The exclude patterns its indexing runs use.
    pub fn excludes(&self) -> &[String] {
        &self.index.data.excludes
    }

    /// The thumbnail cache of this library.
    pub fn thumbnails(&self) -> super::thumbs::ThumbCache {
        super::thumbs::ThumbCache::for_index(&self.index.path)
    }

    /// True when the library's joint vectors were made by another image head or codec than
    /// `projection`'s (the text model changed): an indexing run re-projects them from the
    /// stored features. A library never projected is not "stale" (a first run was stopped).
    pub fn projected_by_another(&self, projection: &super::project::Projection) -> bool {
        let data = &self.index.data;
        !data.head_id.is_empty() && (data.head_id != projection.head.id() || data.joint_codec != projection.codec.id())
    }

    /// The library's folders that were offline when it was opened; their photos are left
    /// out of every result until the folder is back.
    pub fn offline(&self) -> &[OfflineFolder] {
        &self.offline
    }

    /// True when the photo in `row` has a joint vector (see [`Library::unprojected`]).
    pub fn is_projected(&self, row: usize) -> bool {
        self.joint.is_some() && !self.unprojected.get(row).copied().unwrap_or(false)
    }

    /// Photos with no joint vector yet, left out of text search and "find similar" in the
    /// joint space until `glimpse index` projects them (a run stopped before it did).
    pub fn unprojected(&self) -> usize {
        match &self.joint {
            Some(_) => self.unprojected.iter().filter(|&&u| u).count(),
            None => self.index.data.photos.len(),
        }
    }

    /// Gives a library converted from format 2 (f32 joint vectors, not yet saved in the new
    /// format) its compact codes through `codec`, when the vectors have `codec`'s length;
    /// nothing is written. True when the library then has joint codes.
    pub fn encode_converted(&mut self, codec: &Codec) -> bool {
        let data = &mut self.index.data;
        if self.joint.is_some() || !data.joint_codec.is_empty() || data.joint_dim != codec.input_dim {
            return self.joint.is_some();
        }
        let Some(coded) = data.photos.iter().map(|p| p.legacy_compact(codec)).collect::<Option<Vec<_>>>() else {
            return false;
        };
        if codec.input_dim == 0 {
            return false;
        }
        let mut joint = CompactMatrix::new(codec.dim());
        joint.reserve(data.photos.len());
        for ((codes, offset), photo) in coded.into_iter().zip(&mut data.photos) {
            joint.push(&codes, offset);
            photo.joint = Vec::new();
        }
        data.joint_codec = codec.id().to_string();
        data.joint_dim = codec.dim();
        self.joint = Some(joint);
        true
    }

    /// The backbone-feature matrix, read from the index file's cold part (checked whole)
    /// on the first call.
    pub fn features(&self) -> Result<&Matrix> {
        if let Some(features) = self.features.get() {
            return Ok(features);
        }
        let data = &self.index.data;
        if let Some(cold) = &data.cold {
            cold.verify()?;
        }
        let mut features = Matrix::new(data.feature_dim);
        for row in 0..data.photos.len() {
            features.push(&data.features_of(row)?);
        }
        Ok(self.features.get_or_init(|| features))
    }

    /// The library itself, for browsing without a query: the photos the filter accepts (and
    /// not offline), newest first (oldest first for that order), `k` of them; score 0.
    pub fn browse(&self, options: &SearchOptions) -> Vec<Ranked> {
        let photos = &self.index.data.photos;
        let mut rows: Vec<(usize, (i64, DateSource))> = (0..photos.len())
            .filter(|&row| !self.hidden.get(row).copied().unwrap_or(false))
            .filter(|&row| options.filter.is_empty() || options.filter.accepts(&photos[row]))
            .map(|row| (row, date_of(&photos[row])))
            .collect();
        match options.sort {
            SortOrder::Oldest => rows.sort_by_key(|r| (r.1.0, r.0)),
            SortOrder::Newest | SortOrder::Relevance => rows.sort_by_key(|r| (std::cmp::Reverse(r.1.0), r.0)),
        }
        rows.into_iter()
            .take(options.k)
            .enumerate()
            .map(|(i, (row, (date, date_source)))| Ranked {
                rank: i + 1,
                path: photos[row].path(),
                score: 0.0,
                date,
                date_source,
                row,
            })
            .collect()
    }

    /// Searches `space` with a filter applied before the top-K and an optional date order.
    pub fn search_in(&self, space: Space<'_>, query: &[f32], options: &SearchOptions) -> Vec<Ranked> {
        let photos = &self.index.data.photos;
        let wanted = match options.sort {
            SortOrder::Relevance => options.k,
            SortOrder::Newest | SortOrder::Oldest => options.pool.max(options.k),
        };
        // Photos without a joint vector have none to rank by in the joint space.
        let unprojected: &[bool] = match space {
            Space::Joint { .. } => &self.unprojected,
            Space::Features(_) => &[],
        };
        let mut hits: Vec<(SearchHit, (i64, DateSource))> = space
            .top_k(query, wanted, |row| {
                !self.hidden.get(row).copied().unwrap_or(false)
                    && !unprojected.get(row).copied().unwrap_or(false)
                    && (options.filter.is_empty() || options.filter.accepts(&photos[row]))
            })
            .into_iter()
            .map(|hit| (hit, date_of(&photos[hit.row])))
            .collect();
        match options.sort {
            SortOrder::Relevance => {}
            SortOrder::Newest => hits.sort_by_key(|h| std::cmp::Reverse(h.1.0)),
            SortOrder::Oldest => hits.sort_by_key(|h| h.1.0),
        }
        hits.into_iter()
            .take(options.k)
            .enumerate()
            .map(|(i, (SearchHit { row, score }, (date, date_source)))| Ranked {
                rank: i + 1,
                path: photos[row].path(),
                score,
                date,
                date_source,
                row,
            })
            .collect()
    }

    /// The stored vectors (in `space`) of the photos at `paths`, for relevance feedback; a
    /// path that is not in the library is an error naming it.
    pub fn vectors_of(&self, space: Space<'_>, paths: &[PathBuf]) -> Result<Vec<Vec<f32>>> {
        paths
            .iter()
            .map(|p| {
                let wanted = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                self.index
                    .data
                    .photos
                    .iter()
                    .position(|e| e.path() == wanted)
                    .map(|row| space.vector(row))
                    .ok_or_else(|| Error::Invalid(format!("{} is not in the library", p.display())))
            })
            .collect()
    }

    /// The query vector of parsed query terms in backbone-feature space: the weighted sum of
    /// each photo term's unit vector. Text terms need the joint space
    /// ([`Library::joint_query_vector`]); here they are an error that says so.
    pub fn query_vector(&self, parts: &[QueryPart], backbone: &Backbone) -> Result<Vec<f32>> {
        if backbone.model().manifest.sha256 != self.index.data.model_id {
            return Err(Error::Invalid(format!(
                "the index was made with the backbone '{}', not '{}': run `glimpse index` again or pick that backbone",
                self.index.data.backbone,
                backbone.model().manifest.name
            )));
        }
        weighted_sum(parts, self.index.data.feature_dim, |term| match term {
            Term::Photo(path) => embed_photo(backbone, path),
            Term::Text(text) => Err(Error::Invalid(format!(
                "text search (\"{text}\") needs a text model, and none is installed yet; search by photo works now: `glimpse similar PHOTO`, or a query of photo terms like `./a.jpg - ./b.jpg`"
            ))),
            Term::Concept(name) => Err(Error::Invalid(format!(
                "the concept \"{name}\" is searched with the text model, and none fits this library yet: index it again, or search by photo"
            ))),
        })
    }
}

impl Library {
    /// The query vector in the joint text–image space: text terms through `encode_text`
    /// (the text model's encoder), photo terms through the backbone and the model's image
    /// `head`; the weighted sum of their unit vectors. Needs a library projected by that
    /// same head (`glimpse index` does it from stored features, without decoding).
    pub fn joint_query_vector(
        &self,
        parts: &[QueryPart],
        backbone: &Backbone,
        head: &ProjectionHead,
        encode_text: &dyn Fn(&str) -> Result<Vec<f32>>,
    ) -> Result<Vec<f32>> {
        if self.joint.is_none() || self.index.data.head_id != head.id() {
            return Err(Error::Invalid(
                "the library has no vectors for this text model yet: run `glimpse index` (it projects the stored features; no photo is decoded again)".into(),
            ));
        }
        let photo = |path: &Path| photo_joint(backbone, head, path);
        let concept = |name: &str| -> Result<Vec<f32>> {
            Err(Error::Invalid(format!("the concept \"{name}\" is searched through a finder (`Finder::search`)")))
        };
        self.joint_terms_vector(parts, head.out_dim(), encode_text, &photo, &concept)
    }

    /// The weighted sum of the unit vectors of query terms in a `dim`-long joint space, text
    /// terms through `encode_text`, photo terms through `encode_photo`, concepts through
    /// `concept_vector`.
    pub fn joint_terms_vector(
        &self,
        parts: &[QueryPart],
        dim: usize,
        encode_text: &dyn Fn(&str) -> Result<Vec<f32>>,
        encode_photo: &dyn Fn(&Path) -> Result<Vec<f32>>,
        concept_vector: &dyn Fn(&str) -> Result<Vec<f32>>,
    ) -> Result<Vec<f32>> {
        weighted_sum(parts, dim, |term| match term {
            Term::Text(text) => encode_text(text),
            Term::Photo(path) => encode_photo(path),
            Term::Concept(name) => concept_vector(name),
        })
    }
}

/// The weighted sum of each term's unit vector, the terms' vectors coming from `vector_of`;
/// a vector of another length than `dim` is an error naming both.
fn weighted_sum(parts: &[QueryPart], dim: usize, vector_of: impl Fn(&Term) -> Result<Vec<f32>>) -> Result<Vec<f32>> {
    let mut sum = vec![0.0f32; dim];
    for part in parts {
        let mut v = vector_of(&part.term)?;
        if v.len() != dim {
            return Err(Error::Invalid(format!(
                "a query term gave a {}-long vector; the search space is {dim}-long",
                v.len()
            )));
        }
        normalize(&mut v);
        sum.iter_mut().zip(&v).for_each(|(s, x)| *s += part.weight * x);
    }
    Ok(sum)
}

/// The joint-space vector of one photo (which may be outside the library): its backbone
/// features through a text model's image `head`.
pub fn photo_joint(backbone: &Backbone, head: &ProjectionHead, path: &Path) -> Result<Vec<f32>> {
    let features = embed_photo(backbone, path)?;
    let row =
        ndarray::Array2::from_shape_vec((1, features.len()), features).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok(head.project(row.view())?.pop().unwrap_or_default())
}

/// Backbone features of one photo (which may be outside the library).
pub fn embed_photo(backbone: &Backbone, path: &Path) -> Result<Vec<f32>> {
    let job = pipeline::embed(
        backbone,
        vec![path.to_path_buf()],
        EmbedOptions { batch_size: 1, ..Default::default() },
        None,
    )?;
    let event = job.events().recv().map_err(|_| Error::JobCrashed("glimpse-embed".into()))?;
    job.wait()??;
    match event {
        EmbedEvent::Embedded(e) => Ok(e.features),
        EmbedEvent::Failed { error, .. } => Err(error),
    }
}

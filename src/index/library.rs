//! A library opened for searching: the index, and its vectors as one search matrix.

use std::path::{Path, PathBuf};

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
    /// Unit-length backbone features, one row per photo in index order; built on first
    /// use (only search by photo needs them, and at 100k photos they take 512 MB as f32).
    features: std::sync::OnceLock<Matrix>,
    /// Unit-length joint-space vectors, when every photo has one (see
    /// [`super::project::project`]); text queries rank against these.
    pub joint: Option<Matrix>,
    /// Folders that are offline now (see [`Library::offline`]).
    offline: Vec<OfflineFolder>,
    /// Per photo: true when it lies in an offline folder and is left out of results (empty
    /// when no folder is offline).
    hidden: Vec<bool>,
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
pub fn offline_folders(data: &super::store::IndexData) -> Vec<OfflineFolder> {
    let mut offline = Vec::new();
    for root in data.roots.iter().map(|r| super::store::bytes_path(r)) {
        let reason = match super::scan::root_unavailable(&root) {
            Some(reason) => reason,
            None if super::scan::root_is_empty(&root) && indexed_under(data, &root) > 0 => {
                super::scan::EMPTY_ROOT.to_string()
            }
            None if data.is_offline(&root) => {
                "none of its photos were there at the last indexing run; is its drive unplugged?".to_string()
            }
            None => continue,
        };
        let photos = indexed_under(data, &root);
        offline.push(OfflineFolder { folder: root, reason, photos });
    }
    offline
}

/// How many photos of the index lie under `root`.
pub(crate) fn indexed_under(data: &super::store::IndexData, root: &Path) -> usize {
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
    /// Opens the index at `path` (with its journal) for searching.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Err(Error::Invalid(format!(
                "there is no index at {} yet: run `glimpse index FOLDER` first",
                path.display()
            )));
        }
        let index = super::opening::open(path)?;
        let dim = index.data.joint_dim;
        let all_of_len = |values: usize| index.data.photos.iter().all(|p| p.joint.len() == 4 * values);
        // Every photo has a vector, or every photo has a vector and an offset (a calibrated head).
        let (plain, with_offsets) = (all_of_len(dim), all_of_len(dim + 1));
        let joint = (dim > 0 && (plain || with_offsets)).then(|| {
            let mut joint = Matrix::new(dim);
            for photo in &index.data.photos {
                let values = photo.joint_f32();
                if plain {
                    joint.push(&values);
                } else {
                    joint.push_with_offset(&values[..dim], values[dim]);
                }
            }
            joint
        });
        let offline = offline_folders(&index.data);
        // Nothing is hidden (and nothing is looked at per photo) while every folder is there.
        let hidden = if offline.is_empty() {
            Vec::new()
        } else {
            let hide = |p: &super::store::PhotoEntry| offline.iter().any(|o| p.path().starts_with(&o.folder));
            index.data.photos.iter().map(hide).collect()
        };
        Ok(Library { index, features: std::sync::OnceLock::new(), joint, offline, hidden })
    }

    /// The library's folders that were offline when it was opened; their photos are left
    /// out of every result until the folder is back.
    pub fn offline(&self) -> &[OfflineFolder] {
        &self.offline
    }

    /// The backbone-feature matrix (built on the first call).
    pub fn features(&self) -> &Matrix {
        self.features.get_or_init(|| {
            let mut features = Matrix::new(self.index.data.feature_dim);
            for photo in &self.index.data.photos {
                features.push(&photo.features_f32());
            }
            features
        })
    }

    /// Ranks the library against a query vector in `matrix` (the features or the joint space).
    pub fn rank_in(&self, matrix: &Matrix, query: &[f32], k: usize) -> Vec<Ranked> {
        self.search_in(matrix, query, &SearchOptions { k, ..SearchOptions::default() })
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

    /// Searches `matrix` with a filter applied before the top-K and an optional date order.
    pub fn search_in(&self, matrix: &Matrix, query: &[f32], options: &SearchOptions) -> Vec<Ranked> {
        let photos = &self.index.data.photos;
        let wanted = match options.sort {
            SortOrder::Relevance => options.k,
            SortOrder::Newest | SortOrder::Oldest => options.pool.max(options.k),
        };
        let mut hits: Vec<(SearchHit, (i64, DateSource))> = matrix
            .top_k(query, wanted, |row| {
                !self.hidden.get(row).copied().unwrap_or(false)
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

    /// The stored vectors (rows of `matrix`) of the photos at `paths`, for relevance
    /// feedback; a path that is not in the library is an error naming it.
    pub fn vectors_of(&self, matrix: &Matrix, paths: &[PathBuf]) -> Result<Vec<Vec<f32>>> {
        paths
            .iter()
            .map(|p| {
                let wanted = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                self.index
                    .data
                    .photos
                    .iter()
                    .position(|e| e.path() == wanted)
                    .map(|row| matrix.row(row).to_vec())
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
        weighted_sum(parts, head.out_dim(), |term| match term {
            Term::Text(text) => encode_text(text),
            Term::Photo(path) => {
                let features = embed_photo(backbone, path)?;
                let row = ndarray::Array2::from_shape_vec((1, features.len()), features)
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                Ok(head.project(row.view())?.pop().unwrap_or_default())
            }
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

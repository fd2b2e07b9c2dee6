//! `glimpse bench concepts`: names a model cannot know, simulated on a Flickr8k split. A
//! concept is the set of photos whose captions share a visual word; a ranker sees only `k`
//! of its photos as examples (never the word) and ranks the rest of the split. Reported as
//! precision@10 and mean average precision of finding the concept's other photos, beside
//! two references on the same photos: the examples as a photo query (the mean of their unit
//! vectors, as `glimpse search "a.jpg + b.jpg"` ranks) and the word typed as text (which a
//! person's own name would not have).

use rayon::prelude::*;
use serde::Serialize;

use crate::dataset::ImageCaptions;
use crate::index::concept::{Recipe, WordScores, WordTable, fit};
use crate::text::tokenizer::tokenize;

/// Words of things one can see, tried as concepts; those with enough photos are kept (see
/// [`choose`]). Chosen before measuring: places, surfaces, objects and animals that
/// captions name, none of them a colour or an action.
pub const WORDS: &[&str] = &[
    "snow",
    "pool",
    "ball",
    "bike",
    "beach",
    "grass",
    "water",
    "rock",
    "street",
    "ocean",
    "sand",
    "field",
    "mountain",
    "crowd",
    "car",
    "tree",
    "stairs",
    "wall",
    "fountain",
    "bench",
    "hat",
    "building",
    "river",
    "road",
    "frisbee",
    "stick",
    "soccer",
    "wave",
    "surfboard",
    "horse",
];

/// A concept: its word and the rows of the split's photos it holds.
#[derive(Clone, Debug, Serialize)]
pub struct Concept {
    /// The word whose captions define it (never shown to the ranker).
    pub word: String,
    /// Rows (in the embedded split's photo order) of its photos.
    pub photos: Vec<usize>,
}

/// The concepts of [`WORDS`] with at least `min_photos` photos whose captions (at least
/// `min_captions` of a photo's five) contain the word; `items[kept[row]]` is row `row`'s photo.
pub fn choose(items: &[ImageCaptions], kept: &[usize], min_photos: usize, min_captions: usize) -> Vec<Concept> {
    WORDS
        .iter()
        .filter_map(|&word| {
            let photos: Vec<usize> = kept
                .iter()
                .enumerate()
                .filter(|(_, item)| {
                    let with = items[**item].captions.iter().filter(|c| tokenize(c).iter().any(|w| w == word)).count();
                    with >= min_captions
                })
                .map(|(row, _)| row)
                .collect();
            (photos.len() >= min_photos).then(|| Concept { word: word.to_string(), photos })
        })
        .collect()
}

/// How a concept's examples become a ranking.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ranker {
    /// The mean of the examples' unit vectors: what a photo query does today.
    Photos,
    /// The examples' mean less `beta` times the library's mean vector: what the examples
    /// share beyond what every photo shares.
    Contrast {
        /// Weight of the library's mean.
        beta: f32,
    },
    /// What a saved concept does ([`crate::index::concept::fit`]): the words that single the
    /// examples out, mixed with the contrast of the photos.
    Concept(Recipe),
}

/// One k's numbers, averaged over concepts and draws.
#[derive(Clone, Debug, Serialize)]
pub struct ByK {
    /// Examples the ranker saw.
    pub k: usize,
    /// Precision@10 of the chosen ranker.
    pub p_at_10: f64,
    /// Mean average precision of the chosen ranker.
    pub map: f64,
    /// The examples as a photo query.
    pub photos_p_at_10: f64,
    /// See `photos_p_at_10`.
    pub photos_map: f64,
    /// The word typed as text.
    pub word_p_at_10: f64,
    /// See `word_p_at_10`.
    pub word_map: f64,
}

/// The whole measurement.
#[derive(Clone, Debug, Serialize)]
pub struct ConceptsBench {
    /// Concepts measured.
    pub concepts: usize,
    /// Their words and sizes.
    pub words: Vec<(String, usize)>,
    /// Photos ranked.
    pub images: usize,
    /// Random draws of examples per concept and k.
    pub draws: usize,
    /// The ranker reported as `p_at_10`/`map`.
    pub ranker: Ranker,
    /// One row per k.
    pub by_k: Vec<ByK>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A small deterministic generator (xorshift), so draws repeat run to run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `n` distinct values below `below`, drawn with `state`.
fn draw(state: &mut u64, below: usize, n: usize) -> Vec<usize> {
    let mut picked: Vec<usize> = Vec::with_capacity(n);
    while picked.len() < n.min(below) {
        let v = (next(state) % below as u64) as usize;
        if !picked.contains(&v) {
            picked.push(v);
        }
    }
    picked
}

/// The query vector of `ranker` from the example rows; `words` are the vocabulary's words
/// with their cosines with every photo (needed by [`Ranker::Concept`] only).
pub fn query(
    ranker: Ranker,
    images: &[f32],
    dim: usize,
    examples: &[usize],
    words: Option<(&WordTable, &WordScores)>,
) -> Vec<f32> {
    // Each ranker is a recipe of the one a saved concept uses: the references without its
    // words and whitening (and the photo query without the library's mean either).
    let recipe = match ranker {
        Ranker::Photos => Recipe { words: 0, beta: 0.0, shrink: 0.0, ..Recipe::default() },
        Ranker::Contrast { beta } => Recipe { words: 0, beta, shrink: 0.0, ..Recipe::default() },
        Ranker::Concept(recipe) => recipe,
    };
    let library: Vec<usize> = (0..images.len() / dim.max(1)).collect();
    fit(&recipe, images, dim, examples, &[], &library, words).vector
}

/// Precision@10 and average precision of ranking `images` by `q` (cosine less offset, as
/// search does), the `examples` left out, for the concept's other photos `relevant`.
fn measure(
    q: &[f32],
    images: &[f32],
    offsets: &[f32],
    dim: usize,
    examples: &[usize],
    relevant: &[usize],
) -> (f64, f64) {
    let norm = dot(q, q).sqrt().max(1e-12);
    let mut scored: Vec<(f32, usize)> = images
        .chunks_exact(dim)
        .enumerate()
        .filter(|(i, _)| !examples.contains(i))
        .map(|(i, row)| (dot(q, row) / norm - offsets.get(i).copied().unwrap_or(0.0), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let targets: Vec<usize> = relevant.iter().copied().filter(|r| !examples.contains(r)).collect();
    let (mut hits, mut ap) = (0usize, 0.0f64);
    let mut p10 = 0.0;
    for (rank, (_, i)) in scored.iter().enumerate() {
        if targets.contains(i) {
            hits += 1;
            ap += hits as f64 / (rank + 1) as f64;
        }
        if rank == 9 {
            p10 = hits as f64 / 10.0;
        }
        if hits == targets.len() && rank >= 9 {
            break;
        }
    }
    (p10, ap / targets.len().max(1) as f64)
}

/// The photos ranked: unit rows of `dim` values with their hubness offsets (empty: none).
#[derive(Clone, Copy, Debug)]
pub struct Photos<'a> {
    /// One unit row per photo.
    pub images: &'a [f32],
    /// Each photo's offset, subtracted from its cosine as search does.
    pub offsets: &'a [f32],
    /// Values per row.
    pub dim: usize,
}

/// Measures `ranker` (a concept's ranking without the photos' hubness offsets, as search
/// ranks a query of concepts; the others with them) and both references for each of `ks` on `concepts`, `draws` random
/// sets of examples per concept and k; `words[c]` is concept `c`'s word as the text model
/// embeds it; `table` the vocabulary's words as [`Ranker::Concept`] reads them.
pub fn run(
    photos: Photos<'_>,
    concepts: &[Concept],
    words: &[Vec<f32>],
    table: Option<&WordTable>,
    ks: &[usize],
    draws: usize,
    ranker: Ranker,
) -> ConceptsBench {
    let Photos { images, offsets, dim } = photos;
    let all: Vec<usize> = (0..images.len() / dim.max(1)).collect();
    let scores = table.map(|t| WordScores::new(t, images, &all));
    let vocabulary = table.zip(scores.as_ref());
    let by_k = ks
        .iter()
        .map(|&k| {
            let rows: Vec<[f64; 6]> = concepts
                .par_iter()
                .enumerate()
                .flat_map_iter(|(c, concept)| {
                    (0..draws).map(move |d| {
                        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ ((c as u64) << 32) ^ ((k as u64) << 16) ^ d as u64;
                        let picks = draw(&mut state, concept.photos.len(), k);
                        let examples: Vec<usize> = picks.iter().map(|&p| concept.photos[p]).collect();
                        let mine = query(ranker, images, dim, &examples, vocabulary);
                        let photos = query(Ranker::Photos, images, dim, &examples, None);
                        // As search ranks a query of concepts: by cosine, without the offsets.
                        let own = if matches!(ranker, Ranker::Concept(_)) { &[] } else { offsets };
                        let (p, m) = measure(&mine, images, own, dim, &examples, &concept.photos);
                        let (pp, pm) = measure(&photos, images, offsets, dim, &examples, &concept.photos);
                        let (wp, wm) = measure(&words[c], images, offsets, dim, &examples, &concept.photos);
                        [p, m, pp, pm, wp, wm]
                    })
                })
                .collect();
            let mean = |j: usize| rows.iter().map(|r| r[j]).sum::<f64>() / rows.len().max(1) as f64;
            ByK {
                k,
                p_at_10: mean(0),
                map: mean(1),
                photos_p_at_10: mean(2),
                photos_map: mean(3),
                word_p_at_10: mean(4),
                word_map: mean(5),
            }
        })
        .collect();
    ConceptsBench {
        concepts: concepts.len(),
        words: concepts.iter().map(|c| (c.word.clone(), c.photos.len())).collect(),
        images: images.len() / dim.max(1),
        draws,
        ranker,
        by_k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_at_10_and_average_precision_count_only_the_photos_not_shown_as_examples() {
        // 12 photos on a line of angles; the query points at photo 0, so rows rank 0, 1, 2, …
        let dim = 2;
        let images: Vec<f32> = (0..12).flat_map(|i| [(i as f32 * 0.1).cos(), (i as f32 * 0.1).sin()]).collect();
        let q = [1.0, 0.0];
        // Example 0 is left out; relevant 1 and 2 rank first and second: perfect.
        let (p10, ap) = measure(&q, &images, &[], dim, &[0], &[0, 1, 2]);
        assert_eq!((p10, ap), (0.2, 1.0));
        // Relevant photos ranked 2nd and 4th: AP = (1/2 + 2/4) / 2.
        let (_, ap) = measure(&q, &images, &[], dim, &[0], &[2, 4]);
        assert!((ap - 0.5).abs() < 1e-9, "{ap}");
        // An offset lowers a photo as search does: photo 1 drops below 2 and 3.
        let offsets: Vec<f32> = (0..12).map(|i| if i == 1 { 0.05 } else { 0.0 }).collect();
        let (_, ap) = measure(&q, &images, &offsets, dim, &[0], &[1]);
        assert!((ap - 1.0 / 3.0).abs() < 1e-9, "{ap}");
    }

    #[test]
    fn a_concept_holds_the_photos_whose_captions_name_its_word_often_enough() {
        let item = |captions: &[&str]| ImageCaptions {
            image: String::new(),
            path: Default::default(),
            captions: captions.iter().map(|c| c.to_string()).collect(),
        };
        let items = vec![
            item(&["A dog in the snow .", "Snow everywhere", "a dog"]),
            item(&["A dog in the snow .", "a dog", "a dog"]),
            item(&["Snowy hills", "snow and a dog", "the snow"]),
        ];
        let concepts = choose(&items, &[0, 1, 2], 2, 2);
        let snow = concepts.iter().find(|c| c.word == "snow").expect("snow is a concept");
        assert_eq!(snow.photos, [0, 2], "one caption of three is not enough; \"snowy\" is another word");
        assert!(concepts.iter().all(|c| c.photos.len() >= 2));
    }
}

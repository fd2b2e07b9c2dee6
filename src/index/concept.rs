//! A concept taught by example: the query vector that finds more photos like a person's
//! example photos ("Rex", "grandma's garden"), in the text model's joint space.
//!
//! Two parts, mixed by [`Recipe::words_weight`]:
//! - **words**: the words of the text model's vocabulary that single out the examples
//!   from the library (each word's cosine with the examples, as a z-score against its
//!   cosines with library photos); the best few, weighted by that score, are a text query.
//!   A dog's name cannot be known, but "dog", "puppy" and "brown" can, and text finds
//!   photos the examples do not resemble pixel for pixel;
//! - **photos**: the examples' mean less the library's mean (what the examples share beyond
//!   what every photo shares), less what the bad marks share beyond the library.
//!
//! Chosen on Flickr8k's dev split with `glimpse bench concepts` (figures in the README, "Concepts: your own words").

use super::search::{dot, normalize};

/// How a concept's vector is made from its examples.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    /// Words of the vocabulary kept (the best by z-score); 0 leaves words out.
    pub words: usize,
    /// Share of the words part in the sum of the two unit parts (0: photos only).
    pub words_weight: f32,
    /// Weight of the library's mean subtracted from the examples' mean.
    pub beta: f32,
    /// Whitening of the photos part against the library's spread (exemplar LDA: the
    /// difference of means through `(Σ + λI)⁻¹`), `λ` as this multiple of the mean of
    /// `Σ`'s non-zero eigenvalues; 0 leaves it out.
    #[serde(default)]
    pub shrink: f32,
    /// Each part scaled by the inverse of its scores' spread over the library before they
    /// are mixed, so `words_weight` shares the ranking and not the vectors' lengths.
    #[serde(default)]
    pub balance: bool,
}

impl Default for Recipe {
    /// Measured on dev (`glimpse bench concepts --ranker concept`): see the module's doc.
    fn default() -> Self {
        Recipe { words: 1, words_weight: 0.5, beta: 1.0, shrink: 10.0, balance: false }
    }
}

/// Word vectors of the text model, one unit row per word, in the joint space.
#[derive(Clone, Debug, Default)]
pub struct WordTable {
    /// The words, in row order.
    pub words: Vec<String>,
    /// `words.len()` rows of `dim` values.
    pub vectors: Vec<f32>,
    /// Values per row.
    pub dim: usize,
}

impl WordTable {
    /// The table of `words`, each embedded alone by `embed` (a batch of texts in, their unit
    /// vectors of `dim` values out, row after row), 256 words per batch.
    pub fn embed(
        words: Vec<String>,
        dim: usize,
        mut embed: impl FnMut(&[&str]) -> crate::Result<Vec<f32>>,
    ) -> crate::Result<WordTable> {
        let mut vectors = Vec::with_capacity(words.len() * dim);
        for batch in words.chunks(256) {
            let texts: Vec<&str> = batch.iter().map(String::as_str).collect();
            vectors.extend(embed(&texts)?);
        }
        Ok(WordTable { words, vectors, dim })
    }

    fn row(&self, w: usize) -> &[f32] {
        &self.vectors[w * self.dim..(w + 1) * self.dim]
    }
}

/// Each word's cosine with each photo of a set, and each word's mean and spread over the
/// photos that stand for the library.
#[derive(Clone, Debug)]
pub struct WordScores {
    photos: usize,
    /// `words × photos`, row-major.
    cosines: Vec<f32>,
    mean: Vec<f32>,
    spread: Vec<f32>,
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    normalize(&mut v);
    v
}

impl WordScores {
    /// The cosines of every word of `table` with every row of `photos` (unit rows of
    /// `table.dim` values); the library's statistics are taken over the rows `library`.
    pub fn new(table: &WordTable, photos: &[f32], library: &[usize]) -> WordScores {
        let dim = table.dim.max(1);
        let (n, w) = (photos.len() / dim, table.words.len());
        // One matrix product (ndarray's blocked, vectorised kernel): 4500 words by 1000 photos
        // of 2048 values is about 0.2 s where a dot product per pair took seconds.
        let words = ndarray::ArrayView2::from_shape((w, dim), &table.vectors[..w * dim]);
        let rows = ndarray::ArrayView2::from_shape((n, dim), &photos[..n * dim]);
        let cosines: Vec<f32> = match (words, rows) {
            (Ok(words), Ok(rows)) => words.dot(&rows.t()).iter().copied().collect(),
            _ => vec![0.0; w * n],
        };
        let (mut mean, mut spread) = (Vec::with_capacity(table.words.len()), Vec::with_capacity(table.words.len()));
        for row in cosines.chunks_exact(n.max(1)).take(table.words.len()) {
            let count = library.len().max(1) as f32;
            let m = library.iter().map(|&i| row[i]).sum::<f32>() / count;
            let var = library.iter().map(|&i| (row[i] - m).powi(2)).sum::<f32>() / count;
            mean.push(m);
            spread.push(var.sqrt().max(1e-6));
        }
        // Words whose cosines hardly vary over the library ("within", "the") would win on a
        // tiny difference divided by a tiny spread: no spread counts below the median one.
        let mut sorted = spread.clone();
        sorted.sort_by(f32::total_cmp);
        let floor = sorted.get(sorted.len() / 2).copied().unwrap_or(1e-6);
        spread.iter_mut().for_each(|s| *s = s.max(floor));
        WordScores { photos: n, cosines, mean, spread }
    }

    /// The `keep` words that single out `examples` from the library (and from `negatives`,
    /// when there are any) best, as (word row, z-score), best first; only words whose
    /// z-score is positive.
    pub fn best_words(&self, examples: &[usize], negatives: &[usize], keep: usize) -> Vec<(usize, f32)> {
        let mean_of = |row: &[f32], of: &[usize]| of.iter().map(|&i| row[i]).sum::<f32>() / of.len().max(1) as f32;
        let mut z: Vec<(usize, f32)> = self
            .cosines
            .chunks_exact(self.photos.max(1))
            .enumerate()
            .map(|(w, row)| {
                let pos = mean_of(row, examples);
                let mut score = (pos - self.mean[w]) / self.spread[w];
                if !negatives.is_empty() {
                    score -= 0.5 * ((mean_of(row, negatives) - self.mean[w]) / self.spread[w]).max(0.0);
                }
                (w, score)
            })
            .filter(|(_, s)| s.is_finite() && *s > 0.0)
            .collect();
        z.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        z.truncate(keep);
        z
    }
}

/// A concept's query vector and the words that describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    /// Unit vector of the joint space: search ranks photos by their cosine with it.
    pub vector: Vec<f32>,
    /// The vocabulary's words that single the examples out, best first, with z-scores.
    pub words: Vec<(String, f32)>,
}

/// The vector of a concept whose examples are rows `examples` of `photos` (unit rows of
/// `dim`), with the bad marks `negatives`; `library` are the rows that stand for the whole
/// library, and `scores` the words' cosines with those rows (`None`: photos only).
pub fn fit(
    recipe: &Recipe,
    photos: &[f32],
    dim: usize,
    examples: &[usize],
    negatives: &[usize],
    library: &[usize],
    words: Option<(&WordTable, &WordScores)>,
) -> Fitted {
    let mean = |rows: &[usize]| {
        let mut m = vec![0.0f32; dim];
        for &r in rows {
            m.iter_mut().zip(&photos[r * dim..(r + 1) * dim]).for_each(|(a, b)| *a += b);
        }
        m.iter_mut().for_each(|a| *a /= rows.len().max(1) as f32);
        m
    };
    let (pos, all) = (mean(examples), mean(library));
    let mut visual: Vec<f32> = pos.iter().zip(&all).map(|(p, a)| p - recipe.beta * a).collect();
    if !negatives.is_empty() {
        let neg = mean(negatives);
        visual.iter_mut().zip(neg.iter().zip(&all)).for_each(|(v, (n, a))| *v -= 0.5 * (n - a));
    }
    if recipe.shrink > 0.0 {
        visual = whitened(photos, dim, library, &all, &visual, recipe.shrink);
    }
    let visual = normalized(visual);
    let Some((table, scores)) = words.filter(|_| recipe.words > 0 && recipe.words_weight > 0.0) else {
        return Fitted { vector: visual, words: Vec::new() };
    };
    let best = scores.best_words(examples, negatives, recipe.words);
    if best.is_empty() {
        return Fitted { vector: visual, words: Vec::new() };
    }
    let mut text = vec![0.0f32; dim];
    for &(w, z) in &best {
        text.iter_mut().zip(table.row(w)).for_each(|(t, v)| *t += z * v);
    }
    let text = normalized(text);
    let a = recipe.words_weight.clamp(0.0, 1.0);
    let (st, sv) = if recipe.balance {
        (spread(photos, dim, library, &text), spread(photos, dim, library, &visual))
    } else {
        (1.0, 1.0)
    };
    let vector = normalized(text.iter().zip(&visual).map(|(t, v)| a * t / st + (1.0 - a) * v / sv).collect());
    Fitted { vector, words: best.iter().map(|&(w, z)| (table.words[w].clone(), z)).collect() }
}

/// The spread (standard deviation) of `q`'s dot products with the `library` rows.
fn spread(photos: &[f32], dim: usize, library: &[usize], q: &[f32]) -> f32 {
    let scores: Vec<f32> = library.iter().map(|&r| dot(q, &photos[r * dim..(r + 1) * dim])).collect();
    let n = scores.len().max(1) as f32;
    let mean = scores.iter().sum::<f32>() / n;
    (scores.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / n).sqrt().max(1e-6)
}

/// `(Σ + λI)⁻¹ v` for the covariance `Σ` of the `library` rows (mean `mean`), `λ` as `shrink`
/// times the mean of `Σ`'s non-zero eigenvalues, by conjugate gradients on products with the rows (never
/// forming the `dim × dim` matrix: 1000 rows of 2048 values cost 4 M multiply-adds a step).
fn whitened(photos: &[f32], dim: usize, library: &[usize], mean: &[f32], v: &[f32], shrink: f32) -> Vec<f32> {
    let n = library.len().max(1) as f32;
    let centred = |r: usize| photos[r * dim..(r + 1) * dim].iter().zip(mean).map(|(x, m)| x - m);
    let trace: f32 = library.iter().map(|&r| centred(r).map(|x| x * x).sum::<f32>()).sum::<f32>() / n;
    // The mean of the non-zero eigenvalues: a library of a few photos spans few directions,
    // and a penalty from all `dim` would let directions no photo has dominate.
    let rank = library.len().min(dim).max(1) as f32;
    let lambda = (shrink * trace / rank).max(1e-9);
    let apply = |x: &[f32]| -> Vec<f32> {
        let mut out: Vec<f32> = x.iter().map(|xi| lambda * xi).collect();
        for &r in library {
            let c: Vec<f32> = centred(r).collect();
            let proj = dot(&c, x) / n;
            out.iter_mut().zip(&c).for_each(|(o, ci)| *o += proj * ci);
        }
        out
    };
    let mut x = vec![0.0f32; dim];
    let mut r = v.to_vec();
    let mut p = r.clone();
    let mut rr = dot(&r, &r);
    let start = rr;
    for _ in 0..40 {
        if rr <= start * 1e-6 {
            break;
        }
        let ap = apply(&p);
        let alpha = rr / dot(&p, &ap).max(1e-30);
        x.iter_mut().zip(&p).for_each(|(xi, pi)| *xi += alpha * pi);
        r.iter_mut().zip(&ap).for_each(|(ri, api)| *ri -= alpha * api);
        let next = dot(&r, &r);
        let beta = next / rr.max(1e-30);
        p.iter_mut().zip(&r).for_each(|(pi, ri)| *pi = ri + beta * *pi);
        rr = next;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Photos in 3-d: the first axis is "dog", the second "snow", the third noise.
    fn photos() -> Vec<f32> {
        let rows: [[f32; 3]; 6] =
            [[0.9, 0.1, 0.4], [0.8, 0.2, 0.5], [0.1, 0.9, 0.4], [0.2, 0.8, 0.5], [0.1, 0.2, 0.9], [0.7, 0.1, 0.6]];
        rows.iter().flat_map(|r| normalized(r.to_vec())).collect()
    }

    fn table() -> WordTable {
        WordTable {
            words: vec!["dog".into(), "snow".into(), "thing".into()],
            vectors: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]].concat(),
            dim: 3,
        }
    }

    #[test]
    fn the_words_that_single_out_the_examples_come_first_and_only_with_a_positive_score() {
        let (photos, table) = (photos(), table());
        let library: Vec<usize> = (0..6).collect();
        let scores = WordScores::new(&table, &photos, &library);
        let best = scores.best_words(&[0, 1], &[], 3);
        assert_eq!(best[0].0, 0, "two dog photos name \"dog\" first: {best:?}");
        assert!(best.iter().all(|(w, z)| *w != 1 && *z > 0.0), "\"snow\" is below the library's mean: {best:?}");
    }

    #[test]
    fn a_concept_of_dog_photos_ranks_the_other_dog_photo_above_the_snow_photos() {
        let (photos, table) = (photos(), table());
        let library: Vec<usize> = (0..6).collect();
        let scores = WordScores::new(&table, &photos, &library);
        for recipe in [Recipe::default(), Recipe { words: 0, ..Recipe::default() }] {
            let fitted = fit(&recipe, &photos, 3, &[0, 1], &[], &library, Some((&table, &scores)));
            assert!((dot(&fitted.vector, &fitted.vector) - 1.0).abs() < 1e-5);
            let score = |r: usize| dot(&fitted.vector, &photos[r * 3..r * 3 + 3]);
            assert!(score(5) > score(2) && score(5) > score(3) && score(5) > score(4), "{recipe:?}");
            assert_eq!(fitted.words.is_empty(), recipe.words == 0);
        }
    }

    #[test]
    fn a_bad_mark_moves_the_vector_away_from_what_it_shows() {
        let (photos, table) = (photos(), table());
        let library: Vec<usize> = (0..6).collect();
        let scores = WordScores::new(&table, &photos, &library);
        let recipe = Recipe::default();
        let plain = fit(&recipe, &photos, 3, &[0, 1], &[], &library, Some((&table, &scores)));
        let marked = fit(&recipe, &photos, 3, &[0, 1], &[4], &library, Some((&table, &scores)));
        let at = |v: &[f32]| dot(v, &photos[12..15]);
        assert!(at(&marked.vector) < at(&plain.vector));
    }
}

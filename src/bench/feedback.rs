//! Relevance feedback measured with a simulated user on a Flickr8k split: for each caption,
//! the user marks its true photo good when it is in the top 10 and the other top-10 photos
//! bad; the query moves (Rocchio) and the split is ranked again. Reported as text→image
//! Recall@1/5/10 before and after, per weight setting, and again with bad marks only.

use rayon::prelude::*;
use serde::Serialize;

use super::{SHOWN, best_rows};
use crate::index::feedback::Rocchio;
use crate::train::eval::Recall;

/// Which marks the simulated user gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Marks {
    /// The true photo good (when shown), the other shown photos bad.
    GoodAndBad,
    /// Only the shown photos that are not the true one, as bad.
    BadOnly,
}

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct FeedbackRow {
    /// Which marks.
    pub marks: Marks,
    /// Weight of the query.
    pub a: f32,
    /// Weight of the good photos' mean.
    pub b: f32,
    /// Weight of the bad photos' mean.
    pub c: f32,
    /// Text→image recall after one round of feedback.
    pub after: Recall,
}

/// The whole measurement.
#[derive(Clone, Debug, Serialize)]
pub struct FeedbackTable {
    /// Captions used as queries.
    pub captions: usize,
    /// Photos ranked.
    pub images: usize,
    /// Text→image recall with no feedback.
    pub before: Recall,
    /// One row per marks × weights.
    pub rows: Vec<FeedbackRow>,
}

/// The weights tried: the textbook default and a grid around it.
pub fn weight_grid() -> Vec<Rocchio> {
    let mut grid = vec![Rocchio::default()];
    for b in [0.25f32, 0.5, 1.0, 2.0] {
        for c in [0.0f32, 0.15, 0.3, 0.6] {
            let w = Rocchio { a: 1.0, b, c };
            if !grid.contains(&w) {
                grid.push(w);
            }
        }
    }
    grid
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Every photo's score for `q` as search computes it: the cosine (the query scaled to unit
/// length, the rows are) minus the photo's offset (`offsets` empty: none).
fn scores(q: &[f32], images: &[f32], offsets: &[f32], dim: usize) -> Vec<f32> {
    let norm = dot(q, q).sqrt();
    let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    images
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, row)| scale * dot(q, row) - offsets.get(i).copied().unwrap_or(0.0))
        .collect()
}

/// 1-based rank of photo `truth` for query `q` (ties count in its favour).
fn rank_of(q: &[f32], images: &[f32], offsets: &[f32], dim: usize, truth: usize) -> usize {
    let scores = scores(q, images, offsets, dim);
    let t = scores[truth];
    1 + scores.iter().filter(|&&s| s > t).count()
}

/// The `SHOWN` best photos for `q`, best first.
fn shown(q: &[f32], images: &[f32], offsets: &[f32], dim: usize) -> Vec<usize> {
    best_rows(scores(q, images, offsets, dim).into_iter().zip(0..).collect(), SHOWN)
}

/// Runs the simulated user over every caption (unit rows in `captions`, their photos in
/// `caption_image`) against `images` (unit rows, with their hubness `offsets`, or empty for
/// none), for each of `weights` and both kinds of marks.
pub fn simulate(
    images: &[f32],
    offsets: &[f32],
    captions: &[f32],
    dim: usize,
    caption_image: &[usize],
    weights: &[Rocchio],
) -> FeedbackTable {
    let n_img = images.len() / dim.max(1);
    let row = |m: &[f32], i: usize| m[i * dim..(i + 1) * dim].to_vec();
    // What each caption's user sees first: the same for every weight setting.
    let first: Vec<(usize, Vec<usize>)> = caption_image
        .par_iter()
        .enumerate()
        .map(|(c, &truth)| {
            let q = &captions[c * dim..(c + 1) * dim];
            (rank_of(q, images, offsets, dim, truth), shown(q, images, offsets, dim))
        })
        .collect();
    let before = Recall::from_ranks(&first.iter().map(|(r, _)| *r).collect::<Vec<_>>());
    let mut rows = Vec::new();
    for marks in [Marks::GoodAndBad, Marks::BadOnly] {
        let mut seen_c = Vec::new();
        for w in weights {
            // With bad marks only, b plays no part: one row per c.
            if marks == Marks::BadOnly {
                if seen_c.contains(&w.c) {
                    continue;
                }
                seen_c.push(w.c);
            }
            let ranks: Vec<usize> = caption_image
                .par_iter()
                .enumerate()
                .map(|(c, &truth)| {
                    let seen = &first[c].1;
                    let good: Vec<Vec<f32>> = match marks {
                        Marks::GoodAndBad if seen.contains(&truth) => vec![row(images, truth)],
                        _ => Vec::new(),
                    };
                    let bad: Vec<Vec<f32>> = seen.iter().filter(|&&i| i != truth).map(|&i| row(images, i)).collect();
                    let q = w.apply(&captions[c * dim..(c + 1) * dim], &good, &bad);
                    rank_of(&q, images, offsets, dim, truth)
                })
                .collect();
            rows.push(FeedbackRow { marks, a: w.a, b: w.b, c: w.c, after: Recall::from_ranks(&ranks) });
        }
    }
    FeedbackTable { captions: caption_image.len(), images: n_img, before, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three photos on the axes; a caption between photo 0 and photo 1, nearer 1, whose
    /// true photo is 0.
    fn case() -> (Vec<f32>, Vec<f32>, Vec<usize>) {
        let images = vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let (x, y) = (0.6f32, 0.8f32);
        (images, vec![x, y, 0.0], vec![0])
    }

    #[test]
    fn marking_the_true_photo_good_lifts_it_to_first_place() {
        let (images, captions, truth) = case();
        let table = simulate(&images, &[], &captions, 3, &truth, &[Rocchio { a: 1.0, b: 0.75, c: 0.15 }]);
        assert_eq!(table.before.r1, 0.0);
        let good_and_bad = &table.rows[0];
        assert_eq!(good_and_bad.marks, Marks::GoodAndBad);
        assert_eq!(good_and_bad.after.r1, 100.0);
    }

    #[test]
    fn bad_marks_alone_push_the_wrong_photo_down_only_when_their_weight_is_large_enough() {
        let (images, captions, truth) = case();
        let weak = Rocchio { a: 1.0, b: 0.0, c: 0.1 };
        let strong = Rocchio { a: 1.0, b: 0.0, c: 0.5 };
        let table = simulate(&images, &[], &captions, 3, &truth, &[weak, strong]);
        let bad_only: Vec<&FeedbackRow> = table.rows.iter().filter(|r| r.marks == Marks::BadOnly).collect();
        // Bad = photos 1 and 2, mean (0, ½, ½): photo 1 scores 0.8 − c/2 against photo 0's 0.6.
        assert_eq!(bad_only[0].after.r1, 0.0);
        assert_eq!(bad_only[1].after.r1, 100.0);
    }
}

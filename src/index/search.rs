//! Cosine top-K over a contiguous matrix of L2-normalised rows.

use serde::Serialize;

/// One result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    /// Row in the matrix (the photo's position in the index).
    pub row: usize,
    /// Cosine similarity, −1 to 1.
    pub score: f32,
}

/// Rows of equal length, each scaled to unit length, stored back to back so that a query
/// is one pass of dot products over contiguous memory.
#[derive(Clone, Debug, Default)]
pub struct Matrix {
    dim: usize,
    data: Vec<f32>,
}

/// Scales a vector to unit length in place (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Dot product with eight independent accumulators, which the compiler turns into SIMD.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for i in 0..chunks {
        for l in 0..8 {
            acc[l] += a[i * 8 + l] * b[i * 8 + l];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

impl Matrix {
    /// An empty matrix of `dim` columns.
    pub fn new(dim: usize) -> Self {
        Matrix { dim, data: Vec::new() }
    }

    /// Appends a row, normalised. Rows of the wrong length are a bug of the caller.
    pub fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.dim);
        let start = self.data.len();
        self.data.extend_from_slice(row);
        normalize(&mut self.data[start..]);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The `k` rows most similar to `query` (normalised here), best first. Scores every
    /// row, then selects the top `k` without sorting the rest.
    pub fn top_k(&self, query: &[f32], k: usize, allow: impl Fn(usize) -> bool) -> Vec<SearchHit> {
        let mut q = query.to_vec();
        normalize(&mut q);
        let mut hits: Vec<SearchHit> = self
            .data
            .chunks_exact(self.dim.max(1))
            .enumerate()
            .filter(|(row, _)| allow(*row))
            .map(|(row, v)| SearchHit { row, score: dot(&q, v) })
            .collect();
        let by_score = |a: &SearchHit, b: &SearchHit| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row));
        if hits.len() > k && k > 0 {
            hits.select_nth_unstable_by(k - 1, by_score);
            hits.truncate(k);
        }
        hits.truncate(k);
        hits.sort_by(by_score);
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_returns_the_most_similar_rows_best_first() {
        let mut m = Matrix::new(3);
        for row in [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.9, 0.1, 0.0]] {
            m.push(&row);
        }
        let hits = m.top_k(&[2.0, 0.0, 0.0], 3, |_| true);
        assert_eq!(hits.iter().map(|h| h.row).collect::<Vec<_>>(), [0, 4, 2]);
        assert!((hits[0].score - 1.0).abs() < 1e-6);
        assert!((hits[2].score - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(m.top_k(&[1.0, 0.0, 0.0], 10, |_| true).len(), 5);
    }

    #[test]
    fn a_filter_removing_the_best_rows_still_returns_k_results() {
        let mut m = Matrix::new(2);
        for i in 0..20 {
            m.push(&[1.0, i as f32 * 0.1]);
        }
        let hits = m.top_k(&[1.0, 0.0], 5, |row| row >= 10);
        assert_eq!(hits.iter().map(|h| h.row).collect::<Vec<_>>(), [10, 11, 12, 13, 14]);
    }

    #[test]
    fn the_simd_friendly_dot_product_matches_the_plain_one_for_odd_lengths() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| (i % 5) as f32 - 2.0).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}

//! Cosine top-K over a contiguous matrix of L2-normalised rows.

use serde::Serialize;

/// One result.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    /// Row in the matrix (the photo's position in the index).
    pub row: usize,
    /// Cosine similarity, −1 to 1 (less the row's offset, for the compact joint codes).
    pub score: f32,
}

/// Rows of equal length, each scaled to unit length, stored back to back so that a query
/// is one pass of dot products over contiguous memory: the library's backbone features.
/// (The joint codes, whose rows carry hubness offsets, are [`super::compact::CompactMatrix`].)
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

/// Dot product of equal-length slices: AVX2+FMA when the processor has it (checked once
/// per call, a few nanoseconds), else eight independent accumulators that compile to SSE.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[allow(unsafe_code)]
        // SAFETY: the features this function is compiled for were just detected.
        return unsafe { dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    // The same code as the portable one; compiled with AVX2 it uses 256-bit fused multiply-adds.
    dot_portable(a, b)
}

#[inline(always)]
fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] = x[l].mul_add(y[l], acc[l]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
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
        self.append_normalised(row);
    }

    fn append_normalised(&mut self, row: &[f32]) {
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

    /// One row (unit length).
    pub fn row(&self, row: usize) -> &[f32] {
        &self.data[row * self.dim..(row + 1) * self.dim]
    }

    /// Row width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The `k` rows most similar to `query` (normalised here) among those `allow` accepts,
    /// best first. Blocks of rows are scored in parallel; each keeps its own top `k` by
    /// partial selection, and only those few are merged and sorted.
    pub fn top_k(&self, query: &[f32], k: usize, allow: impl Fn(usize) -> bool + Sync) -> Vec<SearchHit> {
        let mut q = query.to_vec();
        normalize(&mut q);
        top_k_by_blocks(&self.data, self.dim, k, |row, v| allow(row).then(|| dot(&q, v)))
    }
}

/// Rows per parallel block: large enough that thread hand-off is noise (~1 ms of work).
const BLOCK_ROWS: usize = 8192;

/// The `k` best rows of `data` (rows of `dim` values, back to back), best first and equal
/// scores by row: `score` gives a row's score from its index and values, or `None` to leave
/// it out. Above two blocks of [`BLOCK_ROWS`] rows, blocks are scored in parallel; each
/// keeps its own best `k` by partial selection, and only those few are merged and sorted.
pub(crate) fn top_k_by_blocks<T: Sync>(
    data: &[T],
    dim: usize,
    k: usize,
    score: impl Fn(usize, &[T]) -> Option<f32> + Sync,
) -> Vec<SearchHit> {
    use rayon::prelude::*;
    if k == 0 || dim == 0 {
        return Vec::new();
    }
    let block = BLOCK_ROWS * dim;
    let local = |first_row: usize, rows: &[T]| -> Vec<SearchHit> {
        let mut hits: Vec<SearchHit> = rows
            .chunks_exact(dim)
            .enumerate()
            .filter_map(|(i, v)| score(first_row + i, v).map(|score| SearchHit { row: first_row + i, score }))
            .collect();
        keep_best(&mut hits, k);
        hits
    };
    let mut hits: Vec<SearchHit> = if data.len() > 2 * block {
        data.par_chunks(block).enumerate().flat_map_iter(|(b, rows)| local(b * BLOCK_ROWS, rows)).collect()
    } else {
        local(0, data)
    };
    keep_best(&mut hits, k);
    hits.sort_by(by_score);
    hits
}

/// Best first: higher score, then lower row.
fn by_score(a: &SearchHit, b: &SearchHit) -> std::cmp::Ordering {
    b.score.total_cmp(&a.score).then(a.row.cmp(&b.row))
}

/// Keeps the `k` best hits, unordered, without sorting the rest.
fn keep_best(hits: &mut Vec<SearchHit>, k: usize) {
    if hits.len() > k {
        hits.select_nth_unstable_by(k - 1, by_score);
        hits.truncate(k);
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
    fn blocks_merged_in_parallel_give_the_same_hits_as_sorting_every_row() {
        // Scores from a xorshift generator, on a coarse grid so that many rows tie.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let scores: Vec<f32> = (0..5 * BLOCK_ROWS + 17)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 1000) as f32 / 1000.0
            })
            .collect();
        let left_out = |row: usize| row % 7 == 3;
        for n in [100, scores.len()] {
            let scores = &scores[..n];
            let mut sorted: Vec<SearchHit> =
                (0..n).filter(|&row| !left_out(row)).map(|row| SearchHit { row, score: scores[row] }).collect();
            sorted.sort_by(by_score);
            // One, a few, more than a block, all of them, more than there are.
            for k in [1, 25, BLOCK_ROWS + 5, sorted.len(), n + 10] {
                let hits = top_k_by_blocks(scores, 1, k, |row, s| (!left_out(row)).then_some(s[0]));
                assert_eq!(hits, sorted[..k.min(sorted.len())], "n {n}, k {k}");
            }
        }
    }

    #[test]
    fn the_simd_friendly_dot_product_matches_the_plain_one_for_odd_lengths() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| (i % 5) as f32 - 2.0).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}

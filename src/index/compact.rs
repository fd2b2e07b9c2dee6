//! Compact joint vectors: what search keeps in memory per photo.
//!
//! A [`Codec`] maps a unit joint vector `x` (D values) to `k` signed bytes: `y = B x` through
//! an orthonormal basis `B` (`k × D`, fitted on training photos and captions and stored with
//! the text model, see `train::compact`), then `code_j = round(y_j / s_j)` with one scale per
//! dimension, clipped to ±127. A text query `t` is projected the same way, unquantised, so a
//! photo's score `Σ_j (B t)_j · s_j · code_j` approximates `t · x` (the part of `t` outside
//! the basis' span meets only the small part of `x` outside it). Without a fitted basis the
//! codec keeps every dimension ([`Codec::plain`]).
//!
//! [`CompactMatrix`] holds the codes of a library back to back and ranks them with integer
//! dot products: the query is rounded to 16-bit integers (relative error below 1e-4), each
//! row costs `k` multiply-adds into 32-bit sums, which compile to packed `vpmaddwd` on AVX2.

use super::search::{SearchHit, top_k_by_blocks};
use crate::{Error, Result};

/// First bytes of a stored codec.
pub const MAGIC: &[u8; 8] = b"GLMPSCMP";
/// Format of a stored codec.
pub const FORMAT: u32 = 1;

/// A projection to `k` dimensions and one scale per dimension.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Codec {
    /// Length of the vectors it takes.
    pub input_dim: usize,
    /// `k × input_dim`, row-major, orthonormal rows; empty: the identity (`k = input_dim`).
    pub basis: Vec<f32>,
    /// Size of one code step in each of the `k` dimensions.
    pub scales: Vec<f32>,
    /// [`Codec::id`], computed on its first call (it hashes the whole basis, and search
    /// compares it on every query).
    #[serde(skip)]
    id: std::sync::OnceLock<String>,
}

impl Codec {
    /// A codec of `scales.len()` dimensions through `basis` (empty: the identity).
    pub fn new(input_dim: usize, basis: Vec<f32>, scales: Vec<f32>) -> Codec {
        Codec { input_dim, basis, scales, id: std::sync::OnceLock::new() }
    }

    /// Keeps every dimension of `dim`-long unit vectors, one byte each. Components of a
    /// unit vector spread over `dim` values are about `1/√dim`; codes step by a 32nd of
    /// that and clip at four times it, beyond which a component is rarer than 1 in 10⁴.
    pub fn plain(dim: usize) -> Codec {
        let step = 4.0 / (127.0 * (dim.max(1) as f32).sqrt());
        Codec::new(dim, Vec::new(), vec![step; dim])
    }

    /// Dimensions of a code.
    pub fn dim(&self) -> usize {
        self.scales.len()
    }

    /// A stable name for this codec, recorded in the index with the vectors it made.
    pub fn id(&self) -> &str {
        self.id.get_or_init(|| {
            let mut hasher = blake3::Hasher::new();
            hasher.update(&(self.input_dim as u64).to_le_bytes());
            // f32 values as their little-endian bytes (x86 and ARM Linux are little-endian).
            hasher.update(bytemuck::cast_slice(&self.basis));
            hasher.update(bytemuck::cast_slice(&self.scales));
            format!("compact-{}", &hasher.finalize().to_hex()[..16])
        })
    }

    /// `B x`: the vector in the codec's `k` dimensions (unquantised).
    pub fn project(&self, x: &[f32]) -> Vec<f32> {
        debug_assert_eq!(x.len(), self.input_dim);
        if self.basis.is_empty() {
            return x.to_vec();
        }
        self.basis.chunks_exact(self.input_dim).map(|b| super::search::dot(b, x)).collect()
    }

    /// The codes of a vector.
    pub fn encode(&self, x: &[f32]) -> Vec<i8> {
        self.project(x).iter().zip(&self.scales).map(|(y, s)| (y / s).round().clamp(-127.0, 127.0) as i8).collect()
    }

    /// The projected vector that `codes` stand for.
    pub fn decode(&self, codes: &[i8]) -> Vec<f32> {
        codes.iter().zip(&self.scales).map(|(&c, s)| c as f32 * s).collect()
    }

    /// The vector in the input space that `codes` stand for: `Bᵀ` of [`Codec::decode`].
    pub fn reconstruct(&self, codes: &[i8]) -> Vec<f32> {
        let y = self.decode(codes);
        if self.basis.is_empty() {
            return y;
        }
        let mut x = vec![0.0f32; self.input_dim];
        for (b, yj) in self.basis.chunks_exact(self.input_dim).zip(&y) {
            x.iter_mut().zip(b).for_each(|(xi, bi)| *xi += yj * bi);
        }
        x
    }

    /// The codec as bytes: a checked container (magic, format, length, blake3) around bincode.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let payload = crate::checked::encode(self, "the compact projection")?;
        Ok(crate::checked::container(MAGIC, FORMAT, &payload))
    }

    /// Reads bytes written by [`Codec::to_bytes`], checking them whole.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Codec, String> {
        let format = crate::checked::container_format(bytes, MAGIC).map_err(|r| r.to_string())?;
        if format != FORMAT {
            return Err(format!("it has format {format}; this Glimpse reads {FORMAT}"));
        }
        let payload = crate::checked::container_payload(bytes).map_err(|r| r.to_string())?;
        let codec: Codec = crate::checked::decode(payload)?;
        let k = codec.scales.len();
        if k == 0 || codec.basis.len() != if codec.basis.is_empty() { 0 } else { k * codec.input_dim } {
            return Err(format!(
                "its basis has {} values for {k} dimensions of {}",
                codec.basis.len(),
                codec.input_dim
            ));
        }
        if codec.basis.is_empty() && k != codec.input_dim {
            return Err(format!("it keeps {k} of {} dimensions without a basis", codec.input_dim));
        }
        if codec.scales.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err("a scale is not a positive number".into());
        }
        Ok(codec)
    }

    /// Reads a codec file.
    pub fn load(path: &std::path::Path) -> Result<Codec> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Codec::from_bytes(&bytes)
            .map_err(|reason| Error::model(path, format!("the compact projection is unusable: {reason}")))
    }

    /// The codec of a model folder `dir` whose joint space is `joint_dim` long: its fitted
    /// file `(name, sha256)` when it has one (checked), else [`Codec::plain`].
    pub fn for_model(dir: &std::path::Path, file: Option<(&str, &str)>, joint_dim: usize) -> Result<Codec> {
        let Some((name, sha256)) = file else { return Ok(Codec::plain(joint_dim)) };
        let path = dir.join(name);
        crate::engine::manifest::check_sha256(
            &path,
            sha256,
            "manifest.json",
            "fit it again with `glimpse compact --write`",
        )?;
        let codec = Codec::load(&path)?;
        if codec.input_dim != joint_dim {
            return Err(Error::model(
                &path,
                format!(
                    "the compact projection takes {}-long vectors; the model's are {joint_dim}-long",
                    codec.input_dim
                ),
            ));
        }
        Ok(codec)
    }

    /// A query for [`CompactMatrix::top_k`]: `t` projected and weighted by the scales.
    pub fn query(&self, t: &[f32]) -> CompactQuery {
        let weights: Vec<f32> = self.project(t).iter().zip(&self.scales).map(|(y, s)| y * s).collect();
        CompactQuery::new(&weights)
    }
}

/// A query as integers: `weights ≈ scale · ints`, sized so that no row's sum can overflow.
#[derive(Clone, Debug)]
pub struct CompactQuery {
    ints: Vec<i16>,
    scale: f32,
}

impl CompactQuery {
    fn new(weights: &[f32]) -> CompactQuery {
        let biggest = weights.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        // |Σ ints · codes| ≤ k · top · 127 must stay below 2³¹.
        let top = ((i32::MAX as f64) / (127.0 * weights.len().max(1) as f64)).min(32767.0) as f32;
        let scale = if biggest > 0.0 { biggest / top } else { 1.0 };
        let ints = weights.iter().map(|w| (w / scale).round() as i16).collect();
        CompactQuery { ints, scale }
    }

    /// The query's score against one row of codes (no offset).
    pub fn score(&self, codes: &[i8]) -> f32 {
        dot_i8(&self.ints, codes) as f32 * self.scale
    }

    fn score_with(&self, dot: DotI8, codes: &[i8]) -> f32 {
        dot(&self.ints, codes) as f32 * self.scale
    }
}

/// An integer dot product of a query and one row of codes.
type DotI8 = fn(&[i16], &[i8]) -> i32;

/// The fastest integer dot product this processor runs: AVX2 (`vpmovsxbw` + `vpmaddwd`,
/// sixteen codes per step) when it has it, else portable code. Chosen once per search.
fn dot_i8_kernel() -> DotI8 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[allow(unsafe_code)]
        // SAFETY: the feature the kernel is compiled for was just detected.
        return |q, c| unsafe { dot_i8_avx2(q, c) };
    }
    dot_i8_portable
}

fn dot_i8(q: &[i16], c: &[i8]) -> i32 {
    dot_i8_kernel()(q, c)
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2")]
unsafe fn dot_i8_avx2(q: &[i16], c: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = q.len().min(c.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 ≤ n, so both unaligned loads stay inside the slices.
        let (codes, query) = unsafe {
            (
                _mm_loadu_si128(c.as_ptr().add(i).cast::<__m128i>()),
                _mm256_loadu_si256(q.as_ptr().add(i).cast::<__m256i>()),
            )
        };
        // Pairs of i16 products summed into i32 lanes: |q·c| ≤ 2 · 32767 · 127 per lane and step.
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(query, _mm256_cvtepi8_epi16(codes)));
        i += 16;
    }
    let halves = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
    let pairs = _mm_add_epi32(halves, _mm_shuffle_epi32::<0b01_00_11_10>(halves));
    let total = _mm_add_epi32(pairs, _mm_shuffle_epi32::<0b10_11_00_01>(pairs));
    let mut sum = _mm_cvtsi128_si32(total);
    for j in i..n {
        sum += q[j] as i32 * c[j] as i32;
    }
    sum
}

fn dot_i8_portable(q: &[i16], c: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (cq, cc) = (q.chunks_exact(16), c.chunks_exact(16));
    let (rq, rc) = (cq.remainder(), cc.remainder());
    for (x, y) in cq.zip(cc) {
        for l in 0..16 {
            acc[l] += x[l] as i32 * y[l] as i32;
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (x, y) in rq.iter().zip(rc) {
        sum += *x as i32 * *y as i32;
    }
    sum
}

/// The codes of a library's photos back to back, with each photo's hubness offset.
#[derive(Clone, Debug, Default)]
pub struct CompactMatrix {
    dim: usize,
    codes: Vec<i8>,
    offsets: Vec<f32>,
}

impl CompactMatrix {
    /// An empty matrix of `dim`-byte codes.
    pub fn new(dim: usize) -> Self {
        CompactMatrix { dim, codes: Vec::new(), offsets: Vec::new() }
    }

    /// A matrix of `dim`-byte codes from stored rows, each `dim` codes then an f32 LE offset.
    pub fn from_rows(dim: usize, rows: &[u8]) -> Self {
        let n = rows.len() / (dim + 4);
        let mut m = CompactMatrix { dim, codes: Vec::with_capacity(n * dim), offsets: Vec::with_capacity(n) };
        for row in rows.chunks_exact(dim + 4) {
            m.codes.extend(row[..dim].iter().map(|&b| b as i8));
            m.offsets.push(f32::from_le_bytes([row[dim], row[dim + 1], row[dim + 2], row[dim + 3]]));
        }
        m
    }

    /// Room for `rows` more rows.
    pub fn reserve(&mut self, rows: usize) {
        self.codes.reserve(rows * self.dim);
        self.offsets.reserve(rows);
    }

    /// Appends a row and its offset (zero when the model is not calibrated).
    pub fn push(&mut self, codes: &[i8], offset: f32) {
        debug_assert_eq!(codes.len(), self.dim);
        self.codes.extend_from_slice(codes);
        self.offsets.push(offset);
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Bytes of a code.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// One row's codes.
    pub fn row(&self, row: usize) -> &[i8] {
        &self.codes[row * self.dim..(row + 1) * self.dim]
    }

    /// The offset subtracted from a row's scores.
    pub fn offset(&self, row: usize) -> f32 {
        self.offsets.get(row).copied().unwrap_or(0.0)
    }

    /// The `k` rows scoring best against `query` among those `allow` accepts, best first;
    /// with `offsets`, each row's offset is subtracted from its score (text queries on a
    /// calibrated model), without them the score is the plain similarity (photo to photo).
    /// Blocks of rows are scored in parallel, each keeping its own best `k`.
    pub fn top_k(
        &self,
        query: &CompactQuery,
        k: usize,
        offsets: bool,
        allow: impl Fn(usize) -> bool + Sync,
    ) -> Vec<SearchHit> {
        if query.ints.len() != self.dim {
            return Vec::new();
        }
        let dot = dot_i8_kernel();
        top_k_by_blocks(&self.codes, self.dim, k, |row, c| {
            allow(row).then(|| query.score_with(dot, c) - if offsets { self.offsets[row] } else { 0.0 })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::search::normalize;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2001) as f32 / 1000.0 - 1.0
            })
            .collect();
        normalize(&mut v);
        v
    }

    #[test]
    fn a_plain_codec_scores_close_to_the_exact_cosine_and_keeps_the_order() {
        let dim = 64;
        let codec = Codec::plain(dim);
        let rows: Vec<Vec<f32>> = (0..200).map(|i| unit(i, dim)).collect();
        let mut m = CompactMatrix::new(codec.dim());
        rows.iter().for_each(|r| m.push(&codec.encode(r), 0.0));
        let q = unit(999, dim);
        let cq = codec.query(&q);
        for (i, r) in rows.iter().enumerate() {
            let exact: f32 = r.iter().zip(&q).map(|(a, b)| a * b).sum();
            assert!((cq.score(m.row(i)) - exact).abs() < 0.02, "row {i}");
        }
        let best = (0..rows.len())
            .max_by(|&a, &b| {
                let s = |i: usize| rows[i].iter().zip(&q).map(|(x, y)| x * y).sum::<f32>();
                s(a).total_cmp(&s(b))
            })
            .unwrap();
        assert_eq!(m.top_k(&cq, 1, false, |_| true)[0].row, best);
    }

    #[test]
    fn a_basis_projects_and_offsets_lower_scores_only_when_asked() {
        // A basis keeping the first two of three dimensions.
        let codec = Codec::new(3, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0], vec![0.25, 0.5]);
        assert_eq!(codec.encode(&[0.5, -1.0, 7.0]), vec![2, -2]);
        assert_eq!(codec.decode(&[2, -2]), vec![0.5, -1.0]);
        assert_eq!(codec.reconstruct(&[2, -2]), vec![0.5, -1.0, 0.0]);
        let mut m = CompactMatrix::new(2);
        m.push(&codec.encode(&[1.0, 0.0, 0.0]), 0.5);
        m.push(&codec.encode(&[0.8, 0.6, 0.0]), 0.0);
        let q = codec.query(&[1.0, 0.0, 0.0]);
        let rows = |offsets| m.top_k(&q, 2, offsets, |_| true).iter().map(|h| h.row).collect::<Vec<_>>();
        assert_eq!(rows(false), [0, 1]);
        assert_eq!(rows(true), [1, 0]);
        assert_eq!(m.top_k(&q, 2, false, |r| r == 1).len(), 1);
    }

    #[test]
    fn a_stored_codec_reads_back_and_a_damaged_one_is_refused() {
        let codec = Codec::new(3, vec![1.0, 0.0, 0.0], vec![0.5]);
        let bytes = codec.to_bytes().unwrap();
        assert_eq!(Codec::from_bytes(&bytes).unwrap(), codec);
        assert_ne!(codec.id(), Codec::plain(3).id());
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(Codec::from_bytes(&bad).unwrap_err().contains("checksum"));
        let wrong = Codec::new(3, vec![1.0, 0.0], vec![0.5]);
        assert!(Codec::from_bytes(&wrong.to_bytes().unwrap()).unwrap_err().contains("basis"));
    }

    #[test]
    fn the_integer_dot_products_match_the_plain_one_for_odd_lengths_and_extreme_values() {
        for n in [0usize, 5, 16, 37, 256] {
            let q: Vec<i16> =
                (0..n).map(|i| if i % 3 == 0 { i16::MAX } else { (i as i32 * 900 - 16000) as i16 }).collect();
            let c: Vec<i8> = (0..n).map(|i| if i % 5 == 0 { 127 } else { ((i * 7) % 255) as i32 as i8 }).collect();
            let plain: i32 = q.iter().zip(&c).map(|(a, b)| *a as i32 * *b as i32).sum();
            assert_eq!(dot_i8(&q, &c), plain, "{n}");
            assert_eq!(dot_i8_portable(&q, &c), plain, "{n}");
        }
    }
}

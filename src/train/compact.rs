//! Fitting the compact projection that search stores per photo (see
//! [`crate::index::compact`]): the `k` directions that carry the most of the joint space's
//! energy over training photos and captions, and one int8 step per direction.
//!
//! The directions span the dominant subspace of `M = (XᵀX/n_x + TᵀT/n_t) / 2` (uncentred,
//! photos `X` and captions `T` weighted equally), found by subspace iteration: `Q ← orth(M Q)`
//! from a seeded random start, with modified Gram–Schmidt. The error of a score `t · x` is
//! then `t⊥ · x⊥`, the parts of both outside the span, which is what `M`'s leftover energy
//! bounds. The rows are ordered by the energy they carry. Each step is the largest
//! magnitude a training photo reaches in that direction (its `clip` quantile) over 127.

use std::path::Path;

use candle_core::{Device, Tensor};

use super::model::candle_err;
use super::rng::Rng;
use crate::engine::manifest::sha256_file;
use crate::index::compact::Codec;
use crate::model::manifest::{COMPACT_FILE, CompactRef, JointManifest};
use crate::{Error, Result};

/// Subspace iterations: the captured energy changes by less than 1e-4 after about 20.
const ITERATIONS: usize = 30;

/// Fits a codec of `k` dimensions on unit rows of `images` and `captions` (`dim` values
/// each); `clip` is the quantile of the photos' magnitudes that the int8 range covers.
pub fn fit(images: &[f32], captions: &[f32], dim: usize, k: usize, clip: f32, seed: u64) -> Result<Codec> {
    let (n_x, n_t) = (images.len() / dim.max(1), captions.len() / dim.max(1));
    if dim == 0 || n_x == 0 || n_t == 0 || images.len() != n_x * dim || captions.len() != n_t * dim {
        return Err(Error::Invalid("fitting a compact projection needs whole rows of photos and captions".into()));
    }
    if k == 0 || k > dim {
        return Err(Error::Invalid(format!("a compact projection keeps 1 to {dim} dimensions, not {k}")));
    }
    let second_moment = |rows: &[f32], n: usize| -> candle_core::Result<Tensor> {
        let x = Tensor::from_slice(rows, (n, dim), &Device::Cpu)?;
        x.t()?.matmul(&x)?.affine(0.5 / n as f64, 0.0)
    };
    let m = (second_moment(images, n_x).map_err(candle_err)? + second_moment(captions, n_t).map_err(candle_err)?)
        .map_err(candle_err)?;
    let mut rng = Rng::new(seed);
    let mut basis: Vec<f32> = (0..k * dim).map(|_| rng.range(-1.0, 1.0)).collect();
    orthonormalise(&mut basis, dim);
    for _ in 0..ITERATIONS {
        // Rows of Qᵀ M are the columns of M Q (M is symmetric).
        let q = Tensor::from_slice(&basis, (k, dim), &Device::Cpu).map_err(candle_err)?;
        basis = q.matmul(&m).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).map_err(candle_err)?;
        orthonormalise(&mut basis, dim);
    }
    // Order by the energy each direction carries: qᵢᵀ M qᵢ.
    let q = Tensor::from_slice(&basis, (k, dim), &Device::Cpu).map_err(candle_err)?;
    let mq = q.matmul(&m).and_then(|t| t.flatten_all()?.to_vec1::<f32>()).map_err(candle_err)?;
    let energy: Vec<f32> = (0..k)
        .map(|i| crate::index::search::dot(&basis[i * dim..(i + 1) * dim], &mq[i * dim..(i + 1) * dim]))
        .collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| energy[b].total_cmp(&energy[a]));
    let basis: Vec<f32> = order.iter().flat_map(|&i| basis[i * dim..(i + 1) * dim].to_vec()).collect();
    let mut codec = Codec::new(dim, basis, vec![1.0; k]);
    // One step per direction from the photos' projections.
    let projected: Vec<Vec<f32>> = images.chunks_exact(dim).map(|x| codec.project(x)).collect();
    for j in 0..k {
        let mut magnitudes: Vec<f32> = projected.iter().map(|y| y[j].abs()).collect();
        let at = ((clip.clamp(0.0, 1.0) * (magnitudes.len() - 1) as f32).round() as usize).min(magnitudes.len() - 1);
        let (_, top, _) = magnitudes.select_nth_unstable_by(at, f32::total_cmp);
        codec.scales[j] = (*top / 127.0).max(f32::MIN_POSITIVE);
    }
    Ok(codec)
}

/// Modified Gram–Schmidt on the rows (each `dim` long) of `rows`, in place.
fn orthonormalise(rows: &mut [f32], dim: usize) {
    let k = rows.len() / dim;
    for i in 0..k {
        let (done, rest) = rows.split_at_mut(i * dim);
        let row = &mut rest[..dim];
        for j in 0..i {
            let prev = &done[j * dim..(j + 1) * dim];
            let along = crate::index::search::dot(row, prev);
            row.iter_mut().zip(prev).for_each(|(r, p)| *r -= along * p);
        }
        crate::index::search::normalize(row);
    }
}

/// Writes `codec` into the model folder `dir` and records it in the manifest (replacing an
/// earlier one). The file goes first, so a manifest never names a file that is not there.
pub fn store(dir: &Path, codec: &Codec) -> Result<JointManifest> {
    let mut manifest = JointManifest::load(dir)?;
    if codec.input_dim != manifest.model.joint_dim {
        return Err(Error::Invalid(format!(
            "the projection takes {}-long vectors; the model's joint space is {}-long",
            codec.input_dim, manifest.model.joint_dim
        )));
    }
    let path = dir.join(COMPACT_FILE);
    crate::durable::write_atomically(&path, &[&codec.to_bytes()?])?;
    manifest.compact = Some(CompactRef { file: COMPACT_FILE.into(), sha256: sha256_file(&path)?, dim: codec.dim() });
    manifest.save(dir)?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fitted_basis_is_orthonormal_and_finds_the_subspace_the_data_lives_in() {
        // Rows in the span of the first three of eight axes: three directions keep every score.
        let dim = 8;
        let mut rng = Rng::new(7);
        let mut rows = |n: usize| -> Vec<f32> {
            (0..n)
                .flat_map(|_| {
                    let mut v = vec![0.0f32; dim];
                    v[..3].iter_mut().for_each(|x| *x = rng.range(-1.0, 1.0));
                    crate::index::search::normalize(&mut v);
                    v
                })
                .collect()
        };
        let (images, captions) = (rows(50), rows(80));
        let codec = fit(&images, &captions, dim, 3, 1.0, 1).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let d = crate::index::search::dot(
                    &codec.basis[i * dim..(i + 1) * dim],
                    &codec.basis[j * dim..(j + 1) * dim],
                );
                assert!((d - if i == j { 1.0 } else { 0.0 }).abs() < 1e-4, "{i},{j}: {d}");
            }
        }
        let (x, t) = (&images[..dim], &captions[..dim]);
        let exact = crate::index::search::dot(x, t);
        let approx = codec.query(t).score(&codec.encode(x));
        assert!((exact - approx).abs() < 0.02, "{exact} vs {approx}");
        // Clip 1.0 covers every photo: none is clipped, each code is within half a step.
        for x in images.chunks_exact(dim) {
            let (y, back) = (codec.project(x), codec.decode(&codec.encode(x)));
            assert!(y.iter().zip(&back).zip(&codec.scales).all(|((a, b), s)| (a - b).abs() <= 0.5 * s + 1e-6));
        }
        assert!(fit(&images, &captions, dim, 9, 1.0, 1).is_err());
    }
}

//! Retrieval quality of a joint space: Recall@1/5/10 and median rank, text→image (each
//! caption ranks every photo) and image→text (each photo ranks every caption; the best of
//! its own captions counts), as in the Flickr8k literature.
//!
//! Ranks are 1-based and optimistic about ties: a true item is beaten only by items strictly
//! more similar. The median rank is the lower median.

use candle_core::{Device, Tensor};

use super::model::candle_err;
pub use crate::model::config::{Metrics, Recall};
use crate::{Error, Result};

/// Ranks every photo for every caption and every caption for every photo. `images` is
/// `n_images × dim`, `captions` is `n_captions × dim` (both unit rows, row-major), and
/// `caption_image[c]` is the photo of caption c.
pub fn evaluate(images: &[f32], captions: &[f32], dim: usize, caption_image: &[usize]) -> Result<Metrics> {
    Ok(evaluate_with_ranks(images, captions, dim, caption_image, &[])?.0)
}

/// [`evaluate`], and each caption's text→image rank of its own photo (1 is best): what the
/// annotator view shows beside every caption. `offsets` (one per photo, or empty for none)
/// are subtracted from every score of their photo, as search does for a calibrated model
/// (see [`super::hubness`]); they leave image→text ranks as they are.
pub fn evaluate_with_ranks(
    images: &[f32],
    captions: &[f32],
    dim: usize,
    caption_image: &[usize],
    offsets: &[f32],
) -> Result<(Metrics, Vec<usize>)> {
    let n_img = images.len() / dim.max(1);
    let n_cap = caption_image.len();
    if dim == 0 || images.len() != n_img * dim || captions.len() != n_cap * dim || n_img == 0 {
        return Err(Error::Invalid("evaluation needs at least one photo and matching vector sizes".into()));
    }
    if let Some(&bad) = caption_image.iter().find(|&&i| i >= n_img) {
        return Err(Error::Invalid(format!("a caption belongs to photo {bad}, but there are {n_img} photos")));
    }
    if !offsets.is_empty() && offsets.len() != n_img {
        return Err(Error::Invalid(format!("{} offsets for {n_img} photos", offsets.len())));
    }
    let mut sim = similarities(captions, n_cap, images, n_img, dim).map_err(candle_err)?;
    if !offsets.is_empty() {
        for row in sim.chunks_exact_mut(n_img) {
            row.iter_mut().zip(offsets).for_each(|(s, o)| *s -= o);
        }
    }
    let mut t2i = Vec::with_capacity(n_cap);
    let mut best_i2t = vec![usize::MAX; n_img];
    for (c, &img) in caption_image.iter().enumerate() {
        let row = &sim[c * n_img..(c + 1) * n_img];
        let truth = row[img];
        t2i.push(1 + row.iter().filter(|&&s| s > truth).count());
        // This caption's rank among all captions for its photo.
        let rank = 1 + (0..n_cap).filter(|&o| sim[o * n_img + img] > truth).count();
        best_i2t[img] = best_i2t[img].min(rank);
    }
    let i2t: Vec<usize> = best_i2t.into_iter().filter(|&r| r != usize::MAX).collect();
    let metrics =
        Metrics { images: n_img, captions: n_cap, t2i: Recall::from_ranks(&t2i), i2t: Recall::from_ranks(&i2t) };
    Ok((metrics, t2i))
}

/// `a · bᵀ`, row-major `[n_a, n_b]`.
fn similarities(a: &[f32], n_a: usize, b: &[f32], n_b: usize, dim: usize) -> candle_core::Result<Vec<f32>> {
    let a = Tensor::from_slice(a, (n_a, dim), &Device::Cpu)?;
    let b = Tensor::from_slice(b, (n_b, dim), &Device::Cpu)?;
    a.matmul(&b.t()?)?.flatten_all()?.to_vec1::<f32>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recalls_and_median_rank_of_a_hand_made_case() {
        // Photos along the axes; captions 0,1 → photo 0, 2,3 → photo 1, 4,5 → photo 2.
        let images = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let captions = [
            1.0, 0.0, 0.0, // photo 0 first
            0.0, 0.8, 0.6, // photo 1, then 2; its photo 0 is last: rank 3
            0.0, 1.0, 0.0, // photo 1 first
            0.6, 0.0, 0.8, // photo 2, then 0; photo 1 last: rank 3
            s, 0.0, s, // photos 0 and 2 tie: optimistic rank 1
            0.0, 0.6, 0.8, // photo 2 first
        ];
        let m = evaluate(&images, &captions, 3, &[0, 0, 1, 1, 2, 2]).unwrap();
        assert_eq!((m.images, m.captions), (3, 6));
        // t2i ranks: 1, 3, 1, 3, 1, 1.
        assert!((m.t2i.r1 - 400.0 / 6.0).abs() < 1e-9, "{:?}", m.t2i);
        assert_eq!(m.t2i.r5, 100.0);
        assert_eq!(m.t2i.medr, 1.0);
        // i2t: photo 0 → caption 0 (1.0) first; photo 1 → caption 2 (1.0) first; photo 2 →
        // captions by similarity 0.8 (3), 0.8 (5), 0.707 (4), 0.6 (1): caption 5 ties first.
        assert_eq!(m.i2t.r1, 100.0);
        assert_eq!(m.i2t.medr, 1.0);
        assert!((m.rsum() - (m.t2i.sum() + 300.0)).abs() < 1e-9);
    }

    #[test]
    fn a_photo_whose_captions_are_all_beaten_gets_the_rank_of_its_best_caption() {
        let images = [1.0, 0.0, 0.0, 1.0];
        // Both captions point at photo 0; photo 1's caption is ranked second for it.
        let captions = [1.0, 0.0, 0.8, 0.6];
        let m = evaluate(&images, &captions, 2, &[0, 1]).unwrap();
        assert_eq!(m.i2t.r1, 100.0); // photo 1: caption 1 (0.6) beats caption 0 (0.0)
        assert_eq!(m.t2i.r1, 50.0); // caption 1 ranks photo 0 (0.8) above photo 1 (0.6)
        assert_eq!(Recall::from_ranks(&[1, 2, 9, 12]).medr, 2.0);
        assert_eq!(Recall::from_ranks(&[1, 2, 9, 12]).r10, 75.0);
    }

    #[test]
    fn offsets_change_text_to_image_ranks_and_leave_image_to_text_ones() {
        let images = [1.0, 0.0, 0.0, 1.0];
        // Caption 0 (photo 0) leans to photo 1 (0.8 against 0.6); caption 1 is photo 1's.
        let captions = [0.6, 0.8, 0.0, 1.0];
        let (plain, ranks) = evaluate_with_ranks(&images, &captions, 2, &[0, 1], &[]).unwrap();
        assert_eq!(ranks, vec![2, 1]);
        // Photo 1 is a hub: an offset of 0.3 puts caption 0's photo first (0.6 > 0.5) and
        // keeps caption 1's (0.7 > −0.0).
        let (fixed, ranks) = evaluate_with_ranks(&images, &captions, 2, &[0, 1], &[0.0, 0.3]).unwrap();
        assert_eq!(ranks, vec![1, 1]);
        assert_eq!((plain.t2i.r1, fixed.t2i.r1), (50.0, 100.0));
        assert_eq!(plain.i2t, fixed.i2t);
        assert!(evaluate_with_ranks(&images, &captions, 2, &[0, 1], &[0.1]).is_err());
    }

    #[test]
    fn mismatched_sizes_are_refused() {
        assert!(evaluate(&[1.0, 0.0], &[1.0], 2, &[0]).is_err());
        assert!(evaluate(&[1.0, 0.0], &[1.0, 0.0], 2, &[1]).is_err());
    }
}

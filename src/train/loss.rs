//! The margin triplet loss, both ways: each photo against captions (its own one positive,
//! one or more others negative) and each caption against photos.
//!
//! For a batch, `sim[i][j]` is photo i against caption j; the diagonal holds the positive
//! pairs. Samples whose photo is the same (two captions of one photo in a batch) are never
//! each other's negatives. Mining picks, per anchor, which negatives count; the loss is the
//! sum over anchors and chosen negatives of `max(0, margin − positive + negative)`.

use candle_core::Tensor;

use super::rng::Rng;
pub use crate::model::config::Mining;

/// The chosen negatives of one anchor among `candidates` (similarity, position).
fn choose(candidates: &[(f32, usize)], positive: f32, mining: Mining, rng: &mut Rng, out: &mut Vec<usize>) {
    if candidates.is_empty() {
        return;
    }
    let hardest = |c: &mut dyn Iterator<Item = &(f32, usize)>| {
        c.fold(None::<(f32, usize)>, |best, &(s, j)| match best {
            Some((b, _)) if b >= s => best,
            _ => Some((s, j)),
        })
    };
    match mining {
        Mining::Sum => out.extend(candidates.iter().map(|c| c.1)),
        Mining::Easy => out.push(candidates[rng.below(candidates.len())].1),
        Mining::Hard => out.extend(hardest(&mut candidates.iter()).map(|c| c.1)),
        Mining::SemiHard => {
            let below = hardest(&mut candidates.iter().filter(|c| c.0 < positive));
            out.extend(below.or_else(|| hardest(&mut candidates.iter())).map(|c| c.1));
        }
    }
}

/// Masks `[n × n]` of the pairs that count: first for photo anchors (row i, chosen caption
/// columns j), then for caption anchors (column j, chosen photo rows i).
pub fn negative_masks(sim: &[Vec<f32>], groups: &[usize], mining: Mining, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let n = sim.len();
    let mut by_image = vec![0.0; n * n];
    let mut by_caption = vec![0.0; n * n];
    let mut candidates = Vec::with_capacity(n);
    let mut chosen = Vec::new();
    for a in 0..n {
        candidates.clear();
        chosen.clear();
        candidates.extend((0..n).filter(|&j| groups[j] != groups[a]).map(|j| (sim[a][j], j)));
        choose(&candidates, sim[a][a], mining, rng, &mut chosen);
        for &j in &chosen {
            by_image[a * n + j] = 1.0;
        }
        candidates.clear();
        chosen.clear();
        candidates.extend((0..n).filter(|&i| groups[i] != groups[a]).map(|i| (sim[i][a], i)));
        choose(&candidates, sim[a][a], mining, rng, &mut chosen);
        for &i in &chosen {
            by_caption[i * n + a] = 1.0;
        }
    }
    (by_image, by_caption)
}

/// The triplet loss of a batch: `sim` is `[n, n]` (photo i × caption j, positives on the
/// diagonal), `groups[k]` the photo of sample k. Differentiable in `sim`.
pub fn triplet_loss(
    sim: &Tensor,
    groups: &[usize],
    margin: f32,
    mining: Mining,
    rng: &mut Rng,
) -> candle_core::Result<Tensor> {
    let n = groups.len();
    let values = sim.detach().to_vec2::<f32>()?;
    let (by_image, by_caption) = negative_masks(&values, groups, mining, rng);
    let device = sim.device();
    let eye = Tensor::eye(n, candle_core::DType::F32, device)?;
    let positive = sim.mul(&eye)?.sum_keepdim(1)?; // [n, 1]
    let shifted = (sim + f64::from(margin))?;
    let image_hinge = shifted.broadcast_sub(&positive)?.relu()?;
    let caption_hinge = shifted.broadcast_sub(&positive.t()?)?.relu()?;
    let by_image = Tensor::from_vec(by_image, (n, n), device)?;
    let by_caption = Tensor::from_vec(by_caption, (n, n), device)?;
    image_hinge.mul(&by_image)?.sum_all()? + caption_hinge.mul(&by_caption)?.sum_all()?
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    const MARGIN: f32 = 0.2;

    /// Photos 0, 1, 2 with one caption each. Per photo anchor (row): 0 → negatives 0.5, 0.95;
    /// 1 → 0.75, 0.65 (both above its positive 0.6); 2 → 0.75, 0.8. Per caption anchor
    /// (column): 0 → 0.75, 0.4; 1 → 0.5, 0.8; 2 → 0.95, 0.65.
    fn distinct() -> Vec<Vec<f32>> {
        vec![vec![0.9, 0.5, 0.95], vec![0.75, 0.6, 0.65], vec![0.4, 0.8, 0.7]]
    }

    fn loss(sim: Vec<Vec<f32>>, groups: &[usize], mining: Mining, seed: u64) -> f32 {
        let n = sim.len();
        let t = Tensor::from_vec(sim.concat(), (n, n), &Device::Cpu).unwrap();
        triplet_loss(&t, groups, MARGIN, mining, &mut Rng::new(seed)).unwrap().to_scalar::<f32>().unwrap()
    }

    #[test]
    fn hard_mining_takes_the_most_similar_negative_of_each_anchor() {
        // Photos: 0.2+0.95-0.9=0.25, 0.2+0.75-0.6=0.35, 0.2+0.8-0.7=0.3.
        // Captions: 0.2+0.75-0.9=0.05, 0.2+0.8-0.6=0.4, 0.2+0.95-0.7=0.45.
        let got = loss(distinct(), &[0, 1, 2], Mining::Hard, 0);
        assert!((got - 1.8).abs() < 1e-5, "{got}");
    }

    #[test]
    fn semi_hard_mining_takes_the_hardest_negative_below_the_positive_or_else_the_hardest() {
        // Photos: 0.5 → 0; none below 0.6 → hardest 0.75 → 0.35; 0.4 → 0.
        // Captions: 0.75 → 0.05; 0.5 → 0.1; 0.65 → 0.15.
        let got = loss(distinct(), &[0, 1, 2], Mining::SemiHard, 0);
        assert!((got - 0.65).abs() < 1e-5, "{got}");
    }

    #[test]
    fn summed_mining_counts_every_violating_negative() {
        // Photos: 0.25; 0.35 + 0.25; 0.3. Captions: 0.05; 0.1 + 0.4; 0.45 + 0.15.
        let got = loss(distinct(), &[0, 1, 2], Mining::Sum, 0);
        assert!((got - 2.3).abs() < 1e-5, "{got}");
    }

    /// Samples 0 and 1 are two captions of one photo (identical rows), sample 2 another
    /// photo; each anchor's possible negatives are equally similar, so any random choice
    /// gives one exact loss.
    fn shared_photo() -> Vec<Vec<f32>> {
        vec![vec![0.8, 0.7, 0.65], vec![0.8, 0.7, 0.65], vec![0.55, 0.55, 0.4]]
    }

    #[test]
    fn easy_mining_draws_one_negative_and_never_a_caption_of_the_same_photo() {
        // Photos: 0.2+0.65-0.8=0.05, 0.2+0.65-0.7=0.15, 0.2+0.55-0.4=0.35.
        // Captions: 0.2+0.55-0.8<0 → 0, 0.2+0.55-0.7=0.05, 0.2+0.65-0.4=0.45.
        // Were sample 1 a negative of sample 0, photo 0 could pick 0.7 and give 0.1.
        for seed in 0..16 {
            let got = loss(shared_photo(), &[0, 0, 1], Mining::Easy, seed);
            assert!((got - 1.05).abs() < 1e-5, "seed {seed}: {got}");
        }
        let hard = loss(shared_photo(), &[0, 0, 1], Mining::Hard, 0);
        assert!((hard - 1.05).abs() < 1e-5, "{hard}");
    }

    #[test]
    fn easy_mining_is_random_but_repeatable_with_a_seed() {
        let pick = |seed| negative_masks(&distinct(), &[0, 1, 2], Mining::Easy, &mut Rng::new(seed)).0;
        assert_eq!(pick(5), pick(5));
        assert!((0..20).any(|s| pick(s) != pick(5)));
        // One negative per anchor, never the positive.
        let mask = pick(5);
        for i in 0..3 {
            assert_eq!(mask[i * 3..i * 3 + 3].iter().sum::<f32>(), 1.0);
            assert_eq!(mask[i * 3 + i], 0.0);
        }
    }

    #[test]
    fn the_loss_gradient_pushes_negatives_down_and_positives_up() {
        let t = candle_core::Var::from_vec(distinct().concat(), (3, 3), &Device::Cpu).unwrap();
        let l = triplet_loss(t.as_tensor(), &[0, 1, 2], MARGIN, Mining::Hard, &mut Rng::new(0)).unwrap();
        let g = l.backward().unwrap().get(t.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        assert!(g[0][0] < 0.0 && g[0][2] > 0.0, "{g:?}");
    }

    #[test]
    fn mining_names_parse_and_unknown_ones_are_refused() {
        assert_eq!("semi-hard".parse::<Mining>().unwrap(), Mining::SemiHard);
        assert_eq!("Hard".parse::<Mining>().unwrap(), Mining::Hard);
        assert!("medium".parse::<Mining>().unwrap_err().to_string().contains("easy, semi-hard, hard"));
    }
}

//! The "no good match" cue, measured on a Flickr8k split. Each caption is searched twice:
//! against every photo (its true photo is there: a match exists) and with its true photo held
//! out (no photo was taken for it). A statistic of the ranking that separates the two is
//! thresholded; the cue ("no strong match") fires below the threshold. Two statistics are
//! compared: the best cosine among the ten photos search shows, and that cosine's z-score
//! among all the library's cosines for that query (which corrects for queries that score
//! everything high or low). Cosines, not scores: a calibrated model's hubness offsets decide
//! the order of the results (see [`crate::train::hubness`]), while how close the closest shown
//! photo is to the words is a plain cosine.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use super::best_rows;
use crate::dataset::Split;
use crate::finder::CUE_RESULTS;
use crate::job::{Job, Waker};
use crate::model::manifest::{JointManifest, NoMatchCue};
use crate::train::trainer::TrainEvent;
use crate::train::workflow::ModelSetup;
use crate::{Error, Result};

/// Which number of a ranking the cue looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CueStatistic {
    /// The best cosine among the shown results.
    Top1,
    /// (that cosine − mean cosine) / standard deviation of the cosines, over the whole library.
    TopZ,
}

impl CueStatistic {
    /// The statistic of one query, from `top` (the best cosine among the shown results) and
    /// `cosines` (the query's cosine with every photo of the library, not empty).
    pub fn of(self, top: f32, cosines: &[f32]) -> f32 {
        match self {
            CueStatistic::Top1 => top,
            CueStatistic::TopZ => {
                let n = cosines.len().max(1) as f32;
                let mean = cosines.iter().sum::<f32>() / n;
                let var = cosines.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / n;
                (top - mean) / var.sqrt().max(1e-6)
            }
        }
    }
}

/// A threshold and how well it does.
#[derive(Clone, Debug, Serialize)]
pub struct CueResult {
    /// The statistic.
    pub statistic: CueStatistic,
    /// The cue fires when the statistic is below this.
    pub threshold: f32,
    /// Of the searches the cue fired on, the share that had no matching photo (percent).
    pub precision: f64,
    /// Of the searches with no matching photo, the share the cue fired on (percent).
    pub recall: f64,
    /// Of the searches whose photo was there, the share the cue wrongly fired on (percent).
    pub false_alarms: f64,
    /// Median of the statistic with the true photo there, and held out.
    pub medians: (f32, f32),
}

fn median(values: &mut [f32]) -> f32 {
    values.sort_by(f32::total_cmp);
    values.get(values.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

/// A quiet hint must rarely fire when a match is there: at most this share of false alarms.
pub const MAX_FALSE_ALARMS: f64 = 0.10;

/// Picks the threshold that fires on at most [`MAX_FALSE_ALARMS`] of the searches whose photo
/// is there (the 10th percentile of their statistic), and measures the cue there.
fn choose(statistic: CueStatistic, with: &[f32], without: &[f32]) -> CueResult {
    let (mut w, mut wo) = (with.to_vec(), without.to_vec());
    w.sort_by(f32::total_cmp);
    let at = ((w.len() as f64 * MAX_FALSE_ALARMS).floor() as usize).min(w.len().saturating_sub(1));
    let threshold = w.get(at).copied().unwrap_or(0.0);
    let tp = without.iter().filter(|&&s| s < threshold).count() as f64;
    let fp = with.iter().filter(|&&s| s < threshold).count() as f64;
    CueResult {
        statistic,
        threshold,
        precision: if tp + fp > 0.0 { 100.0 * tp / (tp + fp) } else { 0.0 },
        recall: 100.0 * tp / without.len().max(1) as f64,
        false_alarms: 100.0 * fp / with.len().max(1) as f64,
        medians: (median(&mut w), median(&mut wo)),
    }
}

/// The best cosine among the [`CUE_RESULTS`] photos with the highest `cosine − offset` (what
/// search shows), leaving out photo `skip`.
fn best_shown(cosines: &[f32], offsets: &[f32], skip: Option<usize>) -> f32 {
    let scored = cosines
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(i) != skip)
        .map(|(i, &c)| (c - offsets.get(i).copied().unwrap_or(0.0), i))
        .collect();
    best_rows(scored, CUE_RESULTS).into_iter().map(|i| cosines[i]).fold(f32::NEG_INFINITY, f32::max)
}

/// Measures both statistics over every caption (unit rows) against `images` (unit rows, with
/// their hubness `offsets`, or empty for none), ranking as search does.
pub fn measure(
    images: &[f32],
    offsets: &[f32],
    captions: &[f32],
    dim: usize,
    caption_image: &[usize],
) -> Vec<CueResult> {
    let stats = [CueStatistic::Top1, CueStatistic::TopZ];
    let pairs: Vec<[(f32, f32); 2]> = caption_image
        .par_iter()
        .enumerate()
        .map(|(c, &truth)| {
            let q = &captions[c * dim..(c + 1) * dim];
            let cosines: Vec<f32> =
                images.chunks_exact(dim).map(|row| row.iter().zip(q).map(|(a, b)| a * b).sum()).collect();
            let held_out: Vec<f32> = cosines.iter().enumerate().filter(|&(i, _)| i != truth).map(|(_, &s)| s).collect();
            let (top, top_held_out) = (best_shown(&cosines, offsets, None), best_shown(&cosines, offsets, Some(truth)));
            stats.map(|s| (s.of(top, &cosines), s.of(top_held_out, &held_out)))
        })
        .collect();
    stats
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let with: Vec<f32> = pairs.iter().map(|p| p[k].0).collect();
            let without: Vec<f32> = pairs.iter().map(|p| p[k].1).collect();
            choose(s, &with, &without)
        })
        .collect()
}

/// The cue measured on a split, and what was stored.
#[derive(Clone, Debug, Serialize)]
pub struct CueReport {
    /// Both statistics, measured.
    pub results: Vec<CueResult>,
    /// Captions searched.
    pub captions: usize,
    /// Photos searched among.
    pub photos: usize,
    /// The cue written into the model's manifest, when asked for.
    pub stored: Option<NoMatchCue>,
}

/// Starts measuring the cue of the model in `dir` on `split` (`glimpse bench cue`); with
/// `write`, the top-1 threshold goes into the model's manifest, where search reads it (the
/// z-score would need every score of the library, and did no better on dev).
pub fn start(
    setup: ModelSetup,
    dir: PathBuf,
    split: Split,
    write: bool,
    waker: Option<Waker>,
) -> Result<Job<TrainEvent, Result<CueReport>>> {
    Job::spawn("glimpse-cue", 64, waker, move |cx| {
        let s = setup.embed_split(&dir, split, &cx)?;
        let results = measure(&s.images, &s.offsets, &s.captions, s.dim, &s.caption_image);
        let photos = s.images.len() / s.dim.max(1);
        let stored = if write {
            let best = results
                .iter()
                .find(|r| r.statistic == CueStatistic::Top1)
                .ok_or_else(|| Error::Invalid("the cue could not be measured".into()))?;
            let mut manifest = JointManifest::load(&dir)?;
            let cue = NoMatchCue { statistic: "top1".into(), threshold: best.threshold };
            manifest.no_match = Some(cue.clone());
            manifest.save(&dir)?;
            Some(cue)
        } else {
            None
        };
        Ok(CueReport { results, captions: s.caption_image.len(), photos, stored })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_z_score_of_the_best_score_ignores_a_shift_of_every_score() {
        let scores = [0.1, 0.2, 0.3, 0.9];
        let shifted: Vec<f32> = scores.iter().map(|s| s + 0.5).collect();
        let (a, b) = (CueStatistic::TopZ.of(0.9, &scores), CueStatistic::TopZ.of(1.4, &shifted));
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        assert_eq!(CueStatistic::Top1.of(0.9, &scores), 0.9);
    }

    #[test]
    fn the_best_shown_cosine_comes_from_the_photos_search_shows() {
        // Twelve photos; photo 0 has the best cosine but a hub's offset puts it 11th.
        let mut cosines = vec![0.5f32; 12];
        cosines[0] = 0.9;
        let mut offsets = vec![0.0f32; 12];
        offsets[0] = 0.45;
        offsets[1] = 0.1;
        assert_eq!(best_shown(&cosines, &[], None), 0.9);
        assert_eq!(best_shown(&cosines, &offsets, None), 0.5);
        // Held out, the best of the others.
        assert_eq!(best_shown(&cosines, &[], Some(0)), 0.5);
    }

    #[test]
    fn a_separable_case_gets_a_threshold_between_the_two_groups() {
        let with = [0.8, 0.7, 0.75, 0.9];
        let without = [0.3, 0.4, 0.35, 0.2];
        let r = choose(CueStatistic::Top1, &with, &without);
        assert!(r.threshold > 0.4 && r.threshold <= 0.7, "{r:?}");
        assert_eq!((r.precision, r.recall, r.false_alarms), (100.0, 100.0, 0.0));
    }
}

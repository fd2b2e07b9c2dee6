//! Measurements reported by `glimpse bench`, each against a baseline measured in the same
//! run.

pub mod concepts;
pub mod cue;
pub mod duplicates;
pub mod embed;
pub mod feedback;
pub mod formats;
pub mod scale;
pub mod typos;
pub mod updates;

/// How many results search shows by default: the photos a simulated user sees and marks.
pub const SHOWN: usize = 10;

/// The rows of the `k` highest scores of `scored` (score, row), best first.
fn best_rows(mut scored: Vec<(f32, usize)>, k: usize) -> Vec<usize> {
    let k = k.min(scored.len());
    if k < scored.len() {
        scored.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
    }
    scored.truncate(k);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, row)| row).collect()
}

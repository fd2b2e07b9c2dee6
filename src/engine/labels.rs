//! Turning classifier logits into the most likely labels.

use serde::Serialize;

/// One class and its probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelProb {
    /// Class name.
    pub label: String,
    /// Softmax probability, 0–1.
    pub prob: f32,
}

/// Softmax over `logits`, then the `k` most probable classes, best first.
pub fn top_k(logits: &[f32], labels: &[String], k: usize) -> Vec<LabelProb> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| exps[b].total_cmp(&exps[a]));
    order
        .into_iter()
        .take(k)
        .map(|i| LabelProb {
            label: labels.get(i).cloned().unwrap_or_else(|| format!("class {i}")),
            prob: exps[i] / total,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_ranks_by_probability_and_probabilities_sum_to_one() {
        let labels: Vec<String> = ["cat", "dog", "fish"].iter().map(|s| s.to_string()).collect();
        let top = top_k(&[1.0, 3.0, 2.0], &labels, 3);
        assert_eq!(top.iter().map(|l| l.label.as_str()).collect::<Vec<_>>(), ["dog", "fish", "cat"]);
        let sum: f32 = top.iter().map(|l| l.prob).sum();
        assert!((sum - 1.0).abs() < 1e-6);
        // e^2 / (e^1 + e^2 + e^3)
        let expected = 2.0f32.exp() / (1.0f32.exp() + 2.0f32.exp() + 3.0f32.exp());
        assert!((top[1].prob - expected).abs() < 1e-6);
    }
}

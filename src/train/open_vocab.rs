//! An open vocabulary for an exported text model: every word of a GloVe file gets a vector.
//!
//! Words the model was trained on keep their ids and their vectors, so a query made of them
//! gives the same vector as before, bit for bit. Every other word of the GloVe file that the
//! tokenizer can produce is added after them (`vocab.json`), and gets, in each member of the
//! model, the image of its GloVe vector under a linear map fitted by ridge regression from
//! the GloVe vectors of the trained words to their trained vectors, and checked on trained
//! words held out of the fit. The new words' GloVe vectors are stored once, as int8 with one
//! scale per column, and shared by the members (see [`super::export::GloveTable`]).

use std::path::Path;
use std::sync::Arc;

use super::combine::{text_graph, text_members};
use super::export::{GLOVE_CODES, GloveTable, LinearWeights, OpenWords};
use crate::durable::write_atomically;
use crate::model::manifest::{JointManifest, sha256};
use crate::onnx::graph::int8_columns_of;
use crate::onnx::read::read_graph;
use crate::text::vocab::FIRST_WORD_ID;
use crate::text::{Glove, UNK_ID, Vocab};
use crate::{Error, Result};

/// Ridge penalties tried, per fitted word (the penalty added to `XᵀX` is this times the
/// number of words); the one best on the held-out words is kept.
const RIDGE_GRID: [f64; 6] = [1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1];

/// One trained word in this many is held out of the fit to choose the penalty and measure it.
const HOLD_OUT_EVERY: usize = 5;

/// How well one member's map from GloVe vectors to its word vectors fits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemberFit {
    /// The ridge penalty chosen on the held-out words (per fitted word).
    pub ridge: f64,
    /// Trained words with a GloVe vector, all of which the final map was fitted on.
    pub words: usize,
    /// Of these, the words held out of the fit that chose the penalty.
    pub held_out: usize,
    /// On the held-out words: the share of their trained vectors' variance the map explains.
    pub held_out_r2: f64,
    /// On the held-out words: the mean cosine of a word's mapped vector with its trained one.
    pub held_out_cosine: f64,
    /// The same mean cosine for the unknown word's vector: what such words had before.
    pub unknown_cosine: f64,
}

/// What opening a model's vocabulary did.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The manifest written.
    pub manifest: JointManifest,
    /// Ids of the trained vocabulary (padding and unknown included): unchanged.
    pub trained: usize,
    /// Ids of the open vocabulary.
    pub words: usize,
    /// Each member's map, in member order.
    pub fits: Vec<MemberFit>,
    /// The text encoder file's size before and after, in bytes.
    pub text_bytes: (u64, u64),
    /// The vocabulary file's size before and after, in bytes.
    pub vocab_bytes: (u64, u64),
}

/// Gives every word of the GloVe file at `glove` (that the tokenizer can produce) a vector
/// in the text model of the model folder `dir`, as the module documentation says; rewrites
/// the text encoder, the vocabulary and the manifest. The image head, the calibration and
/// the compact projection stay, so libraries need no re-projection.
pub fn open_vocabulary(dir: &Path, glove: &Path) -> Result<Opened> {
    let mut manifest = JointManifest::load(dir)?;
    let (text_path, vocab_path) = (dir.join(&manifest.text_encoder.file), dir.join(&manifest.vocab));
    let old_graph = read_graph(&text_path)?;
    if old_graph.initializer.iter().any(|t| t.name == GLOVE_CODES) {
        return Err(Error::model(dir, "already has an open vocabulary"));
    }
    let vocab = Vocab::load(&vocab_path)?;
    let mut members = text_members(&manifest, &old_graph)?;
    if let Some(m) = members.iter().find(|m| m.vocab_size != vocab.len()) {
        return Err(Error::model(
            dir,
            format!("its text encoder has {} word vectors for {} vocabulary ids", m.vocab_size, vocab.len()),
        ));
    }
    let glove = Glove::load(glove, |_| true)?;
    let open = vocab.extended(glove.words().iter().map(String::as_str))?;
    let (trained, g) = (vocab.len(), glove.dim());

    // The trained words that have a GloVe vector (the fit's inputs), then the new words: one
    // int8 table with one scale per column covers both, so the map is fitted on exactly the
    // values the graph will read.
    let fitted: Vec<usize> = (FIRST_WORD_ID as usize..trained)
        .filter(|&id| vocab.word(id as u32).and_then(|w| glove.get(w)).is_some())
        .collect();
    let new_words = &open.words()[vocab.words().len()..];
    let mut values = Vec::with_capacity((new_words.len() + fitted.len()) * g);
    for word in new_words {
        values.extend_from_slice(glove.get(word).unwrap_or(&[]));
    }
    for &id in &fitted {
        values.extend_from_slice(vocab.word(id as u32).and_then(|w| glove.get(w)).unwrap_or(&[]));
    }
    if values.len() != (new_words.len() + fitted.len()) * g {
        return Err(Error::Invalid("a GloVe vector went missing while reading the file".into()));
    }
    let (codes, scales) = int8_columns_of(&values, g);
    let table = Arc::new(GloveTable {
        rows: new_words.len(),
        dim: g,
        codes: codes[..new_words.len() * g].to_vec(),
        scales: scales.clone(),
    });
    let x: Vec<Vec<f32>> = codes[new_words.len() * g..]
        .chunks_exact(g)
        .map(|row| row.iter().zip(&scales).map(|(c, s)| f32::from(*c) * s).collect())
        .collect();

    let mut fits = Vec::with_capacity(members.len());
    for member in &mut members {
        let e = member.word_dim;
        let row = |id: usize| &member.word_vectors[id * e..(id + 1) * e];
        let y: Vec<&[f32]> = fitted.iter().map(|&id| row(id)).collect();
        let (map, fit) = fit_map(&x, &y, row(UNK_ID as usize))?;
        fits.push(fit);
        member.open = Some(OpenWords { trained, map, glove: table.clone() });
    }

    let text = text_graph(&manifest, &members);
    let vocab_json = open.to_json();
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).map_err(|e| Error::io(p, e));
    let before = (size(&text_path)?, size(&vocab_path)?);
    write_atomically(&text_path, &[&text])?;
    write_atomically(&vocab_path, &[vocab_json.as_bytes()])?;
    manifest.model.vocab_size = open.len();
    manifest.text_encoder.sha256 = sha256(&text);
    manifest.save(dir)?;
    Ok(Opened {
        manifest,
        trained,
        words: open.len(),
        fits,
        text_bytes: (before.0, text.len() as u64),
        vocab_bytes: (before.1, vocab_json.len() as u64),
    })
}

/// The map from GloVe vectors `x` to word vectors `y` (one row per word): the ridge penalty
/// chosen on every [`HOLD_OUT_EVERY`]th word, held out of a fit on the others; then fitted
/// on all with it. `unknown` is the unknown word's vector, measured on the same words.
fn fit_map(x: &[Vec<f32>], y: &[&[f32]], unknown: &[f32]) -> Result<(LinearWeights, MemberFit)> {
    let held = |i: &usize| i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1;
    let (fit_rows, test_rows): (Vec<usize>, Vec<usize>) = (0..x.len()).partition(|i| !held(i));
    if fit_rows.len() <= x.first().map_or(0, Vec::len) || test_rows.is_empty() {
        return Err(Error::Invalid(format!(
            "only {} trained words have a GloVe vector: too few to fit a map from GloVe vectors to word vectors",
            x.len()
        )));
    }
    let pick = |rows: &[usize]| -> (Vec<&[f32]>, Vec<&[f32]>) {
        (rows.iter().map(|&i| x[i].as_slice()).collect(), rows.iter().map(|&i| y[i]).collect())
    };
    let (fit_x, fit_y) = pick(&fit_rows);
    let (test_x, test_y) = pick(&test_rows);
    let mut best: Option<MemberFit> = None;
    for ridge in RIDGE_GRID {
        let map = ridge_fit(&fit_x, &fit_y, ridge)?;
        let predicted: Vec<Vec<f32>> = test_x.iter().map(|x| map.apply(x)).collect();
        let (held_out_r2, held_out_cosine) = fit_quality(&predicted, &test_y);
        let unknown_cosine = mean(test_y.iter().map(|y| cosine(unknown, y)));
        let fit = MemberFit {
            ridge,
            words: x.len(),
            held_out: test_rows.len(),
            held_out_r2,
            held_out_cosine,
            unknown_cosine,
        };
        if best.is_none_or(|b| fit.held_out_r2 > b.held_out_r2) {
            best = Some(fit);
        }
    }
    let best = best.ok_or_else(|| Error::Invalid("no ridge penalty to try".into()))?;
    let all_x: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
    Ok((ridge_fit(&all_x, y, best.ridge)?, best))
}

/// Ridge regression with an intercept: the `[G, E]` map and bias minimising
/// `Σ ‖x W + b − y‖² + ridge · n · ‖W‖²`, solved in f64 through a Cholesky factor.
pub(crate) fn ridge_fit(x: &[&[f32]], y: &[&[f32]], ridge: f64) -> Result<LinearWeights> {
    let (n, g, e) = (x.len(), x.first().map_or(0, |r| r.len()), y.first().map_or(0, |r| r.len()));
    if n <= g {
        return Err(Error::Invalid(format!(
            "only {n} words have a GloVe vector: too few to map {g}-d GloVe vectors to word vectors"
        )));
    }
    let column_means = |rows: &[&[f32]], d: usize| -> Vec<f64> {
        let mut m = vec![0.0; d];
        rows.iter().for_each(|r| m.iter_mut().zip(r.iter()).for_each(|(m, v)| *m += f64::from(*v)));
        m.iter_mut().for_each(|m| *m /= n as f64);
        m
    };
    let (mx, my) = (column_means(x, g), column_means(y, e));
    let mut a = vec![0.0f64; g * g];
    let mut b = vec![0.0f64; g * e];
    let (mut xc, mut yc) = (vec![0.0f64; g], vec![0.0f64; e]);
    for (xr, yr) in x.iter().zip(y) {
        xc.iter_mut().zip(xr.iter().zip(&mx)).for_each(|(c, (v, m))| *c = f64::from(*v) - m);
        yc.iter_mut().zip(yr.iter().zip(&my)).for_each(|(c, (v, m))| *c = f64::from(*v) - m);
        for i in 0..g {
            let xi = xc[i];
            a[i * g..(i + 1) * g].iter_mut().zip(&xc).for_each(|(a, xj)| *a += xi * xj);
            b[i * e..(i + 1) * e].iter_mut().zip(&yc).for_each(|(b, yj)| *b += xi * yj);
        }
    }
    (0..g).for_each(|i| a[i * g + i] += ridge * n as f64);
    let w = cholesky_solve(&a, g, &b, e)
        .ok_or_else(|| Error::Invalid("the GloVe vectors of the trained words are degenerate".into()))?;
    let bias: Vec<f32> = (0..e).map(|j| (my[j] - (0..g).map(|i| mx[i] * w[i * e + j]).sum::<f64>()) as f32).collect();
    Ok(LinearWeights::new(g, e, w.iter().map(|v| *v as f32).collect(), Some(bias)))
}

/// Solves `a · w = b` for `w` (`[g, e]`), `a` symmetric positive definite `[g, g]`.
fn cholesky_solve(a: &[f64], g: usize, b: &[f64], e: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; g * g];
    for i in 0..g {
        for j in 0..=i {
            let s = a[i * g + j] - (0..j).map(|k| l[i * g + k] * l[j * g + k]).sum::<f64>();
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * g + i] = s.sqrt();
            } else {
                l[i * g + j] = s / l[j * g + j];
            }
        }
    }
    let mut w = b.to_vec();
    for c in 0..e {
        // L z = b, then Lᵀ w = z, column by column.
        for i in 0..g {
            let s = w[i * e + c] - (0..i).map(|k| l[i * g + k] * w[k * e + c]).sum::<f64>();
            w[i * e + c] = s / l[i * g + i];
        }
        for i in (0..g).rev() {
            let s = w[i * e + c] - (i + 1..g).map(|k| l[k * g + i] * w[k * e + c]).sum::<f64>();
            w[i * e + c] = s / l[i * g + i];
        }
    }
    Some(w)
}

/// R² (over all components, against the rows' own mean) and the mean cosine of
/// `predicted` with `truth`.
fn fit_quality(predicted: &[Vec<f32>], truth: &[&[f32]]) -> (f64, f64) {
    let e = truth.first().map_or(0, |t| t.len());
    let mut m = vec![0.0f64; e];
    truth.iter().for_each(|t| m.iter_mut().zip(t.iter()).for_each(|(m, v)| *m += f64::from(*v)));
    m.iter_mut().for_each(|m| *m /= truth.len().max(1) as f64);
    let (mut residual, mut total) = (0.0, 0.0);
    for (p, t) in predicted.iter().zip(truth) {
        for ((p, t), m) in p.iter().zip(t.iter()).zip(&m) {
            residual += (f64::from(*p) - f64::from(*t)).powi(2);
            total += (f64::from(*t) - m).powi(2);
        }
    }
    let r2 = if total > 0.0 { 1.0 - residual / total } else { 0.0 };
    (r2, mean(predicted.iter().zip(truth).map(|(p, t)| cosine(p, t))))
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let n = norm(a) * norm(b);
    if n > 0.0 { dot / n } else { 0.0 }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ridge_regression_recovers_an_exact_linear_map() {
        // y = x · [[1, 2, 0], [−1, 0, 3]] + [0.5, 0, −1] on points that span the plane.
        let xs: Vec<Vec<f32>> = (0..40).map(|i| vec![(i % 7) as f32 - 3.0, (i % 5) as f32 * 0.5 - 1.0]).collect();
        let truth = |x: &[f32]| vec![x[0] - x[1] + 0.5, 2.0 * x[0], 3.0 * x[1] - 1.0];
        let ys: Vec<Vec<f32>> = xs.iter().map(|x| truth(x)).collect();
        let x: Vec<&[f32]> = xs.iter().map(Vec::as_slice).collect();
        let y: Vec<&[f32]> = ys.iter().map(Vec::as_slice).collect();
        let map = ridge_fit(&x, &y, 0.0).unwrap();
        for probe in [[0.3f32, -2.0], [10.0, 4.0]] {
            let (got, want) = (map.apply(&probe), truth(&probe));
            assert!(got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-3), "{got:?} against {want:?}");
        }
        // A penalty shrinks the map towards the mean.
        let shrunk = ridge_fit(&x, &y, 10.0).unwrap();
        assert!(shrunk.apply(&[10.0, 4.0])[1] < 19.0);
    }

    #[test]
    fn a_map_is_measured_on_words_held_out_of_its_fit() {
        let xs: Vec<Vec<f32>> =
            (0..50).map(|i| vec![((i * 7) % 11) as f32 / 5.0 - 1.0, ((i * 3) % 13) as f32 / 6.0 - 1.0]).collect();
        let ys: Vec<Vec<f32>> = xs.iter().map(|x| vec![2.0 * x[0], x[0] + x[1], -x[1]]).collect();
        let y: Vec<&[f32]> = ys.iter().map(Vec::as_slice).collect();
        let (_, fit) = fit_map(&xs, &y, &[1.0, 0.0, 0.0]).unwrap();
        assert_eq!((fit.words, fit.held_out), (50, 10));
        assert!(fit.held_out_r2 > 0.99 && fit.held_out_cosine > 0.99, "{fit:?}");
        assert!(fit.unknown_cosine < 0.9, "{fit:?}");
        assert!(fit_map(&xs[..2], &y[..2], &[0.0; 3]).is_err());
    }
}

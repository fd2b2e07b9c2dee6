//! GloVe word vectors: read just the words a vocabulary needs, and turn them into the
//! starting embedding matrix of the text encoder.
//!
//! Any GloVe text file works, plain or gzip (recognised by its first bytes, not its name),
//! of any dimension: `word v1 v2 … vD` per line, D taken from the first line and checked on
//! every other. A word2vec/fastText header line (`COUNT DIM`) is skipped. Lines whose word
//! contains spaces (a few in `glove.840B`) can never match a tokenizer word and are skipped.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::vocab::{FIRST_WORD_ID, Vocab};
use crate::{Error, Result};

/// The seed of the vectors given to words that GloVe lacks, so a training run is repeatable.
pub const DEFAULT_OOV_SEED: u64 = 0x6c69_6d70_7365;

/// The standard deviation used for missing words when no GloVe vector was found to measure.
const FALLBACK_STD: f32 = 0.1;

/// The vectors of some words of a GloVe file.
#[derive(Clone, Debug)]
pub struct Glove {
    dim: usize,
    vectors: HashMap<String, Vec<f32>>,
    /// The kept words in the file's order.
    order: Vec<String>,
    words_in_file: usize,
}

/// How many of a vocabulary's words have a GloVe vector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// Words in the vocabulary, not counting padding and unknown.
    pub words: usize,
    /// Of these, how many have a vector.
    pub found: usize,
    /// The words without a vector, in id order.
    pub missing: Vec<String>,
}

impl Coverage {
    /// The share of words with a vector, 0–1 (1 for an empty vocabulary).
    pub fn ratio(&self) -> f64 {
        if self.words == 0 { 1.0 } else { self.found as f64 / self.words as f64 }
    }
}

impl std::fmt::Display for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} words have a GloVe vector ({:.1} %)", self.found, self.words, 100.0 * self.ratio())
    }
}

/// The starting embedding matrix: one row per vocabulary id, row-major.
#[derive(Clone, Debug)]
pub struct EmbeddingMatrix {
    /// Rows, equal to [`Vocab::len`] (padding and unknown included).
    pub rows: usize,
    /// Columns, the GloVe dimension.
    pub dim: usize,
    /// `rows × dim` values; row `id` is the vector of that id.
    pub data: Vec<f32>,
    /// Which words came from GloVe.
    pub coverage: Coverage,
}

impl EmbeddingMatrix {
    /// The row of `id`.
    pub fn row(&self, id: u32) -> &[f32] {
        let start = id as usize * self.dim;
        &self.data[start..start + self.dim]
    }
}

impl Glove {
    /// Reads the vectors of the words for which `wanted` is true from the GloVe file at
    /// `path`; every other line is only checked, not stored.
    pub fn load(path: &Path, wanted: impl Fn(&str) -> bool) -> Result<Glove> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let gzip = reader.fill_buf().map_err(|e| Error::io(path, e))?.starts_with(&[0x1f, 0x8b]);
        if gzip {
            let decoder = flate2::bufread::MultiGzDecoder::new(reader);
            Glove::read(BufReader::with_capacity(1 << 16, decoder), path, wanted)
        } else {
            Glove::read(reader, path, wanted)
        }
    }

    /// Reads the vectors of the vocabulary's words (padding and unknown have none).
    pub fn load_for_vocab(path: &Path, vocab: &Vocab) -> Result<Glove> {
        let words = vocab.word_set();
        Glove::load(path, |w| words.contains(w))
    }

    /// Reads GloVe text from `reader`; `path` names it in errors.
    pub fn read(mut reader: impl BufRead, path: &Path, wanted: impl Fn(&str) -> bool) -> Result<Glove> {
        let bad = |line: usize, reason: String| Error::Invalid(format!("{}, line {line}: {reason}", path.display()));
        let mut dim = None;
        let mut vectors = HashMap::new();
        let mut order = Vec::new();
        let mut words_in_file = 0;
        let mut raw = Vec::new();
        let mut number = 0;
        loop {
            raw.clear();
            if read_line(&mut reader, &mut raw).map_err(|e| Error::io(path, e))? == 0 {
                break;
            }
            number += 1;
            let line = std::str::from_utf8(&raw)
                .map_err(|_| bad(number, "not UTF-8 text; is this a GloVe text file?".into()))?
                .trim_end();
            if line.is_empty() {
                continue;
            }
            let fields = line.bytes().filter(|b| *b == b' ').count() + 1;
            let Some(dim) = dim else {
                if number == 1
                    && let Some((_, d)) = header(line)
                {
                    dim = Some(d);
                    continue;
                }
                if fields < 2 {
                    return Err(bad(number, "a word without values; is this a GloVe text file?".into()));
                }
                dim = Some(fields - 1);
                let (word, values) = split_word(line);
                words_in_file += 1;
                if wanted(word) {
                    vectors.insert(word.to_string(), parse_values(values, fields - 1).map_err(|r| bad(number, r))?);
                    order.push(word.to_string());
                }
                continue;
            };
            let (word, values) = split_word(line);
            if fields > dim + 1 && values.split(' ').next().is_some_and(|v| v.parse::<f32>().is_err()) {
                // A word with spaces in it: never a tokenizer word.
                words_in_file += 1;
                continue;
            }
            if fields != dim + 1 {
                return Err(bad(
                    number,
                    format!(
                        "{} values, but the first line has {dim} (every line must have the same dimension)",
                        fields - 1
                    ),
                ));
            }
            words_in_file += 1;
            if wanted(word) && !vectors.contains_key(word) {
                vectors.insert(word.to_string(), parse_values(values, dim).map_err(|r| bad(number, r))?);
                order.push(word.to_string());
            }
        }
        let dim = dim.ok_or_else(|| Error::Invalid(format!("{}: an empty GloVe file", path.display())))?;
        Ok(Glove { dim, vectors, order, words_in_file })
    }

    /// The vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The vector of `word`, if it was wanted and the file has it.
    pub fn get(&self, word: &str) -> Option<&[f32]> {
        self.vectors.get(word).map(Vec::as_slice)
    }

    /// The kept words in the order of the file: GloVe's files list the most frequent first.
    pub fn words(&self) -> &[String] {
        &self.order
    }

    /// How many vectors were kept.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// True when no wanted word was in the file.
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// How many words the whole file has.
    pub fn words_in_file(&self) -> usize {
        self.words_in_file
    }

    /// How many of the vocabulary's words have a vector here.
    pub fn coverage(&self, vocab: &Vocab) -> Coverage {
        let missing: Vec<String> = vocab.words().iter().filter(|w| !self.vectors.contains_key(*w)).cloned().collect();
        Coverage { words: vocab.words().len(), found: vocab.words().len() - missing.len(), missing }
    }

    /// The standard deviation of all components of the kept vectors.
    fn std(&self) -> Option<f32> {
        let n = self.vectors.len() * self.dim;
        if n < 2 {
            return None;
        }
        let values = || self.vectors.values().flatten().map(|v| f64::from(*v));
        let mean = values().sum::<f64>() / n as f64;
        let var = values().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
        Some(var.sqrt() as f32)
    }
}

/// Builds the embedding matrix of `vocab`: GloVe's vector for each word that has one; for
/// unknown (id 1) and each word without one, a draw from N(0, σ²) with σ the standard
/// deviation of the GloVe values loaded (the scale of the pre-trained rows, so a missing
/// word starts neither dominant nor negligible in a mean), from a generator seeded with
/// `seed`; padding (id 0) all zeros, so it adds nothing to a sum.
pub fn embedding_matrix(vocab: &Vocab, glove: &Glove, seed: u64) -> EmbeddingMatrix {
    let dim = glove.dim;
    let std = glove.std().unwrap_or(FALLBACK_STD);
    let mut rng = Normal::new(seed);
    let mut data = vec![0.0; vocab.len() * dim];
    for (row, values) in data.chunks_exact_mut(dim).enumerate().skip(1) {
        let vector = row.checked_sub(FIRST_WORD_ID as usize).and_then(|i| glove.get(&vocab.words()[i]));
        match vector {
            Some(v) => values.copy_from_slice(v),
            None => values.iter_mut().for_each(|x| *x = std * rng.sample()),
        }
    }
    EmbeddingMatrix { rows: vocab.len(), dim, data, coverage: glove.coverage(vocab) }
}

/// Reads one line (without its `\n`) into `buf`; returns the bytes consumed, 0 at the end.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let n = reader.read_until(b'\n', buf)?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(n)
}

/// A word2vec-style header `COUNT DIM`.
fn header(line: &str) -> Option<(usize, usize)> {
    let (count, dim) = line.split_once(' ')?;
    Some((count.parse().ok()?, dim.parse().ok().filter(|d| *d > 0)?))
}

fn split_word(line: &str) -> (&str, &str) {
    line.split_once(' ').unwrap_or((line, ""))
}

fn parse_values(values: &str, dim: usize) -> std::result::Result<Vec<f32>, String> {
    let mut out = Vec::with_capacity(dim);
    for v in values.split(' ') {
        let x: f32 = v.parse().map_err(|_| format!("'{v}' is not a number"))?;
        if !x.is_finite() {
            return Err(format!("'{v}' is not a finite number"));
        }
        out.push(x);
    }
    Ok(out)
}

/// Standard normal draws (Box–Muller over SplitMix64): tiny, seedable and the same on every
/// platform, which is all the initialisation needs.
struct Normal {
    state: u64,
    spare: Option<f32>,
}

impl Normal {
    fn new(seed: u64) -> Self {
        Normal { state: seed, spare: None }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    fn sample(&mut self) -> f32 {
        if let Some(s) = self.spare.take() {
            return s;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let theta = std::f64::consts::TAU * self.uniform();
        self.spare = Some((r * theta.sin()) as f32);
        (r * theta.cos()) as f32
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;

    use super::*;
    use crate::text::{VocabSettings, WordCounts};

    const TINY: &str = "the 0.5 -0.25 1.0\ndog 1.0 2.0 3.0\npuppy 1.0 2.0 2.5\neconomy -3.0 0.0 1e-2\n";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn write_gz(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        let mut gz = flate2::write::GzEncoder::new(File::create(&path).unwrap(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
        path
    }

    fn vocab(captions: &[&str]) -> Vocab {
        Vocab::build(&WordCounts::from_captions(captions), VocabSettings::default()).unwrap()
    }

    fn message(r: Result<Glove>) -> String {
        match r {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn plain_and_gzip_files_read_alike() {
        let dir = tempfile::tempdir().unwrap();
        // A gzip file is recognised by its content, whatever its name.
        for path in
            [write(dir.path(), "g.txt", TINY), write_gz(dir.path(), "g.txt.gz", TINY), write_gz(dir.path(), "g", TINY)]
        {
            let g = Glove::load(&path, |_| true).unwrap();
            assert_eq!(g.dim(), 3, "{}", path.display());
            assert_eq!(g.words_in_file(), 4);
            assert_eq!(g.get("dog"), Some(&[1.0, 2.0, 3.0][..]));
            assert_eq!(g.get("economy"), Some(&[-3.0, 0.0, 0.01][..]));
            assert_eq!(g.words().len(), 4);
        }
    }

    #[test]
    fn kept_words_come_in_the_order_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "g.txt", "the 1\nof 2\ndog 3\nthe 4\ncat 5\n");
        assert_eq!(Glove::load(&path, |w| w != "of").unwrap().words(), ["the", "dog", "cat"]);
    }

    #[test]
    fn only_wanted_words_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "g.txt", TINY);
        let g = Glove::load(&path, |w| w == "dog" || w == "cat").unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g.get("the"), None);
        assert_eq!(g.words_in_file(), 4);
        let v = vocab(&["the dog and the cat"]);
        let g = Glove::load_for_vocab(&path, &v).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(
            g.coverage(&v),
            Coverage { words: 4, found: 2, missing: vec!["and".to_string(), "cat".to_string()] }
        );
        assert_eq!(g.coverage(&v).to_string(), "2 of 4 words have a GloVe vector (50.0 %)");
    }

    #[test]
    fn any_dimension_is_taken_from_the_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "g.txt", "dog 1\r\ncat 2\r\n\r\n");
        let g = Glove::load(&path, |_| true).unwrap();
        assert_eq!((g.dim(), g.len()), (1, 2));
        let path = write(dir.path(), "h.txt", "2 3\ndog 1 2 3\ncat 4 5 6\n");
        let g = Glove::load(&path, |_| true).unwrap();
        assert_eq!((g.dim(), g.len(), g.get("cat")), (3, 2, Some(&[4.0, 5.0, 6.0][..])));
    }

    #[test]
    fn a_line_of_another_dimension_is_refused_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let short = write(dir.path(), "short.txt", "the 1 2 3\ndog 1 2 3\ncat 1 2\n");
        let m = message(Glove::load(&short, |_| false));
        assert!(m.contains("short.txt, line 3: 2 values, but the first line has 3"), "{m}");
        let long = write_gz(dir.path(), "long.gz", "the 1 2 3\ndog 1 2 3 4\n");
        let m = message(Glove::load(&long, |_| false));
        assert!(m.contains("long.gz, line 2: 4 values, but the first line has 3"), "{m}");
    }

    #[test]
    fn a_bad_number_empty_file_or_binary_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let nan = write(dir.path(), "n.txt", "the 1 2\ndog 1 x\n");
        assert!(message(Glove::load(&nan, |_| true)).contains("line 2: 'x' is not a number"));
        // A bad value of an unwanted word is not even parsed.
        assert!(Glove::load(&nan, |w| w == "the").is_ok());
        let inf = write(dir.path(), "i.txt", "dog 1 inf\n");
        assert!(message(Glove::load(&inf, |_| true)).contains("line 1: 'inf' is not a finite number"));
        let empty = write(dir.path(), "e.txt", "\n\n");
        assert!(message(Glove::load(&empty, |_| true)).contains("an empty GloVe file"));
        let word_only = write(dir.path(), "w.txt", "dog\n");
        assert!(message(Glove::load(&word_only, |_| true)).contains("line 1: a word without values"));
        let binary = dir.path().join("b.bin");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, b'\n']).unwrap();
        assert!(message(Glove::load(&binary, |_| true)).contains("line 1: not UTF-8"));
        assert!(matches!(Glove::load(&dir.path().join("none.txt"), |_| true), Err(Error::Io { .. })));
    }

    #[test]
    fn words_with_spaces_are_skipped_and_the_first_of_a_repeated_word_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "g.txt", "dog 1 2\n. . . 3 4\ndog 5 6\n");
        let g = Glove::load(&path, |_| true).unwrap();
        assert_eq!(g.get("dog"), Some(&[1.0, 2.0][..]));
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn the_embedding_matrix_copies_vectors_zeroes_padding_and_seeds_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "g.txt", TINY);
        let v = vocab(&["the dog and the economy"]);
        let g = Glove::load_for_vocab(&path, &v).unwrap();
        let m = embedding_matrix(&v, &g, DEFAULT_OOV_SEED);
        assert_eq!((m.rows, m.dim, m.data.len()), (6, 3, 18));
        assert_eq!(m.row(0), [0.0; 3]);
        assert_eq!(m.row(v.id("the").unwrap()), [0.5, -0.25, 1.0]);
        assert_eq!(m.row(v.id("economy").unwrap()), [-3.0, 0.0, 0.01]);
        let and = m.row(v.id("and").unwrap());
        assert!(and.iter().all(|x| *x != 0.0 && x.abs() < 10.0), "{and:?}");
        assert_ne!(m.row(1), and);
        assert_eq!((m.coverage.found, m.coverage.missing.clone()), (3, vec!["and".to_string()]));
        // Same seed, same matrix; another seed, other rows for missing words only.
        assert_eq!(embedding_matrix(&v, &g, DEFAULT_OOV_SEED).data, m.data);
        let other = embedding_matrix(&v, &g, 7);
        assert_ne!(other.row(1), m.row(1));
        assert_eq!(other.row(2), m.row(2));
    }

    #[test]
    fn missing_words_are_drawn_at_the_scale_of_the_glove_values() {
        // 2000 GloVe values of std 2, and 200 missing words of 10 values each.
        let mut text = String::new();
        for i in 0..1000 {
            text += &format!("w{i} {} {}\n", if i % 2 == 0 { 2.0 } else { -2.0 }, if i % 3 == 0 { -2.0 } else { 2.0 });
        }
        let glove = Glove::read(text.as_bytes(), Path::new("mem"), |w| w.starts_with('w')).unwrap();
        let captions: Vec<String> =
            (0..1000).map(|i| format!("w{i}")).chain((0..1000).map(|i| format!("m{i}"))).collect();
        let v = Vocab::build(
            &WordCounts::from_captions(&captions),
            VocabSettings { max_words: 2000, ..Default::default() },
        )
        .unwrap();
        let m = embedding_matrix(&v, &glove, 1);
        let drawn: Vec<f32> =
            v.words().iter().filter(|w| w.starts_with('m')).flat_map(|w| m.row(v.id(w).unwrap()).to_vec()).collect();
        assert_eq!(drawn.len(), 2000);
        let mean = drawn.iter().sum::<f32>() / 2000.0;
        let std = (drawn.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 1999.0).sqrt();
        assert!(mean.abs() < 0.2, "mean {mean}");
        assert!((std - 2.0).abs() < 0.15, "std {std}");
    }

    /// The GloVe vectors shared with this project's machines (integration tests only).
    fn shared_glove() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/glove/glove.6B.50d.100k.txt.gz")
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    }

    #[test]
    fn in_real_glove_dog_is_closer_to_puppy_than_to_economy() {
        let path = shared_glove();
        if !path.exists() {
            eprintln!("skipped: {} is absent", path.display());
            return;
        }
        let g = Glove::load(&path, |w| matches!(w, "dog" | "puppy" | "economy")).unwrap();
        assert_eq!((g.dim(), g.words_in_file(), g.len()), (50, 100_000, 3));
        let (dog, puppy, economy) = (g.get("dog").unwrap(), g.get("puppy").unwrap(), g.get("economy").unwrap());
        let (near, far) = (cosine(dog, puppy), cosine(dog, economy));
        assert!(near > far + 0.3, "dog·puppy {near}, dog·economy {far}");
    }
}

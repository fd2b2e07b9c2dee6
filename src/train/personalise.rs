//! *Personalise*: the text model fine-tuned on Flickr8k plus the captions a person wrote for
//! their own photos, measured on captions held out from it, and offered only where it is
//! better there.
//!
//! What is tuned comes after the text encoder ([`Adapter`]): a low-rank change of the whole
//! space, `t + (t · down) · up` (rank [`Settings::rank`], `up` starting at zero so training
//! starts from the model as it is), and a vector of its own for each of the person's own
//! words ([`OwnWords`]: words the model has no trained vector for, such as a name), added once per
//! time a text has it; then renormalised. The image head is left as it is, so a library's
//! stored vectors and its concepts stay valid under the new model and switching to it needs
//! no re-indexing.
//!
//! Each batch mixes Flickr8k training captions with the person's, under the margin triplet
//! loss both ways with semi-hard negatives, against the photos' joint vectors as search holds
//! them, plus [`Settings::keep`] times how far the Flickr8k captions move (which keeps the
//! model general). Captions sharing an own word are one subject ([`subjects`]): their photos
//! are never each other's negatives.
//!
//! One caption in [`HOLD_OUT_EVERY`] is held out of training; the model is measured on those
//! captions (their photos ranked among the library's photos not trained on, by embedding
//! alone) and on Flickr8k dev, before and after. It is written as a new model folder only
//! when it ranks the held-out captions' photos better ([`Comparison::better`]).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::eval::evaluate_with_ranks;
use super::loss::{Mining, triplet_loss};
use super::model::candle_err;
use super::recipe::{EmbeddedSplit, embed_split, model_codec};
use super::rng::Rng;
use super::trainer::TrainEvent;
use super::workflow::ModelSetup;
use crate::dataset::{Flickr8k, ImageCaptions, Split};
use crate::durable::write_atomically;
use crate::job::{Job, JobContext, Waker};
use crate::model::manifest::{EMBEDDING_OUTPUT, GraphRef, IDS_INPUT, JointManifest, TEXT_GRAPH, sha256};
pub use crate::model::personal::{CaptionedLibrary, Comparison, DEV_R1_TOLERANCE, Personalised, Settings};
use crate::onnx::graph::Attr;
use crate::onnx::read::read_graph;
use crate::onnx::{Dim, GraphBuilder};
use crate::text::{Vocab, tokenize};
use crate::{Error, Result};

/// One caption in this many (the fifth, tenth, …) is held out of training and measured on.
pub const HOLD_OUT_EVERY: usize = 5;

/// Captions of each Flickr8k training photo trained on beside the person's.
pub const GENERAL_CAPTIONS_PER_PHOTO: usize = 2;

/// Captions needed before personalising: four to train on and one to measure.
pub const MIN_CAPTIONS: usize = HOLD_OUT_EVERY;

/// The trained adapter: `normalise(t + (t · down) · up + counts · words)`, where `counts`
/// counts each of the person's own words (`own`, vocabulary ids) in the text: a low-rank
/// change of the whole space, and a vector of its own for each word the model never learnt
/// (a name cannot be learnt from how its GloVe neighbours are used).
#[derive(Clone, Debug, PartialEq)]
pub struct Adapter {
    /// Joint dimension.
    pub dim: usize,
    /// Its rank.
    pub rank: usize,
    /// `[dim, rank]`, row-major.
    pub down: Vec<f32>,
    /// `[rank, dim]`, row-major.
    pub up: Vec<f32>,
    /// The person's own words, as vocabulary ids.
    pub own: Vec<u32>,
    /// `[own.len(), dim]`: each own word's vector, added once per time the text has it.
    pub words: Vec<f32>,
}

impl Adapter {
    /// Text vectors (rows of `dim`) through the adapter, each of unit length; `counts` holds
    /// each text's `own.len()` word counts (see [`OwnWords::counts`]).
    pub fn apply(&self, rows: &[f32], counts: &[f32]) -> Vec<f32> {
        let k = self.own.len();
        let mut out = Vec::with_capacity(rows.len());
        for (i, t) in rows.chunks_exact(self.dim).enumerate() {
            let mut h = vec![0.0f32; self.rank];
            for (x, row) in t.iter().zip(self.down.chunks_exact(self.rank)) {
                h.iter_mut().zip(row).for_each(|(hi, w)| *hi += x * w);
            }
            let mut s = t.to_vec();
            for (hi, row) in h.iter().zip(self.up.chunks_exact(self.dim)) {
                s.iter_mut().zip(row).for_each(|(si, w)| *si += hi * w);
            }
            for (c, row) in counts[i * k..(i + 1) * k].iter().zip(self.words.chunks_exact(self.dim)) {
                s.iter_mut().zip(row).for_each(|(si, w)| *si += c * w);
            }
            crate::index::search::normalize(&mut s);
            out.extend(s);
        }
        out
    }
}

/// The person's own words: those of their captions (of three letters or more) that the
/// model has no trained vector for (outside the words Flickr8k's captions taught it; their
/// count in the vocabulary is 0), such as a name or a place, but that the vocabulary has (a
/// word without any vector is left out of every query, so nothing could carry it). Words
/// the model learnt keep their meaning for every other query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnWords {
    /// The words.
    pub words: Vec<String>,
    /// Their vocabulary ids.
    pub ids: Vec<u32>,
}

impl OwnWords {
    /// The own words of `texts`, in the order they first occur.
    pub fn of(texts: &[String], vocab: &Vocab) -> OwnWords {
        let mut own = OwnWords::default();
        for word in texts.iter().flat_map(|t| tokenize(t)) {
            let Some(id) = vocab.id(&word) else { continue };
            if is_own(&word, vocab) && !own.ids.contains(&id) {
                own.words.push(word);
                own.ids.push(id);
            }
        }
        own
    }

    /// How often each own word occurs in each of `texts` (`texts.len() × words.len()`).
    pub fn counts<S: AsRef<str>>(&self, texts: &[S], vocab: &Vocab) -> Vec<f32> {
        let mut counts = vec![0.0f32; texts.len() * self.ids.len()];
        for (i, text) in texts.iter().enumerate() {
            for id in tokenize(text.as_ref()).iter().filter_map(|w| vocab.id(w)) {
                if let Some(k) = self.ids.iter().position(|&own| own == id) {
                    counts[i * self.ids.len() + k] += 1.0;
                }
            }
        }
        counts
    }
}

fn is_own(word: &str, vocab: &Vocab) -> bool {
    word.chars().count() >= 3 && vocab.id(word).is_some_and(|id| vocab.count(id) == 0)
}

/// The captions (rows of `texts`) held out and trained on.
pub fn hold_out(captions: usize) -> (Vec<usize>, Vec<usize>) {
    (0..captions).partition(|i| i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1)
}

/// The subject of each of the person's captions, from `counts` (`k` own words per caption,
/// see [`OwnWords::counts`]) and each caption's photo: captions that share an own word,
/// directly or through other captions, have one subject; any other caption has its photo's
/// (numbered after the captions). Photos of one subject are never each other's negatives:
/// five photos of "Rex" must not learn to tell Rex from Rex.
pub fn subjects(counts: &[f32], k: usize, photos: &[usize]) -> Vec<usize> {
    let n = photos.len();
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for word in 0..k {
        let mut with = (0..n).filter(|&c| counts[c * k + word] > 0.0);
        let Some(first) = with.next() else { continue };
        for c in with {
            let (a, b) = (root(&mut parent, c), root(&mut parent, first));
            parent[a] = b;
        }
    }
    let roots: Vec<usize> = (0..n).map(|c| root(&mut parent, c)).collect();
    (0..n)
        .map(|c| if roots.iter().filter(|&&r| r == roots[c]).count() > 1 { roots[c] } else { n + photos[c] })
        .collect()
}

/// One of the person's captions as training sees it.
#[derive(Clone, Debug)]
pub struct Example {
    /// The caption's vector from the model in use.
    pub vector: Vec<f32>,
    /// Its photo's row of the library's photos.
    pub photo: usize,
    /// Its subject (see [`subjects`]).
    pub subject: usize,
    /// How often it has each own word.
    pub counts: Vec<f32>,
}

/// Trains the adapter on Flickr8k training captions `flickr8k` (their photos' and captions'
/// joint vectors) and the person's captions `personal` (with their photos in `library`).
/// `own` are the person's own words and `general_counts` their counts in each Flickr8k
/// caption.
pub fn train_adapter(
    flickr8k: &EmbeddedSplit,
    general_counts: &[f32],
    library: &CaptionedLibrary,
    personal: &[Example],
    own: &OwnWords,
    settings: &Settings,
    cx: &JobContext<TrainEvent>,
) -> Result<Adapter> {
    let k = own.ids.len();
    let dim = flickr8k.dim;
    if dim == 0 || library.dim != dim || flickr8k.caption_image.is_empty() || personal.is_empty() {
        return Err(Error::Invalid("personalising needs Flickr8k training captions and captions of your own".into()));
    }
    let device = Device::Cpu;
    let mut rng = Rng::new(settings.seed);
    let scale = 1.0 / (dim as f32).sqrt();
    let start: Vec<f32> = (0..dim * settings.rank).map(|_| rng.range(-scale, scale)).collect();
    let down = Var::from_tensor(&Tensor::from_vec(start, (dim, settings.rank), &device).map_err(candle_err)?)
        .map_err(candle_err)?;
    let up = Var::zeros((settings.rank, dim), DType::F32, &device).map_err(candle_err)?;
    let words = Var::zeros((k.max(1), dim), DType::F32, &device).map_err(candle_err)?;
    let params = ParamsAdamW { lr: settings.lr, weight_decay: 1e-4, ..ParamsAdamW::default() };
    let mut opt = AdamW::new(vec![down.clone(), up.clone(), words.clone()], params).map_err(candle_err)?;
    let flickr_photos = flickr8k.images.len() / dim;
    let personal_n = settings.personal_per_batch.min(settings.batch.saturating_sub(2)).max(1);
    let general_n = settings.batch.saturating_sub(personal_n).max(2);
    let report_every = settings.steps.div_ceil(20).max(1);
    let mut window = (0.0f64, 0usize);
    for step in 0..settings.steps {
        if cx.should_stop() {
            return Err(Error::Stopped("personalising; the model in use was not changed".into()));
        }
        let (mut texts, mut photos, mut groups, mut counts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..general_n {
            let c = rng.below(flickr8k.caption_image.len());
            let p = flickr8k.caption_image[c];
            texts.extend_from_slice(&flickr8k.captions[c * dim..(c + 1) * dim]);
            photos.extend_from_slice(&flickr8k.images[p * dim..(p + 1) * dim]);
            groups.push(p);
            counts.extend(if k == 0 { vec![0.0] } else { general_counts[c * k..(c + 1) * k].to_vec() });
        }
        for _ in 0..personal_n {
            let example = &personal[rng.below(personal.len())];
            let p = example.photo;
            texts.extend_from_slice(&example.vector);
            photos.extend_from_slice(&library.photos[p * dim..(p + 1) * dim]);
            groups.push(flickr_photos + library.photo_count() + example.subject);
            counts.extend(if k == 0 { vec![0.0] } else { example.counts.clone() });
        }
        let n = groups.len();
        let loss = (|| {
            let t = Tensor::from_vec(texts, (n, dim), &device)?;
            let p = Tensor::from_vec(photos, (n, dim), &device)?;
            let c = Tensor::from_vec(counts, (n, k.max(1)), &device)?;
            let s = ((&t + t.matmul(down.as_tensor())?.matmul(up.as_tensor())?)? + c.matmul(words.as_tensor())?)?;
            let s = s.broadcast_div(&s.sqr()?.sum_keepdim(1)?.sqrt()?)?;
            let sim = p.matmul(&s.t()?)?;
            let triplet = (triplet_loss(&sim, &groups, 0.2, Mining::SemiHard, &mut rng)? / n as f64)?;
            // The general captions stay where the model in use puts them.
            let moved = (1.0 - (s.narrow(0, 0, general_n)? * t.narrow(0, 0, general_n)?)?.sum(1)?)?.mean_all()?;
            triplet + (moved * f64::from(settings.keep))?
        })()
        .map_err(candle_err)?;
        let grads = loss.backward().map_err(candle_err)?;
        opt.step(&grads).map_err(candle_err)?;
        window.0 += f64::from(loss.to_scalar::<f32>().map_err(candle_err)?);
        window.1 += 1;
        if (step + 1) % report_every == 0 || step + 1 == settings.steps {
            let loss = (window.0 / window.1.max(1) as f64) as f32;
            cx.send(TrainEvent::Step { epoch: 1, step: step + 1, steps: settings.steps, loss });
            window = (0.0, 0);
        }
    }
    let values = |v: &Var| v.as_tensor().flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(candle_err);
    let mut words = values(&words)?;
    words.truncate(k * dim);
    Ok(Adapter { dim, rank: settings.rank, down: values(&down)?, up: values(&up)?, own: own.ids.clone(), words })
}

/// The outcome of personalising: the comparison, and the model folder when it was better.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Before and after.
    pub comparison: Comparison,
    /// The new model, written only when [`Comparison::better`].
    pub written: Option<PathBuf>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// Starts [`run`] as a job (`glimpse personalise`).
pub fn start(
    setup: ModelSetup,
    model_dir: PathBuf,
    library: CaptionedLibrary,
    out: PathBuf,
    settings: Settings,
    waker: Option<Waker>,
) -> Result<Job<TrainEvent, Result<Outcome>>> {
    enough_captions(library.texts.len())?;
    Job::spawn("glimpse-personalise", 64, waker, move |cx| run(&setup, &model_dir, &library, &out, settings, &cx))
}

/// Refuses fewer than [`MIN_CAPTIONS`] captions, saying why.
pub fn enough_captions(captions: usize) -> Result<()> {
    if captions < MIN_CAPTIONS {
        return Err(Error::Invalid(format!(
            "personalising needs at least {MIN_CAPTIONS} captions of your photos ({captions} now): one in {HOLD_OUT_EVERY} is kept aside to check the result; write more in the annotator"
        )));
    }
    Ok(())
}

/// Personalises the model in `model_dir` with the library's captions (*Personalise* in the
/// window): Flickr8k train and dev through the model (features cached), the adapter
/// trained, both measured, and the model folder `out` written when it is better.
pub fn run(
    setup: &ModelSetup,
    model_dir: &Path,
    library: &CaptionedLibrary,
    out: &Path,
    settings: Settings,
    cx: &JobContext<TrainEvent>,
) -> Result<Outcome> {
    enough_captions(library.texts.len())?;
    let started = std::time::Instant::now();
    let (model, backbone) = setup.open(model_dir)?;
    let mut vectors = Vec::with_capacity(library.texts.len() * model.dim());
    for chunk in library.texts.chunks(256) {
        vectors.extend(model.embed_texts(chunk)?.iter().copied());
    }
    let codec = model_codec(&model)?;
    let vocab = &model.vocab;
    let own_words = OwnWords::of(&library.texts, vocab);
    cx.send(TrainEvent::Note("Flickr8k's training and dev captions through the model…".into()));
    let flickr8k = Flickr8k::open(&setup.flickr8k)?;
    // Two captions of each training photo are plenty beside a person's few, at two fifths of
    // the memory and time of all five.
    let mut train_items = flickr8k.split(Split::Train)?;
    train_items.iter_mut().for_each(|item| item.captions.truncate(GENERAL_CAPTIONS_PER_PHOTO));
    let dev_items = flickr8k.split(Split::Dev)?;
    let train = embed_split(&model, &backbone, &train_items, &setup.cache_dir, cx)?;
    let dev = embed_split(&model, &backbone, &dev_items, &setup.cache_dir, cx)?;
    let texts = |items: &[ImageCaptions], embedded: &EmbeddedSplit| -> Vec<String> {
        embedded.kept.iter().flat_map(|&i| items[i].captions.iter().cloned()).collect()
    };
    let train_counts = own_words.counts(&texts(&train_items, &train), vocab);
    let dev_counts = own_words.counts(&texts(&dev_items, &dev), vocab);
    let library_counts = own_words.counts(&library.texts, vocab);
    drop((model, backbone));
    let k = own_words.ids.len();
    let subjects = subjects(&library_counts, k, &library.caption_photo);
    let dim = train.dim;
    let (held, trained) = hold_out(library.texts.len());
    let personal: Vec<Example> = trained
        .iter()
        .map(|&c| Example {
            vector: vectors[c * dim..(c + 1) * dim].to_vec(),
            photo: library.caption_photo[c],
            subject: subjects[c],
            counts: library_counts[c * k..(c + 1) * k].to_vec(),
        })
        .collect();
    let words = if own_words.words.is_empty() { "none".to_string() } else { own_words.words.join(", ") };
    cx.send(TrainEvent::Note(format!(
        "training on {} Flickr8k captions and {} of yours ({} kept aside to measure); your own words: {words}",
        train.caption_image.len(),
        trained.len(),
        held.len()
    )));
    let adapter = train_adapter(&train, &train_counts, library, &personal, &own_words, &settings, cx)?;
    let held_vectors: Vec<f32> = held.iter().flat_map(|&c| vectors[c * dim..(c + 1) * dim].iter().copied()).collect();
    let held_counts: Vec<f32> = held.iter().flat_map(|&c| library_counts[c * k..(c + 1) * k].iter().copied()).collect();
    // Held-out captions rank the photos nobody captioned for training (search puts a photo
    // whose caption has the query's words first anyway) and their own photo.
    let taught: std::collections::HashSet<usize> = trained.iter().map(|&c| library.caption_photo[c]).collect();
    let own: std::collections::HashSet<usize> = held.iter().map(|&c| library.caption_photo[c]).collect();
    let candidates: Vec<usize> =
        (0..library.photo_count()).filter(|p| own.contains(p) || !taught.contains(p)).collect();
    let photos: Vec<f32> =
        candidates.iter().flat_map(|&p| library.photos[p * dim..(p + 1) * dim].iter().copied()).collect();
    let offsets: Vec<f32> = candidates.iter().map(|&p| library.offsets[p]).collect();
    let held_photos: Vec<usize> =
        held.iter().filter_map(|&c| candidates.iter().position(|&p| p == library.caption_photo[c])).collect();
    let ranks = |captions: &[f32]| evaluate_with_ranks(&photos, captions, dim, &held_photos, &offsets).map(|r| r.1);
    let dev_adapted = EmbeddedSplit { captions: adapter.apply(&dev.captions, &dev_counts), ..dev.clone() };
    let comparison = Comparison {
        trained: trained.len(),
        held_out: held.len(),
        photos: candidates.len(),
        ranks_before: ranks(&held_vectors)?,
        ranks_after: ranks(&adapter.apply(&held_vectors, &held_counts))?,
        dev_before: dev.compacted(&codec).metrics()?,
        dev_after: dev_adapted.compacted(&codec).metrics()?,
    };
    let written = if comparison.better() {
        write_model(model_dir, out, &adapter, settings, &comparison)?;
        Some(out.to_path_buf())
    } else {
        None
    };
    Ok(Outcome { comparison, written, seconds: started.elapsed().as_secs_f64() })
}

/// Writes the model folder `out` (which must not exist yet): the model of `base` with its
/// text encoder followed by `adapter`, every other file copied, and how it was made in its
/// manifest. The folder is filled under a temporary name beside it and renamed when whole,
/// so a killed run leaves no half model that could be chosen.
pub fn write_model(
    base: &Path,
    out: &Path,
    adapter: &Adapter,
    settings: Settings,
    comparison: &Comparison,
) -> Result<JointManifest> {
    if out.exists() {
        return Err(Error::Invalid(format!(
            "{} exists already: choose another folder for the new model",
            out.display()
        )));
    }
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    let partial = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let fill = || -> Result<JointManifest> {
        let mut manifest = JointManifest::load(base)?;
        std::fs::create_dir_all(&partial).map_err(|e| Error::io(&partial, e))?;
        let mut files = vec![manifest.image_head.file.clone(), manifest.vocab.clone()];
        files.extend(manifest.compact.as_ref().map(|c| c.file.clone()));
        for file in &files {
            // The files the adapter leaves alone are linked where the two folders share a
            // file system (Glimpse replaces a model's files by renaming, never in place, so a
            // link cannot change under either model), else copied: 20 MB a model saved.
            let path = base.join(file);
            if std::fs::hard_link(&path, partial.join(file)).is_err() {
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                write_atomically(&partial.join(file), &[&bytes])?;
            }
        }
        let graph = adapted_graph(&base.join(&manifest.text_encoder.file), manifest.seq_len, adapter)?;
        write_atomically(&partial.join(TEXT_GRAPH), &[&graph])?;
        let record = Personalised {
            base_text_encoder: manifest.text_encoder.sha256.clone(),
            settings,
            comparison: comparison.clone(),
        };
        manifest.text_encoder = GraphRef { file: TEXT_GRAPH.into(), sha256: sha256(&graph) };
        manifest.personalised = Some(record);
        // The "no strong match" threshold is kept: the adapter holds Flickr8k's captions where
        // they were (dev recall within a point, measured before writing), so their best
        // cosines move little.
        manifest.save(&partial)?;
        std::fs::rename(&partial, out).map_err(|e| Error::io(out, e))?;
        Ok(manifest)
    };
    let written = fill();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
    }
    written
}

/// The text encoder at `path` with the adapter after it: `ids → embedding`, renormalised.
fn adapted_graph(path: &Path, seq_len: usize, adapter: &Adapter) -> Result<Vec<u8>> {
    let base = read_graph(path)?;
    if base.output.len() != 1 {
        return Err(Error::model(path, "a text encoder to personalise has exactly one output"));
    }
    let (dim, rank) = (adapter.dim as i64, adapter.rank as i64);
    let mut g = GraphBuilder::new("glimpse-personalised-text-encoder");
    g.input_i64(IDS_INPUT, &[Dim::Named("N"), Dim::Fixed(seq_len as i64)])
        .output_f32(EMBEDDING_OUTPUT, &[Dim::Named("N"), Dim::Fixed(dim)]);
    let outputs = g.include(&base, "base/", &[IDS_INPUT]);
    g.initializer_f32("personal.down", &[dim, rank], &adapter.down)
        .initializer_f32("personal.up", &[rank, dim], &adapter.up)
        .node("MatMul", &[&outputs[0], "personal.down"], &["personal.low"], &[])
        .node("MatMul", &["personal.low", "personal.up"], &["personal.delta"], &[])
        .node("Add", &[&outputs[0], "personal.delta"], &["personal.adapted"], &[]);
    let mut sum = "personal.adapted";
    if !adapter.own.is_empty() {
        // Each own word counted in the ids: [N, seq, 1] == [K] → [N, seq, K] → summed over
        // the words → [N, K], times the words' vectors [K, D].
        let own: Vec<i64> = adapter.own.iter().map(|&id| i64::from(id)).collect();
        g.initializer_i64("personal.own", &[own.len() as i64], &own)
            .initializer_i64("personal.axis2", &[1], &[2])
            .initializer_i64("personal.axis1", &[1], &[1])
            .initializer_f32("personal.words", &[own.len() as i64, dim], &adapter.words)
            .node("Unsqueeze", &[IDS_INPUT, "personal.axis2"], &["personal.ids"], &[])
            .node("Equal", &["personal.ids", "personal.own"], &["personal.hits"], &[])
            .node("Cast", &["personal.hits"], &["personal.hits_f"], &[("to", Attr::Int(1))])
            .node(
                "ReduceSum",
                &["personal.hits_f", "personal.axis1"],
                &["personal.counts"],
                &[("keepdims", Attr::Int(0))],
            )
            .node("MatMul", &["personal.counts", "personal.words"], &["personal.named"], &[])
            .node("Add", &["personal.adapted", "personal.named"], &["personal.sum"], &[]);
        sum = "personal.sum";
    }
    g.node("LpNormalization", &[sum], &[EMBEDDING_OUTPUT], &[("axis", Attr::Int(1)), ("p", Attr::Int(2))]);
    Ok(g.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_sharing_an_own_word_are_one_subject_and_any_other_caption_is_its_photos() {
        // Two own words; captions 0 and 2 share the first, 2 and 3 the second (so 0, 2 and 3
        // are one subject through 2); caption 1 has none, and neither has 4, of photo 1 too.
        let counts = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 2.0, 0.0, 0.0];
        let s = subjects(&counts, 2, &[0, 1, 2, 3, 1]);
        assert!(s[0] == s[2] && s[2] == s[3], "{s:?}");
        assert_eq!((s[1], s[4]), (5 + 1, 5 + 1), "the photo's subject, numbered after the captions");
        assert_ne!(s[0], s[1]);
    }

    #[test]
    fn one_caption_in_five_is_held_out_and_the_rest_trained_on() {
        let (held, trained) = hold_out(11);
        assert_eq!(held, [4, 9]);
        assert_eq!(trained.len(), 9);
        assert!(trained.iter().all(|t| !held.contains(t)));
    }

    /// A joint space of 8 dimensions: general photos along random directions with captions
    /// close to them, and a person's word (direction 7 of the text) that means photos near
    /// direction 3, which no general caption teaches.
    #[test]
    fn training_teaches_a_personal_word_and_keeps_general_captions() {
        let dim = 8;
        let mut rng = Rng::new(9);
        let unit = |mut v: Vec<f32>| {
            crate::index::search::normalize(&mut v);
            v
        };
        let noisy = |rng: &mut Rng, v: &[f32], by: f32| unit(v.iter().map(|x| x + rng.range(-by, by)).collect());
        let mut general = EmbeddedSplit {
            dim,
            images: Vec::new(),
            captions: Vec::new(),
            caption_image: Vec::new(),
            kept: Vec::new(),
            offsets: Vec::new(),
        };
        for p in 0..60 {
            let mut photo: Vec<f32> = (0..dim).map(|_| rng.range(-1.0, 1.0)).collect();
            photo[7] = 0.0;
            let photo = unit(photo);
            for _ in 0..3 {
                general.captions.extend(noisy(&mut rng, &photo, 0.2));
                general.caption_image.push(p);
            }
            general.images.extend(photo);
            general.kept.push(p);
            general.offsets.push(0.0);
        }
        // Library: six photos of the person's subject near direction 3, then 30 others.
        let mut library = CaptionedLibrary { dim, ..CaptionedLibrary::default() };
        let mut subject = vec![0.0f32; dim];
        subject[3] = 1.0;
        for _ in 0..6 {
            library.photos.extend(noisy(&mut rng, &subject, 0.3));
        }
        for _ in 0..30 {
            let mut v: Vec<f32> = (0..dim).map(|_| rng.range(-1.0, 1.0)).collect();
            v[7] = 0.0;
            library.photos.extend(unit(v));
        }
        library.offsets = vec![0.0; 36];
        // Captions of the subject's photos: the person's word, plus words of no meaning.
        let mut word = vec![0.0f32; dim];
        word[7] = 1.0;
        let captions: Vec<Vec<f32>> = (0..6).map(|_| noisy(&mut rng, &word, 0.4)).collect();
        let personal: Vec<Example> = captions[..5]
            .iter()
            .zip(0..5)
            .map(|(v, p)| Example { vector: v.clone(), photo: p, subject: 0, counts: vec![] })
            .collect();
        let job = Job::spawn("test-personalise", 1024, None, move |cx| {
            let settings =
                Settings { rank: 4, steps: 200, batch: 32, personal_per_batch: 8, lr: 1e-2, keep: 1.0, seed: 3 };
            let adapter =
                train_adapter(&general, &[], &library, &personal, &OwnWords::default(), &settings, &cx).unwrap();
            (adapter, general, library)
        })
        .unwrap();
        let (adapter, general, library) = job.wait().unwrap();
        // The held-out caption's photo (row 5) among the library's 36, before and after.
        let rank = |t: &[f32]| evaluate_with_ranks(&library.photos, t, dim, &[5], &library.offsets).unwrap().1[0];
        let (before, after) = (rank(&captions[5]), rank(&adapter.apply(&captions[5], &[])));
        assert!(before > 6 && after <= 6, "the word finds the subject's photos after, not before: {before} → {after}");
        let recall = |captions: &[f32]| {
            evaluate_with_ranks(&general.images, captions, dim, &general.caption_image, &[]).unwrap().0.t2i.r1
        };
        let (general_before, general_after) =
            (recall(&general.captions), recall(&adapter.apply(&general.captions, &[])));
        assert!(general_after >= general_before - 5.0, "general captions kept: {general_before} → {general_after}");
    }

    #[test]
    fn an_adapter_that_starts_at_zero_leaves_vectors_as_they_are() {
        let adapter =
            Adapter { dim: 2, rank: 1, down: vec![0.3, -0.2], up: vec![0.0, 0.0], own: vec![], words: vec![] };
        assert_eq!(adapter.apply(&[0.6, 0.8, 1.0, 0.0], &[]), [0.6, 0.8, 1.0, 0.0]);
        // A non-zero `up` moves a vector along it, and the result is unit length again.
        let adapter = Adapter { dim: 2, rank: 1, down: vec![1.0, 0.0], up: vec![0.0, 1.0], own: vec![], words: vec![] };
        let out = adapter.apply(&[1.0, 0.0], &[]);
        assert!((out[0] - out[1]).abs() < 1e-6 && (out[0] * out[0] + out[1] * out[1] - 1.0).abs() < 1e-6, "{out:?}");
    }
}

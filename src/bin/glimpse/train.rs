//! `glimpse train` and `glimpse eval`: train the joint model on Flickr8k, and measure an
//! exported model on a split exactly as search runs it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use glimpse::dataset::Split;
use glimpse::job::Job;
use glimpse::model::default_model_dir;
use glimpse::model::manifest::Hubness;
use glimpse::text::VocabSettings;
use glimpse::train::eval::{Metrics, Recall};
use glimpse::train::features::default_cache_dir;
use glimpse::train::loss::Mining;
use glimpse::train::model::{FeatureSlice, TextEncoderKind};
use glimpse::train::recipe::{self, Flickr8kTraining};
use glimpse::train::trainer::{Schedule, TrainConfig, TrainEvent};
use glimpse::train::workflow::{self, ModelSetup};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::Cli;

/// Options of `glimpse train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The Flickr8k folder (official layout, or Kaggle's Images/ + captions.txt).
    #[arg(long, value_name = "DIR")]
    flickr8k: PathBuf,
    /// A GloVe text file, plain or .gz, any dimension.
    #[arg(long, value_name = "FILE")]
    glove: PathBuf,
    /// Which in-batch negatives count after the warm-up: easy, semi-hard, hard or sum.
    #[arg(long, default_value = "hard")]
    mining: Mining,
    /// Epochs at the start that sum over all negatives (a gentler start for hard mining).
    #[arg(long, default_value_t = TrainConfig::default().warmup_epochs)]
    warmup_epochs: usize,
    /// At most this many epochs.
    #[arg(long, default_value_t = TrainConfig::default().epochs)]
    epochs: usize,
    /// Captions per step.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    batch: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = TrainConfig::default().lr)]
    lr: f64,
    /// The word embeddings' learning rate as a fraction of --lr (0 freezes them).
    #[arg(long, default_value_t = TrainConfig::default().embedding_lr_scale)]
    embedding_lr_scale: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = TrainConfig::default().weight_decay)]
    weight_decay: f64,
    /// Learning-rate schedule: constant, cosine or step.
    #[arg(long, default_value = "cosine")]
    schedule: Schedule,
    /// Triplet margin.
    #[arg(long, default_value_t = TrainConfig::default().margin)]
    margin: f32,
    /// Stop after this many epochs without a better dev R@sum (0 = never).
    #[arg(long, default_value_t = TrainConfig::default().patience)]
    patience: usize,
    /// Probability of dropping each word of a training caption.
    #[arg(long, default_value_t = 0.0)]
    word_dropout: f32,
    /// Probability of zeroing each backbone feature of a training photo.
    #[arg(long, default_value_t = 0.0)]
    feature_dropout: f32,
    /// Probability of reading each word of a training caption through the map from GloVe
    /// vectors to word vectors (as the open vocabulary reads words never trained on).
    #[arg(long, default_value_t = 0.0)]
    glove_substitution: f32,
    /// Joint-space dimension.
    #[arg(long, default_value_t = 512)]
    dim: usize,
    /// Trainable word-vector dimensions added after GloVe's.
    #[arg(long, default_value_t = 0)]
    extra_word_dims: usize,
    /// Hidden width of an MLP image head (default: a linear head).
    #[arg(long)]
    image_hidden: Option<usize>,
    /// Text encoder: mean (of the word vectors), gru (hidden 512) or gru-WIDTH.
    #[arg(long, default_value = "mean")]
    encoder: TextEncoderKind,
    /// Vocabulary size: the most frequent training words.
    #[arg(long, default_value_t = VocabSettings::default().max_words)]
    vocab_words: usize,
    /// Also keep every training word that has a GloVe vector.
    #[arg(long)]
    keep_glove_words: bool,
    /// Seed of every random choice; the same seed gives the same model.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// Backbone whose features are used.
    #[arg(long)]
    backbone: Option<String>,
    /// Only these backbone feature columns, START:END (e.g. 0:1280, Lite0's part of
    /// efficientnet-lite012); default all.
    #[arg(long, value_name = "START:END")]
    feature_slice: Option<FeatureSlice>,
    /// Where the model folder is written.
    #[arg(long, default_value = "glimpse-model")]
    out: PathBuf,
    /// Feature cache folder (default: the per-user cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
}

impl TrainArgs {
    /// True when the report is printed as JSON.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Captions per step.
    pub fn batch(&self) -> usize {
        self.batch
    }
}

/// Options of `glimpse eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The Flickr8k folder.
    #[arg(long, value_name = "DIR")]
    flickr8k: PathBuf,
    /// The split to measure: dev or test (train works too).
    #[arg(long, default_value = "dev")]
    split: Split,
    /// The model folder (default: the shipped model).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Feature cache folder (default: the per-user cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse combine`.
#[derive(clap::Args, Debug)]
pub struct CombineArgs {
    /// Where the combined model folder is written.
    #[arg(long)]
    out: PathBuf,
    /// Measure the combination on this Flickr8k folder's dev split and record it.
    #[arg(long, value_name = "DIR")]
    flickr8k: Option<PathBuf>,
    /// Feature cache folder (default: the per-user cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Print the dev metrics as JSON.
    #[arg(long)]
    json: bool,
    /// The model folders to combine (from `glimpse train`), two or more.
    #[arg(required = true, num_args = 2..)]
    models: Vec<PathBuf>,
}

/// Options of `glimpse calibrate`.
#[derive(clap::Args, Debug)]
pub struct CalibrateArgs {
    /// The model folder to calibrate, in place (from `glimpse train` or `glimpse combine`).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The Flickr8k folder: the bank comes from its train split, and the dev split is
    /// measured with the offsets and recorded.
    #[arg(long, value_name = "DIR")]
    flickr8k: PathBuf,
    /// Training captions in the bank.
    #[arg(long, default_value_t = Hubness::default().bank)]
    bank: usize,
    /// Nearest bank captions averaged into a photo's offset.
    #[arg(long, default_value_t = Hubness::default().k)]
    k: usize,
    /// The offset is this times that mean cosine (0 leaves rankings as they were).
    #[arg(long, default_value_t = Hubness::default().weight)]
    weight: f32,
    /// Seed of the choice of bank captions.
    #[arg(long, default_value_t = Hubness::default().seed)]
    seed: u64,
    /// Feature cache folder (default: the per-user cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Print the dev metrics as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse repack`.
#[derive(clap::Args, Debug)]
pub struct RepackArgs {
    /// The model folder whose graphs are rewritten in place.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Also record this installed backbone as the one the model takes features from: for
    /// a backbone with features of the same size, measured to fit (`glimpse eval` with the
    /// model pointed at it, against the old one), such as an int8 copy of the old backbone.
    #[arg(long, value_name = "NAME")]
    backbone: Option<String>,
    /// Also open the vocabulary: give every word of this GloVe file a vector (the trained
    /// words keep theirs; each other word gets its GloVe vector mapped by a linear map fitted
    /// on the trained words), so that a query's words outside the training captions count.
    #[arg(long, value_name = "FILE")]
    glove: Option<PathBuf>,
}

pub fn repack(_cli: &Cli, args: &RepackArgs) -> anyhow::Result<ExitCode> {
    let backbone = args.backbone.as_deref().map(glimpse::engine::BackboneModel::find).transpose()?;
    let (manifest, files) = glimpse::train::repack::repack(&args.model, backbone.as_ref())
        .with_context(|| format!("cannot repack {}", args.model.display()))?;
    for f in &files {
        println!("{}: {:.1} MB → {:.1} MB", f.file, f.bytes.0 as f64 / 1e6, f.bytes.1 as f64 / 1e6);
    }
    println!("image head sha256 {}, text encoder sha256 {}", manifest.image_head.sha256, manifest.text_encoder.sha256);
    println!(
        "libraries projected with the old image head are projected again from their stored features when next opened"
    );
    if let Some(glove) = &args.glove {
        let opened = glimpse::train::open_vocab::open_vocabulary(&args.model, glove)
            .with_context(|| format!("cannot open the vocabulary of {}", args.model.display()))?;
        let mb = |b: (u64, u64)| format!("{:.1} MB → {:.1} MB", b.0 as f64 / 1e6, b.1 as f64 / 1e6);
        println!("vocabulary: {} ids → {} ids ({})", opened.trained, opened.words, mb(opened.vocab_bytes));
        println!("text encoder: {}", mb(opened.text_bytes));
        for (i, fit) in opened.fits.iter().enumerate() {
            println!(
                "member {i}: map fitted on {} trained words (ridge {}); on {} held out: R² {:.3}, mean cosine {:.3} (the unknown word's vector: {:.3})",
                fit.words, fit.ridge, fit.held_out, fit.held_out_r2, fit.held_out_cosine, fit.unknown_cosine
            );
        }
        println!("text encoder sha256 {}", opened.manifest.text_encoder.sha256);
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `glimpse compact`.
#[derive(clap::Args, Debug)]
pub struct CompactArgs {
    /// The model folder (from `glimpse train`, `combine` or `calibrate`); with --write, the
    /// projection is stored in it.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// The Flickr8k folder: the projection is fitted on its train split and measured on dev.
    #[arg(long, value_name = "DIR")]
    flickr8k: PathBuf,
    /// Dimensions to keep (bytes per photo); several, comma-separated, to compare them.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    dims: Vec<usize>,
    /// Quantile of the training photos' magnitudes that the int8 range covers; several to compare.
    #[arg(long, value_delimiter = ',', default_value = "0.999")]
    clip: Vec<f32>,
    /// Store the (single) projection in the model folder; without it, only measure.
    #[arg(long)]
    write: bool,
    /// Feature cache folder (default: the per-user cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn compact(cli: &Cli, args: &CompactArgs) -> anyhow::Result<ExitCode> {
    let candidates: Vec<(usize, f32)> =
        args.dims.iter().flat_map(|&d| args.clip.iter().map(move |&c| (d, c))).collect();
    let setup = model_setup(cli, &args.flickr8k, args.cache.as_ref())?;
    let job = workflow::start_compact(setup, args.model.clone(), candidates, args.write, None)?;
    render(&job);
    let report = job.wait()??;
    if args.json {
        let trials: Vec<serde_json::Value> = report
            .trials
            .iter()
            .map(|t| json!({"dims": t.dim, "clip": t.clip, "bytes_per_photo": t.dim + 4, "dev": metrics_json("dev", &t.dev)}))
            .collect();
        let plain = json!({"bytes_per_photo": report.plain_bytes(), "dev": metrics_json("dev", &report.plain)});
        println!("{}", json!({"exact": metrics_json("dev", &report.exact), "plain_int8": plain, "trials": trials}));
    } else {
        println!("dev, text→image and image→text, by bytes per photo:");
        println!("{:>22}  t2i {}", "exact (f32)", recall_line(&report.exact.t2i));
        println!("{:>22}  i2t {}", "", recall_line(&report.exact.i2t));
        println!(
            "{:>22}  t2i {}",
            format!("all dims int8 ({} B)", report.plain_bytes()),
            recall_line(&report.plain.t2i)
        );
        println!("{:>22}  i2t {}", "", recall_line(&report.plain.i2t));
        for t in &report.trials {
            println!(
                "{:>22}  t2i {}",
                format!("{} dims, clip {} ({} B)", t.dim, t.clip, t.dim + 4),
                recall_line(&t.dev.t2i)
            );
            println!("{:>22}  i2t {}", "", recall_line(&t.dev.i2t));
        }
    }
    if report.written.is_some() {
        eprintln!(
            "{}: compact projection written; index the library again to store its photos compactly",
            args.model.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn recall_line(r: &Recall) -> String {
    format!("R@1 {:5.1}  R@5 {:5.1}  R@10 {:5.1}  medr {:4}", r.r1, r.r5, r.r10, r.medr)
}

/// Renders a job's events on stderr: feature progress and steps as a bar, epochs and notes
/// as lines. Ctrl-C asks the job to stop; training then exports its best epoch.
pub fn render<R>(job: &Job<TrainEvent, R>) {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    loop {
        if interrupted.load(Ordering::Relaxed) {
            job.stop();
        }
        let event = match job.events().recv_timeout(std::time::Duration::from_millis(100)) {
            Ok(event) => event,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        match event {
            TrainEvent::Note(line) => bar.suspend(|| eprintln!("{line}")),
            TrainEvent::Features { done, total } => {
                bar.set_message("photo features");
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            TrainEvent::Step { epoch, step, steps, loss } => {
                bar.set_message(format!("epoch {epoch} loss {loss:.4}"));
                bar.set_length(steps as u64);
                bar.set_position(step as u64);
            }
            TrainEvent::Epoch(e) => bar.suspend(|| {
                eprintln!(
                    "epoch {:3} {:9} loss {:.4}  dev t2i {}  i2t R@1 {:5.1}  {:.1} s{}",
                    e.epoch,
                    e.mining.name(),
                    e.loss,
                    recall_line(&e.dev.t2i),
                    e.dev.i2t.r1,
                    e.train_seconds,
                    if e.best { "  *best" } else { "" }
                )
            }),
        }
    }
    bar.finish_and_clear();
}

pub fn metrics_json(split: &str, m: &Metrics) -> serde_json::Value {
    let r = |r: &Recall| json!({"r1": r.r1, "r5": r.r5, "r10": r.r10, "medr": r.medr});
    json!({"split": split, "images": m.images, "captions": m.captions, "t2i": r(&m.t2i), "i2t": r(&m.i2t)})
}

/// The training run the options describe.
pub fn training_run(cli: &Cli, args: &TrainArgs) -> anyhow::Result<Flickr8kTraining> {
    let config = TrainConfig {
        mining: args.mining,
        warmup_epochs: args.warmup_epochs,
        margin: args.margin,
        epochs: args.epochs,
        batch_size: args.batch,
        lr: args.lr,
        embedding_lr_scale: args.embedding_lr_scale,
        weight_decay: args.weight_decay,
        schedule: args.schedule,
        patience: args.patience,
        word_dropout: args.word_dropout,
        feature_dropout: args.feature_dropout,
        glove_substitution: args.glove_substitution,
        seed: args.seed,
    };
    config.check()?;
    let vocab =
        VocabSettings { max_words: args.vocab_words, keep_glove_words: args.keep_glove_words, ..Default::default() };
    vocab.check()?;
    let run = Flickr8kTraining {
        flickr8k: args.flickr8k.clone(),
        glove: args.glove.clone(),
        out: args.out.clone(),
        cache_dir: args.cache.clone().unwrap_or_else(default_cache_dir),
        backbone: cli.backbone(args.backbone.as_deref())?,
        vocab,
        extra_word_dims: args.extra_word_dims,
        joint_dim: args.dim,
        image_hidden: args.image_hidden,
        text_encoder: args.encoder,
        feature_slice: args.feature_slice,
        train: config,
    };
    Ok(run)
}

pub fn train(cli: &Cli, args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let run = training_run(cli, args)?;
    let job = recipe::start(run, None)?;
    render(&job);
    let report = job.wait()?.context("training failed")?;
    if args.json {
        let mut value = metrics_json("dev", &report.dev);
        value["best_epoch"] = json!(report.best_epoch);
        value["seconds"] = json!(report.seconds);
        value["out"] = json!(args.out);
        println!("{value}");
    } else {
        println!(
            "{}: epoch {} of {} kept ({:.0} s{})",
            args.out.display(),
            report.best_epoch,
            report.history.len(),
            report.seconds,
            if report.stopped { ", stopped early" } else { "" }
        );
        println!("dev text→image  {}", recall_line(&report.dev.t2i));
        println!("dev image→text  {}", recall_line(&report.dev.i2t));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn eval(cli: &Cli, args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => default_model_dir()
            .context("no trained model is installed: pass --model DIR (from `glimpse train --out DIR`)")?,
    };
    let job =
        workflow::start_measure_both(model_setup(cli, &args.flickr8k, args.cache.as_ref())?, dir, args.split, None)?;
    render(&job);
    let measured = job.wait()??;
    if args.json {
        let mut value = metrics_json(args.split.name(), &measured.compact);
        value["bytes_per_photo"] = json!(measured.bytes);
        value["exact"] = metrics_json(args.split.name(), &measured.exact);
        value["unseen_words"] = unseen_words_json(args.split.name(), &measured.unseen_words);
        println!("{value}");
    } else {
        print_metrics(false, args.split, &measured.compact);
        println!("({} bytes per photo, as search ranks; at full precision:)", measured.bytes);
        println!("text→image  {}", recall_line(&measured.exact.t2i));
        println!("image→text  {}", recall_line(&measured.exact.i2t));
        let unseen = &measured.unseen_words;
        println!("{} captions with a word no training caption has", unseen.captions);
        if let Some(m) = &unseen.compact {
            println!("text→image  {}", recall_line(&m.t2i));
            println!("image→text  {}", recall_line(&m.i2t));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `glimpse eval --json`'s `"unseen_words"`: the captions with a word no training caption
/// has, their count, and the split's metrics over them as search ranks and at full precision.
fn unseen_words_json(split: &str, unseen: &workflow::UnseenWords) -> serde_json::Value {
    let mut value = match &unseen.compact {
        Some(m) => metrics_json(split, m),
        None => json!({"split": split}),
    };
    value["captions"] = json!(unseen.captions);
    if let Some(m) = &unseen.exact {
        value["exact"] = metrics_json(split, m);
    }
    value
}

/// What the model workflows open: the runtime with the CLI's options, Flickr8k, the cache.
pub fn model_setup(cli: &Cli, flickr8k: &std::path::Path, cache: Option<&PathBuf>) -> anyhow::Result<ModelSetup> {
    Ok(ModelSetup {
        runtime: cli.runtime()?,
        options: cli.session_options(),
        flickr8k: flickr8k.to_path_buf(),
        cache_dir: cache.cloned().unwrap_or_else(default_cache_dir),
    })
}

/// Prints a split's metrics as JSON or as two lines of recalls.
fn print_metrics(json: bool, split: Split, metrics: &Metrics) {
    if json {
        println!("{}", metrics_json(split.name(), metrics));
    } else {
        println!("{} split: {} photos, {} captions", split, metrics.images, metrics.captions);
        println!("text→image  {}", recall_line(&metrics.t2i));
        println!("image→text  {}", recall_line(&metrics.i2t));
    }
}

pub fn combine(cli: &Cli, args: &CombineArgs) -> anyhow::Result<ExitCode> {
    let setup = args.flickr8k.as_ref().map(|f| model_setup(cli, f, args.cache.as_ref())).transpose()?;
    let job = workflow::start_combine(args.out.clone(), args.models.clone(), setup, None)?;
    render(&job);
    let combined = job.wait()??;
    let Some(metrics) = combined.dev else { return Ok(ExitCode::SUCCESS) };
    if args.json {
        println!("{}", metrics_json("dev", &metrics));
    } else {
        println!("dev text→image  {}", recall_line(&metrics.t2i));
        println!("dev image→text  {}", recall_line(&metrics.i2t));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn calibrate(cli: &Cli, args: &CalibrateArgs) -> anyhow::Result<ExitCode> {
    let settings = Hubness { bank: args.bank, k: args.k, weight: args.weight, seed: args.seed, dev: None };
    let setup = model_setup(cli, &args.flickr8k, args.cache.as_ref())?;
    let job = workflow::start_calibrate(setup, args.model.clone(), settings.clone(), None)?;
    render(&job);
    let calibrated = job.wait()??;
    eprintln!(
        "{}: calibrated with {} bank captions, k {}, weight {}; measure the \"no strong match\" cue again with `glimpse bench cue --write`",
        args.model.display(),
        calibrated.bank,
        settings.k,
        settings.weight
    );
    print_metrics(args.json, Split::Dev, &calibrated.dev);
    Ok(ExitCode::SUCCESS)
}

//! `glimpse bench …`: speed measured against a baseline taken in the same run.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use glimpse::bench::embed::{self, photos_in};
use glimpse::bench::formats;
use glimpse::engine::manifest::DEFAULT_BACKBONE;
use glimpse::engine::{BackboneModel, EmbedOptions};

use crate::Cli;

/// The benchmarks.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Backbone rate on ready tensors vs the whole pipeline (read, decode, resize, infer) on photos.
    Embed(EmbedArgs),
    /// Query latency over synthetic libraries (10k, 100k, 1M vectors) and the cost of opening a 100k-photo index.
    #[command(alias = "search")]
    Scale(ScaleArgs),
    /// Time fresh `glimpse search "…"` processes on a library and read their peak memory.
    ColdStart(ColdStartArgs),
    /// Relevance feedback with a simulated user on a Flickr8k split: Recall@K before and after, per Rocchio weights.
    Feedback(FeedbackArgs),
    /// The "no strong match" cue on a Flickr8k split: top scores with the true photo there and held out.
    Cue(CueArgs),
    /// Near-duplicates: copies of real photos against their originals (sets the threshold), and grouping time at 100k.
    Duplicates(DuplicatesBenchArgs),
    /// Training speed: seconds per epoch over the Flickr8k training captions on cached features.
    Epoch(EpochArgs),
    /// Keeping a large library up to date: one-entry updates, the journal's write and replay, whole-file hashing vs decoding.
    Updates(UpdatesArgs),
    /// Typos on a Flickr8k split: one word of each caption mistyped, searched as written, without the word, and as typed.
    Typos(TyposArgs),
    /// Concepts taught by example on a Flickr8k split: photos sharing a caption word, found from k examples, against the examples as a photo query and the word as text.
    Concepts(ConceptsArgs),
}

/// Options of `glimpse bench concepts`.
#[derive(clap::Args, Debug)]
pub struct ConceptsArgs {
    #[command(flatten)]
    split: FeedbackArgs,
    /// Random sets of examples per concept and k.
    #[arg(long, default_value_t = 20)]
    draws: usize,
    /// The ranker to report: concept (what a saved concept does), photos or contrast.
    #[arg(long, default_value = "concept")]
    ranker: String,
    /// The weight of the library's mean for the contrast and concept rankers.
    #[arg(long)]
    beta: Option<f32>,
    /// The concept ranker's number of words (0: photos only).
    #[arg(long)]
    words: Option<usize>,
    /// The concept ranker's share of the words in the query.
    #[arg(long)]
    words_weight: Option<f32>,
    /// The concept ranker's whitening (share of the mean eigenvalue; 0: none).
    #[arg(long)]
    shrink: Option<f32>,
    /// The concept ranker's balance of the two parts by their spread (true/false).
    #[arg(long)]
    balance: Option<bool>,
}

/// Options of `glimpse bench updates`.
#[derive(clap::Args, Debug)]
pub struct UpdatesArgs {
    /// Entries in the library.
    #[arg(long, default_value_t = 100_000)]
    photos: usize,
    /// Entries for the comparison with a scan per update (quadratic, so fewer).
    #[arg(long, default_value_t = 20_000)]
    baseline: usize,
    /// Photos to hash and decode.
    #[arg(long, value_name = "DIR", default_value = "../shared/photos")]
    hash_photos: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse bench epoch`: the options of `glimpse train` (its --epochs is not
/// used here).
#[derive(clap::Args, Debug)]
pub struct EpochArgs {
    #[command(flatten)]
    train: crate::train::TrainArgs,
    /// Epochs to time: the first sums over all negatives (the warm-up), the rest use --mining.
    #[arg(long, default_value_t = 2)]
    timed_epochs: usize,
}

/// Options of `glimpse bench duplicates`.
#[derive(clap::Args, Debug)]
pub struct DuplicatesBenchArgs {
    /// Photos to copy (resized, re-encoded, cropped) and compare.
    #[arg(long, value_name = "DIR", default_value = "../shared/photos")]
    photos: PathBuf,
    /// Vectors to group for the timing.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse bench cue`.
#[derive(clap::Args, Debug)]
pub struct CueArgs {
    #[command(flatten)]
    split: FeedbackArgs,
    /// Store the best statistic and its threshold in the model's manifest.json.
    #[arg(long)]
    write: bool,
}

/// Options of `glimpse bench typos`.
#[derive(clap::Args, Debug)]
pub struct TyposArgs {
    #[command(flatten)]
    split: FeedbackArgs,
    /// Seed of the typos drawn.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Options of `glimpse bench feedback`.
#[derive(clap::Args, Debug)]
pub struct FeedbackArgs {
    /// The Flickr8k folder.
    #[arg(long, value_name = "DIR")]
    flickr8k: PathBuf,
    /// The split: dev (choose weights here) or test.
    #[arg(long, default_value = "dev")]
    split: glimpse::dataset::Split,
    /// The text model folder (default: the installed one).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse bench scale` (also `bench search`).
#[derive(clap::Args, Debug)]
pub struct ScaleArgs {
    /// Print JSON: {"sizes": [{"photos": N, …}, …]}.
    #[arg(long)]
    json: bool,
    /// Library sizes to measure.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100_000usize, 1_000_000])]
    sizes: Vec<usize>,
    /// Text queries per size (each also run with a filter).
    #[arg(long, default_value_t = 60)]
    queries: usize,
    /// The text model (default: the shipped one).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Folder for the generated libraries (default: a temporary folder; 1M photos take 4.3 GB).
    #[arg(long, value_name = "DIR")]
    work: Option<PathBuf>,
    /// Measure the library at this path in this process and print JSON (what each size runs).
    #[arg(long, value_name = "INDEX", hide = true)]
    measure: Option<PathBuf>,
}

/// Options of `glimpse bench cold-start`.
#[derive(clap::Args, Debug)]
pub struct ColdStartArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Photos in the library searched.
    #[arg(long, default_value_t = 10_000)]
    photos: usize,
    /// Fresh `glimpse search` processes to time.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Options of `glimpse bench embed`.
#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Backbone to measure.
    #[arg(long)]
    backbone: Option<String>,
    /// Photos per backbone call.
    #[arg(long, default_value_t = EmbedOptions::default().batch_size)]
    batch: usize,
    /// Threads that decode photos (0 = one per core).
    #[arg(long, default_value_t = 0)]
    decode_threads: usize,
    /// How many times each photo is embedded per pass.
    #[arg(long, default_value_t = 4)]
    repeat: usize,
    /// Passes; each rate is the best pass.
    #[arg(long, default_value_t = 2)]
    passes: usize,
    /// Also measure this many large photos (4000x3000 JPEGs made from the folder's photos).
    #[arg(long, default_value_t = 0)]
    large: usize,
    /// Also measure this many 4032x3024 photos in each format people keep: JPEG, HEIC as an
    /// iPhone writes it (made with heif-enc, package libheif-examples) and a camera's DNG with
    /// its JPEG preview, all made from the same pixels.
    #[arg(long, default_value_t = 0)]
    formats: usize,
    /// Also measure this backbone on the same photos in the same run, and print both rates
    /// and their ratio (measured first / this one).
    #[arg(long, value_name = "BACKBONE")]
    compare: Option<String>,
    /// Folder of photos (default: ../shared/photos beside the source checkout).
    dir: Option<PathBuf>,
}

pub fn run(cli: &Cli, command: &BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Embed(args) => embed_bench(cli, args),
        BenchCommand::Concepts(args) => concepts_bench(cli, args),
        BenchCommand::Scale(args) => scale_bench(cli, args),
        BenchCommand::ColdStart(args) => cold_start_bench(cli, args),
        BenchCommand::Feedback(args) => feedback_bench(cli, args),
        BenchCommand::Cue(args) => cue_bench(cli, args),
        BenchCommand::Typos(args) => typos_bench(cli, args),
        BenchCommand::Duplicates(args) => duplicates_bench(cli, args),
        BenchCommand::Epoch(args) => epoch_bench(cli, args),
        BenchCommand::Updates(args) => updates_bench(args),
    }
}

fn updates_bench(args: &UpdatesArgs) -> anyhow::Result<ExitCode> {
    use glimpse::bench::updates::{hash_cost, update_cost};
    let dim = BackboneModel::find(DEFAULT_BACKBONE)?.manifest.features.dim;
    let work = tempfile::tempdir()?;
    eprintln!("updating {} entries of {dim} features…", args.photos);
    let updates = update_cost(args.photos, dim, args.baseline, work.path())?;
    let photos = photos_in(&args.hash_photos)?;
    let preprocess = glimpse::engine::Preprocess::from_manifest(&BackboneModel::find(DEFAULT_BACKBONE)?.manifest);
    eprintln!("hashing and decoding {} photos…", photos.len());
    let hashing = hash_cost(&photos, &preprocess)?;
    if args.json {
        println!("{}", serde_json::json!({"updates": updates, "hashing": hashing}));
        return Ok(ExitCode::SUCCESS);
    }
    let u = &updates;
    println!(
        "{} entries ({} features): adding each {:.2} s ({:.1} µs each); journal written in {:.2} s ({:.0} MB), replayed in {:.2} s",
        u.photos,
        u.feature_dim,
        u.upsert_s,
        u.upsert_s * 1e6 / u.photos.max(1) as f64,
        u.journal_write_s,
        u.journal_bytes as f64 / 1e6,
        u.journal_replay_s
    );
    println!(
        "{} adds: {:.2} s scanning every entry per add, {:.3} s with the path map ({:.0}x)",
        u.baseline_photos, u.baseline_scan_s, u.baseline_map_s, u.speedup
    );
    let h = &hashing;
    println!(
        "{} photos ({:.1} MB): hashing every byte {:.3} s, decoding {:.3} s; the hash is {:.1} % of the decode",
        h.photos,
        h.bytes as f64 / 1e6,
        h.hash_s,
        h.decode_s,
        100.0 * h.ratio
    );
    Ok(ExitCode::SUCCESS)
}

/// The goal for one epoch over the training captions on this kind of machine (2 cores).
const EPOCH_GOAL_SECONDS: f64 = 20.0;

fn epoch_bench(cli: &Cli, args: &EpochArgs) -> anyhow::Result<ExitCode> {
    use glimpse::job::Job;
    use glimpse::train::{recipe, trainer};
    let mut run = crate::train::training_run(cli, &args.train)?;
    run.train.epochs = args.timed_epochs.max(1);
    run.train.warmup_epochs = 1;
    run.train.patience = 0;
    let job = Job::spawn("glimpse-bench-epoch", 64, None, move |cx| {
        let prepared = recipe::prepare(&run, &cx)?;
        let trained =
            trainer::train(&prepared.model, &prepared.words, &run.train, &prepared.train, &prepared.dev, &cx)?;
        Ok::<_, glimpse::Error>((prepared.train.captions(), prepared.model.text_encoder, trained.history))
    })?;
    crate::train::render(&job);
    let (captions, encoder, history) = job.wait()??;
    // Per epoch: its number, mining, seconds, captions per second, goal / measured.
    let rows: Vec<(usize, &str, f64, f64, f64)> = history
        .iter()
        .map(|e| {
            let s = e.train_seconds;
            (e.epoch, e.mining.name(), s, captions as f64 / s, EPOCH_GOAL_SECONDS / s)
        })
        .collect();
    if args.train.json() {
        let epochs: Vec<serde_json::Value> = rows
            .iter()
            .map(|&(epoch, mining, seconds, rate, ratio)| {
                serde_json::json!({
                    "epoch": epoch,
                    "mining": mining,
                    "seconds": seconds,
                    "captions_per_second": rate,
                    "goal_ratio": ratio,
                })
            })
            .collect();
        let value = serde_json::json!({
            "captions": captions,
            "encoder": encoder.describe(),
            "goal_seconds": EPOCH_GOAL_SECONDS,
            "epochs": epochs,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "{captions} training captions, text encoder {}, batch {}; goal: one epoch in {EPOCH_GOAL_SECONDS} s",
            encoder.describe(),
            args.train.batch()
        );
        println!("| epoch | mining | seconds | captions/s | goal / measured |");
        println!("|---|---|---|---|---|");
        for (epoch, mining, seconds, rate, ratio) in rows {
            println!("| {epoch} | {mining} | {seconds:.1} | {rate:.0} | {ratio:.2}x |");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The model folder and a split embedded through it, as search runs them.
/// The model folder a split bench measures (default: the installed one) and what opening
/// it needs.
fn split_setup(cli: &Cli, args: &FeedbackArgs) -> anyhow::Result<(glimpse::train::workflow::ModelSetup, PathBuf)> {
    use anyhow::Context;
    let dir = match &args.model {
        Some(dir) => dir.clone(),
        None => glimpse::model::default_model_dir().context("no text model is installed: pass --model DIR")?,
    };
    Ok((crate::train::model_setup(cli, &args.flickr8k, None)?, dir))
}

/// A split in the joint space of the model a split bench measures.
fn embedded_split(cli: &Cli, args: &FeedbackArgs) -> anyhow::Result<glimpse::train::recipe::EmbeddedSplit> {
    let (setup, dir) = split_setup(cli, args)?;
    let split = args.split;
    let job = glimpse::job::Job::spawn("glimpse-eval", 64, None, move |cx| setup.embed_split(&dir, split, &cx))?;
    crate::train::render(&job);
    Ok(job.wait()??)
}

fn duplicates_bench(cli: &Cli, args: &DuplicatesBenchArgs) -> anyhow::Result<ExitCode> {
    use glimpse::bench::duplicates::{COPY_KINDS, copy_cosines, grouping_speed};
    use glimpse::index::duplicates::DEFAULT_THRESHOLD;
    let backbone = cli.backbone(None)?;
    let photos = photos_in(&args.photos)?;
    let work = tempfile::tempdir()?;
    eprintln!("copying and embedding {} photos…", photos.len());
    let cosines = copy_cosines(&backbone, &photos, work.path())?;
    eprintln!("grouping {} vectors…", args.n);
    let speed = grouping_speed(args.n, backbone.dim(), 1000, DEFAULT_THRESHOLD);
    if args.json {
        println!("{}", serde_json::json!({"copies": cosines, "grouping": speed, "threshold": DEFAULT_THRESHOLD}));
        return Ok(ExitCode::SUCCESS);
    }
    for (kind, low) in COPY_KINDS.iter().zip(&cosines.lowest_per_kind) {
        println!("lowest cosine, original vs copy {kind}: {low:.3}");
    }
    println!(
        "highest cosine between two distinct photos: {:.3} ({} photos)",
        cosines.highest_distinct, cosines.originals
    );
    println!(
        "grouping {} vectors of {}: {:.1} s, {} of {} planted near-copies (cosine 0.85) found, threshold {DEFAULT_THRESHOLD}",
        speed.photos, speed.dim, speed.seconds, speed.found, speed.planted
    );
    Ok(ExitCode::SUCCESS)
}

fn cue_bench(cli: &Cli, args: &CueArgs) -> anyhow::Result<ExitCode> {
    let (setup, dir) = split_setup(cli, &args.split)?;
    let job = glimpse::bench::cue::start(setup, dir.clone(), args.split.split, args.write, None)?;
    crate::train::render(&job);
    let report = job.wait()??;
    if args.split.json {
        println!("{}", serde_json::to_string_pretty(&report.results)?);
    } else {
        println!("{} captions, {} photos; the cue fires below the threshold", report.captions, report.photos);
        println!(
            "| statistic | median, photo there | median, held out | threshold | precision | recall | false alarms |"
        );
        println!("|---|---|---|---|---|---|---|");
        for r in &report.results {
            println!(
                "| {:?} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} | {:.1} |",
                r.statistic, r.medians.0, r.medians.1, r.threshold, r.precision, r.recall, r.false_alarms
            );
        }
    }
    if let Some(cue) = &report.stored {
        eprintln!("stored {} < {:.3} in {}", cue.statistic, cue.threshold, dir.join("manifest.json").display());
    }
    Ok(ExitCode::SUCCESS)
}

fn typos_bench(cli: &Cli, args: &TyposArgs) -> anyhow::Result<ExitCode> {
    let (setup, dir) = split_setup(cli, &args.split)?;
    let job = glimpse::bench::typos::start(setup, dir, args.split.split, args.seed, None)?;
    crate::train::render(&job);
    let report = job.wait()??;
    if args.split.json {
        let split = args.split.split.name();
        let m = |m| crate::train::metrics_json(split, m);
        println!(
            "{}",
            serde_json::json!({
                "captions": report.captions,
                "read_right": report.read_right,
                "read_wrong": report.read_wrong,
                "left_out": report.left_out,
                "read_ms": {"mean": report.read_ms.0, "max": report.read_ms.1},
                "written": m(&report.written),
                "without_word": m(&report.without_word),
                "as_typed": m(&report.as_typed),
            })
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} captions with one word mistyped: {:.1} % read as the word meant, {:.1} % as another, {:.1} % left out",
        report.captions, report.read_right, report.read_wrong, report.left_out
    );
    println!("reading a typo: {:.2} ms on average, {:.2} ms at most", report.read_ms.0, report.read_ms.1);
    println!("| captions | text → image R@1 | R@5 | R@10 | median rank |");
    println!("|---|---|---|---|---|");
    for (name, m) in
        [("as written", &report.written), ("without the word", &report.without_word), ("as typed", &report.as_typed)]
    {
        let r = &m.t2i;
        println!("| {name} | {:.2} | {:.2} | {:.2} | {} |", r.r1, r.r5, r.r10, r.medr);
    }
    Ok(ExitCode::SUCCESS)
}

fn concepts_bench(cli: &Cli, args: &ConceptsArgs) -> anyhow::Result<ExitCode> {
    use glimpse::bench::concepts::{Photos, Ranker, choose, run};
    use glimpse::index::concept::Recipe;
    let default = Recipe::default();
    let recipe = Recipe {
        words: args.words.unwrap_or(default.words),
        words_weight: args.words_weight.unwrap_or(default.words_weight),
        beta: args.beta.unwrap_or(default.beta),
        shrink: args.shrink.unwrap_or(default.shrink),
        balance: args.balance.unwrap_or(default.balance),
    };
    let ranker = match args.ranker.as_str() {
        "concept" => Ranker::Concept(recipe),
        "photos" => Ranker::Photos,
        "contrast" => Ranker::Contrast { beta: recipe.beta },
        other => anyhow::bail!("unknown ranker '{other}': use concept, photos or contrast"),
    };
    let (setup, dir) = split_setup(cli, &args.split)?;
    let split = embedded_split(cli, &args.split)?;
    let items = glimpse::dataset::Flickr8k::open(&args.split.flickr8k)?.split(args.split.split)?;
    // At least 2 of a photo's 5 captions name the word, and at least 15 such photos.
    let concepts = choose(&items, &split.kept, 15, 2);
    let model = glimpse::model::ExportedModel::open(setup.runtime, &dir, &setup.options)?;
    let words: Vec<Vec<f32>> = concepts
        .iter()
        .map(|c| Ok(model.embed_texts(&[c.word.as_str()])?.row(0).to_vec()))
        .collect::<glimpse::Result<_>>()?;
    let vocabulary = match ranker {
        Ranker::Concept(_) => Some(glimpse::finder::word_table(&model)?),
        _ => None,
    };
    let photos = Photos { images: &split.images, offsets: &split.offsets, dim: split.dim };
    let table = run(photos, &concepts, &words, vocabulary.as_ref(), &[1, 3, 5, 10], args.draws, ranker);
    if args.split.json {
        println!("{}", serde_json::to_string_pretty(&table)?);
        return Ok(ExitCode::SUCCESS);
    }
    let words: Vec<String> = table.words.iter().map(|(w, n)| format!("{w} ({n})")).collect();
    println!(
        "{} concepts on {} photos ({} split): {}",
        table.concepts,
        table.images,
        args.split.split,
        words.join(", ")
    );
    println!("ranker {:?}, {} draws of examples per concept and k", table.ranker, table.draws);
    println!("| k | P@10 | mAP | photos P@10 | photos mAP | word P@10 | word mAP |");
    println!("|---|---|---|---|---|---|---|");
    for r in &table.by_k {
        println!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.k, r.p_at_10, r.map, r.photos_p_at_10, r.photos_map, r.word_p_at_10, r.word_map
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn feedback_bench(cli: &Cli, args: &FeedbackArgs) -> anyhow::Result<ExitCode> {
    use glimpse::bench::feedback::{Marks, simulate, weight_grid};
    let split = embedded_split(cli, args)?;
    let table =
        simulate(&split.images, &split.offsets, &split.captions, split.dim, &split.caption_image, &weight_grid());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&table)?);
        return Ok(ExitCode::SUCCESS);
    }
    let b = &table.before;
    println!("{} captions against {} photos ({} split)", table.captions, table.images, args.split);
    println!("| marks | a | b | c | R@1 | R@5 | R@10 |");
    println!("|---|---|---|---|---|---|---|");
    println!("| none (before) | | | | {:.1} | {:.1} | {:.1} |", b.r1, b.r5, b.r10);
    for r in &table.rows {
        let marks = match r.marks {
            Marks::GoodAndBad => "good + bad",
            Marks::BadOnly => "bad only",
        };
        println!(
            "| {marks} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
            r.a, r.b, r.c, r.after.r1, r.after.r5, r.after.r10
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cold_start_bench(cli: &Cli, args: &ColdStartArgs) -> anyhow::Result<ExitCode> {
    let model_dir = glimpse::model::default_model_dir().context("no text model is installed")?;
    let backbone = BackboneModel::find(&glimpse::model::JointManifest::load(&model_dir)?.backbone.name)?;
    let tmp = tempfile::tempdir()?;
    let index = tmp.path().join("library.glimpse");
    eprintln!("writing a library of {} photos…", args.photos);
    glimpse::bench::scale::write_library(&index, args.photos, &model_dir, &backbone)?;
    let mut walls = Vec::new();
    let mut peak_kb: i64 = 0;
    for run in 0..args.runs.max(1) {
        let mut child = std::process::Command::new(std::env::current_exe()?);
        if let Some(lib) = &cli.ort_lib {
            child.arg("--ort-lib").arg(lib);
        }
        child.args(["--threads", &cli.threads.to_string(), "search", "--index"]).arg(&index);
        child.arg(["a dog running through water", "two children playing on the beach"][run % 2]);
        child.stdout(std::process::Stdio::null());
        let started = std::time::Instant::now();
        let status = child.status()?;
        walls.push(started.elapsed().as_secs_f64());
        if !status.success() {
            anyhow::bail!("glimpse search failed ({status})");
        }
        peak_kb = peak_kb.max(children_peak_kb());
    }
    walls.sort_by(f64::total_cmp);
    let (p50, max) = (walls[walls.len() / 2], walls[walls.len() - 1]);
    let peak_mb = peak_kb as f64 / 1024.0;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"photos": args.photos, "runs": walls.len(), "wall_p50_s": p50, "wall_max_s": max, "peak_rss_mb": peak_mb})
        );
    } else {
        println!(
            "glimpse search on {} photos, {} fresh processes: wall p50 {p50:.3} s (max {max:.3} s), peak RSS {peak_mb:.0} MB",
            args.photos,
            walls.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The largest peak resident memory of any waited-for child process, KB (`getrusage`).
fn children_peak_kb() -> i64 {
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_maxrss
}

fn scale_bench(cli: &Cli, args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    use glimpse::bench::scale::{ScaleRow, measure_library, teach_concept, write_library};
    let model_dir = match &args.model {
        Some(dir) => dir.clone(),
        None => glimpse::model::default_model_dir().context("no text model is installed: pass --model DIR")?,
    };
    if let Some(index) = &args.measure {
        let measured = measure_library(index, cli.runtime()?, &cli.session_options(), Some(&model_dir), args.queries)?;
        println!("{}", serde_json::to_string(&measured)?);
        return Ok(ExitCode::SUCCESS);
    }
    let tmp = match &args.work {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let backbone = BackboneModel::find(&glimpse::model::JointManifest::load(&model_dir)?.backbone.name)?;
    let mut rows = Vec::new();
    for &photos in &args.sizes {
        let path = tmp.path().join(format!("library-{photos}.glimpse"));
        eprintln!("writing a library of {photos} photos…");
        write_library(&path, photos, &model_dir, &backbone)?;
        let disk = std::fs::metadata(&path)?.len();
        eprintln!("teaching it a concept…");
        let concept_fit_s = teach_concept(&path, cli.runtime()?, &cli.session_options(), &model_dir)?;
        // Read once so the timed open sees a warm page cache, as after a first launch.
        let _ = std::fs::read(&path);
        eprintln!("opening and searching it in a process of its own…");
        let mut child = std::process::Command::new(std::env::current_exe()?);
        if let Some(lib) = &cli.ort_lib {
            child.arg("--ort-lib").arg(lib);
        }
        child.args(["--threads", &cli.threads.to_string(), "bench", "scale", "--queries", &args.queries.to_string()]);
        child.arg("--model").arg(&model_dir).arg("--measure").arg(&path);
        let out = child.stderr(std::process::Stdio::inherit()).output()?;
        if !out.status.success() {
            anyhow::bail!("measuring the library of {photos} photos failed ({})", out.status);
        }
        let measured = serde_json::from_slice(&out.stdout).context("the measuring process printed no result")?;
        rows.push(ScaleRow {
            photos,
            disk_bytes_per_photo: disk as f64 / photos.max(1) as f64,
            concept_fit_s,
            measured,
        });
        let _ = std::fs::remove_file(&path);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "sizes": rows }))?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "| photos | disk B/photo | resident B/photo | open s | models s | search p50 ms | p99 ms | text encoding p50 ms | filtered p50 ms (ratio) | with a concept p50 ms (ratio) | concept fit s | peak RSS MB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let m = &r.measured;
        println!(
            "| {} | {:.0} | {:.0} | {:.3} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} ({:.2}x) | {:.2} ({:.2}x) | {:.2} | {:.0} |",
            r.photos,
            r.disk_bytes_per_photo,
            m.resident_bytes_per_photo,
            m.open_s,
            m.models_s,
            m.search_p50_ms,
            m.search_p99_ms,
            m.text_p50_ms,
            m.filtered_p50_ms,
            m.filtered_ratio,
            m.concept_p50_ms,
            m.concept_ratio,
            r.concept_fit_s,
            m.peak_rss_mb
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn embed_bench(cli: &Cli, args: &EmbedArgs) -> anyhow::Result<ExitCode> {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/photos"),
    };
    let photos = photos_in(&dir)?;
    if photos.is_empty() {
        anyhow::bail!("no photos in {}", dir.display());
    }
    let backbone = cli.backbone(args.backbone.as_deref())?;
    let options =
        EmbedOptions { batch_size: args.batch, decode_threads: args.decode_threads, ..EmbedOptions::default() };
    eprintln!("measuring {} photos × {} repeats, {} passes…", photos.len(), args.repeat, args.passes);
    let flickr = embed::run(&backbone, &photos, &options, args.repeat, args.passes)?;
    let large = if args.large > 0 {
        let tmp = tempfile::tempdir()?;
        eprintln!("making {} photos of 4000x3000…", args.large);
        let big = embed::make_large_photos(&photos, args.large, 4000, 3000, tmp.path())?;
        let mut no_dct = options.clone();
        no_dct.reduced_jpeg = false;
        let scaled = embed::run(&backbone, &big, &options, 1, args.passes)?;
        let full = embed::run(&backbone, &big, &no_dct, 1, args.passes)?;
        Some((scaled, full))
    } else {
        None
    };
    let formats = if args.formats > 0 {
        let tmp = tempfile::tempdir()?;
        eprintln!("making {} photos of {}x{} as JPEG, HEIC and DNG…", args.formats, formats::WIDTH, formats::HEIGHT);
        let made = formats::make(&photos, args.formats, formats::WIDTH, formats::HEIGHT, tmp.path())?;
        let mut measured = Vec::new();
        for (name, files) in [("jpeg", &made.jpeg), ("heic", &made.heic), ("dng", &made.dng)] {
            eprintln!("measuring {name}…");
            measured.push((name, embed::run(&backbone, files, &options, 1, args.passes)?));
        }
        Some(measured)
    } else {
        None
    };
    let compared = match &args.compare {
        Some(name) => {
            let other = cli.backbone(Some(name))?;
            eprintln!("measuring {name} on the same photos…");
            Some(embed::run(&other, &photos, &options, args.repeat, args.passes)?)
        }
        None => None,
    };
    if args.json {
        let mut value = serde_json::to_value(&flickr)?;
        if let Some(other) = &compared {
            value["compare"] = serde_json::to_value(other)?;
            value["end_to_end_ratio"] =
                serde_json::json!(flickr.end_to_end_images_per_s / other.end_to_end_images_per_s);
            value["raw_ratio"] = serde_json::json!(flickr.raw_images_per_s / other.raw_images_per_s);
        }
        if let Some((scaled, full)) = &large {
            value["large"] = serde_json::to_value(scaled)?;
            value["large_without_reduced_jpeg_decoding"] = serde_json::to_value(full)?;
        }
        if let Some(measured) = &formats {
            let mut by_format = serde_json::Map::new();
            for (name, b) in measured {
                by_format.insert((*name).to_string(), serde_json::to_value(b)?);
            }
            value["formats"] = serde_json::Value::Object(by_format);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let line = |what: &str, b: &embed::EmbedBench| {
            println!(
                "{what:<34} raw {:7.1} img/s   end-to-end {:7.1} img/s   ratio {:.3}",
                b.raw_images_per_s, b.end_to_end_images_per_s, b.ratio
            )
        };
        println!("{} on {}, batch {}", flickr.backbone, flickr.provider, flickr.batch_size);
        line(&format!("{} photos from {}", flickr.photos, dir.display()), &flickr);
        if let Some((scaled, full)) = &large {
            line("4000x3000 JPEGs, reduced decoding", scaled);
            line("4000x3000 JPEGs, full decoding", full);
        }
        if let Some(measured) = &formats {
            for (name, b) in measured {
                line(&format!("{}x{} {name}", formats::WIDTH, formats::HEIGHT), b);
                println!("{:<34} decode alone, one thread {:7.1} img/s", "", b.decode_one_thread_images_per_s);
            }
        }
        if let Some(other) = &compared {
            line(&format!("{} (same photos)", other.backbone), other);
            println!(
                "{} / {}: end to end {:.2}x, raw {:.2}x",
                flickr.backbone,
                other.backbone,
                flickr.end_to_end_images_per_s / other.end_to_end_images_per_s,
                flickr.raw_images_per_s / other.raw_images_per_s
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

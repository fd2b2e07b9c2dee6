//! The `glimpse` command line: a thin layer over the library that parses arguments,
//! renders progress and prints results. Errors are printed once, here.
// Printing is this binary's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod caption;
mod collection;
mod concept;
mod doctor;
mod embed;
mod library;
mod personalise;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use glimpse::engine::manifest::DEFAULT_BACKBONE;
use glimpse::engine::{Backbone, BackboneModel, ProviderChoice, Runtime, SessionOptions};

/// Find photos by what they show.
#[derive(Parser, Debug)]
#[command(name = "glimpse", version, about, long_about = None)]
struct Cli {
    /// The ONNX Runtime library to load (default: the per-user cache filled by
    /// scripts/fetch-onnxruntime.sh, then an installed copy).
    #[arg(long, global = true, env = "ORT_DYLIB_PATH", value_name = "PATH")]
    ort_lib: Option<PathBuf>,
    /// Execution provider: auto (CUDA when built with it and usable, else CPU), cpu, cuda.
    #[arg(long, global = true, default_value = "auto", value_name = "auto|cpu|cuda")]
    provider: ProviderChoice,
    /// Threads ONNX Runtime may use (0 = one per core).
    #[arg(long, global = true, default_value_t = 0)]
    threads: usize,
    /// What to do; with none, the desktop window opens.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open the desktop window (the default when no command is given).
    App(AppArgs),
    /// Check that ONNX Runtime and the models are installed and work; exits 0 only when all is well.
    Doctor(doctor::Args),
    /// Compute backbone features (or, with --classify, ImageNet labels) for photos.
    Embed(embed::Args),
    /// Add folders to the photo library and bring its index up to date (incremental, resumable).
    Index(library::IndexArgs),
    /// Show what the library index holds, and the files it skipped with why.
    Status(library::StatusArgs),
    /// Rank the library's photos against a query (text, photos, or both; see --help).
    Search(library::SearchArgs),
    /// Rank the library's photos by how similar they look to a photo.
    Similar(library::SimilarArgs),
    /// Concepts taught by example ("Rex", "grandma's garden"): add, list, show, rename, remove.
    #[command(subcommand)]
    Concept(concept::ConceptCommand),
    /// Captions of your own photos: set, list, export in Flickr8k's format; their words find their photos first.
    #[command(subcommand)]
    Caption(caption::CaptionCommand),
    /// Collections: saved searches that fill themselves as photos are indexed; export with XMP keywords.
    #[command(subcommand)]
    Collection(collection::CollectionCommand),
    /// Group the library's near-duplicate photos (burst shots, resized copies, re-encodes); never deletes.
    Duplicates(library::DuplicatesArgs),
    /// Measure speed against a baseline taken in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Train the joint text–photo model on Flickr8k and export it as a model folder.
    Train(train::TrainArgs),
    /// Measure a trained model on a Flickr8k split (Recall@1/5/10, median rank).
    Eval(train::EvalArgs),
    /// Combine trained models into one that ranks by the mean of their cosines.
    Combine(train::CombineArgs),
    /// Calibrate a model against a bank of training captions, so that photos close to
    /// everything ("hubs") stop crowding rankings.
    Calibrate(train::CalibrateArgs),
    /// Fine-tune the text model on Flickr8k plus your own captions; the new model is written
    /// only when it finds the photos of captions held out from it better.
    Personalise(personalise::PersonaliseArgs),
    /// Fit the compact projection search stores per photo, and measure it against full precision on dev.
    Compact(train::CompactArgs),
    /// Rewrite a model folder's graphs in the current form (float16 weights, the GRU as one
    /// operator): smaller files that open faster, the same vectors up to float16 rounding.
    Repack(train::RepackArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell) for the package.
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) for the package.
    #[command(hide = true)]
    Manpage,
}

impl Cli {
    fn session_options(&self) -> SessionOptions {
        SessionOptions { provider: self.provider, intra_threads: self.threads }
    }

    fn runtime(&self) -> anyhow::Result<&'static Runtime> {
        Ok(Runtime::load(self.ort_lib.as_deref())?)
    }

    /// Opens a backbone by name, telling the user when it does not run where they asked.
    fn backbone(&self, name: Option<&str>) -> anyhow::Result<Backbone> {
        let runtime = self.runtime()?;
        let name = name.unwrap_or(DEFAULT_BACKBONE);
        let model = BackboneModel::find(name)?;
        let backbone = Backbone::open(runtime, model, &self.session_options())
            .with_context(|| format!("cannot open the backbone '{name}'"))?;
        if let Some(notice) = backbone.notice() {
            eprintln!("note: {notice}");
        }
        Ok(backbone)
    }
}

/// Options of `glimpse app`.
#[derive(clap::Args, Debug, Default)]
struct AppArgs {
    /// The index file to use instead of the remembered one.
    #[arg(long, value_name = "PATH")]
    index: Option<PathBuf>,
    /// The Flickr8k folder for the training panel and the annotator.
    #[arg(long, value_name = "DIR")]
    flickr8k: Option<PathBuf>,
    /// The GloVe file for the training panel.
    #[arg(long, value_name = "FILE")]
    glove: Option<PathBuf>,
    /// Start from the default settings instead of the remembered ones.
    #[arg(long)]
    fresh_settings: bool,
    /// The view to open on.
    #[arg(long, value_name = "search|library|training|annotator|duplicates|settings")]
    view: Option<String>,
    /// Search for this as soon as the library is open.
    #[arg(long)]
    query: Option<String>,
    /// Add this folder to the library and index it (repeatable).
    #[arg(long, value_name = "DIR")]
    add: Vec<PathBuf>,
    /// Start training with the remembered (or default) training settings.
    #[arg(long)]
    train: bool,
    /// Photos to find similar ones to (what a file manager's "Open with Glimpse" passes).
    photos: Vec<PathBuf>,
}

fn app(cli: &Cli, args: &AppArgs) -> anyhow::Result<ExitCode> {
    use glimpse::app::Tab;
    let tab = match args.view.as_deref() {
        None => None,
        Some("search") => Some(Tab::Search),
        Some("library") => Some(Tab::Library),
        Some("training") => Some(Tab::Training),
        Some("annotator") => Some(Tab::Annotator),
        Some("duplicates") => Some(Tab::Duplicates),
        Some("settings") => Some(Tab::Settings),
        Some(other) => anyhow::bail!("no view '{other}': search, library, training, annotator, duplicates or settings"),
    };
    let add = args.add.iter().map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())).collect();
    let startup = glimpse::app::Startup {
        tab,
        query: args.query.clone(),
        add_folders: add,
        start_training: args.train,
        similar_to: args.photos.first().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        index: args.index.clone(),
        ort_lib: cli.ort_lib.clone(),
        flickr8k: args.flickr8k.clone(),
        glove: args.glove.clone(),
        fresh_settings: args.fresh_settings,
        ..Default::default()
    };
    glimpse::app::run(startup)?;
    Ok(ExitCode::SUCCESS)
}

fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let Some(command) = &cli.command else { return app(cli, &AppArgs::default()) };
    match command {
        Command::App(args) => app(cli, args),
        Command::Doctor(args) => doctor::run(cli, args),
        Command::Embed(args) => embed::run(cli, args),
        Command::Index(args) => library::index(cli, args),
        Command::Status(args) => library::status(cli, args),
        Command::Search(args) => library::search(cli, args),
        Command::Similar(args) => library::similar(cli, args),
        Command::Duplicates(args) => library::duplicates(cli, args),
        Command::Concept(command) => concept::run(cli, command),
        Command::Collection(command) => collection::run(cli, command),
        Command::Caption(command) => caption::run(cli, command),
        Command::Bench(command) => bench::run(cli, command),
        Command::Train(args) => train::train(cli, args),
        Command::Eval(args) => train::eval(cli, args),
        Command::Combine(args) => train::combine(cli, args),
        Command::Calibrate(args) => train::calibrate(cli, args),
        Command::Personalise(args) => personalise::run(cli, args),
        Command::Compact(args) => train::compact(cli, args),
        Command::Repack(args) => train::repack(cli, args),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "glimpse", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Manpage => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

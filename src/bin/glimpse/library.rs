//! `glimpse index`, `status`, `search` and `similar`: the photo library from the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use glimpse::finder::{Feedback, FilterText, Finder, SearchRequest, Subject, projection_head_for};
use glimpse::index::bytes::bytes_path;
use glimpse::index::filter::SortOrder;
use glimpse::index::library::{Ranked, offline_folders};
use glimpse::index::lock::{WhenBusy, waiting_message};
use glimpse::index::update::{self, IndexEvent, IndexOptions, IndexReport};
use glimpse::index::watch::FolderWatch;
use serde_json::json;

use crate::Cli;
use crate::embed::progress_bar;

/// The index file option shared by the library commands.
#[derive(clap::Args, Debug)]
pub struct IndexPath {
    /// The index file (default: ~/.local/share/glimpse/library.glimpse).
    #[arg(long, value_name = "PATH")]
    index: Option<PathBuf>,
}

impl IndexPath {
    pub fn path(&self) -> PathBuf {
        self.index.clone().unwrap_or_else(glimpse::locations::default_index)
    }
}

/// Options of `glimpse index`.
#[derive(clap::Args, Debug)]
pub struct IndexArgs {
    #[command(flatten)]
    index: IndexPath,
    /// Folders to add to the library; the library's earlier folders are rescanned too.
    dirs: Vec<PathBuf>,
    /// Take a folder out of the library (its photos leave the index; files are not touched).
    #[arg(long, value_name = "DIR")]
    remove: Vec<PathBuf>,
    /// Skip files and folders matching this glob (repeatable; replaces the defaults:
    /// @eaDir, .git, node_modules, #recycle, $RECYCLE.BIN, .Trash-*).
    #[arg(long, value_name = "GLOB")]
    exclude: Vec<String>,
    /// Backbone to use.
    #[arg(long)]
    backbone: Option<String>,
    /// The text model folder whose image head projects the library for text search
    /// (default: the installed one, models/text).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Photos per backbone call.
    #[arg(long, default_value_t = glimpse::engine::EmbedOptions::default().batch_size)]
    batch: usize,
    /// When another Glimpse is updating this library, stop with an error instead of waiting.
    #[arg(long)]
    no_wait: bool,
    /// Largest photo file to read, in MB; larger files are skipped unread.
    #[arg(long, value_name = "MB", default_value_t = glimpse::files::DEFAULT_MAX_FILE_BYTES >> 20)]
    max_file_mb: u64,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
    /// After this run, keep watching the library's folders and index new, changed, moved
    /// and deleted photos as they come (a run once a burst of changes has settled), until
    /// Ctrl-C. A folder that goes offline stays offline, never "deleted".
    #[arg(long)]
    watch: bool,
}

pub fn index(cli: &Cli, args: &IndexArgs) -> anyhow::Result<ExitCode> {
    let path = args.index.path();
    // A photo or a newer index named by --index is refused before any model loads.
    glimpse::index::Index::check_ours(&path)?;
    let backbone = cli.backbone(args.backbone.as_deref())?;
    let mut options = IndexOptions {
        add_roots: args.dirs.clone(),
        remove_roots: args.remove.clone(),
        excludes: (!args.exclude.is_empty()).then(|| args.exclude.clone()),
        ..IndexOptions::default()
    };
    options.embed.batch_size = args.batch;
    options.embed.max_file_bytes = args.max_file_mb.saturating_mul(1 << 20);
    options.when_busy = if args.no_wait { WhenBusy::Fail } else { WhenBusy::Wait };
    options.head = projection_head_for(cli.runtime()?, &backbone, args.model.as_deref(), &cli.session_options())?;
    if args.dirs.is_empty() && !path.exists() {
        anyhow::bail!("name the folders to index: glimpse index ~/Pictures");
    }
    // Ctrl-C asks the job to stop; finished work is kept.
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let report = run_index(&path, &backbone, options.clone(), &interrupted, args.json)?;
    if !args.watch || report.stopped || interrupted.load(Ordering::Relaxed) {
        return Ok(ExitCode::SUCCESS);
    }
    // Watching: each settled burst of changes is an ordinary run over the library's folders.
    let again = IndexOptions { add_roots: Vec::new(), remove_roots: Vec::new(), excludes: None, ..options };
    let own = glimpse::index::thumbs::ThumbCache::for_index(&path).dir().to_path_buf();
    let mut watch = FolderWatch::new(vec![own])?;
    let mut told = None;
    loop {
        let roots: Vec<PathBuf> = glimpse::index::open(&path)?.data.roots.iter().map(|r| bytes_path(r)).collect();
        watch.set_roots(&roots);
        let now = (watch.watched(), watch.problems().to_vec());
        if told.as_ref() != Some(&now) {
            eprintln!(
                "watching {} of {} folders for new, changed and deleted photos; Ctrl-C stops",
                now.0,
                roots.len()
            );
            for (folder, why) in &now.1 {
                eprintln!("not watched: {} ({why}); tried again every few seconds", folder.display());
            }
            told = Some(now);
        }
        let settled = loop {
            if interrupted.load(Ordering::Relaxed) {
                eprintln!("stopped watching");
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(settled) = watch.wait(Duration::from_millis(250)) {
                break settled;
            }
        };
        eprintln!("{} changes in the library's folders", settled.changes);
        let report = run_index(&path, &backbone, again.clone(), &interrupted, args.json)?;
        if report.stopped {
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// One indexing run with a progress bar, stopped by `interrupted`; prints its report.
fn run_index(
    path: &Path,
    backbone: &glimpse::engine::Backbone,
    options: IndexOptions,
    interrupted: &AtomicBool,
    json: bool,
) -> anyhow::Result<IndexReport> {
    let job = update::start(path.to_path_buf(), backbone, options, None)?;
    let bar = progress_bar(0, "indexing");
    loop {
        if interrupted.load(Ordering::Relaxed) {
            job.stop();
        }
        match job.events().recv_timeout(Duration::from_millis(100)) {
            Ok(IndexEvent::Notice(n)) => bar.suspend(|| eprintln!("note: {n}")),
            Ok(IndexEvent::Waiting { pid }) => bar.suspend(|| eprintln!("{}", waiting_message(pid))),
            Ok(IndexEvent::Offline { folder, reason, photos }) => bar.suspend(|| {
                eprintln!(
                    "offline: {} ({reason}); its {photos} photos are kept, left out of results until it is back",
                    folder.display()
                )
            }),
            Ok(event @ IndexEvent::Planned { .. }) => {
                bar.suspend(|| eprintln!("{}", event.planned_line().unwrap_or_default()));
                if let IndexEvent::Planned { to_embed, .. } = event {
                    bar.set_message("indexing");
                    bar.set_length(to_embed as u64);
                }
            }
            Ok(IndexEvent::Progress { done, .. }) => bar.set_position(done as u64),
            Ok(IndexEvent::Projected { done, total }) => {
                bar.set_message("projecting");
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            Ok(IndexEvent::Skipped { path, reason }) => {
                bar.suspend(|| eprintln!("skipped {}: {reason}", path.display()));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    bar.finish_and_clear();
    let report = job.wait()??;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: {}{}",
            path.display(),
            report.summary(),
            if report.stopped { " — stopped; run again to finish" } else { "" }
        );
    }
    Ok(report)
}

/// Options of `glimpse status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    index: IndexPath,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn status(_cli: &Cli, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let path = args.index.path();
    if !path.exists() {
        anyhow::bail!("there is no index at {} yet: run `glimpse index FOLDER`", path.display());
    }
    let index = glimpse::index::open(&path)?;
    let d = &index.data;
    let offline = offline_folders(d);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let folders: Vec<String> = d.roots.iter().map(|r| bytes_path(r).display().to_string()).collect();
    let skipped: Vec<serde_json::Value> = d
        .skipped
        .iter()
        .map(|s| json!({"path": bytes_path(&s.path).display().to_string(), "reason": s.reason}))
        .collect();
    if args.json {
        let value = json!({
            "index": path, "photos": d.photos.len(), "folders": folders, "model_id": d.model_id,
            "backbone": d.backbone, "feature_dim": d.feature_dim, "index_bytes": size,
            "excludes": d.excludes, "skipped": skipped, "offline": offline,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("index    {} ({:.1} MB)", path.display(), size as f64 / 1e6);
        println!("photos   {}", d.photos.len());
        println!("folders  {}", if folders.is_empty() { "(none)".to_string() } else { folders.join(", ") });
        println!("model    {} ({})", d.backbone, d.model_id);
        println!("excludes {}", d.excludes.join(" "));
        for o in &offline {
            println!("offline  {} ({}; {} photos kept, not shown in results)", o.folder.display(), o.reason, o.photos);
        }
        println!("skipped  {}", d.skipped.len());
        for s in &d.skipped {
            println!("  {}: {}", bytes_path(&s.path).display(), s.reason);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `glimpse search`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Query algebra: terms joined by ` + ` and ` - ` (spaces around the operator), each \
optionally weighted with N:, e.g.\n  \"dog on a beach\" - people\n  2:\"sunset\" + ./photo.jpg\nA term that names \
an existing file, or starts with ./ ../ / ~/, is a photo; anything else is text.")]
pub struct SearchArgs {
    #[command(flatten)]
    ranking: RankingArgs,
    /// The query.
    query: String,
}

/// Options of `glimpse similar`.
#[derive(clap::Args, Debug)]
pub struct SimilarArgs {
    #[command(flatten)]
    ranking: RankingArgs,
    /// A photo, in the library or not.
    photo: PathBuf,
}

/// Which photos a search may return (`search`, `similar`, `collection add`).
#[derive(clap::Args, Debug)]
pub struct FilterArgs {
    /// Only photos under this folder.
    #[arg(long = "in", value_name = "DIR")]
    folder: Option<PathBuf>,
    /// Only photos taken on or after this day (EXIF date, else file time).
    #[arg(long, value_name = "YYYY-MM-DD")]
    after: Option<String>,
    /// Only photos taken before this day.
    #[arg(long, value_name = "YYYY-MM-DD")]
    before: Option<String>,
    /// Only these file types, e.g. jpg,png.
    #[arg(long = "type", value_name = "LIST")]
    types: Option<String>,
}

impl FilterArgs {
    /// The filters as a search request takes them.
    pub fn text(&self) -> FilterText {
        FilterText {
            folder: self.folder.clone(),
            after: self.after.clone(),
            before: self.before.clone(),
            types: self.types.clone(),
        }
    }
}

/// What `search` and `similar` share: the index, how many results, filters, order,
/// relevance feedback, the output form.
#[derive(clap::Args, Debug)]
pub struct RankingArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// How many results.
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Print JSON: [{"rank": 1, "path": "…", "score": 0.42, "date": …, "date_source": "exif"|"mtime"}, …].
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Order: relevance, or newest/oldest first among the --pool best matches.
    #[arg(long, default_value = "relevance", value_name = "relevance|newest|oldest")]
    sort: String,
    /// How many best matches a date order chooses from.
    #[arg(long, default_value_t = 100)]
    pool: usize,
    /// Photos of the library that are good results: the query moves towards them.
    #[arg(long, value_name = "PHOTO", num_args = 1..)]
    more_like: Vec<PathBuf>,
    /// Photos of the library that are bad results: the query moves away from them.
    #[arg(long, value_name = "PHOTO", num_args = 1..)]
    less_like: Vec<PathBuf>,
}

/// The library and the text model a command opens as a [`Finder`].
#[derive(clap::Args, Debug)]
pub struct FinderArgs {
    #[command(flatten)]
    pub index: IndexPath,
    /// The text model folder for text terms (default: the installed one, models/text); the
    /// library must have been indexed with it (`glimpse index --model DIR`).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
}

impl FinderArgs {
    /// Opens the library with its models; a damaged concepts file set aside is said here.
    pub fn finder(&self, cli: &Cli) -> anyhow::Result<Finder> {
        let finder = Finder::open(&self.index.path(), cli.runtime()?, &cli.session_options(), self.model.as_deref())?;
        if let Some(notice) = finder.concepts_notice() {
            eprintln!("note: {notice}");
        }
        Ok(finder)
    }
}

impl RankingArgs {
    /// Opens the library with its models and answers `subject` with these options, as the
    /// window would; prints the ranking.
    fn run(&self, cli: &Cli, subject: Subject) -> anyhow::Result<ExitCode> {
        let request = SearchRequest {
            subject,
            filter: self.filter.text(),
            feedback: Feedback { good: self.more_like.clone(), bad: self.less_like.clone() },
            k: self.k,
            sort: self.sort.parse::<SortOrder>()?,
            pool: self.pool,
        };
        let finder = self.opening.finder(cli)?;
        if let Some(format) = finder.library.converted_from {
            eprintln!(
                "note: the index was written by an earlier Glimpse (format {format}); it is searched as converted in memory, and `glimpse index` saves it in the new format"
            );
        }
        let answer = finder.search(&request)?;
        if let Some(notice) = finder.backbone_notice() {
            eprintln!("note: {notice}");
        }
        for used in &answer.concepts {
            eprintln!("note: {}", glimpse::finder::concept_note(used));
        }
        if answer.unranked > 0 {
            eprintln!(
                "note: {} photos are not searchable yet: their indexing run stopped before they were projected; `glimpse index` finishes them without decoding",
                answer.unranked
            );
        }
        if !answer.read_words.is_empty() {
            eprintln!("note: {}", glimpse::finder::reading_note(&answer.read_words));
        }
        if !answer.ignored_words.is_empty() {
            let (words, them) = glimpse::finder::quoted_words(&answer.ignored_words);
            eprintln!("note: ignored {words}: the text model has no vector for {them}");
        }
        if answer.no_strong_match() {
            eprintln!("note: no strong match; the closest results:");
        }
        print_ranked(&answer.hits, self.json)?;
        Ok(ExitCode::SUCCESS)
    }
}

fn print_ranked(ranked: &[Ranked], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(ranked)?);
    } else if ranked.is_empty() {
        println!("The library is empty: add photos with `glimpse index FOLDER`.");
    } else {
        for r in ranked {
            println!("{:>3}  {:.3}  {}", r.rank, r.score, r.path.display());
        }
    }
    Ok(())
}

pub fn search(cli: &Cli, args: &SearchArgs) -> anyhow::Result<ExitCode> {
    args.ranking.run(cli, Subject::Text(args.query.clone()))
}

pub fn similar(cli: &Cli, args: &SimilarArgs) -> anyhow::Result<ExitCode> {
    args.ranking.run(cli, Subject::Photo(args.photo.clone()))
}

/// Options of `glimpse duplicates`.
#[derive(clap::Args, Debug)]
pub struct DuplicatesArgs {
    #[command(flatten)]
    index: IndexPath,
    /// Cosine of backbone features above which photos count as the same picture.
    #[arg(long, default_value_t = glimpse::index::duplicates::DEFAULT_THRESHOLD)]
    threshold: f32,
    /// Print JSON: [[{"path": "…", "bytes": …, "width": …, "height": …, "date": …, "date_source": "exif"|"mtime"}, …], …].
    #[arg(long)]
    json: bool,
}

pub fn duplicates(_cli: &Cli, args: &DuplicatesArgs) -> anyhow::Result<ExitCode> {
    let library = glimpse::index::Library::open(&args.index.path())?;
    let groups = glimpse::index::duplicates::library_groups(&library, args.threshold)?;
    if args.json {
        println!("{}", serde_json::to_string(&groups)?);
        return Ok(ExitCode::SUCCESS);
    }
    if groups.is_empty() {
        println!("No near-duplicates among {} photos.", library.index.data.photos.len());
    }
    for (g, group) in groups.iter().enumerate() {
        println!("group {} ({} photos)", g + 1, group.len());
        for p in group {
            println!("  {:>9} B  {:>5}x{:<5}  {}", p.bytes, p.width, p.height, p.path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

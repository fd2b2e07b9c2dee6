//! `glimpse collection`: saved searches that fill themselves, kept with the library.

use std::path::PathBuf;
use std::process::ExitCode;

use glimpse::finder::{Feedback, SearchRequest, Subject};

use crate::Cli;
use crate::library::{FilterArgs, FinderArgs};

/// What to do with collections.
#[derive(clap::Subcommand, Debug)]
pub enum CollectionCommand {
    /// Save a query (concepts, filters and marks included) as a collection of its -k best photos; photos indexed later that score as well join it.
    Add(AddArgs),
    /// List the collections with their photos and how many are new (photos indexed since that match join first).
    List(ListArgs),
    /// The photos of a collection, new ones flagged (they stop being new once shown).
    Show(ShowArgs),
    /// Put a library photo into a collection, whatever its score.
    Pin(PhotoArgs),
    /// Take a photo out of a collection for good.
    Exclude(PhotoArgs),
    /// Copy (or link) a collection's photos into a folder, each with an XMP sidecar whose keywords are the collection's and its concepts' names.
    Export(ExportArgs),
    /// Remove a collection (its photos stay where they are).
    Remove(NameArgs),
}

/// Options of `glimpse collection add`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// How many of the best results it starts with.
    #[arg(short, default_value_t = 20)]
    k: usize,
    #[command(flatten)]
    filter: FilterArgs,
    /// Photos of the library that are good results.
    #[arg(long, value_name = "PHOTO", num_args = 1..)]
    more_like: Vec<PathBuf>,
    /// Photos of the library that are bad results.
    #[arg(long, value_name = "PHOTO", num_args = 1..)]
    less_like: Vec<PathBuf>,
    /// Its name.
    name: String,
    /// The query.
    query: String,
}

/// Options of `glimpse collection list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// Print JSON: [{"name", "query", "photos", "new"}, …].
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse collection show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// Print JSON: [{"path", "new", "pinned"}, …].
    #[arg(long)]
    json: bool,
    /// Its name.
    name: String,
}

/// A collection and a photo.
#[derive(clap::Args, Debug)]
pub struct PhotoArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// The collection's name.
    name: String,
    /// The photo.
    photo: PathBuf,
}

/// Options of `glimpse collection export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// Symbolic links instead of copies.
    #[arg(long)]
    link: bool,
    /// Print JSON: {"photos", "sidecars", "already_there"}.
    #[arg(long)]
    json: bool,
    /// The collection's name.
    name: String,
    /// The folder to export into (made when missing).
    dir: PathBuf,
}

/// A collection's name.
#[derive(clap::Args, Debug)]
pub struct NameArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// Its name.
    name: String,
}

pub fn run(cli: &Cli, command: &CollectionCommand) -> anyhow::Result<ExitCode> {
    match command {
        CollectionCommand::Add(args) => {
            let finder = args.opening.finder(cli)?;
            let request = SearchRequest {
                subject: Subject::Text(args.query.clone()),
                filter: args.filter.text(),
                feedback: Feedback { good: args.more_like.clone(), bad: args.less_like.clone() },
                k: args.k.max(1),
                ..SearchRequest::default()
            };
            let saved = finder.save_collection(&args.name, &request)?;
            println!(
                "\u{201c}{}\u{201d} holds {} photos of \u{201c}{}\u{201d}; photos indexed later that match as well join it",
                saved.name, saved.photos, saved.query
            );
        }
        CollectionCommand::List(args) => {
            let finder = args.opening.finder(cli)?;
            let summaries = finder.refresh_collections()?;
            if args.json {
                println!("{}", serde_json::to_string(&summaries)?);
                return Ok(ExitCode::SUCCESS);
            }
            if summaries.is_empty() {
                println!("No collections yet: save a search with `glimpse collection add NAME QUERY`.");
            }
            for s in &summaries {
                let new = if s.new > 0 { format!(" ({} new)", s.new) } else { String::new() };
                println!("{:<24} {:>5} photos{new}  \u{201c}{}\u{201d}", s.name, s.photos, s.query);
                if let Some(problem) = &s.problem {
                    eprintln!("note: {} could not be brought up to date: {problem}", s.name);
                }
            }
        }
        CollectionCommand::Show(args) => {
            let finder = args.opening.finder(cli)?;
            finder.refresh_collections()?;
            let photos = finder.collection_photos(&args.name, true)?;
            if args.json {
                let rows: Vec<serde_json::Value> = photos
                    .iter()
                    .map(|p| serde_json::json!({"path": p.path, "new": p.new, "pinned": p.pinned}))
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
                return Ok(ExitCode::SUCCESS);
            }
            for p in &photos {
                let flag = if p.new {
                    "new"
                } else if p.pinned {
                    "pinned"
                } else {
                    ""
                };
                println!("{flag:>6}  {}", p.path.display());
            }
        }
        CollectionCommand::Pin(args) => {
            args.opening.finder(cli)?.pin(&args.name, &args.photo)?;
            println!("pinned {} into \u{201c}{}\u{201d}", args.photo.display(), args.name);
        }
        CollectionCommand::Exclude(args) => {
            args.opening.finder(cli)?.exclude(&args.name, &args.photo)?;
            println!("took {} out of \u{201c}{}\u{201d} for good", args.photo.display(), args.name);
        }
        CollectionCommand::Export(args) => {
            let finder = args.opening.finder(cli)?;
            finder.refresh_collections()?;
            let photos: Vec<PathBuf> =
                finder.collection_photos(&args.name, false)?.into_iter().map(|p| p.path).collect();
            let keywords = finder.collection_keywords(&args.name)?;
            // A photo's caption goes with it as its description (alt text too).
            let captions = finder.captions();
            let describe = |p: &std::path::Path| captions.iter().find(|(c, _)| c == p).map(|(_, t)| t.clone());
            let done = glimpse::index::export::export(&photos, &args.dir, args.link, &keywords, &describe)?;
            if args.json {
                println!("{}", serde_json::to_string(&done)?);
                return Ok(ExitCode::SUCCESS);
            }
            let how = if args.link { "linked" } else { "copied" };
            println!(
                "{} photos {how} into {} ({} there already), each with an .xmp sidecar tagged {}",
                done.photos,
                args.dir.display(),
                done.already_there,
                keywords.join(", ")
            );
        }
        CollectionCommand::Remove(args) => {
            let path = args.opening.index.path();
            let mut taught = glimpse::index::concepts::Concepts::open(&path)?.concepts;
            let removed = taught.remove_collection(&args.name)?;
            taught.save()?;
            println!("removed \u{201c}{}\u{201d} (the photos themselves are untouched)", removed.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

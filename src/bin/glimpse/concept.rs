//! `glimpse concept`: the concepts a person taught by example, kept with the library.

use std::path::PathBuf;
use std::process::ExitCode;

use glimpse::index::concepts::{Concept, Concepts};

use crate::Cli;
use crate::library::{FinderArgs, IndexPath};

/// What to do with concepts.
#[derive(clap::Subcommand, Debug)]
pub enum ConceptCommand {
    /// Teach a concept (made when there is none) photos of the library as examples; its name is then a term of any query ("Rex on the beach").
    Add(AddArgs),
    /// List the library's concepts.
    List(ListArgs),
    /// Show one concept: its photos and the words that describe them.
    Show(ShowArgs),
    /// Rename a concept.
    Rename(RenameArgs),
    /// Remove a concept (its photos stay where they are).
    Remove(RemoveArgs),
}

/// Options of `glimpse concept add`.
#[derive(clap::Args, Debug)]
pub struct AddArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// Photos of the library that are not the concept (like a bad mark in the window).
    #[arg(long = "not", value_name = "PHOTO", num_args = 1..)]
    negatives: Vec<PathBuf>,
    /// The concept's name: letters, digits, spaces, ' - and _.
    name: String,
    /// Photos of the library that show it.
    #[arg(required = true)]
    photos: Vec<PathBuf>,
}

/// Options of `glimpse concept list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    index: IndexPath,
    /// Print JSON: [{"name", "examples", "negatives", "words", "created"}, …].
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse concept show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    index: IndexPath,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// The concept's name.
    name: String,
}

/// Options of `glimpse concept rename`.
#[derive(clap::Args, Debug)]
pub struct RenameArgs {
    #[command(flatten)]
    index: IndexPath,
    /// Its name now.
    from: String,
    /// Its new name.
    to: String,
}

/// Options of `glimpse concept remove`.
#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    #[command(flatten)]
    index: IndexPath,
    /// The concept's name.
    name: String,
}

pub fn run(cli: &Cli, command: &ConceptCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConceptCommand::Add(args) => add(cli, args),
        ConceptCommand::List(args) => list(args),
        ConceptCommand::Show(args) => show(args),
        ConceptCommand::Rename(args) => {
            let mut concepts = opened(&args.index)?;
            concepts.rename(&args.from, &args.to)?;
            concepts.save()?;
            println!("renamed \u{201c}{}\u{201d} to \u{201c}{}\u{201d}", args.from, args.to.trim());
            Ok(ExitCode::SUCCESS)
        }
        ConceptCommand::Remove(args) => {
            let mut concepts = opened(&args.index)?;
            let removed = concepts.remove(&args.name)?;
            concepts.save()?;
            println!(
                "removed \u{201c}{}\u{201d} ({} photos; the photos themselves are untouched)",
                removed.name,
                removed.examples.len()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The library's concepts; a damaged file is set aside with a note.
fn opened(index: &IndexPath) -> anyhow::Result<Concepts> {
    let path = index.path();
    if !path.exists() {
        anyhow::bail!("there is no library index at {}: add photos first with `glimpse index FOLDER`", path.display());
    }
    let opened = Concepts::open(&path)?;
    if let Some(notice) = opened.notice {
        eprintln!("note: {notice}");
    }
    Ok(opened.concepts)
}

fn add(cli: &Cli, args: &AddArgs) -> anyhow::Result<ExitCode> {
    let finder = args.opening.finder(cli)?;
    let taught = finder.teach(&args.name, &args.photos, &args.negatives)?;
    let like =
        if taught.words.is_empty() { String::new() } else { format!("; it looks like: {}", taught.words.join(", ")) };
    println!(
        "\u{201c}{}\u{201d} has {} example photos and {} marked not it{like}",
        taught.name, taught.examples, taught.negatives
    );
    println!("search with it: glimpse search \"{} on the beach\"", taught.name);
    Ok(ExitCode::SUCCESS)
}

fn summary(c: &Concept) -> serde_json::Value {
    serde_json::json!({
        "name": c.name,
        "examples": c.examples.len(),
        "negatives": c.negatives.len(),
        "words": c.fitted.as_ref().map(|f| f.words.clone()).unwrap_or_default(),
        "created": c.created,
    })
}

fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let concepts = opened(&args.index)?;
    if args.json {
        println!("{}", serde_json::Value::Array(concepts.list.iter().map(summary).collect()));
        return Ok(ExitCode::SUCCESS);
    }
    if concepts.list.is_empty() {
        println!(
            "No concepts yet: teach one with `glimpse concept add NAME PHOTO…`, or mark photos good in the window and save them as a concept."
        );
    }
    for c in &concepts.list {
        let words = c.fitted.as_ref().map(|f| f.words.join(", ")).unwrap_or_default();
        println!("{:<24} {:>4} photos  {}", c.name, c.examples.len(), words);
    }
    Ok(ExitCode::SUCCESS)
}

fn show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let concepts = opened(&args.index)?;
    let Some(c) = concepts.find(&args.name) else {
        anyhow::bail!("no concept \u{201c}{}\u{201d}: `glimpse concept list` shows them", args.name);
    };
    if args.json {
        let mut value = summary(c);
        value["photos"] = c.examples.iter().map(|e| e.path.display().to_string()).collect();
        value["not"] = c.negatives.iter().map(|e| e.path.display().to_string()).collect();
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", c.name);
    if let Some(f) = &c.fitted {
        println!("looks like: {}", f.words.join(", "));
    }
    for e in &c.examples {
        let gone = if e.path.exists() { "" } else { "  (not there now)" };
        println!("  {}{gone}", e.path.display());
    }
    for e in &c.negatives {
        println!("  not: {}", e.path.display());
    }
    Ok(ExitCode::SUCCESS)
}

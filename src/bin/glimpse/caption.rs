//! `glimpse caption`: captions of the library's own photos, kept with the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use glimpse::finder::Finder;

use crate::Cli;
use crate::library::IndexPath;

/// What to do with captions.
#[derive(clap::Subcommand, Debug)]
pub enum CaptionCommand {
    /// Write a photo's caption (an empty one removes it); its words then find the photo first.
    Set(SetArgs),
    /// The library's captions.
    List(ListArgs),
    /// Write the captions in Flickr8k's token format (`NAME.jpg#0<TAB>caption`), for training.
    Export(ExportArgs),
}

/// Options of `glimpse caption set`.
#[derive(clap::Args, Debug)]
pub struct SetArgs {
    #[command(flatten)]
    index: IndexPath,
    /// A photo of the library.
    photo: PathBuf,
    /// What it shows.
    text: String,
}

/// Options of `glimpse caption list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    index: IndexPath,
    /// Print JSON: [{"path", "caption"}, …].
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse caption export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    index: IndexPath,
    /// The file to write (Flickr8k.token.txt's format).
    #[arg(long, value_name = "FILE")]
    flickr8k: PathBuf,
}

fn open(cli: &Cli, index: &IndexPath) -> anyhow::Result<Finder> {
    let finder = Finder::open(&index.path(), cli.runtime()?, &cli.session_options(), None)?;
    if let Some(notice) = finder.concepts_notice() {
        eprintln!("note: {notice}");
    }
    Ok(finder)
}

pub fn run(cli: &Cli, command: &CaptionCommand) -> anyhow::Result<ExitCode> {
    match command {
        CaptionCommand::Set(args) => {
            open(cli, &args.index)?.set_caption(&args.photo, &args.text)?;
            let what = if args.text.trim().is_empty() { "removed the caption of" } else { "captioned" };
            println!("{what} {}", args.photo.display());
        }
        CaptionCommand::List(args) => {
            let captions = open(cli, &args.index)?.captions();
            if args.json {
                let rows: Vec<serde_json::Value> =
                    captions.iter().map(|(p, t)| serde_json::json!({"path": p, "caption": t})).collect();
                println!("{}", serde_json::Value::Array(rows));
                return Ok(ExitCode::SUCCESS);
            }
            if captions.is_empty() {
                println!("No captions yet: write one with `glimpse caption set PHOTO \"what it shows\"`.");
            }
            for (path, text) in &captions {
                println!("{}\t{text}", path.display());
            }
        }
        CaptionCommand::Export(args) => {
            let captions = open(cli, &args.index)?.captions();
            let mut text = Vec::new();
            for (path, caption) in &captions {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                writeln!(text, "{name}#0\t{caption}")?;
            }
            glimpse::durable::write_atomically(&args.flickr8k, &[&text])?;
            println!("{} captions written to {}", captions.len(), args.flickr8k.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

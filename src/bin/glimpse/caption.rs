//! `glimpse caption`: captions of the library's own photos, kept with the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::Cli;
use crate::library::FinderArgs;

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
    opening: FinderArgs,
    /// A photo of the library.
    photo: PathBuf,
    /// What it shows.
    text: String,
}

/// Options of `glimpse caption list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// Print JSON: [{"path", "caption"}, …].
    #[arg(long)]
    json: bool,
}

/// Options of `glimpse caption export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// The file to write (Flickr8k.token.txt's format).
    #[arg(long, value_name = "FILE")]
    flickr8k: PathBuf,
}

pub fn run(cli: &Cli, command: &CaptionCommand) -> anyhow::Result<ExitCode> {
    match command {
        CaptionCommand::Set(args) => {
            args.opening.finder(cli)?.set_caption(&args.photo, &args.text)?;
            let what = if args.text.trim().is_empty() { "removed the caption of" } else { "captioned" };
            println!("{what} {}", args.photo.display());
        }
        CaptionCommand::List(args) => {
            let captions = args.opening.finder(cli)?.captions();
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
            let captions = args.opening.finder(cli)?.captions();
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

//! `glimpse personalise`: the text model fine-tuned on Flickr8k plus the library's captions,
//! written as a new model folder only when it finds the held-out captions' photos better.

use std::path::PathBuf;
use std::process::ExitCode;

use glimpse::train::eval::Recall;
use glimpse::train::personalise::{self, Comparison, Settings};
use serde_json::json;

use crate::Cli;
use crate::library::FinderArgs;
use crate::train::{metrics_json, model_setup, render};

/// Options of `glimpse personalise`.
#[derive(clap::Args, Debug)]
pub struct PersonaliseArgs {
    #[command(flatten)]
    opening: FinderArgs,
    /// The Flickr8k folder: its train split keeps the model general, its dev split measures
    /// that it stayed so.
    #[arg(long, value_name = "DIR")]
    flickr8k: PathBuf,
    /// Where to write the new model (default: beside the library, `LIBRARY.models/personal-TIME`).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Training steps.
    #[arg(long, default_value_t = Settings::default().steps)]
    steps: usize,
    /// Learning rate.
    #[arg(long, default_value_t = Settings::default().lr)]
    lr: f64,
    /// Weight of keeping Flickr8k's captions where the model in use puts them.
    #[arg(long, default_value_t = Settings::default().keep)]
    keep: f32,
    /// Your captions in each batch of 128 (the rest are Flickr8k's).
    #[arg(long, default_value_t = Settings::default().personal_per_batch)]
    personal: usize,
    /// Rank of the adapter.
    #[arg(long, default_value_t = Settings::default().rank)]
    rank: usize,
    /// Seed of the starting weights and batches.
    #[arg(long, default_value_t = Settings::default().seed)]
    seed: u64,
    /// Feature cache folder for Flickr8k's photos (default: the per-user cache).
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, args: &PersonaliseArgs) -> anyhow::Result<ExitCode> {
    let finder = args.opening.finder(cli)?;
    let model = finder
        .text_model_dir()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("the library has no text model to personalise"))?;
    let library = finder.captioned_library()?;
    drop(finder);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.opening.index.path().with_extension("models").join(format!("personal-{stamp}")));
    let settings = Settings {
        steps: args.steps,
        seed: args.seed,
        lr: args.lr,
        keep: args.keep,
        rank: args.rank,
        personal_per_batch: args.personal,
        ..Settings::default()
    };
    let setup = model_setup(cli, &args.flickr8k, args.cache.as_ref())?;
    let job = personalise::start(setup, model, library, out, settings, None)?;
    render(&job);
    let outcome = job.wait()??;
    let c = &outcome.comparison;
    if args.json {
        let side = |ranks: &[usize], mrr: f64| {
            let r = Recall::from_ranks(ranks);
            json!({"r1": r.r1, "r5": r.r5, "r10": r.r10, "mrr": mrr, "ranks": ranks})
        };
        let (before, after) = c.mrr();
        let value = json!({
            "trained": c.trained,
            "held_out": c.held_out,
            "photos": c.photos,
            "before": side(&c.ranks_before, before),
            "after": side(&c.ranks_after, after),
            "dev_before": metrics_json("dev", &c.dev_before),
            "dev_after": metrics_json("dev", &c.dev_after),
            "better": c.better(),
            "written": outcome.written,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_comparison(c, outcome.seconds);
    match &outcome.written {
        Some(dir) => println!(
            "Better on your held-out captions: written to {}. Search with it: `glimpse search --model {} …` (the library needs no re-indexing).",
            dir.display(),
            dir.display()
        ),
        None => println!(
            "Not better: {}. Nothing written; the model in use stays. Write more captions and try again.",
            c.not_better().unwrap_or_else(|| "not written".into())
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_comparison(c: &Comparison, seconds: f64) {
    println!(
        "Trained on {} of your captions and Flickr8k's training captions in {seconds:.0} s; {} of your captions held out, their photos ranked among {} of the library's.",
        c.trained, c.held_out, c.photos
    );
    let (mrr_before, mrr_after) = c.mrr();
    let (before, after) = c.held_out_recall();
    println!(
        "| model | your held-out captions R@1 / R@5 / R@10 | mean reciprocal rank | Flickr8k dev text→image R@1 / R@5 / R@10 |"
    );
    println!("|---|---|---|---|");
    for (name, r, mrr, dev) in
        [("before", before, mrr_before, &c.dev_before), ("personalised", after, mrr_after, &c.dev_after)]
    {
        println!(
            "| {name} | {:.1} / {:.1} / {:.1} | {mrr:.3} | {:.2} / {:.2} / {:.2} |",
            r.r1, r.r5, r.r10, dev.t2i.r1, dev.t2i.r5, dev.t2i.r10
        );
    }
}

//! `glimpse embed`: backbone features or ImageNet labels for photos.

use std::path::PathBuf;
use std::process::ExitCode;

use glimpse::bench::embed::photos_in;
use glimpse::engine::labels::top_k;
use glimpse::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::Cli;

/// Options of `glimpse embed`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Backbone to use (a folder name under models/backbones).
    #[arg(long)]
    backbone: Option<String>,
    /// Print the top-5 ImageNet labels of each photo instead of its features.
    #[arg(long)]
    classify: bool,
    /// Print one JSON object per photo.
    #[arg(long)]
    json: bool,
    /// Photos per backbone call.
    #[arg(long, default_value_t = EmbedOptions::default().batch_size)]
    batch: usize,
    /// Photo files, or folders whose photos (not recursively) are embedded.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// A progress bar with rate and ETA on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(total: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} {per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let mut paths = Vec::new();
    for p in &args.paths {
        if p.is_dir() {
            paths.extend(photos_in(p)?);
        } else {
            paths.push(p.clone());
        }
    }
    let backbone = cli.backbone(args.backbone.as_deref())?;
    let labels = backbone.model().labels.clone();
    if args.classify && labels.is_none() {
        anyhow::bail!("the backbone '{}' has no classifier output", backbone.model().manifest.name);
    }
    let options = EmbedOptions { batch_size: args.batch, want_logits: args.classify, ..EmbedOptions::default() };
    let bar = progress_bar(paths.len(), "embedding");
    let job = pipeline::embed(&backbone, paths.clone(), options, None)?;
    let mut results: Vec<Option<serde_json::Value>> = vec![None; paths.len()];
    let mut failures = 0;
    for event in job.events() {
        bar.inc(1);
        let (index, value) = match event {
            EmbedEvent::Embedded(e) => {
                let value = match (&e.logits, &labels) {
                    (Some(logits), Some(labels)) => json!({"path": e.path, "labels": top_k(logits, labels, 5)}),
                    _ => json!({"path": e.path, "dim": e.features.len(), "features": e.features}),
                };
                (e.index, value)
            }
            EmbedEvent::Failed { index, path, error } => {
                failures += 1;
                (index, json!({"path": path, "error": error.to_string()}))
            }
        };
        results[index] = Some(value);
    }
    job.wait()??;
    bar.finish_and_clear();
    for value in results.into_iter().flatten() {
        if args.json {
            println!("{value}");
        } else {
            print_text(&value);
        }
    }
    if failures > 0 {
        eprintln!("{failures} of {} photos could not be read (see the errors above)", paths.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(value: &serde_json::Value) {
    let path = value["path"].as_str().unwrap_or("?");
    if let Some(error) = value["error"].as_str() {
        println!("{path}: error: {error}");
    } else if let Some(labels) = value["labels"].as_array() {
        println!("{path}");
        for l in labels {
            println!("  {:5.1} %  {}", l["prob"].as_f64().unwrap_or(0.0) * 100.0, l["label"].as_str().unwrap_or(""));
        }
    } else {
        let head: Vec<String> = value["features"]
            .as_array()
            .map(|f| f.iter().take(4).map(|v| format!("{:.4}", v.as_f64().unwrap_or(0.0))).collect())
            .unwrap_or_default();
        println!("{path}  {}-d  [{}, …]", value["dim"], head.join(", "));
    }
}

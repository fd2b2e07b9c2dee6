//! `glimpse doctor`: is everything Glimpse needs installed and working?

use std::process::ExitCode;

use glimpse::engine::manifest::DEFAULT_BACKBONE;
use glimpse::engine::{Backbone, BackboneModel, Runtime};
use glimpse::model::{ExportedModel, default_model_dir};
use serde_json::json;

use crate::Cli;

/// Options of `glimpse doctor`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, args: &Args) -> anyhow::Result<ExitCode> {
    let mut problems: Vec<String> = Vec::new();
    let runtime = match Runtime::load(cli.ort_lib.as_deref()) {
        Ok(rt) => Some(rt),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let providers = runtime.map(Runtime::available_providers).unwrap_or_default();
    let mut models = Vec::new();
    let mut active = None;
    let installed = BackboneModel::list_installed();
    if !installed.iter().any(|(dir, m)| m.is_ok() && dir.ends_with(DEFAULT_BACKBONE)) {
        problems.push(format!(
            "the default backbone '{DEFAULT_BACKBONE}' is not installed; a source checkout has it under models/backbones/"
        ));
    }
    for (dir, opened) in installed {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let checked = opened.and_then(|model| {
            model.verify()?;
            let sha = model.manifest.sha256.clone();
            let detail = format!(
                "{}-d features, {} px input{}",
                model.manifest.features.dim,
                model.manifest.input.size,
                model.labels.as_ref().map(|l| format!(", {} labels", l.len())).unwrap_or_default()
            );
            if let Some(rt) = runtime {
                let backbone = Backbone::open(rt, model, &cli.session_options())?;
                if name == DEFAULT_BACKBONE || active.is_none() {
                    active = Some((backbone.provider().to_string(), backbone.notice().map(str::to_string)));
                }
            }
            Ok((sha, detail))
        });
        match checked {
            Ok((sha, detail)) => {
                models.push(json!({"name": name, "path": dir, "ok": true, "sha256": sha, "detail": detail}))
            }
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                models.push(json!({"name": name, "path": dir, "ok": false, "error": e.to_string()}));
            }
        }
    }
    let text_model = check_text_model(cli, runtime, &mut problems);
    // Without libheif only HEIC/AVIF photos are unreadable (and listed so when indexed):
    // said here, not counted as a problem.
    let libheif = glimpse::engine::heif::version();
    let libraw = glimpse::engine::raw::version();
    let ok = problems.is_empty();
    if args.json {
        let report = json!({
            "ok": ok,
            "glimpse_version": env!("CARGO_PKG_VERSION"),
            "onnxruntime": runtime.map(|rt| json!({"version": rt.version, "path": rt.path, "source": rt.source.to_string()})),
            "providers_available": providers,
            "provider_requested": format!("{:?}", cli.provider).to_lowercase(),
            "provider_active": active.as_ref().map(|(p, _)| p.clone()),
            "provider_notice": active.as_ref().and_then(|(_, n)| n.clone()),
            "models": models,
            "text_model": text_model,
            "libheif": match &libheif {
                Ok(version) => json!({"ok": true, "version": version}),
                Err(e) => json!({"ok": false, "error": e}),
            },
            "libraw": match &libraw {
                Ok(version) => json!({"ok": true, "version": version}),
                Err(e) => json!({"ok": false, "error": e}),
            },
            "problems": problems,
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("Glimpse {}", env!("CARGO_PKG_VERSION"));
        match runtime {
            Some(rt) => println!("ONNX Runtime {} at {} ({})", rt.version, rt.path.display(), rt.source),
            None => println!("ONNX Runtime: not loaded"),
        }
        if !providers.is_empty() {
            println!("Execution providers available: {}", providers.join(", "));
        }
        if let Some((provider, notice)) = &active {
            println!("Execution provider: requested {:?}, running on {provider}", cli.provider);
            if let Some(n) = notice {
                println!("  note: {n}");
            }
        }
        println!("Models:");
        for m in &models {
            if m["ok"].as_bool() == Some(true) {
                println!(
                    "  ok    backbone {}  sha256 {} verified  ({})",
                    m["name"].as_str().unwrap_or(""),
                    m["sha256"].as_str().unwrap_or(""),
                    m["detail"].as_str().unwrap_or("")
                );
            } else {
                println!("  FAIL  backbone {}", m["name"].as_str().unwrap_or(""));
            }
        }
        match (text_model["ok"].as_bool(), text_model["path"].as_str()) {
            (Some(true), Some(path)) => println!(
                "  ok    text model {path}  ({}-d, fits backbone {}; image head sha256 {}, text encoder sha256 {} verified)",
                text_model["joint_dim"],
                text_model["backbone"].as_str().unwrap_or(""),
                text_model["image_head_sha256"].as_str().unwrap_or(""),
                text_model["text_encoder_sha256"].as_str().unwrap_or("")
            ),
            (_, path) => println!("  FAIL  text model {}", path.unwrap_or("(none installed)")),
        }
        match &libheif {
            Ok(version) => println!("HEIC and AVIF photos: libheif {version}"),
            Err(e) => println!(
                "HEIC and AVIF photos: not readable, {} could not be loaded ({e}); install the {} package",
                glimpse::engine::heif::LIBRARY,
                glimpse::engine::heif::PACKAGE
            ),
        }
        match &libraw {
            Ok(version) => println!("Camera RAW photos: LibRaw {version}"),
            Err(e) => println!(
                "Camera RAW photos: not readable, LibRaw could not be loaded ({e}); install the {} package",
                glimpse::engine::raw::PACKAGE
            ),
        }
        if ok {
            println!("All is well.");
        } else {
            println!("Problems:");
            for p in &problems {
                println!("  - {p}");
            }
        }
    }
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Opens the installed text model as search does (manifest version, both graphs' and the
/// compact projection's sha256) and checks that its backbone is installed and is the one it
/// was trained on.
fn check_text_model(cli: &Cli, runtime: Option<&'static Runtime>, problems: &mut Vec<String>) -> serde_json::Value {
    let Some(dir) = default_model_dir() else {
        problems.push("no text model is installed (models/text): text search is unavailable".into());
        return json!({"ok": false, "error": "not installed"});
    };
    let Some(rt) = runtime else { return json!({"path": dir, "ok": false, "error": "ONNX Runtime is not loaded"}) };
    let checked = ExportedModel::open(rt, &dir, &cli.session_options()).and_then(|model| {
        model.check_graphs()?;
        glimpse::index::compact::Codec::for_model(&model.dir, model.manifest.compact_file(), model.dim())?;
        let backbone = BackboneModel::find(&model.manifest.backbone.name)?;
        model.check_backbone(&backbone)?;
        Ok(model.manifest)
    });
    match checked {
        Ok(m) => json!({
            "path": dir,
            "ok": true,
            "backbone": m.backbone.name,
            "joint_dim": m.model.joint_dim,
            "image_head_sha256": m.image_head.sha256,
            "text_encoder_sha256": m.text_encoder.sha256,
            "dev": m.dev_metrics(),
        }),
        Err(e) => {
            problems.push(format!("text model {}: {e}", dir.display()));
            json!({"path": dir, "ok": false, "error": e.to_string()})
        }
    }
}

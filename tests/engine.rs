//! The engine on tiny generated graphs: sessions, manifests, the pipeline.

use std::path::PathBuf;

use glimpse::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use glimpse::engine::{Backbone, BackboneModel, ProviderChoice, Runtime, SessionOptions};
use image::Rgb;

use crate::util::{TinySpec, solid_png, tiny_weights, write_tiny_backbone};

fn runtime() -> &'static Runtime {
    Runtime::load(None).expect("ONNX Runtime is installed by scripts/setup.sh")
}

fn cpu() -> SessionOptions {
    SessionOptions { provider: ProviderChoice::Cpu, intra_threads: 1 }
}

fn open_tiny(dir: &std::path::Path, spec: &TinySpec) -> Backbone {
    let folder = write_tiny_backbone(dir, "tiny", spec);
    Backbone::open(runtime(), BackboneModel::open(&folder).unwrap(), &cpu()).unwrap()
}

#[test]
fn a_tiny_graph_gives_the_features_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = open_tiny(dir.path(), &TinySpec::default());
    let photo = dir.path().join("c.png");
    solid_png(&photo, 20, 10, [227, 27, 127]);
    let prepared = backbone.preprocess().prepare_path(&photo).unwrap();
    let input = ndarray::Array4::from_shape_vec((1, 3, 8, 8), prepared.tensor).unwrap();
    let out = backbone.run(input.view(), true).unwrap();
    // Channel means after normalisation: (227-127)/128, (27-127)/128, 0.
    let pooled = [100.0f32 / 128.0, -100.0 / 128.0, 0.0];
    let w = tiny_weights(4);
    for j in 0..4 {
        let expected: f32 = (0..3).map(|c| pooled[c] * w[c * 4 + j]).sum();
        assert!((out.features[[0, j]] - expected).abs() < 1e-5, "feature {j}: {} vs {expected}", out.features[[0, j]]);
    }
    assert_eq!(out.logits.unwrap().shape(), &[1, 3]);
}

#[test]
fn the_resnet50_interface_loads_with_imagenet_normalisation_and_2048_features() {
    let dir = tempfile::tempdir().unwrap();
    let spec = TinySpec {
        size: 224,
        dim: 2048,
        classes: 1000,
        mean: [123.675, 116.28, 103.53],
        std: [58.395, 57.12, 57.375],
        ..TinySpec::default()
    };
    let folder = write_tiny_backbone(dir.path(), "resnet50", &spec);
    let model = BackboneModel::open(&folder).unwrap();
    model.verify().unwrap();
    let backbone = Backbone::open(runtime(), model, &cpu()).unwrap();
    assert_eq!(backbone.dim(), 2048);
    let photo = dir.path().join("p.png");
    solid_png(&photo, 500, 375, [123, 116, 104]);
    let job = pipeline::embed(&backbone, vec![photo], EmbedOptions::default(), None).unwrap();
    let events: Vec<EmbedEvent> = crate::util::drain(job.events());
    let EmbedEvent::Embedded(e) = &events[0] else { panic!("{events:?}") };
    assert_eq!(e.features.len(), 2048);
    // The photo is the ImageNet mean (to rounding), so every normalised value is near 0.
    assert!(e.features.iter().all(|v| v.abs() < 0.05), "{:?}", &e.features[..4]);
}

#[test]
fn a_graph_whose_input_size_differs_from_its_manifest_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_tiny_backbone(dir.path(), "tiny", &TinySpec::default());
    let manifest = std::fs::read_to_string(folder.join("manifest.toml")).unwrap().replace("size = 8", "size = 224");
    std::fs::write(folder.join("manifest.toml"), manifest).unwrap();
    let err = Backbone::open(runtime(), BackboneModel::open(&folder).unwrap(), &cpu()).err().unwrap().to_string();
    assert!(err.contains("[N, 3, 224, 224]") && err.contains("8"), "{err}");
}

#[test]
fn a_graph_without_the_named_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_tiny_backbone(dir.path(), "tiny", &TinySpec::default());
    let manifest = std::fs::read_to_string(folder.join("manifest.toml"))
        .unwrap()
        .replace("output = \"features\"", "output = \"pool5\"");
    std::fs::write(folder.join("manifest.toml"), manifest).unwrap();
    let err = Backbone::open(runtime(), BackboneModel::open(&folder).unwrap(), &cpu()).err().unwrap().to_string();
    assert!(err.contains("has no output 'pool5'"), "{err}");
}

#[test]
fn a_replaced_graph_fails_its_checksum_and_garbage_fails_to_load_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_tiny_backbone(dir.path(), "tiny", &TinySpec::default());
    std::fs::write(folder.join("model.onnx"), b"this is not an onnx graph").unwrap();
    let model = BackboneModel::open(&folder).unwrap();
    let err = model.verify().unwrap_err().to_string();
    assert!(err.contains("damaged or was replaced"), "{err}");
    let err = Backbone::open(runtime(), model, &cpu()).err().unwrap().to_string();
    assert!(err.starts_with("model "), "{err}");
}

#[test]
fn a_manifest_of_a_future_format_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let folder = write_tiny_backbone(dir.path(), "tiny", &TinySpec::default());
    let manifest = std::fs::read_to_string(folder.join("manifest.toml")).unwrap().replace("format = 1", "format = 7");
    std::fs::write(folder.join("manifest.toml"), manifest).unwrap();
    let err = BackboneModel::open(&folder).unwrap_err().to_string();
    assert!(err.contains("manifest format 7 is not supported"), "{err}");
}

#[test]
fn asking_for_cuda_in_a_cpu_build_runs_on_the_cpu_and_says_why() {
    if cfg!(feature = "cuda") {
        eprintln!("skipped: this build has CUDA");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = write_tiny_backbone(dir.path(), "tiny", &TinySpec::default());
    let options = SessionOptions { provider: ProviderChoice::Cuda, intra_threads: 1 };
    let backbone = Backbone::open(runtime(), BackboneModel::open(&folder).unwrap(), &options).unwrap();
    assert_eq!(backbone.provider().to_string(), "CPU");
    assert!(backbone.notice().unwrap().contains("no CUDA support"), "{:?}", backbone.notice());
    // auto stays quiet about it
    let auto = SessionOptions { provider: ProviderChoice::Auto, intra_threads: 1 };
    let backbone = Backbone::open(runtime(), BackboneModel::open(&folder).unwrap(), &auto).unwrap();
    assert!(backbone.notice().is_none());
}

#[test]
fn a_bad_photo_is_an_error_for_that_photo_only() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = open_tiny(dir.path(), &TinySpec::default());
    let good1 = dir.path().join("good1.png");
    let good2 = dir.path().join("good2.png");
    let garbage = dir.path().join("garbage.jpg");
    let missing = dir.path().join("missing.jpg");
    solid_png(&good1, 9, 9, [1, 2, 3]);
    solid_png(&good2, 9, 9, [4, 5, 6]);
    std::fs::write(&garbage, b"\xff\xd8 not really a jpeg").unwrap();
    let paths = vec![good1.clone(), garbage.clone(), missing.clone(), good2.clone()];
    let job = pipeline::embed(&backbone, paths, EmbedOptions { batch_size: 3, ..Default::default() }, None).unwrap();
    let mut embedded: Vec<PathBuf> = Vec::new();
    let mut failed: Vec<(PathBuf, String)> = Vec::new();
    for event in crate::util::drain(job.events()) {
        match event {
            EmbedEvent::Embedded(e) => embedded.push(e.path),
            EmbedEvent::Failed { path, error, .. } => failed.push((path, error.to_string())),
        }
    }
    let report = job.wait().unwrap().unwrap();
    embedded.sort();
    failed.sort();
    assert_eq!(embedded, vec![good1, good2]);
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].0, garbage);
    assert_eq!(failed[1].0, missing);
    assert!(failed[1].1.contains("cannot read"), "{}", failed[1].1);
    assert_eq!((report.embedded, report.failed, report.stopped), (2, 2, false));
}

#[test]
fn every_photo_gets_the_same_features_alone_or_in_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = open_tiny(dir.path(), &TinySpec::default());
    let paths: Vec<PathBuf> = (0..7)
        .map(|i| {
            let p = dir.path().join(format!("{i}.png"));
            image::RgbImage::from_fn(13, 11, |x, y| Rgb([(x * 19 + i * 30) as u8, (y * 23) as u8, (i * 37) as u8]))
                .save(&p)
                .unwrap();
            p
        })
        .collect();
    let run = |batch: usize| {
        let job =
            pipeline::embed(&backbone, paths.clone(), EmbedOptions { batch_size: batch, ..Default::default() }, None)
                .unwrap();
        let mut out = vec![Vec::new(); paths.len()];
        for event in crate::util::drain(job.events()) {
            if let EmbedEvent::Embedded(e) = event {
                out[e.index] = e.features;
            }
        }
        out
    };
    let single = run(1);
    let batched = run(5);
    for (a, b) in single.iter().zip(&batched) {
        assert!(!a.is_empty());
        assert!(crate::util::cosine(a, b) > 0.9999);
    }
}

#[test]
fn stopping_the_pipeline_keeps_what_was_finished_and_says_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = open_tiny(dir.path(), &TinySpec::default());
    let photo = dir.path().join("p.png");
    solid_png(&photo, 64, 64, [9, 9, 9]);
    let paths = vec![photo; 2000];
    let job = pipeline::embed(&backbone, paths, EmbedOptions { batch_size: 4, ..Default::default() }, None).unwrap();
    let first = crate::util::next(job.events());
    assert!(matches!(first, EmbedEvent::Embedded(_)));
    job.stop();
    let rest = crate::util::drain(job.events()).len();
    let report = job.wait().unwrap().unwrap();
    assert!(report.stopped);
    assert!(report.embedded < 2000, "embedded all {} photos despite the stop", report.embedded);
    assert!(rest < report.embedded + report.failed);
}

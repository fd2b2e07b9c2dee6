//! Training end to end on a tiny Flickr8k-shaped dataset generated here (solid colours and
//! their names), the feature cache, and exported graphs against candle.

use std::path::{Path, PathBuf};

use glimpse::dataset::Split;
use glimpse::engine::{Backbone, BackboneModel, ProviderChoice, Runtime, SessionOptions};
use glimpse::job::Job;
use glimpse::model::ExportedModel;
use glimpse::text::{Vocab, VocabSettings, WordCounts};
use glimpse::train::export::export;
use glimpse::train::features::FeatureCache;
use glimpse::train::loss::Mining;
use glimpse::train::model::{FeatureSlice, ModelConfig, TextEncoderKind, TwoTower, init_vars};
use glimpse::train::recipe::{self, Flickr8kTraining};
use glimpse::train::trainer::{self, Pairs, Schedule, TrainConfig, TrainEvent};
use ndarray::Array2;

use crate::util::{COLOURS, TinySpec, tiny_flickr8k, tiny_glove, write_tiny_backbone};

fn cpu() -> SessionOptions {
    SessionOptions { provider: ProviderChoice::Cpu, intra_threads: 1 }
}

fn tiny_backbone(dir: &Path) -> Backbone {
    let spec = TinySpec { dim: 6, ..TinySpec::default() };
    let folder = write_tiny_backbone(dir, "tiny", &spec);
    Backbone::open(Runtime::load(None).unwrap(), BackboneModel::open(&folder).unwrap(), &cpu()).unwrap()
}

fn collect<R: Send + 'static>(job: Job<TrainEvent, R>) -> (Vec<TrainEvent>, R) {
    let events: Vec<TrainEvent> = crate::util::drain(job.events());
    (events, job.wait().unwrap())
}

/// Trains on a tiny Flickr8k-shaped dataset with `text_encoder`: the loss must fall to
/// under half of the first epoch's.
fn train_tiny(text_encoder: TextEncoderKind) {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(dir.path());
    let flickr8k = tiny_flickr8k(dir.path());
    let out = dir.path().join("model");
    let cache = dir.path().join("cache");
    let run = Flickr8kTraining {
        flickr8k: flickr8k.clone(),
        glove: tiny_glove(dir.path()),
        out: out.clone(),
        cache_dir: cache.clone(),
        backbone: backbone.clone(),
        vocab: VocabSettings::default(),
        extra_word_dims: 4,
        joint_dim: 16,
        image_hidden: None,
        text_encoder,
        feature_slice: None,
        train: TrainConfig {
            mining: Mining::SemiHard,
            warmup_epochs: 1,
            epochs: 40,
            batch_size: 8,
            lr: 2e-2,
            schedule: Schedule::Constant,
            patience: 0,
            ..TrainConfig::default()
        },
    };
    let (events, report) = collect(recipe::start(run, None).unwrap());
    let report = report.unwrap();
    let losses: Vec<f32> =
        events.iter().filter_map(|e| if let TrainEvent::Epoch(e) = e { Some(e.loss) } else { None }).collect();
    assert_eq!(losses.len(), 40);
    assert!(losses[39] < 0.5 * losses[0], "the loss did not fall ({text_encoder:?}): {losses:?}");
    assert!(events.iter().any(|e| matches!(e, TrainEvent::Step { .. })));

    // The exported folder, run in ONNX Runtime, finds each dev photo from its captions.
    let model = ExportedModel::open(Runtime::load(None).unwrap(), &out, &cpu()).unwrap();
    assert_eq!(model.manifest.training.as_ref().unwrap().best_epoch, report.best_epoch);
    let (_, metrics) = collect(
        Job::spawn("test-eval", 16, None, move |cx| {
            recipe::evaluate_exported(&model, &backbone, &flickr8k, Split::Dev, &cache, &cx)
        })
        .unwrap(),
    );
    let metrics = metrics.unwrap();
    assert_eq!((metrics.images, metrics.captions), (8, 40));
    assert!(metrics.t2i.r1 >= 75.0, "{metrics:?}");
    // The export and the training-time evaluation agree on the chosen epoch's dev numbers.
    assert!((metrics.t2i.r1 - report.dev.t2i.r1).abs() < 1e-9, "{metrics:?} vs {:?}", report.dev);
}

#[test]
fn the_feature_cache_reuses_unchanged_photos_and_recomputes_a_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(dir.path());
    let flickr8k = tiny_flickr8k(dir.path());
    let photos: Vec<(String, PathBuf)> = COLOURS
        .iter()
        .map(|(c, _)| (format!("{c}_0.jpg"), flickr8k.join("Flicker8k_Dataset").join(format!("{c}_0.jpg"))))
        .collect();
    let cache_dir = dir.path().join("cache");
    let mut cache = FeatureCache::open(&cache_dir, backbone.model());
    let first = cache.features(&backbone, &photos, &mut |_| true).unwrap();
    assert_eq!((first.computed, first.reused, first.kept.len()), (8, 0, 8));

    let mut again = FeatureCache::open(&cache_dir, backbone.model());
    assert!(again.notice.is_none());
    let second = again.features(&backbone, &photos, &mut |_| true).unwrap();
    assert_eq!((second.computed, second.reused), (0, 8));
    assert_eq!(second.data, first.data);

    image::RgbImage::from_pixel(24, 16, image::Rgb([0, 0, 0])).save(&photos[0].1).unwrap();
    let third = FeatureCache::open(&cache_dir, backbone.model()).features(&backbone, &photos, &mut |_| true).unwrap();
    assert_eq!((third.computed, third.reused), (1, 7));
    assert_ne!(third.data[..6], first.data[..6]);

    // A truncated file is set aside with a notice, not an error.
    let file = FeatureCache::open(&cache_dir, backbone.model()).path().to_path_buf();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let damaged = FeatureCache::open(&cache_dir, backbone.model());
    assert!(damaged.notice.as_deref().unwrap_or("").contains("damaged"), "{:?}", damaged.notice);
    assert!(damaged.is_empty());
}

#[test]
fn training_on_a_tiny_dataset_lowers_the_loss_with_the_mean_encoder() {
    train_tiny(TextEncoderKind::Mean);
}

#[test]
fn training_on_a_tiny_dataset_lowers_the_loss_with_the_gru_encoder() {
    train_tiny(TextEncoderKind::Gru { hidden: 8 });
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A tiny two-tower model over 6 features and 4-d words with a 3-d joint space, its
/// weights drawn from `seed`, exported to `out` for `backbone` (a 6-feature one), its image
/// head reading `feature_slice` of the features.
fn export_tiny_model(
    out: &Path,
    backbone: &Backbone,
    vocab: &Vocab,
    (image_hidden, text_encoder, feature_slice): (Option<usize>, TextEncoderKind, Option<FeatureSlice>),
    seed: u64,
) -> TwoTower {
    use candle_core::{DType, Device};
    let config = ModelConfig {
        feature_dim: 6,
        image_hidden,
        vocab_size: vocab.len(),
        word_dim: 4,
        joint_dim: 3,
        text_encoder,
        feature_slice,
    };
    let varmap = candle_nn::VarMap::new();
    let embedding: Vec<f32> = (0..vocab.len() * 4).map(|i| ((i * 37 % 17) as f32 - 8.0) / 9.0).collect();
    init_vars(&varmap, &config, &embedding, seed).unwrap();
    let model = TwoTower::new(&config, candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    export(out, &model, &config, vocab, backbone.model(), None).unwrap();
    model
}

#[test]
fn exported_graphs_give_what_candle_gives_within_1e_5() {
    use candle_core::{Device, Tensor};
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(dir.path());
    let counts = WordCounts::from_captions(["red square", "blue circle on green", "tiny yellow dog"]);
    let vocab = Vocab::build(&counts, VocabSettings { seq_len: 7, ..VocabSettings::default() }).unwrap();
    let slice = Some(FeatureSlice { start: 2, end: 5 });
    for (hidden, text_encoder, slice) in [
        (None, TextEncoderKind::Mean, None),
        (Some(5), TextEncoderKind::Mean, None),
        (None, TextEncoderKind::Gru { hidden: 6 }, None),
        (Some(5), TextEncoderKind::Mean, slice),
    ] {
        let out = dir.path().join(format!("model-{hidden:?}-{}-{slice:?}", text_encoder.describe()));
        let model = export_tiny_model(&out, &backbone, &vocab, (hidden, text_encoder, slice), 11);
        let exported = ExportedModel::open(Runtime::load(None).unwrap(), &out, &cpu()).unwrap();

        let features: Vec<f32> = (0..4 * 6).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.7).collect();
        // The graph takes all six features; candle's head only the slice's columns.
        let (start, end) = slice.map_or((0, 6), |s| (s.start, s.end));
        let columns: Vec<f32> = features.chunks(6).flat_map(|row| row[start..end].to_vec()).collect();
        let input = Tensor::from_slice(&columns, (4, end - start), &Device::Cpu).unwrap();
        let ours = model.image.forward(&input).unwrap();
        let theirs =
            exported.embed_features_with_offsets(Array2::from_shape_vec((4, 6), features).unwrap().view()).unwrap().0;
        let diff = max_abs_diff(&ours.flatten_all().unwrap().to_vec1().unwrap(), theirs.as_slice().unwrap());
        assert!(diff <= 1e-5, "image head ({hidden:?}, {slice:?}): {diff}");

        // Padding in the middle of a row counts as padding too; an all-padding row stays finite.
        let texts = ["red square", "tiny blue dog on green circle with unknown words", "", "yellow"];
        let mut ids: Vec<u32> = texts.iter().flat_map(|t| vocab.encode(t).ids).collect();
        ids[7 * 3 + 3] = 5;
        let ours = model.text.forward(&Tensor::from_slice(&ids, (4, 7), &Device::Cpu).unwrap()).unwrap();
        let ids64 = Array2::from_shape_vec((4, 7), ids.iter().map(|&i| i64::from(i)).collect()).unwrap();
        let theirs = exported.embed_ids(ids64.view()).unwrap();
        let ours: Vec<f32> = ours.flatten_all().unwrap().to_vec1().unwrap();
        assert!(ours.iter().all(|x| x.is_finite()));
        let diff = max_abs_diff(&ours, theirs.as_slice().unwrap());
        assert!(diff <= 1e-5, "text encoder ({hidden:?}, {text_encoder:?}): {diff}");
        // The text path through the vocabulary is the same one, leaving out the words it lacks.
        let by_text = exported.embed_texts(&[texts[0], "tiny blue dog on green circle"]).unwrap();
        assert!(max_abs_diff(&ours[..3], by_text.row(0).as_slice().unwrap()) <= 1e-5);
        assert_eq!(by_text.row(1), exported.embed_texts(&texts[1..2]).unwrap().row(0));
    }
}

/// A word table of 4,100 words × 4 (16,400 values, over the size from which tables are
/// stored compactly) is written as int8 with one scale per column: the exported encoder
/// then differs from candle by at most the rounding (half a step, about 1/250 of the
/// largest value, per word value), and not by nothing, which shows the rounding happened.
/// `glimpse repack` of that folder rewrites nothing that changes a vector and records the
/// graphs' sha256 in the manifest.
#[test]
fn large_word_tables_are_stored_as_int8_and_repack_keeps_the_vectors() {
    use candle_core::{Device, Tensor};
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(dir.path());
    let words: Vec<String> = (0..4100).map(|i| format!("w{i}")).collect();
    let captions: Vec<String> = words.chunks(5).map(|c| c.join(" ")).collect();
    let vocab = Vocab::build(
        &WordCounts::from_captions(captions.iter().map(String::as_str)),
        VocabSettings { seq_len: 7, min_count: 1, max_words: 10_000, ..VocabSettings::default() },
    )
    .unwrap();
    assert!(vocab.len() * 4 >= glimpse::onnx::graph::HALF_MIN_VALUES, "vocabulary of {}", vocab.len());
    let out = dir.path().join("model");
    let model = export_tiny_model(&out, &backbone, &vocab, (None, TextEncoderKind::Gru { hidden: 6 }, None), 5);
    let texts = ["w1 w2 w3", "w4000 w17", "w9"];
    let ids: Vec<u32> = texts.iter().flat_map(|t| vocab.encode(t).ids).collect();
    let ours: Vec<f32> = model
        .text
        .forward(&Tensor::from_slice(&ids, (3, 7), &Device::Cpu).unwrap())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let embed = || {
        let exported = ExportedModel::open(Runtime::load(None).unwrap(), &out, &cpu()).unwrap();
        exported.embed_texts(&texts).unwrap().as_slice().unwrap().to_vec()
    };
    let before = embed();
    let diff = max_abs_diff(&ours, &before);
    assert!(diff > 1e-6 && diff <= 0.02, "int8 word table: {diff}");

    let old_sha = glimpse::model::manifest::JointManifest::load(&out).unwrap().text_encoder.sha256;
    let (manifest, files) = glimpse::train::repack::repack(&out, None).unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(manifest, glimpse::model::manifest::JointManifest::load(&out).unwrap());
    assert_eq!(manifest.text_encoder.sha256, old_sha, "an up-to-date graph is written again byte for byte");
    assert_eq!(embed(), before);
}

fn synthetic_pairs(seed: u32, photos: usize) -> Pairs {
    let f = 5;
    let features: Vec<f32> = (0..photos * f)
        .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let mut ids = Vec::new();
    let mut caption_image = Vec::new();
    for p in 0..photos {
        for k in 0..2 {
            ids.extend([2 + (p % 6) as u32, 2 + ((p + k) % 6) as u32, 0, 0]);
            caption_image.push(p);
        }
    }
    Pairs { feature_dim: f, features, seq_len: 4, ids, caption_image }
}

/// A mean-encoder model over [`synthetic_pairs`] and its starting word vectors.
fn tiny_mean_model() -> (ModelConfig, Vec<f32>) {
    let model = ModelConfig {
        feature_dim: 5,
        image_hidden: None,
        vocab_size: 8,
        word_dim: 3,
        joint_dim: 4,
        text_encoder: TextEncoderKind::Mean,
        feature_slice: None,
    };
    (model, (0..24).map(|i| (i as f32 * 0.37).sin()).collect())
}

#[test]
fn the_same_seed_trains_the_same_model_and_the_stop_flag_keeps_a_model() {
    let (model, embedding) = tiny_mean_model();
    let config =
        TrainConfig { epochs: 3, batch_size: 6, mining: Mining::Easy, word_dropout: 0.2, ..TrainConfig::default() };
    let run = |config: TrainConfig| {
        let (model, embedding) = (model.clone(), embedding.clone());
        let job = Job::spawn("test-train", 1024, None, move |cx| {
            let t = trainer::train(&model, &embedding, &config, &synthetic_pairs(1, 20), &synthetic_pairs(2, 6), &cx)?;
            let w = t.weights.data().lock().unwrap()["image.layer0.weight"].as_tensor().flatten_all().unwrap();
            Ok::<_, glimpse::Error>((t.history.iter().map(|e| e.loss).collect::<Vec<_>>(), w.to_vec1::<f32>().unwrap()))
        })
        .unwrap();
        collect(job).1.unwrap()
    };
    let a = run(config.clone());
    let b = run(config.clone());
    assert_eq!(a, b);
    let c = run(TrainConfig { seed: 2, ..config.clone() });
    assert_ne!(a.0, c.0);

    // Stopped after the first step: a one-slot channel keeps the worker within two steps of
    // the events read, so it cannot have finished the 7-step first epoch.
    let job = Job::spawn("test-stop", 1, None, move |cx| {
        trainer::train(&model, &embedding, &config, &synthetic_pairs(1, 20), &synthetic_pairs(2, 6), &cx)
            .map(|t| (t.stopped, t.best_epoch, t.history.len()))
    })
    .unwrap();
    let first = crate::util::next(job.events());
    assert!(matches!(first, TrainEvent::Step { epoch: 1, step: 1, .. }), "{first:?}");
    job.stop();
    let (stopped, best, epochs) = job.wait().unwrap().unwrap();
    assert_eq!(epochs, 0);
    assert!(stopped && best == 0);
}

#[test]
fn glove_substitution_changes_training_repeatably_and_only_when_asked() {
    let (model, embedding) = tiny_mean_model();
    // Words 2–7 have a "GloVe" vector of 1 value: the first column of their rows.
    let substitution = trainer::Substitution { dim: 1, has: (0..8).map(|i| i >= 2).collect() };
    let config = TrainConfig { epochs: 2, batch_size: 6, mining: Mining::Easy, ..TrainConfig::default() };
    let run = |config: TrainConfig, substitution: Option<trainer::Substitution>| {
        let (model, embedding) = (model.clone(), embedding.clone());
        let job = Job::spawn("test-substitution", 1024, None, move |cx| {
            let (train, dev) = (synthetic_pairs(1, 20), synthetic_pairs(2, 6));
            let t = trainer::train_with(&model, &embedding, substitution.as_ref(), &config, &train, &dev, &cx)?;
            let w = t.weights.data().lock().unwrap()["text.embedding"].as_tensor().flatten_all().unwrap();
            Ok::<_, glimpse::Error>(w.to_vec1::<f32>().unwrap())
        })
        .unwrap();
        collect(job).1.unwrap()
    };
    let plain = run(config.clone(), None);
    let unused = run(config.clone(), Some(substitution.clone()));
    assert_eq!(plain, unused, "a probability of 0 substitutes nothing");
    let on = TrainConfig { glove_substitution: 0.5, ..config };
    let a = run(on.clone(), Some(substitution.clone()));
    assert_eq!(a, run(on.clone(), Some(substitution)), "the same seed substitutes the same words");
    assert_ne!(a, plain);
    assert_eq!(run(on, None), plain, "without the GloVe vectors nothing can be substituted");
}

#[test]
fn a_combined_model_gives_each_member_s_vectors_side_by_side_and_refuses_mismatched_members() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(dir.path());
    let vocab_of = |captions: &[&str]| {
        Vocab::build(
            &WordCounts::from_captions(captions.iter()),
            VocabSettings { seq_len: 7, ..VocabSettings::default() },
        )
        .unwrap()
    };
    let vocab = vocab_of(&["red square", "blue circle on green", "tiny yellow dog"]);
    let member = |name: &str, text_encoder: TextEncoderKind, slice: Option<FeatureSlice>, vocab: &Vocab, seed: u64| {
        let out = dir.path().join(name);
        export_tiny_model(&out, &backbone, vocab, (None, text_encoder, slice), seed);
        out
    };
    // Member b reads only some of the features, as a member on one part of a fused backbone.
    let a = member("a", TextEncoderKind::Mean, None, &vocab, 1);
    let b = member("b", TextEncoderKind::Gru { hidden: 5 }, Some(FeatureSlice { start: 1, end: 4 }), &vocab, 2);
    let both = dir.path().join("both");
    // Combined as the CLI and the window do it: a job that says what it made.
    let job = glimpse::train::workflow::start_combine(both.clone(), vec![a.clone(), b.clone()], None, None).unwrap();
    let notes: Vec<String> = job
        .events()
        .iter()
        .filter_map(|e| match e {
            glimpse::train::trainer::TrainEvent::Note(n) => Some(n),
            _ => None,
        })
        .collect();
    let combined = job.wait().unwrap().unwrap();
    assert!(notes.iter().any(|n| n.contains("2 models combined, 6-d")), "{notes:?}");
    assert!(combined.dev.is_none());
    let manifest = combined.manifest;
    assert_eq!(manifest.model.joint_dim, 6);
    assert_eq!(manifest.combination.as_ref().unwrap().members.len(), 2);

    let open = |d: &Path| ExportedModel::open(Runtime::load(None).unwrap(), d, &cpu()).unwrap();
    let (ma, mb, mc) = (open(&a), open(&b), open(&both));
    let features =
        Array2::from_shape_vec((4, 6), (0..24).map(|i| ((i * 13 % 7) as f32 - 3.0) * 0.7).collect()).unwrap();
    let texts = ["red square", "tiny blue dog on green circle", "", "yellow"];
    let s = 1.0 / 2f32.sqrt();
    for (parts, combined) in [
        (
            [
                ma.embed_features_with_offsets(features.view()).unwrap().0,
                mb.embed_features_with_offsets(features.view()).unwrap().0,
            ],
            mc.embed_features_with_offsets(features.view()).unwrap().0,
        ),
        ([ma.embed_texts(&texts).unwrap(), mb.embed_texts(&texts).unwrap()], mc.embed_texts(&texts).unwrap()),
    ] {
        assert_eq!(combined.dim(), (4, 6));
        for row in 0..4 {
            let want: Vec<f32> =
                parts.iter().flat_map(|p| p.row(row).iter().map(|x| x * s).collect::<Vec<_>>()).collect();
            assert!(max_abs_diff(&want, combined.row(row).as_slice().unwrap()) <= 1e-6);
            // The mean of two unit vectors' halves is a unit vector again.
            let norm: f32 = combined.row(row).iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-5, "row {row}: squared norm {norm}");
        }
    }

    let other = member("other", TextEncoderKind::Mean, None, &vocab_of(&["a purple cat", "two dogs"]), 3);
    let err = glimpse::train::combine::combine(&dir.path().join("x"), &[a.clone(), other]).unwrap_err().to_string();
    assert!(err.contains("another vocabulary"), "{err}");
    let err = glimpse::train::combine::combine(&dir.path().join("y"), &[both, a.clone()]).unwrap_err().to_string();
    assert!(err.contains("itself a combined model"), "{err}");
    let err = glimpse::train::combine::combine(&dir.path().join("z"), &[a]).unwrap_err().to_string();
    assert!(err.contains("at least two"), "{err}");
}

#[test]
fn a_calibrated_model_gives_each_photo_the_offset_of_its_nearest_bank_captions_and_keeps_its_vectors() {
    use glimpse::model::manifest::Hubness;
    use glimpse::train::hubness::{calibrate, reference_offset};
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(dir.path());
    let vocab = Vocab::build(
        &WordCounts::from_captions(["red square", "blue circle on green", "tiny yellow dog"].iter()),
        VocabSettings { seq_len: 7, ..VocabSettings::default() },
    )
    .unwrap();
    let model_dir = dir.path().join("model");
    export_tiny_model(&model_dir, &backbone, &vocab, (None, TextEncoderKind::Mean, None), 4);
    let other = dir.path().join("other");
    export_tiny_model(&other, &backbone, &vocab, (None, TextEncoderKind::Mean, None), 5);
    let open = |d: &Path| ExportedModel::open(Runtime::load(None).unwrap(), d, &cpu()).unwrap();
    let features =
        Array2::from_shape_vec((5, 6), (0..30).map(|i| ((i * 11 % 9) as f32 - 4.0) * 0.6).collect()).unwrap();
    let before = open(&model_dir);
    let (plain, zeros) = before.embed_features_with_offsets(features.view()).unwrap();
    assert_eq!(zeros, vec![0.0; 5], "an uncalibrated model has no offsets");
    let texts = ["red square", "blue circle", "tiny yellow dog", "green", "red dog on blue", "square circle"];
    let bank: Vec<f32> = before.embed_texts(&texts).unwrap().iter().copied().collect();
    drop(before);

    let settings = Hubness { bank: texts.len(), k: 2, weight: 0.5, seed: 1, dev: None };
    let too_many = Hubness { k: 7, ..settings.clone() };
    assert!(calibrate(&model_dir, &bank, &too_many).unwrap_err().to_string().contains("k must be 1 to"));
    let manifest = calibrate(&model_dir, &bank, &settings).unwrap();
    assert_eq!(manifest.hubness.as_ref().map(|h| (h.bank, h.k)), Some((6, 2)));
    let after = open(&model_dir);
    let (embedding, offsets) = after.embed_features_with_offsets(features.view()).unwrap();
    assert!(max_abs_diff(plain.as_slice().unwrap(), embedding.as_slice().unwrap()) <= 1e-6);
    for (row, offset) in offsets.iter().enumerate() {
        let want = reference_offset(embedding.row(row).as_slice().unwrap(), &bank, &settings);
        assert!((offset - want).abs() <= 1e-5, "row {row}: {offset} vs {want}");
    }
    // Not every photo is as close to the bank: the offsets tell hubs apart.
    assert!(offsets.iter().any(|o| (o - offsets[0]).abs() > 1e-3), "{offsets:?}");
    // The index's projection head reads the same offsets.
    let head = glimpse::engine::ProjectionHead::open(
        Runtime::load(None).unwrap(),
        &model_dir.join(&manifest.image_head.file),
        &cpu(),
    )
    .unwrap();
    let (rows, head_offsets) = head.project_with_offsets(features.view()).unwrap();
    assert_eq!((rows.len(), head_offsets.as_deref()), (5, Some(offsets.as_slice())));

    let err = calibrate(&model_dir, &bank, &settings).unwrap_err().to_string();
    assert!(err.contains("already calibrated"), "{err}");
    let err = glimpse::train::combine::combine(&dir.path().join("c"), &[other, model_dir]).unwrap_err().to_string();
    assert!(err.contains("is calibrated"), "{err}");
}

/// Words of the tiny open-vocabulary model, each with a 3-d GloVe vector.
const OPEN_WORDS: [&str; 20] = [
    "red", "green", "blue", "yellow", "white", "black", "purple", "square", "circle", "dog", "cat", "tree", "car",
    "house", "road", "sky", "sea", "sand", "snow", "grass",
];

fn open_glove_vector(i: usize) -> [f32; 3] {
    [((i * 7) % 11) as f32 / 5.0 - 1.0, ((i * 3) % 13) as f32 / 6.0 - 1.0, ((i * 5) % 7) as f32 / 3.0 - 1.0]
}

/// A tiny model over `OPEN_WORDS` whose trained word vectors are an exact linear function of
/// their GloVe vectors, exported to `out`; and a GloVe file with those words, "crimson"
/// (red's vector), "azure" and a token no text reaches ("'s").
fn open_vocab_model(out: &Path, glove: &Path, backbone: &Backbone, text_encoder: TextEncoderKind) -> Vocab {
    use candle_core::{DType, Device};
    let captions: Vec<String> = OPEN_WORDS.chunks(4).map(|c| c.join(" ")).collect();
    let vocab = Vocab::build(
        &WordCounts::from_captions(captions.iter().map(String::as_str)),
        VocabSettings { seq_len: 6, ..VocabSettings::default() },
    )
    .unwrap();
    let linear = |g: [f32; 3]| [g[0] + g[1], g[1] - g[2], 2.0 * g[2] + 0.5, g[0]];
    let mut embedding = vec![0.0f32; vocab.len() * 4];
    embedding[4..8].copy_from_slice(&[0.3, -0.2, 0.1, 0.4]);
    for (i, word) in OPEN_WORDS.iter().enumerate() {
        let id = vocab.id(word).unwrap() as usize;
        embedding[id * 4..id * 4 + 4].copy_from_slice(&linear(open_glove_vector(i)));
    }
    let config = ModelConfig {
        feature_dim: 6,
        image_hidden: None,
        vocab_size: vocab.len(),
        word_dim: 4,
        joint_dim: 3,
        text_encoder,
        feature_slice: None,
    };
    let varmap = candle_nn::VarMap::new();
    init_vars(&varmap, &config, &embedding, 3).unwrap();
    let model = TwoTower::new(&config, candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu)).unwrap();
    export(out, &model, &config, &vocab, backbone.model(), None).unwrap();
    let line = |w: &str, v: [f32; 3]| format!("{w} {} {} {}\n", v[0], v[1], v[2]);
    let mut text: String = OPEN_WORDS.iter().enumerate().map(|(i, w)| line(w, open_glove_vector(i))).collect();
    text += &line("crimson", open_glove_vector(0));
    text += &line("'s", [0.1, 0.2, 0.3]);
    text += &line("azure", [0.9, -0.4, 0.2]);
    std::fs::write(glove, text).unwrap();
    vocab
}

/// Opening the vocabulary keeps every trained word's id and vector (a query of them gives
/// the same vector, bit for bit) and gives a new word the map of its GloVe vector: here the
/// trained vectors are a linear function of GloVe's, so "crimson", which has red's GloVe
/// vector, embeds as "red" does (up to the int8 rounding of its GloVe vector). Repacking
/// the opened model rewrites it byte for byte; combining opened models is refused.
#[test]
fn an_open_vocabulary_keeps_trained_words_and_maps_new_ones_from_glove() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(dir.path());
    let glove = dir.path().join("glove.txt");
    for (k, text_encoder) in [TextEncoderKind::Mean, TextEncoderKind::Gru { hidden: 6 }].into_iter().enumerate() {
        let out = dir.path().join(format!("model-{k}"));
        let vocab = open_vocab_model(&out, &glove, &backbone, text_encoder);
        let open = || ExportedModel::open(Runtime::load(None).unwrap(), &out, &cpu()).unwrap();
        let known = ["red square", "dog on the grass by the sea", "blue"];
        let before = open().embed_texts(&known).unwrap();
        let crimson_before = open().embed_texts(&["crimson"]).unwrap();

        let opened = glimpse::train::open_vocab::open_vocabulary(&out, &glove).unwrap();
        assert_eq!((opened.trained, opened.words), (vocab.len(), vocab.len() + 2), "{text_encoder:?}");
        assert_eq!(opened.fits.len(), 1);
        assert!(opened.fits[0].held_out_r2 > 0.99, "{:?}", opened.fits[0]);
        let model = open();
        assert_eq!(model.vocab.id("crimson"), Some(vocab.len() as u32));
        assert_eq!(model.vocab.id("'s"), None);
        assert_eq!(model.embed_texts(&known).unwrap(), before, "{text_encoder:?}: trained words changed");

        let [red, crimson, azure] =
            ["red", "crimson", "azure"].map(|w| model.embed_texts(&[w]).unwrap().row(0).to_vec());
        assert!(crate::util::cosine(&red, &crimson) > 0.999, "{text_encoder:?}: {red:?} against {crimson:?}");
        assert!(crate::util::cosine(&red, &azure) < 0.999, "{text_encoder:?}: {red:?} against {azure:?}");
        assert_ne!(crimson.as_slice(), crimson_before.row(0).as_slice().unwrap());

        let sha = opened.manifest.text_encoder.sha256.clone();
        let (manifest, _) = glimpse::train::repack::repack(&out, None).unwrap();
        assert_eq!(manifest.text_encoder.sha256, sha, "{text_encoder:?}: repack changed the opened graph");
        assert!(glimpse::train::open_vocab::open_vocabulary(&out, &glove).is_err());
    }
    let err = glimpse::train::combine::combine(
        &dir.path().join("combined"),
        &[dir.path().join("model-0"), dir.path().join("model-1")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("open vocabulary"), "{err}");
}

/// A combined model opens as one: every member maps the new words with its own map, and
/// the members share one GloVe table in the graph.
#[test]
fn a_combined_model_opens_with_one_shared_glove_table() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny_backbone(dir.path());
    let glove = dir.path().join("glove.txt");
    let members: Vec<PathBuf> = [TextEncoderKind::Mean, TextEncoderKind::Gru { hidden: 6 }]
        .into_iter()
        .enumerate()
        .map(|(k, kind)| {
            let out = dir.path().join(format!("member-{k}"));
            open_vocab_model(&out, &glove, &backbone, kind);
            out
        })
        .collect();
    let combined = dir.path().join("combined");
    glimpse::train::combine::combine(&combined, &members).unwrap();
    let open = || ExportedModel::open(Runtime::load(None).unwrap(), &combined, &cpu()).unwrap();
    let before = open().embed_texts(&["red square", "grass"]).unwrap();
    let opened = glimpse::train::open_vocab::open_vocabulary(&combined, &glove).unwrap();
    assert_eq!(opened.fits.len(), 2);
    let model = open();
    assert_eq!(model.embed_texts(&["red square", "grass"]).unwrap(), before);
    let [red, crimson] = ["red", "crimson"].map(|w| model.embed_texts(&[w]).unwrap().row(0).to_vec());
    assert!(crate::util::cosine(&red, &crimson) > 0.999, "{red:?} against {crimson:?}");
    let bytes = std::fs::read(combined.join("text_encoder.onnx")).unwrap();
    let graph = <glimpse::onnx::proto::ModelProto as prost::Message>::decode(bytes.as_slice()).unwrap().graph.unwrap();
    let tables = graph.initializer.iter().filter(|t| t.name == glimpse::train::export::GLOVE_CODES).count();
    assert_eq!(tables, 1);
}

#[test]
fn a_personalised_text_encoder_graph_computes_what_its_adapter_computes_own_words_included() {
    use glimpse::train::personalise::{Adapter, Comparison, OwnWords, Settings, write_model};
    let base = glimpse::model::default_model_dir().expect("the shipped text model");
    let runtime = Runtime::load(None).unwrap();
    let model = ExportedModel::open(runtime, &base, &cpu()).unwrap();
    let (dim, rank) = (model.dim(), 3);
    let texts = ["Bramble at play", "Rex and Rex on the sofa", "a dog runs through the grass"];
    let captions: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    let own = OwnWords::of(&captions, &model.vocab);
    assert_eq!(own.words, ["bramble", "rex"], "the words the model has no trained vector for");
    let counts = own.counts(&texts, &model.vocab);
    assert_eq!(counts, [1.0, 0.0, 0.0, 2.0, 0.0, 0.0], "each own word counted in each text");
    let wave = |n: usize, f: f32| (0..n).map(|i| ((i as f32 * f).sin()) * 0.05).collect::<Vec<f32>>();
    let adapter = Adapter {
        dim,
        rank,
        down: wave(dim * rank, 0.37),
        up: wave(rank * dim, 0.11),
        own: own.ids.clone(),
        words: wave(own.ids.len() * dim, 0.53).iter().map(|w| w * 4.0).collect(),
    };
    let before = model.embed_texts(&texts).unwrap();
    let expected = adapter.apply(before.as_slice().unwrap(), &counts);
    let out = tempfile::tempdir().unwrap();
    let metrics = model.manifest.dev_metrics().unwrap();
    let comparison = Comparison {
        trained: 4,
        held_out: 1,
        photos: 10,
        ranks_before: vec![3],
        ranks_after: vec![1],
        dev_before: metrics,
        dev_after: metrics,
    };
    let folder = out.path().join("personal");
    let manifest = write_model(&base, &folder, &adapter, Settings::default(), &comparison).unwrap();
    assert!(write_model(&base, &folder, &adapter, Settings::default(), &comparison).is_err(), "never written over");
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["personal"], "no partial folder is left beside it");
    assert_eq!(manifest.image_head, model.manifest.image_head, "the image head is the same graph");
    let head = |dir: &Path| std::fs::read(dir.join(&manifest.image_head.file)).unwrap();
    assert!(head(&folder) == head(&base), "the image head's file is the base model's");
    // Within one file system the files the adapter leaves alone are links, not copies.
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let same = tempfile::tempdir().unwrap();
        let copy = same.path().join("base");
        std::fs::create_dir(&copy).unwrap();
        for entry in std::fs::read_dir(&base).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
        }
        let linked = same.path().join("personal");
        write_model(&copy, &linked, &adapter, Settings::default(), &comparison).unwrap();
        for file in [&manifest.image_head.file, &manifest.vocab] {
            let (a, b) = (std::fs::metadata(copy.join(file)).unwrap(), std::fs::metadata(linked.join(file)).unwrap());
            assert_eq!((a.ino(), b.nlink()), (b.ino(), 2), "{file} is linked");
        }
        assert_ne!(std::fs::metadata(linked.join("text_encoder.onnx")).unwrap().nlink(), 2, "the new graph is its own");
    }
    let personalised = ExportedModel::open(runtime, &folder, &cpu()).unwrap();
    let got = personalised.embed_texts(&texts).unwrap();
    for (row, (g, e)) in got.as_slice().unwrap().chunks(dim).zip(expected.chunks(dim)).enumerate() {
        let worst = g.iter().zip(e).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{:?}: differs by {worst}", texts[row]);
    }
    // The adapter changed the vectors, the own words' more than the others'.
    let moved = |row: usize| {
        let (a, b) = (
            &got.as_slice().unwrap()[row * dim..(row + 1) * dim],
            &before.as_slice().unwrap()[row * dim..(row + 1) * dim],
        );
        1.0 - a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>()
    };
    assert!(moved(1) > moved(2) && moved(2) > 0.0, "{} {}", moved(1), moved(2));
}

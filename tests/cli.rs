//! The `glimpse` binary as a user runs it.

use std::path::Path;
use std::process::Command;

fn glimpse() -> Command {
    Command::new(env!("CARGO_BIN_EXE_glimpse"))
}

#[test]
fn a_missing_runtime_library_is_one_clear_message_with_the_fix() {
    let out =
        glimpse().args(["--ort-lib", "/nonexistent/libonnxruntime.so.1.31.1", "embed", "x.jpg"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a usable ONNX Runtime library"), "{stderr}");
    assert!(stderr.contains("scripts/fetch-onnxruntime.sh"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_runtime_library_of_an_old_version_is_refused_with_both_versions() {
    // A stand-in library exporting OrtGetApiBase that reports version 1.17.3.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("fake_ort.c");
    std::fs::write(
        &src,
        r#"
        typedef struct { const void* (*GetApi)(unsigned); const char* (*GetVersionString)(void); } OrtApiBase;
        static const void* get_api(unsigned v) { (void)v; return 0; }
        static const char* version(void) { return "1.17.3"; }
        static const OrtApiBase base = { get_api, version };
        const OrtApiBase* OrtGetApiBase(void) { return &base; }
        "#,
    )
    .unwrap();
    let lib = dir.path().join("libonnxruntime.so.1.17.3");
    let cc = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).status().unwrap();
    assert!(cc.success(), "cc could not build the stand-in library");
    let out = glimpse().arg("--ort-lib").arg(&lib).arg("doctor").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("is ONNX Runtime 1.17.3, but Glimpse needs 1.31.1"), "{stdout}");
}

#[test]
fn doctor_reports_the_runtime_and_verifies_the_default_model() {
    let out = glimpse().args(["doctor", "--json"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["onnxruntime"]["version"], "1.31.1");
    // Whatever the machine has: CUDA where it registers, the CPU otherwise.
    let active = report["provider_active"].as_str().unwrap_or_default().to_string();
    assert!(["CPU", "CUDA"].contains(&active.as_str()), "{report}");
    let lite0 = report["models"].as_array().unwrap().iter().find(|m| m["name"] == "efficientnet-lite0").unwrap();
    assert_eq!(lite0["ok"], true);
    // The text model too: its graphs' hashes verified, and the backbone it fits.
    let text = &report["text_model"];
    assert_eq!(text["ok"], true, "{text}");
    assert_eq!(text["backbone"], glimpse::engine::manifest::DEFAULT_BACKBONE);
    assert_eq!(text["image_head_sha256"].as_str().map(str::len), Some(64));
}

#[test]
fn an_unknown_provider_is_refused_by_the_argument_parser() {
    let out = glimpse().args(["--provider", "tpu", "doctor"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("auto, cpu or cuda"), "{stderr}");
}

/// A models folder holding the shipped backbone and a copy of the shipped text model whose
/// "no strong match" threshold is `threshold`.
fn models_with_cue(dir: &std::path::Path, threshold: f32) -> std::path::PathBuf {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let models = dir.join(format!("models-{threshold}"));
    std::fs::create_dir_all(models.join("text")).unwrap();
    std::os::unix::fs::symlink(shipped.join("backbones"), models.join("backbones")).unwrap();
    for entry in std::fs::read_dir(shipped.join("text")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), models.join("text").join(entry.file_name())).unwrap();
    }
    let path = models.join("text/manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["no_match"] = serde_json::json!({"statistic": "top1", "threshold": threshold});
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    models
}

#[test]
fn the_model_s_no_match_threshold_decides_the_hint_above_text_results() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, rgb) in [[200u8, 30, 30], [30, 200, 30], [30, 30, 200]].into_iter().enumerate() {
        image::RgbImage::from_pixel(64, 48, image::Rgb(rgb)).save(photos.join(format!("{i}.png"))).unwrap();
    }
    // Cosine scores are below 1: a threshold of 1.5 always fires, one of -1.5 never does.
    for (threshold, expected) in [(1.5f32, true), (-1.5, false)] {
        let models = models_with_cue(dir.path(), threshold);
        let index = dir.path().join(format!("lib-{threshold}.glimpse"));
        let run = |args: &[&str]| {
            glimpse().env("GLIMPSE_MODELS", &models).arg("--provider").arg("cpu").args(args).output().unwrap()
        };
        let out = run(&["index", "--index", index.to_str().unwrap(), photos.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = run(&["search", "--index", index.to_str().unwrap(), "a red square"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(stderr.contains("no strong match"), expected, "threshold {threshold}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    }
}

#[test]
fn a_query_says_which_words_it_ignored_and_one_of_only_such_words_shows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, rgb) in [[200u8, 30, 30], [30, 200, 30], [30, 30, 200]].into_iter().enumerate() {
        image::RgbImage::from_pixel(64, 48, image::Rgb(rgb)).save(photos.join(format!("{i}.png"))).unwrap();
    }
    let index = dir.path().join("lib.glimpse");
    let run = |args: &[&str]| {
        let out = glimpse().args(["--provider", "cpu"]).args(args).arg("--index").arg(&index).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let (ok, _, stderr) = run(&["index", photos.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(&["search", "--json", "a red xyzzy square"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("ignored \u{201c}xyzzy\u{201d}"), "{stderr}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
    let (_, plain, _) = run(&["search", "--json", "a red square"]);
    assert_eq!(hits, serde_json::from_str::<Vec<serde_json::Value>>(&plain).unwrap(), "stdout keeps its shape");
    let (ok, stdout, stderr) = run(&["search", "--json", "a red sqaure"]);
    assert!(ok, "{stderr}");
    assert!(stderr.contains("note: read \u{201c}sqaure\u{201d} as \u{201c}square\u{201d}"), "{stderr}");
    assert_eq!(stdout, plain, "a typo read as the word meant ranks as that word");
    let (ok, stdout, stderr) = run(&["search", "--json", "xyzzy zqxjk"]);
    assert!(!ok, "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("knows none of the words") && stderr.contains("xyzzy, zqxjk"), "{stderr}");
}

#[test]
fn heic_and_raw_photos_wait_for_their_library_with_the_package_to_install_then_index_with_their_exif_date() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30])).save(photos.join("a.png")).unwrap();
    let img = image::RgbImage::from_fn(64, 48, |x, _| image::Rgb([(x * 4) as u8, 120, 40]));
    let source = dir.path().join("source.jpg");
    std::fs::write(&source, crate::util::jpeg_with_exif(&img, 1, Some("2019:07:14 10:30:00"))).unwrap();
    crate::util::heif_enc(&source, &photos.join("IMG_0001.HEIC"), &["-q", "80"]);
    let preview = std::fs::read(&source).unwrap();
    let dng = crate::util::dng(64, 48, 1, "2020:01:02 03:04:05", Some((&preview, 64, 48)));
    std::fs::write(photos.join("DSC_0002.dng"), dng).unwrap();
    let index = dir.path().join("lib.glimpse");
    let run = |args: &[&str], missing: Option<&str>| {
        let mut cmd = glimpse();
        if let Some(lib) = missing {
            cmd.env("GLIMPSE_LIBHEIF", lib).env("GLIMPSE_LIBRAW", lib);
        }
        let out = cmd.args(["--provider", "cpu"]).args(args).arg("--index").arg(&index).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or(serde_json::Value::Null)
    };
    // A machine without libheif and LibRaw: the photos are listed with the package to install.
    run(&["index", photos.to_str().unwrap()], Some("/nonexistent/lib.so"));
    let status = run(&["status", "--json"], None);
    let skipped = status["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{status}");
    let reason_of = |name: &str| {
        let found = skipped.iter().find(|s| s["path"].as_str().unwrap().ends_with(name)).unwrap();
        found["reason"].as_str().unwrap().to_string()
    };
    let heic = reason_of("IMG_0001.HEIC");
    assert!(heic.starts_with("HEIC photos need libheif.so.1") && heic.contains("sudo apt install libheif1"), "{heic}");
    let dng = reason_of("DSC_0002.dng");
    assert!(
        dng.starts_with("camera RAW (DNG) photos need LibRaw") && dng.contains("sudo apt install libraw20"),
        "{dng}"
    );
    // Once the libraries load, the next run reads both, though the files did not change.
    run(&["index"], None);
    let status = run(&["status", "--json"], None);
    assert_eq!(status["skipped"].as_array().unwrap().len(), 0, "{status}");
    let hits = run(&["search", "--json", "a photo"], None);
    let heic = hits.as_array().unwrap().iter().find(|h| h["path"].as_str().unwrap().ends_with("IMG_0001.HEIC"));
    let heic = heic.unwrap_or_else(|| panic!("the HEIC photo is searchable: {hits}"));
    assert_eq!(heic["date_source"], "exif", "{heic}");
    // 2019-07-14 10:30:00, camera time read as UTC.
    assert_eq!(heic["date"], 1_563_100_200, "{heic}");
    let dng = hits.as_array().unwrap().iter().find(|h| h["path"].as_str().unwrap().ends_with("DSC_0002.dng"));
    let dng = dng.unwrap_or_else(|| panic!("the DNG photo is searchable: {hits}"));
    assert_eq!((&dng["date_source"], &dng["date"]), (&serde_json::json!("exif"), &serde_json::json!(1_577_934_245)));
}

#[test]
fn index_watch_takes_in_a_burst_of_copies_and_deletions_and_keeps_an_unplugged_folder_offline() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let models = tiny_models(dir.path());
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    crate::util::solid_png(&photos.join("first.png"), 8, 8, [200, 30, 30]);
    let index = dir.path().join("lib.glimpse");
    let mut child = glimpse()
        .env("GLIMPSE_MODELS", &models)
        .args(["--provider", "cpu", "index", "--watch", "--backbone", "tiny", "--index"])
        .arg(&index)
        .arg(&photos)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = crossbeam_channel::unbounded();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut said = String::new();
    let mut wait_for_line = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !said.contains(needle) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => said.push_str(&(line + "\n")),
                Err(_) => panic!("no {needle:?} from glimpse index --watch; it said:\n{said}"),
            }
        }
    };
    wait_for_line("watching 1 of 1 folders");
    let status = || {
        let out = glimpse().args(["status", "--json", "--index"]).arg(&index).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let until = |what: &str, done: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let now = status();
            if done(&now) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: the library stayed at {now}");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    };
    // A camera import: 500 photos into a new subfolder, as fast as the disk takes them.
    let burst = photos.join("import");
    std::fs::create_dir_all(&burst).unwrap();
    for i in 0..500u32 {
        let rgb = [(i % 256) as u8, (i / 256 * 90) as u8, 77];
        crate::util::solid_png(&burst.join(format!("IMG_{i:04}.png")), 8, 8, rgb);
    }
    until("500 copied photos", &|s| s["photos"] == 501);
    for i in 0..10u32 {
        std::fs::remove_file(burst.join(format!("IMG_{i:04}.png"))).unwrap();
    }
    until("10 deleted photos", &|s| s["photos"] == 491);
    // The whole folder goes away (an unplugged drive): the run it starts finds it offline
    // and keeps its photos; when it is back, the next run finds them unchanged.
    let away = dir.path().join("unplugged");
    std::fs::rename(&photos, &away).unwrap();
    wait_for_line("offline: ");
    wait_for_line("\n0 photos found");
    assert_eq!(status()["photos"], 491, "an offline folder's photos are kept");
    std::fs::rename(&away, &photos).unwrap();
    wait_for_line("491 photos found: 491 unchanged, 0 moved, 0 gone, 0 to embed");
    until("the folder back", &|s| s["offline"].as_array().is_some_and(|o| o.is_empty()) && s["photos"] == 491);
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let code = child.wait().unwrap();
    wait_for_line("stopped watching");
    assert!(code.success(), "{code:?}\n{said}");
    assert!(!said.contains("panicked"), "{said}");
    // Bursts are taken in whole: the 1,000 file events of the import, the deletions, the
    // unplugging and the return make a handful of runs, not one per file.
    let runs = said.matches("changes in the library's folders").count();
    assert!((4..=8).contains(&runs), "{runs} runs:\n{said}");
}

/// A models folder holding only a generated backbone named `tiny`.
fn tiny_models(dir: &std::path::Path) -> std::path::PathBuf {
    let models = dir.join("models");
    let spec = crate::util::TinySpec { dim: 6, ..crate::util::TinySpec::default() };
    crate::util::write_tiny_backbone(&models.join("backbones"), "tiny", &spec);
    models
}

#[test]
fn a_gru_model_trains_evaluates_and_times_its_epochs_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let models = tiny_models(dir.path());
    let flickr8k = crate::util::tiny_flickr8k(dir.path());
    let glove = crate::util::tiny_glove(dir.path());
    let (cache, out) = (dir.path().join("cache"), dir.path().join("model"));
    let run = |args: &[&str]| {
        let out = glimpse().env("GLIMPSE_MODELS", &models).args(["--provider", "cpu"]).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    let data = [
        "--flickr8k",
        flickr8k.to_str().unwrap(),
        "--glove",
        glove.to_str().unwrap(),
        "--backbone",
        "tiny",
        "--cache",
        cache.to_str().unwrap(),
        "--batch",
        "8",
        "--encoder",
        "gru-8",
    ];
    let (ok, stdout, stderr) =
        run(&[&["train"][..], &data, &["--epochs", "6", "--lr", "0.02", "--json", "--out", out.to_str().unwrap()]]
            .concat());
    assert!(ok, "{stderr}");
    let trained: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["model"]["text_encoder"], serde_json::json!({"kind": "gru", "hidden": 8}));

    // Eval runs the exported graphs and finds what training measured on the same split.
    let eval_args = [
        "eval",
        "--flickr8k",
        flickr8k.to_str().unwrap(),
        "--split",
        "dev",
        "--model",
        out.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--json",
    ];
    let (ok, stdout, stderr) = run(&eval_args);
    assert!(ok, "{stderr}");
    let eval: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        eval["unseen_words"],
        serde_json::json!({"split": "dev", "captions": 0}),
        "every dev word is a train word"
    );
    // Full precision ("exact") is what training measured; the top level is how search ranks,
    // through the compact codes (here every dimension at one byte: no projection was fitted).
    assert_eq!(eval["bytes_per_photo"].as_u64().unwrap(), manifest["model"]["joint_dim"].as_u64().unwrap() + 4);
    for direction in ["t2i", "i2t"] {
        for k in ["r1", "r5", "r10"] {
            let (a, b) = (eval["exact"][direction][k].as_f64().unwrap(), trained[direction][k].as_f64().unwrap());
            assert!((a - b).abs() < 1e-6, "{direction} {k}: eval {a}, training {b}");
            assert!(eval[direction][k].as_f64().is_some(), "{direction} {k} as search ranks");
        }
    }
    // Two dev captions get a word that no train caption has ("crimson", "azure"): beside
    // the overall metrics, the same over those two, each ranking all the dev photos.
    let tokens = flickr8k.join("Flickr8k_text/Flickr8k.token.txt");
    let text = std::fs::read_to_string(&tokens).unwrap();
    let text = text.replace("red_1.jpg#0\tA red square .", "red_1.jpg#0\tA crimson square .");
    let text = text.replace("blue_1.jpg#3\tsomething blue", "blue_1.jpg#3\tsomething azure blue");
    std::fs::write(&tokens, text).unwrap();
    let (ok, stdout, stderr) = run(&eval_args);
    assert!(ok, "{stderr}");
    let eval: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(eval["captions"], 5 * crate::util::COLOURS.len());
    let unseen = &eval["unseen_words"];
    assert_eq!(unseen["captions"], 2, "{unseen}");
    assert_eq!(unseen["images"], crate::util::COLOURS.len(), "{unseen}");
    for direction in ["t2i", "i2t"] {
        for part in [&unseen[direction], &unseen["exact"][direction]] {
            let r1 = part["r1"].as_f64().unwrap();
            assert!([0.0, 50.0, 100.0].contains(&r1), "{direction}: {unseen}");
        }
    }

    let (ok, stdout, stderr) = run(&[&["bench", "epoch"][..], &data, &["--timed-epochs", "2", "--json"]].concat());
    assert!(ok, "{stderr}");
    let bench: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(bench["captions"], 5 * crate::util::COLOURS.len());
    assert_eq!(bench["encoder"], "gru-8");
    let epochs = bench["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    assert_eq!(epochs[0]["mining"], "sum");
    assert_eq!(epochs[1]["mining"], "hard");
    assert!(epochs.iter().all(|e| e["seconds"].as_f64().unwrap() > 0.0));

    let (ok, _, stderr) = run(&[&["train"][..], &data[..10], &["--encoder", "lstm"]].concat());
    assert!(!ok);
    assert!(stderr.contains("mean, gru or gru-WIDTH"), "{stderr}");
}

#[test]
fn bench_scale_writes_a_real_library_and_measures_it_in_a_process_of_its_own() {
    let work = tempfile::tempdir().unwrap();
    let out = glimpse()
        .args(["--provider", "cpu", "bench", "scale", "--sizes", "3000", "--queries", "3", "--json", "--work"])
        .arg(work.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let size = &report["sizes"][0];
    assert_eq!(size["photos"], 3000);
    // Per photo on disk: 3848 bytes of features, 260 of codes and offset, the path and dates.
    let disk = size["disk_bytes_per_photo"].as_f64().unwrap();
    assert!((4108.0..5000.0).contains(&disk), "{disk}");
    for field in
        ["resident_bytes_per_photo", "open_s", "search_p50_ms", "search_p99_ms", "filtered_ratio", "peak_rss_mb"]
    {
        assert!(size[field].as_f64().is_some_and(|v| v > 0.0), "{field}: {size}");
    }
    assert!(std::fs::read_dir(work.path()).unwrap().next().is_none(), "the generated library is removed");
}

#[test]
fn a_concept_taught_on_two_photos_finds_the_third_by_its_name_and_survives_renaming_a_model_change_and_damage() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    // Three families of three photos: reds, greens, blues, each photo a little different.
    for (family, base) in [("red", [210u8, 40, 40]), ("green", [40, 190, 60]), ("blue", [40, 60, 210])] {
        for i in 0..3u32 {
            let img = image::RgbImage::from_fn(64, 48, |x, y| {
                let wave = ((x * (i + 2) + y * 3) % 24) as u8;
                image::Rgb([base[0].saturating_add(wave), base[1].saturating_add(wave), base[2].saturating_add(wave)])
            });
            img.save(photos.join(format!("{family}{i}.png"))).unwrap();
        }
    }
    let photos = std::fs::canonicalize(photos).unwrap();
    let index = dir.path().join("lib.glimpse");
    let run = |args: &[&str]| {
        let out = glimpse().args(["--provider", "cpu"]).args(args).arg("--index").arg(&index).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    };
    let top3 = |query: &str| -> (Vec<String>, String) {
        let (ok, stdout, stderr) = run(&["search", "--json", "-k", "3", query]);
        assert!(ok, "{query}: {stderr}");
        let hits: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
        let mut names: Vec<String> = hits
            .iter()
            .map(|h| Path::new(h["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        (names, stderr)
    };
    let reds = vec!["red0.png".to_string(), "red1.png".into(), "red2.png".into()];
    let (ok, _, stderr) = run(&["index", photos.to_str().unwrap()]);
    assert!(ok, "{stderr}");

    let (ok, stdout, stderr) = run(&[
        "concept",
        "add",
        "Crimson",
        photos.join("red0.png").to_str().unwrap(),
        photos.join("red1.png").to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\u{201c}Crimson\u{201d} has 2 example photos"), "{stdout}");
    let (found, stderr) = top3("crimson");
    assert_eq!(found, reds, "the concept, in lower case, finds the third red photo");
    assert!(stderr.contains("\u{201c}Crimson\u{201d} is your concept (2 photos"), "{stderr}");
    let (_, stderr) = top3("\"crimson\"");
    assert!(!stderr.contains("is your concept"), "in quotes it is the word: {stderr}");

    // A photo outside the library and a name that is not one are refused, nothing changed.
    let outside = dir.path().join("outside.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([1, 2, 3])).save(&outside).unwrap();
    let (ok, _, stderr) = run(&["concept", "add", "Crimson", outside.to_str().unwrap()]);
    assert!(!ok && stderr.contains("is not in the library"), "{stderr}");
    let (ok, _, stderr) = run(&["concept", "add", "a+b", photos.join("blue0.png").to_str().unwrap()]);
    assert!(!ok && stderr.contains("cannot be in a concept's name"), "{stderr}");
    let (_, stdout, _) = run(&["concept", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["name"], "Crimson");
    assert_eq!(list[0]["examples"], 2);

    // Renamed: the new name finds the reds, the old one is a word again.
    let (ok, _, stderr) = run(&["concept", "rename", "crimson", "Scarlet"]);
    assert!(ok, "{stderr}");
    assert_eq!(top3("Scarlet").0, reds);
    assert!(!top3("crimson").1.contains("is your concept"));

    // A new text model (here: a vector fitted for another one) is fitted again and kept.
    let file = index.with_extension("concepts.json");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let key = value["concepts"][0]["fitted"]["model"].clone();
    value["concepts"][0]["fitted"]["model"] = "another model".into();
    value["concepts"][0]["fitted"]["vector"] = serde_json::json!([0.0, 1.0]);
    std::fs::write(&file, value.to_string()).unwrap();
    assert_eq!(top3("scarlet").0, reds);
    let refitted: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(refitted["concepts"][0]["fitted"]["model"], key, "the new fit is kept");

    // Re-indexing (a photo more) keeps it, vector and all.
    let kept = std::fs::read(&file).unwrap();
    image::RgbImage::from_fn(64, 48, |x, _| image::Rgb([40, 190, (x * 2) as u8]))
        .save(photos.join("green3.png"))
        .unwrap();
    let (ok, _, stderr) = run(&["index"]);
    assert!(ok, "{stderr}");
    assert_eq!(top3("scarlet").0, reds);
    assert_eq!(std::fs::read(&file).unwrap(), kept);

    // A damaged file is set aside and said; search goes on, with the name a word again.
    std::fs::write(&file, b"{\"format\": \"glimpse-concepts\", \"version\": 1, \"concepts\": [{\"na").unwrap();
    let (found, stderr) = top3("scarlet");
    assert_eq!(found.len(), 3);
    assert!(stderr.contains("concepts file was damaged") && stderr.contains("set aside"), "{stderr}");
    assert!(!stderr.contains("is your concept"), "{stderr}");
    let (ok, stdout, _) = run(&["concept", "list"]);
    assert!(ok && stdout.contains("No concepts yet"), "{stdout}");

    // Removing one leaves its photos alone.
    let (ok, _, stderr) = run(&["concept", "add", "Leaf", photos.join("green0.png").to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) = run(&["concept", "remove", "leaf"]);
    assert!(ok && stdout.contains("removed \u{201c}Leaf\u{201d}"), "{stderr}");
    assert!(photos.join("green0.png").exists());
    let (_, stdout, _) = run(&["concept", "list", "--json"]);
    assert_eq!(stdout.trim(), "[]");
}

/// The `dc:subject` keywords of an XMP sidecar, read with an XML parser.
fn xmp_subjects(text: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let (mut in_subject, mut in_li, mut out) = (false, false, Vec::new());
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"dc:subject" => in_subject = true,
            quick_xml::events::Event::End(e) if e.name().as_ref() == b"dc:subject" => in_subject = false,
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"rdf:li" => in_li = in_subject,
            quick_xml::events::Event::End(e) if e.name().as_ref() == b"rdf:li" => in_li = false,
            quick_xml::events::Event::Text(t) if in_li => out.push(t.decode().unwrap().into_owned()),
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    out
}

#[test]
fn a_collection_takes_in_matching_photos_indexed_later_flags_them_new_and_exports_them_with_xmp_keywords_and_captions()
{
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let swatch = |base: [u8; 3], i: u32| {
        image::RgbImage::from_fn(64, 48, |x, y| {
            let wave = ((x * (i + 2) + y * 3) % 24) as u8;
            image::Rgb([base[0].saturating_add(wave), base[1].saturating_add(wave), base[2].saturating_add(wave)])
        })
    };
    for (family, base) in [("red", [210u8, 40, 40]), ("green", [40, 190, 60]), ("blue", [40, 60, 210])] {
        for i in 0..3u32 {
            swatch(base, i).save(photos.join(format!("{family}{i}.png"))).unwrap();
        }
    }
    let photos = std::fs::canonicalize(photos).unwrap();
    let index = dir.path().join("lib.glimpse");
    let run = |args: &[&str]| {
        let out = glimpse().args(["--provider", "cpu"]).args(args).arg("--index").arg(&index).output().unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let json = |args: &[&str]| serde_json::from_str::<serde_json::Value>(&run(args)).unwrap();
    let names = |value: &serde_json::Value| -> Vec<String> {
        let mut n: Vec<String> = value
            .as_array()
            .unwrap()
            .iter()
            .map(|p| Path::new(p["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    };
    run(&["index", photos.to_str().unwrap()]);
    let photo = |name: &str| photos.join(name).to_str().unwrap().to_string();
    run(&["concept", "add", "Crimson", &photo("red0.png"), &photo("red1.png")]);
    let said = run(&["collection", "add", "-k", "3", "All red", "Crimson"]);
    assert!(said.contains("\u{201c}All red\u{201d} holds 3 photos"), "{said}");
    let list = json(&["collection", "list", "--json"]);
    assert_eq!((list[0]["photos"].as_u64(), list[0]["new"].as_u64()), (Some(3), Some(0)), "{list}");
    assert_eq!(names(&json(&["collection", "show", "--json", "all red"])), ["red0.png", "red1.png", "red2.png"]);

    // A red photo copied in later joins at the next look, flagged new until shown.
    let mut later = swatch([210, 40, 40], 0);
    later.put_pixel(0, 0, image::Rgb([200, 40, 40]));
    later.save(photos.join("red-later.png")).unwrap();
    run(&["index"]);
    let list = json(&["collection", "list", "--json"]);
    assert_eq!((list[0]["photos"].as_u64(), list[0]["new"].as_u64()), (Some(4), Some(1)), "{list}");
    let shown = json(&["collection", "show", "--json", "All red"]);
    let new: Vec<&serde_json::Value> = shown.as_array().unwrap().iter().filter(|p| p["new"] == true).collect();
    assert_eq!(new.len(), 1, "{shown}");
    assert!(new[0]["path"].as_str().unwrap().ends_with("red-later.png"));
    assert_eq!(json(&["collection", "list", "--json"])[0]["new"], 0, "shown, it is no longer new");

    // Excluded and pinned by hand, for good.
    run(&["collection", "exclude", "All red", &photo("red2.png")]);
    run(&["collection", "pin", "All red", &photo("green0.png")]);
    let shown = json(&["collection", "show", "--json", "All red"]);
    assert_eq!(names(&shown), ["green0.png", "red-later.png", "red0.png", "red1.png"]);
    assert!(shown.as_array().unwrap().iter().any(|p| p["pinned"] == true));

    // Exported: copies with sidecars that an XML parser reads; the photos stay as they were.
    let out = dir.path().join("export");
    let before = std::fs::read(photos.join("red0.png")).unwrap();
    let done = json(&["collection", "export", "--json", "All red", out.to_str().unwrap()]);
    assert_eq!((done["photos"].as_u64(), done["sidecars"].as_u64()), (Some(4), Some(4)), "{done}");
    let sidecar = std::fs::read_to_string(out.join("red0.png.xmp")).unwrap();
    assert_eq!(xmp_subjects(&sidecar), ["All red", "Crimson"]);
    assert_eq!(std::fs::read(out.join("red0.png")).unwrap(), before);
    assert_eq!(std::fs::read(photos.join("red0.png")).unwrap(), before);
    assert!(!photos.join("red0.png.xmp").exists(), "nothing is written beside the photos themselves");

    // A caption's words find its photo first, and its caption travels as the description.
    run(&["caption", "set", &photo("blue1.png"), "Grandma's garden gate in winter"]);
    let first = json(&["search", "--json", "-k", "3", "grandma garden gate"]);
    assert!(first[0]["path"].as_str().unwrap().ends_with("blue1.png"), "{first}");
    run(&["collection", "pin", "All red", &photo("blue1.png")]);
    run(&["collection", "export", "All red", out.to_str().unwrap()]);
    let sidecar = std::fs::read_to_string(out.join("blue1.png.xmp")).unwrap();
    assert!(
        sidecar.contains("<rdf:li xml:lang=\"x-default\">Grandma&apos;s garden gate in winter</rdf:li>"),
        "{sidecar}"
    );
    let tokens = dir.path().join("tokens.txt");
    run(&["caption", "export", "--flickr8k", tokens.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&tokens).unwrap(), "blue1.png#0\tGrandma's garden gate in winter\n");
    run(&["caption", "set", &photo("blue1.png"), ""]);
    assert_eq!(json(&["caption", "list", "--json"]), serde_json::json!([]));

    run(&["collection", "remove", "all red"]);
    assert_eq!(json(&["collection", "list", "--json"]), serde_json::json!([]));
}

#[test]
fn personalise_learns_a_name_from_captions_and_writes_a_model_only_when_the_held_out_photo_ranks_better() {
    let shared = crate::need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = crate::util::copy_photos(&shared, &dir.path().join("photos"), 40);
    let flickr8k = crate::util::tiny_flickr8k(dir.path());
    let (index, cache, out) = (dir.path().join("lib.glimpse"), dir.path().join("cache"), dir.path().join("personal"));
    let run = |args: &[&str]| {
        let mut command = glimpse();
        command.args(["--provider", "cpu"]).args(args);
        if args[0] != "eval" {
            command.arg("--index").arg(&index);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
    };
    assert!(run(&["index", dir.path().join("photos").to_str().unwrap()]).0);
    let dogs = crate::util::dog_photos(&shared, &photos);
    assert!(dogs.len() >= 6, "{dogs:?}");
    let captions = crate::util::PERSONAL_CAPTIONS;
    let personalise = [
        "personalise",
        "--flickr8k",
        flickr8k.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--steps",
        "150",
        "--json",
    ];
    for (photo, caption) in dogs.iter().zip(&captions[..4]) {
        assert!(run(&["caption", "set", photo.to_str().unwrap(), caption]).0);
    }
    let (ok, _, stderr) = run(&personalise);
    assert!(!ok && stderr.contains("at least 5 captions of your photos (4 now)"), "{stderr}");
    for (photo, caption) in dogs.iter().zip(&captions).skip(4) {
        assert!(run(&["caption", "set", photo.to_str().unwrap(), caption]).0);
    }
    let (ok, stdout, stderr) = run(&personalise);
    assert!(ok, "{stderr}");
    let result: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // The fifth caption is held out; its photo ranks among the 35 photos not trained on.
    assert_eq!(
        (result["trained"].as_u64(), result["held_out"].as_u64(), result["photos"].as_u64()),
        (Some(5), Some(1), Some(35))
    );
    let (before, after) =
        (result["before"]["ranks"][0].as_u64().unwrap(), result["after"]["ranks"][0].as_u64().unwrap());
    assert!(after < before, "the held-out dog ranks higher for \"Bramble\" after: {before} → {after}");
    assert_eq!(result["better"], true, "{result}");
    assert_eq!(result["written"].as_str().map(Path::new), Some(out.as_path()));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["personalised"]["comparison"]["ranks_after"][0].as_u64(), Some(after));

    // The written graph is the adapter it measured: eval through ONNX Runtime gives the dev
    // recall it reported, and the library is searched with it as it is, not indexed again.
    let (ok, stdout, stderr) = run(&[
        "eval",
        "--model",
        out.to_str().unwrap(),
        "--flickr8k",
        flickr8k.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
        "--split",
        "dev",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let eval: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(eval["t2i"], result["dev_after"]["t2i"], "{eval}");
    let (ok, stdout, stderr) =
        run(&["search", "--model", out.to_str().unwrap(), "--json", "-k", "3", "a dog in the grass"]);
    assert!(ok && !stderr.contains("index it again"), "{stderr}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&stdout).unwrap().as_array().map(Vec::len), Some(3));
}

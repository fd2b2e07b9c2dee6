//! The photo library index: incremental updates, crash safety, bad input, the CLI's output.

use std::path::{Path, PathBuf};
use std::process::Command;

use glimpse::engine::{Backbone, BackboneModel, ProviderChoice, Runtime, SessionOptions};
use glimpse::index::compact::Codec;
use glimpse::index::library::{SearchOptions, Space};
use glimpse::index::project::Projection;
use glimpse::index::search::normalize;
use glimpse::index::thumbs::ThumbCache;
use glimpse::index::update::{self, IndexEvent, IndexOptions, IndexReport};
use image::Rgb;

use crate::need_shared;
use crate::util::{TinySpec, copy_photos, cosine, dng, heif_enc, write_tiny_backbone};

fn cpu() -> SessionOptions {
    SessionOptions { provider: ProviderChoice::Cpu, intra_threads: 0 }
}

fn lite0() -> Backbone {
    let model = BackboneModel::find("efficientnet-lite0").unwrap();
    Backbone::open(Runtime::load(None).unwrap(), model, &cpu()).unwrap()
}

fn tiny(dir: &Path) -> Backbone {
    let folder = write_tiny_backbone(dir, "tiny", &TinySpec::default());
    Backbone::open(Runtime::load(None).unwrap(), BackboneModel::open(&folder).unwrap(), &cpu()).unwrap()
}

/// Runs one indexing job to the end; returns its report and every event.
fn index(index: &Path, backbone: &Backbone, roots: &[PathBuf]) -> (IndexReport, Vec<IndexEvent>) {
    let options = IndexOptions { add_roots: roots.to_vec(), ..IndexOptions::default() };
    let job = update::start(index.to_path_buf(), backbone, options, None).unwrap();
    let events: Vec<IndexEvent> = crate::util::drain(job.events());
    (job.wait().unwrap().unwrap(), events)
}

#[test]
fn a_second_run_over_an_unchanged_folder_decodes_nothing() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    copy_photos(&shared, &photos, 12);
    let backbone = lite0();
    let idx = dir.path().join("library.glimpse");
    let (first, _) = index(&idx, &backbone, std::slice::from_ref(&photos));
    assert_eq!((first.photos, first.embedded, first.skipped), (12, 12, 0));
    let written = std::fs::metadata(&idx).unwrap().modified().unwrap();
    let (second, events) = index(&idx, &backbone, &[]);
    assert_eq!((second.photos, second.embedded, second.unchanged), (12, 0, 12));
    assert_eq!(std::fs::metadata(&idx).unwrap().modified().unwrap(), written, "an unchanged library is not rewritten");
    assert!(!events.iter().any(|e| matches!(e, IndexEvent::Progress { .. })), "nothing should be embedded");
}

#[test]
fn renamed_touched_and_deleted_photos_are_each_handled_without_decoding_again() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let copied = copy_photos(&shared, &photos, 6);
    let backbone = lite0();
    let idx = dir.path().join("library.glimpse");
    index(&idx, &backbone, std::slice::from_ref(&photos));
    let before = glimpse::index::open(&idx).unwrap();
    // The features as stored (after `open` they live in the file's cold part, not the entry).
    let vector_of = |index: &glimpse::index::Index, path: &Path| {
        let row = index.data.photos.iter().position(|p| p.path() == path)?;
        Some(index.data.feature_bytes(row).unwrap())
    };

    // Rename one photo into a new subfolder.
    std::fs::create_dir_all(photos.join("moved")).unwrap();
    let renamed = photos.join("moved/renamed.jpg");
    std::fs::rename(&copied[0], &renamed).unwrap();
    // Touch another: new mtime, same content.
    let file = std::fs::File::options().write(true).open(&copied[1]).unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60)).unwrap();
    drop(file);
    // Delete a third.
    let deleted_hash = before.data.photos.iter().find(|p| p.path() == copied[2]).unwrap().hash;
    let thumbs = ThumbCache::for_index(&idx);
    assert!(thumbs.path(&deleted_hash).is_file(), "indexing should have made a thumbnail");
    std::fs::remove_file(&copied[2]).unwrap();
    // Copy a fourth: the original stays, the copy reuses its vector and is called a copy.
    let copy = photos.join("copy of a photo.jpg");
    std::fs::copy(&copied[3], &copy).unwrap();

    let (report, events) = index(&idx, &backbone, &[]);
    assert_eq!(report.embedded, 0, "{report:?}");
    assert_eq!((report.moved, report.copied), (2, 1), "{report:?}");
    assert_eq!(report.removed, 1, "{report:?}");
    assert_eq!(report.photos, 6);
    let planned = events.iter().find_map(IndexEvent::planned_line).unwrap();
    assert!(planned.contains("2 moved, 1 copied, 1 gone"), "{planned}");
    assert!(report.summary().contains("2 moved, 1 copied,"), "{}", report.summary());
    let after = glimpse::index::open(&idx).unwrap();
    assert_eq!(vector_of(&after, &renamed), vector_of(&before, &copied[0]));
    assert_eq!(vector_of(&after, &copy), vector_of(&before, &copied[3]));
    assert_ne!(vector_of(&after, &renamed), vector_of(&after, &copy), "different photos, different vectors");
    assert!(vector_of(&after, &copied[0]).is_none());
    assert!(vector_of(&after, &copied[2]).is_none());
    assert!(!thumbs.path(&deleted_hash).exists(), "the deleted photo's thumbnail should go with it");
}

#[test]
fn heic_avif_and_raw_photos_are_indexed_and_damaged_ones_are_listed_as_skipped_with_why() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    image::RgbImage::from_pixel(12, 9, Rgb([200, 40, 17])).save(photos.join("a.jpg")).unwrap();
    let source = dir.path().join("source.jpg");
    image::RgbImage::from_fn(48, 32, |x, _| Rgb([(x * 5) as u8, 90, 30])).save(&source).unwrap();
    heif_enc(&source, &photos.join("iphone.HEIC"), &["-q", "80"]);
    heif_enc(&source, &photos.join("phone.avif"), &["-q", "80"]);
    std::fs::write(photos.join("damaged.heic"), b"bytes no decoder here reads").unwrap();
    let preview = std::fs::read(&source).unwrap();
    std::fs::write(photos.join("camera.DNG"), dng(48, 32, 1, "2021:03:04 05:06:07", Some((&preview, 48, 32)))).unwrap();
    for name in ["camera.cr3", "camera.NEF", "notes.txt"] {
        std::fs::write(photos.join(name), b"bytes no decoder here reads").unwrap();
    }
    let idx = dir.path().join("library.glimpse");
    let (report, events) = index(&idx, &backbone, std::slice::from_ref(&photos));
    assert_eq!((report.photos, report.embedded, report.skipped), (4, 4, 3), "{report:?}");
    let planned = events.iter().find_map(IndexEvent::planned_line).unwrap();
    assert!(planned.starts_with("7 photos found"), "{planned}");
    let out =
        Command::new(env!("CARGO_BIN_EXE_glimpse")).args(["status", "--json", "--index"]).arg(&idx).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason_of = |name: &str| {
        status["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["path"].as_str().unwrap().ends_with(name))
            .map(|s| s["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} is not listed: {status}"))
    };
    assert!(reason_of("damaged.heic").contains("unknown format"), "{}", reason_of("damaged.heic"));
    assert!(reason_of("camera.cr3").starts_with("cannot decode"), "{}", reason_of("camera.cr3"));
    assert!(reason_of("camera.NEF").starts_with("cannot decode"), "{}", reason_of("camera.NEF"));
    assert_eq!(status["skipped"].as_array().unwrap().len(), 3, "only photo formats are listed: {status}");
    // The HEIC and the AVIF are the same picture as far as the backbone can tell.
    let data = glimpse::index::open(&idx).unwrap();
    let features = |name: &str| {
        let row = data.data.photos.iter().position(|p| p.path() == photos.join(name)).unwrap();
        glimpse::index::bytes::decode_features(&data.data.feature_bytes(row).unwrap())
    };
    let cos = cosine(&features("iphone.HEIC"), &features("phone.avif"));
    assert!(cos > 0.95, "HEIC and AVIF of one photo: cosine {cos}");
    let cos = cosine(&features("iphone.HEIC"), &features("camera.DNG"));
    assert!(cos > 0.95, "the DNG's preview is the same photo: cosine {cos}");
    let dng_entry = data.data.photos.iter().find(|p| p.path() == photos.join("camera.DNG")).unwrap();
    assert_eq!(dng_entry.taken, Some(1_614_834_367), "the DNG's EXIF date, 2021-03-04 05:06:07");
    // Skipped files are not tried again until they change.
    let (again, _) = index(&idx, &backbone, &[]);
    assert_eq!((again.embedded, again.skipped), (0, 0), "{again:?}");
}

#[test]
fn a_truncated_index_is_set_aside_and_rebuilt_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..5 {
        image::RgbImage::from_pixel(10, 10, Rgb([i * 40, 0, 0])).save(photos.join(format!("{i}.png"))).unwrap();
    }
    let idx = dir.path().join("library.glimpse");
    index(&idx, &backbone, std::slice::from_ref(&photos));
    let bytes = std::fs::read(&idx).unwrap();
    std::fs::write(&idx, &bytes[..bytes.len() / 2]).unwrap();
    let err = glimpse::index::open(&idx).unwrap_err().to_string();
    assert!(err.contains("truncated") && err.contains("glimpse index"), "{err}");
    let (report, events) = index(&idx, &backbone, &[photos]);
    assert_eq!(report.photos, 5);
    assert!(events.iter().any(|e| matches!(e, IndexEvent::Notice(n) if n.contains("rebuilt"))));
    assert!(idx.with_extension("glimpse.damaged").is_file());
}

/// A PNG whose header claims the given size (with a valid CRC) but holds almost nothing.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    let mut png = Vec::new();
    image::RgbImage::from_pixel(1, 1, Rgb([0, 0, 0]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    // IHDR data starts at byte 16 (8 signature + 4 length + 4 type); CRC covers type + data.
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn every_file_of_a_hostile_corpus_is_indexed_or_skipped_with_a_reason() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let c = dir.path().join("corpus");
    std::fs::create_dir_all(&c).unwrap();
    let jpeg = {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
            .encode_image(&image::RgbImage::from_pixel(64, 64, Rgb([90, 120, 30])))
            .unwrap();
        out
    };
    std::fs::write(c.join("zero.jpg"), b"").unwrap();
    std::fs::write(c.join("truncated.jpg"), &jpeg[..jpeg.len() / 3]).unwrap();
    std::fs::write(
        c.join("random.jpg"),
        (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    std::fs::write(c.join("bomb.png"), png_claiming(50_000, 50_000)).unwrap();
    image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(9, 9, Rgb([60000, 100, 30000]))
        .save(c.join("deep.png"))
        .unwrap();
    image::GrayImage::from_pixel(9, 9, image::Luma([77])).save(c.join("grey.png")).unwrap();
    image::RgbaImage::from_pixel(9, 9, image::Rgba([10, 20, 30, 100])).save(c.join("alpha.png")).unwrap();
    {
        let file = std::fs::File::create(c.join("animated.gif")).unwrap();
        let mut enc = image::codecs::gif::GifEncoder::new(file);
        for v in [0u8, 255] {
            enc.encode_frame(image::Frame::new(image::RgbaImage::from_pixel(6, 6, image::Rgba([v, v, v, 255]))))
                .unwrap();
        }
    }
    std::fs::write(c.join(std::ffi::OsStr::from_bytes(b"caf\xe9-latin1.jpg")), &jpeg).unwrap();
    let mut cmyk = Vec::new();
    jpeg_encoder::Encoder::new(&mut cmyk, 90)
        .encode(&[0u8, 128, 255, 10].repeat(64), 8, 8, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
    std::fs::write(c.join("print-shop-cmyk.jpg"), &cmyk).unwrap();
    std::os::unix::fs::symlink(&c, c.join("loop")).unwrap();
    let many = c.join("many");
    std::fs::create_dir_all(&many).unwrap();
    let tiny_png = {
        let mut out = Vec::new();
        image::RgbImage::from_pixel(2, 2, Rgb([5, 6, 7]))
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    };
    for i in 0..20_000 {
        std::fs::write(many.join(format!("{i:05}.png")), &tiny_png).unwrap();
    }
    // Files that are not files: read, they would block (FIFO) or never end (/dev/zero).
    assert!(Command::new("mkfifo").arg(c.join("fifo.jpg")).status().unwrap().success());
    std::os::unix::fs::symlink("/dev/zero", c.join("endless.jpg")).unwrap();
    let _socket = std::os::unix::net::UnixListener::bind(c.join("socket.jpg")).unwrap();
    std::fs::create_dir_all(c.join("folder.jpg")).unwrap();
    std::fs::write(c.join("folder.jpg/inside.png"), &tiny_png).unwrap();
    std::fs::write(c.join("new\nline.jpg"), &jpeg).unwrap();
    let locked = c.join("locked.jpg");
    std::fs::write(&locked, &jpeg).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    // Root reads any file, so the refusal can only be seen as another user.
    let as_root = std::fs::read(&locked).is_ok();
    if as_root {
        eprintln!("permission denied not checked: the tests run as root, who may read any file");
    }

    let idx = dir.path().join("library.glimpse");
    let (report, events) = index(&idx, &backbone, std::slice::from_ref(&c));
    let skipped: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            IndexEvent::Skipped { path, reason } => Some((path.display().to_string(), reason.clone())),
            _ => None,
        })
        .collect();
    let reason_of = |name: &str| {
        skipped
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{name} not skipped: {skipped:?}"))
    };
    assert!(reason_of("zero.jpg").contains("empty"));
    assert!(reason_of("random.jpg").contains("unknown format"));
    assert!(reason_of("bomb.png").contains("above the limit"));
    assert!(reason_of("truncated.jpg").contains("decode"));
    assert!(skipped.iter().any(|(p, r)| p.ends_with("loop") && r.contains("loop")), "{skipped:?}");
    for name in ["fifo.jpg", "endless.jpg", "socket.jpg"] {
        assert!(reason_of(name).contains("not a regular file"), "{name}: {}", reason_of(name));
    }
    if !as_root {
        assert!(reason_of("locked.jpg").contains("ermission denied"), "{}", reason_of("locked.jpg"));
    }
    // 20,000 tiny files in one folder + deep, grey, alpha, animated, CMYK, the Latin-1 name,
    // the newline name, the photo inside the folder named folder.jpg (+ locked.jpg as root).
    let photos = 20_008 + usize::from(as_root);
    assert_eq!(report.photos, photos, "{report:?}");
    assert_eq!(report.skipped, 4, "{report:?}");
    let opened = glimpse::index::open(&idx).unwrap();
    assert_eq!(opened.data.photos.len(), photos);
    assert!(opened.data.photos.iter().any(|p| p.path.ends_with(b"new\nline.jpg")));
    assert_eq!(opened.data.skipped.len(), 4);
    assert!(opened.data.photos.iter().any(|p| p.path.ends_with(b"caf\xe9-latin1.jpg")));
    // A second run does not try the bad files again.
    let (again, events) = index(&idx, &backbone, &[]);
    assert_eq!((again.embedded, again.skipped), (0, 0));
    assert!(!events.iter().any(|e| matches!(e, IndexEvent::Skipped { path, .. } if path.ends_with("zero.jpg"))));
}

/// The photos `glimpse search --json` ranks over the whole library for a query of the
/// concept "Swatch" and text, by path; the concept must be there, its file undamaged.
fn searched_paths(idx: &Path, label: &str) -> std::collections::BTreeSet<PathBuf> {
    let out = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["--provider", "cpu", "search", "--json", "-k", "100000", "--index"])
        .arg(idx)
        .arg("Swatch in a photo of colours")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{label}: search failed: {stderr}");
    assert!(
        stderr.contains("\u{201c}Swatch\u{201d} is your concept") && !stderr.contains("damaged"),
        "{label}: {stderr}"
    );
    let hits: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    hits.iter().map(|h| PathBuf::from(h["path"].as_str().unwrap())).collect()
}

#[test]
fn a_stopped_or_killed_indexing_run_keeps_every_photo_searchable_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let make = |folder: &str, n: u32, shift: u32| {
        let path = dir.path().join(folder);
        std::fs::create_dir_all(&path).unwrap();
        for i in 0..n {
            let j = i + shift;
            image::RgbImage::from_fn(48, 40, |x, y| Rgb([(x * 5 + j) as u8, (y * 6) as u8, (j * 3) as u8]))
                .save(path.join(format!("p{i:03}.png")))
                .unwrap();
        }
        std::fs::canonicalize(path).unwrap()
    };
    let (old, new) = (make("old", 12, 200), make("new", 160, 0));
    let idx = dir.path().join("library.glimpse");
    let journal = glimpse::index::journal::journal_path(&idx);
    // The photos searchable before the runs that get stopped: indexed with the default
    // backbone, which the shipped text model projects.
    let out = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["--provider", "cpu", "index", "--index"])
        .arg(&idx)
        .arg(&old)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A concept taught before; some rounds also kill a command teaching it more photos.
    let teach = |photo: usize| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_glimpse"));
        cmd.args(["--provider", "cpu", "concept", "add", "--index"]).arg(&idx).arg("Swatch");
        cmd.arg(old.join(format!("p{photo:03}.png")));
        cmd
    };
    let out = teach(0).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = searched_paths(&idx, "before");
    assert_eq!(before.len(), 12, "{before:?}");
    // A journal record holds a photo's features (a byte each) and its compact joint vector.
    let record = 600 + glimpse::index::open(&idx).unwrap().data.feature_dim as u64;
    let mut counts = Vec::new();
    for round in 0..20u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_glimpse"))
            .args(["--provider", "cpu", "index", "--batch", "8", "--index"])
            .arg(&idx)
            .arg(&new)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Every fourth round also teaches the concept more (rounds 1 and 13 end in Ctrl-C,
        // 5, 9 and 17 in SIGKILL): each teaching embeds the model's words, so not every round.
        let mut teaching = (round % 4 == 1).then(|| {
            teach(1 + round as usize % 11)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        });
        // The run says "N photos found" once it has planned (a stale journal is gone by then).
        let (planned_tx, planned) = crossbeam_channel::bounded(1);
        let stderr = child.stderr.take().unwrap();
        std::thread::Builder::new()
            .name("test-stderr".into())
            .spawn(move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("photos found") {
                        planned_tx.try_send(()).ok();
                    }
                }
            })
            .unwrap();
        if round % 4 == 0 {
            // Stopped while starting up, before anything is written.
            std::thread::sleep(std::time::Duration::from_millis(100 + round * 20));
        } else {
            // Stopped once the journal has grown past a size that rises with each round:
            // always mid-run, at a different moment each round, whatever the machine's speed.
            let _ = planned.recv_timeout(std::time::Duration::from_secs(60));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let wanted = 20 + round * record / 2;
            while std::fs::metadata(&journal).map_or(0, |m| m.len()) < wanted
                && child.try_wait().unwrap().is_none()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        // Every third round is Ctrl-C (the run stops itself and writes what it has), the
        // others SIGKILL (nothing but the journal survives).
        let interrupt = round % 3 == 1;
        let signal = if interrupt { "-INT" } else { "-KILL" };
        let sent = Command::new("kill").arg(signal).arg(child.id().to_string()).status().unwrap();
        assert!(sent.success() || child.try_wait().unwrap().is_some(), "round {round}: kill {signal} failed");
        if let Some(teaching) = teaching.as_mut() {
            Command::new("kill").arg(signal).arg(teaching.id().to_string()).status().unwrap();
            teaching.wait().unwrap();
        }
        let status = child.wait().unwrap();
        if interrupt {
            assert!(status.success() || status.code().is_none(), "round {round}: Ctrl-C must stop cleanly: {status}");
        }
        let index =
            glimpse::index::open(&idx).unwrap_or_else(|e| panic!("round {round}: the index does not open: {e}"));
        for (row, p) in index.data.photos.iter().enumerate() {
            let f = index.data.features_of(row).unwrap();
            assert_eq!(f.len(), index.data.feature_dim, "round {round}: incomplete entry");
            assert!(f.iter().all(|v| v.is_finite()), "round {round}: damaged vector");
            assert!(p.path().starts_with(&old) || p.path().starts_with(&new));
        }
        // Every photo in the index, the ones searchable before and every one whose
        // embedding was journaled, is found by a text search at once.
        let indexed: std::collections::BTreeSet<PathBuf> = index.data.photos.iter().map(|p| p.path()).collect();
        let found = searched_paths(&idx, &format!("round {round}"));
        assert!(before.is_subset(&found), "round {round}: photos searchable before were lost");
        assert_eq!(found, indexed, "round {round}: search must rank every indexed photo");
        counts.push(index.data.photos.len() - 12);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["--provider", "cpu", "index", "--json", "--index"])
        .arg(&idx)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["photos"], 172);
    let kept_before: u64 = counts.last().copied().unwrap_or(0) as u64;
    assert_eq!(report["embedded"].as_u64().unwrap() + kept_before, 160, "finished work must be kept: {counts:?}");
    assert!(counts.iter().any(|&c| c > 0 && c < 160), "stops never landed mid-run: {counts:?}");
    assert_eq!(searched_paths(&idx, "after").len(), 172);
}

#[test]
fn search_and_similar_print_the_documented_json() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let copied = copy_photos(&shared, &photos, 8);
    let idx = dir.path().join("library.glimpse");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).arg("--index").arg(&idx).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = run(&["index", photos.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run(&["similar", "-k", "3", "--json", copied[0].to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0]["rank"], 1);
    // The photo itself is not among the photos like it.
    assert!(hits.iter().all(|h| h["path"] != copied[0].to_str().unwrap()), "{hits:?}");
    assert!(hits[0]["score"].as_f64().unwrap() < 1.0 - 1e-3);
    assert!(hits[1]["score"].as_f64().unwrap() <= hits[0]["score"].as_f64().unwrap());
    let q = format!("{} - {}", copied[0].display(), copied[1].display());
    let (code, out, err) = run(&["search", "--json", "-k", "8", &q]);
    assert_eq!(code, Some(0), "{err}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(hits.len(), 8);
    assert_eq!(hits[7]["path"], copied[1].to_str().unwrap(), "the subtracted photo ranks last");
    let (code, out, err) = run(&["similar", "--json", "--type", "png", copied[0].to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.trim(), "[]", "no photo is a png");
    let (code, out, err) = run(&[
        "similar",
        "--json",
        "-k",
        "3",
        "--sort",
        "newest",
        "--pool",
        "8",
        "--in",
        photos.to_str().unwrap(),
        copied[0].to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let dates: Vec<i64> = hits.iter().map(|h| h["date"].as_i64().unwrap()).collect();
    assert!(dates.len() == 3 && dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
    assert!(hits.iter().all(|h| h["date_source"] == "exif" || h["date_source"] == "mtime"));
    let (code, _, err) = run(&["similar", "--after", "yesterday", copied[0].to_str().unwrap()]);
    assert_eq!(code, Some(2));
    assert!(err.contains("YYYY-MM-DD"), "{err}");
    let (code, out, err) = run(&["search", "--json", "-k", "8", "a dog running through water"]);
    assert_eq!(code, Some(0), "the shipped text model answers text queries: {err}");
    assert_eq!(serde_json::from_str::<Vec<serde_json::Value>>(&out).unwrap().len(), 8);
}

#[test]
fn a_text_query_finds_the_dogs_in_water_among_the_shared_photos() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("library.glimpse");
    let glimpse = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).arg("--index").arg(&idx).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    glimpse(&["index", shared.join("photos").to_str().unwrap()]);
    let hits: Vec<serde_json::Value> =
        serde_json::from_str(&glimpse(&["search", "--json", "-k", "5", "a dog running through water"])).unwrap();
    // The photos' own Flickr8k captions say what they show.
    let captions =
        std::fs::read_to_string(shared.join("flickr8k/Flickr8k_text/Flickr8k.token.txt")).unwrap_or_default();
    if captions.is_empty() {
        eprintln!("skipped: ../shared/flickr8k is not here");
        return;
    }
    let about = |hit: &serde_json::Value, word: &str| {
        let name =
            std::path::Path::new(hit["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        captions.lines().filter(|l| l.starts_with(&format!("{name}#"))).any(|l| l.to_lowercase().contains(word))
    };
    let dogs = hits.iter().filter(|h| about(h, "dog")).count();
    let water =
        hits.iter().filter(|h| about(h, "water") || about(h, "pool") || about(h, "ocean") || about(h, "swim")).count();
    assert!(
        dogs >= 4 && water >= 3,
        "top-5 for 'a dog running through water': {dogs} dogs, {water} in water: {hits:?}"
    );
}

#[test]
fn byte_storage_keeps_the_similar_photo_rankings_of_real_photos() {
    use glimpse::engine::pipeline::{self, EmbedEvent, EmbedOptions};
    use glimpse::index::contents::PhotoEntry;
    use glimpse::index::search::Matrix;
    let shared = need_shared!();
    let mut photos = glimpse::bench::embed::photos_in(&shared.join("photos")).unwrap();
    photos.truncate(40);
    let job = pipeline::embed(&lite0(), photos.clone(), EmbedOptions::default(), None).unwrap();
    let mut features = vec![Vec::new(); photos.len()];
    for event in crate::util::drain(job.events()) {
        let EmbedEvent::Embedded(e) = event else { panic!("a shared photo failed") };
        features[e.index] = e.features;
    }
    let mut exact = Matrix::new(1280);
    let mut stored = Matrix::new(1280);
    for f in &features {
        exact.push(f);
        let entry = PhotoEntry { features: glimpse::index::bytes::encode_features(f), ..sample_entry() };
        stored.push(&glimpse::index::bytes::decode_features(&entry.features));
    }
    // Stored cosines stay within 1e-3 of the exact ones, so a top 10 can only swap photos
    // whose exact scores are that close.
    for f in &features {
        let a = exact.top_k(f, 10, |_| true);
        let b: Vec<usize> = stored.top_k(f, 10, |_| true).iter().map(|h| h.row).collect();
        for (i, hit) in a.iter().enumerate() {
            if b[i] != hit.row {
                let other = a.iter().find(|h| h.row == b[i]).map_or(f32::NEG_INFINITY, |h| h.score);
                assert!((hit.score - other).abs() < 2e-3, "byte storage swapped photos {} and {}", hit.row, b[i]);
            }
        }
    }
}

fn sample_entry() -> glimpse::index::contents::PhotoEntry {
    glimpse::index::contents::PhotoEntry {
        path: Vec::new(),
        size: 0,
        mtime_ns: 0,
        hash: [0; 16],
        width: 0,
        height: 0,
        taken: None,
        features: Vec::new(),
        joint: Vec::new(),
        cold_row: None,
    }
}

fn write_head(dir: &Path, name: &str, weights: &[f32]) -> PathBuf {
    use glimpse::onnx::{Dim, GraphBuilder};
    let mut g = GraphBuilder::new(name);
    g.input_f32("features", &[Dim::Named("N"), Dim::Fixed(4)])
        .output_f32("joint", &[Dim::Named("N"), Dim::Fixed(3)])
        .initializer_f32("w", &[4, 3], weights)
        .node("MatMul", &["features", "w"], &["joint"], &[]);
    let path = dir.join(format!("{name}.onnx"));
    std::fs::write(&path, g.to_bytes()).unwrap();
    path
}

#[test]
fn a_new_image_head_re_projects_the_library_from_stored_features_without_decoding() {
    use glimpse::engine::ProjectionHead;
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..6u8 {
        image::RgbImage::from_pixel(12, 9, Rgb([i * 40, 200 - i * 30, 17]))
            .save(photos.join(format!("{i}.png")))
            .unwrap();
    }
    let w1: Vec<f32> = (0..12).map(|i| i as f32 * 0.1 - 0.5).collect();
    let w2: Vec<f32> = (0..12).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
    let runtime = Runtime::load(None).unwrap();
    let head1 = ProjectionHead::open(runtime, &write_head(dir.path(), "head1", &w1), &cpu()).unwrap();
    let head2 = ProjectionHead::open(runtime, &write_head(dir.path(), "head2", &w2), &cpu()).unwrap();
    let idx = dir.path().join("library.glimpse");
    let run = |head: &ProjectionHead, roots: Vec<PathBuf>| {
        let head = Some(Projection { head: head.clone(), codec: Codec::plain(3) });
        let options = IndexOptions { add_roots: roots, head, ..IndexOptions::default() };
        let job = update::start(idx.clone(), &backbone, options, None).unwrap();
        crate::util::drain(job.events()).len();
        job.wait().unwrap().unwrap()
    };
    // The stored codes stand for the unit vector of features · w, to within half a code step
    // (plus the stored features' own rounding).
    let codec = Codec::plain(3);
    let check = |w: &[f32]| {
        let index = glimpse::index::open(&idx).unwrap();
        assert_eq!((index.data.joint_dim, index.data.joint_codec.as_str()), (3, codec.id()));
        for (row, p) in index.data.photos.iter().enumerate() {
            let f = index.data.features_of(row).unwrap();
            let mut expected: Vec<f32> = (0..3).map(|j| (0..4).map(|i| f[i] * w[i * 3 + j]).sum()).collect();
            normalize(&mut expected);
            let (codes, offset) = p.compact(3).expect("every photo has codes");
            assert_eq!(offset, 0.0, "an uncalibrated head stores no offset");
            let joint = codec.decode(codes);
            for j in 0..3 {
                assert!((joint[j] - expected[j]).abs() < codec.scales[j], "{joint:?} vs {expected:?}");
            }
        }
    };
    let first = run(&head1, vec![photos.clone()]);
    assert_eq!((first.embedded, first.projected), (6, 6));
    check(&w1);
    let second = run(&head2, vec![]);
    assert_eq!((second.embedded, second.unchanged, second.projected), (0, 6, 6));
    check(&w2);
    let third = run(&head2, vec![]);
    assert_eq!((third.embedded, third.projected), (0, 0));
}

#[test]
fn photos_left_without_a_joint_vector_are_left_out_of_joint_results_counted_and_projected_by_the_next_run() {
    use glimpse::engine::ProjectionHead;
    use glimpse::index::Library;
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let (old, new) = (dir.path().join("old"), dir.path().join("new"));
    for (folder, shift) in [(&old, 0u8), (&new, 100)] {
        std::fs::create_dir_all(folder).unwrap();
        for i in 0..5u8 {
            image::RgbImage::from_pixel(12, 9, Rgb([i * 30 + shift, 150 - i * 20, 17 + shift]))
                .save(folder.join(format!("{i}.png")))
                .unwrap();
        }
    }
    let w: Vec<f32> = (0..12).map(|i| i as f32 * 0.1 - 0.5).collect();
    let head = ProjectionHead::open(Runtime::load(None).unwrap(), &write_head(dir.path(), "head", &w), &cpu()).unwrap();
    let idx = dir.path().join("library.glimpse");
    let run = |head: Option<&ProjectionHead>, roots: Vec<PathBuf>| {
        let head = head.map(|h| Projection { head: h.clone(), codec: Codec::plain(3) });
        let options = IndexOptions { add_roots: roots, head, ..IndexOptions::default() };
        let job = update::start(idx.clone(), &backbone, options, None).unwrap();
        crate::util::drain(job.events()).len();
        job.wait().unwrap().unwrap()
    };
    run(Some(&head), vec![old.clone()]);
    // A run that embeds without projecting: what a run of an earlier version left when it
    // was stopped before its projection step.
    assert_eq!(run(None, vec![new.clone()]).embedded, 5);
    let ranked_rows = |library: &Library| {
        let codec = Codec::plain(3);
        let space = Space::Joint { matrix: library.joint.as_ref().unwrap(), codec: &codec, offsets: true };
        library
            .search_in(space, &[0.3, -1.0, 0.5], &SearchOptions { k: 100, ..SearchOptions::default() })
            .into_iter()
            .map(|r| r.path)
            .collect::<Vec<_>>()
    };
    let library = Library::open(&idx).unwrap();
    assert_eq!(library.index.data.photos.len(), 10);
    assert_eq!(library.unprojected(), 5);
    let ranked = ranked_rows(&library);
    assert_eq!(ranked.len(), 5, "{ranked:?}");
    assert!(ranked.iter().all(|p| p.starts_with(std::fs::canonicalize(&old).unwrap())), "{ranked:?}");
    // The next run with the head projects just those five, from their stored features.
    let next = run(Some(&head), vec![]);
    assert_eq!((next.embedded, next.projected), (0, 5), "{next:?}");
    let library = Library::open(&idx).unwrap();
    assert_eq!((library.unprojected(), ranked_rows(&library).len()), (0, 10));
}

#[test]
fn a_calibrated_head_stores_each_photo_s_offset_and_search_ranks_by_cosine_minus_offset() {
    use glimpse::engine::ProjectionHead;
    use glimpse::index::Library;
    use glimpse::onnx::{Dim, GraphBuilder};
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..7u8 {
        image::RgbImage::from_pixel(12, 9, Rgb([i * 35, 220 - i * 30, 40 + i * 20]))
            .save(photos.join(format!("{i}.png")))
            .unwrap();
    }
    // joint = features · w; offset = features · v, large enough to reorder rankings.
    let w: Vec<f32> = (0..12).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
    let v = [0.9f32, -0.4, 0.7, 0.2];
    let mut g = GraphBuilder::new("calibrated");
    g.input_f32("features", &[Dim::Named("N"), Dim::Fixed(4)])
        .output_f32("embedding", &[Dim::Named("N"), Dim::Fixed(3)])
        .output_f32("offset", &[Dim::Named("N")])
        .initializer_f32("w", &[4, 3], &w)
        .initializer_f32("v", &[4], &v)
        .node("MatMul", &["features", "w"], &["embedding"], &[])
        .node("MatMul", &["features", "v"], &["offset"], &[]);
    let graph = dir.path().join("calibrated.onnx");
    std::fs::write(&graph, g.to_bytes()).unwrap();
    let head = ProjectionHead::open(Runtime::load(None).unwrap(), &graph, &cpu()).unwrap();
    assert!(head.has_offset());
    let idx = dir.path().join("library.glimpse");
    let codec = Codec::plain(3);
    let head = Some(Projection { head, codec: codec.clone() });
    let options = IndexOptions { add_roots: vec![photos], head, ..IndexOptions::default() };
    let job = update::start(idx.clone(), &backbone, options, None).unwrap();
    crate::util::drain(job.events()).len();
    assert_eq!(job.wait().unwrap().unwrap().projected, 7);

    let library = Library::open(&idx).unwrap();
    let joint = library.joint.as_ref().expect("a calibrated library has joint vectors");
    let mut expected = Vec::new();
    let mut q = vec![0.3f32, -1.0, 0.5];
    normalize(&mut q);
    for row in 0..library.index.data.photos.len() {
        // The offset is stored as the head gave it (from the features as they were embedded).
        let f = library.index.data.features_of(row).unwrap();
        let offset: f32 = (0..4).map(|i| f[i] * v[i]).sum();
        assert!((joint.offset(row) - offset).abs() < 0.05, "{} vs {offset}", joint.offset(row));
        // Search scores the vector its codes stand for, less the offset.
        let e = codec.decode(joint.row(row));
        let cosine: f32 = e.iter().zip(&q).map(|(a, b)| a * b).sum();
        expected.push((cosine - joint.offset(row), row));
    }
    expected.sort_by(|a, b| b.0.total_cmp(&a.0));
    let space = Space::Joint { matrix: joint, codec: &codec, offsets: true };
    let ranked = library.search_in(space, &q, &SearchOptions { k: 7, ..SearchOptions::default() });
    assert_eq!(ranked.iter().map(|r| r.row).collect::<Vec<_>>(), expected.iter().map(|e| e.1).collect::<Vec<_>>());
    for (r, (score, _)) in ranked.iter().zip(&expected) {
        assert!((r.score - score).abs() < 1e-4, "{} vs {score}", r.score);
    }
    // The offsets matter here: ranking by cosine alone would give another order.
    let mut by_cosine: Vec<(f32, usize)> = expected.iter().map(|&(s, row)| (s + joint.offset(row), row)).collect();
    by_cosine.sort_by(|a, b| b.0.total_cmp(&a.0));
    assert_ne!(by_cosine.iter().map(|e| e.1).collect::<Vec<_>>(), expected.iter().map(|e| e.1).collect::<Vec<_>>());
}

#[test]
fn a_joint_space_query_mixes_text_and_photo_terms_and_ranks_by_the_projected_vectors() {
    use glimpse::engine::ProjectionHead;
    use glimpse::index::Library;
    use glimpse::index::query::parse;
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let colours = [[250u8, 10, 10], [10, 250, 10], [10, 10, 250], [250, 250, 10]];
    for (i, c) in colours.iter().enumerate() {
        image::RgbImage::from_pixel(12, 9, Rgb(*c)).save(photos.join(format!("{i}.png"))).unwrap();
    }
    let w: Vec<f32> = (0..12).map(|i| ((i * 5) % 7) as f32 - 3.0).collect();
    let head = ProjectionHead::open(Runtime::load(None).unwrap(), &write_head(dir.path(), "head", &w), &cpu()).unwrap();
    let idx = dir.path().join("library.glimpse");
    let codec = Codec::plain(3);
    let projection = Some(Projection { head: head.clone(), codec: codec.clone() });
    let options = IndexOptions { add_roots: vec![photos.clone()], head: projection, ..IndexOptions::default() };
    let job = update::start(idx.clone(), &backbone, options, None).unwrap();
    crate::util::drain(job.events()).len();
    job.wait().unwrap().unwrap();
    let library = Library::open(&idx).unwrap();
    let joint = library.joint.as_ref().unwrap();
    let joint_of = |name: &str| {
        let row = library.index.data.photos.iter().position(|p| p.path().ends_with(name)).unwrap();
        codec.reconstruct(joint.row(row))
    };
    // A stand-in text encoder that puts the word "blue" where the blue photo is.
    let blue = joint_of("2.png");
    let encode = |text: &str| -> glimpse::Result<Vec<f32>> {
        assert_eq!(text, "blue");
        Ok(blue.clone())
    };
    let q = library.joint_query_vector(&parse("blue").unwrap(), &backbone, &head, &encode).unwrap();
    let space = Space::Joint { matrix: joint, codec: &codec, offsets: true };
    assert!(
        library.search_in(space, &q, &SearchOptions { k: 1, ..SearchOptions::default() })[0].path.ends_with("2.png")
    );
    let photo_query = format!("{}", photos.join("0.png").display());
    let q = library.joint_query_vector(&parse(&photo_query).unwrap(), &backbone, &head, &encode).unwrap();
    let top = library.search_in(space, &q, &SearchOptions { k: 4, ..SearchOptions::default() });
    // The photo against its own codes: a cosine of 1 to within the codes' steps.
    assert!(top[0].path.ends_with("0.png") && (top[0].score - 1.0).abs() < 3.0 * codec.scales[0], "{top:?}");
    // A library projected by another head is refused with the fix.
    let other =
        ProjectionHead::open(Runtime::load(None).unwrap(), &write_head(dir.path(), "other", &[0.5; 12]), &cpu())
            .unwrap();
    let err = library.joint_query_vector(&parse("blue").unwrap(), &backbone, &other, &encode).unwrap_err().to_string();
    assert!(err.contains("run `glimpse index`"), "{err}");
}

#[test]
fn filters_apply_before_top_k_dates_order_the_best_matches_and_feedback_moves_the_ranking() {
    use glimpse::index::feedback::Rocchio;
    use glimpse::index::filter::{DateSource, Filter, SortOrder, parse_date};
    use glimpse::index::library::{Library, SearchOptions};
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = dir.path().join("photos");
    let day = parse_date("2024-03-01").unwrap();
    for i in 0..8u32 {
        let sub = photos.join(if i < 4 { "a" } else { "b" });
        std::fs::create_dir_all(&sub).unwrap();
        let path = sub.join(format!("{i}.png"));
        image::RgbImage::from_pixel(8, 8, Rgb([200, (i * 30) as u8, 40])).save(&path).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs((day + i64::from(i) * 86_400) as u64))
            .unwrap();
    }
    let idx = dir.path().join("library.glimpse");
    index(&idx, &backbone, std::slice::from_ref(&photos));
    let library = Library::open(&idx).unwrap();
    let m = Space::Features(library.features().unwrap());
    let q = library.vectors_of(m, &[photos.join("a/0.png")]).unwrap().remove(0);
    let name = |r: &glimpse::index::Ranked| r.path.file_name().unwrap().to_string_lossy().into_owned();

    let best = library.search_in(m, &q, &SearchOptions { k: 4, ..Default::default() });
    assert!(best.iter().all(|r| r.path.starts_with(photos.join("a"))), "the a/ photos are the best matches");
    let canonical_b = std::fs::canonicalize(photos.join("b")).unwrap();
    let only_b = SearchOptions {
        k: 4,
        filter: Filter { folder: Some(canonical_b.clone()), ..Default::default() },
        ..Default::default()
    };
    let hits = library.search_in(m, &q, &only_b);
    assert_eq!(hits.len(), 4, "K results although the filter removed every best match");
    assert!(hits.iter().all(|r| r.path.starts_with(&canonical_b)));

    let newest =
        library.search_in(m, &q, &SearchOptions { k: 3, sort: SortOrder::Newest, pool: 8, ..Default::default() });
    assert_eq!(newest.iter().map(name).collect::<Vec<_>>(), ["7.png", "6.png", "5.png"]);
    assert!(newest.iter().all(|r| r.date_source == DateSource::Mtime));
    let after = SearchOptions {
        k: 8,
        filter: Filter { after: Some(day + 6 * 86_400), ..Default::default() },
        ..Default::default()
    };
    assert_eq!(library.search_in(m, &q, &after).len(), 2);

    let far = photos.join("b/4.png");
    let result_for = |q: &[f32]| library.search_in(m, q, &SearchOptions { k: 8, ..Default::default() });
    let score_of = |q: &[f32], file: &str| result_for(q).iter().find(|r| r.path.ends_with(file)).unwrap().score;
    let rank_of = |q: &[f32], file: &str| result_for(q).iter().position(|r| r.path.ends_with(file)).unwrap();
    let good = library.vectors_of(m, std::slice::from_ref(&far)).unwrap();
    let moved = Rocchio::default().apply(&q, &good, &[]);
    assert!(score_of(&moved, "b/4.png") > score_of(&q, "b/4.png") + 0.1, "a good mark pulls the photo closer");
    let strong = Rocchio { a: 1.0, b: 3.0, c: 0.0 }.apply(&q, &good, &[]);
    assert_eq!(rank_of(&strong, "b/4.png"), 0, "a strongly weighted good mark ranks it first");
    let bad = library.vectors_of(m, &[photos.join("a/1.png")]).unwrap();
    let pushed = Rocchio::default().apply(&q, &[], &bad);
    assert!(score_of(&pushed, "a/1.png") < score_of(&q, "a/1.png"), "a bad mark pushes the photo away");
    assert!(
        library
            .vectors_of(m, &[dir.path().join("elsewhere.png")])
            .unwrap_err()
            .to_string()
            .contains("not in the library")
    );
}

#[test]
fn resized_re_encoded_and_cropped_copies_group_with_their_originals_and_distinct_photos_do_not() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos_dir = dir.path().join("photos");
    let originals = copy_photos(&shared, &photos_dir, 12);
    for p in &originals {
        glimpse::bench::duplicates::make_copies(p, &photos_dir).unwrap();
    }
    let index = dir.path().join("lib.glimpse");
    let glimpse = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_glimpse")).args(["--provider", "cpu"]).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    glimpse(&["index", "--index", index.to_str().unwrap(), photos_dir.to_str().unwrap()]);
    let groups: serde_json::Value =
        serde_json::from_str(&glimpse(&["duplicates", "--index", index.to_str().unwrap(), "--json"])).unwrap();
    let groups: Vec<Vec<String>> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().to_string()).collect())
        .collect();
    assert_eq!(groups.len(), originals.len(), "{groups:#?}");
    for original in &originals {
        let stem = original.file_stem().unwrap().to_string_lossy().to_string();
        let group = groups.iter().find(|g| g.iter().any(|p| p.ends_with(&format!("{stem}.jpg")))).unwrap();
        // The original and its three copies, and nothing else.
        assert_eq!(group.len(), 4, "{group:#?}");
        assert!(group.iter().all(|p| p.contains(&stem)), "{group:#?}");
    }
}

#[test]
fn an_index_kept_inside_its_library_folder_never_takes_its_own_thumbnails_for_photos() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for (i, rgb) in [[200u8, 40, 17], [17, 200, 40], [40, 17, 200]].into_iter().enumerate() {
        image::RgbImage::from_pixel(64, 48, Rgb(rgb)).save(photos.join(format!("{i}.jpg"))).unwrap();
    }
    let idx = photos.join("library.glimpse");
    let (first, _) = index(&idx, &backbone, std::slice::from_ref(&photos));
    assert_eq!(first.photos, 3, "{first:?}");
    let thumbs = glimpse::index::thumbs::ThumbCache::for_index(&idx);
    assert!(std::fs::read_dir(thumbs.dir()).unwrap().next().is_some(), "the run wrote thumbnails beside the index");
    let (again, _) = index(&idx, &backbone, &[]);
    assert_eq!((again.photos, again.embedded), (3, 0), "{again:?}");
}

//! Never losing or touching a person's work: foreign files, newer and damaged indexes, one
//! writer per library, offline folders, files that are not files.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use glimpse::Error;
use glimpse::engine::pipeline::{self, EmbedEvent, EmbedOptions};
use glimpse::engine::{Backbone, BackboneModel, ProviderChoice, Runtime, SessionOptions};
use glimpse::index::journal::{self, Journal, JournalRecord};
use glimpse::index::lock::{WhenBusy, WriterLock};
use glimpse::index::update::{self, IndexEvent, IndexOptions, IndexReport};
use glimpse::index::{Library, PhotoEntry, store};
use image::Rgb;

use crate::util::{TinySpec, write_tiny_backbone};

fn tiny(dir: &Path) -> Backbone {
    let folder = write_tiny_backbone(dir, "tiny", &TinySpec::default());
    let cpu = SessionOptions { provider: ProviderChoice::Cpu, intra_threads: 1 };
    Backbone::open(Runtime::load(None).unwrap(), BackboneModel::open(&folder).unwrap(), &cpu).unwrap()
}

fn options(roots: &[PathBuf]) -> IndexOptions {
    IndexOptions { add_roots: roots.to_vec(), ..IndexOptions::default() }
}

/// Runs an indexing job to its end; returns its result and every event.
fn run(index: &Path, backbone: &Backbone, options: IndexOptions) -> (glimpse::Result<IndexReport>, Vec<IndexEvent>) {
    let job = update::start(index.to_path_buf(), backbone, options, None).unwrap();
    let events = crate::util::drain(job.events());
    (job.wait().unwrap(), events)
}

fn index_ok(index: &Path, backbone: &Backbone, roots: &[PathBuf]) -> IndexReport {
    run(index, backbone, options(roots)).0.unwrap()
}

fn photos_in(dir: &Path, n: u8, shade: u8) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        image::RgbImage::from_pixel(12, 10, Rgb([i * 30, shade, 100])).save(dir.join(format!("{i}.png"))).unwrap();
    }
    dir.to_path_buf()
}

#[test]
fn a_photo_named_as_the_index_is_refused_by_the_cli_with_exit_code_2_and_stays_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let photos = photos_in(&dir.path().join("photos"), 2, 0);
    let mine = photos.join("0.png");
    let before = std::fs::read(&mine).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["index", "--index"])
        .arg(&mine)
        .arg(&photos)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("0.png") && stderr.contains("not a Glimpse index"), "{stderr}");
    assert_eq!(std::fs::read(&mine).unwrap(), before);
    let mut names: Vec<String> =
        std::fs::read_dir(&photos).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    assert_eq!(names, ["0.png", "1.png"], "nothing may be written beside the photo");
}

#[test]
fn a_foreign_file_or_a_newer_index_is_refused_by_the_indexing_job_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = photos_in(&dir.path().join("photos"), 2, 0);
    let foreign = dir.path().join("notes.glimpse");
    std::fs::write(&foreign, b"my notes, not an index").unwrap();
    let (result, _) = run(&foreign, &backbone, options(std::slice::from_ref(&photos)));
    assert!(matches!(result, Err(Error::NotAnIndex { .. })), "{result:?}");
    assert_eq!(std::fs::read(&foreign).unwrap(), b"my notes, not an index");
    let newer = dir.path().join("newer.glimpse");
    let bytes = [&store::MAGIC[..], &(store::FORMAT + 1).to_le_bytes(), b"future payload"].concat();
    std::fs::write(&newer, &bytes).unwrap();
    let (result, _) = run(&newer, &backbone, options(&[photos]));
    let message = result.unwrap_err().to_string();
    assert!(message.contains("made by a newer Glimpse"), "{message}");
    assert_eq!(std::fs::read(&newer).unwrap(), bytes);
    assert!(!dir.path().join("newer.glimpse.damaged").exists());
}

#[test]
fn a_damaged_index_goes_aside_under_a_new_name_each_time_and_its_journal_is_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = photos_in(&dir.path().join("photos"), 4, 0);
    let idx = dir.path().join("library.glimpse");
    assert_eq!(index_ok(&idx, &backbone, std::slice::from_ref(&photos)).embedded, 4);
    // A run killed after embedding two photos leaves them in the journal; then the index is damaged.
    let kept = glimpse::index::open(&idx).unwrap();
    let mut journal = Journal::create(&journal::journal_path(&idx), kept.data.generation).unwrap();
    for (row, entry) in kept.data.photos.iter().enumerate().take(2) {
        // As indexing journals a photo: with its features.
        let features = kept.data.feature_bytes(row).unwrap();
        journal.append(&JournalRecord::Upsert(PhotoEntry { features, ..entry.clone() })).unwrap();
    }
    journal.sync().unwrap();
    drop(journal);
    let bytes = std::fs::read(&idx).unwrap();
    std::fs::write(&idx, &bytes[..bytes.len() / 2]).unwrap();
    let (report, events) = run(&idx, &backbone, options(std::slice::from_ref(&photos)));
    let report = report.unwrap();
    assert_eq!((report.photos, report.embedded), (4, 2), "two photos come back from the journal: {events:?}");
    assert!(events.iter().any(|e| matches!(e, IndexEvent::Notice(n) if n.contains("2 photos were recovered"))));
    // Damaged a second time: the first damaged copy is not overwritten.
    let first_aside = std::fs::read(dir.path().join("library.glimpse.damaged")).unwrap();
    std::fs::write(&idx, b"GLMPSIDX\x02\x00\x00\x00 cut short").unwrap();
    index_ok(&idx, &backbone, &[photos]);
    assert_eq!(std::fs::read(dir.path().join("library.glimpse.damaged")).unwrap(), first_aside);
    assert_eq!(
        std::fs::read(dir.path().join("library.glimpse.damaged.2")).unwrap(),
        b"GLMPSIDX\x02\x00\x00\x00 cut short"
    );
}

#[test]
fn a_second_writer_waits_or_fails_and_two_writers_at_once_embed_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let a = photos_in(&dir.path().join("a"), 6, 10);
    let b = photos_in(&dir.path().join("b"), 6, 200);
    let idx = dir.path().join("library.glimpse");
    let held = WriterLock::acquire(&idx, WhenBusy::Fail, &AtomicBool::new(false), |_| {}).unwrap().unwrap();
    let no_wait = IndexOptions { when_busy: WhenBusy::Fail, ..options(std::slice::from_ref(&a)) };
    let (result, _) = run(&idx, &backbone, no_wait);
    let message = result.unwrap_err().to_string();
    assert!(message.contains(&format!("pid {}", std::process::id())) && message.contains("--no-wait"), "{message}");
    // A waiting writer says so, then runs once the lock is free.
    let waiting = update::start(idx.clone(), &backbone, options(std::slice::from_ref(&a)), None).unwrap();
    let first = waiting.events().recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(matches!(first, IndexEvent::Waiting { pid: Some(p) } if p == std::process::id()), "{first:?}");
    assert!(!idx.exists(), "nothing is written while waiting");
    drop(held);
    let events: Vec<IndexEvent> = crate::util::drain(waiting.events());
    assert_eq!(waiting.wait().unwrap().unwrap().embedded, 6, "{events:?}");
    // Two writers at once, each adding a folder: every photo once, none embedded twice.
    let c = photos_in(&dir.path().join("c"), 5, 90);
    let one = update::start(idx.clone(), &backbone, options(std::slice::from_ref(&b)), None).unwrap();
    let two = update::start(idx.clone(), &backbone, options(std::slice::from_ref(&c)), None).unwrap();
    let (one, two) = (one.wait().unwrap().unwrap(), two.wait().unwrap().unwrap());
    assert_eq!(one.embedded + two.embedded, 11, "{one:?} {two:?}");
    assert_eq!(glimpse::index::open(&idx).unwrap().data.photos.len(), 17);
}

#[test]
fn an_unplugged_folder_is_offline_its_photos_are_kept_and_come_back_without_embedding() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let drive = photos_in(&dir.path().join("drive"), 5, 10);
    let home = photos_in(&dir.path().join("home"), 3, 200);
    let idx = dir.path().join("library.glimpse");
    assert_eq!(index_ok(&idx, &backbone, &[drive.clone(), home.clone()]).photos, 8);
    // Unmounted: the mount point is an empty folder. The other folder is updated as usual.
    let away = dir.path().join("away");
    std::fs::rename(&drive, &away).unwrap();
    std::fs::create_dir(&drive).unwrap();
    image::RgbImage::from_pixel(12, 10, Rgb([1, 2, 3])).save(home.join("new.png")).unwrap();
    let (report, events) = run(&idx, &backbone, options(&[]));
    let report = report.unwrap();
    assert_eq!((report.photos, report.removed, report.offline, report.embedded), (9, 0, 5, 1), "{report:?}");
    assert!(events.iter().any(|e| matches!(e, IndexEvent::Offline { folder, photos: 5, .. } if *folder == drive)));
    let library = Library::open(&idx).unwrap();
    assert_eq!(library.offline().len(), 1);
    assert!(library.offline()[0].reason.contains("empty"));
    let features = library.features().unwrap();
    let everything = library.search_in(
        glimpse::index::library::Space::Features(features),
        features.row(0),
        &glimpse::index::library::SearchOptions { k: 100, ..Default::default() },
    );
    assert_eq!(everything.len(), 4, "offline photos are left out of results");
    assert!(everything.iter().all(|r| r.path.starts_with(&home)));
    // The mount point is gone altogether: still offline, still kept.
    std::fs::remove_dir(&drive).unwrap();
    let report = index_ok(&idx, &backbone, &[]);
    assert_eq!((report.photos, report.offline), (9, 5));
    // The drive is back: nothing is embedded again and the photos are found again.
    std::fs::rename(&away, &drive).unwrap();
    let report = index_ok(&idx, &backbone, &[]);
    assert_eq!((report.photos, report.embedded, report.offline, report.unchanged), (9, 0, 0, 9), "{report:?}");
    assert!(Library::open(&idx).unwrap().offline().is_empty());
    // Only an explicit remove takes a folder's photos out.
    let remove = IndexOptions { remove_roots: vec![drive], ..IndexOptions::default() };
    assert_eq!(run(&idx, &backbone, remove).0.unwrap().photos, 4);
}

#[test]
fn files_that_became_a_fifo_a_socket_a_device_or_a_folder_after_the_scan_are_refused_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let d = dir.path();
    let fifo = d.join("fifo.jpg");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let socket = d.join("socket.jpg");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let device = d.join("zero.jpg");
    std::os::unix::fs::symlink("/dev/zero", &device).unwrap();
    let folder = d.join("folder.jpg");
    std::fs::create_dir(&folder).unwrap();
    let vanished = d.join("vanished.jpg");
    let good = photos_in(&d.join("good"), 1, 0).join("0.png");
    let paths = vec![fifo, socket, device, folder, vanished, good];
    let job = pipeline::embed(&backbone, paths.clone(), EmbedOptions::default(), None).unwrap();
    let mut outcomes = vec![String::new(); paths.len()];
    for event in crate::util::drain(job.events()) {
        match event {
            EmbedEvent::Embedded(e) => outcomes[e.index] = "embedded".into(),
            EmbedEvent::Failed { index, error, .. } => outcomes[index] = error.to_string(),
        }
    }
    job.wait().unwrap().unwrap();
    assert!(outcomes[0].contains("not a regular file (it is a FIFO)"), "{outcomes:?}");
    assert!(outcomes[1].contains("it is a socket"), "{outcomes:?}");
    assert!(outcomes[2].contains("it is a device"), "{outcomes:?}");
    assert!(outcomes[3].contains("it is a folder"), "{outcomes:?}");
    assert!(outcomes[4].contains("cannot read"), "{outcomes:?}");
    assert_eq!(outcomes[5], "embedded");
}

#[test]
fn a_photo_over_the_size_limit_is_skipped_unread_with_the_limit_in_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let backbone = tiny(dir.path());
    let photos = photos_in(&dir.path().join("photos"), 2, 0);
    std::fs::write(photos.join("huge.jpg"), vec![0u8; 3 << 20]).unwrap();
    let mut opts = options(&[photos]);
    opts.embed.max_file_bytes = 2 << 20;
    let (report, events) = run(&dir.path().join("library.glimpse"), &backbone, opts);
    assert_eq!(report.unwrap().photos, 2);
    let reason = events
        .iter()
        .find_map(|e| match e {
            IndexEvent::Skipped { path, reason } if path.ends_with("huge.jpg") => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(reason.contains("larger than the 2 MB limit"), "{reason}");
}

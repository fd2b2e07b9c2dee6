//! The real app, driven headlessly with egui_kittest: real models, a real index built by the
//! app itself, real training on a generated dataset. Each test waits for the app's jobs by
//! stepping frames until the state it expects appears (with a generous deadline, not a
//! speed claim).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use glimpse::app::{GlimpseApp, Mark, PAGE, STORAGE_KEY, Settings, Startup, Tab};
use glimpse::finder::Subject;

use crate::need_shared;
use crate::util::{copy_photos, tiny_flickr8k, tiny_glove};

/// Deadline for a background job in these tests (debug build, 2 cores, other tests running).
const PATIENCE: Duration = Duration::from_secs(240);

fn harness(startup: Startup) -> Harness<'static, GlimpseApp> {
    Harness::builder().with_size(egui::vec2(1280.0, 900.0)).build_eframe(move |cc| GlimpseApp::new(cc, startup))
}

/// Steps frames until `done` holds, failing with `what` after [`PATIENCE`].
fn wait_for(h: &mut Harness<'static, GlimpseApp>, what: &str, done: impl Fn(&GlimpseApp) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done(h.state()) {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        assert!(
            !h.state().notices.iter().any(|n| n.error),
            "an error appeared while waiting for {what}: {:?}",
            h.state().notices
        );
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
}

fn type_into(h: &mut Harness<'static, GlimpseApp>, label: &str, text: &str) {
    let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, label);
    field.focus();
    field.type_text(text);
    h.step();
}

fn click(h: &mut Harness<'static, GlimpseApp>, label: &str) {
    h.get_by_label(label).click();
    h.step();
}

/// Adds `folder` to the library the way a person does in the Library view (which starts a run).
fn add_folder(h: &mut Harness<'static, GlimpseApp>, folder: &Path) {
    type_into(h, "or type its path", &folder.display().to_string());
    click(h, "Add folder");
}

/// The app on a fresh index in `dir`, models loaded.
fn app_on(dir: &Path, startup: Startup) -> Harness<'static, GlimpseApp> {
    let startup = Startup {
        index: Some(dir.join("library.glimpse")),
        fresh_settings: true,
        models_out: Some(dir.join("models")),
        ..startup
    };
    let mut h = harness(startup);
    wait_for(&mut h, "the models to load", |app| app.state.engine.is_some());
    h
}

/// The app on a fresh index in `dir` whose library is the folder `photos`, indexed by the app
/// and watched, with the search view open.
fn app_with_folder(dir: &Path, photos: &Path) -> Harness<'static, GlimpseApp> {
    let n = std::fs::read_dir(photos).unwrap().count();
    let mut h = app_on(dir, Startup::default());
    click(&mut h, "Library");
    add_folder(&mut h, photos);
    wait_for(&mut h, "the first run", |app| app.state.photos() == n && !app.state.indexing.running());
    wait_for(&mut h, "the watch", |app| app.state.watch.watching.as_ref().is_some_and(|(n, _)| *n == 1));
    click(&mut h, "Search");
    h
}

/// Photo names whose Flickr8k captions mention `word`.
fn captioned_with(shared: &Path, word: &str) -> HashSet<String> {
    let tokens = std::fs::read_to_string(shared.join("flickr8k/Flickr8k_text/Flickr8k.token.txt")).unwrap_or_default();
    tokens
        .lines()
        .filter(|l| l.to_lowercase().split(|c: char| !c.is_alphanumeric()).any(|w| w == word))
        .filter_map(|l| l.split('#').next().map(str::to_string))
        .collect()
}

fn names(app: &GlimpseApp) -> Vec<String> {
    app.state.search.results.iter().map(|r| file_name(&r.ranked.path)).collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().to_string()
}

#[test]
fn a_new_user_adds_the_sample_photos_types_a_query_and_sees_dogs_first_then_refines() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let mut h = app_on(dir.path(), Startup::default());
    // First run: the welcome screen says what to do.
    assert!(h.query_by_label("Welcome to Glimpse").is_some());
    // It promises no speed it has not measured on this computer.
    assert!(h.query_by_label_contains("photos a second").is_none(), "a rate claimed before any was measured");

    click(&mut h, "Library");
    add_folder(&mut h, &shared.join("photos"));
    // The library is reopened while the run goes on (finished photos join the results), so
    // the run is over once the reopened library holds every photo.
    wait_for(&mut h, "indexing to finish", |app| {
        !app.state.indexing.running()
            && app.state.finder.as_ref().is_some_and(|f| f.library.index.data.photos.len() == 120)
    });
    assert_eq!(h.state().state.finder.as_ref().unwrap().library.index.data.photos.len(), 120);
    let rate = h.state().settings.photos_per_second;
    assert!(rate.is_some_and(|r| r > 0.0), "the indexing rate was not remembered: {rate:?}");

    click(&mut h, "Search");
    assert_eq!(h.state().settings.tab, Tab::Search);
    // With nothing typed, the grid shows the library itself, a page of it.
    wait_for(&mut h, "the library's newest photos", |app| {
        app.state.search.browsing && app.state.search.results.len() == PAGE
    });
    type_into(&mut h, "Query", "a dog running through water");
    wait_for(&mut h, "a page of results", |app| {
        !app.state.search.busy() && !app.state.search.browsing && app.state.search.results.len() == PAGE
    });
    let dogs = captioned_with(&shared, "dog");
    let top = names(h.state());
    assert!(top[..3].iter().all(|n| dogs.contains(n)), "the first three are not all dogs: {top:?}");
    assert!(
        h.query_by_label(
            "Best matches for \u{201c}a dog running through water\u{201d} \u{b7} 50 shown, more as you scroll"
        )
        .is_some()
    );
    // The tiles fill the width: the columns drawn are what the zoom and the width allow.
    let columns = h.state().state.search.columns;
    assert!(columns >= 6, "a 1280-point window shows only {columns} columns of tiles");

    // Mark icons appear on the tile under the pointer only, not as buttons on every tile.
    assert!(h.query_all_by_label("Bad").next().is_none(), "mark buttons on tiles nobody points at");
    let first = h.state().state.search.results[0].ranked.path.clone();
    h.get_by_label(&file_name(&first)).hover();
    h.step();
    assert_eq!(h.query_all_by_label("Bad").count(), 1);
    // Marking the best result as bad moves it down and out of first place at once.
    h.get_by_label("Bad").click();
    h.step();
    assert_eq!(h.state().state.search.marks.get(&first), Some(&Mark::Bad));
    wait_for(&mut h, "the re-ranked grid", |app| {
        !app.state.search.busy() && app.state.search.results.first().is_some_and(|r| r.ranked.path != first)
    });
    // The command line answers the same request (query and mark) with the same photos.
    let shown: Vec<String> =
        h.state().state.search.results.iter().map(|r| r.ranked.path.display().to_string()).collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .args(["search", "--json", "-k", &PAGE.to_string(), "--index"])
        .arg(dir.path().join("library.glimpse"))
        .arg("a dog running through water")
        .arg("--less-like")
        .arg(&first)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let cli: Vec<String> = cli.iter().map(|r| r["path"].as_str().unwrap().to_string()).collect();
    assert_eq!(cli, shown, "the CLI and the window disagree");
    click(&mut h, "Clear marks");
    wait_for(&mut h, "the original ranking", |app| {
        !app.state.search.busy() && app.state.search.results.first().is_some_and(|r| r.ranked.path == first)
    });
    h.state_mut().state.search.selected = None;
    let first_page = names(h.state());
    // The "no strong match" cue is read on the typed query's own first ten results: the
    // same reading however many results are loaded and whatever is marked good.
    let cue = h.state().state.search.cue.expect("the shipped model has a no-match cue");
    // The tiles' tooltips give the cosine on the cue's scale: without marks, the best of the
    // first ten is what the cue read.
    let results = &h.state().state.search.results;
    let best = results[..10].iter().map(|r| r.cosine.expect("a text query's cosine")).fold(f32::MIN, f32::max);
    assert!((best - cue.best).abs() < 1e-5, "tiles' best cosine {best} against the cue's {}", cue.best);
    assert!(results.iter().all(|r| r.cosine.unwrap() > r.ranked.score), "the offsets are positive: {results:?}");

    // Ctrl + wheel over the grid zooms the tiles (and the zoom is a remembered setting).
    let before = (h.state().settings.tile, h.state().state.search.columns);
    h.get_by_label(&file_name(&first)).hover();
    for _ in 0..5 {
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Line,
            delta: egui::vec2(0.0, 3.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::COMMAND,
        });
        h.step();
    }
    let after = (h.state().settings.tile, h.state().state.search.columns);
    assert!(after.0 > before.0 && after.1 < before.1, "Ctrl+wheel did not zoom in: {before:?} -> {after:?}");

    // Scrolling to the end of the grid loads the next page, and the first stays as it was.
    assert_eq!(h.state().state.search.k, PAGE, "a page more was asked for before any scrolling");
    for _ in 0..40 {
        if h.state().state.search.k > PAGE {
            break;
        }
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -400.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        h.step();
    }
    wait_for(&mut h, "the second page", |app| !app.state.search.busy() && app.state.search.results.len() == 2 * PAGE);
    assert_eq!(names(h.state())[..PAGE], first_page[..], "the second page changed the first");
    assert_eq!(h.state().state.search.cue, Some(cue), "loading more results changed the cue");
    h.state_mut().settings.tile = glimpse::app::DEFAULT_TILE;
    h.state_mut().state.search.scroll_to_top = true;
    h.step();

    // Marking in the preview: the preview and the highlight follow the marked photo through
    // the re-ranking, so the next key marks that photo again, never the one now in its slot.
    let second = h.state().state.search.results[1].ranked.path.clone();
    h.key_press(egui::Key::ArrowDown);
    h.step();
    h.key_press(egui::Key::ArrowRight);
    h.step();
    h.key_press(egui::Key::Space);
    h.step();
    assert_eq!(h.state().state.search.preview, Some(1));
    h.key_press(egui::Key::G);
    h.step();
    wait_for(&mut h, "the good mark's ranking", |app| {
        !app.state.search.busy() && app.state.search.marks.get(&second) == Some(&Mark::Good)
    });
    let s = &h.state().state.search;
    assert_eq!(s.cue, Some(cue), "a good mark changed the cue");
    let now = s.results.iter().position(|r| r.ranked.path == second);
    assert!(now.is_some(), "a photo marked good left the results");
    assert_eq!((s.preview, s.selected), (now, now), "the preview did not follow the marked photo");
    h.key_press(egui::Key::B);
    h.step();
    wait_for(&mut h, "the bad mark's ranking", |app| {
        !app.state.search.busy() && app.state.search.marks.get(&second) == Some(&Mark::Bad)
    });
    assert_eq!(h.state().state.search.marks.len(), 1, "a mark landed on another photo");
    // The bad mark moved the photo down from where the good mark had it.
    let later = h.state().state.search.results.iter().position(|r| r.ranked.path == second);
    assert!(later.is_none_or(|l| Some(l) > now), "the bad mark did not move the photo down: {now:?} -> {later:?}");
    // A bad mark only takes its photo out of the ten the cue reads.
    let bad = h.state().state.search.cue.unwrap();
    assert!(bad.best <= cue.best && bad.threshold == cue.threshold, "{bad:?} against {cue:?}");
    // Esc closes the preview and keeps the marks; Ctrl+Z undoes one mark at a time.
    h.key_press(egui::Key::Escape);
    h.step();
    assert_eq!(h.state().state.search.preview, None);
    assert_eq!(h.state().state.search.marks.get(&second), Some(&Mark::Bad));
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.step();
    assert_eq!(h.state().state.search.marks.get(&second), Some(&Mark::Good));
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.step();
    assert!(h.state().state.search.marks.is_empty());
    wait_for(&mut h, "the unmarked ranking", |app| !app.state.search.busy());
    h.state_mut().state.search.selected = None;

    // Newest first: the same best matches, ordered by date.
    h.state_mut().settings.sort = glimpse::index::filter::SortOrder::Newest;
    h.state_mut().send(glimpse::app::Command::Search);
    // Commands run after a frame: step once so the search has started before waiting for it to end.
    h.step();
    assert!(h.state().state.search.busy(), "the search did not start");
    wait_for(&mut h, "the date order", |app| !app.state.search.busy());
    let dates: Vec<i64> = h.state().state.search.results.iter().map(|r| r.ranked.date).collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "not newest first: {dates:?}");

    // Keyboard: arrows select, Space previews, Escape closes the preview, then clears the query.
    h.key_press(egui::Key::ArrowDown);
    h.step();
    h.key_press(egui::Key::Space);
    h.step();
    assert_eq!(h.state().state.search.preview, Some(0));
    h.key_press(egui::Key::Escape);
    h.step();
    assert_eq!(h.state().state.search.preview, None);
    // A mark made before survives clearing the query (only "Clear marks" clears).
    let kept = h.state().state.search.results[0].ranked.path.clone();
    h.state_mut().send(glimpse::app::Command::Mark(kept.clone(), Some(Mark::Good)));
    h.step();
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().state.search.subject.is_empty());
    assert_eq!(h.state().state.search.marks.get(&kept), Some(&Mark::Good));
}

#[test]
fn indexing_started_in_the_app_can_be_cancelled_and_keeps_what_it_finished() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    // 120 photos, one per backbone call: Cancel is clicked once the first is done, with
    // seconds of work left.
    let photos = dir.path().join("photos");
    let total = copy_photos(&shared, &photos, usize::MAX).len();
    let mut h = app_on(dir.path(), Startup::default());
    h.state_mut().settings.batch_size = 1;
    click(&mut h, "Library");
    h.state_mut().send(glimpse::app::Command::AddFolder(photos));
    wait_for(&mut h, "a first photo", |app| app.state.indexing.running() && app.state.indexing.done >= 1);
    click(&mut h, "Cancel");
    assert!(h.state().state.indexing.stopping());
    wait_for(&mut h, "indexing to stop", |app| !app.state.indexing.running());
    let report = h.state().state.indexing.report.clone().expect("a report");
    assert!(report.stopped, "the run was not stopped: {report:?}");
    assert!(report.photos >= 1 && report.photos < total, "{report:?}");
    // What it finished is in the index, and updating it finishes the rest.
    wait_for(&mut h, "the partial library to open", |app| app.state.finder.is_some());
    let kept = h.state().state.finder.as_ref().unwrap().library.index.data.photos.len();
    assert_eq!(kept, report.photos);
    click(&mut h, "Update index");
    wait_for(&mut h, "the second run", |app| {
        !app.state.indexing.running() && app.state.indexing.report.as_ref().is_some_and(|r| !r.stopped)
    });
    assert_eq!(h.state().state.indexing.report.as_ref().unwrap().photos, total);
}

fn tiny_training_startup(dir: &Path) -> Startup {
    Startup {
        flickr8k: Some(tiny_flickr8k(dir)),
        glove: Some(tiny_glove(dir)),
        feature_cache: Some(dir.join("cache")),
        ..Startup::default()
    }
}

#[test]
fn a_tiny_training_run_advances_the_plots_and_its_model_becomes_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app_on(dir.path(), tiny_training_startup(dir.path()));
    click(&mut h, "Training");
    // "Shipped recipe" says what it set, and that one run is not the shipped model.
    click(&mut h, "Shipped recipe");
    assert!(h.query_by_label_contains("Shipped recipe set: mean encoder").is_some());
    assert!(h.query_by_label_contains("not the shipped model (a calibrated combination of four)").is_some());
    h.state_mut().settings.training.epochs = 3;
    click(&mut h, "Text encoder");
    h.run(); // the list opens over the next frames
    click(&mut h, "GRU (256 wide)");
    assert_eq!(h.state().settings.training.encoder.to_string(), "gru-256");
    // Asked to start without its data, training says why; once it starts, that error is gone.
    let flickr8k = std::mem::take(&mut h.state_mut().settings.flickr8k);
    click(&mut h, "Start training");
    assert!(h.state().notices.iter().any(|n| n.error && n.text.contains("Flickr8k")), "{:?}", h.state().notices);
    h.state_mut().settings.flickr8k = flickr8k;
    click(&mut h, "Start training");
    assert!(!h.state().notices.iter().any(|n| n.error), "a stale error stayed: {:?}", h.state().notices);
    wait_for(&mut h, "the first epoch", |app| !app.state.training.epochs.is_empty());
    assert!(!h.state().state.training.losses.is_empty(), "no loss point was plotted");
    wait_for(&mut h, "training to finish", |app| !app.state.training.running());
    let out: PathBuf = h.state().state.training.out.clone().unwrap();
    assert_eq!(h.state().state.training.epochs.len(), 3);
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"kind\": \"gru\""), "{manifest}");
    assert!(h.query_by_label("this run").is_some(), "no comparison table");
    let finished = h.query_by_label_contains("(all 3 epochs ran)").expect("no line saying how the run ended");
    assert!(finished.value().unwrap_or_default().contains(" of 3 "), "{finished:?}");
    // "Use this model" is the obvious next step only for a model that is not worse than the
    // current one; a worse one is offered as a small "Use it anyway" beside a warning.
    let report = h.state().state.training.report.clone().unwrap();
    let (_, current) = h.state().state.current_metrics().expect("the shipped model's dev metrics");
    let (offered, not) = if report.dev.t2i.r1 < current.t2i.r1 {
        ("Use it anyway", "Use this model")
    } else {
        ("Use this model", "Use it anyway")
    };
    assert!(h.query_by_label(not).is_none(), "{not:?} is offered for a model with dev R@1 {}", report.dev.t2i.r1);
    click(&mut h, offered);
    assert_eq!(h.state().settings.model.as_deref(), Some(out.as_path()));
    wait_for(&mut h, "the new model to load", |app| app.state.current_metrics().is_some_and(|(d, _)| d == out));
    assert!(h.query_by_label("This model is the active one.").is_some());
}

#[test]
fn the_annotator_shows_a_photo_with_its_five_captions_and_where_the_model_ranks_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app_on(dir.path(), tiny_training_startup(dir.path()));
    click(&mut h, "Annotator");
    click(&mut h, "Flickr8k");
    click(&mut h, "Load");
    wait_for(&mut h, "the dev split", |app| !app.state.annotator.items.is_empty());
    assert_eq!(h.state().state.annotator.items.len(), 8);
    let item = h.state().state.annotator.items[0].clone();
    for caption in &item.captions {
        assert!(h.query_by_label(caption).is_some(), "caption {caption:?} is not shown");
    }
    click(&mut h, "Rank with the current model");
    wait_for(&mut h, "caption ranks", |app| app.state.annotator.ranks.is_some());
    let ranks = h.state().state.annotator.ranks.as_ref().unwrap().ranks[0].clone();
    assert_eq!(ranks.len(), 5);
    assert!(ranks.iter().all(|r| (1..=8).contains(r)), "ranks out of range: {ranks:?}");
    assert!(h.get_all_by_label(&format!("rank {:>4}", ranks[0])).next().is_some());
    // Filtering by a word keeps only the photos whose captions have it.
    assert!(h.query_by_label_contains("worst: the lowest rank the current model gives").is_some());
    type_into(&mut h, "Captions with", "purple");
    assert!(h.query_by_label("1 photos").is_some());
    // The detail follows the filter: it shows the photo left in the list, not the one before.
    h.step();
    let an = &h.state().state.annotator;
    let shown = an.selected.map(|i| an.items[i].image.clone());
    assert_eq!(shown.as_deref(), Some("purple_1.jpg"), "the detail shows a photo the filter left out");
}

#[test]
fn the_duplicates_view_groups_each_photo_with_its_copies() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    for copy in copy_photos(&shared, &photos, 3) {
        glimpse::bench::duplicates::make_copies(&copy, &photos).unwrap();
    }
    let mut h = app_on(dir.path(), Startup::default());
    h.state_mut().send(glimpse::app::Command::AddFolder(photos));
    wait_for(&mut h, "indexing", |app| app.state.indexing.running());
    wait_for(&mut h, "the library", |app| !app.state.indexing.running() && app.state.finder.is_some());
    click(&mut h, "Duplicates");
    click(&mut h, "Find duplicates");
    wait_for(&mut h, "the groups", |app| app.state.duplicates.groups.is_some());
    let groups = h.state().state.duplicates.groups.clone().unwrap();
    assert_eq!(groups.len(), 3);
    assert!(groups.iter().all(|g| g.len() == 4));
    assert!(h.query_by_label("Group 1 \u{b7} 4 photos").is_some());
    // A stricter threshold (the view's slider) groups fewer copies: crops fall out first.
    h.state_mut().state.duplicates.threshold = 0.99;
    h.state_mut().send(glimpse::app::Command::FindDuplicates);
    h.step();
    wait_for(&mut h, "the stricter groups", |app| !app.state.duplicates.running());
    let strict: usize = h.state().state.duplicates.groups.as_ref().unwrap().iter().map(Vec::len).sum();
    assert!(strict < 12, "a threshold of 0.99 still grouped every copy");
}

/// An AccessKit node's rectangle, in points (the harness draws at one pixel per point).
fn bounds(node: &egui_kittest::kittest::AccessKitNode<'_>) -> egui::Rect {
    let b = node.bounding_box().expect("every egui node has a rectangle");
    egui::Rect::from_min_max(egui::pos2(b.x0 as f32, b.y0 as f32), egui::pos2(b.x1 as f32, b.y1 as f32))
}

#[test]
fn at_640_by_480_tabs_status_and_labelled_fields_stay_apart_and_whole() {
    let dir = tempfile::tempdir().unwrap();
    let startup = Startup {
        index: Some(dir.path().join("library.glimpse")),
        fresh_settings: true,
        models_out: Some(dir.path().join("models")),
        ..Startup::default()
    };
    let size = egui::vec2(640.0, 480.0);
    let mut h = Harness::builder().with_size(size).build_eframe(move |cc| GlimpseApp::new(cc, startup));
    wait_for(&mut h, "the models to load", |app| app.state.engine.is_some());
    let tabs = ["Search", "Library", "Training", "Annotator", "Duplicates", "Settings"];
    for tab in tabs {
        h.get_all_by_label(tab).next().unwrap().click();
        h.step();
        h.step();
        // With no library, the annotator's fields are Flickr8k's.
        if tab == "Annotator" {
            click(&mut h, "Flickr8k");
            h.step();
        }
        // The status text is whole, inside the window, and clear of every tab.
        let status = h.state().state.status_line();
        let shown = h.get_by_label(&status).rect();
        assert!(
            shown.min.x >= 0.0 && shown.max.x <= size.x + 0.5,
            "{tab}: the status text leaves the window: {shown:?}"
        );
        for other in tabs {
            let button = h.get_all_by_label(other).next().unwrap().rect();
            assert!(!button.intersects(shown), "{tab}: the status text {shown:?} overlaps the {other} tab {button:?}");
        }
        // Every field with a label has it on its row, beside it (a slider's unit after it).
        let labelled: Vec<_> =
            h.query_all(egui_kittest::kittest::By::new().predicate(|n| n.labelled_by().next().is_some())).collect();
        assert!(
            !labelled.is_empty() || tab == "Settings" || tab == "Duplicates" || tab == "Library",
            "{tab}: no labelled field"
        );
        for field in labelled {
            let at = field.rect();
            for label in field.accesskit_node().labelled_by() {
                let by = bounds(&label);
                let name = label.value().unwrap_or_default();
                assert!(
                    by.max.y > at.min.y
                        && by.min.y < at.max.y
                        && (by.max.x <= at.min.x + 1.0 || by.min.x >= at.max.x - 1.0),
                    "{tab}: the label {name:?} ({by:?}) is not on the row of its field ({at:?})"
                );
            }
        }
    }
    // The date fields are wide enough for their placeholder.
    h.get_all_by_label("Search").next().unwrap().click();
    h.step();
    let font = egui::TextStyle::Body.resolve(&h.ctx.global_style());
    let hint = h.ctx.fonts_mut(|f| f.layout_no_wrap("YYYY-MM-DD".into(), font, egui::Color32::WHITE).size().x);
    for name in ["After", "Before"] {
        let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, name).rect();
        assert!(
            field.width() >= hint + 8.0,
            "the {name} field ({} points) cuts off its {hint}-point placeholder",
            field.width()
        );
    }
}

#[test]
fn cancelling_a_run_that_adds_photos_keeps_every_photo_searchable_by_text() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    copy_photos(&shared, &old, 20);
    // A second folder large enough to cancel mid-run: Flickr8k photos, linked.
    let new = dir.path().join("new");
    std::fs::create_dir_all(&new).unwrap();
    let flickr = shared.join("flickr8k/Flicker8k_Dataset");
    let mut names: Vec<_> = std::fs::read_dir(&flickr).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    for name in names.iter().take(400) {
        std::os::unix::fs::symlink(flickr.join(name), new.join(name)).unwrap();
    }
    let mut h = app_on(dir.path(), Startup::default());
    let photos = |app: &GlimpseApp| app.state.finder.as_ref().map_or(0, |f| f.library.index.data.photos.len());
    click(&mut h, "Library");
    add_folder(&mut h, &old);
    wait_for(&mut h, "the first folder", |app| !app.state.indexing.running() && photos(app) == 20);
    add_folder(&mut h, &new);
    wait_for(&mut h, "the second run to embed some photos", |app| app.state.indexing.done >= 16);
    click(&mut h, "Cancel");
    wait_for(&mut h, "the run to stop", |app| !app.state.indexing.running() && photos(app) > 20);
    let indexed = photos(h.state());
    assert!(indexed < 420, "the run was not stopped mid-way: {indexed}");

    click(&mut h, "Search");
    type_into(&mut h, "Query", "a dog");
    wait_for(&mut h, "an answer", |app| {
        !app.state.search.busy() && (app.state.search.error.is_some() || !app.state.search.browsing)
    });
    let search = &h.state().state.search;
    assert_eq!(search.error, None, "text search must work after a cancelled run");
    // Every photo, the 20 from before and each one the cancelled run finished, is ranked.
    assert_eq!(search.unranked, 0);
    assert_eq!(search.results.len(), indexed.min(PAGE), "{indexed} photos indexed");
}

/// Settings storage in memory, as eframe's file storage keeps them between runs.
#[derive(Clone, Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }

    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }

    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }

    fn flush(&mut self) {}
}

/// The settings `app` leaves behind when the window closes, saved over `storage`.
fn saved_over(app: &mut GlimpseApp, storage: &MemoryStorage) -> Settings {
    let mut saved = storage.clone();
    eframe::App::save(app, &mut saved);
    Settings::from_stored(saved.0.get(STORAGE_KEY).expect("no settings stored"))
}

#[test]
fn a_one_off_library_and_fresh_settings_are_never_remembered() {
    let dir = tempfile::tempdir().unwrap();
    let remembered = Settings {
        index: PathBuf::from("/home/someone/family.glimpse"),
        tile: 240.0,
        tab: Tab::Library,
        flickr8k: "/data/flickr8k".into(),
        ..Settings::default()
    };
    let mut stored = MemoryStorage::default();
    eframe::set_value(&mut stored, STORAGE_KEY, &remembered);
    let storage: &'static MemoryStorage = Box::leak(Box::new(stored.clone()));
    let one_off = dir.path().join("x").join("lib.glimpse");
    let open = |startup: Startup| {
        Harness::builder().with_size(egui::vec2(1280.0, 900.0)).build_eframe(move |cc| {
            cc.storage = Some(storage);
            GlimpseApp::new(cc, startup)
        })
    };

    // `glimpse app --index X --fresh-settings --view settings`: the run uses X and the
    // defaults, and whatever it changes, the person's settings stay as they were.
    let mut h = open(Startup {
        index: Some(one_off.clone()),
        fresh_settings: true,
        tab: Some(Tab::Settings),
        ..Startup::default()
    });
    assert_eq!(h.state().settings.index, one_off);
    assert_eq!(h.state().settings.tile, glimpse::app::DEFAULT_TILE, "a fresh run read the remembered zoom");
    h.state_mut().settings.tile = 300.0;
    assert_eq!(
        saved_over(h.state_mut(), &stored),
        remembered,
        "a fresh-settings run overwrote the remembered settings"
    );

    // `glimpse app --index X`: the remembered settings with X for this run only; what the
    // person changes in the window is remembered, the one-off library and view are not.
    let mut h = open(Startup { index: Some(one_off.clone()), tab: Some(Tab::Settings), ..Startup::default() });
    assert_eq!((h.state().settings.index.clone(), h.state().settings.tile), (one_off.clone(), 240.0));
    h.state_mut().settings.tile = 300.0;
    let saved = saved_over(h.state_mut(), &stored);
    assert_eq!(saved.index, remembered.index, "the one-off library became the remembered one");
    assert_eq!(saved.tab, Tab::Library, "the one-off view became the remembered one");
    assert_eq!(saved.tile, 300.0, "a change made in the window was not remembered");

    // Training data of a one-off library stays with it, not in the person's cache.
    let startup = Startup { index: Some(one_off.clone()), fresh_settings: true, ..Startup::default() };
    assert_eq!(startup.feature_cache(), dir.path().join("x").join("lib.features"));
    assert_eq!(startup.models_out(), dir.path().join("x").join("lib.models"));
    assert_eq!(Startup::default().feature_cache(), glimpse::train::features::default_cache_dir());
}

/// The app on an empty library in `dir` with fresh settings; the models load in the background.
fn quick_app(dir: &Path, size: egui::Vec2) -> Harness<'static, GlimpseApp> {
    let startup = Startup {
        index: Some(dir.join("library.glimpse")),
        fresh_settings: true,
        models_out: Some(dir.join("models")),
        ..Startup::default()
    };
    Harness::builder().with_size(size).build_eframe(move |cc| GlimpseApp::new(cc, startup))
}

#[test]
fn esc_on_an_open_dropdown_closes_only_the_dropdown_and_keeps_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = quick_app(dir.path(), egui::vec2(1280.0, 900.0));
    let query = Subject::Text("a dog running through water".into());
    h.state_mut().state.search.subject = query.clone();
    h.step();
    for dropdown in ["Order", "In folder"] {
        h.get_by_role_and_label(egui::accesskit::Role::ComboBox, dropdown).click();
        h.step();
        h.step();
        assert!(egui::Popup::is_any_open(&h.ctx), "the {dropdown} dropdown did not open");
        h.key_press(egui::Key::Escape);
        h.step();
        assert!(!egui::Popup::is_any_open(&h.ctx), "Esc left the {dropdown} dropdown open");
        assert_eq!(h.state().state.search.subject, query, "Esc on the open {dropdown} dropdown cleared the query");
        assert!(h.state().state.search.edited.is_none(), "Esc on the open {dropdown} dropdown started a search");
    }
    // With no dropdown open, Esc clears the query as before.
    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().state.search.subject.is_empty(), "Esc no longer clears the query");
}

#[test]
fn ctrl_z_whose_ctrl_comes_and_goes_within_one_frame_undoes_a_mark() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = quick_app(dir.path(), egui::vec2(1280.0, 900.0));
    h.state_mut().state.search.subject = Subject::Text("a dog".into());
    h.step();
    // Nothing has the keyboard: the keys are the grid's.
    h.ctx.memory_mut(|m| {
        if let Some(id) = m.focused() {
            m.surrender_focus(id);
        }
    });
    let photo = PathBuf::from("/photos/dog.jpg");
    h.state_mut().send(glimpse::app::Command::Mark(photo.clone(), Some(Mark::Good)));
    h.step();
    assert_eq!(h.state().state.search.marks.get(&photo), Some(&Mark::Good));
    // `xdotool key ctrl+z`: Ctrl down, Z down and up, Ctrl up, all read in one frame, whose
    // modifiers at its end are none.
    let z = |pressed| egui::Event::Key {
        key: egui::Key::Z,
        physical_key: None,
        pressed,
        repeat: false,
        modifiers: egui::Modifiers::COMMAND,
    };
    h.input_mut().events.extend([
        egui::Event::ModifiersChanged(egui::Modifiers::COMMAND),
        z(true),
        z(false),
        egui::Event::ModifiersChanged(egui::Modifiers::NONE),
    ]);
    h.step();
    h.step();
    assert!(h.state().state.search.marks.is_empty(), "Ctrl+Z within one frame was missed");
}

#[test]
fn a_window_remembered_from_a_small_screen_opens_at_a_share_of_a_large_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let monitor = egui::vec2(2560.0, 1440.0);
    // 640×480 remembered, opened on a 2560×1440 display.
    let mut h = quick_app(dir.path(), egui::vec2(640.0, 480.0));
    h.input_mut().viewports.get_mut(&egui::ViewportId::ROOT).unwrap().monitor_size = Some(monitor);
    h.step();
    h.step();
    let size = h.ctx.content_rect().size();
    assert_eq!(size, monitor * glimpse::app::WINDOW_FRACTION, "the window stayed {size:?} on a {monitor:?} monitor");
    // Once open, the person's own sizing stands: the size is checked at start only.
    h.set_size(egui::vec2(700.0, 500.0));
    h.step();
    h.step();
    assert_eq!(h.ctx.content_rect().size(), egui::vec2(700.0, 500.0));

    // A size that suits the monitor is kept.
    let mut h = quick_app(dir.path(), egui::vec2(1600.0, 1000.0));
    h.input_mut().viewports.get_mut(&egui::ViewportId::ROOT).unwrap().monitor_size = Some(monitor);
    h.step();
    h.step();
    assert_eq!(h.ctx.content_rect().size(), egui::vec2(1600.0, 1000.0));
}

#[test]
fn stopping_training_before_it_has_a_model_is_reported_as_a_stop_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = app_on(dir.path(), tiny_training_startup(dir.path()));
    click(&mut h, "Training");
    click(&mut h, "Start training");
    assert!(h.state().state.training.running(), "training did not start");
    click(&mut h, "Stop");
    // `wait_for` fails on any error notice: a stop asked for is none.
    wait_for(&mut h, "training to stop", |app| !app.state.training.running());
    let notices = &h.state().notices;
    let stop = notices.iter().find(|n| n.text.starts_with("Training stopped")).unwrap_or_else(|| {
        panic!("no notice says the training stopped: {notices:?}");
    });
    assert!(!stop.error, "the stop is shown as an error: {stop:?}");
    assert!(stop.text.contains("kept"), "the stop does not say what was kept: {stop:?}");
    assert!(h.state().state.training.error.is_none(), "the panel shows the stop as a failure");
}

#[test]
fn the_window_says_which_words_it_ignored_or_read_as_others_and_shows_no_photos_for_a_query_of_only_such_words() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    copy_photos(&shared, &photos, 6);
    let mut h = app_with_folder(dir.path(), &photos);
    type_into(&mut h, "Query", "a xyzzy dog");
    wait_for(&mut h, "the results", |app| {
        !app.state.search.busy() && !app.state.search.browsing && app.state.search.results.len() == 6
    });
    assert_eq!(h.state().state.search.ignored, ["xyzzy"]);
    assert!(h.query_by_label("Ignored \u{201c}xyzzy\u{201d}: Glimpse has no vector for this word.").is_some());

    // A typo is read as the word meant, and the line says so.
    h.key_press(egui::Key::Escape);
    h.step();
    type_into(&mut h, "Query", "a dog on the grsas");
    wait_for(&mut h, "the results", |app| {
        !app.state.search.busy() && !app.state.search.browsing && !app.state.search.read.is_empty()
    });
    assert!(h.state().state.search.ignored.is_empty());
    assert!(h.query_by_label("Read \u{201c}grsas\u{201d} as \u{201c}grass\u{201d}.").is_some());

    h.key_press(egui::Key::Escape);
    h.step();
    assert!(h.state().state.search.subject.is_empty());
    type_into(&mut h, "Query", "xyzzy zqxjk");
    wait_for(&mut h, "the answer", |app| !app.state.search.busy() && app.state.search.error.is_some());
    assert!(h.state().state.search.results.is_empty(), "photos shown for words without a vector");
    assert!(h.query_by_label_contains("Glimpse knows none of the words of").is_some());
}

#[test]
fn marks_belong_to_the_query_they_were_made_in_and_are_offered_to_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = quick_app(dir.path(), egui::vec2(1280.0, 900.0));
    let search_for = |h: &mut Harness<'static, GlimpseApp>, text: &str| {
        h.state_mut().state.search.subject = Subject::Text(text.into());
        h.state_mut().state.search.edited = Some(Instant::now() - Duration::from_secs(5));
        h.step();
        h.step();
    };
    search_for(&mut h, "a dog");
    let (dog, puppy) = (PathBuf::from("/photos/dog.jpg"), PathBuf::from("/photos/puppy.jpg"));
    h.state_mut().send(glimpse::app::Command::Mark(dog.clone(), Some(Mark::Good)));
    h.state_mut().send(glimpse::app::Command::Mark(puppy.clone(), Some(Mark::Bad)));
    h.step();
    assert_eq!(h.state().state.search.marks.len(), 2);

    // A new query starts without them: they would fill its grid with dogs.
    search_for(&mut h, "a red car");
    assert!(h.state().state.search.marks.is_empty(), "the marks of \u{201c}a dog\u{201d} carried into another query");
    let offer = "Use 2 marks from \u{201c}a dog\u{201d}";
    assert!(h.query_by_label(offer).is_some(), "the marks are not offered to the new query");

    // Asking "a dog" again gives them back by themselves.
    search_for(&mut h, "a dog ");
    assert_eq!(h.state().state.search.marks.get(&dog), Some(&Mark::Good));
    assert_eq!(h.state().state.search.marks.get(&puppy), Some(&Mark::Bad));
    assert!(h.query_by_label(offer).is_none());

    // One click takes them into another query, where they then belong.
    search_for(&mut h, "a puppy on grass");
    click(&mut h, offer);
    h.step();
    let search = &h.state().state.search;
    assert_eq!(search.marks.len(), 2, "the offered marks were not taken");
    assert_eq!(search.marks_for, Subject::Text("a puppy on grass".into()));
    assert!(search.parked.is_none());

    // Clear marks ends them all, offered ones included.
    search_for(&mut h, "a beach");
    click(&mut h, "Clear marks");
    h.step();
    assert!(h.state().state.search.marks.is_empty() && h.state().state.search.parked.is_none());
}

#[test]
fn photos_copied_into_and_deleted_from_a_library_folder_while_the_window_is_open_come_and_go_by_themselves() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let staged = dir.path().join("staged");
    let all = copy_photos(&shared, &staged, 8);
    for p in &all[..3] {
        std::fs::create_dir_all(&photos).unwrap();
        std::fs::rename(p, photos.join(p.file_name().unwrap())).unwrap();
    }
    let mut h = app_on(dir.path(), Startup::default());
    click(&mut h, "Library");
    add_folder(&mut h, &photos);
    wait_for(&mut h, "the first run", |app| app.state.photos() == 3 && !app.state.indexing.running());
    wait_for(&mut h, "the watch", |app| app.state.watch.watching.as_ref().is_some_and(|(n, _)| *n == 1));
    h.get_by_label_contains("Watching these folders");
    // Five photos copied into a new subfolder, no button pressed.
    let later = photos.join("later");
    std::fs::create_dir_all(&later).unwrap();
    for p in &all[3..] {
        std::fs::copy(p, later.join(p.file_name().unwrap())).unwrap();
    }
    wait_for(&mut h, "the copied photos", |app| app.state.photos() == 8 && !app.state.indexing.running());
    std::fs::remove_file(photos.join(all[0].file_name().unwrap())).unwrap();
    wait_for(&mut h, "the deleted photo to go", |app| app.state.photos() == 7 && !app.state.indexing.running());
    let report = h.state().state.indexing.report.clone().expect("a run's report");
    assert_eq!((report.photos, report.removed), (7, 1), "{report:?}");
}

#[test]
fn marks_saved_as_a_concept_are_a_chip_and_its_name_finds_its_photos_in_a_query() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    copy_photos(&shared, &photos, 8);
    let mut h = app_with_folder(dir.path(), &photos);
    type_into(&mut h, "Query", "a dog");
    wait_for(&mut h, "the results", |app| {
        !app.state.search.busy() && !app.state.search.browsing && app.state.search.results.len() == 8
    });
    let results = &h.state().state.search.results;
    let (first, second, last) =
        (results[0].ranked.path.clone(), results[1].ranked.path.clone(), results[7].ranked.path.clone());
    h.state_mut().send(glimpse::app::Command::Mark(first.clone(), Some(Mark::Good)));
    h.state_mut().send(glimpse::app::Command::Mark(second.clone(), Some(Mark::Good)));
    h.state_mut().send(glimpse::app::Command::Mark(last.clone(), Some(Mark::Bad)));
    h.step();
    wait_for(&mut h, "the marks to re-rank", |app| !app.state.search.busy());
    assert_eq!(h.state().state.search.marks.len(), 3);

    click(&mut h, "Save as concept\u{2026}");
    h.step();
    type_into(&mut h, "Name", "Rex");
    click(&mut h, "Save");
    wait_for(&mut h, "the concept to be saved", |app| {
        !app.state.concepts.busy() && app.state.concepts.list.iter().any(|c| c.name == "Rex")
    });
    let saved = h.state().notices.iter().any(|n| n.text.starts_with("Saved \u{201c}Rex\u{201d}: 2 photos"));
    assert!(saved, "no notice says it was saved: {:?}", h.state().notices);
    let file = dir.path().join("library.concepts.json");
    let kept: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(kept["concepts"][0]["examples"].as_array().unwrap().len(), 2);
    assert_eq!(kept["concepts"][0]["negatives"][0]["path"], last.to_str().unwrap());

    // A new query with the concept's name: the chip lights up and its photos lead.
    h.key_press(egui::Key::Escape);
    h.step();
    h.get_by_role_and_label(egui::accesskit::Role::Button, "Rex").click();
    h.step();
    assert_eq!(h.state().state.search.subject, Subject::Text("Rex".into()), "the chip adds its name to the query");
    wait_for(&mut h, "the concept's results", |app| {
        !app.state.search.busy() && app.state.search.concepts.iter().any(|c| c.name == "Rex")
    });
    assert!(h.state().state.search.marks.is_empty(), "a new query starts without the marks");
    let top: Vec<PathBuf> = h.state().state.search.results.iter().take(2).map(|r| r.ranked.path.clone()).collect();
    assert!(top.contains(&first) && top.contains(&second), "the concept's photos do not lead: {top:?}");
    let chip = h.get_by_role_and_label(egui::accesskit::Role::Button, "Rex");
    let toggled = chip.accesskit_node().toggled();
    assert_eq!(toggled, Some(egui::accesskit::Toggled::True), "the chip does not show the query uses it");
}

#[test]
fn a_query_saved_as_a_collection_counts_its_photos_and_grows_when_matching_photos_are_copied_in() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let staged = dir.path().join("staged");
    let all = copy_photos(&shared, &staged, 8);
    std::fs::create_dir_all(&photos).unwrap();
    for p in &all[..3] {
        std::fs::rename(p, photos.join(p.file_name().unwrap())).unwrap();
    }
    let mut h = app_with_folder(dir.path(), &photos);
    type_into(&mut h, "Query", "a dog");
    wait_for(&mut h, "the results", |app| !app.state.search.busy() && !app.state.search.browsing);
    click(&mut h, "Save as collection\u{2026}");
    h.step();
    type_into(&mut h, "Collection name", "Dogs");
    click(&mut h, "Save collection");
    let count =
        |app: &GlimpseApp| app.state.concepts.collections.iter().find(|c| c.name == "Dogs").map(|c| (c.photos, c.new));
    wait_for(&mut h, "the collection", |app| !app.state.concepts.busy() && count(app).is_some());
    assert_eq!(count(h.state()), Some((3, 0)), "it starts with the query's results");
    assert!(h.query_by_label("Dogs \u{b7} 3").is_some(), "the chip does not show the count");

    // Five photos copied into the folder, no button pressed: those that match join, as new.
    for p in &all[3..] {
        std::fs::copy(p, photos.join(p.file_name().unwrap())).unwrap();
    }
    wait_for(&mut h, "the copied photos to join", |app| {
        app.state.photos() == 8 && !app.state.concepts.busy() && count(app).is_some_and(|(n, _)| n > 3)
    });
    let (n, new) = count(h.state()).unwrap();
    assert_eq!(new, n - 3, "the photos that joined are the new ones");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("library.concepts.json")).unwrap()).unwrap();
    assert_eq!(kept["collections"][0]["members"].as_array().unwrap().len(), n);

    // Its chip shows its photos, the new ones flagged; then none is new.
    click(&mut h, &format!("Dogs \u{b7} {n}, {new} new"));
    wait_for(&mut h, "the collection's photos", |app| {
        !app.state.search.busy() && !app.state.concepts.busy() && app.state.search.results.len() == n
    });
    let shown: Vec<PathBuf> = h.state().state.search.results.iter().map(|r| r.ranked.path.clone()).collect();
    let flagged = shown.iter().filter(|p| h.state().state.search.is_new_in_collection(p)).count();
    assert_eq!(flagged, new, "the photos that joined are not the ones flagged new");
    assert!(h.query_by_label(&format!("Dogs \u{b7} {n}")).is_some(), "opened, its photos still count as new");

    // A photo taken out stays out; added back by hand from another search, it stays in.
    let out = file_name(&shown[0]);
    h.get_by_label(&out).click_secondary();
    h.run_steps(2);
    click(&mut h, "Remove from \u{201c}Dogs\u{201d}");
    wait_for(&mut h, "the photo taken out", |app| {
        !app.state.concepts.busy() && !app.state.search.busy() && count(app) == Some((n - 1, 0))
    });
    assert!(!names(h.state()).contains(&out), "the grid still shows the photo taken out");
    type_into(&mut h, "Query", "a photo");
    wait_for(&mut h, "the results", |app| !app.state.search.busy() && names(app).contains(&out));
    h.get_by_label(&out).click_secondary();
    h.run_steps(2);
    click(&mut h, "Add to collection");
    h.run_steps(2);
    click(&mut h, "Dogs");
    wait_for(&mut h, "the photo added back", |app| !app.state.concepts.busy() && count(app) == Some((n, 0)));
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("library.concepts.json")).unwrap()).unwrap();
    let pinned = kept["collections"][0]["pinned"].as_array().unwrap();
    assert_eq!(pinned.len(), 1, "the photo added by hand is not pinned: {pinned:?}");
}

#[test]
fn three_photos_captioned_in_the_annotator_are_found_first_by_their_words() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    copy_photos(&shared, &photos, 6);
    let mut h = app_with_folder(dir.path(), &photos);
    click(&mut h, "Annotator");
    wait_for(&mut h, "the library's captions", |app| !app.state.annotator.library.reading());
    assert!(h.query_by_label("0 of 6 photos have a caption").is_some());
    let captions = ["Rex asleep on grandma's sofa", "the blue house at Christmas", "Aunt Mira's birthday cake"];
    // The list starts at the first photo; Enter keeps each caption and shows the next
    // photo without one.
    let mut captioned = Vec::new();
    for caption in captions {
        let shown = {
            let lib = &h.state().state.annotator.library;
            lib.photos[lib.selected.unwrap()].path.clone()
        };
        type_into(&mut h, "Caption", caption);
        h.key_press(egui::Key::Enter);
        h.run_steps(2);
        captioned.push((shown, caption));
    }
    wait_for(&mut h, "the captions to be kept", |app| !app.state.annotator.library.saving());
    assert!(h.query_by_label("3 of 6 photos have a caption").is_some());
    let distinct: HashSet<&PathBuf> = captioned.iter().map(|(p, _)| p).collect();
    assert_eq!(distinct.len(), 3, "Enter did not move on to the next photo");
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("library.concepts.json")).unwrap()).unwrap();
    assert_eq!(kept["captions"].as_array().unwrap().len(), 3);

    // The filter finds a photo by its caption's words.
    type_into(&mut h, "Photos with", "cake");
    assert!(h.query_by_label("1 photos").is_some());

    click(&mut h, "Search");
    for (photo, caption) in &captioned {
        let words = caption.split_whitespace().skip(1).take(3).collect::<Vec<_>>().join(" ");
        h.state_mut().state.search.subject = Subject::Text(words.clone());
        h.state_mut().send(glimpse::app::Command::Search);
        wait_for(&mut h, "the results", |app| {
            !app.state.search.busy()
                && app.state.search.answered.as_deref() == Some(&format!("\u{201c}{words}\u{201d}"))
        });
        let first = h.state().state.search.results.first().map(|r| r.ranked.path.clone());
        assert_eq!(first.as_ref(), Some(photo), "{words:?} does not find its captioned photo first");
    }
}

#[test]
fn six_captions_written_in_the_annotator_personalise_the_model_and_the_better_model_becomes_the_active_one() {
    let shared = need_shared!();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("photos");
    let photos = copy_photos(&shared, &folder, 40);
    let startup = Startup {
        flickr8k: Some(tiny_flickr8k(dir.path())),
        feature_cache: Some(dir.path().join("cache")),
        ..Startup::default()
    };
    let mut h = app_on(dir.path(), startup);
    click(&mut h, "Library");
    add_folder(&mut h, &folder);
    wait_for(&mut h, "the first run", |app| app.state.photos() == 40 && !app.state.indexing.running());
    click(&mut h, "Training");
    assert!(h.query_by_label("Write at least 5 captions in the Annotator first (5 more).").is_some());

    // The person's dog, captioned by its name in the annotator.
    click(&mut h, "Annotator");
    wait_for(&mut h, "the library's captions", |app| !app.state.annotator.library.reading());
    let dogs = crate::util::dog_photos(&shared, &photos);
    let dogs: Vec<PathBuf> =
        dogs.iter().map(|p| std::fs::canonicalize(folder.join(p.file_name().unwrap())).unwrap()).collect();
    for (dog, caption) in dogs.iter().zip(crate::util::PERSONAL_CAPTIONS) {
        let at =
            h.state().state.annotator.library.photos.iter().position(|p| p.path == *dog).expect("the dog is listed");
        h.state_mut().state.annotator.library.selected = Some(at);
        h.run_steps(2);
        type_into(&mut h, "Caption", caption);
        h.key_press(egui::Key::Enter);
        h.run_steps(2);
    }
    wait_for(&mut h, "the captions to be kept", |app| !app.state.annotator.library.saving());
    assert!(h.query_by_label("6 of 40 photos have a caption").is_some());

    click(&mut h, "Training");
    click(&mut h, "Personalise");
    wait_for(&mut h, "personalising", |app| app.state.training.personal.outcome.is_some());
    let outcome = h.state().state.training.personal.outcome.clone().unwrap();
    assert_eq!((outcome.comparison.trained, outcome.comparison.held_out), (5, 1));
    assert!(h.query_by_label("held-out R@1 / 5 / 10").is_some());
    let written = outcome.written.clone().expect("the held-out dog ranks better, so the model is offered");
    assert!(written.starts_with(dir.path().join("models")), "{written:?}");
    click(&mut h, "Use this model");
    wait_for(&mut h, "the personalised model", |app| {
        app.state.finder.as_ref().and_then(|f| f.text_model_dir()) == Some(written.as_path())
    });
    h.run_steps(2);
    assert!(h.query_by_label("The personalised model is the active one.").is_some());
    // The library is searched with it as it is: no photo is projected again.
    let finder = h.state().state.finder.clone().unwrap();
    assert!(finder.text_problem().is_none(), "{:?}", finder.text_problem());
    click(&mut h, "Search");
    h.state_mut().state.search.subject = Subject::Text("a dog in the grass".into());
    h.state_mut().send(glimpse::app::Command::Search);
    wait_for(&mut h, "the results", |app| !app.state.search.busy() && !app.state.search.results.is_empty());
}

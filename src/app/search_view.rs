//! The search view: the query box, filters and order, the result grid, the preview.
//! Keys: typing searches; Enter searches at once; arrows move through the grid; Space or
//! Enter on a selected result opens the preview; G / B mark it good / bad; Esc closes the
//! preview, then clears the query.

use eframe::egui;

use super::logic::{Command, Mark, ResultItem, date_label, library_roots};
use super::{GlimpseApp, Tab};
use crate::finder::Subject;
use crate::index::filter::{SortOrder, format_date};

/// Side of a grid cell's thumbnail, in points.
const CELL: f32 = 168.0;
/// Space between cells, in points.
const CELL_GAP: f32 = 12.0;
/// Decoded size of grid thumbnails (the index stores 256 px).
const THUMB_SIDE: u32 = 256;
/// Decoded size of the preview.
const PREVIEW_SIDE: u32 = 1280;

/// Draws the view.
pub fn show(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    query_row(app, ui);
    options_row(app, ui);
    ui.separator();
    take_dropped_photo(app, ui);
    keyboard(app, ui);
    if app.state.finder.is_none() {
        empty_library(app, ui);
        return;
    }
    results_heading(app, ui);
    grid(app, ui);
    preview(app, ui);
}

fn query_row(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        let label = ui.label("Query");
        // A photo search shows an empty box; typing starts a text search.
        let mut text = match &app.state.search.subject {
            Subject::Text(text) => text.clone(),
            Subject::Photo(_) => String::new(),
        };
        let edit = egui::TextEdit::singleline(&mut text)
            .hint_text("a dog running through water   ·   \"beach\" - people   ·   2:sunset + ./photo.jpg")
            .desired_width(ui.available_width() - 170.0);
        let response = ui.add(edit).labelled_by(label.id);
        if response.changed() {
            app.state.search.subject = Subject::Text(text);
            app.state.search.edited = Some(std::time::Instant::now());
        }
        if response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            app.send(Command::Search);
        }
        if app.state.search.subject.is_empty()
            && !ui.memory(|m| m.has_focus(response.id))
            && ui.memory(|m| m.focused().is_none())
        {
            response.request_focus();
        }
        if app.state.search.busy() {
            ui.spinner();
        }
        if ui.button("Search by photo…").on_hover_text("Or drop a photo on the window").clicked() {
            app.send(Command::PickPhoto);
        }
    });
}

fn options_row(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Results");
        changed |= ui.add(egui::DragValue::new(&mut app.state.search.k).range(1..=200)).labelled_by(label.id).changed();
        let label = ui.label("Order");
        let before = app.settings.sort;
        egui::ComboBox::from_id_salt("sort")
            .selected_text(match app.settings.sort {
                SortOrder::Newest => "Newest first",
                SortOrder::Oldest => "Oldest first",
                SortOrder::Relevance => "Best match",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut app.settings.sort, SortOrder::Relevance, "Best match");
                ui.selectable_value(&mut app.settings.sort, SortOrder::Newest, "Newest first");
                ui.selectable_value(&mut app.settings.sort, SortOrder::Oldest, "Oldest first");
            })
            .response
            .labelled_by(label.id);
        changed |= before != app.settings.sort;
        if app.settings.sort != SortOrder::Relevance {
            let label = ui.label("among the best");
            changed |=
                ui.add(egui::DragValue::new(&mut app.settings.pool).range(1..=10_000)).labelled_by(label.id).changed();
        }
        ui.separator();
        let filter = &mut app.state.search.filter;
        let label = ui.label("In folder");
        let roots = app.state.finder.as_deref().map(library_roots).unwrap_or_default();
        egui::ComboBox::from_id_salt("folder")
            .width(180.0)
            .selected_text(if filter.folder.is_empty() { "anywhere".to_string() } else { filter.folder.clone() })
            .show_ui(ui, |ui| {
                changed |= ui.selectable_value(&mut filter.folder, String::new(), "anywhere").changed();
                for root in roots {
                    let text = root.display().to_string();
                    changed |= ui.selectable_value(&mut filter.folder, text.clone(), text).changed();
                }
            })
            .response
            .labelled_by(label.id);
        for (name, value, hint, width) in [
            ("After", &mut filter.after, "YYYY-MM-DD", 90.0),
            ("Before", &mut filter.before, "YYYY-MM-DD", 90.0),
            ("Types", &mut filter.types, "jpg,png", 70.0),
        ] {
            let label = ui.label(name);
            let edit = egui::TextEdit::singleline(value).hint_text(hint).desired_width(width);
            changed |= ui.add(edit).labelled_by(label.id).changed();
        }
        if !app.state.search.marks.is_empty() {
            ui.separator();
            let good = app.state.search.marks.values().filter(|m| **m == Mark::Good).count();
            let bad = app.state.search.marks.len() - good;
            ui.label(format!("{good} good, {bad} bad"));
            if ui.button("Clear marks").clicked() {
                app.send(Command::ClearMarks);
            }
        }
    });
    if changed {
        app.state.search.edited = Some(std::time::Instant::now());
    }
}

fn take_dropped_photo(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let dropped: Option<std::path::PathBuf> = ui.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()));
    if let Some(path) = dropped.filter(|p| !p.as_os_str().is_empty()) {
        app.send(Command::FindSimilar(path));
    }
}

fn keyboard(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let n = app.state.search.results.len();
    // Only a focused text box keeps the keys; buttons with focus do not.
    let typing = ui.ctx().egui_wants_keyboard_input();
    let columns = columns(ui);
    let (mut step, mut open, mut escape, mut mark, mut undo) = (0isize, false, false, None, false);
    ui.input(|i| {
        if i.key_pressed(egui::Key::ArrowRight) && !typing {
            step = 1;
        }
        if i.key_pressed(egui::Key::ArrowLeft) && !typing {
            step = -1;
        }
        if i.key_pressed(egui::Key::ArrowDown) {
            step = columns as isize;
        }
        if i.key_pressed(egui::Key::ArrowUp) {
            step = -(columns as isize);
        }
        open = !typing && (i.key_pressed(egui::Key::Space) || i.key_pressed(egui::Key::Enter));
        escape = i.key_pressed(egui::Key::Escape);
        undo = !typing && i.modifiers.command && i.key_pressed(egui::Key::Z);
        if !typing && i.key_pressed(egui::Key::G) {
            mark = Some(Mark::Good);
        }
        if !typing && i.key_pressed(egui::Key::B) {
            mark = Some(Mark::Bad);
        }
    });
    let search = &mut app.state.search;
    if step != 0 && n > 0 {
        // Arrows leave the query box for the grid.
        ui.memory_mut(|m| {
            if let Some(id) = m.focused() {
                m.surrender_focus(id);
            }
        });
        let current = search.selected.map_or(-1, |s| s as isize);
        let next = if current < 0 { 0 } else { (current + step).clamp(0, n as isize - 1) };
        search.selected = Some(next as usize);
        if search.preview.is_some() {
            search.preview = search.selected;
        }
    }
    if open && let Some(s) = search.selected {
        search.preview = if search.preview.is_some() { None } else { Some(s) };
    }
    if escape {
        if search.preview.is_some() {
            search.preview = None;
        } else if search.subject != Subject::default() {
            // Marks stay: "Clear marks" clears them, Ctrl+Z undoes one.
            search.subject = Subject::default();
            search.edited = Some(std::time::Instant::now());
        }
    }
    if undo {
        app.send(Command::UndoMark);
        return;
    }
    // In the preview, a mark is for the photo shown large.
    if let (Some(mark), Some(s)) = (mark, search.preview.or(search.selected))
        && let Some(item) = search.results.get(s)
    {
        let path = item.ranked.path.clone();
        let current = search.marks.get(&path).copied();
        app.send(Command::Mark(path, if current == Some(mark) { None } else { Some(mark) }));
    }
}

fn empty_library(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    ui.add_space(40.0);
    ui.vertical_centered(|ui| {
        if let Some(error) = &app.state.engine_error {
            ui.heading("Glimpse cannot run its models");
            ui.colored_label(ui.visuals().error_fg_color, error);
            ui.label("Then restart Glimpse.");
            return;
        }
        if app.state.indexing.running() {
            ui.heading("Indexing your photos…");
            ui.label("Results appear here as soon as the first run finishes.");
            if ui.button("Show progress").clicked() {
                app.settings.tab = Tab::Library;
            }
            return;
        }
        ui.heading("Welcome to Glimpse");
        ui.label("Glimpse finds your photos by what they show. Everything runs on this computer.");
        ui.add_space(12.0);
        ui.label("1. Add a folder of photos. Glimpse looks at each photo once (about 30 photos a second).");
        ui.label("2. Type what you are looking for: \u{201c}a dog running through water\u{201d}.");
        ui.label("3. Open, reveal or copy a result, or find photos that look like it.");
        ui.add_space(12.0);
        if ui.button("Add a folder of photos…").clicked() {
            app.send(Command::PickFolder);
        }
        if ui.link("or type a folder's path in the Library view").clicked() {
            app.settings.tab = Tab::Library;
        }
    });
}

fn results_heading(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let search = &app.state.search;
    if let Some(error) = &search.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    let ix = &app.state.indexing;
    if ix.running() {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "Indexing is running ({} of {}): photos not looked at yet are missing from these results.",
                ix.done, ix.total
            ),
        );
    }
    let order = match app.settings.sort {
        SortOrder::Relevance => "",
        SortOrder::Newest => ", newest first",
        SortOrder::Oldest => ", oldest first",
    };
    match &search.answered {
        Some(_) if search.browsing => {
            let photos = app.state.finder.as_ref().map_or(0, |f| f.library.index.data.photos.len());
            let order = if app.settings.sort == SortOrder::Oldest { "oldest" } else { "newest" };
            ui.label(format!(
                "The {order} {} of your {photos} photos. Type what you are looking for, or drop a photo here to find ones like it.",
                search.results.len()
            ));
        }
        Some(label) if search.results.is_empty() => {
            ui.label(format!("No photo passes the filters for {label}."));
        }
        Some(label) if search.weak => {
            ui.label(format!("No strong match for {label} \u{2014} the closest results:"));
        }
        Some(label) => {
            ui.label(format!("{} best matches for {label}{order}", search.results.len()));
        }
        None if search.subject.is_empty() => {
            let photos = app.state.finder.as_ref().map_or(0, |f| f.library.index.data.photos.len());
            ui.label(format!(
                "{photos} photos in your library. Type what you are looking for, or drop a photo here to find ones like it."
            ));
        }
        None => {}
    }
}

/// The actions every result offers, in its menu and in the preview.
fn result_actions(app: &mut GlimpseApp, ui: &mut egui::Ui, item: &ResultItem) {
    let path = &item.ranked.path;
    if ui.button("Open").clicked() {
        app.send(Command::Open(path.clone()));
        ui.close();
    }
    if ui.button("Show in folder").clicked() {
        app.send(Command::Reveal(path.clone()));
        ui.close();
    }
    if ui.button("Copy path").clicked() {
        app.send(Command::CopyPath(path.clone()));
        ui.close();
    }
    if ui.button("Find similar").clicked() {
        app.send(Command::FindSimilar(path.clone()));
        ui.close();
    }
}

/// Cells per row at this width (the arrow keys move by the same rows).
fn columns(ui: &egui::Ui) -> usize {
    ((ui.available_width() / (CELL + CELL_GAP + 8.0)).floor() as usize).max(1)
}

fn grid(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let results = app.state.search.results.clone();
    let columns = columns(ui);
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        ui.spacing_mut().item_spacing = egui::vec2(CELL_GAP, CELL_GAP);
        for (row, chunk) in results.chunks(columns).enumerate() {
            ui.horizontal_top(|ui| {
                for (j, item) in chunk.iter().enumerate() {
                    cell(app, ui, row * columns + j, item);
                }
            });
        }
    });
}

fn cell(app: &mut GlimpseApp, ui: &mut egui::Ui, i: usize, item: &ResultItem) {
    let selected = app.state.search.selected == Some(i);
    let mark = app.state.search.marks.get(&item.ranked.path).copied();
    let stroke = match (mark, selected) {
        (Some(Mark::Good), _) => egui::Stroke::new(3.0, egui::Color32::from_rgb(60, 170, 80)),
        (Some(Mark::Bad), _) => egui::Stroke::new(3.0, egui::Color32::from_rgb(200, 70, 60)),
        (None, true) => egui::Stroke::new(3.0, ui.visuals().selection.stroke.color),
        (None, false) => egui::Stroke::new(1.0, ui.visuals().widgets.noninteractive.bg_stroke.color),
    };
    egui::Frame::group(ui.style()).stroke(stroke).inner_margin(4.0).show(ui, |ui| {
        ui.set_width(CELL);
        ui.vertical(|ui| {
            let name = item.ranked.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let response = thumbnail(app, ui, item, &name);
            let response = response.on_hover_text(item.ranked.path.display().to_string());
            if response.clicked() {
                app.state.search.selected = Some(i);
                app.state.search.preview = Some(i);
            }
            response.context_menu(|ui| result_actions(app, ui, item));
            // The tile says the rank (and the date when sorted by date or browsing); the raw
            // score, which means something only next to other scores of the same query, is in
            // the tooltip with what it is.
            let by_date = app.state.search.browsing || app.settings.sort != SortOrder::Relevance;
            let details = format!(
                "{} · {}",
                score_words(app.state.search.browsing, item.ranked.score),
                date_label(item.ranked.date, item.ranked.date_source)
            );
            if by_date {
                ui.small(format_date(item.ranked.date)).on_hover_text(details.clone());
            }
            ui.horizontal(|ui| {
                ui.label(format!("#{}", item.ranked.rank)).on_hover_text(details);
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let path = item.ranked.path.clone();
                    let bad = ui.selectable_label(mark == Some(Mark::Bad), "Bad").on_hover_text("Less like this (B)");
                    if bad.clicked() {
                        let next = (mark != Some(Mark::Bad)).then_some(Mark::Bad);
                        app.send(Command::Mark(path.clone(), next));
                    }
                    let good =
                        ui.selectable_label(mark == Some(Mark::Good), "Good").on_hover_text("More like this (G)");
                    if good.clicked() {
                        let next = (mark != Some(Mark::Good)).then_some(Mark::Good);
                        app.send(Command::Mark(path, next));
                    }
                });
            });
        });
    });
}

fn thumbnail(app: &mut GlimpseApp, ui: &mut egui::Ui, item: &ResultItem, name: &str) -> egui::Response {
    let size = egui::vec2(CELL, CELL);
    let slot = app
        .state
        .images
        .as_mut()
        .map(|images| images.thumbnail(item.thumbnail.as_deref(), &item.ranked.path, THUMB_SIDE));
    match slot {
        Some(Ok(Some(texture))) => ui.add_sized(
            size,
            egui::Image::new(&texture)
                .fit_to_exact_size(size)
                .maintain_aspect_ratio(true)
                .alt_text(name)
                .sense(egui::Sense::click()),
        ),
        // Placeholders take clicks (to open the preview) but not keyboard focus.
        Some(Err(reason)) => {
            ui.add_sized(size, egui::Label::new(format!("{name}\n{reason}")).sense(egui::Sense::click()))
        }
        Some(Ok(None)) | None => ui.add_sized(size, egui::Label::new(name).sense(egui::Sense::click())),
    }
}

fn preview(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let Some(i) = app.state.search.preview else { return };
    let Some(item) = app.state.search.results.get(i).cloned() else { return };
    let mut open = true;
    let title = item.ranked.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    egui::Window::new(title)
        .id(egui::Id::unique("glimpse-preview"))
        .open(&mut open)
        .collapsible(false)
        .default_size([900.0, 700.0])
        .show(ui.ctx(), |ui| {
            ui.horizontal(|ui| result_actions(app, ui, &item));
            ui.label(format!(
                "Rank {} · {}×{} · {:.1} MB · {}",
                item.ranked.rank,
                item.width,
                item.height,
                item.bytes as f64 / 1e6,
                date_label(item.ranked.date, item.ranked.date_source)
            ));
            ui.label(item.ranked.path.display().to_string())
                .on_hover_text(score_words(app.state.search.browsing, item.ranked.score));
            if let Some(images) = app.state.images.as_mut() {
                images.show_large(ui, &item.ranked.path, PREVIEW_SIDE, "preview");
            }
        });
    if !open {
        app.state.search.preview = None;
    }
}

/// A result's raw score in words, for its tooltip.
fn score_words(browsing: bool, score: f32) -> String {
    if browsing {
        "your library, newest first".into()
    } else {
        format!(
            "score {score:.3}: how close the photo is to what was asked, on this query's own scale; only the order it gives means something"
        )
    }
}

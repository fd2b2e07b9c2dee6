//! The search view: the query box, filters and order, the result grid (tiles sized to fill
//! the width, zoomed with a slider or Ctrl+wheel, more results loaded as it scrolls), the
//! preview, which takes the grid's place and scales the photo to it.
//! Keys: typing searches; Enter searches at once; arrows move through the grid; Space or
//! Enter on a selected result opens the preview; G / B mark it good / bad; Esc closes the
//! preview, then clears the query.

use eframe::egui;

use super::logic::{Command, Mark, ResultItem, SearchState, date_label, library_roots};
use super::settings::TILE_RANGE;
use super::{GlimpseApp, Tab};
use crate::finder::{CUE_RESULTS, CueReading, Subject, quoted_words};
use crate::index::filter::{SortOrder, format_date};

/// Space between tiles, in points.
const GAP: f32 = 8.0;
/// Decoded size of grid thumbnails (the index stores 256 px).
const THUMB_SIDE: u32 = 256;
/// Decoded size of the preview: a 2560-point pane shows it at most 1.6 times enlarged.
const PREVIEW_SIDE: u32 = 1600;
/// Side of a Good/Bad mark icon on a tile, in points.
const ICON: f32 = 26.0;

/// Draws the view.
pub fn show(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    // Read before the rows are drawn: an open dropdown closes itself on Esc while drawn.
    let dropdown_open = egui::Popup::is_any_open(ui.ctx());
    query_row(app, ui);
    options_row(app, ui);
    ui.separator();
    take_dropped_photo(app, ui);
    keyboard(app, ui, dropdown_open);
    if app.state.finder.is_none() {
        empty_library(app, ui);
        return;
    }
    results_heading(app, ui);
    // The preview takes the grid's place, so the photo gets the whole pane.
    match app.state.search.preview {
        Some(i) if i < app.state.search.results.len() => preview(app, ui, i),
        _ => grid(app, ui),
    }
}

/// How the grid lays out at a width: whole columns of the preferred tile side (the zoom),
/// each tile then stretched so the columns fill the width exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// Tiles per row.
    pub columns: usize,
    /// Side of a tile's photo square, in points.
    pub side: f32,
}

impl Layout {
    /// The layout of tiles near `preferred` points wide across `width` points.
    pub fn new(width: f32, preferred: f32) -> Layout {
        let columns = ((width + GAP) / (preferred + GAP)).floor().max(1.0) as usize;
        let side = ((width - GAP * (columns - 1) as f32) / columns as f32).floor().max(1.0);
        Layout { columns, side }
    }
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
        ui.horizontal(|ui| {
            let label = ui.label("Tile size");
            ui.add(egui::Slider::new(&mut app.settings.tile, TILE_RANGE).show_value(false))
                .labelled_by(label.id)
                .on_hover_text("Or Ctrl + mouse wheel over the results");
        });
        let before = app.settings.sort;
        room_for(ui, text_width(ui, "Order") + 140.0);
        ui.horizontal(|ui| {
            let label = ui.label("Order");
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
        });
        changed |= before != app.settings.sort;
        if app.settings.sort != SortOrder::Relevance {
            room_for(ui, text_width(ui, "among the best") + 60.0);
            ui.horizontal(|ui| {
                let label = ui.label("among the best");
                changed |= ui
                    .add(egui::DragValue::new(&mut app.settings.pool).range(1..=10_000))
                    .labelled_by(label.id)
                    .changed();
            });
        }
        ui.separator();
        let filter = &mut app.state.search.filter;
        let roots = app.state.finder.as_deref().map(library_roots).unwrap_or_default();
        // Each label stays on the row of its field: they wrap as one.
        room_for(ui, text_width(ui, "In folder") + 200.0);
        ui.horizontal(|ui| {
            let label = ui.label("In folder");
            egui::ComboBox::from_id_salt("folder")
                .width(180.0)
                .truncate()
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
        });
        for (name, value, hint) in [
            ("After", &mut filter.after, "YYYY-MM-DD"),
            ("Before", &mut filter.before, "YYYY-MM-DD"),
            ("Types", &mut filter.types, "jpg,png"),
        ] {
            // As wide as the placeholder and the field's margins (4 points a side), so that
            // the placeholder shows whole.
            let width = text_width(ui, hint) + 12.0;
            room_for(ui, text_width(ui, name) + width + 24.0);
            ui.horizontal(|ui| {
                let label = ui.label(name);
                // Not clipped: the field widens rather than cut its placeholder or a date short.
                let edit = egui::TextEdit::singleline(value).hint_text(hint).desired_width(width).clip_text(false);
                changed |= ui.add(edit).labelled_by(label.id).changed();
            });
        }
        let search = &app.state.search;
        if !search.marks.is_empty() || search.parked.is_some() {
            ui.separator();
            if !search.marks.is_empty() {
                let good = search.marks.values().filter(|m| **m == Mark::Good).count();
                ui.label(format!("{good} good, {} bad", search.marks.len() - good));
            }
            // Marks made in another query are not used here unless the person asks.
            let offer = search.parked.as_ref().map(|(from, marks)| {
                let n = marks.len();
                format!("Use {n} mark{} from {}", if n == 1 { "" } else { "s" }, query_label(from))
            });
            let hint = "Those marks re-rank this query's results too; they come back by themselves when you search their query again.";
            if let Some(offer) = offer
                && ui.button(offer).on_hover_text(hint).clicked()
            {
                app.send(Command::UseMarks);
            }
            if ui.button("Clear marks").clicked() {
                app.send(Command::ClearMarks);
            }
        }
    });
    if changed {
        app.state.search.edited = Some(std::time::Instant::now());
    }
}

/// A query as the window names it: quoted text, or the photo searched by.
fn query_label(subject: &Subject) -> String {
    match subject {
        Subject::Text(text) if text.trim().is_empty() => "browsing".into(),
        Subject::Text(text) => format!("\u{201c}{}\u{201d}", text.trim()),
        Subject::Photo(photo) => {
            format!("photos like {}", photo.file_name().unwrap_or(photo.as_os_str()).to_string_lossy())
        }
    }
}

/// Width of `text` in the body font, in points.
pub(super) fn text_width(ui: &egui::Ui, text: &str) -> f32 {
    let font = egui::TextStyle::Body.resolve(ui.style());
    ui.painter().layout_no_wrap(text.to_string(), font, egui::Color32::WHITE).size().x
}

/// In a wrapping row: starts the next row unless `width` points fit on this one, so that a
/// label and its field, added together after this, wrap as one.
pub(super) fn room_for(ui: &mut egui::Ui, width: f32) {
    if ui.available_size_before_wrap().x < width {
        ui.end_row();
    }
}

fn take_dropped_photo(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let dropped: Option<std::path::PathBuf> = ui.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()));
    if let Some(path) = dropped.filter(|p| !p.as_os_str().is_empty()) {
        app.send(Command::FindSimilar(path));
    }
}

/// The view's keys. `dropdown_open`: a dropdown or menu was open when the frame began, so
/// Esc was for it (it closes itself) and leaves the preview and the query alone.
fn keyboard(app: &mut GlimpseApp, ui: &mut egui::Ui, dropdown_open: bool) {
    let n = app.state.search.results.len();
    // Only a focused text box keeps the keys; buttons with focus do not.
    let typing = ui.ctx().egui_wants_keyboard_input();
    let columns = app.state.search.columns.max(1);
    let (mut step, mut open, mut escape, mut mark) = (0isize, false, false, None);
    // Ctrl+Z from the key event's own modifiers: when Ctrl and Z arrive in one frame (a
    // fast typist, `xdotool key ctrl+z`), Ctrl may be released again by the frame's end.
    let undo = !typing && ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, egui::Key::Z));
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
        escape = i.key_pressed(egui::Key::Escape) && !dropdown_open;
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
        search.scroll_to_selected = true;
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
        // A rate this computer measured, or none: speeds differ too much between computers.
        let rate = match app.settings.photos_per_second {
            Some(rate) => format!(" (this computer did {rate:.0} photos a second last time)"),
            None => "; the Library view shows how fast it goes on this computer".into(),
        };
        ui.label(format!("1. Add a folder of photos. Glimpse looks at each photo once{rate}."));
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
    // Words of the query the text model has no vector for: left out (a query of only such
    // words is an error above, with no photos).
    if search.error.is_none() && !search.browsing && !search.ignored.is_empty() {
        let (words, them) = quoted_words(&search.ignored);
        ui.label(format!("Ignored {words}: Glimpse has no vector for {them}."));
    }
    let ix = &app.state.indexing;
    if ix.running() {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "Indexing is running ({} of {} looked at): finished photos join these results every few seconds.",
                ix.done, ix.total
            ),
        );
    } else if search.unranked > 0 {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!(
                "{} photos are not in these results yet: their indexing run stopped before it finished them. Update the index in the Library view to add them.",
                search.unranked
            ),
        );
    }
    let order = match app.settings.sort {
        SortOrder::Relevance => "",
        SortOrder::Newest => ", newest first",
        SortOrder::Oldest => ", oldest first",
    };
    let photos = app.state.photos();
    let more = if search.more_available(photos, &app.settings) { ", more as you scroll" } else { "" };
    match &search.answered {
        Some(_) if search.browsing => {
            let order = if app.settings.sort == SortOrder::Oldest { "oldest" } else { "newest" };
            ui.label(format!(
                "Your {photos} photos, {order} first. Type what you are looking for, or drop a photo here to find ones like it."
            ));
        }
        Some(label) if search.results.is_empty() => {
            ui.label(format!("No photo passes the filters for {label}."));
        }
        Some(label) if search.cue.is_some_and(|c| c.fires()) => {
            ui.label(format!("No strong match for {label} \u{2014} the closest results:"))
                .on_hover_text(cue_words(search.cue, !search.marks.is_empty()));
        }
        Some(label) => {
            let heading =
                ui.label(format!("Best matches for {label}{order} \u{b7} {} shown{more}", search.results.len()));
            if search.cue.is_some() {
                heading.on_hover_text(cue_words(search.cue, !search.marks.is_empty()));
            }
        }
        None if search.subject.is_empty() => {
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

fn grid(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    // Ctrl + wheel over the results zooms the tiles (egui turns it into a zoom, not a scroll).
    let area = ui.available_rect_before_wrap();
    let zoom = ui.input(|i| i.zoom_delta());
    if zoom != 1.0 && ui.rect_contains_pointer(area) {
        app.settings.tile = (app.settings.tile * zoom).clamp(*TILE_RANGE.start(), *TILE_RANGE.end());
    }
    let results = app.state.search.results.clone();
    let layout = Layout::new(ui.available_width(), app.settings.tile);
    app.state.search.columns = layout.columns;
    let caption = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    let row_height = layout.side + caption;
    let rows = results.len().div_ceil(layout.columns);
    let search = &mut app.state.search;
    let mut scroll = egui::ScrollArea::vertical().id_salt("results").auto_shrink([false, false]);
    if std::mem::take(&mut search.scroll_to_top) {
        scroll = scroll.vertical_scroll_offset(0.0);
    }
    // The keys moved the highlight: scroll just enough to show its row.
    let (offset, height) = search.grid_view;
    if std::mem::take(&mut search.scroll_to_selected)
        && let Some(selected) = search.selected
    {
        let top = (selected / layout.columns) as f32 * (row_height + GAP);
        if top < offset {
            scroll = scroll.vertical_scroll_offset(top);
        } else if top + row_height > offset + height {
            scroll = scroll.vertical_scroll_offset(top + row_height - height);
        }
    }
    let more = app.state.search.more_available(app.state.photos(), &app.settings);
    let mut reached_end = false;
    let output = ui
        .scope(|ui| {
            ui.spacing_mut().item_spacing = egui::vec2(GAP, GAP);
            scroll.show_rows(ui, row_height, rows, |ui, range| {
                reached_end = range.end >= rows;
                for row in range {
                    ui.horizontal_top(|ui| {
                        let first = row * layout.columns;
                        for (j, item) in results.iter().enumerate().skip(first).take(layout.columns) {
                            cell(app, ui, j, item, layout.side, caption);
                        }
                    });
                }
            })
        })
        .inner;
    app.state.search.grid_view = (output.state.clamped_offset().y, output.inner_rect.height());
    // The last row is in view: ask for the next page.
    if reached_end && more && !app.state.search.busy() {
        app.send(Command::MoreResults);
    }
}

/// One result: its photo fitted in a square, its rank (and date when in date order) below,
/// Good/Bad icons over the photo while the pointer is on it or it is highlighted (a marked
/// photo always shows its mark).
fn cell(app: &mut GlimpseApp, ui: &mut egui::Ui, i: usize, item: &ResultItem, side: f32, caption: f32) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side + caption), egui::Sense::click());
    let name = item.ranked.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, &name));
    if !ui.is_rect_visible(rect) {
        return;
    }
    let selected = app.state.search.selected == Some(i);
    let mark = app.state.search.marks.get(&item.ranked.path).copied();
    let photo = egui::Rect::from_min_size(rect.min, egui::vec2(side, side));
    let visuals = ui.visuals().clone();
    ui.painter().rect_filled(photo, 4.0, visuals.extreme_bg_color);
    let slot = app
        .state
        .images
        .as_mut()
        .map(|images| images.thumbnail(item.thumbnail.as_deref(), &item.ranked.path, THUMB_SIDE));
    match slot {
        Some(Ok(Some(texture))) => {
            let fitted = fit(texture.size_vec2(), photo.shrink(2.0));
            let uv = egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0));
            ui.painter().image(texture.id(), fitted, uv, egui::Color32::WHITE);
        }
        Some(Err(reason)) => {
            let text = format!("{name}\n{reason}");
            ui.put(photo.shrink(6.0), egui::Label::new(egui::RichText::new(text).small()).wrap());
        }
        Some(Ok(None)) | None => {
            ui.painter().text(
                photo.center(),
                egui::Align2::CENTER_CENTER,
                &name,
                egui::FontId::proportional(11.0),
                visuals.weak_text_color(),
            );
        }
    }
    let stroke = match (mark, selected) {
        (Some(Mark::Good), _) => egui::Stroke::new(3.0, GOOD),
        (Some(Mark::Bad), _) => egui::Stroke::new(3.0, BAD),
        (None, true) => egui::Stroke::new(3.0, visuals.selection.stroke.color),
        (None, false) => egui::Stroke::new(1.0, visuals.widgets.noninteractive.bg_stroke.color),
    };
    ui.painter().rect_stroke(photo, 4.0, stroke, egui::StrokeKind::Inside);
    // The tile says the rank (and the date when sorted by date or browsing); the raw
    // score, which means something only next to other scores of the same query, is in
    // the tooltip with what it is.
    let by_date = app.state.search.browsing || app.settings.sort != SortOrder::Relevance;
    let words = if by_date {
        format!("#{} \u{b7} {}", item.ranked.rank, format_date(item.ranked.date))
    } else {
        format!("#{}", item.ranked.rank)
    };
    ui.painter().text(
        egui::pos2(rect.left() + 2.0, photo.bottom() + 3.0),
        egui::Align2::LEFT_TOP,
        words,
        egui::TextStyle::Body.resolve(ui.style()),
        visuals.text_color(),
    );
    let hovered = ui.rect_contains_pointer(rect);
    if response.clicked() {
        app.state.search.selected = Some(i);
        app.state.search.preview = Some(i);
    }
    response.context_menu(|ui| result_actions(app, ui, item));
    response.on_hover_text(format!(
        "{}\n{} \u{b7} {}",
        item.ranked.path.display(),
        score_words(&app.state.search, item),
        date_label(item.ranked.date, item.ranked.date_source)
    ));
    // Good sits left of Bad in the photo's top right corner.
    for (k, kind) in [Mark::Good, Mark::Bad].into_iter().enumerate() {
        if !(hovered || selected || mark == Some(kind)) {
            continue;
        }
        let right = photo.right() - 4.0 - (1 - k) as f32 * (ICON + 4.0);
        let at = egui::Rect::from_min_size(egui::pos2(right - ICON, photo.top() + 4.0), egui::vec2(ICON, ICON));
        let on = mark == Some(kind);
        let button = ui.interact(at, response_id(ui, &item.ranked.path, kind), egui::Sense::click());
        let (label, hint) = match kind {
            Mark::Good => ("Good", "Good match: more like this (G)"),
            Mark::Bad => ("Bad", "Bad match: less like this (B)"),
        };
        button.widget_info(|| egui::WidgetInfo::selected(egui::accesskit::Role::Button, true, on, label));
        mark_icon(ui.painter(), at, kind, on, button.hovered());
        if button.on_hover_text(hint).clicked() {
            app.send(Command::Mark(item.ranked.path.clone(), (!on).then_some(kind)));
        }
    }
}

/// The id of a tile's mark button: by photo, so a re-ranked grid keeps each button's state
/// with its photo.
fn response_id(ui: &egui::Ui, path: &std::path::Path, kind: Mark) -> egui::Id {
    ui.scope_id().with(("mark", path, kind == Mark::Good))
}

/// A round mark button: a tick for good, a cross for bad; filled with the mark's colour
/// when set, dark and see-through over the photo when not.
fn mark_icon(painter: &egui::Painter, at: egui::Rect, kind: Mark, on: bool, hovered: bool) {
    let colour = if kind == Mark::Good { GOOD } else { BAD };
    let fill = match (on, hovered) {
        (true, _) => colour,
        (false, true) => egui::Color32::from_black_alpha(210),
        (false, false) => egui::Color32::from_black_alpha(140),
    };
    let c = at.center();
    let r = at.width() / 2.0;
    painter.circle_filled(c, r, fill);
    let stroke = egui::Stroke::new(2.5, egui::Color32::WHITE);
    let u = r * 0.45;
    match kind {
        Mark::Good => {
            let tick = vec![c + egui::vec2(-u, 0.0), c + egui::vec2(-u * 0.3, u * 0.7), c + egui::vec2(u, -u * 0.7)];
            painter.line(tick, stroke);
        }
        Mark::Bad => {
            painter.line_segment([c + egui::vec2(-u, -u), c + egui::vec2(u, u)], stroke);
            painter.line_segment([c + egui::vec2(-u, u), c + egui::vec2(u, -u)], stroke);
        }
    }
}

/// A Good/Bad match button for the preview: a real button with the tiles' round icon before
/// its words; once set, filled with the mark's colour (and announced as selected).
fn mark_button(ui: &mut egui::Ui, kind: Mark, text: &str, on: bool) -> egui::Response {
    let side = ui.text_style_height(&egui::TextStyle::Button) + 4.0;
    let icon = egui::Atom::paint(egui::vec2(side, side), move |ui, args| {
        // Set: the white-ringed icon on the mark's colour; not set: the icon as on a tile.
        if on {
            ui.painter().circle_stroke(args.rect.center(), side / 2.0, egui::Stroke::new(1.5, egui::Color32::WHITE));
        }
        mark_icon(ui.painter(), args.rect, kind, on, false);
    });
    let words =
        if on { egui::RichText::new(text).color(egui::Color32::WHITE).strong() } else { egui::RichText::new(text) };
    let mut button = egui::Button::new((icon, words)).selected(on);
    if on {
        button = button.fill(if kind == Mark::Good { GOOD } else { BAD });
    }
    ui.add(button)
}

/// Border and icon colour of a photo marked good.
const GOOD: egui::Color32 = egui::Color32::from_rgb(60, 170, 80);
/// Border and icon colour of a photo marked bad.
const BAD: egui::Color32 = egui::Color32::from_rgb(200, 70, 60);

/// The largest rectangle of `size`'s proportions inside `frame`, centred.
fn fit(size: egui::Vec2, frame: egui::Rect) -> egui::Rect {
    let scale = (frame.width() / size.x.max(1.0)).min(frame.height() / size.y.max(1.0));
    egui::Rect::from_center_size(frame.center(), size * scale)
}

/// The result shown large, in the grid's place: its actions and marks, what it is, and the
/// photo scaled to fill the pane.
fn preview(app: &mut GlimpseApp, ui: &mut egui::Ui, i: usize) {
    let Some(item) = app.state.search.results.get(i).cloned() else { return };
    let mark = app.state.search.marks.get(&item.ranked.path).copied();
    ui.horizontal_wrapped(|ui| {
        if ui.button("Back to the results").on_hover_text("Esc").clicked() {
            app.state.search.preview = None;
        }
        ui.separator();
        result_actions(app, ui, &item);
        ui.separator();
        for (kind, text, hint) in
            [(Mark::Good, "Good match", "More like this (G)"), (Mark::Bad, "Bad match", "Less like this (B)")]
        {
            let on = mark == Some(kind);
            if mark_button(ui, kind, text, on).on_hover_text(hint).clicked() {
                app.send(Command::Mark(item.ranked.path.clone(), (!on).then_some(kind)));
            }
        }
    });
    ui.label(format!(
        "Rank {} \u{b7} {}\u{d7}{} \u{b7} {:.1} MB \u{b7} {}",
        item.ranked.rank,
        item.width,
        item.height,
        item.bytes as f64 / 1e6,
        date_label(item.ranked.date, item.ranked.date_source)
    ))
    .on_hover_text(score_words(&app.state.search, &item));
    ui.add(egui::Label::new(item.ranked.path.display().to_string()).truncate());
    let title = item.ranked.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if let Some(images) = app.state.images.as_mut() {
        ui.vertical_centered(|ui| images.show_large(ui, &item.ranked.path, PREVIEW_SIDE, &title));
    }
}

/// The "no strong match" rule and how this query fared, and what the tiles' cosines and
/// scores are: said once, in the heading's tooltip.
fn cue_words(cue: Option<CueReading>, marked: bool) -> String {
    let Some(cue) = cue else { return String::new() };
    let verdict = if cue.fires() { "below" } else { "at or above" };
    let marks = if marked {
        " Marks re-rank the results but do not move this: only a photo marked bad is left out of the ten."
    } else {
        ""
    };
    format!(
        "\u{201c}No strong match\u{201d} shows when none of the {CUE_RESULTS} best matches of what you typed is close to it: when the best cosine between the query and those photos is below {:.3}. Here it is {:.3}, {verdict} that. The threshold is the model's own, measured on Flickr8k so that 9 in 10 captions whose photo is in the library stay above it (glimpse bench cue).{marks}\n\nEach result's tooltip gives its cosine. The order also discounts photos that are close to almost any text (their score is the cosine less that discount), so a photo can rank above one with a higher cosine.",
        cue.threshold, cue.best
    )
}

/// A result's numbers in words, for its tooltip: for a text query its cosine with the query
/// (the number the "no strong match" cue reads, whose rule the heading's tooltip gives) and
/// the score it is ranked by.
fn score_words(search: &SearchState, item: &ResultItem) -> String {
    let score = item.ranked.score;
    match (search.browse_order(), item.cosine) {
        (Some(SortOrder::Oldest), _) => "your library, oldest first".into(),
        (Some(_), _) => "your library, newest first".into(),
        (None, Some(cosine)) => {
            let marks = if search.marks.is_empty() { "" } else { " (as your marks refine it)" };
            format!("cosine {cosine:.3} with what you asked{marks} \u{b7} ranked by score {score:.3}")
        }
        _ => format!(
            "score {score:.3}: how close the photo is to what was asked, on this query's own scale; only the order it gives means something"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_stretch_so_that_whole_columns_fill_the_width() {
        for (width, preferred) in [(1584.0, 180.0), (1184.0, 180.0), (624.0, 180.0), (2544.0, 96.0), (300.0, 320.0)] {
            let layout = Layout::new(width, preferred);
            let used = layout.columns as f32 * layout.side + GAP * (layout.columns - 1) as f32;
            assert!(used <= width, "{width}: {layout:?} overflows");
            assert!(width - used < layout.columns as f32, "{width}: {layout:?} leaves {} points empty", width - used);
            // Tiles never shrink below the zoom, and stretch by less than one more column's worth.
            if layout.columns > 1 {
                assert!(layout.side >= preferred - 1.0 && layout.side < preferred * 2.0, "{width}: {layout:?}");
            }
        }
        assert_eq!(Layout::new(1584.0, 180.0).columns, 8);
        // Zooming in gives fewer, larger tiles.
        assert!(Layout::new(1584.0, 300.0).columns < Layout::new(1584.0, 180.0).columns);
        assert_eq!(Layout::new(200.0, 320.0), Layout { columns: 1, side: 200.0 });
    }

    #[test]
    fn a_tiles_tooltip_gives_its_numbers_and_the_heading_alone_explains_the_cue() {
        let cue = CueReading { best: 0.41, threshold: 0.25 };
        let mut search = SearchState::default();
        search.cue = Some(cue);
        let item = ResultItem {
            ranked: crate::index::library::Ranked {
                rank: 1,
                path: "/photos/dog.jpg".into(),
                score: 0.38,
                date: 0,
                date_source: crate::index::filter::DateSource::Mtime,
                row: 0,
            },
            thumbnail: None,
            width: 640,
            height: 480,
            bytes: 1,
            cosine: Some(0.41),
        };
        let tile = score_words(&search, &item);
        assert_eq!(tile, "cosine 0.410 with what you asked \u{b7} ranked by score 0.380");
        let heading = cue_words(Some(cue), false);
        // Browsing the library says the order it is shown in.
        search.browsing = true;
        assert_eq!(score_words(&search, &item), "your library, newest first");
        search.browsing_oldest_first_for_test();
        assert_eq!(score_words(&search, &item), "your library, oldest first");
        assert!(heading.contains("No strong match") && heading.contains("at or above"), "{heading}");
        assert!(heading.contains("discounts photos that are close to almost any text"), "{heading}");
    }
}

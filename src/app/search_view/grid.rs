//! The result grid: tiles sized to fill the width, each with its thumbnail, marks and
//! actions, and the words of its tooltip.

use eframe::egui;

use super::View;
use crate::app::images::Images;

use super::preview::fit;
use crate::app::logic::{Command, Mark, ResultItem, SearchState, date_label};
use crate::app::settings::TILE_RANGE;
use crate::finder::Subject;
use crate::index::filter::{SortOrder, format_date};

/// Space between tiles, in points.
pub(super) const GAP: f32 = 8.0;

/// Decoded size of grid thumbnails (the index stores 256 px).
const THUMB_SIDE: u32 = 256;

/// Side of a Good/Bad mark icon on a tile, in points.
const ICON: f32 = 26.0;

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

/// The actions every result offers, in its menu and in the preview.
pub(super) fn result_actions(view: &mut View<'_>, ui: &mut egui::Ui, item: &ResultItem) {
    let path = &item.ranked.path;
    if ui.button("Open").clicked() {
        view.commands.push(Command::Open(path.clone()));
        ui.close();
    }
    if ui.button("Show in folder").clicked() {
        view.commands.push(Command::Reveal(path.clone()));
        ui.close();
    }
    if ui.button("Copy path").clicked() {
        view.commands.push(Command::CopyPath(path.clone()));
        ui.close();
    }
    if ui.button("Find similar").clicked() {
        view.commands.push(Command::FindSimilar(path.clone()));
        ui.close();
    }
    collection_actions(view, ui, path);
}

/// Taking a photo out of the collection shown, and adding it to any other collection (for
/// good, whatever its score).
fn collection_actions(view: &mut View<'_>, ui: &mut egui::Ui, path: &std::path::Path) {
    let open = match &view.search.subject {
        Subject::Collection(name) => Some(name.clone()),
        _ => None,
    };
    if let Some(name) = &open {
        let hint = "It stays out when the collection takes in new photos";
        if ui.button(format!("Remove from \u{201c}{name}\u{201d}")).on_hover_text(hint).clicked() {
            view.commands.push(Command::ExcludeFromCollection(name.clone(), path.to_path_buf()));
            ui.close();
        }
    }
    let others: Vec<String> =
        view.concepts.collections.iter().map(|c| c.name.clone()).filter(|n| Some(n) != open.as_ref()).collect();
    if others.is_empty() {
        return;
    }
    ui.menu_button("Add to collection", |ui| {
        for name in others {
            if ui.button(&name).clicked() {
                view.commands.push(Command::PinToCollection(name, path.to_path_buf()));
                ui.close();
            }
        }
    });
}

pub(super) fn grid(view: &mut View<'_>, ui: &mut egui::Ui) {
    // Ctrl + wheel over the results zooms the tiles (egui turns it into a zoom, not a scroll).
    let area = ui.available_rect_before_wrap();
    let zoom = ui.input(|i| i.zoom_delta());
    if zoom != 1.0 && ui.rect_contains_pointer(area) {
        view.settings.tile = (view.settings.tile * zoom).clamp(*TILE_RANGE.start(), *TILE_RANGE.end());
    }
    let layout = Layout::new(ui.available_width(), view.settings.tile);
    view.search.columns = layout.columns;
    let caption = ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    let row_height = layout.side + caption;
    let rows = view.search.results.len().div_ceil(layout.columns);
    let search = &mut view.search;
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
    let more = view.search.more_available(view.photos, view.settings);
    let mut reached_end = false;
    let output = ui
        .scope(|ui| {
            ui.spacing_mut().item_spacing = egui::vec2(GAP, GAP);
            scroll.show_rows(ui, row_height, rows, |ui, range| {
                reached_end = range.end >= rows;
                for row in range {
                    ui.horizontal_top(|ui| {
                        // Only the rows in view are copied out (a cell needs the view mutably).
                        let first = row * layout.columns;
                        let shown: Vec<ResultItem> =
                            view.search.results.iter().skip(first).take(layout.columns).cloned().collect();
                        for (j, item) in shown.iter().enumerate() {
                            cell(view, ui, first + j, item, layout.side, caption);
                        }
                    });
                }
            })
        })
        .inner;
    view.search.grid_view = (output.state.clamped_offset().y, output.inner_rect.height());
    // The last row is in view: ask for the next page.
    if reached_end && more && !view.search.busy() {
        view.commands.push(Command::MoreResults);
    }
}

/// One result: its photo fitted in a square, its rank (and date when in date order) below,
/// Good/Bad icons over the photo while the pointer is on it or it is highlighted (a marked
/// photo always shows its mark).
pub(super) fn cell(view: &mut View<'_>, ui: &mut egui::Ui, i: usize, item: &ResultItem, side: f32, caption: f32) {
    let (rect, response) = ui.allocate_exact_size(egui::vec2(side, side + caption), egui::Sense::click());
    let name = item.ranked.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, &name));
    if !ui.is_rect_visible(rect) {
        return;
    }
    let selected = view.search.selected == Some(i);
    let mark = view.search.marks.get(&item.ranked.path).copied();
    let photo = egui::Rect::from_min_size(rect.min, egui::vec2(side, side));
    let visuals = ui.visuals().clone();
    ui.painter().rect_filled(photo, 4.0, visuals.extreme_bg_color);
    thumbnail(view.images.as_deref_mut(), ui, photo, item, &name);
    let stroke = match (mark, selected) {
        (Some(Mark::Good), _) => egui::Stroke::new(3.0, GOOD),
        (Some(Mark::Bad), _) => egui::Stroke::new(3.0, BAD),
        (None, true) => egui::Stroke::new(3.0, visuals.selection.stroke.color),
        (None, false) => egui::Stroke::new(1.0, visuals.widgets.noninteractive.bg_stroke.color),
    };
    ui.painter().rect_stroke(photo, 4.0, stroke, egui::StrokeKind::Inside);
    if view.search.is_new_in_collection(&item.ranked.path) {
        new_badge(ui, photo);
    }
    // The tile says the rank (and the date when sorted by date or browsing); the raw
    // score, which means something only next to other scores of the same query, is in
    // the tooltip with what it is.
    let by_date = view.search.browsing || view.settings.sort != SortOrder::Relevance;
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
        view.search.selected = Some(i);
        view.search.preview = Some(i);
    }
    response.context_menu(|ui| result_actions(view, ui, item));
    response.on_hover_text(format!(
        "{}\n{} \u{b7} {}",
        item.ranked.path.display(),
        score_words(view.search, item),
        date_label(item.ranked.date, item.ranked.date_source)
    ));
    // Marks show on the tile under the pointer, the highlighted one, and a marked one.
    let shown = [Mark::Good, Mark::Bad].into_iter().filter(|&kind| hovered || selected || mark == Some(kind));
    for kind in shown.collect::<Vec<_>>() {
        if mark_on_tile(ui, photo, item, kind, mark == Some(kind)) {
            view.commands.push(Command::Mark(item.ranked.path.clone(), (mark != Some(kind)).then_some(kind)));
        }
    }
}

/// "new" in the photo's top left corner: it joined the collection shown since it was last
/// looked at.
fn new_badge(ui: &egui::Ui, photo: egui::Rect) {
    let font = egui::TextStyle::Small.resolve(ui.style());
    let galley = ui.painter().layout_no_wrap("new".into(), font, egui::Color32::WHITE);
    let at = egui::Rect::from_min_size(photo.min + egui::vec2(4.0, 4.0), galley.size() + egui::vec2(10.0, 4.0));
    ui.painter().rect_filled(at, 4.0, ui.visuals().selection.bg_fill);
    ui.painter().galley(at.min + egui::vec2(5.0, 2.0), galley, egui::Color32::WHITE);
}

/// The photo (or why there is none, or its name while it loads) fitted in the tile's square.
fn thumbnail(images: Option<&mut Images>, ui: &mut egui::Ui, photo: egui::Rect, item: &ResultItem, name: &str) {
    let slot = images.map(|images| images.thumbnail(item.thumbnail.as_deref(), &item.ranked.path, THUMB_SIDE));
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
            let weak = ui.visuals().weak_text_color();
            ui.painter().text(
                photo.center(),
                egui::Align2::CENTER_CENTER,
                name,
                egui::FontId::proportional(11.0),
                weak,
            );
        }
    }
}

/// One Good or Bad icon in the photo's top right corner (Good left of Bad); true when it
/// was clicked.
fn mark_on_tile(ui: &mut egui::Ui, photo: egui::Rect, item: &ResultItem, kind: Mark, on: bool) -> bool {
    let k = match kind {
        Mark::Good => 0,
        Mark::Bad => 1,
    };
    let right = photo.right() - 4.0 - (1 - k) as f32 * (ICON + 4.0);
    let at = egui::Rect::from_min_size(egui::pos2(right - ICON, photo.top() + 4.0), egui::vec2(ICON, ICON));
    let button = ui.interact(at, response_id(ui, &item.ranked.path, kind), egui::Sense::click());
    let (label, hint) = match kind {
        Mark::Good => ("Good", "Good match: more like this (G)"),
        Mark::Bad => ("Bad", "Bad match: less like this (B)"),
    };
    button.widget_info(|| egui::WidgetInfo::selected(egui::accesskit::Role::Button, true, on, label));
    mark_icon(ui.painter(), at, kind, on, button.hovered());
    button.on_hover_text(hint).clicked()
}

/// The id of a tile's mark button: by photo, so a re-ranked grid keeps each button's state
/// with its photo.
pub(super) fn response_id(ui: &egui::Ui, path: &std::path::Path, kind: Mark) -> egui::Id {
    ui.scope_id().with(("mark", path, kind == Mark::Good))
}

/// A round mark button: a tick for good, a cross for bad; filled with the mark's colour
/// when set, dark and see-through over the photo when not.
pub(super) fn mark_icon(painter: &egui::Painter, at: egui::Rect, kind: Mark, on: bool, hovered: bool) {
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
pub(super) fn mark_button(ui: &mut egui::Ui, kind: Mark, text: &str, on: bool) -> egui::Response {
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
pub(super) const GOOD: egui::Color32 = egui::Color32::from_rgb(60, 170, 80);

/// Border and icon colour of a photo marked bad.
pub(super) const BAD: egui::Color32 = egui::Color32::from_rgb(200, 70, 60);

/// A result's numbers in words, for its tooltip: for a text query its cosine with the query
/// (the number the "no strong match" cue reads, whose rule the heading's tooltip gives) and
/// the score it is ranked by.
pub(super) fn score_words(search: &SearchState, item: &ResultItem) -> String {
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

//! The search view: the query box, filters and order, the result grid (tiles sized to fill
//! the width, zoomed with a slider or Ctrl+wheel, more results loaded as it scrolls), the
//! preview, which takes the grid's place and scales the photo to it.
//! Keys: typing searches; Enter searches at once; arrows move through the grid; Space or
//! Enter on a selected result opens the preview; G / B mark it good / bad; Esc closes the
//! preview, then clears the query.

use eframe::egui;

mod concepts_row;
mod grid;
mod preview;
mod query_row;

use concepts_row::concepts_row;
use grid::grid;
use preview::preview;
use query_row::{options_row, query_row, take_dropped_photo};

use super::Tab;
use super::images::Images;
use super::logic::{Command, Mark};
use super::logic::{ConceptsState, IndexingState, SearchState};
use crate::finder::{CUE_RESULTS, CueReading, Subject, quoted_words, reading_note};
use crate::index::Library;
use crate::index::filter::SortOrder;

/// What the view may touch: its own state, the settings it edits (order, tile size, the
/// tab a welcome button opens), the thumbnails, what it shows of the library and of
/// indexing, and where it sends commands.
pub struct View<'a> {
    /// The query, its results, marks, selection and preview.
    pub search: &'a mut SearchState,
    /// The remembered settings.
    pub settings: &'a mut crate::app::settings::Settings,
    /// Thumbnails and the preview's photo.
    pub images: Option<&'a mut Images>,
    /// The open library, once there is one.
    pub library: Option<&'a Library>,
    /// How many photos the open library holds.
    pub photos: usize,
    /// The indexing run, when one goes on (its results join these).
    pub indexing: &'a IndexingState,
    /// The library's concepts, and the name being typed for the marks.
    pub concepts: &'a mut ConceptsState,
    /// Why the models could not be opened.
    pub engine_error: Option<String>,
    /// What the user asked for, carried out after drawing.
    pub commands: &'a mut Vec<Command>,
}

/// Draws the view.
pub fn show(mut view: View<'_>, ui: &mut egui::Ui) {
    let view = &mut view;
    // Read before the rows are drawn: an open dropdown closes itself on Esc while drawn.
    let dropdown_open = egui::Popup::is_any_open(ui.ctx());
    query_row(view, ui);
    concepts_row(view, ui);
    options_row(view, ui);
    ui.separator();
    take_dropped_photo(view, ui);
    keyboard(view, ui, dropdown_open);
    if view.library.is_none() {
        empty_library(view, ui);
        return;
    }
    results_heading(view, ui);
    // The preview takes the grid's place, so the photo gets the whole pane.
    match view.search.preview {
        Some(i) if i < view.search.results.len() => preview(view, ui, i),
        _ => grid(view, ui),
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

/// The view's keys. `dropdown_open`: a dropdown or menu was open when the frame began, so
/// Esc was for it (it closes itself) and leaves the preview and the query alone.
fn keyboard(view: &mut View<'_>, ui: &mut egui::Ui, dropdown_open: bool) {
    let n = view.search.results.len();
    // Only a focused text box keeps the keys; buttons with focus do not.
    let typing = ui.ctx().egui_wants_keyboard_input();
    let columns = view.search.columns.max(1);
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
    // Esc while naming a concept only stops naming it.
    if escape && (view.concepts.naming.take().is_some() || view.concepts.naming_collection.take().is_some()) {
        escape = false;
    }
    let search = &mut view.search;
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
        view.commands.push(Command::UndoMark);
        return;
    }
    // In the preview, a mark is for the photo shown large.
    if let (Some(mark), Some(s)) = (mark, search.preview.or(search.selected))
        && let Some(item) = search.results.get(s)
    {
        let path = item.ranked.path.clone();
        let current = search.marks.get(&path).copied();
        view.commands.push(Command::Mark(path, if current == Some(mark) { None } else { Some(mark) }));
    }
}

fn empty_library(view: &mut View<'_>, ui: &mut egui::Ui) {
    ui.add_space(40.0);
    ui.vertical_centered(|ui| {
        if let Some(error) = &view.engine_error {
            ui.heading("Glimpse cannot run its models");
            ui.colored_label(ui.visuals().error_fg_color, error);
            ui.label("Then restart Glimpse.");
            return;
        }
        if view.indexing.running() {
            ui.heading("Indexing your photos…");
            ui.label("Results appear here as soon as the first run finishes.");
            if ui.button("Show progress").clicked() {
                view.settings.tab = Tab::Library;
            }
            return;
        }
        ui.heading("Welcome to Glimpse");
        ui.label("Glimpse finds your photos by what they show. Everything runs on this computer.");
        ui.add_space(12.0);
        // A rate this computer measured, or none: speeds differ too much between computers.
        let rate = match view.settings.photos_per_second {
            Some(rate) => format!(" (this computer did {rate:.0} photos a second last time)"),
            None => "; the Library view shows how fast it goes on this computer".into(),
        };
        ui.label(format!("1. Add a folder of photos. Glimpse looks at each photo once{rate}."));
        ui.label("2. Type what you are looking for: \u{201c}a dog running through water\u{201d}.");
        ui.label("3. Open, reveal or copy a result, or find photos that look like it.");
        ui.add_space(12.0);
        if ui.button("Add a folder of photos…").clicked() {
            view.commands.push(Command::PickFolder);
        }
        if ui.link("or type a folder's path in the Library view").clicked() {
            view.settings.tab = Tab::Library;
        }
    });
}

fn results_heading(view: &mut View<'_>, ui: &mut egui::Ui) {
    let search = &view.search;
    if let Some(error) = &search.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    // Words of the query the text model has no vector for: left out (a query of only such
    // words is an error above, with no photos).
    if search.error.is_none() && !search.browsing && !search.ignored.is_empty() {
        let (words, them) = quoted_words(&search.ignored);
        ui.label(format!("Ignored {words}: Glimpse has no vector for {them}."));
    }
    // Words read as others (a typo as the word meant), so a surprising result can be traced.
    if search.error.is_none() && !search.browsing && !search.read.is_empty() {
        let mut note = reading_note(&search.read);
        note[..1].make_ascii_uppercase();
        ui.label(format!("{note}."));
    }
    let ix = &view.indexing;
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
    let order = match view.settings.sort {
        SortOrder::Relevance => "",
        SortOrder::Newest => ", newest first",
        SortOrder::Oldest => ", oldest first",
    };
    let photos = view.photos;
    let more = if search.more_available(photos, view.settings) { ", more as you scroll" } else { "" };
    match &search.answered {
        Some(_) if search.browsing => {
            let order = if view.settings.sort == SortOrder::Oldest { "oldest" } else { "newest" };
            ui.label(format!(
                "Your {photos} photos, {order} first. Type what you are looking for, or drop a photo here to find ones like it."
            ));
        }
        Some(_) if let Subject::Collection(name) = &search.subject => {
            let n = search.results.len();
            ui.label(if n == 0 {
                format!("The collection \u{201c}{name}\u{201d} has no photo in the library now.")
            } else {
                format!(
                    "The collection \u{201c}{name}\u{201d}: {n} photos{more}, best match of its query first. Right-click a photo to take it out."
                )
            });
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

#[cfg(test)]
mod tests {
    use super::grid::{GAP, Layout, score_words};
    use super::*;
    use crate::app::logic::{ResultItem, SearchState};

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

//! The search view's query row: the query box with its label, the filters and the order.

use eframe::egui;

use super::View;

use super::{room_for, text_width};
use crate::app::logic::{Command, Mark};
use crate::app::settings::TILE_RANGE;
use crate::finder::Subject;
use crate::index::Library;
use crate::index::filter::SortOrder;

pub(super) fn query_row(view: &mut View<'_>, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        let label = ui.label("Query");
        // A photo search shows an empty box; typing starts a text search.
        let mut text = match &view.search.subject {
            Subject::Text(text) => text.clone(),
            Subject::Photo(_) | Subject::Collection(_) => String::new(),
        };
        let edit = egui::TextEdit::singleline(&mut text)
            .hint_text("a dog running through water   ·   \"beach\" - people   ·   2:sunset + ./photo.jpg")
            .desired_width(ui.available_width() - 320.0);
        let response = ui.add(edit).labelled_by(label.id);
        if response.changed() {
            view.search.subject = Subject::Text(text);
            view.search.edited = Some(std::time::Instant::now());
        }
        if response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
            view.commands.push(Command::Search);
        }
        if view.search.subject.is_empty()
            && !ui.memory(|m| m.has_focus(response.id))
            && ui.memory(|m| m.focused().is_none())
        {
            response.request_focus();
        }
        if view.search.busy() {
            ui.spinner();
        }
        if ui.button("Search by photo…").on_hover_text("Or drop a photo on the window").clicked() {
            view.commands.push(Command::PickPhoto);
        }
        let text_query = matches!(&view.search.subject, Subject::Text(t) if !t.trim().is_empty());
        let hint = "Keep this search (its filters and marks too) under a name: photos added later that match join it.";
        if ui.add_enabled(text_query, egui::Button::new("Save as collection\u{2026}")).on_hover_text(hint).clicked() {
            view.concepts.naming_collection = Some(String::new());
        }
    });
}

pub(super) fn options_row(view: &mut View<'_>, ui: &mut egui::Ui) {
    let mut changed = false;
    ui.horizontal_wrapped(|ui| {
        ui.horizontal(|ui| {
            let label = ui.label("Tile size");
            ui.add(egui::Slider::new(&mut view.settings.tile, TILE_RANGE).show_value(false))
                .labelled_by(label.id)
                .on_hover_text("Or Ctrl + mouse wheel over the results");
        });
        let before = view.settings.sort;
        room_for(ui, text_width(ui, "Order") + 140.0);
        ui.horizontal(|ui| {
            let label = ui.label("Order");
            egui::ComboBox::from_id_salt("sort")
                .selected_text(match view.settings.sort {
                    SortOrder::Newest => "Newest first",
                    SortOrder::Oldest => "Oldest first",
                    SortOrder::Relevance => "Best match",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut view.settings.sort, SortOrder::Relevance, "Best match");
                    ui.selectable_value(&mut view.settings.sort, SortOrder::Newest, "Newest first");
                    ui.selectable_value(&mut view.settings.sort, SortOrder::Oldest, "Oldest first");
                })
                .response
                .labelled_by(label.id);
        });
        changed |= before != view.settings.sort;
        if view.settings.sort != SortOrder::Relevance {
            room_for(ui, text_width(ui, "among the best") + 60.0);
            ui.horizontal(|ui| {
                let label = ui.label("among the best");
                changed |= ui
                    .add(egui::DragValue::new(&mut view.settings.pool).range(1..=10_000))
                    .labelled_by(label.id)
                    .changed();
            });
        }
        ui.separator();
        let filter = &mut view.search.filter;
        let roots = view.library.map(Library::roots).unwrap_or_default();
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
        let search = &view.search;
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
                view.commands.push(Command::UseMarks);
            }
            if ui.button("Clear marks").clicked() {
                view.commands.push(Command::ClearMarks);
            }
            let good = search.marks.values().filter(|m| **m == Mark::Good).count();
            if good > 0 {
                super::concepts_row::save_marks(view, ui);
            }
        }
    });
    if changed {
        view.search.edited = Some(std::time::Instant::now());
    }
}

/// A query as the window names it: quoted text, or the photo searched by.
pub(super) fn query_label(subject: &Subject) -> String {
    match subject {
        Subject::Text(text) if text.trim().is_empty() => "browsing".into(),
        Subject::Text(text) => format!("\u{201c}{}\u{201d}", text.trim()),
        Subject::Photo(photo) => {
            format!("photos like {}", photo.file_name().unwrap_or(photo.as_os_str()).to_string_lossy())
        }
        Subject::Collection(name) => format!("the collection \u{201c}{name}\u{201d}"),
    }
}

pub(super) fn take_dropped_photo(view: &mut View<'_>, ui: &mut egui::Ui) {
    let dropped: Option<std::path::PathBuf> = ui.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()));
    if let Some(path) = dropped.filter(|p| !p.as_os_str().is_empty()) {
        view.commands.push(Command::FindSimilar(path));
    }
}

//! The library's concepts beside the query: each a chip (highlighted when the query names
//! it) that adds its name to the query, with a menu to remove it; and the field that saves
//! the marks as a concept.

use eframe::egui;

use super::View;
use crate::app::logic::Command;
use crate::finder::{Subject, concept_note};

/// The row of concept chips, and what the query's concepts stand for; the row of
/// collections with their counts; the name field of a collection being saved.
pub(super) fn concepts_row(view: &mut View<'_>, ui: &mut egui::Ui) {
    collection_name(view, ui);
    collections_row(view, ui);
    if view.concepts.list.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Your concepts").on_hover_text(
            "Photos you taught Glimpse by example. A concept's name in a query, in any case and outside quotes, is the concept: \u{201c}Rex on the beach\u{201d}, \u{201c}Rex - snow\u{201d}.",
        );
        let list = view.concepts.list.clone();
        for chip in list {
            let used = view.search.concepts.iter().any(|u| u.name == chip.name);
            let like = if chip.words.is_empty() { String::new() } else { format!(", like {}", chip.words.join(", ")) };
            let hover = format!(
                "{} photos{like}. Click to add it to the query; right-click to remove it.",
                chip.examples
            );
            let response = ui.add(egui::Button::selectable(used, chip.name.as_str()).frame_when_inactive(true)).on_hover_text(hover);
            if response.clicked() && !used {
                let text = match &view.search.subject {
                    Subject::Text(text) if !text.trim().is_empty() => format!("{} {}", text.trim_end(), chip.name),
                    _ => chip.name.clone(),
                };
                view.search.subject = Subject::Text(text);
                view.search.edited = Some(std::time::Instant::now());
            }
            response.context_menu(|ui| {
                if ui.button(format!("Remove \u{201c}{}\u{201d}", chip.name)).clicked() {
                    view.commands.push(Command::RemoveConcept(chip.name.clone()));
                    ui.close();
                }
            });
        }
        if view.concepts.busy() {
            ui.spinner();
        }
    });
    // A name that is also words the model knows stands for the concept: say so.
    for used in view.search.concepts.iter().filter(|u| u.shadows_words) {
        ui.label(concept_note(used));
    }
}

/// "Save as concept…", then the name field with Save and Cancel.
pub(super) fn save_marks(view: &mut View<'_>, ui: &mut egui::Ui) {
    match &mut view.concepts.naming {
        None => {
            let hint = "Keep these marks under a name (Rex, grandma's garden): the name then finds photos like the good ones in any query.";
            if ui.button("Save as concept\u{2026}").on_hover_text(hint).clicked() {
                view.concepts.naming = Some(String::new());
            }
        }
        Some(name) => {
            let label = ui.label("Name");
            let response = ui
                .add(egui::TextEdit::singleline(name).hint_text("e.g. Rex").desired_width(140.0))
                .labelled_by(label.id);
            if name.is_empty() && !response.has_focus() && ui.memory(|m| m.focused().is_none()) {
                response.request_focus();
            }
            // Enter here saves; taken so that it does not also open the selected result.
            let enter =
                response.lost_focus() && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
            let name = name.trim().to_string();
            let save = ui.add_enabled(!name.is_empty(), egui::Button::new("Save")).clicked();
            if (save || enter) && !name.is_empty() {
                view.commands.push(Command::SaveConcept(name));
            }
            if ui.button("Cancel").clicked() {
                view.concepts.naming = None;
            }
        }
    }
}

/// The collections as chips with their counts ("Rex outdoors · 11, 2 new").
fn collections_row(view: &mut View<'_>, ui: &mut egui::Ui) {
    if view.concepts.collections.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("Your collections").on_hover_text(
            "Saved searches: photos added to the library later that match as well join them. `glimpse collection export` copies one into a folder with XMP keywords.",
        );
        for c in view.concepts.collections.clone() {
            let new = if c.new > 0 { format!(", {} new", c.new) } else { String::new() };
            let hover = format!(
                "Its query: \u{201c}{}\u{201d}. Click to show its photos (the new ones are flagged, then count as seen); right-click a photo to add it to a collection or take it out; right-click here to remove the collection.",
                c.query
            );
            let open = view.search.subject == Subject::Collection(c.name.clone());
            let chip = egui::Button::new(format!("{} \u{b7} {}{new}", c.name, c.photos)).selected(open);
            let response = ui.add(chip).on_hover_text(hover);
            if response.clicked() {
                view.commands.push(Command::OpenCollection(c.name.clone()));
            }
            response.context_menu(|ui| {
                if ui.button(format!("Remove \u{201c}{}\u{201d}", c.name)).clicked() {
                    view.commands.push(Command::RemoveCollection(c.name.clone()));
                    ui.close();
                }
            });
        }
    });
}

/// The name field of the query being saved as a collection, with Save and Cancel.
fn collection_name(view: &mut View<'_>, ui: &mut egui::Ui) {
    let Some(name) = &mut view.concepts.naming_collection else { return };
    let mut save = None;
    let mut cancel = false;
    ui.horizontal(|ui| {
        let label = ui.label("Collection name");
        let response = ui
            .add(egui::TextEdit::singleline(name).hint_text("e.g. Rex at the beach").desired_width(200.0))
            .labelled_by(label.id);
        if name.is_empty() && !response.has_focus() && ui.memory(|m| m.focused().is_none()) {
            response.request_focus();
        }
        let enter = response.lost_focus() && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
        let trimmed = name.trim().to_string();
        let clicked = ui.add_enabled(!trimmed.is_empty(), egui::Button::new("Save collection")).clicked();
        if (clicked || enter) && !trimmed.is_empty() {
            save = Some(trimmed);
        }
        cancel = ui.button("Cancel").clicked();
    });
    if let Some(name) = save {
        view.commands.push(Command::SaveCollection(name));
    }
    if cancel {
        view.concepts.naming_collection = None;
    }
}

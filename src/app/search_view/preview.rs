//! The preview: one result shown large, in the grid's place, with its actions and marks.

use eframe::egui;

use super::View;

use super::grid::{mark_button, result_actions, score_words};
use crate::app::logic::{Command, Mark, date_label};

/// Decoded size of the preview: a 2560-point pane shows it at most 1.6 times enlarged.
const PREVIEW_SIDE: u32 = 1600;

/// The largest rectangle of `size`'s proportions inside `frame`, centred.
pub(super) fn fit(size: egui::Vec2, frame: egui::Rect) -> egui::Rect {
    let scale = (frame.width() / size.x.max(1.0)).min(frame.height() / size.y.max(1.0));
    egui::Rect::from_center_size(frame.center(), size * scale)
}

/// The result shown large, in the grid's place: its actions and marks, what it is, and the
/// photo scaled to fill the pane.
pub(super) fn preview(view: &mut View<'_>, ui: &mut egui::Ui, i: usize) {
    let Some(item) = view.search.results.get(i).cloned() else { return };
    let mark = view.search.marks.get(&item.ranked.path).copied();
    ui.horizontal_wrapped(|ui| {
        if ui.button("Back to the results").on_hover_text("Esc").clicked() {
            view.search.preview = None;
        }
        ui.separator();
        result_actions(view, ui, &item);
        ui.separator();
        for (kind, text, hint) in
            [(Mark::Good, "Good match", "More like this (G)"), (Mark::Bad, "Bad match", "Less like this (B)")]
        {
            let on = mark == Some(kind);
            if mark_button(ui, kind, text, on).on_hover_text(hint).clicked() {
                view.commands.push(Command::Mark(item.ranked.path.clone(), (!on).then_some(kind)));
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
    .on_hover_text(score_words(view.search, &item));
    ui.add(egui::Label::new(item.ranked.path.display().to_string()).truncate());
    let title = item.ranked.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if let Some(images) = view.images.as_deref_mut() {
        ui.vertical_centered(|ui| images.show_large(ui, &item.ranked.path, PREVIEW_SIDE, &title));
    }
}

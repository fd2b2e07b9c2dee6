//! The duplicates view: groups of near-identical photos side by side, with sizes and dates,
//! to open or show in their folder. Glimpse never deletes a photo.

use eframe::egui;

use super::images::Images;
use super::logic::{Command, DuplicatesState, date_label};
use crate::index::duplicates::DEFAULT_THRESHOLD;

/// Side of a thumbnail, in points.
const SIDE: f32 = 150.0;

/// What the view may touch: its own state, the thumbnails, and where it sends commands.
pub struct View<'a> {
    /// The groups, the slider, the running job.
    pub state: &'a mut DuplicatesState,
    /// True once a library is open.
    pub library_open: bool,
    /// Thumbnails.
    pub images: Option<&'a mut Images>,
    /// What the user asked for, carried out after drawing.
    pub commands: &'a mut Vec<Command>,
}

/// Draws the view.
pub fn show(view: View<'_>, ui: &mut egui::Ui) {
    let View { state, library_open, mut images, commands } = view;
    ui.heading("Near-duplicates");
    ui.label("Burst shots, resized copies and re-encodes of the same picture, found by what the photos look like. Glimpse never deletes a photo: open or show each copy and decide.");
    ui.horizontal(|ui| {
        let ready = library_open && !state.running();
        if ui.add_enabled(ready, egui::Button::new("Find duplicates")).clicked() {
            commands.push(Command::FindDuplicates);
        }
        let label = ui.label("How alike");
        let slider = egui::Slider::new(&mut state.threshold, 0.6..=0.99)
            .step_by(0.01)
            .fixed_decimals(2)
            .text("feature cosine");
        let response = ui.add(slider).labelled_by(label.id).on_hover_text(format!(
            "Lower finds more, and more look-alikes that are different photos: different shots of one scene (two riders on one track, a burst a moment apart) reach 0.80 to 0.84 among 1,710 Flickr8k photos. Higher splits copies: a photo resized to 40 % scores as low as 0.77 with its original, re-encoded or cropped copies 0.89 and up. {DEFAULT_THRESHOLD} keeps every such copy together."
        ));
        // Regroup when the slider is let go, not on every step of the drag.
        let let_go = response.drag_stopped() || (response.changed() && !response.dragged());
        if let_go && state.groups.is_some() && ready {
            commands.push(Command::FindDuplicates);
        }
        if state.running() {
            ui.spinner();
        }
    });
    let Some(groups) = &state.groups else { return };
    if groups.is_empty() {
        ui.label("No near-duplicates in the library.");
        return;
    }
    let compared = match state.compared {
        Some((photos, threshold)) => {
            format!("Compared {photos} photos by their backbone features at similarity \u{2265} {threshold:.2}: ")
        }
        None => String::new(),
    };
    ui.label(format!("{compared}{} groups", groups.len()));
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        for (g, group) in groups.iter().enumerate() {
            ui.separator();
            ui.label(format!("Group {} \u{b7} {} photos", g + 1, group.len()));
            ui.horizontal_top(|ui| {
                for photo in group {
                    ui.vertical(|ui| {
                        ui.set_width(SIDE);
                        let name = photo.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                        let slot = images
                            .as_mut()
                            .and_then(|images| images.thumbnail(photo.thumbnail.as_deref(), &photo.path, 256).ok());
                        match slot.flatten() {
                            Some(texture) => {
                                ui.add_sized(
                                    [SIDE, SIDE],
                                    egui::Image::new(&texture)
                                        .fit_to_exact_size(egui::vec2(SIDE, SIDE))
                                        .alt_text(name.clone()),
                                );
                            }
                            None => placeholder(ui, &name),
                        }
                        ui.label(&name).on_hover_text(photo.path.display().to_string());
                        // Two copies often share a name: the folder tells them apart. Its
                        // end is what differs, so a long path keeps its end.
                        if let Some(folder) = photo.path.parent() {
                            let font = egui::TextStyle::Body.resolve(ui.style());
                            let width = |text: &str| {
                                ui.painter()
                                    .layout_no_wrap(text.to_string(), font.clone(), egui::Color32::WHITE)
                                    .size()
                                    .x
                            };
                            let shown = fit_tail(&folder.display().to_string(), SIDE, width);
                            ui.weak(shown).on_hover_text(photo.path.display().to_string());
                        }
                        ui.label(format!(
                            "{}\u{d7}{} \u{b7} {:.2} MB",
                            photo.width,
                            photo.height,
                            photo.bytes as f64 / 1e6
                        ));
                        ui.label(date_label(photo.date, photo.date_source));
                        ui.horizontal(|ui| {
                            if ui.button("Open").clicked() {
                                commands.push(Command::Open(photo.path.clone()));
                            }
                            if ui.button("Show in folder").clicked() {
                                commands.push(Command::Reveal(photo.path.clone()));
                            }
                        });
                    });
                }
            });
        }
    });
}

/// The thumbnail's square while it loads: a frame with the file's name centred in it, drawn
/// as plain text (a label stretched to the square would be justified, its letters spread).
fn placeholder(ui: &mut egui::Ui, name: &str) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(SIDE, SIDE), egui::Sense::hover());
    let visuals = ui.visuals();
    ui.painter().rect_filled(rect, 4.0, visuals.extreme_bg_color);
    let font = egui::TextStyle::Small.resolve(ui.style());
    let galley = ui.painter().layout(name.to_string(), font, visuals.weak_text_color(), SIDE - 12.0);
    let at = rect.center() - galley.size() / 2.0;
    ui.painter().galley(at, galley, visuals.weak_text_color());
}

/// The longest end of `text` that is at most `max` wide as measured by `width`, led by "…"
/// when cut: `/home/me/Pictures/2024` → "…/Pictures/2024".
fn fit_tail(text: &str, max: f32, width: impl Fn(&str) -> f32) -> String {
    let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    if starts.len() < 2 || width(text) <= max {
        return text.to_string();
    }
    let shown = |from: usize| format!("\u{2026}{}", &text[starts[from]..]);
    // The fewest characters left out such that the rest fits: a binary search over where
    // the end starts (later starts are narrower).
    let (mut low, mut high) = (1, starts.len() - 1);
    while low < high {
        let mid = (low + high) / 2;
        if width(&shown(mid)) <= max { high = mid } else { low = mid + 1 }
    }
    shown(low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_folder_keeps_its_end_where_copies_differ() {
        let chars = |text: &str| text.chars().count() as f32;
        assert_eq!(fit_tail("/photos/2024", 22.0, chars), "/photos/2024");
        let cut = fit_tail("/home/someone/Pictures/holiday/copies", 22.0, chars);
        assert_eq!(cut, "\u{2026}ctures/holiday/copies");
        assert_eq!(chars(&cut), 22.0);
    }
}

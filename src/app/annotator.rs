//! The annotator view. Your library: each photo beside the caption the person writes for it
//! (kept with the library; a query with its words finds the photo first; exported to XMP and
//! Flickr8k's format by `glimpse caption export` and `glimpse collection export`). Flickr8k:
//! photos beside their five captions, filtered by split and by words, with where the current
//! model ranks each caption's photo (a quick way to find the captions it gets wrong).

use eframe::egui;

use super::images::Images;
use super::logic::{AnnotatorState, Command, Source};
use crate::dataset::Split;

/// Decoded size of the annotator's photo.
const PHOTO_SIDE: u32 = 640;

/// What the view may touch: its own state, the Flickr8k folder setting it edits, the photos,
/// and where it sends commands.
pub struct View<'a> {
    /// The loaded split, filters, selection and caption ranks.
    pub state: &'a mut AnnotatorState,
    /// The Flickr8k folder, as typed (shared with the training view).
    pub flickr8k: &'a mut String,
    /// Photos.
    pub images: Option<&'a mut Images>,
    /// What the user asked for, carried out after drawing.
    pub commands: &'a mut Vec<Command>,
}

/// Draws the view.
pub fn show(mut view: View<'_>, ui: &mut egui::Ui) {
    let view = &mut view;
    ui.horizontal(|ui| {
        ui.label("Photos of");
        let source = &mut view.state.source;
        ui.selectable_value(source, Source::Library, "Your library")
            .on_hover_text("Write a caption for your own photos: its words find the photo");
        ui.selectable_value(source, Source::Flickr8k, "Flickr8k")
            .on_hover_text("The dataset's photos with their five captions, and where the current model ranks them");
    });
    if view.state.source == Source::Library {
        library::show(view, ui);
        return;
    }
    controls(view, ui);
    let an = &view.state;
    if let Some(error) = &an.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    if an.items.is_empty() {
        ui.add_space(20.0);
        ui.label("Choose the Flickr8k folder (the same one the training panel uses), pick a split and load it.");
        return;
    }
    ui.separator();
    let visible = visible_items(view);
    // The detail shows a photo of the list: the first when a filter left out the one shown.
    let an = &mut view.state;
    if an.selected.is_none_or(|i| !visible.contains(&i)) {
        an.selected = visible.first().copied();
    }
    egui::Panel::left("annotator-list").default_size(330.0).show(ui, |ui| {
        ui.label(format!("{} photos", visible.len()));
        if view.state.ranks.is_some() {
            ui.small("worst: the lowest rank the current model gives the photo for any of its five captions (1 = found first)");
        }
        egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(ui, 18.0, visible.len(), |ui, range| {
            for &i in &visible[range] {
                let item = &view.state.items[i];
                let worst = view.state.ranks.as_ref().and_then(|r| r.ranks[i].iter().max().copied());
                let text = match worst {
                    Some(rank) => format!("{}  \u{b7} worst rank {rank}", item.image),
                    None => item.image.clone(),
                };
                if ui.selectable_label(view.state.selected == Some(i), text).clicked() {
                    view.state.selected = Some(i);
                }
            }
        });
    });
    egui::CentralPanel::default_margins().show(ui, |ui| detail(view, ui));
}

fn controls(view: &mut View<'_>, ui: &mut egui::Ui) {
    ui.horizontal(|ui| {
        let label = ui.label("Flickr8k folder");
        ui.add(egui::TextEdit::singleline(&mut *view.flickr8k).desired_width(320.0)).labelled_by(label.id);
        if ui.button("Choose…").clicked() {
            view.commands.push(Command::PickFlickr8k);
        }
        let label = ui.label("Split");
        let an = &mut view.state;
        let mut split = an.split.unwrap_or(Split::Dev);
        egui::ComboBox::from_id_salt("split")
            .selected_text(split.name())
            .show_ui(ui, |ui| {
                for s in Split::ALL {
                    ui.selectable_value(&mut split, s, s.name());
                }
            })
            .response
            .labelled_by(label.id);
        let changed = an.split != Some(split);
        an.split = Some(split);
        if ui.button("Load").clicked() || (changed && !an.items.is_empty()) {
            view.commands.push(Command::LoadFlickr8k);
        }
    });
    ui.horizontal(|ui| {
        let an = &mut view.state;
        let label = ui.label("Captions with");
        ui.add(egui::TextEdit::singleline(&mut an.words).hint_text("dog water").desired_width(200.0))
            .labelled_by(label.id);
        let can_rank = !an.items.is_empty() && an.rank_running().is_none();
        if ui.add_enabled(can_rank, egui::Button::new("Rank with the current model")).clicked() {
            view.commands.push(Command::RankCaptions);
        }
        if let Some((done, total)) = view.state.rank_running() {
            ui.spinner();
            ui.label(if total > 0 { format!("photo features {done} / {total}") } else { "ranking…".into() });
        }
        let an = &mut view.state;
        if let Some(ranks) = &an.ranks {
            ui.checkbox(&mut an.worst_first, "worst first").on_hover_text(
                "Photos whose captions the model ranks worst first: a photo's worst rank is the lowest rank the current model gives it for any of its five captions",
            );
            ui.label(format!(
                "{} photos: R@1 {:.1} R@5 {:.1} R@10 {:.1}",
                ranks.metrics.images, ranks.metrics.t2i.r1, ranks.metrics.t2i.r5, ranks.metrics.t2i.r10
            ));
        }
    });
}

/// Indices of the items whose captions contain every typed word, worst-ranked first when asked.
fn visible_items(view: &View<'_>) -> Vec<usize> {
    let an = &view.state;
    let words: Vec<String> = an.words.split_whitespace().map(str::to_lowercase).collect();
    let mut visible: Vec<usize> = (0..an.items.len())
        .filter(|&i| {
            words.is_empty()
                || an.items[i].captions.iter().any(|c| {
                    let c = c.to_lowercase();
                    words.iter().all(|w| c.split(|ch: char| !ch.is_alphanumeric()).any(|t| t == w))
                })
        })
        .collect();
    if an.worst_first
        && let Some(ranks) = &an.ranks
    {
        visible.sort_by_key(|&i| std::cmp::Reverse(ranks.ranks[i].iter().max().copied().unwrap_or(0)));
    }
    visible
}

fn detail(view: &mut View<'_>, ui: &mut egui::Ui) {
    let Some(i) = view.state.selected else { return };
    let Some(item) = view.state.items.get(i).cloned() else { return };
    ui.heading(&item.image);
    let ranks = view.state.ranks.as_ref().map(|r| r.ranks[i].clone());
    for (c, caption) in item.captions.iter().enumerate() {
        ui.horizontal(|ui| {
            match ranks.as_ref().and_then(|r| r.get(c)) {
                Some(rank) => {
                    let color =
                        if *rank <= 10 { egui::Color32::from_rgb(60, 170, 80) } else { ui.visuals().error_fg_color };
                    ui.colored_label(color, format!("rank {rank:>4}"));
                }
                None => {
                    ui.label(format!("{}.", c + 1));
                }
            }
            ui.label(caption);
        });
    }
    ui.add_space(8.0);
    if let Some(images) = view.images.as_deref_mut() {
        images.show_large(ui, &item.path, PHOTO_SIDE, &item.image);
    }
}

/// The library's photos and the captions the person writes for them.
mod library {
    use eframe::egui;

    use super::{PHOTO_SIDE, View};
    use crate::app::logic::Command;

    /// Draws the library's side of the annotator.
    pub(super) fn show(view: &mut View<'_>, ui: &mut egui::Ui) {
        let lib = &mut view.state.library;
        if lib.photos.is_empty() && lib.reading() {
            ui.add_space(20.0);
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Reading your library\u{2026}");
            });
            return;
        }
        if lib.photos.is_empty() {
            ui.add_space(20.0);
            ui.label("Your library has no photos yet: add a folder in Library, then write captions for its photos here. A caption's words find its photo first in Search.");
            return;
        }
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Photos with");
            ui.add(
                egui::TextEdit::singleline(&mut lib.words)
                    .hint_text("words of a caption or a file name")
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
            ui.checkbox(&mut lib.uncaptioned_only, "only those without a caption");
            ui.label(format!("{} of {} photos have a caption", lib.captioned(), lib.photos.len()));
            if lib.saving() {
                ui.spinner();
            }
        });
        ui.separator();
        let visible = lib.visible();
        // It opens on the first photo still to caption (typing goes straight into it).
        if lib.selected.is_none_or(|i| !visible.contains(&i)) {
            let uncaptioned = visible.iter().copied().find(|&i| lib.photos[i].caption.trim().is_empty());
            lib.selected = uncaptioned.or(visible.first().copied());
        }
        egui::Panel::left("annotator-library-list").default_size((ui.available_width() * 0.4).min(330.0)).show(
            ui,
            |ui| {
                ui.label(format!("{} photos", visible.len()));
                egui::ScrollArea::vertical().auto_shrink([false, false]).show_rows(
                    ui,
                    18.0,
                    visible.len(),
                    |ui, range| {
                        for &i in &visible[range] {
                            let photo = &lib.photos[i];
                            let name =
                                photo.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                            let text = if photo.caption.is_empty() {
                                name
                            } else {
                                format!("{name}  \u{b7} {}", photo.caption)
                            };
                            if ui.add(egui::Button::selectable(lib.selected == Some(i), text).truncate()).clicked() {
                                lib.selected = Some(i);
                            }
                        }
                    },
                );
            },
        );
        egui::CentralPanel::default_margins().show(ui, |ui| detail(view, ui, &visible));
    }

    /// The photo shown, its caption field (Enter keeps it and shows the next photo of the
    /// list without one) and the photo itself.
    fn detail(view: &mut View<'_>, ui: &mut egui::Ui, visible: &[usize]) {
        let lib = &mut view.state.library;
        let Some(i) = lib.selected else { return };
        let Some(photo) = lib.photos.get(i).cloned() else { return };
        if lib.draft_for.as_ref() != Some(&photo.path) {
            lib.draft = photo.caption.clone();
            lib.draft_for = Some(photo.path.clone());
        }
        let name = photo.path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        ui.heading(&name);
        ui.small(photo.path.display().to_string());
        let mut save = false;
        // Room for Save, and for Remove when there is a caption to remove.
        let buttons = if photo.caption.is_empty() { 230.0 } else { 370.0 };
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Caption");
            let response = ui
                .add(
                    egui::TextEdit::singleline(&mut lib.draft)
                        .hint_text(
                            "what the photo shows, as you would tell a friend: Rex asleep on grandma\u{2019}s sofa",
                        )
                        .desired_width((ui.available_width() - buttons).max(160.0)),
                )
                .labelled_by(label.id);
            // Enter keeps the caption (and is not also taken as a key by another view).
            save = response.lost_focus() && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Enter));
            // Typing goes into the caption unless another field has the keys: after Enter,
            // the next photo's caption is written straight away.
            if !save && !response.has_focus() && ui.memory(|m| m.focused().is_none()) {
                response.request_focus();
            }
            let changed = lib.draft.trim() != photo.caption.trim();
            save |= ui.add_enabled(changed, egui::Button::new("Save caption")).clicked();
            if !photo.caption.is_empty() && ui.button("Remove caption").clicked() {
                lib.draft.clear();
                view.commands.push(Command::SaveCaption(photo.path.clone(), String::new()));
            }
        });
        if save {
            if lib.draft.trim() != photo.caption.trim() {
                view.commands.push(Command::SaveCaption(photo.path.clone(), lib.draft.clone()));
            }
            // The next photo of the list that has no caption, after this one.
            let at = visible.iter().position(|&v| v == i).unwrap_or(0);
            let next = visible[at + 1..].iter().copied().find(|&v| lib.photos[v].caption.trim().is_empty());
            if let Some(next) = next {
                lib.selected = Some(next);
            }
        }
        ui.small("Kept with the library. A query with half of a caption\u{2019}s words finds its photo first; `glimpse caption export` writes the captions in Flickr8k\u{2019}s format, and an exported collection writes them into its XMP files.");
        ui.add_space(8.0);
        if let Some(images) = view.images.as_deref_mut() {
            images.show_large(ui, &photo.path, PHOTO_SIDE, &name);
        }
    }
}

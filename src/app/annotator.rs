//! The annotator view: Flickr8k photos beside their five captions, filtered by split and by
//! words, with where the current model ranks each caption's photo (a quick way to find the
//! captions it gets wrong).

use eframe::egui;

use super::images::Images;
use super::logic::{AnnotatorState, Command};
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

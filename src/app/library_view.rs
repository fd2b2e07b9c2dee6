//! The library view: its folders, adding and removing them, exclude patterns, indexing with
//! progress, rate, ETA and cancel, and the files that were skipped with why.

use eframe::egui;

use super::logic::{Command, IndexingState, Phase, WatchState};
use super::search_view::{room_for, text_width};
use crate::index::Library;

/// What the view may touch: indexing's state, what it shows of the watch and the open
/// library, and where it sends commands.
pub struct View<'a> {
    /// The running or last indexing run, the folder typed, the exclude patterns.
    pub indexing: &'a mut IndexingState,
    /// Whether the folders are watched.
    pub watch: &'a WatchState,
    /// The open library, once there is one.
    pub library: Option<&'a Library>,
    /// True while the models or the library are being (re)opened.
    pub opening: bool,
    /// The index file.
    pub index: &'a std::path::Path,
    /// What the user asked for, carried out after drawing.
    pub commands: &'a mut Vec<Command>,
}

/// Draws the view.
pub fn show(mut view: View<'_>, ui: &mut egui::Ui) {
    let view = &mut view;
    ui.heading("Your library");
    ui.label(format!("Index: {}", view.index.display()));
    ui.add_space(6.0);
    folders(view, ui);
    ui.add_space(6.0);
    add_row(view, ui);
    ui.separator();
    progress(view, ui);
    ui.separator();
    excludes(view, ui);
    ui.separator();
    skipped(view, ui);
}

fn folders(view: &mut View<'_>, ui: &mut egui::Ui) {
    let roots = view.library.map(Library::roots).unwrap_or_default();
    // Folders of a run stay listed until the library that has them has reopened, so the
    // list does not flash empty between the two.
    let busy = view.indexing.running() || view.opening;
    for dir in &view.indexing.adding {
        if busy && !roots.contains(dir) {
            ui.label(format!("Adding {}", dir.display()));
        }
    }
    for dir in &view.indexing.queued {
        ui.label(format!("Adding {} after the current run", dir.display()));
    }
    if roots.is_empty() && (view.indexing.adding.is_empty() || !busy) && view.indexing.queued.is_empty() {
        ui.label("No folders yet. Add the folders that hold your photos; Glimpse never changes or deletes them.");
        return;
    }
    let running = view.indexing.running();
    let offline = view.library.map(|l| l.offline().to_vec()).unwrap_or_default();
    egui::Grid::new("folders").striped(true).show(ui, |ui| {
        for root in roots {
            ui.label(root.display().to_string());
            match offline.iter().find(|o| o.folder == root) {
                Some(o) => {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("offline: {} · {} photos kept, left out of results", o.reason, o.photos),
                    )
                    .on_hover_text(
                        "They stay in the library and come back without being looked at again when the folder is there. Remove takes them out.",
                    );
                }
                None => {
                    ui.label("");
                }
            }
            if ui
                .add_enabled(!running, egui::Button::new("Remove"))
                .on_hover_text("Its photos leave the index; the files stay")
                .clicked()
            {
                view.commands.push(Command::RemoveFolder(root));
            }
            ui.end_row();
        }
    });
    watch_line(view, ui);
}

/// Whether the folders are watched: new photos need no button press while it says so.
fn watch_line(view: &View<'_>, ui: &mut egui::Ui) {
    let watch = &view.watch;
    if let Some(why) = &watch.failed {
        ui.colored_label(ui.visuals().warn_fg_color, format!("Not watching the folders ({why}): use Update index."));
        return;
    }
    let Some((watched, problems)) = &watch.watching else { return };
    if *watched > 0 {
        ui.label(if watch.pending {
            "Photos changed in these folders: the index is updated when the current work ends."
        } else {
            "Watching these folders: new, changed and deleted photos are picked up by themselves."
        });
    }
    for (folder, why) in problems {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            format!("Not watching {} ({why}); tried again every few seconds.", folder.display()),
        );
    }
}

fn add_row(view: &mut View<'_>, ui: &mut egui::Ui) {
    let running = view.indexing.running();
    // Adding works during a run too: the folder is added right after it. The row wraps in a
    // narrow window (640 points cut "Update index" off), the typed path's label, field and
    // button as one, the field narrowing before it wraps.
    ui.horizontal_wrapped(|ui| {
        if ui.button("Add a folder…").clicked() {
            view.commands.push(Command::PickFolder);
        }
        let spacing = ui.spacing().item_spacing.x;
        let button = text_width(ui, "Add folder") + 2.0 * ui.spacing().button_padding.x;
        room_for(ui, text_width(ui, "or type its path") + FIELD_WIDTH.start() + button + 3.0 * spacing);
        ui.horizontal(|ui| {
            let label = ui.label("or type its path");
            // What is left of the row once the label is placed, less the button after it.
            let width = (ui.available_width() - button - 2.0 * spacing).clamp(*FIELD_WIDTH.start(), *FIELD_WIDTH.end());
            let edit = egui::TextEdit::singleline(&mut view.indexing.typed_folder)
                .hint_text("/home/me/Pictures")
                .desired_width(width);
            let response = ui.add(edit).labelled_by(label.id);
            let typed = view.indexing.typed_folder.trim().to_string();
            let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.add_enabled(!typed.is_empty(), egui::Button::new("Add folder")).clicked() || enter)
                && !typed.is_empty()
            {
                let path = crate::locations::expand_home(&typed);
                view.indexing.typed_folder.clear();
                view.commands.push(Command::AddFolder(path));
            }
        });
        if view.library.is_some() {
            room_for(ui, text_width(ui, "Update index") + 2.0 * ui.spacing().button_padding.x);
            if ui.add_enabled(!running, egui::Button::new("Update index")).clicked() {
                view.commands.push(Command::Reindex);
            }
        }
    });
}

/// The typed path's field: 320 points where there is room, never under 160.
const FIELD_WIDTH: std::ops::RangeInclusive<f32> = 160.0..=320.0;

fn progress(view: &mut View<'_>, ui: &mut egui::Ui) {
    let ix = &view.indexing;
    if !ix.running() {
        match &ix.report {
            Some(r) => {
                ui.label(format!(
                    "Last run: {}{}",
                    r.summary(),
                    if r.stopped { " — stopped; update the index to finish" } else { "" }
                ));
            }
            None => match view.library.map(Library::len) {
                Some(photos) if photos > 0 => {
                    let watched = view.watch.watching.as_ref().is_some_and(|(n, _)| *n > 0);
                    ui.label(if watched {
                        format!("{photos} photos indexed.")
                    } else {
                        format!("{photos} photos indexed. Update the index to look for new or changed photos.")
                    });
                }
                _ => {
                    ui.label("Nothing is indexed yet: add a folder of photos.");
                }
            },
        }
        return;
    }
    let what = match ix.phase {
        Phase::Scanning | Phase::Idle => "Looking for photos…",
        Phase::Embedding => "Looking at photos",
        Phase::Projecting => "Preparing text search",
    };
    ui.label(if ix.stopping() { "Stopping after the current batch…" } else { what });
    if let Some(waiting) = &ix.waiting {
        ui.colored_label(ui.visuals().warn_fg_color, waiting);
    }
    if let Some(plan) = &ix.plan {
        ui.label(plan);
    }
    let fraction = if ix.total == 0 { 0.0 } else { ix.done as f32 / ix.total as f32 };
    let mut text = format!("{} / {}", ix.done, ix.total);
    if let Some((rate, eta)) = ix.rate_and_eta() {
        text.push_str(&format!(" · {rate:.1} photos/s · about {} left", human_duration(eta)));
    }
    let skipped = ix.skipped.len();
    let stopping = ix.stopping();
    ui.horizontal(|ui| {
        ui.add(egui::ProgressBar::new(fraction).text(text).desired_width(ui.available_width() - 90.0));
        if ui.add_enabled(!stopping, egui::Button::new("Cancel")).clicked() {
            view.commands.push(Command::CancelIndexing);
        }
    });
    if skipped > 0 {
        ui.label(format!("{skipped} files skipped so far"));
    }
}

/// `75.0` → "1 min 15 s".
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn excludes(view: &mut View<'_>, ui: &mut egui::Ui) {
    ui.collapsing("Exclude patterns", |ui| {
        ui.label("Files and folders matching these globs are skipped, one per line (empty: the defaults). They apply from the next indexing run.");
        let label = ui.label("Patterns");
        ui.add(egui::TextEdit::multiline(&mut view.indexing.excludes).desired_rows(4).hint_text("@eaDir\n.git\n*.tmp"))
            .labelled_by(label.id);
    });
}

fn skipped(view: &mut View<'_>, ui: &mut egui::Ui) {
    let mut rows: Vec<(String, String)> =
        view.indexing.skipped.iter().map(|(p, r)| (p.display().to_string(), r.clone())).collect();
    if rows.is_empty()
        && let Some(library) = view.library
    {
        rows = library.skipped().map(|(path, why)| (path.display().to_string(), why.to_string())).collect();
    }
    if rows.is_empty() {
        ui.label("No file was skipped.");
        return;
    }
    ui.label(format!("Skipped files ({}): they are tried again when they change.", rows.len()));
    egui::ScrollArea::vertical().max_height(ui.available_height()).show_rows(ui, 18.0, rows.len(), |ui, range| {
        for (path, reason) in &rows[range] {
            ui.label(format!("{path} — {reason}"));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds_minutes_or_hours() {
        assert_eq!(human_duration(4.4), "4 s");
        assert_eq!(human_duration(75.0), "1 min 15 s");
        assert_eq!(human_duration(7260.0), "2 h 1 min");
    }
}

//! The library view: its folders, adding and removing them, exclude patterns, indexing with
//! progress, rate, ETA and cancel, and the files that were skipped with why.

use eframe::egui;

use super::GlimpseApp;
use super::logic::{Command, Phase, library_roots};
use super::search_view::{room_for, text_width};
use crate::index::bytes::bytes_path;

/// Draws the view.
pub fn show(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    ui.heading("Your library");
    ui.label(format!("Index: {}", app.settings.index.display()));
    ui.add_space(6.0);
    folders(app, ui);
    ui.add_space(6.0);
    add_row(app, ui);
    ui.separator();
    progress(app, ui);
    ui.separator();
    excludes(app, ui);
    ui.separator();
    skipped(app, ui);
}

fn folders(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let roots = app.state.finder.as_deref().map(library_roots).unwrap_or_default();
    // Folders of a run stay listed until the library that has them has reopened, so the
    // list does not flash empty between the two.
    let busy = app.state.indexing.running() || app.state.opening();
    for dir in &app.state.indexing.adding {
        if busy && !roots.contains(dir) {
            ui.label(format!("Adding {}", dir.display()));
        }
    }
    for dir in &app.state.indexing.queued {
        ui.label(format!("Adding {} after the current run", dir.display()));
    }
    if roots.is_empty() && (app.state.indexing.adding.is_empty() || !busy) && app.state.indexing.queued.is_empty() {
        ui.label("No folders yet. Add the folders that hold your photos; Glimpse never changes or deletes them.");
        return;
    }
    let running = app.state.indexing.running();
    let offline = app.state.finder.as_deref().map(|f| f.library.offline().to_vec()).unwrap_or_default();
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
                app.send(Command::RemoveFolder(root));
            }
            ui.end_row();
        }
    });
    watch_line(app, ui);
}

/// Whether the folders are watched: new photos need no button press while it says so.
fn watch_line(app: &GlimpseApp, ui: &mut egui::Ui) {
    let watch = &app.state.watch;
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

fn add_row(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let running = app.state.indexing.running();
    // Adding works during a run too: the folder is added right after it. The row wraps in a
    // narrow window (640 points cut "Update index" off), the typed path's label, field and
    // button as one, the field narrowing before it wraps.
    ui.horizontal_wrapped(|ui| {
        if ui.button("Add a folder…").clicked() {
            app.send(Command::PickFolder);
        }
        let spacing = ui.spacing().item_spacing.x;
        let button = text_width(ui, "Add folder") + 2.0 * ui.spacing().button_padding.x;
        room_for(ui, text_width(ui, "or type its path") + FIELD_WIDTH.start() + button + 3.0 * spacing);
        ui.horizontal(|ui| {
            let label = ui.label("or type its path");
            // What is left of the row once the label is placed, less the button after it.
            let width = (ui.available_width() - button - 2.0 * spacing).clamp(*FIELD_WIDTH.start(), *FIELD_WIDTH.end());
            let edit = egui::TextEdit::singleline(&mut app.state.indexing.typed_folder)
                .hint_text("/home/me/Pictures")
                .desired_width(width);
            let response = ui.add(edit).labelled_by(label.id);
            let typed = app.state.indexing.typed_folder.trim().to_string();
            let enter = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.add_enabled(!typed.is_empty(), egui::Button::new("Add folder")).clicked() || enter)
                && !typed.is_empty()
            {
                let path = crate::locations::expand_home(&typed);
                app.state.indexing.typed_folder.clear();
                app.send(Command::AddFolder(path));
            }
        });
        if app.state.finder.is_some() {
            room_for(ui, text_width(ui, "Update index") + 2.0 * ui.spacing().button_padding.x);
            if ui.add_enabled(!running, egui::Button::new("Update index")).clicked() {
                app.send(Command::Reindex);
            }
        }
    });
}

/// The typed path's field: 320 points where there is room, never under 160.
const FIELD_WIDTH: std::ops::RangeInclusive<f32> = 160.0..=320.0;

fn progress(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let ix = &app.state.indexing;
    if !ix.running() {
        match &ix.report {
            Some(r) => {
                ui.label(format!(
                    "Last run: {}{}",
                    r.summary(),
                    if r.stopped { " — stopped; update the index to finish" } else { "" }
                ));
            }
            None => match app.state.finder.as_deref().map(|f| f.library.index.data.photos.len()) {
                Some(photos) if photos > 0 => {
                    let watched = app.state.watch.watching.as_ref().is_some_and(|(n, _)| *n > 0);
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
            app.send(Command::CancelIndexing);
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

fn excludes(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    ui.collapsing("Exclude patterns", |ui| {
        ui.label("Files and folders matching these globs are skipped, one per line (empty: the defaults). They apply from the next indexing run.");
        let label = ui.label("Patterns");
        ui.add(egui::TextEdit::multiline(&mut app.state.indexing.excludes).desired_rows(4).hint_text("@eaDir\n.git\n*.tmp"))
            .labelled_by(label.id);
    });
}

fn skipped(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    let mut rows: Vec<(String, String)> =
        app.state.indexing.skipped.iter().map(|(p, r)| (p.display().to_string(), r.clone())).collect();
    if rows.is_empty()
        && let Some(finder) = &app.state.finder
    {
        rows = finder
            .library
            .index
            .data
            .skipped
            .iter()
            .map(|s| (bytes_path(&s.path).display().to_string(), s.reason.clone()))
            .collect();
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

//! Settings: execution provider (with the one in use), threads, batch size, the text model,
//! the index file. Remembered between runs.

use eframe::egui;

use super::GlimpseApp;
use super::logic::Command;
use crate::engine::ProviderChoice;

/// Draws the view.
pub fn show(app: &mut GlimpseApp, ui: &mut egui::Ui) {
    ui.heading("Engine and model");
    let before = (app.settings.provider, app.settings.threads);
    egui::Grid::new("settings").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
        let label = ui.label("Execution provider");
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt("provider")
                .selected_text(app.settings.provider.to_string())
                .show_ui(ui, |ui| {
                    for (value, text) in [
                        (ProviderChoice::Auto, "auto (CUDA when usable)"),
                        (ProviderChoice::Cpu, "CPU"),
                        (ProviderChoice::Cuda, "CUDA"),
                    ] {
                        ui.selectable_value(&mut app.settings.provider, value, text);
                    }
                })
                .response
                .labelled_by(label.id);
            let active = match &app.state.engine {
                Some(engine) => format!("in use: {}", engine.backbone.provider()),
                None => "not loaded".to_string(),
            };
            ui.label(active);
        });
        ui.end_row();
        let label = ui.label("Threads (0 = one per core)");
        ui.add(egui::DragValue::new(&mut app.settings.threads).range(0..=256)).labelled_by(label.id);
        ui.end_row();
        let label = ui.label("Photos per batch while indexing");
        ui.add(egui::DragValue::new(&mut app.settings.batch_size).range(1..=256)).labelled_by(label.id);
        ui.end_row();
        ui.label("Text model");
        ui.horizontal(|ui| {
            let text = match &app.settings.model {
                Some(dir) => dir.display().to_string(),
                None => "the installed model".to_string(),
            };
            ui.label(text);
            if ui.button("Choose…").clicked() {
                app.send(Command::PickModel);
            }
            if app.settings.model.is_some() && ui.button("Use the installed model").clicked() {
                app.send(Command::UseInstalledModel);
            }
        });
        ui.end_row();
        ui.label("Index file");
        ui.label(app.settings.index.display().to_string());
        ui.end_row();
    });
    if (app.settings.provider, app.settings.threads) != before {
        app.send(Command::Reopen);
    }
    if let Some((dir, metrics)) = app.state.current_metrics() {
        ui.add_space(8.0);
        ui.label(format!(
            "Model {}: dev text-to-image R@1 {:.1}, R@5 {:.1}, R@10 {:.1}",
            dir.display(),
            metrics.t2i.r1,
            metrics.t2i.r5,
            metrics.t2i.r10
        ));
    }
}

//! Settings: execution provider (with the one in use), threads, batch size, the text model,
//! the index file. Remembered between runs.

use eframe::egui;

use super::logic::Command;
use super::settings::Settings;
use crate::engine::ProviderChoice;
use crate::train::eval::Metrics;

/// What the view may touch: the settings it edits, what it shows of the open models, and
/// where it sends commands.
pub struct View<'a> {
    /// The remembered settings.
    pub settings: &'a mut Settings,
    /// The execution provider the backbone runs on, once the models are open.
    pub provider_in_use: Option<String>,
    /// The text model in use and its dev metrics, when it has them.
    pub model_metrics: Option<(std::path::PathBuf, Metrics)>,
    /// What the user asked for, carried out after drawing.
    pub commands: &'a mut Vec<Command>,
}

/// Draws the view.
pub fn show(view: View<'_>, ui: &mut egui::Ui) {
    let View { settings, provider_in_use, model_metrics, commands } = view;
    ui.heading("Engine and model");
    let before = (settings.provider, settings.threads);
    egui::Grid::new("settings").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
        let label = ui.label("Execution provider");
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt("provider")
                .selected_text(settings.provider.to_string())
                .show_ui(ui, |ui| {
                    for (value, text) in [
                        (ProviderChoice::Auto, "auto (CUDA when usable)"),
                        (ProviderChoice::Cpu, "CPU"),
                        (ProviderChoice::Cuda, "CUDA"),
                    ] {
                        ui.selectable_value(&mut settings.provider, value, text);
                    }
                })
                .response
                .labelled_by(label.id);
            let active = match &provider_in_use {
                Some(provider) => format!("in use: {provider}"),
                None => "not loaded".to_string(),
            };
            ui.label(active);
        });
        ui.end_row();
        let label = ui.label("Threads (0 = one per core)");
        ui.add(egui::DragValue::new(&mut settings.threads).range(0..=256)).labelled_by(label.id);
        ui.end_row();
        let label = ui.label("Photos per batch while indexing");
        ui.add(egui::DragValue::new(&mut settings.batch_size).range(1..=256)).labelled_by(label.id);
        ui.end_row();
        ui.label("Text model");
        ui.horizontal(|ui| {
            let text = match &settings.model {
                Some(dir) => dir.display().to_string(),
                None => "the installed model".to_string(),
            };
            ui.label(text);
            if ui.button("Choose…").clicked() {
                commands.push(Command::PickModel);
            }
            if settings.model.is_some() && ui.button("Use the installed model").clicked() {
                commands.push(Command::UseInstalledModel);
            }
        });
        ui.end_row();
        ui.label("Index file");
        ui.label(settings.index.display().to_string());
        ui.end_row();
    });
    if (settings.provider, settings.threads) != before {
        commands.push(Command::Reopen);
    }
    if let Some((dir, metrics)) = model_metrics {
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

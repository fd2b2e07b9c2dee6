//! The training panel: data and settings, start and stop, live plots of the loss and of dev
//! Recall@1/5/10 per epoch, the result beside the current model, and a button that makes
//! the new model the active one; and *Personalise*, the model in use fine-tuned on the
//! person's own captions.

use eframe::egui;
use egui_plot::{GridMark, HoverPosition, Line, Plot, PlotPoints, Points};

use super::library_view::human_duration;
use super::logic::{Command, TrainingState};
use super::settings::TrainingForm;
use crate::model::config::{Mining, TextEncoderKind};
use crate::train::eval::Metrics;
use crate::train::personalise::{HOLD_OUT_EVERY, MIN_CAPTIONS};

/// What the view may touch: the run's state, the data paths and training settings it edits,
/// the metrics of the model in use (to compare with), and where it sends commands.
pub struct View<'a> {
    /// The run: progress, epochs, report.
    pub state: &'a mut TrainingState,
    /// The Flickr8k folder, as typed (shared with the annotator).
    pub flickr8k: &'a mut String,
    /// The GloVe file, as typed.
    pub glove: &'a mut String,
    /// The training settings.
    pub form: &'a mut TrainingForm,
    /// The text model in use and its dev metrics, when it has them.
    pub model_metrics: Option<(std::path::PathBuf, Metrics)>,
    /// Captions the person wrote for the library's photos.
    pub captions: usize,
    /// What the user asked for, carried out after drawing.
    pub commands: &'a mut Vec<Command>,
}

/// Draws the view.
pub fn show(mut view: View<'_>, ui: &mut egui::Ui) {
    // A small window scrolls to what is below: the result and Personalise.
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| contents(&mut view, ui));
}

fn contents(view: &mut View<'_>, ui: &mut egui::Ui) {
    ui.heading("Train a text model");
    ui.label("Trains the text side of search on Flickr8k captions: GloVe word vectors, a two-tower model, a margin triplet loss. It runs on this computer; a full run takes a few minutes on a laptop.");
    ui.add_space(6.0);
    form(view, ui);
    ui.separator();
    status(view, ui);
    plots(view, ui);
    result(view, ui);
    ui.separator();
    personalise(view, ui);
}

/// *Personalise*: the model in use fine-tuned on Flickr8k plus the person's captions, with
/// its result beside the model in use and "Use this model" only when it is better.
fn personalise(view: &mut View<'_>, ui: &mut egui::Ui) {
    ui.heading("Personalise with your captions");
    ui.label(format!(
        "Teaches the text model in use the words of the captions you wrote in the Annotator ({} now), with Flickr8k's captions beside them so that it stays good at everything else. One caption in {HOLD_OUT_EVERY} is kept aside: the new model is offered only if it finds those photos better. Your photos are not read again, and the library needs no re-indexing.",
        view.captions
    ));
    let personal = &view.state.personal;
    ui.horizontal_wrapped(|ui| {
        if personal.running() {
            ui.spinner();
            if let Some((done, total)) = personal.features {
                let mut text = format!("Flickr8k photo features {done} / {total}");
                if let Some(left) = personal.features_rate.seconds_left(std::time::Instant::now()) {
                    text.push_str(&format!(" \u{b7} about {} left (once; they are cached)", human_duration(left)));
                }
                ui.add(egui::ProgressBar::new(done as f32 / total.max(1) as f32).desired_width(420.0).text(text));
            } else if let Some((step, steps, loss)) = personal.steps {
                ui.add(egui::ProgressBar::new(step as f32 / steps.max(1) as f32).desired_width(200.0));
                ui.label(format!("step {step} of {steps}, loss {loss:.3}"));
            } else {
                ui.label(personal.notes.last().map_or("Starting…", String::as_str));
            }
            if ui.add_enabled(!personal.stopping, egui::Button::new("Stop")).clicked() {
                view.commands.push(Command::StopPersonalise);
            }
        } else {
            let ready = view.captions >= MIN_CAPTIONS && !view.flickr8k.trim().is_empty();
            let button = ui.add_enabled(ready, egui::Button::new("Personalise"));
            if button.clicked() {
                view.commands.push(Command::StartPersonalise);
            }
            if view.captions < MIN_CAPTIONS {
                ui.label(format!(
                    "Write at least {MIN_CAPTIONS} captions in the Annotator first ({} more).",
                    MIN_CAPTIONS - view.captions
                ));
            } else if view.flickr8k.trim().is_empty() {
                ui.label("Choose the Flickr8k folder above first.");
            }
        }
    });
    if let Some(error) = &personal.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    let Some(outcome) = &personal.outcome else { return };
    let c = &outcome.comparison;
    ui.label(format!(
        "Trained on {} of your captions in {:.0} s; {} held out, their photos ranked among {} of your library's.",
        c.trained, outcome.seconds, c.held_out, c.photos
    ));
    let (mrr_before, mrr_after) = c.mrr();
    let (before, after) = c.held_out_recall();
    egui::Grid::new("personal-compare").striped(true).show(ui, |ui| {
        let heads = [
            ("", ""),
            (
                "held-out R@1 / 5 / 10",
                "Your held-out captions: percent whose photo comes first, in the first 5, in the first 10",
            ),
            ("MRR", "Mean reciprocal rank of the held-out captions' photos: the model is offered when it rises and no more photos rank lower than higher"),
            ("dev R@1 / 5 / 10", "Flickr8k dev, text to photo, as search ranks: it must not drop by more than a point"),
        ];
        for (h, tip) in heads {
            ui.strong(h).on_hover_text(tip);
        }
        ui.end_row();
        for (name, r, mrr, dev) in
            [("before", before, mrr_before, &c.dev_before), ("personalised", after, mrr_after, &c.dev_after)]
        {
            ui.label(name);
            ui.label(format!("{:.0} / {:.0} / {:.0}", r.r1, r.r5, r.r10));
            ui.label(format!("{mrr:.3}"));
            ui.label(format!("{:.1} / {:.1} / {:.1}", dev.t2i.r1, dev.t2i.r5, dev.t2i.r10));
            ui.end_row();
        }
    });
    match &outcome.written {
        Some(dir) if view.model_metrics.as_ref().is_some_and(|(d, _)| d == dir) => {
            ui.label("The personalised model is the active one.");
        }
        Some(dir) => {
            let button =
                egui::Button::new(egui::RichText::new("Use this model").strong()).fill(ui.visuals().selection.bg_fill);
            if ui.add(button).on_hover_text(dir.display().to_string()).clicked() {
                view.commands.push(Command::UseModel(dir.clone()));
            }
        }
        None => {
            let why = c.not_better().unwrap_or_else(|| "not written".into());
            ui.label(format!("Not better: {why}. The model in use stays. Caption more photos and try again."));
        }
    }
}

fn path_row(ui: &mut egui::Ui, name: &str, value: &mut String, hint: &str) -> bool {
    let mut pick = false;
    ui.horizontal(|ui| {
        let label = ui.label(name);
        ui.add(egui::TextEdit::singleline(value).hint_text(hint).desired_width(420.0)).labelled_by(label.id);
        pick = ui.button("Choose…").clicked();
    });
    pick
}

/// What the "Shipped recipe" button sets, and what it cannot give.
const RECIPE: &str = "Sets the settings the shipped model's members were trained with: mean of word vectors, semi-hard mining (after 2 warm-up epochs over all negatives), margin 0.2, 12 epochs, batch 128, learning rate 0.002, 250 extra word dimensions. The shipped model is more than one run: four models (three each over one of the backbone's three networks, one with a GRU encoder) combined and calibrated against hub photos, so one run here trains one model and finds the right photo first less often (the shipped model: dev R@1 25.1).";

fn form(view: &mut View<'_>, ui: &mut egui::Ui) {
    let running = view.state.running();
    if path_row(ui, "Flickr8k folder", view.flickr8k, "Flicker8k_Dataset + Flickr8k_text, or Images + captions.txt") {
        view.commands.push(Command::PickFlickr8k);
    }
    if path_row(ui, "GloVe file", view.glove, "glove.6B.50d.txt or .txt.gz") {
        view.commands.push(Command::PickGlove);
    }
    let form = &mut *view.form;
    ui.add_enabled_ui(!running, |ui| {
        egui::Grid::new("training-form").num_columns(4).show(ui, |ui| {
            let label = ui.label("Text encoder");
            egui::ComboBox::from_id_salt("encoder")
                .selected_text(form.encoder.to_string())
                .show_ui(ui, |ui| {
                    for (value, text) in [
                        (TextEncoderKind::Mean, "mean of word vectors"),
                        (TextEncoderKind::Gru { hidden: 256 }, "GRU (256 wide)"),
                    ] {
                        ui.selectable_value(&mut form.encoder, value, text);
                    }
                })
                .response
                .labelled_by(label.id);
            let label = ui.label("Mining");
            egui::ComboBox::from_id_salt("mining")
                .selected_text(form.mining.to_string())
                .show_ui(ui, |ui| {
                    for (value, text) in [
                        (Mining::Easy, "easy (random negatives)"),
                        (Mining::SemiHard, "semi-hard"),
                        (Mining::Hard, "hard (hardest in batch)"),
                        (Mining::Sum, "sum over all negatives"),
                    ] {
                        ui.selectable_value(&mut form.mining, value, text);
                    }
                })
                .response
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Margin");
            ui.add(egui::DragValue::new(&mut form.margin).range(0.01..=1.0).speed(0.01)).labelled_by(label.id);
            let label = ui.label("Epochs");
            ui.add(egui::DragValue::new(&mut form.epochs).range(1..=200)).labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Batch size");
            ui.add(egui::DragValue::new(&mut form.batch_size).range(2..=1024)).labelled_by(label.id);
            let label = ui.label("Learning rate");
            ui.add(egui::DragValue::new(&mut form.lr).range(1e-5..=1e-1).speed(1e-4).max_decimals(5))
                .labelled_by(label.id);
            ui.end_row();
            let label = ui.label("Extra word dimensions");
            ui.add(egui::DragValue::new(&mut form.extra_word_dims).range(0..=1000)).labelled_by(label.id);
            if ui.button("Shipped recipe").on_hover_text(RECIPE).clicked() {
                *form = super::TrainingForm::default();
                view.state.recipe_note = true;
            }
            ui.end_row();
        });
    });
    if view.state.recipe_note {
        let form = &*view.form;
        let changed = *form != super::TrainingForm::default();
        ui.label(if changed {
            "Changed since the shipped recipe was set.".to_string()
        } else {
            format!(
                "Shipped recipe set: {} encoder, {} mining, margin {}, {} epochs, batch {}, learning rate {}, {} extra word dimensions. One run gives one model like one of the shipped model's four members, not the shipped model (a calibrated combination of four).",
                form.encoder, form.mining, form.margin, form.epochs, form.batch_size, form.lr, form.extra_word_dims
            )
        });
    }
    ui.horizontal(|ui| {
        if ui.add_enabled(!running, egui::Button::new("Start training")).clicked() {
            view.commands.push(Command::StartTraining);
        }
        if ui.add_enabled(running, egui::Button::new("Stop")).on_hover_text("Keeps the best epoch so far").clicked() {
            view.commands.push(Command::StopTraining);
        }
    });
}

fn status(view: &mut View<'_>, ui: &mut egui::Ui) {
    let tr = &view.state;
    let now = std::time::Instant::now();
    if let Some((done, total)) = tr.features {
        let fraction = if total == 0 { 0.0 } else { done as f32 / total as f32 };
        let mut text = format!("photo features {done} / {total}");
        if let (Some(rate), Some(left)) = (tr.features_rate.per_second(), tr.features_rate.seconds_left(now)) {
            text.push_str(&format!(
                " \u{b7} {rate:.0} photos/s \u{b7} about {} left (once; they are cached)",
                human_duration(left)
            ));
        }
        ui.add(egui::ProgressBar::new(fraction).text(text));
    }
    if let Some(last) = tr.epochs.last() {
        ui.label(format!(
            "Epoch {} ({}): loss {:.4}, dev R@1 {:.1} R@5 {:.1} R@10 {:.1}, {:.1} s",
            last.epoch,
            last.mining.name(),
            last.loss,
            last.dev.t2i.r1,
            last.dev.t2i.r5,
            last.dev.t2i.r10,
            last.train_seconds
        ));
    } else if tr.running() && tr.features.is_none() && tr.clock.position().is_none() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(tr.notes.last().cloned().unwrap_or_else(|| "Preparing…".into()));
        });
    }
    if let Some(error) = &tr.error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
    if let Some(stopped) = &tr.stopped {
        ui.label(stopped);
    }
}

fn plots(view: &mut View<'_>, ui: &mut egui::Ui) {
    let tr = &view.state;
    if tr.losses.is_empty() && tr.epochs.is_empty() {
        return;
    }
    // The run's own plan (the form may have changed since it started).
    let planned = if tr.planned > 0 { tr.planned } else { view.form.epochs }.max(1) as f64;
    // Epoch N of M while it runs, with the time left from the latest batches' pace.
    if let Some((epoch, step, steps)) = tr.clock.position().filter(|_| tr.running()) {
        let left = tr.clock.seconds_left(planned as usize, std::time::Instant::now()).map_or(String::new(), |s| {
            format!(" \u{b7} about {} left (or less, if dev recall stops improving)", human_duration(s))
        });
        ui.label(format!("Epoch {epoch} of {} \u{b7} batch {step} of {steps}{left}", planned as usize));
    } else if let Some(last) = tr.epochs.last() {
        ui.label(format!("Epoch {} of {}", last.epoch, planned as usize));
    }
    let height = (ui.available_height() * 0.35).clamp(120.0, 260.0);
    ui.columns(2, |columns| {
        // The loss falls by orders of magnitude (most when mining changes after the
        // warm-up), so it is drawn on a log scale, its ticks labelled with the loss itself.
        columns[0].label("Training loss (log scale)");
        let losses: PlotPoints = tr.losses.iter().filter(|p| p[1] > 0.0).map(|p| [p[0], p[1].log10()]).collect();
        Plot::new("loss")
            .height(height)
            .allow_scroll(false)
            .x_axis_label("epochs trained")
            .y_axis_label("loss")
            .y_grid_spacer(|input| log_ticks(input.bounds))
            .y_axis_formatter(|mark, _| loss_label(mark.value))
            .label_formatter(|hover| {
                let at = match hover {
                    HoverPosition::NearDataPoint { position, .. } | HoverPosition::Elsewhere { position } => position,
                };
                Some(format!("epoch {:.2}\nloss {:.4}", at.x, 10f64.powf(at.y)))
            })
            .include_x(0.0)
            .include_x(planned)
            .show(&mut columns[0], |plot| {
                plot.line(Line::new("loss", losses));
            });
        let series = |f: fn(&crate::train::trainer::EpochReport) -> f64| -> Vec<[f64; 2]> {
            tr.epochs.iter().map(|e| [e.epoch as f64, f(e)]).collect()
        };
        let recalls = [
            ("R@1", RECALL_COLOURS[0], (|e: &crate::train::trainer::EpochReport| e.dev.t2i.r1) as fn(&_) -> f64),
            ("R@5", RECALL_COLOURS[1], |e| e.dev.t2i.r5),
            ("R@10", RECALL_COLOURS[2], |e| e.dev.t2i.r10),
        ];
        // The legend is a row above the plot: inside it, any corner covers some run's points.
        columns[1].horizontal(|ui| {
            ui.label("Dev text-to-image recall (%):");
            for (name, colour, _) in recalls {
                ui.colored_label(colour, format!("\u{2014} {name}"));
            }
        });
        Plot::new("recall")
            .height(height)
            .allow_scroll(false)
            .x_axis_label("epochs trained")
            .y_axis_label("recall %")
            .include_x(0.0)
            .include_x(planned)
            .include_y(0.0)
            .show(&mut columns[1], |plot| {
                for (name, colour, f) in recalls {
                    let points = series(f);
                    plot.line(Line::new(name, PlotPoints::from(points.clone())).color(colour));
                    // Markers, so that one or two epochs are visible too.
                    plot.points(Points::new(name, PlotPoints::from(points)).radius(3.0).color(colour));
                }
            });
    });
}

/// The recall lines' colours: R@1, R@5, R@10 (egui_plot's first three automatic colours
/// are close in hue; these stay apart in both themes).
const RECALL_COLOURS: [egui::Color32; 3] = [
    egui::Color32::from_rgb(230, 120, 40),
    egui::Color32::from_rgb(70, 150, 230),
    egui::Color32::from_rgb(90, 180, 90),
];

/// Grid marks of a log10 axis over `bounds` (in log10 units): every decade (1, 10, 100 …),
/// 2 and 5 times each, the other whole multiples thinner, and in a range of less than a
/// decade the tenths between them thinner still; egui_plot labels a kind of mark only when
/// the axis has room for it, so a loss that falls from 1 to 0.05 reads 0.05, 0.1, 0.2, 0.5
/// and 1, and one that hardly moves still gets labels.
fn log_ticks(bounds: (f64, f64)) -> Vec<GridMark> {
    let (low, high) = (bounds.0.min(bounds.1), bounds.0.max(bounds.1));
    if !(low.is_finite() && high.is_finite()) || high - low > 30.0 {
        return Vec::new();
    }
    let tenths = high - low < 1.0;
    let mut marks = Vec::new();
    for decade in (low.floor() as i32)..=(high.ceil() as i32) {
        for tenth in 10..100 {
            let whole = tenth % 10 == 0;
            if !whole && !tenths {
                continue;
            }
            // How far apart marks of this kind are, in log10 units.
            let step_size = match tenth {
                10 => 1.0,
                20 | 50 => 0.3,
                _ if whole => 0.05,
                _ => 0.02,
            };
            let value = f64::from(decade) + (f64::from(tenth) / 10.0).log10();
            if (low..=high).contains(&value) {
                marks.push(GridMark { value, step_size });
            }
        }
    }
    marks
}

/// A log10 axis mark as the loss it stands for, to two significant digits: `-1.30103` →
/// "0.05", `-0.92082` → "0.12".
fn loss_label(log10: f64) -> String {
    let value = 10f64.powf(log10);
    let decimals = (1.0 - (log10 + 1e-9).floor()).max(0.0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

fn metrics_row(ui: &mut egui::Ui, name: &str, m: &Metrics) {
    ui.label(name);
    ui.label(format!("{:.1}", m.t2i.r1));
    ui.label(format!("{:.1}", m.t2i.r5));
    ui.label(format!("{:.1}", m.t2i.r10));
    ui.label(format!("{}", m.t2i.medr));
    ui.end_row();
}

fn result(view: &mut View<'_>, ui: &mut egui::Ui) {
    let Some(report) = view.state.report.clone() else { return };
    let Some(out) = view.state.out.clone() else { return };
    ui.separator();
    let tr = &view.state;
    let words = run_words(report.best_epoch, report.history.len(), report.stopped, tr.planned, tr.patience);
    ui.label(format!("Finished in {:.0} s: {words}. Model in {}", report.seconds, out.display()));
    let current = view.model_metrics.clone();
    egui::Grid::new("compare").striped(true).show(ui, |ui| {
        for h in ["dev text-to-image", "R@1", "R@5", "R@10", "median rank"] {
            ui.strong(h);
        }
        ui.end_row();
        metrics_row(ui, "this run", &report.dev);
        if let Some((dir, m)) = &current {
            metrics_row(
                ui,
                &format!("current ({})", dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()),
                m,
            );
        }
    });
    let active = current.as_ref().is_some_and(|(dir, _)| *dir == out);
    let worse = current.as_ref().filter(|_| !active).is_some_and(|(_, m)| report.dev.t2i.r1 < m.t2i.r1);
    let hint = "Search with it; the library is re-projected from stored features";
    if active {
        ui.label("This model is the active one.");
    } else if worse {
        // A worse model is still offered (to test it), but not as the obvious next step.
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "This run finds the right photo first less often than the current model (R@1 above); keep the current one unless you are testing.",
            );
            if ui.small_button("Use it anyway").on_hover_text(hint).clicked() {
                view.commands.push(Command::UseModel(out.clone()));
            }
        });
    } else {
        let button =
            egui::Button::new(egui::RichText::new("Use this model").strong()).fill(ui.visuals().selection.bg_fill);
        if ui.add(button).on_hover_text(hint).clicked() {
            view.commands.push(Command::UseModel(out));
        }
    }
}

/// How a run ended, in words: the epoch kept, of how many planned, and why it stopped.
fn run_words(best: usize, ran: usize, stopped: bool, planned: usize, patience: usize) -> String {
    let planned = planned.max(ran);
    let why = if stopped {
        format!("stopped by you after epoch {ran}")
    } else if ran < planned {
        format!("stopped early after epoch {ran}: dev recall had not improved for {patience} epochs")
    } else {
        format!("all {planned} epochs ran")
    };
    format!("best on dev at epoch {best} of {planned} ({why}); that epoch is the model")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_run_says_which_epoch_it_kept_of_those_planned_and_why_it_stopped() {
        assert_eq!(
            run_words(3, 9, false, 12, 6),
            "best on dev at epoch 3 of 12 (stopped early after epoch 9: dev recall had not improved for 6 epochs); that epoch is the model"
        );
        assert_eq!(
            run_words(2, 4, true, 12, 6),
            "best on dev at epoch 2 of 12 (stopped by you after epoch 4); that epoch is the model"
        );
        assert_eq!(
            run_words(3, 3, false, 3, 6),
            "best on dev at epoch 3 of 3 (all 3 epochs ran); that epoch is the model"
        );
    }

    #[test]
    fn a_falling_loss_gets_a_labelled_tick_at_each_one_two_and_five() {
        // A loss from 1.6 down to 0.04 on the log axis.
        let marks = log_ticks((0.04f64.log10(), 1.6f64.log10()));
        let labelled: Vec<String> = marks.iter().filter(|m| m.step_size >= 0.3).map(|m| loss_label(m.value)).collect();
        assert_eq!(labelled, ["0.05", "0.1", "0.2", "0.5", "1"]);
        // The thin marks are the other multiples, labelled the same way.
        assert!(marks.iter().any(|m| loss_label(m.value) == "0.07" && m.step_size < 0.3));
        assert_eq!(loss_label(2f64.log10()), "2");
        assert_eq!(loss_label(0.003f64.log10()), "0.003");
        // A narrow range has marks inside it, at tenths.
        let narrow: Vec<String> =
            log_ticks((0.105f64.log10(), 0.135f64.log10())).iter().map(|m| loss_label(m.value)).collect();
        assert_eq!(narrow, ["0.11", "0.12", "0.13"]);
        assert!(log_ticks((f64::NEG_INFINITY, 0.0)).is_empty());
    }
}

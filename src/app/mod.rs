//! The desktop app (eframe/egui): search as you type over a thumbnail grid, the library and
//! its background indexing, a training panel, a Flickr8k annotator and settings.
//!
//! Widgets only draw state and push [`Command`]s; [`logic`] turns commands into jobs and
//! drains the jobs' events each frame. Every long task (opening the models, indexing,
//! searching a photo, training, ranking captions, decoding images, file pickers) is a
//! [`crate::job::Job`] whose worker wakes the window through a throttled repaint.

mod annotator;
mod desktop;
mod duplicates_view;
mod images;
mod library_view;
mod logic;
mod search_view;
mod settings;
mod settings_view;
mod training_view;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

pub use logic::{Command, Mark, PAGE, Phase, ResultItem};
pub use settings::{DEFAULT_TILE, Settings, TILE_RANGE, Tab, TrainingForm};

use crate::job::Waker;

/// What the app starts with beyond its remembered settings: set by the command line and by
/// tests, which must not touch the user's library or caches.
#[derive(Clone, Debug, Default)]
pub struct Startup {
    /// The index file to use instead of the remembered one.
    pub index: Option<PathBuf>,
    /// The ONNX Runtime library to load.
    pub ort_lib: Option<PathBuf>,
    /// The text model folder to use instead of the remembered one.
    pub model: Option<PathBuf>,
    /// The Flickr8k folder for training and the annotator.
    pub flickr8k: Option<PathBuf>,
    /// The GloVe file for training.
    pub glove: Option<PathBuf>,
    /// The folder for cached backbone features of dataset photos.
    pub feature_cache: Option<PathBuf>,
    /// The folder trained models are written into.
    pub models_out: Option<PathBuf>,
    /// Start from the default settings, ignoring what was remembered.
    pub fresh_settings: bool,
    /// The view to open on.
    pub tab: Option<Tab>,
    /// A query to search for as soon as the library is open.
    pub query: Option<String>,
    /// Folders to add to the library (and index) once the models are loaded.
    pub add_folders: Vec<PathBuf>,
    /// Start training with the remembered settings once the models are loaded.
    pub start_training: bool,
    /// A photo to find similar ones to, once the library is open.
    pub similar_to: Option<PathBuf>,
}

/// A message for the user, shown in the notice bar.
#[derive(Clone, Debug)]
pub struct Notice {
    /// The text.
    pub text: String,
    /// Errors stay until dismissed; information fades after a while.
    pub error: bool,
    /// When it was raised.
    pub at: Instant,
    /// The kind of command whose failure it reports: it goes when such a command succeeds.
    pub about: Option<std::mem::Discriminant<Command>>,
}

/// How long an informational notice stays.
const NOTICE_SECONDS: u64 = 8;
/// The most repaints a second that workers may cause (STYLE item 5).
const REPAINT_EVERY: Duration = Duration::from_millis(33);

/// The app.
pub struct GlimpseApp {
    /// Remembered settings.
    pub settings: Settings,
    /// Runtime state and jobs.
    pub state: logic::State,
    /// Notices shown at the bottom.
    pub notices: Vec<Notice>,
    commands: Vec<Command>,
}

impl GlimpseApp {
    /// Creates the app: remembered settings (unless `startup` says otherwise), the image
    /// loader, and the job that opens the models and the library.
    pub fn new(cc: &eframe::CreationContext<'_>, startup: Startup) -> GlimpseApp {
        let mut settings = match (startup.fresh_settings, cc.storage) {
            (false, Some(storage)) => {
                storage.get_string(settings::STORAGE_KEY).map(|text| Settings::from_stored(&text)).unwrap_or_default()
            }
            _ => Settings::default(),
        };
        if let Some(index) = &startup.index {
            settings.index = index.clone();
        }
        if let Some(model) = &startup.model {
            settings.model = Some(model.clone());
        }
        if let Some(dir) = &startup.flickr8k {
            settings.flickr8k = dir.display().to_string();
        }
        if let Some(file) = &startup.glove {
            settings.glove = file.display().to_string();
        }
        if let Some(tab) = startup.tab {
            settings.tab = tab;
        }
        let mut after_open: Vec<Command> = startup.add_folders.iter().cloned().map(Command::AddFolder).collect();
        if startup.start_training {
            after_open.push(Command::StartTraining);
        }
        // Opening on the annotator with a dataset shows it at once, ranked.
        if settings.tab == Tab::Annotator && !settings.flickr8k.is_empty() && startup.tab == Some(Tab::Annotator) {
            after_open.extend([Command::LoadFlickr8k, Command::RankCaptions]);
        }
        let query = startup.query.clone();
        if let Some(photo) = &startup.similar_to {
            settings.tab = Tab::Search;
            after_open.push(Command::FindSimilar(photo.clone()));
        }
        let ctx = cc.egui_ctx.clone();
        let waker: Waker = Arc::new(move || ctx.request_repaint_after(REPAINT_EVERY));
        let mut notices = Vec::new();
        let state = match logic::State::new(startup, waker) {
            Ok(state) => state,
            Err(e) => {
                notices.push(Notice { text: e.to_string(), error: true, at: Instant::now(), about: None });
                logic::State::without_images()
            }
        };
        let mut app = GlimpseApp { settings, state, notices, commands: vec![Command::Reopen] };
        app.state.after_open = after_open;
        if let Some(query) = query {
            app.state.search.subject = crate::finder::Subject::Text(query);
        }
        app
    }

    /// Queues a command; commands run after the frame is drawn.
    pub fn send(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// Adds a notice for the user.
    pub fn notify(&mut self, text: impl Into<String>, error: bool) {
        self.notify_about(text, error, None);
    }

    fn notify_about(&mut self, text: impl Into<String>, error: bool, about: Option<std::mem::Discriminant<Command>>) {
        let text = text.into();
        if !self.notices.iter().any(|n| n.text == text) {
            self.notices.push(Notice { text, error, at: Instant::now(), about });
        }
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        let status = self.state.status_line();
        let mut status_fits = true;
        ui.horizontal(|ui| {
            ui.heading("Glimpse");
            ui.separator();
            for (tab, label) in [
                (Tab::Search, "Search"),
                (Tab::Library, "Library"),
                (Tab::Training, "Training"),
                (Tab::Annotator, "Annotator"),
                (Tab::Duplicates, "Duplicates"),
                (Tab::Settings, "Settings"),
            ] {
                if ui.selectable_label(self.settings.tab == tab, label).clicked() {
                    self.settings.tab = tab;
                }
            }
            // The status goes right of the tabs when it fits there whole, else on a row of
            // its own (a narrow window), so it never covers a tab.
            let font = egui::TextStyle::Body.resolve(ui.style());
            let width = ui.painter().layout_no_wrap(status.clone(), font, egui::Color32::WHITE).size().x;
            status_fits = width + 2.0 * ui.spacing().item_spacing.x <= ui.available_width();
            if status_fits {
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    ui.label(&status);
                });
            }
        });
        if !status_fits {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.add(egui::Label::new(&status).truncate());
            });
        }
    }

    fn notice_bar(&mut self, ui: &mut egui::Ui) {
        let now = Instant::now();
        self.notices.retain(|n| n.error || now.duration_since(n.at) < Duration::from_secs(NOTICE_SECONDS));
        let mut dismissed = None;
        for (i, notice) in self.notices.iter().enumerate().rev().take(4) {
            ui.horizontal(|ui| {
                if ui.small_button("Dismiss").clicked() {
                    dismissed = Some(i);
                }
                let color = if notice.error { ui.visuals().error_fg_color } else { ui.visuals().text_color() };
                ui.colored_label(color, &notice.text);
            });
        }
        if let Some(i) = dismissed {
            self.notices.remove(i);
        }
        if self.notices.iter().any(|n| !n.error) {
            ui.ctx().request_repaint_after(Duration::from_secs(1));
        }
    }
}

impl eframe::App for GlimpseApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        let notices = self.state.poll(ctx, &mut self.settings, &mut self.commands);
        for (text, error) in notices {
            self.notify(text, error);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("glimpse-tabs").show(ui, |ui| self.top_bar(ui));
        if !self.notices.is_empty() {
            egui::Panel::bottom("glimpse-notices").show(ui, |ui| self.notice_bar(ui));
        }
        egui::CentralPanel::default_margins().show(ui, |ui| match self.settings.tab {
            Tab::Search => search_view::show(self, ui),
            Tab::Library => library_view::show(self, ui),
            Tab::Training => training_view::show(self, ui),
            Tab::Annotator => annotator::show(self, ui),
            Tab::Duplicates => duplicates_view::show(self, ui),
            Tab::Settings => settings_view::show(self, ui),
        });
        // Commands run after drawing, so no widget sees a half-applied change.
        let commands = std::mem::take(&mut self.commands);
        for command in commands {
            let kind = std::mem::discriminant(&command);
            let notices = self.state.run(command, &mut self.settings, ui.ctx());
            // A command that now succeeds resolves the errors an earlier try of it left.
            if !notices.iter().any(|(_, error)| *error) {
                self.notices.retain(|n| n.about != Some(kind));
            }
            for (text, error) in notices {
                self.notify_about(text, error, error.then_some(kind));
            }
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, settings::STORAGE_KEY, &self.settings);
    }
}

/// Opens the window and runs until it is closed.
pub fn run(startup: Startup) -> crate::Result<()> {
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default()
            .with_title("Glimpse")
            .with_app_id("glimpse")
            .with_inner_size([1200.0, 800.0])
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native("glimpse", options, Box::new(|cc| Ok(Box::new(GlimpseApp::new(cc, startup)))))
        .map_err(|e| crate::Error::Invalid(format!("the window could not open: {e} (is a display available?)")))
}

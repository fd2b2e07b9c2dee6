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
pub use settings::{DEFAULT_TILE, STORAGE_KEY, Settings, TILE_RANGE, Tab, TrainingForm};

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
    /// The folder for cached backbone features of dataset photos (see
    /// [`Startup::feature_cache`] for where it is when not given).
    pub feature_cache: Option<PathBuf>,
    /// The folder trained models are written into (see [`Startup::models_out`]).
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

impl Startup {
    /// The folder for cached backbone features of dataset photos: the one given, else beside
    /// a library given with `--index` (`lib.glimpse` → `lib.features/`), so that a one-off
    /// run on another library neither reads nor writes the person's own cache; else the
    /// person's cache folder.
    pub fn feature_cache(&self) -> PathBuf {
        match (&self.feature_cache, &self.index) {
            (Some(dir), _) => dir.clone(),
            (None, Some(index)) => index.with_extension("features"),
            (None, None) => crate::train::features::default_cache_dir(),
        }
    }

    /// The folder trained models are written into: the one given, else beside a library
    /// given with `--index` (`lib.glimpse` → `lib.models/`), else the person's data folder.
    pub fn models_out(&self) -> PathBuf {
        match (&self.models_out, &self.index) {
            (Some(dir), _) => dir.clone(),
            (None, Some(index)) => index.with_extension("models"),
            (None, None) => crate::locations::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("models"),
        }
    }

    /// `settings` as they are to be remembered: each field that this start-up's one-off
    /// flags set (`--index`, `--view`, a photo to find similar ones to, …) and that the
    /// person has not changed since the window opened (`started`: the settings then) takes
    /// back its `remembered` value. A choice made in the window (another model, another
    /// view) is remembered.
    pub fn without_one_offs(&self, settings: &Settings, started: &Settings, remembered: &Settings) -> Settings {
        let mut kept = settings.clone();
        if self.index.is_some() && kept.index == started.index {
            kept.index = remembered.index.clone();
        }
        if self.model.is_some() && kept.model == started.model {
            kept.model = remembered.model.clone();
        }
        if self.flickr8k.is_some() && kept.flickr8k == started.flickr8k {
            kept.flickr8k = remembered.flickr8k.clone();
        }
        if self.glove.is_some() && kept.glove == started.glove {
            kept.glove = remembered.glove.clone();
        }
        if (self.tab.is_some() || self.similar_to.is_some()) && kept.tab == started.tab {
            kept.tab = remembered.tab;
        }
        kept
    }
}

/// The window's size at start, when the remembered one does not suit the monitor it opens
/// on: one from a much smaller screen (under half the monitor both ways: 640×480 on a
/// 2560×1440 display) or larger than the monitor gives way to [`WINDOW_FRACTION`] of it
/// (never under the window's smallest size). `None`: keep `window`.
pub fn window_size_for(window: egui::Vec2, monitor: egui::Vec2) -> Option<egui::Vec2> {
    if monitor.x <= 0.0 || monitor.y <= 0.0 {
        return None;
    }
    // Half a point of slack: sizes come back rounded to pixels.
    let larger = window.x > monitor.x + 0.5 || window.y > monitor.y + 0.5;
    let much_smaller = window.x < monitor.x / 2.0 && window.y < monitor.y / 2.0;
    (larger || much_smaller).then(|| (monitor * WINDOW_FRACTION).max(MIN_WINDOW).min(monitor).round())
}

/// The share of the monitor a window opens at when the remembered size does not suit it:
/// 1920×1080 on a 2560×1440 display, 1200×750 on 1600×1000.
pub const WINDOW_FRACTION: f32 = 0.75;
/// The smallest the window may be made, in points.
const MIN_WINDOW: egui::Vec2 = egui::vec2(640.0, 420.0);

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
/// The most repaints a second that workers may cause: workers wake the window, throttled.
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
    /// What the app was started with (its one-off flags are never remembered).
    startup: Startup,
    /// The settings as read from storage, to put back what one-off flags changed; `None`
    /// with `--fresh-settings`: such a run remembers nothing.
    remembered: Option<Settings>,
    /// The settings as the window opened (remembered ones with the one-off flags applied).
    started: Settings,
    /// The window's size has been checked against its monitor (once, at start).
    window_checked: bool,
}

impl GlimpseApp {
    /// Creates the app: remembered settings (unless `startup` says otherwise), the image
    /// loader, and the job that opens the models and the library.
    pub fn new(cc: &eframe::CreationContext<'_>, startup: Startup) -> GlimpseApp {
        let remembered = match (startup.fresh_settings, cc.storage) {
            (true, _) => None,
            (false, Some(storage)) => Some(
                storage.get_string(settings::STORAGE_KEY).map(|text| Settings::from_stored(&text)).unwrap_or_default(),
            ),
            (false, None) => Some(Settings::default()),
        };
        let mut settings = remembered.clone().unwrap_or_default();
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
        let started = settings.clone();
        let state = match logic::State::new(startup.clone(), waker) {
            Ok(state) => state,
            Err(e) => {
                notices.push(Notice { text: e.to_string(), error: true, at: Instant::now(), about: None });
                logic::State::without_images()
            }
        };
        let mut app = GlimpseApp {
            settings,
            state,
            notices,
            commands: vec![Command::Reopen],
            startup,
            remembered,
            started,
            window_checked: false,
        };
        app.state.after_open = after_open;
        if let Some(query) = query {
            app.state.search.subject = crate::finder::Subject::Text(query);
        }
        app
    }

    /// The settings to remember now: `None` for a `--fresh-settings` run; else the current
    /// settings less what the start-up's one-off flags set (see [`Startup::without_one_offs`]).
    pub fn settings_to_remember(&self) -> Option<Settings> {
        let remembered = self.remembered.as_ref()?;
        Some(self.startup.without_one_offs(&self.settings, &self.started, remembered))
    }

    /// Once, as soon as the monitor is known: resizes a window whose remembered size does not
    /// suit it (see [`window_size_for`]), centred on it.
    fn check_window_size(&mut self, ctx: &egui::Context) {
        if self.window_checked {
            return;
        }
        let (monitor, window) = ctx.input(|i| {
            let viewport = i.viewport();
            (viewport.monitor_size, viewport.inner_rect.map_or_else(|| i.content_rect().size(), |r| r.size()))
        });
        let Some(monitor) = monitor else { return };
        self.window_checked = true;
        if let Some(size) = window_size_for(window, monitor) {
            ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
            ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(((monitor - size) / 2.0).to_pos2()));
        }
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
        self.check_window_size(ui.ctx());
        egui::Panel::top("glimpse-tabs").show(ui, |ui| self.top_bar(ui));
        if !self.notices.is_empty() {
            egui::Panel::bottom("glimpse-notices").show(ui, |ui| self.notice_bar(ui));
        }
        egui::CentralPanel::default_margins().show(ui, |ui| match self.settings.tab {
            Tab::Search => {
                let photos = self.state.photos();
                let view = search_view::View {
                    search: &mut self.state.search,
                    settings: &mut self.settings,
                    images: self.state.images.as_mut(),
                    library: self.state.finder.as_deref().map(|f| &f.library),
                    photos,
                    indexing: &self.state.indexing,
                    concepts: &mut self.state.concepts,
                    engine_error: self.state.engine_error.clone(),
                    commands: &mut self.commands,
                };
                search_view::show(view, ui)
            }
            Tab::Library => {
                let opening = self.state.opening();
                let view = library_view::View {
                    indexing: &mut self.state.indexing,
                    watch: &self.state.watch,
                    library: self.state.finder.as_deref().map(|f| &f.library),
                    opening,
                    index: &self.settings.index,
                    commands: &mut self.commands,
                };
                library_view::show(view, ui)
            }
            Tab::Training => {
                let view = training_view::View {
                    model_metrics: self.state.current_metrics(),
                    captions: self.state.annotator.library.captioned(),
                    state: &mut self.state.training,
                    flickr8k: &mut self.settings.flickr8k,
                    glove: &mut self.settings.glove,
                    form: &mut self.settings.training,
                    commands: &mut self.commands,
                };
                training_view::show(view, ui)
            }
            Tab::Annotator => {
                let view = annotator::View {
                    state: &mut self.state.annotator,
                    flickr8k: &mut self.settings.flickr8k,
                    images: self.state.images.as_mut(),
                    commands: &mut self.commands,
                };
                annotator::show(view, ui)
            }
            Tab::Duplicates => {
                let view = duplicates_view::View {
                    state: &mut self.state.duplicates,
                    library_open: self.state.finder.is_some(),
                    images: self.state.images.as_mut(),
                    commands: &mut self.commands,
                };
                duplicates_view::show(view, ui)
            }
            Tab::Settings => {
                let view = settings_view::View {
                    settings: &mut self.settings,
                    provider_in_use: self.state.engine.as_ref().map(|e| e.backbone.provider().to_string()),
                    model_metrics: self.state.current_metrics(),
                    commands: &mut self.commands,
                };
                settings_view::show(view, ui)
            }
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
        if let Some(settings) = self.settings_to_remember() {
            eframe::set_value(storage, settings::STORAGE_KEY, &settings);
        }
    }

    /// A `--fresh-settings` run leaves what egui remembers (scroll places, open sections) as
    /// it was, as it leaves the settings.
    fn persist_egui_memory(&self) -> bool {
        self.remembered.is_some()
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
        // A `--fresh-settings` run does not leave its window size behind either.
        persist_window: !startup.fresh_settings,
        ..Default::default()
    };
    eframe::run_native("glimpse", options, Box::new(|cc| Ok(Box::new(GlimpseApp::new(cc, startup)))))
        .map_err(|e| crate::Error::Invalid(format!("the window could not open: {e} (is a display available?)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_window_that_does_not_suit_the_monitor_gives_way_to_a_share_of_it() {
        let large = egui::vec2(2560.0, 1440.0);
        // From a much smaller screen, or larger than this one: three quarters of it.
        assert_eq!(window_size_for(egui::vec2(640.0, 480.0), large), Some(egui::vec2(1920.0, 1080.0)));
        assert_eq!(window_size_for(egui::vec2(3000.0, 1000.0), large), Some(egui::vec2(1920.0, 1080.0)));
        // Under half the monitor one way only, or anything between: kept.
        assert_eq!(window_size_for(egui::vec2(1200.0, 800.0), large), None);
        assert_eq!(window_size_for(egui::vec2(1600.0, 1000.0), large), None);
        assert_eq!(window_size_for(egui::vec2(640.0, 480.0), egui::vec2(800.0, 600.0)), None);
        // Never under the window's smallest size, never over the monitor.
        assert_eq!(window_size_for(egui::vec2(300.0, 200.0), egui::vec2(800.0, 600.0)), Some(egui::vec2(640.0, 450.0)));
        assert_eq!(window_size_for(egui::vec2(300.0, 200.0), egui::vec2(700.0, 500.0)), Some(egui::vec2(640.0, 420.0)));
        assert_eq!(window_size_for(egui::vec2(640.0, 480.0), egui::Vec2::ZERO), None);
    }
}

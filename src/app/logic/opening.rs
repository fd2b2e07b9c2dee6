//! Opening the models and the library in the background, and taking them when ready.

use super::Command;
use super::Notices;
use super::State;
use crate::Result;
use crate::app::settings::Settings;
use crate::engine::Backbone;
use crate::engine::BackboneModel;
use crate::engine::Runtime;
use crate::engine::manifest::DEFAULT_BACKBONE;
use crate::finder::Finder;
use crate::finder::Models;
use crate::index::project::Projection;
use crate::job::Job;
use crate::model::JointManifest;
use crate::model::default_model_dir;
use std::path::PathBuf;
use std::sync::Arc;

/// The models the app runs, opened once per settings change.
#[derive(Clone)]
pub struct Engine {
    /// The loaded ONNX Runtime.
    pub runtime: &'static Runtime,
    /// Every model the window runs, each opened once (shared with the finder).
    pub models: Arc<Models>,
    /// The default backbone, for indexing.
    pub backbone: Backbone,
    /// The text model's image head and compact projection, when it fits the backbone.
    pub head: Option<Projection>,
    /// The text model's folder and manifest, when there is one.
    pub model: Option<(PathBuf, JointManifest)>,
}

/// What the opening job produces.
pub(super) struct Opened {
    engine: Engine,
    finder: Option<Finder>,
    notices: Vec<String>,
}

impl State {
    /// Opens the runtime, the default backbone, the text model and the library in the
    /// background; running searches and indexing keep going with the old ones meanwhile.
    pub(super) fn reopen(&mut self, settings: &Settings) -> Result<()> {
        let ort_lib = self.startup.ort_lib.clone();
        let options = settings.session_options();
        let index = settings.index.clone();
        let model_dir = settings.model.clone();
        self.opening = Some(Job::spawn("glimpse-open", 1, self.waker(), move |_cx| {
            let runtime = Runtime::load(ort_lib.as_deref())?;
            let models = Models::new(runtime, &options, model_dir.as_deref());
            let backbone = models.backbone(BackboneModel::find(DEFAULT_BACKBONE)?)?;
            let mut notices: Vec<String> = backbone.notice().map(str::to_string).into_iter().collect();
            let head = models.projection_for(backbone.model())?;
            let model = match model_dir.clone().or_else(default_model_dir) {
                Some(dir) => Some((dir.clone(), JointManifest::load(&dir)?)),
                None => None,
            };
            let finder = if index.exists() {
                match Finder::open_with(&index, models.clone()) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        notices.push(format!("the library could not be opened: {e}"));
                        None
                    }
                }
            } else {
                None
            };
            Ok(Opened { engine: Engine { runtime, models, backbone, head, model }, finder, notices })
        })?);
        Ok(())
    }

    /// Reopens only the library (after indexing), reusing the engine.
    pub(super) fn reopen_library(&mut self, settings: &Settings) -> Result<()> {
        let Some(engine) = self.engine.clone() else { return self.reopen(settings) };
        let index = settings.index.clone();
        self.opening = Some(Job::spawn("glimpse-open", 1, self.waker(), move |_cx| {
            let finder = if index.exists() { Some(Finder::open_with(&index, engine.models.clone())?) } else { None };
            Ok(Opened { engine, finder, notices: Vec::new() })
        })?);
        Ok(())
    }

    pub(super) fn poll_opening(&mut self, commands: &mut Vec<Command>, notices: &mut Notices) {
        let Some(job) = &self.opening else { return };
        if !job.is_finished() {
            return;
        }
        let Some(job) = self.opening.take() else { return };
        match job.wait() {
            Ok(Ok(opened)) => {
                notices.extend(opened.notices.into_iter().map(|n| (n, false)));
                self.engine = Some(opened.engine);
                self.engine_error = None;
                self.finder = opened.finder.map(Arc::new);
                if let Some(finder) = &self.finder {
                    if let Some(problem) = finder.text_problem() {
                        notices.push((problem.to_string(), false));
                    }
                    if self.indexing.excludes.is_empty() {
                        self.indexing.excludes = finder.library.excludes().join("\n");
                    }
                    // The model changed under the library: re-project it from stored features. A
                    // library never projected (a first run stopped before it) is left as the
                    // user left it: re-indexing it here would undo their Cancel.
                    let head_changed = self
                        .engine
                        .as_ref()
                        .and_then(|e| e.head.as_ref())
                        .is_some_and(|p| finder.library.projected_by_another(p));
                    if head_changed && !self.indexing.running() && !finder.library.is_empty() {
                        commands.push(Command::Reindex);
                    }
                }
                // With nothing typed, the search shows the library itself, newest first.
                if self.finder.is_some() {
                    commands.push(Command::Search);
                }
                commands.append(&mut self.after_open);
            }
            Ok(Err(e)) => {
                let text = e.to_string();
                self.engine_error = Some(text.clone());
                notices.push((text, true));
            }
            Err(e) => notices.push((e.to_string(), true)),
        }
    }
}

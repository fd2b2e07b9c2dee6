//! The training panel's state and work: a training run with its epochs, and the current model's metrics.

use std::time::Instant;

use super::Notices;
use super::State;
use super::rate::{StepRate, TrainingClock};
use crate::app::settings::Settings;
use crate::job::Job;
use crate::text::VocabSettings;
use crate::train::eval::Metrics;
use crate::train::personalise::{self, Outcome};
use crate::train::recipe::TrainReport;
use crate::train::recipe::{self, Flickr8kTraining};
use crate::train::trainer::EpochReport;
use crate::train::trainer::TrainConfig;
use crate::train::trainer::TrainEvent;
use crate::train::workflow::ModelSetup;
use crate::{Error, Result};
use std::path::PathBuf;

/// The training panel's state.
#[derive(Default)]
pub struct TrainingState {
    /// Mean loss points: (epoch as a fraction, loss).
    pub losses: Vec<[f64; 2]>,
    /// Finished epochs.
    pub epochs: Vec<EpochReport>,
    /// Lines from the run.
    pub notes: Vec<String>,
    /// Feature progress (done, total) while photo features are computed.
    pub features: Option<(usize, usize)>,
    /// The feature step's rate, timed from that step's own start.
    pub features_rate: StepRate,
    /// The epochs' time left, from their own batches.
    pub clock: TrainingClock,
    /// The result of the last finished run.
    pub report: Option<TrainReport>,
    /// Where the run writes its model.
    pub out: Option<PathBuf>,
    /// Why the last run failed.
    pub error: Option<String>,
    /// How the last run ended when it was stopped before it had a model: what was kept.
    pub stopped: Option<String>,
    /// The person asked this run to stop.
    pub stopping: bool,
    /// "Shipped recipe" was pressed: the panel says what it set.
    pub recipe_note: bool,
    /// Epochs the running (or last) run was planned for.
    pub planned: usize,
    /// Epochs without a better dev recall after which that run stops early.
    pub patience: usize,
    pub(super) job: Option<Job<TrainEvent, Result<TrainReport>>>,
    /// Personalising the model in use with the library's captions.
    pub personal: PersonalState,
}

/// *Personalise*: the text model in use fine-tuned on Flickr8k plus the library's captions.
#[derive(Default)]
pub struct PersonalState {
    /// Lines from the run.
    pub notes: Vec<String>,
    /// Feature progress (done, total) while Flickr8k's photo features are computed.
    pub features: Option<(usize, usize)>,
    /// The feature step's rate, for its time left.
    pub features_rate: StepRate,
    /// Training progress (step, steps) and the last loss.
    pub steps: Option<(usize, usize, f32)>,
    /// The last finished run: before and after, and the model when it was better.
    pub outcome: Option<Outcome>,
    /// Why the last run failed.
    pub error: Option<String>,
    /// The person asked this run to stop.
    pub stopping: bool,
    pub(super) job: Option<Job<TrainEvent, Result<Outcome>>>,
}

impl PersonalState {
    /// True while personalising runs.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }
}

impl TrainingState {
    /// True while training runs.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }
}

impl State {
    pub(super) fn start_training(&mut self, settings: &Settings) -> Result<()> {
        if self.training.running() {
            return Err(Error::Invalid("a training run is already going".into()));
        }
        let Some(engine) = &self.engine else {
            return Err(Error::Invalid("the models are still loading; try again in a moment".into()));
        };
        let form = &settings.training;
        if settings.flickr8k.trim().is_empty() || settings.glove.trim().is_empty() {
            return Err(Error::Invalid("choose the Flickr8k folder and a GloVe file first".into()));
        }
        let config = TrainConfig {
            mining: form.mining,
            margin: form.margin,
            epochs: form.epochs,
            batch_size: form.batch_size,
            lr: form.lr,
            ..TrainConfig::default()
        };
        config.check()?;
        let (planned, patience) = (config.epochs, config.patience);
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let out = self.models_out().join(format!("model-{stamp}"));
        let run = Flickr8kTraining {
            flickr8k: PathBuf::from(settings.flickr8k.trim()),
            glove: PathBuf::from(settings.glove.trim()),
            out: out.clone(),
            cache_dir: self.feature_cache(),
            backbone: engine.backbone.clone(),
            vocab: VocabSettings::default(),
            extra_word_dims: form.extra_word_dims,
            joint_dim: 512,
            image_hidden: None,
            text_encoder: form.encoder,
            feature_slice: None,
            train: config,
        };
        let job = recipe::start(run, self.waker())?;
        self.training = TrainingState { out: Some(out), job: Some(job), planned, patience, ..TrainingState::default() };
        Ok(())
    }

    pub(super) fn poll_training(&mut self, notices: &mut Notices) {
        let Some(job) = &self.training.job else { return };
        let finished = job.is_finished();
        let events: Vec<TrainEvent> = job.events().try_iter().collect();
        let tr = &mut self.training;
        for event in events {
            match event {
                TrainEvent::Note(line) => tr.notes.push(line),
                TrainEvent::Features { done, total } => {
                    tr.features_rate.update(done, total, Instant::now());
                    tr.features = Some((done, total));
                }
                TrainEvent::Step { epoch, step, steps, loss } => {
                    tr.features = None;
                    tr.clock.batch(epoch, step, steps, Instant::now());
                    let x = (epoch - 1) as f64 + step as f64 / steps.max(1) as f64;
                    tr.losses.push([x, f64::from(loss)]);
                }
                TrainEvent::Epoch(e) => {
                    tr.clock.epoch(e.epoch, Instant::now());
                    tr.epochs.push(e);
                }
            }
        }
        if !finished {
            return;
        }
        let Some(job) = tr.job.take() else { return };
        match job.wait().and_then(|r| r) {
            Ok(report) if report.stopped => {
                notices.push((
                    format!(
                        "Training stopped after epoch {}: the best epoch so far ({}, dev R@1 {:.1}) is kept as the model",
                        report.history.len(),
                        report.best_epoch,
                        report.dev.t2i.r1
                    ),
                    false,
                ));
                tr.report = Some(report);
            }
            Ok(report) => {
                notices.push((format!("Training finished: dev R@1 {:.1}", report.dev.t2i.r1), false));
                tr.report = Some(report);
            }
            // A stop the person asked for is no failure: it says what was kept.
            Err(Error::Stopped(what)) if tr.stopping => {
                let words = format!("Training stopped {what}");
                notices.push((words.clone(), false));
                tr.stopped = Some(words);
            }
            Err(e) => {
                tr.error = Some(e.to_string());
                notices.push((format!("training failed: {e}"), true));
            }
        }
    }

    /// Starts personalising the text model in use with the library's captions, Flickr8k's
    /// training captions beside them; the new model is written beside the trained ones.
    pub(super) fn start_personalise(&mut self, settings: &Settings) -> Result<()> {
        if self.training.personal.running() {
            return Err(Error::Invalid("personalising is already going".into()));
        }
        let (Some(engine), Some(finder)) = (&self.engine, self.finder.clone()) else {
            return Err(Error::Invalid("open a library first: personalising learns from its captions".into()));
        };
        let Some(model) = finder.text_model_dir().map(std::path::Path::to_path_buf) else {
            return Err(Error::Invalid("there is no text model to personalise".into()));
        };
        if settings.flickr8k.trim().is_empty() {
            return Err(Error::Invalid("choose the Flickr8k folder first: its captions keep the model general".into()));
        }
        personalise::enough_captions(self.annotator.library.captioned())?;
        let setup = ModelSetup {
            runtime: engine.runtime,
            options: settings.session_options(),
            flickr8k: PathBuf::from(settings.flickr8k.trim()),
            cache_dir: self.feature_cache(),
        };
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let out = self.models_out().join(format!("personal-{stamp}"));
        let job = Job::spawn("glimpse-personalise", 64, self.waker(), move |cx| {
            let library = finder.captioned_library()?;
            personalise::run(&setup, &model, &library, &out, personalise::Settings::default(), &cx)
        })?;
        self.training.personal = PersonalState { job: Some(job), ..PersonalState::default() };
        Ok(())
    }

    pub(super) fn poll_personalise(&mut self, notices: &mut Notices) {
        let personal = &mut self.training.personal;
        let Some(job) = &personal.job else { return };
        let finished = job.is_finished();
        let events: Vec<TrainEvent> = job.events().try_iter().collect();
        for event in events {
            match event {
                TrainEvent::Note(line) => personal.notes.push(line),
                TrainEvent::Features { done, total } => {
                    personal.features_rate.update(done, total, Instant::now());
                    personal.features = Some((done, total));
                }
                TrainEvent::Step { step, steps, loss, .. } => {
                    personal.features = None;
                    personal.steps = Some((step, steps, loss));
                }
                TrainEvent::Epoch(_) => {}
            }
        }
        if !finished {
            return;
        }
        let Some(job) = personal.job.take() else { return };
        match job.wait().and_then(|r| r) {
            Ok(outcome) => {
                let words = if outcome.written.is_some() {
                    "Personalised: the new model finds your held-out captions' photos better"
                } else {
                    "Personalised, but the new model is not better on your held-out captions: the model in use stays"
                };
                notices.push((words.to_string(), false));
                personal.outcome = Some(outcome);
            }
            Err(Error::Stopped(what)) if personal.stopping => notices.push((format!("Stopped {what}"), false)),
            Err(e) => {
                personal.error = Some(e.to_string());
                notices.push((format!("personalising failed: {e}"), true));
            }
        }
    }

    /// The current model's dev metrics, from its manifest.
    pub fn current_metrics(&self) -> Option<(PathBuf, Metrics)> {
        let (dir, manifest) = self.engine.as_ref()?.model.as_ref()?;
        Some((dir.clone(), manifest.dev_metrics()?))
    }
}

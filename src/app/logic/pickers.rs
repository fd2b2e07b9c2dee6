//! The desktop's file and folder pickers, run off the UI thread.

use super::Command;
use super::Notices;
use super::State;
use crate::Result;
use crate::app::settings::Settings;
use crate::job::Job;
use std::time::Duration;
use std::time::Instant;

/// A chooser that gives nothing back sooner than this never opened.
const NO_PICKER: Duration = Duration::from_millis(700);

impl State {
    pub(super) fn start_picker(&mut self, command: Command) -> Result<()> {
        if self.picker.is_some() {
            return Ok(());
        }
        let kind = command.clone();
        let job = Job::spawn("glimpse-picker", 1, self.waker(), move |_cx| match kind {
            Command::PickGlove => rfd::FileDialog::new()
                .set_title("Choose a GloVe file")
                .add_filter("GloVe vectors", &["txt", "gz"])
                .pick_file(),
            Command::PickFlickr8k => rfd::FileDialog::new().set_title("Choose the Flickr8k folder").pick_folder(),
            Command::PickModel => rfd::FileDialog::new().set_title("Choose a text model folder").pick_folder(),
            Command::PickPhoto => rfd::FileDialog::new()
                .set_title("Find photos like…")
                .add_filter("Photos", &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"])
                .pick_file(),
            _ => rfd::FileDialog::new().set_title("Add a folder of photos").pick_folder(),
        })?;
        self.picker = Some((command, Instant::now(), job));
        Ok(())
    }

    pub(super) fn poll_picker(&mut self, settings: &mut Settings, commands: &mut Vec<Command>, notices: &mut Notices) {
        let Some((_, _, job)) = &self.picker else { return };
        if !job.is_finished() {
            return;
        }
        let Some((kind, started, job)) = self.picker.take() else { return };
        let Ok(Some(path)) = job.wait() else {
            // Nobody can choose that fast: no chooser opened (no portal, no zenity), so say
            // so and point at the typed path instead of doing nothing.
            if started.elapsed() < NO_PICKER {
                notices.push((
                    "No file chooser opened (Glimpse asks the desktop portal, then zenity). Type the path instead."
                        .into(),
                    true,
                ));
                if kind == Command::PickFolder {
                    settings.tab = super::super::settings::Tab::Library;
                }
            }
            return;
        };
        match kind {
            Command::PickFlickr8k => settings.flickr8k = path.display().to_string(),
            Command::PickGlove => settings.glove = path.display().to_string(),
            Command::PickModel => commands.push(Command::UseModel(path)),
            Command::PickPhoto => commands.push(Command::FindSimilar(path)),
            _ => commands.push(Command::AddFolder(path)),
        }
    }
}

//! The duplicates view's state and work: the library's near-duplicate groups, found in the
//! background at the slider's threshold.

use crate::index::duplicates::{DEFAULT_THRESHOLD, DuplicatePhoto, library_groups};
use crate::job::Job;

use super::{Notices, State};

/// The duplicates view's state.
pub struct DuplicatesState {
    /// The groups, once found.
    pub groups: Option<Vec<Vec<DuplicatePhoto>>>,
    /// What the shown groups compared: how many photos, at which threshold.
    pub compared: Option<(usize, f32)>,
    /// How alike two photos' features must be to count as copies (the slider).
    pub threshold: f32,
    job: Option<Job<(), crate::Result<Vec<Vec<DuplicatePhoto>>>>>,
    /// The running job's photo count and threshold, for `compared` once it ends.
    asked: (usize, f32),
}

impl Default for DuplicatesState {
    fn default() -> Self {
        DuplicatesState {
            groups: None,
            compared: None,
            threshold: DEFAULT_THRESHOLD,
            job: None,
            asked: (0, DEFAULT_THRESHOLD),
        }
    }
}

impl DuplicatesState {
    /// True while near-duplicates are being grouped.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }
}

impl State {
    /// Groups the open library's near-duplicates at the slider's threshold.
    pub(super) fn start_duplicates(&mut self) -> crate::Result<()> {
        let Some(finder) = self.finder.clone() else { return Ok(()) };
        let threshold = self.duplicates.threshold;
        self.duplicates.asked = (self.photos(), threshold);
        let job =
            Job::spawn("glimpse-duplicates", 1, self.waker(), move |_cx| library_groups(&finder.library, threshold))?;
        self.duplicates.job = Some(job);
        Ok(())
    }

    pub(super) fn poll_duplicates(&mut self, notices: &mut Notices) {
        let dup = &mut self.duplicates;
        if dup.job.as_ref().is_some_and(Job::is_finished)
            && let Some(job) = dup.job.take()
        {
            match job.wait().and_then(|groups| groups) {
                Ok(groups) => {
                    dup.groups = Some(groups);
                    dup.compared = Some(dup.asked);
                }
                Err(e) => notices.push((e.to_string(), true)),
            }
        }
    }
}

//! Watching the library's folders, so new, changed, moved and deleted photos are picked up
//! without anyone asking: the window and `glimpse index --watch` run an ordinary indexing
//! run (same lock, journal and progress) once a burst of changes has settled.
//!
//! The operating system tells of changes (inotify, through the `notify` crate): nothing is
//! polled or read while nothing changes. A folder that cannot be watched (missing, an
//! unplugged drive) is tried again every [`REARM`]; when it comes back, that counts as a
//! change, and the indexing run finds it online again. A folder that goes away is never taken
//! for deleted photos here: the indexing run's offline rule decides, as it always does.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use notify::event::EventKind;
use notify::{RecursiveMode, Watcher};

use crate::engine::preprocess::has_photo_extension;
use crate::job::{Job, JobContext, Waker};
use crate::{Error, Result};

/// A burst counts as settled once no change came for this long: a camera import of 500
/// files becomes one indexing run.
pub const QUIET: Duration = Duration::from_millis(1500);
/// A burst that never pauses is indexed anyway after this long, so photos of a long copy
/// show up while it goes on (the run after picks up the rest).
pub const MAX_WAIT: Duration = Duration::from_secs(20);
/// How often folders that could not be watched are tried again.
pub const REARM: Duration = Duration::from_secs(5);

/// The library's folders under watch.
pub struct FolderWatch {
    watcher: notify::RecommendedWatcher,
    events: Receiver<notify::Result<notify::Event>>,
    roots: Vec<PathBuf>,
    watched: HashSet<PathBuf>,
    /// Why a folder is not watched, for the first try that failed.
    problems: Vec<(PathBuf, String)>,
    last_rearm: Instant,
    /// The first and the latest relevant change of the burst not yet handed out.
    burst: Option<(Instant, Instant)>,
    changes: usize,
    /// Roots that were themselves moved or deleted: their watch is renewed (the kernel's
    /// may have ended, or follow the folder to wherever it went).
    touched_roots: HashSet<PathBuf>,
    /// Folders whose changes are Glimpse's own writing.
    own: Vec<PathBuf>,
}

/// What settled: how many changes the burst held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settled {
    /// File system events that touched photos or folders (not distinct files).
    pub changes: usize,
}

impl FolderWatch {
    /// A watch on nothing yet; changes under `own` (the folders Glimpse writes itself, such
    /// as an index's thumbnails kept inside a library folder) never count.
    pub fn new(own: Vec<PathBuf>) -> Result<Self> {
        let (tx, events) = crossbeam_channel::unbounded();
        let watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })
        .map_err(|e| Error::Invalid(format!("cannot watch folders: {e}")))?;
        Ok(FolderWatch {
            watcher,
            events,
            roots: Vec::new(),
            watched: HashSet::new(),
            problems: Vec::new(),
            last_rearm: Instant::now(),
            burst: None,
            changes: 0,
            touched_roots: HashSet::new(),
            own,
        })
    }

    /// Watches exactly these folders (and everything below them) from now on.
    pub fn set_roots(&mut self, roots: &[PathBuf]) {
        for gone in self.watched.iter().filter(|w| !roots.contains(w)).cloned().collect::<Vec<_>>() {
            let _ = self.watcher.unwatch(&gone);
            self.watched.remove(&gone);
        }
        self.roots = roots.to_vec();
        self.problems.retain(|(p, _)| roots.contains(p));
        // A folder that is back counts as a change whenever it is noticed, here too.
        if self.arm() {
            self.changed(Instant::now());
        }
    }

    /// Counts a change into the current burst (starting one).
    fn changed(&mut self, now: Instant) {
        self.changes += 1;
        self.burst = Some((self.burst.map_or(now, |(first, _)| first), now));
    }

    /// The folders watched now.
    pub fn watched(&self) -> usize {
        self.watched.len()
    }

    /// The library's folders that are not watched now, with why.
    pub fn problems(&self) -> &[(PathBuf, String)] {
        &self.problems
    }

    /// Starts watching the roots that are not watched yet; true when one that had failed
    /// before now succeeded (a drive came back).
    fn arm(&mut self) -> bool {
        self.last_rearm = Instant::now();
        let mut came_back = false;
        for root in self.roots.clone() {
            if self.watched.contains(&root) {
                continue;
            }
            if !root.is_dir() {
                self.note_problem(&root, "not there".into());
                continue;
            }
            match self.watcher.watch(&root, RecursiveMode::Recursive) {
                Ok(()) => {
                    self.watched.insert(root.clone());
                    came_back |= self.problems.iter().any(|(p, _)| *p == root);
                    self.problems.retain(|(p, _)| *p != root);
                }
                Err(e) => self.note_problem(&root, watch_error(&e)),
            }
        }
        came_back
    }

    fn note_problem(&mut self, root: &Path, why: String) {
        if !self.problems.iter().any(|(p, _)| p == root) {
            self.problems.push((root.to_path_buf(), why));
        }
    }

    /// Takes in the changes reported so far without waiting; returns the burst once it has
    /// settled (see [`QUIET`], [`MAX_WAIT`]).
    pub fn poll(&mut self) -> Option<Settled> {
        while let Ok(event) = self.events.try_recv() {
            self.take(event);
        }
        self.settle()
    }

    /// Waits up to `timeout` for a settled burst (for `glimpse index --watch`).
    pub fn wait(&mut self, timeout: Duration) -> Option<Settled> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(settled) = self.poll() {
                return Some(settled);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let mut next = deadline.min(self.last_rearm + REARM);
            if let Some((first, last)) = self.burst {
                next = next.min(last + QUIET).min(first + MAX_WAIT);
            }
            match self.events.recv_timeout(next.saturating_duration_since(now).max(Duration::from_millis(10))) {
                Ok(event) => self.take(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    fn take(&mut self, event: notify::Result<notify::Event>) {
        let now = Instant::now();
        match event {
            Ok(event) if relevant(&event, &self.own) => {
                for root in event.paths.iter().filter(|p| self.roots.contains(p)) {
                    self.touched_roots.insert(root.clone());
                }
                self.changed(now);
            }
            Ok(_) => {}
            // The kernel's queue overflowed (a huge burst): what changed is unknown, so the
            // indexing run looks at everything, as it always does.
            Err(_) => self.changed(now),
        }
    }

    fn settle(&mut self) -> Option<Settled> {
        let now = Instant::now();
        let touched: Vec<PathBuf> = self.touched_roots.drain().collect();
        for root in &touched {
            let _ = self.watcher.unwatch(root);
            self.watched.remove(root);
        }
        if now >= self.last_rearm + REARM || !touched.is_empty() {
            // Watches of deleted or unmounted folders are gone: forget them, so they are
            // tried again; going and coming back are both changes (the indexing run marks
            // the folder offline, then online).
            let lost: Vec<PathBuf> = self.watched.iter().filter(|w| !w.is_dir()).cloned().collect();
            for root in &lost {
                let _ = self.watcher.unwatch(root);
                self.watched.remove(root);
                self.note_problem(root, "not there".into());
            }
            if self.arm() || !lost.is_empty() {
                self.changed(now);
            }
        }
        let (first, last) = self.burst?;
        if now < last + QUIET && now < first + MAX_WAIT {
            return None;
        }
        self.burst = None;
        Some(Settled { changes: std::mem::take(&mut self.changes) })
    }
}

/// What a watch job tells its owner.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent {
    /// How many of the library's folders are watched, and why the others are not: sent
    /// first, and again whenever that changes.
    Watching {
        /// Folders watched.
        watched: usize,
        /// Folders not watched, with why.
        problems: Vec<(PathBuf, String)>,
    },
    /// A burst of changes settled: time for an indexing run.
    Changed(Settled),
}

/// Watches `roots` (`own` as for [`FolderWatch::new`]) on a thread of its own (stat calls
/// on a hung network drive never block the caller) until the job is stopped or dropped.
pub fn start(roots: Vec<PathBuf>, own: Vec<PathBuf>, waker: Option<Waker>) -> Result<Job<WatchEvent, Result<()>>> {
    Job::spawn("glimpse-watch", 16, waker, move |cx: JobContext<WatchEvent>| {
        let mut watch = FolderWatch::new(own)?;
        watch.set_roots(&roots);
        let mut told: Option<(usize, Vec<(PathBuf, String)>)> = None;
        while !cx.should_stop() {
            let now = (watch.watched(), watch.problems().to_vec());
            if told.as_ref() != Some(&now) {
                told = Some(now.clone());
                if !cx.send(WatchEvent::Watching { watched: now.0, problems: now.1 }) {
                    break;
                }
            }
            if let Some(settled) = watch.wait(Duration::from_millis(250))
                && !cx.send(WatchEvent::Changed(settled))
            {
                break;
            }
        }
        Ok(())
    })
}

/// Words for a failed watch; the inotify limit gets the setting to raise.
fn watch_error(e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => {
            "too many folders to watch (raise fs.inotify.max_user_watches); use Update index".into()
        }
        _ => e.to_string(),
    }
}

/// True for a change that can matter to the library: any path that is a photo (RAW and
/// HEIC included), a folder, or has no extension (a folder that is gone). Reads do not
/// count, nor does anything under `own` (Glimpse's own thumbnails).
fn relevant(event: &notify::Event, own: &[PathBuf]) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    event
        .paths
        .iter()
        .filter(|p| !own.iter().any(|o| p.starts_with(o)))
        .any(|p| has_photo_extension(p) || p.extension().is_none() || p.is_dir())
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, CreateKind, ModifyKind, RemoveKind};

    use super::*;

    fn event(kind: EventKind, path: &str) -> notify::Event {
        notify::Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn photos_and_folders_matter_reads_other_files_and_glimpse_s_own_thumbnails_do_not() {
        let create = EventKind::Create(CreateKind::File);
        let relevant = |e: &notify::Event| relevant(e, &[PathBuf::from("/photos/library.thumbs")]);
        assert!(relevant(&event(create, "/photos/IMG_1.HEIC")));
        assert!(relevant(&event(EventKind::Remove(RemoveKind::Any), "/photos/a.jpg")));
        assert!(relevant(&event(EventKind::Modify(ModifyKind::Any), "/photos/raw.CR3")));
        assert!(relevant(&event(EventKind::Remove(RemoveKind::Folder), "/photos/trip")));
        assert!(!relevant(&event(EventKind::Access(AccessKind::Any), "/photos/a.jpg")));
        assert!(!relevant(&event(create, "/photos/library.glimpse")));
        assert!(!relevant(&event(create, "/photos/notes.txt")));
        assert!(!relevant(&event(create, "/photos/library.thumbs/ab/abcd.jpg")));
        assert!(!relevant(&event(create, "/photos/library.thumbs/ab")));
    }
}

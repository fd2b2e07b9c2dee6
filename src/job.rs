//! The owned handle every long task runs behind.
//!
//! A [`Job`] is a named worker thread, a bounded channel of events, a stop flag and a final
//! report. The CLI renders the events with a progress bar, the app with its own widgets, and
//! tests assert on them. Dropping the handle asks the worker to stop and disconnects the
//! channel, so a worker blocked on a full channel wakes up and ends too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::{Error, Result};

/// Something to call after each event so that a window can repaint; it must be cheap and
/// throttle itself.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The worker's side of a job: send events, check whether to stop.
pub struct JobContext<E> {
    events: Sender<E>,
    stop: Arc<AtomicBool>,
    waker: Option<Waker>,
}

impl<E> JobContext<E> {
    /// Sends an event, waiting while the channel is full. Returns `false` once the handle is
    /// gone, after which the worker should wind up.
    pub fn send(&self, event: E) -> bool {
        let sent = self.events.send(event).is_ok();
        if let Some(wake) = &self.waker {
            wake();
        }
        sent
    }

    /// True once the owner asked the job to stop (or dropped the handle).
    pub fn should_stop(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The stop flag itself, for helpers that run on other threads.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }
}

/// An owned handle on a background job that emits events of type `E` and ends with `R`.
pub struct Job<E, R> {
    name: String,
    // Dropped before the thread is left to finish, so a sender blocked on it wakes up.
    events: Option<Receiver<E>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<R>>,
    /// Set by the worker just before it returns (and wakes the window), so a window that
    /// repaints on that wake sees the job as finished.
    done: Arc<AtomicBool>,
}

impl<E: Send + 'static, R: Send + 'static> Job<E, R> {
    /// Starts `work` on a thread named `name`, with an event channel of `capacity` slots.
    pub fn spawn(
        name: &str,
        capacity: usize,
        waker: Option<Waker>,
        work: impl FnOnce(JobContext<E>) -> R + Send + 'static,
    ) -> Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (finished, wake_at_end) = (Arc::clone(&done), waker.clone());
        let context = JobContext { events: tx, stop: Arc::clone(&stop), waker };
        let handle = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let report = work(context);
                // The end is news too: a job that sends no events still wakes the window.
                finished.store(true, Ordering::Release);
                if let Some(wake) = wake_at_end {
                    wake();
                }
                report
            })
            .map_err(|e| Error::Invalid(format!("could not start the '{name}' thread: {e}")))?;
        Ok(Job { name: name.to_string(), events: Some(rx), stop, handle: Some(handle), done })
    }
}

impl<E, R> Job<E, R> {
    /// The channel of events; it disconnects when the worker has finished.
    pub fn events(&self) -> &Receiver<E> {
        // Invariant: `events` is only taken in `Drop` and `wait`, which consume the handle.
        self.events.as_ref().unwrap_or_else(|| unreachable!("events taken before drop"))
    }

    /// Asks the worker to stop at its next check; finished work is kept.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// True once the worker has produced its report (`wait` then returns at once).
    pub fn is_finished(&self) -> bool {
        self.done.load(Ordering::Acquire) || self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Waits for the worker and returns its report. Events not yet read are dropped.
    pub fn wait(mut self) -> Result<R> {
        self.events.take();
        let handle = self.handle.take();
        match handle.map(JoinHandle::join) {
            Some(Ok(report)) => Ok(report),
            _ => Err(Error::JobCrashed(self.name.clone())),
        }
    }
}

impl<E, R> Drop for Job<E, R> {
    fn drop(&mut self) {
        self.stop();
        // Disconnect so a worker blocked on a full channel returns from `send`; the thread
        // then ends on its own, and nobody waits for it here (this may be a UI thread).
        self.events.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_arrive_in_order_and_the_report_comes_last() {
        let job = Job::spawn("test-count", 2, None, |cx: JobContext<u32>| {
            for i in 0..10 {
                cx.send(i);
            }
            "done"
        })
        .unwrap();
        let seen: Vec<u32> = job.events().iter().collect();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(job.wait().unwrap(), "done");
    }

    #[test]
    fn the_end_of_a_job_that_sends_nothing_wakes_the_owner() {
        let (tx, rx) = crossbeam_channel::bounded::<()>(4);
        let waker: Waker = Arc::new(move || {
            let _ = tx.try_send(());
        });
        let job = Job::spawn("test-wake", 1, Some(waker), |_cx: JobContext<()>| 7).unwrap();
        rx.recv_timeout(std::time::Duration::from_secs(10)).expect("no wake at the end");
        assert!(job.is_finished());
        assert_eq!(job.wait().unwrap(), 7);
    }

    #[test]
    fn stop_is_seen_by_the_worker() {
        let job = Job::spawn("test-stop", 1, None, |cx: JobContext<()>| {
            let mut spins = 0u64;
            while !cx.should_stop() {
                spins += 1;
                std::thread::yield_now();
            }
            spins
        })
        .unwrap();
        job.stop();
        // Waiting happens on a helper thread so a worker that never sees the stop fails the
        // test after a minute instead of hanging the suite.
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::Builder::new().name("test-waiter".into()).spawn(move || tx.send(job.wait().is_ok()).ok()).unwrap();
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(60)), Ok(true), "the worker never saw the stop");
    }

    #[test]
    fn dropping_the_handle_unblocks_a_worker_waiting_on_a_full_channel() {
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let job = Job::spawn("test-drop", 1, None, move |cx: JobContext<u32>| {
            let mut sent = 0;
            while cx.send(sent) {
                sent += 1;
            }
            done_tx.send(sent).ok();
        })
        .unwrap();
        drop(job);
        let sent = done_rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert!(sent <= 2, "worker kept sending after the handle was dropped: {sent}");
    }

    #[test]
    fn a_panicking_worker_is_reported_as_a_crash_not_a_panic() {
        let job = Job::spawn("test-panic", 1, None, |_cx: JobContext<()>| -> u32 { panic!("boom") }).unwrap();
        assert!(matches!(job.wait(), Err(Error::JobCrashed(name)) if name == "test-panic"));
    }
}

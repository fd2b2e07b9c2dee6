//! Rates and time left for the training panel, each timed from the start of what it
//! measures: the feature step from its own first report (not from the start of the run,
//! which may have spent minutes reading the cache first), and the epochs from their own
//! batches (not from the mean of finished epochs, so a slow first epoch does not make every
//! later prediction three times too long, and epoch 1 has a prediction too).

use std::time::Instant;

/// A rate needs at least this long a stretch to mean something: the first reports of a step
/// come in bursts.
const MIN_SECONDS: f64 = 1.0;

/// How fast a count advances, timed from the first report of the step it belongs to.
#[derive(Clone, Copy, Debug, Default)]
pub struct StepRate {
    /// The step's first report: when, and the count then.
    start: Option<(Instant, usize)>,
    /// The latest report: when, the count, the step's total.
    last: Option<(Instant, usize, usize)>,
}

impl StepRate {
    /// Notes `done` of `total` at `now`. A new total, or a count lower than the last one,
    /// is a new step: its clock starts here.
    pub fn update(&mut self, done: usize, total: usize, now: Instant) {
        if self.last.is_none_or(|(_, before, of)| of != total || done < before) {
            self.start = Some((now, done));
        }
        self.last = Some((now, done, total));
    }

    /// Items a second in this step, once it has advanced over at least a second.
    pub fn per_second(&self) -> Option<f64> {
        let (t0, d0) = self.start?;
        let (t1, d1, _) = self.last?;
        let seconds = t1.saturating_duration_since(t0).as_secs_f64();
        (d1 > d0 && seconds >= MIN_SECONDS).then(|| (d1 - d0) as f64 / seconds)
    }

    /// Seconds until the step's total is reached at this step's rate, counted from `now`.
    pub fn seconds_left(&self, now: Instant) -> Option<f64> {
        let rate = self.per_second()?;
        let (t1, done, total) = self.last?;
        let since = now.saturating_duration_since(t1).as_secs_f64();
        Some((total.saturating_sub(done) as f64 / rate - since).max(0.0))
    }
}

/// Where a training run is and how long the rest should take: seconds per batch from the
/// latest epoch's own batches, plus the dev evaluation each epoch ends with, as measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct TrainingClock {
    /// The current epoch's batches.
    batches: StepRate,
    /// Seconds a batch, from the latest epoch that has run long enough to say.
    per_batch: Option<f64>,
    /// Seconds from an epoch's last batch to its report (the dev evaluation).
    evaluation: Option<f64>,
    /// The latest batch report: epoch (from 1), batches done in it, batches an epoch, when.
    at: Option<(usize, usize, usize, Instant)>,
    /// Epochs whose report has come.
    reported: usize,
}

impl TrainingClock {
    /// Notes that `step` of the `steps` batches of `epoch` (from 1) are done, at `now`.
    pub fn batch(&mut self, epoch: usize, step: usize, steps: usize, now: Instant) {
        if self.at.is_some_and(|(e, ..)| e != epoch) {
            self.batches = StepRate::default();
        }
        self.batches.update(step, steps, now);
        if let Some(rate) = self.batches.per_second() {
            self.per_batch = Some(1.0 / rate);
        }
        self.at = Some((epoch, step, steps, now));
    }

    /// Notes that `epoch`'s report (after its dev evaluation) came at `now`.
    pub fn epoch(&mut self, epoch: usize, now: Instant) {
        if let Some((e, step, steps, t)) = self.at
            && e == epoch
            && step >= steps
        {
            self.evaluation = Some(now.saturating_duration_since(t).as_secs_f64());
        }
        self.reported = self.reported.max(epoch);
    }

    /// The epoch running now (from 1) and the batches done in it, once one was reported.
    pub fn position(&self) -> Option<(usize, usize, usize)> {
        self.at.map(|(epoch, step, steps, _)| (epoch, step, steps))
    }

    /// Seconds until all `planned` epochs are done, counted from `now`: the batches left
    /// at the latest rate, and an evaluation per epoch not yet reported. `None` until a
    /// rate has been measured.
    pub fn seconds_left(&self, planned: usize, now: Instant) -> Option<f64> {
        let per_batch = self.per_batch?;
        let (epoch, step, steps, t) = self.at?;
        let batches = steps.saturating_sub(step) + planned.saturating_sub(epoch) * steps;
        let evaluations = planned.saturating_sub(self.reported) as f64 * self.evaluation.unwrap_or(0.0);
        let since = now.saturating_duration_since(t).as_secs_f64();
        Some((batches as f64 * per_batch + evaluations - since).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(start: Instant, seconds: f64) -> Instant {
        start + Duration::from_secs_f64(seconds)
    }

    #[test]
    fn the_feature_rate_is_timed_from_its_own_step_not_from_the_start_of_the_run() {
        let t0 = Instant::now();
        let mut rate = StepRate::default();
        // The train split's features were all cached: its one report says 0 of 0, after
        // which reading and hashing the dev split's photos took 150 s.
        rate.update(0, 0, t0);
        rate.update(0, 1000, at(t0, 150.0));
        assert_eq!(rate.per_second(), None, "a rate before anything was done");
        rate.update(420, 1000, at(t0, 160.0));
        rate.update(681, 1000, at(t0, 150.0 + 681.0 / 42.0));
        let per_second = rate.per_second().unwrap();
        assert!((per_second - 42.0).abs() < 0.01, "{per_second} photos/s, not 42");
        let left = rate.seconds_left(at(t0, 150.0 + 681.0 / 42.0)).unwrap();
        assert!((left - 319.0 / 42.0).abs() < 0.01, "{left} s left");
        // Time passing without a report counts down, never below zero.
        assert!(rate.seconds_left(at(t0, 1000.0)).unwrap() == 0.0);
        // A count that starts again is a new step with a clock of its own.
        rate.update(0, 1000, at(t0, 500.0));
        assert_eq!(rate.per_second(), None);
    }

    #[test]
    fn epochs_are_predicted_from_their_own_batches_from_the_first_epoch_on() {
        let t0 = Instant::now();
        let mut clock = TrainingClock::default();
        assert_eq!(clock.seconds_left(3, t0), None);
        // Epoch 1: 100 batches at 0.64 s each (a slow warm-up), reported every 5.
        for step in (5..=100).step_by(5) {
            clock.batch(1, step, 100, at(t0, step as f64 * 0.64));
            if step == 10 {
                // During epoch 1 there is a prediction: 90 batches of this epoch and 200 more.
                let left = clock.seconds_left(3, at(t0, 6.4)).unwrap();
                assert!((left - 290.0 * 0.64).abs() < 0.01, "{left} s left during epoch 1");
            }
        }
        // Its dev evaluation takes 2 s.
        clock.epoch(1, at(t0, 66.0));
        // Epoch 2 runs at 0.225 s a batch: the prediction follows it, not epoch 1's 64 s.
        clock.batch(2, 5, 100, at(t0, 67.125));
        clock.batch(2, 10, 100, at(t0, 68.25));
        let left = clock.seconds_left(3, at(t0, 68.25)).unwrap();
        let expected = 190.0 * 0.225 + 2.0 * 2.0;
        assert!((left - expected).abs() < 0.01, "{left} s left, expected {expected}");
        assert_eq!(clock.position(), Some((2, 10, 100)));
    }
}

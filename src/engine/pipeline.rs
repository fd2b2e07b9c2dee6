//! The embedding pipeline: photos are read, decoded and resized in parallel while one
//! session runs batches on its own thread; bounded channels connect the two, so memory
//! stays flat however many photos there are.
//!
//! ```text
//! paths ─▶ [glimpse-decode-N × rayon] ─(bounded)─▶ [glimpse-embed: batches → Backbone] ─(bounded)─▶ events
//! ```
//!
//! Each photo yields its own event; a bad file is an error for that file only.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use image::RgbImage;
use ndarray::Array4;
use rayon::prelude::*;

use super::backbone::Backbone;
use crate::error::catch_panic;
use crate::job::{Job, JobContext, Waker};
use crate::{Error, Result};

/// How the pipeline runs.
#[derive(Clone, Debug)]
pub struct EmbedOptions {
    /// Photos per backbone call.
    pub batch_size: usize,
    /// Threads that decode and resize; 0 = one per core.
    pub decode_threads: usize,
    /// Also return classifier logits.
    pub want_logits: bool,
    /// Also return a thumbnail fitting this square, made from the same decode.
    pub thumbnail: Option<u32>,
    /// Decode large JPEGs at reduced size in the IDCT (see [`super::Preprocess`]).
    pub reduced_jpeg: bool,
    /// Largest photo file read, in bytes; larger ones are skipped unread.
    pub max_file_bytes: u64,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        // 8 runs as fast as 16 on 2 cores (`glimpse bench embed --batch N`: 43.1 against 43.5
        // photos/s end to end) and keeps `glimpse index` under 500 MB (472 MB against 766 MB
        // on the shared photos; 467 MB against 717 MB on 4000x3000 JPEGs).
        EmbedOptions {
            batch_size: 8,
            decode_threads: 0,
            want_logits: false,
            thumbnail: None,
            reduced_jpeg: true,
            max_file_bytes: crate::files::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// A photo's features.
#[derive(Clone, Debug)]
pub struct Embedded {
    /// Position of the photo in the input list.
    pub index: usize,
    /// The photo.
    pub path: PathBuf,
    /// Backbone features.
    pub features: Vec<f32>,
    /// Classifier logits, when asked for.
    pub logits: Option<Vec<f32>>,
    /// Displayed width in pixels (after EXIF orientation).
    pub width: u32,
    /// Displayed height in pixels.
    pub height: u32,
    /// The thumbnail, when asked for.
    pub thumbnail: Option<RgbImage>,
}

/// One photo's outcome.
#[derive(Debug)]
pub enum EmbedEvent {
    /// The photo was embedded.
    Embedded(Box<Embedded>),
    /// The photo was skipped; the error says why.
    Failed {
        /// Position of the photo in the input list.
        index: usize,
        /// The photo.
        path: PathBuf,
        /// Why.
        error: Error,
    },
}

/// The pipeline's final report.
#[derive(Clone, Debug, Default)]
pub struct EmbedReport {
    /// Photos embedded.
    pub embedded: usize,
    /// Photos skipped with an error.
    pub failed: usize,
    /// True when the job was stopped before the end.
    pub stopped: bool,
    /// Wall-clock time of the whole run.
    pub elapsed: Duration,
}

/// Decoders run at a lower priority than the inference threads, so that on a machine with
/// few cores they fill the gaps between ONNX Runtime's operators instead of delaying them.
#[allow(unsafe_code)]
fn lower_priority() {
    // SAFETY: on Linux `setpriority(PRIO_PROCESS, 0, …)` changes the niceness of the calling
    // thread only; it touches no memory. Failure leaves the priority as it was.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

type PreparedItem = (usize, Result<super::preprocess::Prepared>);

/// Starts embedding `paths` in the background; events arrive as photos finish (not in
/// input order), then the report.
pub fn embed(
    backbone: &Backbone,
    paths: Vec<PathBuf>,
    options: EmbedOptions,
    waker: Option<Waker>,
) -> Result<Job<EmbedEvent, Result<EmbedReport>>> {
    let backbone = backbone.clone();
    let batch_size = options.batch_size.max(1);
    Job::spawn("glimpse-embed", 4 * batch_size, waker, move |cx| run(&backbone, paths, &options, batch_size, &cx))
}

fn run(
    backbone: &Backbone,
    paths: Vec<PathBuf>,
    options: &EmbedOptions,
    batch_size: usize,
    cx: &JobContext<EmbedEvent>,
) -> Result<EmbedReport> {
    let started = Instant::now();
    let mut preprocess = backbone.preprocess();
    preprocess.thumbnail = options.thumbnail;
    preprocess.reduced_jpeg = options.reduced_jpeg;
    preprocess.max_file_bytes = options.max_file_bytes;
    let side = preprocess.size as usize;
    let threads = if options.decode_threads == 0 {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    } else {
        options.decode_threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("glimpse-decode-{i}"))
        .start_handler(|_| lower_priority())
        .build()
        .map_err(|e| Error::Invalid(format!("could not start the decoding threads: {e}")))?;
    let (tx, rx) = crossbeam_channel::bounded::<PreparedItem>(2 * batch_size);
    let stop = cx.stop_flag();
    let paths = std::sync::Arc::new(paths);
    let decode_paths = std::sync::Arc::clone(&paths);
    let decoder = std::thread::Builder::new()
        .name("glimpse-decode".into())
        .spawn(move || {
            pool.install(|| {
                decode_paths.par_iter().enumerate().for_each_with(tx, |tx, (i, path)| {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    // A panic in a decoder is that photo's error; the others go on.
                    let prepared = catch_panic(
                        || preprocess.prepare_path(path),
                        |message| Error::photo(path, format!("the decoder crashed on this file: {message}")),
                    );
                    let _ = tx.send((i, prepared));
                });
            });
        })
        .map_err(|e| Error::Invalid(format!("could not start the decoding thread: {e}")))?;

    let mut report = EmbedReport::default();
    let mut batch: Vec<(usize, super::preprocess::Prepared)> = Vec::with_capacity(batch_size);
    let mut open = true;
    while open {
        if cx.should_stop() {
            report.stopped = true;
            break;
        }
        // Fill a batch; failures are reported at once and do not take a slot. The wait wakes
        // every 100 ms so that a stop is seen while a decoder hangs on a read.
        while batch.len() < batch_size {
            if cx.should_stop() {
                report.stopped = true;
                break;
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                Ok((index, Ok(prepared))) => batch.push((index, prepared)),
                Ok((index, Err(error))) => {
                    report.failed += 1;
                    if !cx.send(EmbedEvent::Failed { index, path: paths[index].clone(), error }) {
                        report.stopped = true;
                        open = false;
                        break;
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if batch.is_empty() || report.stopped {
            continue;
        }
        let mut input = Array4::<f32>::zeros((batch.len(), 3, side, side));
        for (row, (_, prepared)) in batch.iter().enumerate() {
            if let Some(slice) = input.index_axis_mut(ndarray::Axis(0), row).as_slice_mut() {
                slice.copy_from_slice(&prepared.tensor);
            }
        }
        let result = catch_panic(
            || backbone.run(input.view(), options.want_logits),
            |message| Error::Ort(format!("inference crashed on this batch: {message}")),
        );
        for (row, (index, prepared)) in batch.drain(..).enumerate() {
            let event = match &result {
                Ok(out) => {
                    report.embedded += 1;
                    EmbedEvent::Embedded(Box::new(Embedded {
                        index,
                        path: paths[index].clone(),
                        features: out.features.row(row).to_vec(),
                        logits: out.logits.as_ref().map(|l| l.row(row).to_vec()),
                        width: prepared.width,
                        height: prepared.height,
                        thumbnail: prepared.thumbnail,
                    }))
                }
                Err(e) => {
                    report.failed += 1;
                    let reason = match e {
                        Error::Ort(message) => message.clone(),
                        other => other.to_string(),
                    };
                    EmbedEvent::Failed { index, path: paths[index].clone(), error: Error::Ort(reason) }
                }
            };
            if !cx.send(event) {
                report.stopped = true;
                open = false;
                break;
            }
        }
    }
    // Unblock and finish the decoders before reporting; after a stop, a decoder stuck in a
    // read that never returns is left behind (it ends with its read) instead of holding the job.
    drop(rx);
    if !report.stopped && !cx.should_stop() {
        let _ = decoder.join();
    }
    // The decoders may have seen the stop first and closed the channel.
    report.stopped |= cx.should_stop();
    report.elapsed = started.elapsed();
    // The batches' activations stay in ONNX Runtime's arena until given back.
    if report.embedded > 1 {
        let _ = backbone.release_memory();
        trim_heap();
    }
    Ok(report)
}

/// Gives the heap's free pages back to the system. glibc keeps what the decoders and the
/// batches freed in its per-thread arenas, so a window that indexed 2,000 photos held about
/// 95 MB more than the same window reopened.
#[allow(unsafe_code)]
fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks and releases glibc's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

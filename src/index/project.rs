//! Joint-space vectors for a library from its stored backbone features: what a new text
//! model needs, without decoding a photo.

use super::store::{Index, PhotoEntry};
use crate::engine::ProjectionHead;
use crate::{Error, Result};

/// Gives every photo without a joint vector from `head` one, from its stored features;
/// a different head than the index's re-projects them all; `progress(done, total)` after
/// each batch, until `stop` is set. Returns how many were projected.
pub fn project(
    index: &mut Index,
    head: &ProjectionHead,
    stop: &std::sync::atomic::AtomicBool,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize> {
    let data = &mut index.data;
    if head.in_dim() != data.feature_dim {
        return Err(Error::Invalid(format!(
            "the text model's image head takes {}-long features but the index holds {}-long ones: pick the backbone the model was trained on",
            head.in_dim(),
            data.feature_dim
        )));
    }
    if data.head_id != head.id() {
        data.photos.iter_mut().for_each(|p| p.joint.clear());
        data.head_id = head.id().to_string();
        data.joint_dim = head.out_dim();
    }
    let todo: Vec<usize> = (0..data.photos.len()).filter(|&i| data.photos[i].joint.is_empty()).collect();
    let mut done = 0;
    // 256 rows keep one call at ~1 MB of input while amortising the call's overhead.
    for chunk in todo.chunks(256) {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let mut batch = ndarray::Array2::<f32>::zeros((chunk.len(), data.feature_dim));
        for (row, &i) in chunk.iter().enumerate() {
            let features = data.photos[i].features_f32();
            batch.row_mut(row).iter_mut().zip(&features).for_each(|(b, f)| *b = *f);
        }
        let (rows, offsets) = head.project_with_offsets(batch.view())?;
        for (n, (&i, mut joint)) in chunk.iter().zip(rows).enumerate() {
            // A calibrated head's offset is stored after the vector.
            joint.extend(offsets.as_ref().map(|o| o[n]));
            data.photos[i].joint = PhotoEntry::encode_joint(&joint);
        }
        done += chunk.len();
        progress(done, todo.len());
    }
    Ok(done)
}

//! Joint-space vectors for a library from its stored backbone features: what a new text
//! model needs, without decoding a photo. Each photo keeps the compact codes of its vector
//! (see [`super::compact`]) and its hubness offset.

use super::bytes::encode_compact;
use super::compact::Codec;
use super::store::Index;
use crate::engine::ProjectionHead;
use crate::{Error, Result};

/// What a library is projected with: a text model's image head and its compact projection.
#[derive(Clone, Debug)]
pub struct Projection {
    /// The image head.
    pub head: ProjectionHead,
    /// Its compact projection.
    pub codec: Codec,
}

/// Makes `index` ready for vectors of `head` and `codec` without projecting anything: checks
/// the lengths, clears every vector when the head changed, encodes format 2's f32 vectors of
/// this head, and records both ids. Returns how many vectors were encoded. After it, every
/// photo's joint vector is either empty or made by `head` and `codec`, so a new photo's vector
/// ([`joint_bytes`]) can be stored beside them at once.
pub fn adopt(index: &mut Index, head: &ProjectionHead, codec: &Codec) -> Result<usize> {
    let data = &mut index.data;
    if head.in_dim() != data.feature_dim {
        return Err(Error::Invalid(format!(
            "the text model's image head takes {}-long features but the index holds {}-long ones: pick the backbone the model was trained on",
            head.in_dim(),
            data.feature_dim
        )));
    }
    if codec.input_dim != head.out_dim() {
        return Err(Error::Invalid(format!(
            "the compact projection takes {}-long vectors; the image head makes {}-long ones",
            codec.input_dim,
            head.out_dim()
        )));
    }
    let mut encoded = 0;
    if data.head_id != head.id() {
        data.photos.iter_mut().for_each(|p| p.joint.clear());
    } else if data.joint_codec != codec.id() {
        // Format 2's f32 vectors of this head: encode them; codes of another codec: project again.
        let legacy = data.joint_codec.is_empty();
        for photo in &mut data.photos {
            let coded = photo.legacy_compact(codec).filter(|_| legacy);
            photo.joint = coded.map(|(codes, offset)| encode_compact(&codes, offset)).unwrap_or_default();
            encoded += usize::from(!photo.joint.is_empty());
        }
    }
    data.head_id = head.id().to_string();
    data.joint_codec = codec.id().to_string();
    data.joint_dim = codec.dim();
    Ok(encoded)
}

/// The stored joint bytes (compact codes and hubness offset) of each row of `features`,
/// through `head` and `codec`.
pub fn joint_bytes(
    head: &ProjectionHead,
    codec: &Codec,
    features: ndarray::ArrayView2<'_, f32>,
) -> Result<Vec<Vec<u8>>> {
    let (rows, offsets) = head.project_with_offsets(features)?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(n, mut joint)| {
            super::search::normalize(&mut joint);
            let offset = offsets.as_ref().map_or(0.0, |o| o[n]);
            encode_compact(&codec.encode(&joint), offset)
        })
        .collect())
}

/// Gives every photo without a joint vector from `head` and `codec` one, from its stored
/// features; a different head re-projects them all, and vectors converted from format 2
/// (f32, same head) are only encoded. `progress(done, total)` after each batch, until `stop`
/// is set. Returns how many were projected or encoded.
pub fn project(
    index: &mut Index,
    head: &ProjectionHead,
    codec: &Codec,
    stop: &std::sync::atomic::AtomicBool,
    mut progress: impl FnMut(usize, usize),
) -> Result<usize> {
    let encoded = adopt(index, head, codec)?;
    let data = &mut index.data;
    let todo: Vec<usize> = (0..data.photos.len()).filter(|&i| data.photos[i].joint.is_empty()).collect();
    let mut done = 0;
    // 256 rows keep one call at ~1 MB of input while amortising the call's overhead.
    for chunk in todo.chunks(256) {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let mut batch = ndarray::Array2::<f32>::zeros((chunk.len(), data.feature_dim));
        for (row, &i) in chunk.iter().enumerate() {
            let features = data.features_of(i)?;
            batch.row_mut(row).iter_mut().zip(&features).for_each(|(b, f)| *b = *f);
        }
        for (&i, joint) in chunk.iter().zip(joint_bytes(head, codec, batch.view())?) {
            data.photos[i].joint = joint;
        }
        done += chunk.len();
        progress(done, todo.len());
    }
    Ok(done + encoded)
}

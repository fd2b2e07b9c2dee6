//! The byte forms an index stores values in: paths as raw bytes, backbone features as one
//! byte per value, compact joint codes followed by the hubness offset. The index file, the
//! journal and search read and write them only through these functions.

use std::path::{Path, PathBuf};

/// Raw bytes of a path, so that file names that are not UTF-8 survive.
pub fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

/// The path for raw bytes stored by [`path_bytes`].
pub fn bytes_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

/// Stores f32 features in `8 + n` bytes: the lowest value and the step (f32 LE), then
/// one byte per value, `low + step · byte`. Cosines between stored features stay within
/// 1e-3 of the f32 ones, and the backbone's features (averages of ReLU6 maps, 0 to 6)
/// keep steps of about 0.01.
pub fn encode_features(features: &[f32]) -> Vec<u8> {
    let low = features.iter().copied().fold(f32::INFINITY, f32::min);
    let high = features.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (low, step) = if features.is_empty() { (0.0, 0.0) } else { (low, (high - low) / 255.0) };
    let mut out = Vec::with_capacity(8 + features.len());
    out.extend_from_slice(&low.to_le_bytes());
    out.extend_from_slice(&step.to_le_bytes());
    out.extend(
        features.iter().map(|v| if step > 0.0 { ((v - low) / step).round().clamp(0.0, 255.0) as u8 } else { 0 }),
    );
    out
}

/// f32 features from bytes written by [`encode_features`].
pub fn decode_features(bytes: &[u8]) -> Vec<f32> {
    if bytes.len() < 8 {
        return Vec::new();
    }
    let low = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let step = f32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    bytes[8..].iter().map(|&b| low + step * b as f32).collect()
}

/// Stored bytes for the compact joint codes and the hubness offset.
pub fn encode_compact(codes: &[i8], offset: f32) -> Vec<u8> {
    let mut out: Vec<u8> = codes.iter().map(|&c| c as u8).collect();
    out.extend_from_slice(&offset.to_le_bytes());
    out
}

/// The codes and offset written by [`encode_compact`], when `bytes` holds `dim` codes.
pub fn decode_compact(bytes: &[u8], dim: usize) -> Option<(&[i8], f32)> {
    if bytes.len() != dim + 4 {
        return None;
    }
    let codes: &[i8] = bytemuck::cast_slice(&bytes[..dim]);
    let o = &bytes[dim..];
    Some((codes, f32::from_le_bytes([o[0], o[1], o[2], o[3]])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::search::dot;

    #[test]
    fn stored_features_keep_cosines_to_a_thousandth() {
        let a: Vec<f32> = (0..1280).map(|i| ((i * 37) % 101) as f32 / 17.0).collect();
        let b: Vec<f32> = (0..1280).map(|i| ((i * 53) % 89) as f32 / 15.0).collect();
        let cosine = |x: &[f32], y: &[f32]| dot(x, y) / (dot(x, x) * dot(y, y)).sqrt();
        let (da, db) = (decode_features(&encode_features(&a)), decode_features(&encode_features(&b)));
        assert_eq!(encode_features(&a).len(), 8 + 1280);
        assert!((cosine(&a, &b) - cosine(&da, &db)).abs() < 1e-3);
        assert_eq!(decode_features(&encode_features(&[3.0; 4])), vec![3.0; 4]);
    }
}

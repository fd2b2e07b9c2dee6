//! Index formats 1 and 2, converted as they are read: one checked payload (bincode) with
//! f16 features and f32 joint vectors per photo. Features become today's bytes at once;
//! joint vectors are kept until the text model's compact projection encodes them
//! ([`PhotoEntry::legacy_compact`]; see [`IndexData::joint_codec`]), and the next save
//! writes the current format. The journal's format 1 stored f16 features as well.

use serde::Deserialize;

use super::bytes::encode_features;
use super::compact::Codec;
use super::contents::{IndexData, PhotoEntry, Skipped};
use super::search::normalize;
use crate::checked;

/// Format 1's payload, read to convert an index written by an earlier Glimpse.
#[derive(Deserialize)]
struct IndexDataV1 {
    model_id: String,
    backbone: String,
    preprocess: String,
    feature_dim: usize,
    head_id: String,
    joint_dim: usize,
    generation: u64,
    roots: Vec<serde_bytes::ByteBuf>,
    excludes: Vec<String>,
    photos: Vec<PhotoEntry>,
    skipped: Vec<Skipped>,
}

impl From<IndexDataV1> for IndexData {
    /// Format 1 with its f16 features in today's form.
    fn from(v1: IndexDataV1) -> Self {
        let mut data = IndexData {
            model_id: v1.model_id,
            backbone: v1.backbone,
            preprocess: v1.preprocess,
            feature_dim: v1.feature_dim,
            head_id: v1.head_id,
            joint_dim: v1.joint_dim,
            generation: v1.generation,
            roots: v1.roots,
            excludes: v1.excludes,
            photos: v1.photos,
            skipped: v1.skipped,
            offline: Vec::new(),
            ..IndexData::default()
        };
        for photo in &mut data.photos {
            photo.features = features_from_f16(&photo.features);
        }
        data
    }
}

/// Format 2's payload: format 1's fields, then the folders found offline. bincode writes a
/// struct's fields one after another, so this pair reads it.
type IndexDataV2 = (IndexDataV1, Vec<serde_bytes::ByteBuf>);

/// The data of a whole index file of format 1 or 2 (`bytes`, a checked container);
/// the reason when it is damaged.
pub(super) fn parse(bytes: &[u8], format: u32) -> Result<IndexData, String> {
    let payload = checked::container_payload(bytes).map_err(|refusal| refusal.to_string())?;
    let data = match format {
        1 => checked::decode::<IndexDataV1>(payload).map(IndexData::from),
        _ => checked::decode::<IndexDataV2>(payload).map(|(v1, offline)| IndexData { offline, ..IndexData::from(v1) }),
    };
    data.map_err(|e| format!("its contents cannot be read: {e}"))
}

/// Features stored as f16 (formats 1 and 2) in today's form.
pub(crate) fn features_from_f16(bytes: &[u8]) -> Vec<u8> {
    use half::slice::HalfFloatSliceExt;
    let halves: Vec<half::f16> = bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]])).collect();
    let mut values = vec![0.0f32; halves.len()];
    halves.convert_to_f32_slice(&mut values);
    encode_features(&values)
}

impl PhotoEntry {
    /// The f32 values of a joint vector as format 2 stored it.
    pub fn legacy_joint(&self) -> Vec<f32> {
        self.joint.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    /// A joint vector as format 2 stored it (`codec.input_dim` values, then the offset when
    /// the head was calibrated) as `codec`'s codes of its unit vector, and the offset (zero
    /// without one); `None` when it has another length.
    pub fn legacy_compact(&self, codec: &Codec) -> Option<(Vec<i8>, f32)> {
        let dim = codec.input_dim;
        let mut values = self.legacy_joint();
        let offset = match values.len() {
            n if n == dim => 0.0,
            n if n == dim + 1 => values[dim],
            _ => return None,
        };
        normalize(&mut values[..dim]);
        Some((codec.encode(&values[..dim]), offset))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde::Serialize;

    use super::*;
    use crate::index::hash::ContentHash;
    use crate::index::store::{Index, MAGIC};

    /// Formats 1 and 2 exactly as the earlier writers laid them out (field order is the
    /// format): f16 features, f32 joint vectors followed by the offset.
    #[derive(Serialize)]
    struct WrittenByFormat1 {
        model_id: String,
        backbone: String,
        preprocess: String,
        feature_dim: usize,
        head_id: String,
        joint_dim: usize,
        generation: u64,
        roots: Vec<serde_bytes::ByteBuf>,
        excludes: Vec<String>,
        photos: Vec<OldEntry>,
        skipped: Vec<Skipped>,
    }

    #[derive(Serialize)]
    struct WrittenByFormat2 {
        model_id: String,
        backbone: String,
        preprocess: String,
        feature_dim: usize,
        head_id: String,
        joint_dim: usize,
        generation: u64,
        roots: Vec<serde_bytes::ByteBuf>,
        excludes: Vec<String>,
        photos: Vec<OldEntry>,
        skipped: Vec<Skipped>,
        offline: Vec<serde_bytes::ByteBuf>,
    }

    #[derive(Serialize)]
    struct OldEntry {
        #[serde(with = "serde_bytes")]
        path: Vec<u8>,
        size: u64,
        mtime_ns: i64,
        hash: ContentHash,
        width: u32,
        height: u32,
        taken: Option<i64>,
        #[serde(with = "serde_bytes")]
        features: Vec<u8>,
        #[serde(with = "serde_bytes")]
        joint: Vec<u8>,
    }

    fn old_entry(name: &str, features: &[f32], joint: &[f32]) -> OldEntry {
        OldEntry {
            path: name.as_bytes().to_vec(),
            size: 10,
            mtime_ns: 5,
            hash: [7; 16],
            width: 3,
            height: 4,
            taken: None,
            features: features.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
            joint: joint.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    fn write_old(path: &Path, format: u32, payload: &[u8]) {
        std::fs::write(path, checked::container(MAGIC, format, payload)).unwrap();
    }

    #[test]
    fn indexes_of_formats_1_and_2_are_converted_when_read_and_saved_in_the_new_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("library.glimpse");
        let photos = || {
            vec![
                old_entry("/p/a.jpg", &[0.5, 2.0], &[0.6, 0.8, 0.05]),
                old_entry("/p/b.jpg", &[1.0, 0.0], &[1.0, 0.0, 0.2]),
            ]
        };
        let v1 = checked::encode(
            &WrittenByFormat1 {
                model_id: "m".into(),
                backbone: "tiny".into(),
                preprocess: "p".into(),
                feature_dim: 2,
                head_id: "h".into(),
                joint_dim: 2,
                generation: 4,
                roots: vec![serde_bytes::ByteBuf::from(b"/p".to_vec())],
                excludes: vec![".git".into()],
                photos: photos(),
                skipped: Vec::new(),
            },
            "the index",
        )
        .unwrap();
        write_old(&path, 1, &v1);
        let (index, converted) = Index::read_converting(&path).unwrap();
        assert_eq!(converted, Some(1));
        assert_eq!((index.data.generation, index.data.photos.len()), (4, 2));
        assert!(index.data.offline.is_empty());

        let v2 = checked::encode(
            &WrittenByFormat2 {
                model_id: "m".into(),
                backbone: "tiny".into(),
                preprocess: "p".into(),
                feature_dim: 2,
                head_id: "h".into(),
                joint_dim: 2,
                generation: 9,
                roots: vec![serde_bytes::ByteBuf::from(b"/p".to_vec())],
                excludes: vec![".git".into()],
                photos: photos(),
                skipped: Vec::new(),
                offline: vec![serde_bytes::ByteBuf::from(b"/p/usb".to_vec())],
            },
            "the index",
        )
        .unwrap();
        write_old(&path, 2, &v2);
        let (mut index, converted) = Index::read_converting(&path).unwrap();
        assert_eq!(converted, Some(2));
        let data = &index.data;
        assert_eq!((data.generation, data.head_id.as_str(), data.joint_codec.as_str()), (9, "h", ""));
        assert_eq!(data.offline, vec![serde_bytes::ByteBuf::from(b"/p/usb".to_vec())]);
        // f16 features become bytes; the f32 joint vectors wait for the model's codec.
        assert_eq!(data.features_of(0).unwrap(), vec![0.5, 2.0]);
        assert_eq!(data.photos[1].legacy_joint(), vec![1.0, 0.0, 0.2]);
        index.save().unwrap();
        let (again, converted) = Index::read_converting(&path).unwrap();
        assert_eq!(converted, None);
        assert_eq!(again.data.features_of(1).unwrap(), vec![1.0, 0.0]);
        assert_eq!(again.data.photos[0].legacy_joint(), vec![0.6, 0.8, 0.05]);
        // Opened for search, the model's codec encodes them (offsets kept), without writing.
        let mut library = crate::index::Library::open(&path).unwrap();
        assert!(library.joint.is_none());
        let codec = crate::index::compact::Codec::plain(2);
        assert!(library.encode_converted(&codec));
        let joint = library.joint.as_ref().unwrap();
        assert_eq!((joint.len(), joint.offset(0), joint.offset(1)), (2, 0.05, 0.2));
        let a = codec.decode(joint.row(0));
        assert!((a[0] - 0.6).abs() < codec.scales[0] && (a[1] - 0.8).abs() < codec.scales[1], "{a:?}");
        assert_eq!(library.index.data.joint_codec, codec.id());
        assert_eq!(Index::read_converting(&path).unwrap().0.data.joint_codec, "", "nothing was written");
    }
}

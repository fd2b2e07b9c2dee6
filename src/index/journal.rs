//! The journal: an append-only file of changes since the index was last written whole.
//!
//! Indexing appends a record per finished photo and syncs it every few seconds, so a killed
//! run keeps its finished work; opening the index replays every complete record and drops a
//! torn last one. Writing the whole index removes the journal.
//!
//! ```text
//! "GLMPSJRN" | format u32 LE | generation u64 LE | records…
//! record: length u32 LE | blake3(payload)[..16] | payload (bincode JournalRecord)
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::contents::{IndexData, PhotoEntry, Skipped};
use super::legacy::features_from_f16;
use crate::checked;
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"GLMPSJRN";
/// 2 stores features as bytes (`bytes::encode_features`); 1 stored them as f16 and is
/// converted as it is replayed.
const FORMAT: u32 = 2;

/// One change to the index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum JournalRecord {
    /// A photo was embedded or moved.
    Upsert(PhotoEntry),
    /// A photo is gone.
    Remove(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A file was skipped.
    Skip(Skipped),
}

impl JournalRecord {
    /// Applies the change.
    pub fn apply(self, data: &mut IndexData) {
        match self {
            JournalRecord::Upsert(entry) => data.upsert(entry),
            JournalRecord::Remove(path) => data.remove(&path),
            JournalRecord::Skip(skipped) => data.skip(skipped),
        }
    }
}

/// The journal file that belongs to an index file.
pub fn journal_path(index: &Path) -> PathBuf {
    let mut name = index.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".journal");
    index.with_file_name(name)
}

/// Reads the complete records of a journal written for `generation`. A journal of another
/// generation (left over from before the index was last written whole) yields nothing.
pub fn replay(path: &Path, generation: u64) -> Vec<JournalRecord> {
    let mut records = Vec::new();
    read_records(path, Some(generation), |r| records.push(r));
    records
}

/// Applies the complete records of a journal written for `generation` to `data` as they are
/// read (no copy of the whole journal in memory); returns how many were applied.
pub fn replay_onto(path: &Path, generation: u64, data: &mut IndexData) -> usize {
    read_records(path, Some(generation), |r| r.apply(data))
}

/// Reads the complete records of a journal whatever its generation: what can be salvaged
/// when its index file is damaged.
pub fn replay_any(path: &Path) -> Vec<JournalRecord> {
    let mut records = Vec::new();
    read_records(path, None, |r| records.push(r));
    records
}

/// Streams the journal's records to `each`, stopping at the first torn or altered one.
fn read_records(path: &Path, generation: Option<u64>, mut each: impl FnMut(JournalRecord)) -> usize {
    use std::io::Read;
    let Ok((file, _)) = crate::files::open_regular(path, u64::MAX) else { return 0 };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut header = [0u8; 20];
    if reader.read_exact(&mut header).is_err() || &header[..8] != MAGIC {
        return 0;
    }
    let format = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let mut gen_bytes = [0u8; 8];
    gen_bytes.copy_from_slice(&header[12..20]);
    if !(1..=FORMAT).contains(&format) || generation.is_some_and(|g| u64::from_le_bytes(gen_bytes) != g) {
        return 0;
    }
    let mut count = 0;
    let mut head = [0u8; 20];
    let mut payload = Vec::new();
    while reader.read_exact(&mut head).is_ok() {
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        payload.resize(len, 0);
        if reader.read_exact(&mut payload).is_err() || blake3::hash(&payload).as_bytes()[..16] != head[4..20] {
            break;
        }
        match checked::decode::<JournalRecord>(&payload) {
            Ok(JournalRecord::Upsert(mut entry)) if format == 1 => {
                entry.features = features_from_f16(&entry.features);
                each(JournalRecord::Upsert(entry))
            }
            Ok(record) => each(record),
            Err(_) => break,
        }
        count += 1;
    }
    count
}

/// An open journal being appended to.
pub struct Journal {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl Journal {
    /// Starts a fresh journal for an index of `generation`, replacing any old one.
    pub fn create(path: &Path, generation: u64) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        let mut journal = Journal { path: path.to_path_buf(), file: std::io::BufWriter::new(file) };
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&FORMAT.to_le_bytes());
        header.extend_from_slice(&generation.to_le_bytes());
        journal.file.write_all(&header).map_err(|e| Error::io(path, e))?;
        journal.sync()?;
        Ok(journal)
    }

    /// Appends a record (buffered until [`Journal::sync`]).
    pub fn append(&mut self, record: &JournalRecord) -> Result<()> {
        let payload = checked::encode(record, "the index")?;
        let mut head = (payload.len() as u32).to_le_bytes().to_vec();
        head.extend_from_slice(&blake3::hash(&payload).as_bytes()[..16]);
        self.file.write_all(&head).map_err(|e| Error::io(&self.path, e))?;
        self.file.write_all(&payload).map_err(|e| Error::io(&self.path, e))
    }

    /// Flushes and fsyncs what was appended: from here on it survives a crash.
    pub fn sync(&mut self) -> Result<()> {
        self.file.flush().map_err(|e| Error::io(&self.path, e))?;
        self.file.get_ref().sync_data().map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::bytes::encode_features;

    fn entry(name: &str) -> PhotoEntry {
        PhotoEntry {
            path: name.as_bytes().to_vec(),
            size: 1,
            mtime_ns: 2,
            hash: [3; 16],
            width: 4,
            height: 5,
            taken: None,
            features: encode_features(&[1.0, 2.0]),
            joint: Vec::new(),
            cold_row: None,
        }
    }

    #[test]
    fn complete_records_replay_and_a_torn_last_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.journal");
        let mut j = Journal::create(&path, 42).unwrap();
        j.append(&JournalRecord::Upsert(entry("a"))).unwrap();
        j.append(&JournalRecord::Upsert(entry("b"))).unwrap();
        j.sync().unwrap();
        let two_records = std::fs::metadata(&path).unwrap().len() as usize;
        j.append(&JournalRecord::Remove(b"a".to_vec())).unwrap();
        j.sync().unwrap();
        drop(j);
        let full = std::fs::read(&path).unwrap();
        let last_record = full.len() - two_records;
        assert_eq!(replay(&path, 42).len(), 3);
        assert!(replay(&path, 41).is_empty(), "a journal of another generation must not apply");
        for cut in 1..last_record {
            std::fs::write(&path, &full[..full.len() - cut]).unwrap();
            let records = replay(&path, 42);
            assert_eq!(records.len(), 2, "cut {cut}");
        }
        let mut data = IndexData::default();
        for r in replay(&path, 42) {
            r.apply(&mut data);
        }
        assert_eq!(data.photos.len(), 2);
    }
}

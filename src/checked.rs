//! Files that say what they are, checked before anything else of them is read.
//!
//! - Binary containers (the index, the feature cache):
//!   `MAGIC (8 bytes) | format u32 LE | payload length u64 LE | blake3(payload) (32 bytes) | payload`,
//!   written atomically. The format is read before the payload is checked, so that a file of
//!   a newer format can be refused as such even when this build cannot judge its payload.
//!   Payloads are bincode ([`encode`], [`decode`]), one configuration for every file.
//! - JSON files (the vocabulary, a model manifest): `"format": NAME` and `"version": N`.

use std::path::Path;

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};

use crate::durable::write_atomically;
use crate::{Error, Result};

/// Bytes before a container's payload.
pub const HEADER_LEN: usize = 8 + 4 + 8 + 32;

/// Why a container was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It does not start with the magic: not this kind of file at all.
    Foreign,
    /// It stops inside the header.
    HeaderIncomplete,
    /// The payload is not as long as the header says.
    Length {
        /// Bytes after the header.
        payload: usize,
        /// What the header says.
        header: u64,
    },
    /// The payload's checksum does not match.
    Checksum,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Foreign => write!(f, "it does not start with the expected header"),
            Refusal::HeaderIncomplete => write!(f, "the file is truncated (its header is incomplete)"),
            Refusal::Length { payload, header } => {
                write!(f, "the file is truncated or padded ({payload} payload bytes, header says {header})")
            }
            Refusal::Checksum => write!(f, "its checksum does not match (the file was altered or damaged)"),
        }
    }
}

/// The format number of a container that starts with `magic`.
pub fn container_format(bytes: &[u8], magic: &[u8; 8]) -> std::result::Result<u32, Refusal> {
    if bytes.len() < 8 || &bytes[..8] != magic {
        return Err(Refusal::Foreign);
    }
    if bytes.len() < HEADER_LEN {
        return Err(Refusal::HeaderIncomplete);
    }
    Ok(u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]))
}

/// The payload of a container whose header [`container_format`] accepted, once its length
/// and checksum match.
pub fn container_payload(bytes: &[u8]) -> std::result::Result<&[u8], Refusal> {
    if bytes.len() < HEADER_LEN {
        return Err(Refusal::HeaderIncomplete);
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[12..20]);
    let header = u64::from_le_bytes(len);
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != header {
        return Err(Refusal::Length { payload: payload.len(), header });
    }
    if blake3::hash(payload).as_bytes() != &bytes[20..52] {
        return Err(Refusal::Checksum);
    }
    Ok(payload)
}

/// The header of a container of `format` around `payload`.
pub fn header(magic: &[u8; 8], format: u32, payload: &[u8]) -> Vec<u8> {
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(magic);
    header.extend_from_slice(&format.to_le_bytes());
    header.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    header.extend_from_slice(blake3::hash(payload).as_bytes());
    header
}

/// A whole container of `format` around `payload`, in memory.
pub fn container(magic: &[u8; 8], format: u32, payload: &[u8]) -> Vec<u8> {
    [header(magic, format, payload), payload.to_vec()].concat()
}

/// Writes `payload` as a container of `format` at `path`, atomically.
pub fn write_container(path: &Path, magic: &[u8; 8], format: u32, payload: &[u8]) -> Result<()> {
    write_atomically(path, &[&header(magic, format, payload), payload])
}

/// The bincode configuration of every payload Glimpse writes (changing it changes the formats).
fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a value as bincode; `what` names it in the message of a failure ("the index").
pub fn encode<T: Serialize>(value: &T, what: &str) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, bincode_config())
        .map_err(|e| Error::Invalid(format!("cannot encode {what}: {e}")))
}

/// Decodes a value written by [`encode`]; the reason when the bytes do not hold one.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    bincode::serde::decode_from_slice(bytes, bincode_config()).map(|(v, _)| v).map_err(|e| e.to_string())
}

/// [`decode`] for a value that borrows from `bytes` (paths and vectors read in place).
pub fn decode_borrowed<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> std::result::Result<T, String> {
    bincode::serde::borrow_decode_from_slice(bytes, bincode_config()).map(|(v, _)| v).map_err(|e| e.to_string())
}

/// Checks the `"format"` and `"version"` fields of a JSON file that should be a Glimpse
/// `what` (e.g. "vocabulary") of `format` and `version`; the reason when it is not.
pub fn check_json_version(
    value: &serde_json::Value,
    what: &str,
    format: &str,
    version: u32,
) -> std::result::Result<(), String> {
    match value.get("format").and_then(|f| f.as_str()) {
        Some(f) if f == format => {}
        Some(other) => return Err(format!("a '{other}' file, not a Glimpse {what} ('{format}')")),
        None => return Err(format!("not a Glimpse {what} (no \"format\": \"{format}\" field)")),
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(version) => Ok(()),
        Some(v) => Err(format!("{what} version {v}, but this Glimpse reads version {version}")),
        None => Err(format!("the {what} has no version number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_read_back_and_each_kind_of_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        write_container(&path, b"TESTMAGC", 3, b"payload").unwrap();
        let good = std::fs::read(&path).unwrap();
        assert_eq!(container_format(&good, b"TESTMAGC"), Ok(3));
        assert_eq!(container_payload(&good), Ok(&b"payload"[..]));
        assert_eq!(container_format(&good, b"OTHERMAG"), Err(Refusal::Foreign));
        assert_eq!(container_format(&good[..30], b"TESTMAGC"), Err(Refusal::HeaderIncomplete));
        assert_eq!(container_payload(&good[..good.len() - 1]), Err(Refusal::Length { payload: 6, header: 7 }));
        let mut altered = good.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(container_payload(&altered), Err(Refusal::Checksum));
    }

    #[test]
    fn a_json_file_of_another_kind_or_version_is_named_as_such() {
        let ok = serde_json::json!({"format": "glimpse-x", "version": 2});
        assert!(check_json_version(&ok, "thing", "glimpse-x", 2).is_ok());
        let other = serde_json::json!({"format": "glimpse-y", "version": 2});
        assert!(check_json_version(&other, "thing", "glimpse-x", 2).unwrap_err().contains("'glimpse-y' file"));
        let old = serde_json::json!({"format": "glimpse-x", "version": 1});
        assert!(check_json_version(&old, "thing", "glimpse-x", 2).unwrap_err().contains("thing version 1"));
        let bare = serde_json::json!({"format": "glimpse-x"});
        assert!(check_json_version(&bare, "thing", "glimpse-x", 2).unwrap_err().contains("no version"));
    }
}

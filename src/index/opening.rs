//! Opening an index file: read and check it, convert an older format, replay its journal;
//! a damaged one is set aside under a name of its own.

use std::path::{Path, PathBuf};

use super::journal;
use super::store::Index;
use crate::{Error, Result};

/// Opens an index with its journal applied. A missing file is an empty index; a damaged
/// one is an [`Error::IndexDamaged`]; a foreign file or a newer index is refused untouched.
pub fn open(path: &Path) -> Result<Index> {
    open_counting(path).map(|opened| opened.index)
}

/// An index as opened, with what opening it involved.
pub(crate) struct Opened {
    pub(crate) index: Index,
    /// Journal records applied.
    pub(crate) replayed: usize,
    /// The older format it was converted from.
    pub(crate) converted_from: Option<u32>,
}

pub(crate) fn open_counting(path: &Path) -> Result<Opened> {
    open_with(path, None)
}

/// [`open`] for searching: the photos' compact joint codes (with offsets) put into `joint`
/// back to back instead of into each entry, when every photo has them; `joint` is left
/// empty when they are in the entries (some photo without codes, or a journal being
/// replayed, which may reorder entries).
pub(crate) fn open_for_search(path: &Path, joint: &mut Vec<u8>) -> Result<Opened> {
    let opened = open_with(path, Some(joint))?;
    if opened.replayed == 0 {
        return Ok(opened);
    }
    joint.clear();
    open_with(path, None)
}

fn open_with(path: &Path, joint: Option<&mut Vec<u8>>) -> Result<Opened> {
    if !path.exists() {
        return Ok(Opened { index: Index::empty(path), replayed: 0, converted_from: None });
    }
    let (mut index, converted_from) = Index::read_hot_with(path, joint)?;
    let generation = index.data.generation;
    let replayed = journal::replay_onto(&journal::journal_path(path), generation, &mut index.data);
    Ok(Opened { index, replayed, converted_from })
}

/// A name beside `path` for a damaged index that no earlier one has: `NAME.damaged`, then
/// `NAME.damaged.2`, … Hard-linking never replaces an existing file, so nothing set aside
/// before is lost; where links are not possible the old name is checked first.
pub(crate) fn set_aside(path: &Path) -> Result<PathBuf> {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".damaged");
    let first = path.with_file_name(&name);
    for n in 1..10_000u32 {
        let aside = if n == 1 { first.clone() } else { PathBuf::from(format!("{}.{n}", first.display())) };
        match std::fs::hard_link(path, &aside) {
            Ok(()) => {
                std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
                return Ok(aside);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) if !aside.exists() => {
                std::fs::rename(path, &aside).map_err(|e| Error::io(path, e))?;
                return Ok(aside);
            }
            Err(_) => continue,
        }
    }
    Err(Error::Invalid(format!("too many damaged copies beside {}; remove some", path.display())))
}

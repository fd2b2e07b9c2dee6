//! One writer per library: an advisory lock (`flock`) on a file beside the index.
//!
//! Whoever changes a library (indexing, removing a folder, re-projecting) holds the lock for
//! the whole run, from reading the index to its last write; searching never takes it. The
//! kernel drops the lock when its process ends, however it ends, so a killed writer leaves
//! no stale lock. The file holds the holder's pid, so a waiting writer can say who it waits
//! for; the file itself stays (removing it could let two writers lock two different files).

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{Error, Result};

/// How often a waiting writer tries the lock again.
const RETRY: Duration = Duration::from_millis(200);

/// The lock file that belongs to an index file (`library.glimpse` → `library.glimpse.lock`).
pub fn lock_path(index: &Path) -> PathBuf {
    let mut name = index.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    index.with_file_name(name)
}

/// The right to change a library; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct WriterLock {
    // Held only for its lock; closing the file releases it.
    _file: File,
}

/// What a writer does when another one holds the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenBusy {
    /// Wait until it is free (or until stopped).
    Wait,
    /// Give up at once with [`Error::LibraryBusy`].
    Fail,
}

/// Another process's pid as written in the lock file, if it can be read.
fn holder_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

impl WriterLock {
    /// Takes the library's writer lock. When another process holds it, `when_busy` decides:
    /// wait (calling `waiting` once with the holder's pid, and giving up with `Ok(None)`
    /// when `stop` is set) or fail with [`Error::LibraryBusy`].
    pub fn acquire(
        index: &Path,
        when_busy: WhenBusy,
        stop: &AtomicBool,
        mut waiting: impl FnMut(Option<u32>),
    ) -> Result<Option<WriterLock>> {
        let path = lock_path(index);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let pid = holder_pid(&mut file);
                    if when_busy == WhenBusy::Fail {
                        return Err(Error::LibraryBusy { index: index.to_path_buf(), pid });
                    }
                    if !told {
                        waiting(pid);
                        told = true;
                    }
                    if stop.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    std::thread::sleep(RETRY);
                }
                Err(TryLockError::Error(e)) => return Err(Error::io(&path, e)),
            }
        }
        // The pid is only for messages: a failure to write it does not matter.
        let _ = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| write!(file, "{}", std::process::id()));
        let _ = file.flush();
        Ok(Some(WriterLock { _file: file }))
    }
}

/// The message a waiting writer shows.
pub fn waiting_message(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("another Glimpse (pid {pid}) is updating this library; waiting — Ctrl-C to stop"),
        None => "another Glimpse is updating this library; waiting — Ctrl-C to stop".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_fails_or_waits_and_gets_the_lock_once_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join("library.glimpse");
        let never = AtomicBool::new(false);
        let first = WriterLock::acquire(&index, WhenBusy::Fail, &never, |_| {}).unwrap().unwrap();
        let busy = WriterLock::acquire(&index, WhenBusy::Fail, &never, |_| {}).unwrap_err();
        match &busy {
            Error::LibraryBusy { pid, .. } => assert_eq!(*pid, Some(std::process::id())),
            other => panic!("expected LibraryBusy, got {other}"),
        }
        let stop = AtomicBool::new(true);
        let mut told = Vec::new();
        let gave_up = WriterLock::acquire(&index, WhenBusy::Wait, &stop, |pid| told.push(pid)).unwrap();
        assert!(gave_up.is_none());
        assert_eq!(told, vec![Some(std::process::id())]);
        drop(first);
        let second = WriterLock::acquire(&index, WhenBusy::Fail, &never, |_| {}).unwrap();
        assert!(second.is_some());
    }
}

//! Reading a person's files safely: regular files only, never blocking on a FIFO or a device,
//! never reading more than a cap.
//!
//! A scan sees a file, but by the time it is read it may have been replaced by a FIFO (whose
//! `open` waits for a writer forever), a device such as `/dev/zero` (which never ends), or a
//! folder. Opening with `O_NONBLOCK` and checking the type on the opened handle (`fstat`,
//! not the path, so nothing can be swapped in between) refuses all of these at once.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest photo file read by default: larger files are refused before any byte is read.
/// The biggest camera and panorama JPEGs are a few hundred MB; 1 GiB leaves room for them
/// while a runaway file cannot exhaust memory.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 30;

/// Why a file was not read, in words for the person whose file it is.
#[derive(Debug)]
pub enum ReadRefusal {
    /// Not a regular file (a FIFO, socket, device or folder).
    NotRegular(&'static str),
    /// Larger than the cap.
    TooLarge {
        /// The file's size.
        size: u64,
        /// The cap.
        cap: u64,
    },
    /// The operating system refused or failed.
    Io(std::io::Error),
}

impl std::fmt::Display for ReadRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadRefusal::NotRegular(kind) => write!(f, "not a regular file (it is {kind}); only photo files are read"),
            ReadRefusal::TooLarge { size, cap } => write!(
                f,
                "the file is {:.1} MB, larger than the {:.0} MB limit for one photo",
                *size as f64 / 1e6,
                *cap as f64 / 1e6
            ),
            ReadRefusal::Io(e) => write!(f, "cannot read: {e}"),
        }
    }
}

fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a folder"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "not a plain file"
    }
}

/// Opens `path` for reading without blocking and only when it is a regular file of at most
/// `cap` bytes; returns the file and its size. Symbolic links are followed, then the target
/// is checked like any other file.
pub fn open_regular(path: &Path, cap: u64) -> Result<(File, u64), ReadRefusal> {
    let file = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path) {
        Ok(file) => file,
        // A socket cannot be opened at all (ENXIO): say what it is rather than the errno.
        Err(e) => {
            return Err(match std::fs::metadata(path) {
                Ok(meta) if !meta.file_type().is_file() => ReadRefusal::NotRegular(kind_of(meta.file_type())),
                _ => ReadRefusal::Io(e),
            });
        }
    };
    let meta = file.metadata().map_err(ReadRefusal::Io)?;
    if !meta.file_type().is_file() {
        return Err(ReadRefusal::NotRegular(kind_of(meta.file_type())));
    }
    if meta.len() > cap {
        return Err(ReadRefusal::TooLarge { size: meta.len(), cap });
    }
    Ok((file, meta.len()))
}

/// Reads a whole regular file of at most `cap` bytes (see [`open_regular`]). A file that
/// grows while it is read is still cut at `cap + 1` bytes and refused.
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, ReadRefusal> {
    let (file, size) = open_regular(path, cap)?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(ReadRefusal::Io)?;
    if bytes.len() as u64 > cap {
        return Err(ReadRefusal::TooLarge { size: bytes.len() as u64, cap });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_a_device_and_a_folder_are_refused_at_once_and_a_plain_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("x.jpg");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: `c` is a valid NUL-terminated path; mkfifo only creates a file.
        let made = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
        assert_eq!(made, 0);
        let refusal = read_regular(&fifo, 1 << 20).unwrap_err().to_string();
        assert!(refusal.contains("a FIFO"), "{refusal}");
        let refusal = read_regular(Path::new("/dev/zero"), 1 << 20).unwrap_err().to_string();
        assert!(refusal.contains("a device"), "{refusal}");
        let refusal = read_regular(dir.path(), 1 << 20).unwrap_err().to_string();
        assert!(refusal.contains("a folder"), "{refusal}");
        let plain = dir.path().join("a.jpg");
        std::fs::write(&plain, b"abc").unwrap();
        assert_eq!(read_regular(&plain, 3).unwrap(), b"abc");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.jpg");
        std::fs::write(&big, vec![0u8; 4096]).unwrap();
        let refusal = read_regular(&big, 4095).unwrap_err();
        assert!(matches!(refusal, ReadRefusal::TooLarge { size: 4096, cap: 4095 }), "{refusal}");
    }
}

//! The thumbnail cache: small JPEGs keyed by content hash, made during indexing from the
//! already-decoded photo.

use std::path::{Path, PathBuf};

use image::RgbImage;

use super::hash::{ContentHash, hex};
use crate::{Error, Result};

/// Names of thumbnails being written start with this.
const TEMP_PREFIX: &str = ".glimpse-";

/// Longest side of a thumbnail: sharp in a grid of ~200 px cells on a HiDPI screen.
pub const THUMBNAIL_SIDE: u32 = 256;

/// A folder of thumbnails.
#[derive(Clone, Debug)]
pub struct ThumbCache {
    dir: PathBuf,
}

impl ThumbCache {
    /// The cache that belongs to an index file (`library.glimpse` → `library.thumbs/`).
    pub fn for_index(index: &Path) -> Self {
        ThumbCache { dir: index.with_extension("thumbs") }
    }

    /// The folder: Glimpse's own, never walked as photos (an index kept inside a library
    /// folder would otherwise take its thumbnails for photos, and a watched folder would
    /// index them on and on).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the thumbnail of `hash` lives (whether or not it exists).
    pub fn path(&self, hash: &ContentHash) -> PathBuf {
        let name = hex(hash);
        self.dir.join(&name[..2]).join(format!("{name}.jpg"))
    }

    /// Stores a thumbnail (atomically) unless one is there already.
    pub fn store(&self, hash: &ContentHash, thumb: &RgbImage) -> Result<()> {
        let path = self.path(hash);
        if path.is_file() {
            return Ok(());
        }
        rewrite(&path, thumb)
    }

    /// Removes temporaries left by a writer that was killed mid-write.
    pub fn remove_temporaries(&self) {
        let Ok(shards) = std::fs::read_dir(&self.dir) else { return };
        for shard in shards.flatten() {
            let Ok(files) = std::fs::read_dir(shard.path()) else { continue };
            for file in files.flatten() {
                if file.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = std::fs::remove_file(file.path());
                }
            }
        }
    }

    /// Deletes the thumbnail of `hash`, if any.
    pub fn remove(&self, hash: &ContentHash) {
        let _ = std::fs::remove_file(self.path(hash));
    }
}

/// Writes `thumb` as the thumbnail file `path`, replacing one that is missing or fails to
/// decode (the window remakes such a thumbnail from its photo).
///
/// It goes through a temporary file of a unique name and a rename, so a reader sees the old
/// thumbnail, the new one or none, never half of one, and two writers never share a
/// temporary. No fsync: a thumbnail lost in a crash is remade from its photo.
pub fn rewrite(path: &Path, thumb: &RgbImage) -> Result<()> {
    use std::io::Write;
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
        .encode_image(thumb)
        .map_err(|e| Error::Invalid(format!("cannot encode a thumbnail: {e}")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp =
        tempfile::Builder::new().prefix(TEMP_PREFIX).suffix(".tmp").tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(&bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbnail_is_written_whole_a_broken_one_is_replaced_and_leftover_temporaries_go() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ThumbCache::for_index(&dir.path().join("library.glimpse"));
        let hash = [3u8; 16];
        cache.store(&hash, &RgbImage::new(4, 3)).unwrap();
        let path = cache.path(&hash);
        assert!(image::open(&path).is_ok());
        std::fs::write(&path, b"half a jpeg").unwrap();
        rewrite(&path, &RgbImage::new(4, 3)).unwrap();
        assert_eq!(image::open(&path).unwrap().width(), 4);
        let leftover = path.parent().unwrap().join(".glimpse-abc.tmp");
        std::fs::write(&leftover, b"killed mid-write").unwrap();
        cache.remove_temporaries();
        assert!(!leftover.exists());
        assert!(path.exists());
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().flatten().map(|e| e.file_name()).collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}

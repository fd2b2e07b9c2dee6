//! The thumbnail cache: small JPEGs keyed by content hash, made during indexing from the
//! already-decoded photo.

use std::path::{Path, PathBuf};

use image::RgbImage;

use super::hash::{ContentHash, hex};
use crate::{Error, Result};

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
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 85)
            .encode_image(thumb)
            .map_err(|e| Error::Invalid(format!("cannot encode a thumbnail: {e}")))?;
        let dir = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Deletes the thumbnail of `hash`, if any.
    pub fn remove(&self, hash: &ContentHash) {
        let _ = std::fs::remove_file(self.path(hash));
    }
}

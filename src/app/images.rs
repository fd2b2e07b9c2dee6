//! Photos for the window: a worker decodes thumbnails and previews off the UI thread, the UI
//! uploads each once as a texture and keeps the most recent in an LRU keyed by file.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use crossbeam_channel::{Sender, TrySendError};
use eframe::egui;
use lru::LruCache;

use crate::engine::preprocess::{DEFAULT_MAX_PIXELS, Preprocess, fit_within};
use crate::index::thumbs::{THUMBNAIL_SIDE, rewrite};
use crate::job::{Job, Waker};

/// Textures kept: a grid of 100 thumbnails, an annotator page and a few previews.
const TEXTURES_KEPT: usize = 300;

/// One request: decode `path` to fit within `side` pixels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageKey {
    /// The file to decode (a cached thumbnail, or the photo itself for a preview).
    pub path: PathBuf,
    /// Longest side wanted, in pixels.
    pub side: u32,
    /// For a thumbnail: its photo, decoded instead when the thumbnail is missing or broken,
    /// and the thumbnail remade from it.
    pub photo: Option<PathBuf>,
}

/// A decoded image, or why it could not be decoded.
type Decoded = (ImageKey, Result<egui::ColorImage, String>);

/// What the UI knows of an image.
pub enum Slot {
    /// Asked for, not decoded yet.
    Loading,
    /// Ready to draw.
    Ready(egui::TextureHandle),
    /// The file could not be decoded; the reason.
    Failed(String),
}

impl Slot {
    /// The texture when ready, `Ok(None)` while it loads, the reason when it failed.
    fn texture(&self) -> Result<Option<egui::TextureHandle>, String> {
        match self {
            Slot::Ready(texture) => Ok(Some(texture.clone())),
            Slot::Loading => Ok(None),
            Slot::Failed(reason) => Err(reason.clone()),
        }
    }
}

/// The loader job and the texture cache.
pub struct Images {
    requests: Sender<ImageKey>,
    job: Job<Decoded, ()>,
    textures: LruCache<ImageKey, Slot>,
}

fn decoder() -> Preprocess {
    // Only decoding matters here; the tensor fields are never used.
    Preprocess {
        size: 1,
        mean: [0.0; 3],
        std: [1.0; 3],
        max_pixels: DEFAULT_MAX_PIXELS,
        max_file_bytes: crate::files::DEFAULT_MAX_FILE_BYTES,
        thumbnail: None,
        reduced_jpeg: true,
    }
}

/// Decodes what `key` asks for, falling back to the photo (and remaking its thumbnail) when
/// a thumbnail is missing or broken.
fn decode(decoder: &Preprocess, key: &ImageKey) -> crate::Result<image::RgbImage> {
    match (decoder.display_path(&key.path, key.side), &key.photo) {
        (Ok(rgb), _) => Ok(rgb),
        (Err(_), Some(photo)) => {
            let thumb = decoder.display_path(photo, THUMBNAIL_SIDE)?;
            // Not saving the new thumbnail only costs a decode next time.
            let _ = rewrite(&key.path, &thumb);
            fit_within(&thumb, key.side).map_err(|reason| crate::Error::photo(photo, reason))
        }
        (Err(e), None) => Err(e),
    }
}

impl Images {
    /// Starts the decoding thread (`glimpse-images`).
    pub fn start(waker: Option<Waker>) -> crate::Result<Images> {
        let (requests, inbox) = crossbeam_channel::bounded::<ImageKey>(512);
        let job = Job::spawn("glimpse-images", 16, waker, move |cx| {
            let decoder = decoder();
            for key in inbox {
                if cx.should_stop() {
                    break;
                }
                let image = decode(&decoder, &key)
                    .map(|rgb| {
                        let size = [rgb.width() as usize, rgb.height() as usize];
                        egui::ColorImage::from_rgb(size, rgb.as_raw())
                    })
                    .map_err(|e| e.to_string());
                if !cx.send((key, image)) {
                    break;
                }
            }
        })?;
        let capacity = NonZeroUsize::new(TEXTURES_KEPT).unwrap_or(NonZeroUsize::MIN);
        Ok(Images { requests, job, textures: LruCache::new(capacity) })
    }

    /// The image at `path` fitted within `side` pixels: asks the worker for it the first time.
    pub fn get(&mut self, path: &Path, side: u32) -> &Slot {
        self.get_key(ImageKey { path: path.to_path_buf(), side, photo: None })
    }

    /// A photo's cached thumbnail within `side` pixels; when the thumbnail is missing or does
    /// not decode, the photo itself (and its thumbnail is remade).
    pub fn thumbnail(
        &mut self,
        thumbnail: Option<&Path>,
        photo: &Path,
        side: u32,
    ) -> Result<Option<egui::TextureHandle>, String> {
        let key = match thumbnail {
            Some(thumbnail) => ImageKey { path: thumbnail.to_path_buf(), side, photo: Some(photo.to_path_buf()) },
            None => ImageKey { path: photo.to_path_buf(), side, photo: None },
        };
        self.get_key(key).texture()
    }

    fn get_key(&mut self, key: ImageKey) -> &Slot {
        if !self.textures.contains(&key) {
            match self.requests.try_send(key.clone()) {
                // Asked again on a later frame when the queue has room.
                Err(TrySendError::Full(_)) => return &Slot::Loading,
                Err(TrySendError::Disconnected(_)) => {
                    self.textures.put(key.clone(), Slot::Failed("the image loader stopped".into()));
                }
                Ok(()) => {
                    self.textures.put(key.clone(), Slot::Loading);
                }
            }
        }
        self.textures.get(&key).unwrap_or(&Slot::Loading)
    }

    /// The texture of `path` within `side` pixels: `Ok(None)` while it loads, the reason
    /// when it cannot be decoded.
    pub fn texture(&mut self, path: &Path, side: u32) -> Result<Option<egui::TextureHandle>, String> {
        self.get(path, side).texture()
    }

    /// Draws `path` (decoded within `side` pixels) scaled, up or down, to the space left, a
    /// spinner while it loads, or the reason it cannot be shown.
    pub fn show_large(&mut self, ui: &mut egui::Ui, path: &Path, side: u32, alt: &str) {
        match self.texture(path, side) {
            Ok(Some(texture)) => {
                let avail = ui.available_size().max(egui::vec2(1.0, 1.0));
                ui.add(egui::Image::new(&texture).fit_to_exact_size(avail).maintain_aspect_ratio(true).alt_text(alt));
            }
            Ok(None) => {
                ui.spinner();
            }
            Err(reason) => {
                ui.colored_label(ui.visuals().error_fg_color, reason);
            }
        }
    }

    /// Uploads what the worker decoded since the last frame. Returns how many arrived.
    pub fn poll(&mut self, ctx: &egui::Context) -> usize {
        let mut arrived = 0;
        while let Ok((key, image)) = self.job.events().try_recv() {
            arrived += 1;
            let slot = match image {
                Ok(image) => {
                    let name = format!("{}@{}", key.path.display(), key.side);
                    Slot::Ready(ctx.load_texture(name, image, egui::TextureOptions::LINEAR))
                }
                Err(reason) => Slot::Failed(reason),
            };
            self.textures.put(key, slot);
        }
        arrived
    }
}

//! The one preprocessing path used by indexing and training alike: decode, orient, flatten
//! alpha, squash-resize, normalise into a CHW float tensor.

use std::io::Cursor;
use std::path::Path;

use fast_image_resize::images::{Image as FirImage, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use super::manifest::{Manifest, ResizeMode};
use super::{heif, raw};
use crate::{Error, Result};

/// Photos with more pixels than this are refused (a decompression-bomb guard): 200 MP
/// covers every camera on sale while keeping one decode under ~600 MB.
pub const DEFAULT_MAX_PIXELS: u64 = 200_000_000;

/// How photos become input tensors for one backbone.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocess {
    /// Side of the square input.
    pub size: u32,
    /// Per-channel mean on the 0–255 scale.
    pub mean: [f32; 3],
    /// Per-channel standard deviation on the 0–255 scale.
    pub std: [f32; 3],
    /// Largest accepted width × height.
    pub max_pixels: u64,
    /// Largest photo file read, in bytes (see [`crate::files`]); larger files are refused
    /// before a byte is read.
    pub max_file_bytes: u64,
    /// Also produce a thumbnail that fits in this square, from the same decode.
    pub thumbnail: Option<u32>,
    /// Decode large JPEGs at 1/2, 1/4 or 1/8 size in the IDCT (libjpeg-turbo) when the
    /// result still covers the input (and the thumbnail).
    pub reduced_jpeg: bool,
}

/// A photo ready for the backbone.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// `3 × size × size` floats, channel-major (R plane, G plane, B plane).
    pub tensor: Vec<f32>,
    /// Width of the photo as displayed (after EXIF orientation), in pixels.
    pub width: u32,
    /// Height of the photo as displayed, in pixels.
    pub height: u32,
    /// A small copy for display, when asked for.
    pub thumbnail: Option<RgbImage>,
}

/// A decoded photo, oriented and without alpha, and its full displayed size.
struct Decoded {
    rgb: RgbImage,
    width: u32,
    height: u32,
}

impl Preprocess {
    /// The preprocessing a backbone's manifest asks for.
    pub fn from_manifest(manifest: &Manifest) -> Self {
        match manifest.input.resize {
            ResizeMode::Squash => {}
        }
        Preprocess {
            size: manifest.input.size,
            mean: manifest.normalize.mean,
            std: manifest.normalize.std,
            max_pixels: DEFAULT_MAX_PIXELS,
            max_file_bytes: crate::files::DEFAULT_MAX_FILE_BYTES,
            thumbnail: None,
            reduced_jpeg: true,
        }
    }

    /// A short string that changes whenever the tensors this preprocessing produces would
    /// change; indexes record it next to the vectors.
    pub fn fingerprint(&self) -> String {
        format!(
            "v1 squash{} bilinear mean{:?} std{:?} alpha-white exif-orient turbojpeg{}",
            self.size,
            self.mean,
            self.std,
            if self.reduced_jpeg { " dct-scaled" } else { "" }
        )
    }

    /// Reads and prepares one photo file.
    pub fn prepare_path(&self, path: &Path) -> Result<Prepared> {
        let bytes = self.read(path)?;
        let raw = raw::raw_format(path).is_some();
        self.prepare(&bytes, raw).map_err(|reason| Error::photo(path, reason))
    }

    /// A photo file's bytes: regular files only, opened without blocking, at most
    /// [`Preprocess::max_file_bytes`].
    fn read(&self, path: &Path) -> Result<Vec<u8>> {
        crate::files::read_regular(path, self.max_file_bytes).map_err(|refusal| Error::photo(path, refusal.to_string()))
    }

    /// Prepares one encoded photo held in memory; the error is the reason, for the caller
    /// to attach a path to.
    pub fn prepare_bytes(&self, bytes: &[u8]) -> std::result::Result<Prepared, String> {
        self.prepare(bytes, false)
    }

    /// Prepares a photo held in memory: a camera RAW file when `raw` (told by its
    /// extension: a DNG is a TIFF file to anything that does not look for its raw data).
    fn prepare(&self, bytes: &[u8], raw: bool) -> std::result::Result<Prepared, String> {
        let decoded = if raw { self.decode_raw(bytes)? } else { self.decode(bytes)? };
        let thumbnail = match self.thumbnail {
            Some(side) => Some(fit_within(&decoded.rgb, side)?),
            None => None,
        };
        let square = squash(&decoded.rgb, self.size)?;
        Ok(Prepared { tensor: self.normalize(&square), width: decoded.width, height: decoded.height, thumbnail })
    }

    /// A photo for display (the app's preview): decoded like the backbone's input (EXIF
    /// orientation, alpha over white, pixel limit, reduced-size IDCT for big JPEGs) and fitted
    /// within `side` pixels.
    pub fn display_path(&self, path: &Path, side: u32) -> Result<RgbImage> {
        let bytes = self.read(path)?;
        let for_display = Preprocess { size: 1, thumbnail: Some(side), ..self.clone() };
        let decoded =
            if raw::raw_format(path).is_some() { for_display.decode_raw(&bytes) } else { for_display.decode(&bytes) }
                .map_err(|reason| Error::photo(path, reason))?;
        fit_within(&decoded.rgb, side).map_err(|reason| Error::photo(path, reason))
    }

    /// Normalises an RGB image of exactly `size × size` into a CHW tensor.
    pub fn normalize(&self, square: &RgbImage) -> Vec<f32> {
        let plane = (square.width() * square.height()) as usize;
        let mut tensor = vec![0.0f32; 3 * plane];
        let (r, rest) = tensor.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        let scale = self.std.map(|s| 1.0 / s);
        for (i, px) in square.as_raw().chunks_exact(3).enumerate() {
            r[i] = (f32::from(px[0]) - self.mean[0]) * scale[0];
            g[i] = (f32::from(px[1]) - self.mean[1]) * scale[1];
            b[i] = (f32::from(px[2]) - self.mean[2]) * scale[2];
        }
        tensor
    }

    fn decode(&self, bytes: &[u8]) -> std::result::Result<Decoded, String> {
        if bytes.is_empty() {
            return Err("empty file".into());
        }
        if heif::container(bytes).is_some() {
            let need = self.size.max(self.thumbnail.unwrap_or(0));
            let decoded = heif::decode(bytes, need, |w, h| self.check_pixels(w, h))?;
            let orientation = if heif::has_transform(bytes) {
                image::metadata::Orientation::NoTransforms
            } else {
                exif_orientation(bytes)
            };
            let mut image = decoded.image;
            image.apply_orientation(orientation);
            let (width, height) = if orientation_swaps_axes(orientation) {
                (decoded.height, decoded.width)
            } else {
                (decoded.width, decoded.height)
            };
            return Ok(Decoded { rgb: flatten_alpha(image), width, height });
        }
        let format = image::guess_format(bytes).map_err(|_| "not a supported image (unknown format)".to_string())?;
        if format == ImageFormat::Jpeg
            && let Some(decoded) = self.decode_jpeg(bytes, None)?
        {
            return Ok(decoded);
        }
        self.decode_full(bytes, format, None)
    }

    /// A camera RAW file: its JPEG preview, decoded like any JPEG (reduced-size IDCT) and
    /// turned by the RAW's orientation, or LibRaw's demosaic where there is no preview. The
    /// displayed size is the sensor's.
    fn decode_raw(&self, bytes: &[u8]) -> std::result::Result<Decoded, String> {
        let decoded = raw::decode(bytes, |w, h| self.check_pixels(w, h))?;
        let orientation = raw::orientation(decoded.flip);
        let rgb = match decoded.picture {
            raw::Picture::Jpeg(jpeg) => match self.decode_jpeg(&jpeg, Some(orientation))? {
                Some(preview) => preview.rgb,
                None => self.decode_full(&jpeg, ImageFormat::Jpeg, Some(orientation))?.rgb,
            },
            raw::Picture::Pixels(pixels) => flatten_alpha(pixels),
        };
        let (width, height) = if orientation_swaps_axes(orientation) {
            (decoded.height, decoded.width)
        } else {
            (decoded.width, decoded.height)
        };
        Ok(Decoded { rgb, width, height })
    }

    fn check_pixels(&self, width: u32, height: u32) -> std::result::Result<(), String> {
        let pixels = u64::from(width) * u64::from(height);
        if pixels > self.max_pixels {
            return Err(format!(
                "{width}x{height} is {} megapixels, above the limit of {} (a damaged or hostile file?)",
                pixels / 1_000_000,
                self.max_pixels / 1_000_000
            ));
        }
        if pixels == 0 {
            return Err("the image has no pixels".into());
        }
        Ok(())
    }

    /// Decodes with the `image` crate, turned by `orientation` or else by the file's own.
    fn decode_full(
        &self,
        bytes: &[u8],
        format: ImageFormat,
        orientation: Option<image::metadata::Orientation>,
    ) -> std::result::Result<Decoded, String> {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(self.max_pixels.saturating_mul(8));
        reader.limits(limits);
        let mut decoder = reader.into_decoder().map_err(|e| format!("cannot decode: {e}"))?;
        let (w, h) = decoder.dimensions();
        self.check_pixels(w, h)?;
        let orientation = match orientation {
            Some(given) => given,
            None => decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms),
        };
        let mut image = DynamicImage::from_decoder(decoder).map_err(|e| format!("cannot decode: {e}"))?;
        image.apply_orientation(orientation);
        let (width, height) = (image.width(), image.height());
        Ok(Decoded { rgb: flatten_alpha(image), width, height })
    }

    /// Decodes a JPEG with libjpeg-turbo, at the smallest of 1/8, 1/4, 1/2 or full size that
    /// still covers the input (and the thumbnail) when `reduced_jpeg` is on, turned by
    /// `orientation` or else by its EXIF. `Ok(None)` leaves the file to the general decoder
    /// (CMYK files, or a header turbo cannot read).
    fn decode_jpeg(
        &self,
        bytes: &[u8],
        orientation: Option<image::metadata::Orientation>,
    ) -> std::result::Result<Option<Decoded>, String> {
        use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};
        let Ok(mut decompressor) = Decompressor::new() else { return Ok(None) };
        let Ok(header) = decompressor.read_header(bytes) else { return Ok(None) };
        let (full_w, full_h) = (
            u32::try_from(header.width).map_err(|_| "the image is too wide".to_string())?,
            u32::try_from(header.height).map_err(|_| "the image is too tall".to_string())?,
        );
        self.check_pixels(full_w, full_h)?;
        if matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK) {
            return Ok(None);
        }
        let need = self.size.max(self.thumbnail.unwrap_or(0)) as usize;
        let factor = if self.reduced_jpeg {
            [ScalingFactor::ONE_EIGHTH, ScalingFactor::ONE_QUARTER, ScalingFactor::ONE_HALF]
                .into_iter()
                .find(|f| f.scale(header.width) >= need && f.scale(header.height) >= need)
                .unwrap_or(ScalingFactor::ONE)
        } else {
            ScalingFactor::ONE
        };
        decompressor.set_scaling_factor(factor).map_err(|e| format!("cannot decode: {e}"))?;
        let (w, h) = (factor.scale(header.width), factor.scale(header.height));
        let mut image = turbojpeg::Image {
            pixels: vec![0u8; w * h * 3],
            width: w,
            pitch: w * 3,
            height: h,
            format: PixelFormat::RGB,
        };
        decompressor.decompress(bytes, image.as_deref_mut()).map_err(|e| format!("cannot decode: {e}"))?;
        let rgb = RgbImage::from_raw(w as u32, h as u32, image.pixels)
            .ok_or_else(|| "cannot decode: wrong buffer size".to_string())?;
        let orientation = orientation.unwrap_or_else(|| exif_orientation(bytes));
        let mut image = DynamicImage::ImageRgb8(rgb);
        image.apply_orientation(orientation);
        let (width, height) = if orientation_swaps_axes(orientation) { (full_h, full_w) } else { (full_w, full_h) };
        Ok(Some(Decoded { rgb: image.into_rgb8(), width, height }))
    }
}

fn orientation_swaps_axes(o: image::metadata::Orientation) -> bool {
    use image::metadata::Orientation::*;
    matches!(o, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
}

/// The EXIF orientation of a JPEG or HEIF file, or none when it has no readable EXIF.
fn exif_orientation(bytes: &[u8]) -> image::metadata::Orientation {
    let none = image::metadata::Orientation::NoTransforms;
    let Ok(exif) = exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) else { return none };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u8::try_from(v).ok())
        .and_then(image::metadata::Orientation::from_exif)
        .unwrap_or(none)
}

/// Composites any alpha over white, so transparent areas look as a viewer shows them.
fn flatten_alpha(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y);
        let a = u32::from(p[3]);
        let blend = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([blend(p[0]), blend(p[1]), blend(p[2])])
    })
}

/// File extensions Glimpse reads as photos (compared case-insensitively), camera RAW
/// ([`raw::RAW_FORMATS`]) aside. HEIC/HEIF and AVIF need libheif, RAW needs LibRaw, both at
/// run time (see [`cannot_read_reason`]).
pub const PHOTO_EXTENSIONS: &[&str] =
    &["jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "heic", "heif", "hif", "avif"];

/// The extensions of [`PHOTO_EXTENSIONS`] that libheif decodes, with the format's name.
const HEIF_EXTENSIONS: &[(&str, &str)] = &[("heic", "HEIC"), ("heif", "HEIF"), ("hif", "HEIF"), ("avif", "AVIF")];

/// True when the file name ends in one of [`PHOTO_EXTENSIONS`] or a RAW extension, in any
/// case.
pub fn has_photo_extension(path: &Path) -> bool {
    raw::raw_format(path).is_some()
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| PHOTO_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// True when a skip's `reason` is about the file's format rather than its content (from
/// [`cannot_read_reason`], now or in an earlier version): such a file is tried again once
/// its format can be read.
pub fn is_format_reason(reason: &str) -> bool {
    reason.contains("cannot be read by this version of Glimpse") || super::system_library::is_unavailable(reason)
}

/// Why the file at `path` cannot be read on this machine, judged by its extension alone: a
/// HEIC/AVIF photo where libheif is missing, a RAW photo where LibRaw is. `None` for every
/// other file (which may still turn out damaged when decoded).
pub fn cannot_read_reason(path: &Path) -> Option<String> {
    if let Some(format) = raw::raw_format(path) {
        return raw::unavailable_reason(format);
    }
    let ext = path.extension()?.to_str()?;
    let (_, format) = HEIF_EXTENSIONS.iter().find(|(x, _)| x.eq_ignore_ascii_case(ext))?;
    heif::unavailable_reason(format)
}

/// Resizes an image to exactly `width × height` (bilinear, SIMD).
pub fn resize_exact(src: &RgbImage, width: u32, height: u32) -> std::result::Result<RgbImage, String> {
    if src.width() == width && src.height() == height {
        return Ok(src.clone());
    }
    let src_view = ImageRef::new(src.width(), src.height(), src.as_raw(), PixelType::U8x3)
        .map_err(|e| format!("cannot resize: {e}"))?;
    let mut dst = FirImage::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new().resize(&src_view, &mut dst, &options).map_err(|e| format!("cannot resize: {e}"))?;
    RgbImage::from_raw(width, height, dst.into_vec()).ok_or_else(|| "cannot resize: wrong buffer size".to_string())
}

/// Stretches an image to `side × side`.
pub fn squash(src: &RgbImage, side: u32) -> std::result::Result<RgbImage, String> {
    resize_exact(src, side, side)
}

/// Shrinks an image to fit within `side × side`, keeping its aspect ratio (never enlarges).
pub fn fit_within(src: &RgbImage, side: u32) -> std::result::Result<RgbImage, String> {
    let (w, h) = (src.width(), src.height());
    if w <= side && h <= side {
        return Ok(src.clone());
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let tw = ((f64::from(w) * scale).round() as u32).max(1);
    let th = ((f64::from(h) * scale).round() as u32).max(1);
    resize_exact(src, tw, th)
}

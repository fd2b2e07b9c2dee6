//! HEIC/HEIF (iPhone) and AVIF photos, decoded by libheif loaded at run time.
//!
//! Glimpse does not link libheif: it opens `libheif.so.1` the first time such a photo is met,
//! so a machine without it still starts, and those photos are listed as skipped with the
//! package to install (see [`unavailable_reason`]). Debian's `libheif1` decodes HEVC through
//! libde265 and AV1 through dav1d or libaom. The binding is the dozen C functions below: the
//! `libheif-rs` crate needs libheif 1.17, and Debian 12 ships 1.15.
//!
//! libheif applies the file's rotation and mirroring (`irot`, `imir`) itself, so a decoded
//! photo is upright and EXIF's orientation tag is not applied again (an iPhone writes both).
//! A file with neither property, such as heif-enc 1.15 makes from an EXIF-rotated JPEG, is
//! turned by its EXIF orientation by the caller (see [`has_transform`]). A file with several
//! images gives its primary image.

// The C binding is this module's whole purpose; each block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_void};
use std::path::PathBuf;
use std::sync::OnceLock;

use image::{DynamicImage, RgbImage, RgbaImage};

use super::system_library;

/// The library file opened, unless `GLIMPSE_LIBHEIF` names another (tests use it to
/// simulate a machine without libheif).
pub const LIBRARY: &str = "libheif.so.1";
/// The Debian/Ubuntu package that provides [`LIBRARY`].
pub const PACKAGE: &str = "libheif1";

/// The ISO base media file brands of HEIF still images (HEVC) and AVIF (AV1).
const HEIC_BRANDS: &[&[u8; 4]] =
    &[b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"];
const AVIF_BRANDS: &[&[u8; 4]] = &[b"avif", b"avis"];

/// Which of the two containers a file's first box names, or `None` for other files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Container {
    /// HEIC/HEIF: HEVC-coded images.
    Heic,
    /// AVIF: AV1-coded images.
    Avif,
}

impl Container {
    /// The format's name as people know it.
    pub fn name(self) -> &'static str {
        match self {
            Container::Heic => "HEIC",
            Container::Avif => "AVIF",
        }
    }
}

/// Reads the `ftyp` box: its major brand, then its compatible brands (an AVIF file may name
/// `mif1` first).
pub fn container(bytes: &[u8]) -> Option<Container> {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(bytes[0..4].try_into().ok()?) as usize;
    let end = size.clamp(16, bytes.len());
    let brands = std::iter::once(&bytes[8..12]).chain(bytes[16..end].chunks_exact(4));
    let brands: Vec<&[u8]> = brands.collect();
    if brands.iter().any(|b| AVIF_BRANDS.iter().any(|a| a.as_slice() == *b)) {
        Some(Container::Avif)
    } else if brands.iter().any(|b| HEIC_BRANDS.iter().any(|h| h.as_slice() == *b)) {
        Some(Container::Heic)
    } else {
        None
    }
}

/// The boxes of an ISO base media byte range: (type, payload).
fn boxes(mut data: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 8 {
            return None;
        }
        let size32 = u32::from_be_bytes(data[0..4].try_into().ok()?) as u64;
        let (header, size) = match size32 {
            0 => (8, data.len() as u64),
            1 if data.len() >= 16 => (16, u64::from_be_bytes(data[8..16].try_into().ok()?)),
            1 => return None,
            n => (8, n),
        };
        let size = usize::try_from(size).ok().filter(|&s| s >= header && s <= data.len())?;
        let (this, rest) = data.split_at(size);
        data = rest;
        Some((&this[4..8], &this[header..]))
    })
}

/// True when the file's item properties hold a rotation (`irot`) or a mirror (`imir`),
/// which libheif applies when decoding; a file with neither is turned by its EXIF
/// orientation instead, as viewers do.
pub fn has_transform(bytes: &[u8]) -> bool {
    let child = |data: &[u8], name: &[u8]| boxes(data).find(|(t, _)| *t == name).map(|(_, p)| p.to_vec());
    let Some(meta) = child(bytes, b"meta") else { return false };
    // `meta` is a full box: version and flags come first.
    let Some(iprp) = meta.get(4..).and_then(|m| child(m, b"iprp")) else { return false };
    let Some(ipco) = child(&iprp, b"ipco") else { return false };
    boxes(&ipco).any(|(t, _)| t == b"irot" || t == b"imir")
}

#[repr(C)]
#[derive(Clone, Copy)]
struct HeifError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

type Ctx = c_void;
type Handle = c_void;
type Img = c_void;

const COLORSPACE_RGB: c_int = 1;
const CHROMA_INTERLEAVED_RGB: c_int = 10;
const CHROMA_INTERLEAVED_RGBA: c_int = 11;
const CHANNEL_INTERLEAVED: c_int = 10;

/// The functions Glimpse calls, resolved once.
struct Api {
    version: unsafe extern "C" fn() -> *const c_char,
    context_alloc: unsafe extern "C" fn() -> *mut Ctx,
    context_free: unsafe extern "C" fn(*mut Ctx),
    read_from_memory: unsafe extern "C" fn(*mut Ctx, *const c_void, usize, *const c_void) -> HeifError,
    primary_handle: unsafe extern "C" fn(*mut Ctx, *mut *mut Handle) -> HeifError,
    handle_release: unsafe extern "C" fn(*const Handle),
    handle_width: unsafe extern "C" fn(*const Handle) -> c_int,
    handle_height: unsafe extern "C" fn(*const Handle) -> c_int,
    handle_has_alpha: unsafe extern "C" fn(*const Handle) -> c_int,
    thumbnail_count: unsafe extern "C" fn(*const Handle) -> c_int,
    thumbnail_ids: unsafe extern "C" fn(*const Handle, *mut u32, c_int) -> c_int,
    thumbnail: unsafe extern "C" fn(*const Handle, u32, *mut *mut Handle) -> HeifError,
    decode: unsafe extern "C" fn(*const Handle, *mut *mut Img, c_int, c_int, *const c_void) -> HeifError,
    plane: unsafe extern "C" fn(*const Img, c_int, *mut c_int) -> *const u8,
    image_width: unsafe extern "C" fn(*const Img, c_int) -> c_int,
    image_height: unsafe extern "C" fn(*const Img, c_int) -> c_int,
    image_release: unsafe extern "C" fn(*const Img),
    /// Keeps the functions above valid.
    _library: libloading::Library,
}

// SAFETY: the pointers are plain C functions of a library that stays loaded; libheif is safe to
// call from several threads as long as each context is used by one, which `decode` ensures.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

fn load() -> std::result::Result<Api, String> {
    let file = std::env::var_os("GLIMPSE_LIBHEIF").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(LIBRARY));
    // SAFETY: libheif's initialisers only register its codecs.
    let library = unsafe { libloading::Library::new(&file) }.map_err(|e| format!("{}: {e}", file.display()))?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the type is the function's C signature in libheif 1.15's heif.h.
            *unsafe { library.get(concat!($name, "\0").as_bytes()) }.map_err(|e| format!("{}: {e}", $name))?
        };
    }
    Ok(Api {
        version: sym!("heif_get_version"),
        context_alloc: sym!("heif_context_alloc"),
        context_free: sym!("heif_context_free"),
        read_from_memory: sym!("heif_context_read_from_memory_without_copy"),
        primary_handle: sym!("heif_context_get_primary_image_handle"),
        handle_release: sym!("heif_image_handle_release"),
        handle_width: sym!("heif_image_handle_get_width"),
        handle_height: sym!("heif_image_handle_get_height"),
        handle_has_alpha: sym!("heif_image_handle_has_alpha_channel"),
        thumbnail_count: sym!("heif_image_handle_get_number_of_thumbnails"),
        thumbnail_ids: sym!("heif_image_handle_get_list_of_thumbnail_IDs"),
        thumbnail: sym!("heif_image_handle_get_thumbnail"),
        decode: sym!("heif_decode_image"),
        plane: sym!("heif_image_get_plane_readonly"),
        image_width: sym!("heif_image_get_width"),
        image_height: sym!("heif_image_get_height"),
        image_release: sym!("heif_image_release"),
        _library: library,
    })
}

fn api() -> std::result::Result<&'static Api, &'static str> {
    static API: OnceLock<std::result::Result<Api, String>> = OnceLock::new();
    system_library::once(&API, load)
}

/// libheif's version when it can be loaded, or why not (for `glimpse doctor`).
pub fn version() -> std::result::Result<String, String> {
    let api = api().map_err(str::to_string)?;
    // SAFETY: heif_get_version returns a static NUL-terminated string.
    Ok(unsafe { system_library::text((api.version)()) })
}

/// Why photos of `format` cannot be read on this machine, or `None` when libheif loads.
pub fn unavailable_reason(format: &str) -> Option<String> {
    Some(system_library::unavailable(format, LIBRARY, PACKAGE, api().err()?))
}

fn check(error: HeifError) -> std::result::Result<(), String> {
    if error.code == 0 {
        return Ok(());
    }
    // SAFETY: libheif's messages are static NUL-terminated strings (or null).
    let message = match unsafe { system_library::text(error.message) } {
        m if m.is_empty() => format!("libheif error {}.{}", error.code, error.subcode),
        m => m,
    };
    Err(format!("cannot decode: {message}"))
}

/// Frees what libheif allocated, in reverse order, whatever path `decode` leaves by.
struct Owned<'a> {
    api: &'a Api,
    context: *mut Ctx,
    handles: Vec<*mut Handle>,
    image: *mut Img,
}

impl Drop for Owned<'_> {
    fn drop(&mut self) {
        // SAFETY: each pointer came from libheif and is released once, image first.
        unsafe {
            if !self.image.is_null() {
                (self.api.image_release)(self.image);
            }
            for &h in self.handles.iter().rev() {
                (self.api.handle_release)(h);
            }
            (self.api.context_free)(self.context);
        }
    }
}

/// How much of the input's side a HEIC thumbnail must have to be decoded instead of the
/// photo: an iPhone's is 320x240, 92 % of the default backbone's 260 px, and libde265 takes
/// 0.42 s for the full 12 MP frame. Measured on 120 photos saved as HEIC with such a
/// thumbnail, their 600 Flickr8k captions searched through the CLI: R@1/5/10 52.8 / 86.7 /
/// 93.2 from thumbnails against 53.3 / 86.3 / 93.7 from full decodes (within a caption or
/// three), indexing 5.6 times as fast.
pub const THUMBNAIL_SHARE: f64 = 0.9;

/// A decoded HEIF/AVIF photo.
pub struct Decoded {
    /// The pixels, upright, with alpha when the photo has it.
    pub image: DynamicImage,
    /// The primary image's displayed size, even when a thumbnail was decoded.
    pub width: u32,
    /// See `width`.
    pub height: u32,
}

/// Decodes the primary image of a HEIF/AVIF file held in memory. `check_size` is asked
/// before any pixel is decoded. When `need` > 0 and the file holds a thumbnail with the same
/// orientation whose sides are at least [`THUMBNAIL_SHARE`] of `need`, that thumbnail is
/// decoded instead (the cheap path for the backbone's small input, as a reduced JPEG
/// decode is).
pub fn decode(
    bytes: &[u8],
    need: u32,
    check_size: impl Fn(u32, u32) -> std::result::Result<(), String>,
) -> std::result::Result<Decoded, String> {
    let api = api().map_err(|why| format!("cannot decode: {LIBRARY} could not be loaded ({why})"))?;
    // SAFETY: every call follows heif.h; `bytes` outlives the context (freed by `owned`).
    unsafe {
        let context = (api.context_alloc)();
        if context.is_null() {
            return Err("cannot decode: libheif could not allocate a context".into());
        }
        let mut owned = Owned { api, context, handles: Vec::new(), image: std::ptr::null_mut() };
        check((api.read_from_memory)(context, bytes.as_ptr().cast(), bytes.len(), std::ptr::null()))?;
        let mut primary = std::ptr::null_mut();
        check((api.primary_handle)(context, &mut primary))?;
        owned.handles.push(primary);
        let dims = |h: *const Handle| {
            (u32::try_from((api.handle_width)(h)).unwrap_or(0), u32::try_from((api.handle_height)(h)).unwrap_or(0))
        };
        let (width, height) = dims(primary);
        check_size(width, height)?;
        let mut chosen = primary;
        if need > 0 {
            let count = (api.thumbnail_count)(primary).clamp(0, 16);
            let mut ids = vec![0u32; count as usize];
            let got = (api.thumbnail_ids)(primary, ids.as_mut_ptr(), count).clamp(0, count) as usize;
            let mut best: Option<(*mut Handle, u64)> = None;
            for &id in &ids[..got] {
                let mut thumb = std::ptr::null_mut();
                if check((api.thumbnail)(primary, id, &mut thumb)).is_err() || thumb.is_null() {
                    continue;
                }
                owned.handles.push(thumb);
                let (tw, th) = dims(thumb);
                let same_orientation = (tw >= th) == (width >= height);
                let area = u64::from(tw) * u64::from(th);
                let covers = |side: u32| f64::from(side) >= f64::from(need) * THUMBNAIL_SHARE;
                if covers(tw) && covers(th) && same_orientation && best.is_none_or(|(_, a)| area < a) {
                    best = Some((thumb, area));
                }
            }
            if let Some((thumb, _)) = best {
                chosen = thumb;
            }
        }
        let alpha = (api.handle_has_alpha)(chosen) != 0;
        let chroma = if alpha { CHROMA_INTERLEAVED_RGBA } else { CHROMA_INTERLEAVED_RGB };
        check((api.decode)(chosen, &mut owned.image, COLORSPACE_RGB, chroma, std::ptr::null()))?;
        let (w, h) = (
            usize::try_from((api.image_width)(owned.image, CHANNEL_INTERLEAVED)).unwrap_or(0),
            usize::try_from((api.image_height)(owned.image, CHANNEL_INTERLEAVED)).unwrap_or(0),
        );
        let mut stride: c_int = 0;
        let plane = (api.plane)(owned.image, CHANNEL_INTERLEAVED, &mut stride);
        let channels = if alpha { 4 } else { 3 };
        let stride = usize::try_from(stride).unwrap_or(0);
        if plane.is_null() || w == 0 || h == 0 || stride < w * channels {
            return Err("cannot decode: libheif returned no pixels".into());
        }
        let mut pixels = Vec::with_capacity(w * h * channels);
        for row in 0..h {
            pixels.extend_from_slice(std::slice::from_raw_parts(plane.add(row * stride), w * channels));
        }
        let (w, h) = (w as u32, h as u32);
        let image = if alpha {
            RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8)
        } else {
            RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
        }
        .ok_or_else(|| "cannot decode: wrong buffer size".to_string())?;
        Ok(Decoded { image, width, height })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len();
        let mut b = (size as u32).to_be_bytes().to_vec();
        b.extend_from_slice(b"ftyp");
        b.extend_from_slice(major);
        b.extend_from_slice(&[0, 0, 0, 0]);
        for c in compatible {
            b.extend_from_slice(*c);
        }
        b.extend_from_slice(&[0; 8]);
        b
    }

    fn bx(name: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((8 + payload.len()) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(name);
        b.extend_from_slice(payload);
        b
    }

    fn file_with_properties(properties: &[&[u8; 4]]) -> Vec<u8> {
        let ipco: Vec<u8> = properties.iter().flat_map(|p| bx(p, &[0; 4])).collect();
        let iprp = [bx(b"ipco", &ipco), bx(b"ipma", &[0; 8])].concat();
        let meta = [vec![0u8; 4], bx(b"hdlr", &[0; 24]), bx(b"iprp", &iprp)].concat();
        [bx(b"ftyp", b"heic\0\0\0\0mif1"), bx(b"meta", &meta), bx(b"mdat", &[1, 2, 3])].concat()
    }

    #[test]
    fn a_rotation_or_mirror_property_is_found_inside_meta_iprp_ipco() {
        assert!(has_transform(&file_with_properties(&[b"ispe", b"irot"])));
        assert!(has_transform(&file_with_properties(&[b"imir", b"colr"])));
        assert!(!has_transform(&file_with_properties(&[b"ispe", b"colr", b"pixi"])));
        // "irot" elsewhere (here in the media data) is not a property.
        let mut stray = file_with_properties(&[b"ispe"]);
        stray.extend_from_slice(&bx(b"free", b"irot"));
        assert!(!has_transform(&stray));
        // A box whose size runs past the end (here `meta`, cut by one byte with the 11-byte
        // `mdat` after it) stops the walk instead of reading beyond it.
        let mut cut = file_with_properties(&[b"irot"]);
        cut.truncate(cut.len() - 12);
        assert!(!has_transform(&cut));
    }

    #[test]
    fn the_ftyp_box_tells_heic_from_avif_from_other_iso_files() {
        assert_eq!(container(&ftyp(b"heic", &[b"mif1", b"heic"])), Some(Container::Heic));
        assert_eq!(container(&ftyp(b"mif1", &[b"mif1", b"avif", b"miaf"])), Some(Container::Avif));
        assert_eq!(container(&ftyp(b"avif", &[])), Some(Container::Avif));
        assert_eq!(container(&ftyp(b"isom", &[b"mp41"])), None, "an MP4 video");
        assert_eq!(container(&ftyp(b"crx ", &[b"isom"])), None, "a Canon CR3");
        assert_eq!(container(b"\xff\xd8\xff\xe0 a JPEG file....."), None);
    }
}

//! Camera RAW photos (`.dng`, `.cr2`, `.cr3`, `.nef`, `.arw`, `.raf`, `.orf`, `.rw2`), read by
//! LibRaw loaded at run time.
//!
//! Most RAW files carry a full-size JPEG that the camera rendered: that preview is what
//! Glimpse decodes (the reduced-size IDCT makes it as cheap as any JPEG), turned by the
//! orientation LibRaw reads from the file. A file without one is demosaiced by LibRaw at half
//! size, which is still larger than the backbone's input. As with libheif (see
//! [`super::heif`]), the library is opened at the first RAW photo, so a machine without it
//! starts and lists those photos as skipped with the package to install. Rust RAW decoders
//! are LGPL and would be linked into the binary; LibRaw (LGPL-2.1 or CDDL) stays a system
//! library. Debian 12 ships LibRaw 0.20 (`libraw20`), Ubuntu 24.04 0.21 (`libraw23`).

// The C binding is this module's whole purpose; each block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use image::{DynamicImage, RgbImage};

use super::system_library;

/// The library files tried, newest first, unless `GLIMPSE_LIBRAW` names another (tests use
/// it to simulate a machine without LibRaw).
pub const LIBRARIES: &[&str] = &["libraw.so.23", "libraw.so.20", "libraw.so.19"];
/// The Debian 12 package that provides LibRaw (Ubuntu 24.04: libraw23).
pub const PACKAGE: &str = "libraw20";

/// File extensions read as camera RAW, with the format's name.
pub const RAW_FORMATS: &[(&str, &str)] = &[
    ("dng", "DNG"),
    ("cr2", "Canon CR2"),
    ("cr3", "Canon CR3"),
    ("nef", "Nikon NEF"),
    ("arw", "Sony ARW"),
    ("raf", "Fujifilm RAF"),
    ("orf", "Olympus ORF"),
    ("rw2", "Panasonic RW2"),
];

/// The RAW format of `path` by its extension (compared case-insensitively).
pub fn raw_format(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?;
    RAW_FORMATS.iter().find(|(x, _)| x.eq_ignore_ascii_case(ext)).map(|(_, name)| *name)
}

type Data = c_void;

/// `libraw_processed_image_t`'s header; the pixels or JPEG bytes follow it.
#[repr(C)]
struct Processed {
    kind: c_int,
    height: u16,
    width: u16,
    colors: u16,
    bits: u16,
    data_size: c_uint,
    data: [u8; 0],
}

const IMAGE_JPEG: c_int = 1;
const IMAGE_BITMAP: c_int = 2;
/// Byte offset of `sizes.flip` in `libraw_data_t` (a pointer, then eight `u16`s, a `u32` and
/// a `double`), the same in LibRaw 0.19 to 0.21.
const FLIP_OFFSET: usize = 40;

struct Api {
    version: unsafe extern "C" fn() -> *const c_char,
    init: unsafe extern "C" fn(c_uint) -> *mut Data,
    open_buffer: unsafe extern "C" fn(*mut Data, *const c_void, usize) -> c_int,
    unpack_thumb: unsafe extern "C" fn(*mut Data) -> c_int,
    unpack: unsafe extern "C" fn(*mut Data) -> c_int,
    make_mem_thumb: unsafe extern "C" fn(*mut Data, *mut c_int) -> *mut Processed,
    dcraw_process: unsafe extern "C" fn(*mut Data) -> c_int,
    make_mem_image: unsafe extern "C" fn(*mut Data, *mut c_int) -> *mut Processed,
    clear_mem: unsafe extern "C" fn(*mut Processed),
    close: unsafe extern "C" fn(*mut Data),
    strerror: unsafe extern "C" fn(c_int) -> *const c_char,
    raw_width: unsafe extern "C" fn(*mut Data) -> c_int,
    raw_height: unsafe extern "C" fn(*mut Data) -> c_int,
    set_half_size: Option<unsafe extern "C" fn(*mut Data, c_int)>,
    /// Keeps the functions above valid.
    _library: libloading::Library,
}

// SAFETY: plain C functions of a library that stays loaded; LibRaw is safe to use from several
// threads as long as each `libraw_data_t` is used by one, which `decode` ensures.
unsafe impl Send for Api {}
unsafe impl Sync for Api {}

fn load() -> std::result::Result<Api, String> {
    let candidates: Vec<PathBuf> = match std::env::var_os("GLIMPSE_LIBRAW") {
        Some(path) => vec![PathBuf::from(path)],
        None => LIBRARIES.iter().map(PathBuf::from).collect(),
    };
    let mut why = Vec::new();
    // SAFETY: LibRaw's initialisers set up static tables only.
    let library = candidates.iter().find_map(|file| match unsafe { libloading::Library::new(file) } {
        Ok(lib) => Some(lib),
        Err(e) => {
            why.push(format!("{}: {e}", file.display()));
            None
        }
    });
    let library = library.ok_or_else(|| why.join("; "))?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: the type is the function's C signature in LibRaw 0.20's libraw.h.
            *unsafe { library.get(concat!($name, "\0").as_bytes()) }.map_err(|e| format!("{}: {e}", $name))?
        };
    }
    // SAFETY: as above; absent in some builds, so optional.
    let set_half_size = unsafe { library.get(b"libraw_set_half_size\0") }.ok().map(|s| *s);
    Ok(Api {
        version: sym!("libraw_version"),
        init: sym!("libraw_init"),
        open_buffer: sym!("libraw_open_buffer"),
        unpack_thumb: sym!("libraw_unpack_thumb"),
        unpack: sym!("libraw_unpack"),
        make_mem_thumb: sym!("libraw_dcraw_make_mem_thumb"),
        dcraw_process: sym!("libraw_dcraw_process"),
        make_mem_image: sym!("libraw_dcraw_make_mem_image"),
        clear_mem: sym!("libraw_dcraw_clear_mem"),
        close: sym!("libraw_close"),
        strerror: sym!("libraw_strerror"),
        raw_width: sym!("libraw_get_raw_width"),
        raw_height: sym!("libraw_get_raw_height"),
        set_half_size,
        _library: library,
    })
}

fn api() -> std::result::Result<&'static Api, &'static str> {
    static API: OnceLock<std::result::Result<Api, String>> = OnceLock::new();
    system_library::once(&API, load)
}

/// LibRaw's version when it can be loaded, or why not (for `glimpse doctor`).
pub fn version() -> std::result::Result<String, String> {
    let api = api().map_err(str::to_string)?;
    // SAFETY: libraw_version returns a static NUL-terminated string.
    Ok(unsafe { system_library::text((api.version)()) })
}

/// Why photos of `format` cannot be read on this machine, or `None` when LibRaw loads.
pub fn unavailable_reason(format: &str) -> Option<String> {
    Some(system_library::unavailable(&format!("camera RAW ({format})"), "LibRaw", PACKAGE, api().err()?))
}

/// A decoded RAW photo, before orientation.
pub struct Decoded {
    /// The camera's JPEG preview, still encoded (decode it like any JPEG, without its own
    /// EXIF orientation), or demosaiced pixels.
    pub picture: Picture,
    /// LibRaw's orientation code: 0 none, 3 half turn, 5 quarter turn left, 6 right.
    pub flip: i32,
    /// The sensor's full size, as stored (before orientation).
    pub width: u32,
    /// See `width`.
    pub height: u32,
}

/// What a RAW file gave.
pub enum Picture {
    /// The embedded JPEG's bytes.
    Jpeg(Vec<u8>),
    /// Demosaiced pixels (no usable preview), already turned upright by LibRaw.
    Pixels(DynamicImage),
}

/// The orientation that LibRaw's flip code stands for.
pub fn orientation(flip: i32) -> image::metadata::Orientation {
    use image::metadata::Orientation::*;
    match flip {
        3 => Rotate180,
        5 => Rotate270,
        6 => Rotate90,
        _ => NoTransforms,
    }
}

fn check(api: &Api, code: c_int) -> std::result::Result<(), String> {
    if code == 0 {
        return Ok(());
    }
    // SAFETY: libraw_strerror returns a static NUL-terminated string for any code.
    let message = unsafe { system_library::text((api.strerror)(code)) };
    Err(format!("cannot decode: {message}"))
}

/// Frees LibRaw's state whatever path `decode` leaves by.
struct Handle<'a> {
    api: &'a Api,
    data: *mut Data,
}

impl Drop for Handle<'_> {
    fn drop(&mut self) {
        // SAFETY: `data` came from libraw_init and is closed once.
        unsafe { (self.api.close)(self.data) }
    }
}

/// Reads a RAW file held in memory: its largest JPEG preview, or, without one, a half-size
/// demosaic. `check_size` is asked with the sensor's size before any pixel is decoded.
pub fn decode(
    bytes: &[u8],
    check_size: impl Fn(u32, u32) -> std::result::Result<(), String>,
) -> std::result::Result<Decoded, String> {
    let api = api().map_err(|why| format!("cannot decode: LibRaw could not be loaded ({why})"))?;
    // SAFETY: every call follows libraw.h; `bytes` outlives the handle; the flip is read at
    // its fixed offset inside the `libraw_data_t` LibRaw allocated.
    unsafe {
        let data = (api.init)(0);
        if data.is_null() {
            return Err("cannot decode: LibRaw could not start".into());
        }
        let handle = Handle { api, data };
        check(api, (api.open_buffer)(handle.data, bytes.as_ptr().cast(), bytes.len()))?;
        let (width, height) = (
            u32::try_from((api.raw_width)(handle.data)).unwrap_or(0),
            u32::try_from((api.raw_height)(handle.data)).unwrap_or(0),
        );
        check_size(width, height)?;
        let flip = std::ptr::read_unaligned(handle.data.cast::<u8>().add(FLIP_OFFSET).cast::<c_int>());
        if (api.unpack_thumb)(handle.data) == 0 {
            let mut err = 0;
            let thumb = (api.make_mem_thumb)(handle.data, &mut err);
            if !thumb.is_null() {
                let picture = if (*thumb).kind == IMAGE_JPEG {
                    let size = (*thumb).data_size as usize;
                    Some(std::slice::from_raw_parts((*thumb).data.as_ptr(), size).to_vec())
                } else {
                    None
                };
                (api.clear_mem)(thumb);
                if let Some(jpeg) = picture.filter(|j| j.starts_with(&[0xFF, 0xD8])) {
                    return Ok(Decoded { picture: Picture::Jpeg(jpeg), flip, width, height });
                }
            }
        }
        // No JPEG preview: demosaic, at half size (the backbone needs a few hundred pixels).
        if let Some(half) = api.set_half_size {
            half(handle.data, 1);
        }
        check(api, (api.unpack)(handle.data))?;
        check(api, (api.dcraw_process)(handle.data))?;
        let mut err = 0;
        let image = (api.make_mem_image)(handle.data, &mut err);
        check(api, err)?;
        if image.is_null() {
            return Err("cannot decode: LibRaw returned no image".into());
        }
        let (w, h, colors, bits, kind) =
            ((*image).width, (*image).height, (*image).colors, (*image).bits, (*image).kind);
        let size = (*image).data_size as usize;
        let pixels = std::slice::from_raw_parts((*image).data.as_ptr(), size).to_vec();
        (api.clear_mem)(image);
        if kind != IMAGE_BITMAP || colors != 3 || bits != 8 || size != usize::from(w) * usize::from(h) * 3 {
            return Err(format!("cannot decode: LibRaw gave an unexpected image ({colors} colours, {bits} bits)"));
        }
        let rgb = RgbImage::from_raw(u32::from(w), u32::from(h), pixels)
            .ok_or_else(|| "cannot decode: wrong buffer size".to_string())?;
        Ok(Decoded { picture: Picture::Pixels(DynamicImage::ImageRgb8(rgb)), flip, width, height })
    }
}

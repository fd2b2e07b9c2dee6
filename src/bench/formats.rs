//! `glimpse bench embed --formats N`: the decode and embed rates of the photo formats people
//! keep, HEIC as an iPhone saves it and a camera's DNG beside JPEG of the same pixel size, in
//! one run; and the files it measures, made from ordinary photos.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// iPhone photo size (12 MP).
pub const WIDTH: u32 = 4032;
/// See [`WIDTH`].
pub const HEIGHT: u32 = 3024;

/// The photos of each format made from the same pixels.
pub struct FormatPhotos {
    /// JPEG, quality 90.
    pub jpeg: Vec<PathBuf>,
    /// HEIC, quality 80, with a 320-pixel thumbnail, as an iPhone writes it.
    pub heic: Vec<PathBuf>,
    /// DNG with a full-size JPEG preview, as a camera writes it.
    pub dng: Vec<PathBuf>,
}

/// Makes `count` photos of `width × height` in each format from `sources` (enlarged) in
/// `dir`. HEIC files are written by `heif-enc` (package libheif-examples).
pub fn make(sources: &[PathBuf], count: usize, width: u32, height: u32, dir: &Path) -> Result<FormatPhotos> {
    let jpeg = super::embed::make_large_photos(sources, count, width, height, dir)?;
    let mut heic = Vec::new();
    let mut dng_files = Vec::new();
    for (i, source) in jpeg.iter().enumerate() {
        let out = dir.join(format!("large-{i:03}.heic"));
        let status = std::process::Command::new("heif-enc")
            .args(["-q", "80", "-t", "320", "-o"])
            .arg(&out)
            .arg(source)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| {
                Error::Invalid(format!("heif-enc (package libheif-examples) is needed to make HEIC photos: {e}"))
            })?;
        if !status.success() {
            return Err(Error::Invalid(format!("heif-enc could not encode {}", source.display())));
        }
        heic.push(out);
        let preview = std::fs::read(source).map_err(|e| Error::io(source, e))?;
        let out = dir.join(format!("large-{i:03}.dng"));
        std::fs::write(&out, dng(width, height, 1, "2024:06:01 12:00:00", Some((&preview, width, height))))
            .map_err(|e| Error::io(&out, e))?;
        dng_files.push(out);
    }
    Ok(FormatPhotos { jpeg, heic, dng: dng_files })
}

/// A minimal DNG 1.4 file, as a camera writes one: a `width × height` RGGB Bayer mosaic
/// (16-bit, uncompressed) in IFD0 whose left half is red and right half blue, the given
/// orientation, DateTimeOriginal in an Exif IFD and, when given, a baseline JPEG preview in a
/// SubIFD (`preview`: the JPEG and its size).
pub fn dng(width: u32, height: u32, orientation: u16, taken: &str, preview: Option<(&[u8], u32, u32)>) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ASCII: u16 = 2;
    const BYTE: u16 = 1;
    const RATIONAL: u16 = 5;
    const SRATIONAL: u16 = 10;
    type Entry = (u16, u16, u32, Vec<u8>);
    let mut out = b"II*\0\0\0\0\0".to_vec();
    let blob = |out: &mut Vec<u8>, bytes: &[u8]| -> u32 {
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let at = out.len() as u32;
        out.extend_from_slice(bytes);
        at
    };
    let ifd = |out: &mut Vec<u8>, mut entries: Vec<Entry>| -> u32 {
        entries.sort_by_key(|e| e.0);
        let entries: Vec<Entry> = entries
            .into_iter()
            .map(|(tag, kind, count, value)| {
                if value.len() > 4 {
                    let at = blob(out, &value);
                    (tag, kind, count, at.to_le_bytes().to_vec())
                } else {
                    let mut v = value;
                    v.resize(4, 0);
                    (tag, kind, count, v)
                }
            })
            .collect();
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let at = out.len() as u32;
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, kind, count, value) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&value);
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        at
    };
    let short = |tag: u16, v: u16| (tag, SHORT, 1, v.to_le_bytes().to_vec());
    let long = |tag: u16, v: u32| (tag, LONG, 1, v.to_le_bytes().to_vec());
    let ascii = |tag: u16, s: &str| {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        (tag, ASCII, v.len() as u32, v)
    };
    // The mosaic: R at (even, even), G at the odd/even mixes, B at (odd, odd).
    let mut mosaic = Vec::with_capacity((width * height * 2) as usize);
    for y in 0..height {
        for x in 0..width {
            let red_side = x < width / 2;
            let v: u16 = match (y % 2, x % 2) {
                (0, 0) => {
                    if red_side {
                        60000
                    } else {
                        3000
                    }
                }
                (1, 1) => {
                    if red_side {
                        3000
                    } else {
                        60000
                    }
                }
                _ => 6000,
            };
            mosaic.extend_from_slice(&v.to_le_bytes());
        }
    }
    let raw_at = blob(&mut out, &mosaic);
    let mut date = taken.as_bytes().to_vec();
    date.push(0);
    let exif = ifd(&mut out, vec![(36867, ASCII, date.len() as u32, date)]);
    let mut sub = None;
    if let Some((jpeg, pw, ph)) = preview {
        let at = blob(&mut out, jpeg);
        sub = Some(ifd(
            &mut out,
            vec![
                long(254, 1),
                long(256, pw),
                long(257, ph),
                (258, SHORT, 3, [8u16, 8, 8].iter().flat_map(|v| v.to_le_bytes()).collect()),
                short(259, 7),
                short(262, 6),
                long(273, at),
                short(277, 3),
                long(278, ph),
                long(279, jpeg.len() as u32),
                long(50970, 1),
            ],
        ));
    }
    let rational = |n: u32, d: u32| [n.to_le_bytes(), d.to_le_bytes()].concat();
    let identity: Vec<u8> =
        (0..9).flat_map(|i| [(if i % 4 == 0 { 1i32 } else { 0 }).to_le_bytes(), 1i32.to_le_bytes()].concat()).collect();
    let mut entries = vec![
        long(254, 0),
        long(256, width),
        long(257, height),
        short(258, 16),
        short(259, 1),
        short(262, 32803),
        ascii(271, "Glimpse"),
        ascii(272, "Test"),
        long(273, raw_at),
        short(274, orientation),
        short(277, 1),
        long(278, height),
        long(279, width * height * 2),
        short(284, 1),
        (33421, SHORT, 2, [2u16, 2].iter().flat_map(|v| v.to_le_bytes()).collect()),
        (33422, BYTE, 4, vec![0, 1, 1, 2]),
        long(34665, exif),
        (50706, BYTE, 4, vec![1, 4, 0, 0]),
        ascii(50708, "Glimpse Test"),
        long(50717, 65535),
        (50721, SRATIONAL, 9, identity),
        (50728, RATIONAL, 3, [rational(1, 1), rational(1, 1), rational(1, 1)].concat()),
        short(50778, 21),
    ];
    if let Some(sub) = sub {
        entries.push(long(330, sub));
    }
    let ifd0 = ifd(&mut out, entries);
    out[4..8].copy_from_slice(&ifd0.to_le_bytes());
    out
}

//! Golden tests of the one preprocessing path: exact tensors for tiny images, orientation,
//! alpha, every accepted format, and bad files.

use glimpse::engine::Preprocess;
use image::{Rgb, RgbImage, Rgba, RgbaImage};

use crate::util::{dng, heif_enc, jpeg_with_orientation};

fn lite(size: u32) -> Preprocess {
    Preprocess {
        size,
        mean: [127.0; 3],
        std: [128.0; 3],
        max_pixels: 50_000_000,
        max_file_bytes: glimpse::files::DEFAULT_MAX_FILE_BYTES,
        thumbnail: None,
        reduced_jpeg: true,
    }
}

fn png_bytes(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Mean colour of the top and bottom halves of a CHW tensor, back on the 0–255 scale.
fn halves(t: &[f32], side: usize) -> ([f32; 3], [f32; 3]) {
    let plane = side * side;
    let mut top = [0.0; 3];
    let mut bottom = [0.0; 3];
    for c in 0..3 {
        for y in 0..side {
            for x in 0..side {
                let v = t[c * plane + y * side + x] * 128.0 + 127.0;
                if y < side / 2 { top[c] += v } else { bottom[c] += v }
            }
        }
        top[c] /= (plane / 2) as f32;
        bottom[c] /= (plane / 2) as f32;
    }
    (top, bottom)
}

#[test]
fn a_2x2_photo_at_input_size_becomes_exactly_the_normalised_channel_planes() {
    let mut img = RgbImage::new(2, 2);
    img.put_pixel(0, 0, Rgb([0, 127, 255]));
    img.put_pixel(1, 0, Rgb([255, 0, 127]));
    img.put_pixel(0, 1, Rgb([10, 20, 30]));
    img.put_pixel(1, 1, Rgb([128, 64, 32]));
    let prepared = lite(2).prepare_bytes(&png_bytes(&img.into())).unwrap();
    let n = |v: f32| (v - 127.0) / 128.0;
    let expected = [
        n(0.0),
        n(255.0),
        n(10.0),
        n(128.0), // R plane, row-major
        n(127.0),
        n(0.0),
        n(20.0),
        n(64.0), // G plane
        n(255.0),
        n(127.0),
        n(30.0),
        n(32.0), // B plane
    ];
    assert_eq!(prepared.tensor, expected);
    assert_eq!((prepared.width, prepared.height), (2, 2));
}

#[test]
fn imagenet_normalisation_uses_each_channels_own_mean_and_std() {
    let img = RgbImage::from_pixel(3, 3, Rgb([200, 100, 50]));
    let pre = Preprocess { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375], ..lite(3) };
    let t = pre.prepare_bytes(&png_bytes(&img.into())).unwrap().tensor;
    assert_eq!(t[0], (200.0 - 123.675) / 58.395);
    assert_eq!(t[9], (100.0 - 116.28) / 57.12);
    assert_eq!(t[18], (50.0 - 103.53) / 57.375);
}

#[test]
fn squashing_a_uniform_photo_of_another_aspect_keeps_every_value() {
    let img = RgbImage::from_pixel(7, 5, Rgb([30, 60, 90]));
    let prepared = lite(3).prepare_bytes(&png_bytes(&img.into())).unwrap();
    assert_eq!(prepared.tensor.len(), 27);
    for (c, v) in [30.0f32, 60.0, 90.0].iter().enumerate() {
        for i in 0..9 {
            assert_eq!(prepared.tensor[c * 9 + i], (v - 127.0) / 128.0);
        }
    }
    assert_eq!((prepared.width, prepared.height), (7, 5));
}

fn red_left_blue_right(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, _| if x < w / 2 { Rgb([220, 20, 20]) } else { Rgb([20, 20, 220]) })
}

fn assert_red_on_top(pre: &Preprocess, jpeg: &[u8], expected_size: (u32, u32)) {
    let prepared = pre.prepare_bytes(jpeg).unwrap();
    assert_eq!((prepared.width, prepared.height), expected_size);
    let (top, bottom) = halves(&prepared.tensor, pre.size as usize);
    assert!(top[0] > 150.0 && top[2] < 80.0, "top should be red, is {top:?}");
    assert!(bottom[2] > 150.0 && bottom[0] < 80.0, "bottom should be blue, is {bottom:?}");
}

#[test]
fn exif_orientation_6_turns_a_sideways_photo_upright() {
    // Stored 16x8 with red on the left; orientation 6 means "rotate 90° clockwise to show",
    // which puts the left edge on top.
    let jpeg = jpeg_with_orientation(&red_left_blue_right(16, 8), 6);
    assert_red_on_top(&lite(8), &jpeg, (8, 16));
}

#[test]
fn exif_orientation_is_applied_on_the_reduced_size_jpeg_path_too() {
    // 1024x512 is more than twice the 224 input in both directions, so it takes the
    // DCT-scaled decoder.
    let jpeg = jpeg_with_orientation(&red_left_blue_right(1024, 512), 6);
    assert_red_on_top(&lite(224), &jpeg, (512, 1024));
    let full = Preprocess { reduced_jpeg: false, ..lite(224) };
    assert_red_on_top(&full, &jpeg, (512, 1024));
}

#[test]
fn reduced_size_decoding_gives_nearly_the_same_tensor_as_full_decoding() {
    let img = RgbImage::from_fn(1200, 900, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) / 10 % 256) as u8]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92).encode_image(&img).unwrap();
    let reduced = lite(224).prepare_bytes(&jpeg).unwrap();
    let full = Preprocess { reduced_jpeg: false, ..lite(224) }.prepare_bytes(&jpeg).unwrap();
    let mean_abs: f32 =
        reduced.tensor.iter().zip(&full.tensor).map(|(a, b)| (a - b).abs()).sum::<f32>() / full.tensor.len() as f32;
    // 0.05 on the normalised scale is about 6 grey levels of 255.
    assert!(mean_abs < 0.05, "reduced decoding drifted by {mean_abs}");
    assert_eq!((reduced.width, reduced.height), (1200, 900));
}

#[test]
fn transparent_pixels_are_flattened_over_white() {
    let mut img = RgbaImage::from_pixel(2, 1, Rgba([0, 0, 0, 0]));
    img.put_pixel(1, 0, Rgba([0, 0, 0, 255]));
    let t = lite(2).prepare_bytes(&png_bytes(&img.into())).unwrap().tensor;
    // Row 0: transparent → white, opaque black → black. Squashing 2x1 to 2x2 repeats rows.
    assert_eq!(t[0], (255.0 - 127.0) / 128.0);
    assert_eq!(t[1], (0.0 - 127.0) / 128.0);
}

#[test]
fn grey_16_bit_gif_webp_bmp_and_tiff_photos_all_decode() {
    let colour = RgbImage::from_pixel(5, 4, Rgb([200, 100, 50]));
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for format in [image::ImageFormat::Bmp, image::ImageFormat::Tiff, image::ImageFormat::WebP] {
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(colour.clone()).write_to(&mut out, format).unwrap();
        cases.push((format.extensions_str()[0], out.into_inner()));
    }
    let grey = image::GrayImage::from_pixel(5, 4, image::Luma([100]));
    cases.push(("grey png", png_bytes(&grey.into())));
    let deep = image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(5, 4, Rgb([51400, 25700, 12850]));
    cases.push(("16-bit png", png_bytes(&image::DynamicImage::ImageRgb16(deep))));
    // An animated GIF: the first frame (red) is what counts.
    let mut gif = Vec::new();
    {
        let mut enc = image::codecs::gif::GifEncoder::new(&mut gif);
        for c in [[255u8, 0, 0, 255], [0, 0, 255, 255]] {
            let frame = image::Frame::new(RgbaImage::from_pixel(4, 4, Rgba(c)));
            enc.encode_frame(frame).unwrap();
        }
    }
    cases.push(("gif", gif));
    for (what, bytes) in cases {
        let prepared = lite(2).prepare_bytes(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
        let r = prepared.tensor[0] * 128.0 + 127.0;
        let b = prepared.tensor[8] * 128.0 + 127.0;
        match what {
            "grey png" => assert!((r - 100.0).abs() < 1.0 && (b - 100.0).abs() < 1.0, "{what}: {r} {b}"),
            "gif" => assert!(r > 240.0 && b < 15.0, "{what}: first frame should be red, got r={r} b={b}"),
            _ => assert!((r - 200.0).abs() < 2.0 && (b - 50.0).abs() < 2.0, "{what}: {r} {b}"),
        }
    }
}

#[test]
fn a_cmyk_jpeg_decodes_to_the_right_colours() {
    // Adobe CMYK JPEGs store inverted values; jpeg-encoder writes them the way Photoshop does.
    let (w, h) = (16u16, 16u16);
    let cmyk: Vec<u8> = (0..u32::from(w) * u32::from(h)).flat_map(|_| [0u8, 255, 255, 0]).collect(); // pure red
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, 95).encode(&cmyk, w, h, jpeg_encoder::ColorType::Cmyk).unwrap();
    let prepared = lite(4).prepare_bytes(&bytes).unwrap();
    let r = prepared.tensor[0] * 128.0 + 127.0;
    let g = prepared.tensor[16] * 128.0 + 127.0;
    let b = prepared.tensor[32] * 128.0 + 127.0;
    assert!(r > 200.0 && g < 60.0 && b < 60.0, "expected red, got {r} {g} {b}");
}

#[test]
fn a_photo_above_the_pixel_limit_is_refused_before_decoding() {
    let img = RgbImage::from_pixel(40, 30, Rgb([1, 2, 3]));
    let pre = Preprocess { max_pixels: 1000, ..lite(2) };
    let err = pre.prepare_bytes(&png_bytes(&img.into())).unwrap_err();
    assert!(err.contains("above the limit"), "{err}");
}

#[test]
fn empty_truncated_and_random_files_are_errors_with_a_reason() {
    let img = RgbImage::from_pixel(64, 64, Rgb([9, 9, 9]));
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&img).unwrap();
    let truncated = jpeg[..jpeg.len() / 3].to_vec();
    let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    for (what, bytes, reason) in [
        ("empty", Vec::new(), "empty file"),
        ("random", random, "unknown format"),
        ("truncated jpeg", truncated, "cannot decode"),
    ] {
        let err = lite(8).prepare_bytes(&bytes).unwrap_err();
        assert!(err.contains(reason), "{what}: {err}");
    }
}

#[test]
fn a_thumbnail_comes_from_the_same_decode_and_keeps_the_aspect_ratio() {
    let img = RgbImage::from_pixel(600, 300, Rgb([10, 200, 10]));
    let pre = Preprocess { thumbnail: Some(256), ..lite(8) };
    let prepared = pre.prepare_bytes(&png_bytes(&img.into())).unwrap();
    let thumb = prepared.thumbnail.unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 128));
}

/// `img` with the given EXIF orientation, encoded by heif-enc with `args` into `name`
/// (HEIC, or AVIF for `.avif`); returns the file's bytes.
fn heif_file(dir: &std::path::Path, name: &str, jpeg: &[u8], args: &[&str]) -> Vec<u8> {
    let source = dir.join(format!("{name}.jpg"));
    std::fs::write(&source, jpeg).unwrap();
    let out = dir.join(name);
    heif_enc(&source, &out, args);
    std::fs::read(out).unwrap()
}

#[test]
fn heic_and_avif_photos_decode_upright_with_their_displayed_size() {
    let dir = tempfile::tempdir().unwrap();
    // Stored sideways with orientation 6, as a phone held upright saves it.
    let jpeg = jpeg_with_orientation(&red_left_blue_right(64, 32), 6);
    for name in ["upright.heic", "upright.avif"] {
        let bytes = heif_file(dir.path(), name, &jpeg, &["-q", "90"]);
        assert_red_on_top(&lite(8), &bytes, (32, 64));
        let shown = Preprocess { size: 1, thumbnail: Some(16), ..lite(8) }.prepare_bytes(&bytes).unwrap();
        let thumb = shown.thumbnail.unwrap();
        assert_eq!((thumb.width(), thumb.height()), (8, 16), "{name}: the thumbnail is upright too");
    }
}

#[test]
fn a_heic_thumbnail_that_nearly_covers_the_input_is_decoded_instead_of_the_full_photo() {
    let dir = tempfile::tempdir().unwrap();
    // The full photo is red on the left; its 64-pixel thumbnail is what a small input gets.
    let img = RgbImage::from_fn(512, 256, |x, _| if x < 256 { Rgb([220, 20, 20]) } else { Rgb([20, 20, 220]) });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 95).encode_image(&img).unwrap();
    let bytes = heif_file(dir.path(), "thumbed.heic", &jpeg, &["-q", "90", "-t", "64"]);
    let small = lite(16).prepare_bytes(&bytes).unwrap();
    let full = lite(128).prepare_bytes(&bytes).unwrap();
    assert_eq!((small.width, small.height), (512, 256), "the size is the full photo's");
    assert_eq!((full.width, full.height), (512, 256));
    // Both read the same picture: red on the left.
    for (t, side) in [(&small.tensor, 16usize), (&full.tensor, 128)] {
        let left_red = t[side / 4] * 128.0 + 127.0;
        let right_red = t[3 * side / 4] * 128.0 + 127.0;
        assert!(left_red > 150.0 && right_red < 80.0, "{left_red} {right_red}");
    }
    // The small input was fed from the 64x32 thumbnail; the large one needs the full photo.
    let ok = |_: u32, _: u32| Ok(());
    let thumb = glimpse::engine::heif::decode(&bytes, 16, ok).unwrap();
    assert_eq!((thumb.image.width(), thumb.image.height(), thumb.width, thumb.height), (64, 32, 512, 256));
    let whole = glimpse::engine::heif::decode(&bytes, 128, ok).unwrap();
    assert_eq!((whole.image.width(), whole.image.height()), (512, 256));
    // A thumbnail a little short of the input still serves (32 is 91 % of 35), one shorter
    // does not (32 is 89 % of 36), as an iPhone's 240-pixel side serves a 260-pixel input.
    let near = glimpse::engine::heif::decode(&bytes, 35, ok).unwrap();
    assert_eq!((near.image.width(), near.image.height()), (64, 32));
    let short = glimpse::engine::heif::decode(&bytes, 36, ok).unwrap();
    assert_eq!((short.image.width(), short.image.height()), (512, 256));
    // The pixel limit is checked against the full size either way.
    let strict = Preprocess { max_pixels: 512 * 256 - 1, ..lite(16) };
    assert!(strict.prepare_bytes(&bytes).unwrap_err().contains("above the limit"));
}

#[test]
fn a_heic_with_alpha_is_flattened_over_white_and_a_damaged_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut img = RgbaImage::from_pixel(32, 32, Rgba([0, 0, 0, 0]));
    for y in 16..32 {
        for x in 0..32 {
            img.put_pixel(x, y, Rgba([0, 0, 0, 255]));
        }
    }
    let png = png_bytes(&img.into());
    let source = dir.path().join("alpha.png");
    std::fs::write(&source, png).unwrap();
    let out = dir.path().join("alpha.heic");
    heif_enc(&source, &out, &["-L", "-p", "chroma=444"]);
    let bytes = std::fs::read(&out).unwrap();
    let (top, bottom) = halves(&lite(8).prepare_bytes(&bytes).unwrap().tensor, 8);
    assert!(top.iter().all(|&c| c > 240.0), "transparent top shows white: {top:?}");
    assert!(bottom.iter().all(|&c| c < 15.0), "opaque bottom stays black: {bottom:?}");

    let truncated = &bytes[..bytes.len() / 2];
    let err = lite(8).prepare_bytes(truncated).unwrap_err();
    assert!(err.starts_with("cannot decode"), "{err}");
}

#[test]
fn a_dng_shows_its_camera_preview_turned_by_the_raw_s_orientation() {
    let dir = tempfile::tempdir().unwrap();
    // The preview is stored sideways like the mosaic, green left where the mosaic is red
    // (so the two cannot be taken for each other); orientation 6 turns it so that green is
    // on top. The preview's own EXIF orientation (3) is not applied.
    let green_left = RgbImage::from_fn(96, 64, |x, _| if x < 48 { Rgb([20, 220, 20]) } else { Rgb([20, 20, 220]) });
    let preview = jpeg_with_orientation(&green_left, 3);
    let bytes = dng(96, 64, 6, "2021:03:04 05:06:07", Some((&preview, 96, 64)));
    let path = dir.path().join("IMG_0001.DNG");
    std::fs::write(&path, &bytes).unwrap();
    let prepared = lite(8).prepare_path(&path).unwrap();
    assert_eq!((prepared.width, prepared.height), (64, 96));
    let (top, bottom) = halves(&prepared.tensor, 8);
    assert!(top[1] > 150.0 && top[0] < 80.0 && top[2] < 80.0, "top should be green, is {top:?}");
    assert!(bottom[2] > 150.0 && bottom[1] < 80.0, "bottom should be blue, is {bottom:?}");
    // The window's thumbnail: the same picture, upright.
    let shown = lite(8).display_path(&path, 32).unwrap();
    assert_eq!((shown.width(), shown.height()), (21, 32));
    // The same bytes named .tif are not taken for a RAW photo.
    let tif = dir.path().join("not-raw.tif");
    std::fs::write(&tif, &bytes).unwrap();
    let as_tiff = lite(8).prepare_path(&tif).map(|p| (p.width, p.height)).ok();
    assert_ne!(as_tiff, Some((64, 96)));
}

#[test]
fn a_dng_without_a_preview_is_demosaiced_upright() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mosaic.dng");
    std::fs::write(&path, dng(64, 32, 6, "2021:03:04 05:06:07", None)).unwrap();
    let prepared = lite(8).prepare_path(&path).unwrap();
    assert_eq!((prepared.width, prepared.height), (32, 64));
    let (top, bottom) = halves(&prepared.tensor, 8);
    assert!(top[0] > top[2] + 40.0, "the red half is on top: {top:?}");
    assert!(bottom[2] > bottom[0] + 40.0, "the blue half below: {bottom:?}");
    // A damaged RAW is an error with a reason.
    std::fs::write(dir.path().join("cut.nef"), b"II*\0 not much of a camera file").unwrap();
    let err = lite(8).prepare_path(&dir.path().join("cut.nef")).unwrap_err().to_string();
    assert!(err.contains("cannot decode"), "{err}");
}

#[test]
fn a_heic_holding_several_photos_gives_its_primary_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    for (name, rgb) in [("red.png", [220u8, 20, 20]), ("blue.png", [20, 20, 220])] {
        let path = dir.path().join(name);
        crate::util::solid_png(&path, 32, 24, rgb);
        sources.push(path);
    }
    // heif-enc makes the first image of several the primary one.
    let out = dir.path().join("burst.heic");
    let status = std::process::Command::new("heif-enc")
        .args(["-q", "90", "-o"])
        .arg(&out)
        .args(&sources)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let t = lite(4).prepare_bytes(&std::fs::read(&out).unwrap()).unwrap().tensor;
    let (r, b) = (t[0] * 128.0 + 127.0, t[32] * 128.0 + 127.0);
    assert!(r > 180.0 && b < 60.0, "the primary (red) photo, got r={r} b={b}");
}

//! Turning a photo or drawing of a digit into what an MNIST model expects: 28×28
//! grayscale, white ink on black, the digit scaled into a 20×20 box and centred by its
//! centre of mass (the way the MNIST digits were made), then normalised.

use super::error::CliError;
use image::{DynamicImage, ImageBuffer, Luma, imageops};
use kiln::Tensor;
use std::path::Path;

/// Side of an MNIST image.
pub const SIDE: usize = 28;
/// Side of the box the digit is scaled into.
const BOX: u32 = 20;
/// Ink darker than this (on a 0..1 scale, after background removal) is ignored when
/// finding the digit's bounding box: JPEG noise and paper texture.
const INK_THRESHOLD: f32 = 0.2;

type Gray = ImageBuffer<Luma<f32>, Vec<f32>>;

/// Largest image file read: 256 MiB (a 40-megapixel PNG is far smaller).
const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;

/// Reads an image file (PNG or JPEG, any size or colour) and returns an MNIST-style
/// `[1, 28, 28]` f32 tensor normalised with `(mean, std)`.
///
/// Only regular files are read; the image's size is read from its header and more
/// than `max_pixels` pixels are refused before anything is decoded; a JPEG whose data
/// stops before its end marker (a cut-off download) is refused rather than classified.
pub fn load_digit(
    path: &Path,
    (mean, std): (f64, f64),
    max_pixels: u64,
) -> Result<Tensor, CliError> {
    let bad = |reason: String| CliError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let (file, len) = kiln::io::open_regular(path).map_err(|e| match e {
        kiln::io::IoError::NotAFile { kind, .. } => bad(format!("it is {kind}, not a file")),
        kiln::io::IoError::Io { source, .. } => bad(source.to_string()),
        e => CliError::Io(e),
    })?;
    if len > MAX_IMAGE_FILE_BYTES {
        return Err(bad(format!(
            "it is {len} bytes, over the limit of {MAX_IMAGE_FILE_BYTES} bytes for an image file"
        )));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut std::io::Read::take(file, len), &mut bytes)
        .map_err(|e| bad(e.to_string()))?;
    let reader = image::ImageReader::new(std::io::Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let format = reader.format();
    let (w, h) = reader.into_dimensions().map_err(|e| bad(e.to_string()))?;
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(bad(format!(
            "it is {w}×{h} = {} pixels, over the limit of {max_pixels} (raise it with --max-pixels)",
            u64::from(w) * u64::from(h)
        )));
    }
    if format == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(&bytes) {
        return Err(bad("the JPEG data is cut off before its end marker".into()));
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes[..]))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| bad(e.to_string()))?;
    let pixels = mnist_pixels(&img).ok_or_else(|| {
        bad("it holds no digit (the picture is a single flat colour)".to_string())
    })?;
    let normalised = pixels
        .iter()
        .map(|&v| ((v as f64 - mean) / std) as f32)
        .collect();
    Ok(Tensor::from_vec(normalised, &[1, SIDE, SIDE]))
}

/// Whether a JPEG's entropy-coded data is followed by an end-of-image marker (`FF D9`).
/// Inside entropy-coded data a `FF` byte is always followed by `00` or a restart marker,
/// so an `FF D9` after the first start-of-scan (`FF DA`) is the real end: an embedded
/// thumbnail's end marker comes before it.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let Some(sos) = bytes.windows(2).position(|w| w == [0xFF, 0xDA]) else {
        return false;
    };
    bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9])
}

/// The 28×28 MNIST-style pixels of `img` in [0, 1] (row-major, ink = 1), before
/// normalisation; `None` when the image has no ink at all.
pub fn mnist_pixels(img: &DynamicImage) -> Option<Vec<f32>> {
    let gray = ink_map(img);
    let (x0, y0, w, h) = ink_bounds(&gray)?;
    let digit = imageops::crop_imm(&gray, x0, y0, w, h).to_image();
    let scale = BOX as f32 / w.max(h) as f32;
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).clamp(1, BOX),
        ((h as f32 * scale).round() as u32).clamp(1, BOX),
    );
    let small = imageops::resize(&digit, nw, nh, imageops::FilterType::Triangle);
    let (cx, cy) = centre_of_mass(&small);
    let half = (SIDE as f32 - 1.0) / 2.0;
    let place = |c: f32, len: u32| -> i64 {
        ((half - c).round() as i64).clamp(0, SIDE as i64 - len as i64)
    };
    let (ox, oy) = (place(cx, nw), place(cy, nh));
    let mut out = vec![0.0f32; SIDE * SIDE];
    for (x, y, p) in small.enumerate_pixels() {
        let (tx, ty) = (ox as usize + x as usize, oy as usize + y as usize);
        out[ty * SIDE + tx] = p.0[0].clamp(0.0, 1.0);
    }
    Some(out)
}

/// Grayscale in [0, 1] with ink bright and background at 0: transparent pixels are laid
/// on white, a light background (judged by the border) is inverted, and the background
/// level is subtracted and the rest stretched to fill [0, 1].
fn ink_map(img: &DynamicImage) -> Gray {
    let rgba = img.to_rgba32f();
    let (w, h) = rgba.dimensions();
    let mut gray = Gray::from_fn(w, h, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let l = 0.299 * r + 0.587 * g + 0.114 * b;
        Luma([l * a + (1.0 - a)])
    });
    let mut border: Vec<f32> = Vec::new();
    for x in 0..w {
        border.push(gray.get_pixel(x, 0).0[0]);
        border.push(gray.get_pixel(x, h - 1).0[0]);
    }
    for y in 0..h {
        border.push(gray.get_pixel(0, y).0[0]);
        border.push(gray.get_pixel(w - 1, y).0[0]);
    }
    border.sort_by(f32::total_cmp);
    let mut background = border[border.len() / 2];
    if background > 0.5 {
        for p in gray.pixels_mut() {
            p.0[0] = 1.0 - p.0[0];
        }
        background = 1.0 - background;
    }
    let span = (1.0 - background).max(1e-6);
    for p in gray.pixels_mut() {
        p.0[0] = ((p.0[0] - background) / span).clamp(0.0, 1.0);
    }
    gray
}

/// The smallest rectangle `(x, y, width, height)` holding every pixel brighter than the
/// ink threshold; `None` when there is none.
fn ink_bounds(gray: &Gray) -> Option<(u32, u32, u32, u32)> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in gray.enumerate_pixels() {
        if p.0[0] > INK_THRESHOLD {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    (x0 != u32::MAX).then(|| (x0, y0, x1 - x0 + 1, y1 - y0 + 1))
}

/// Intensity-weighted mean pixel position `(x, y)` (pixel indices).
fn centre_of_mass(gray: &Gray) -> (f32, f32) {
    let (mut m, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in gray.enumerate_pixels() {
        let v = p.0[0] as f64;
        m += v;
        mx += v * x as f64;
        my += v * y as f64;
    }
    if m == 0.0 {
        let (w, h) = gray.dimensions();
        return ((w as f32 - 1.0) / 2.0, (h as f32 - 1.0) / 2.0);
    }
    ((mx / m) as f32, (my / m) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    /// A filled bar of ink: rows `y0..y1`, columns `x0..x1`.
    fn bar(w: u32, h: u32, ink: [u8; 3], paper: [u8; 3], r: (u32, u32, u32, u32)) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            if (r.0..r.1).contains(&x) && (r.2..r.3).contains(&y) {
                Rgb(ink)
            } else {
                Rgb(paper)
            }
        })
    }

    fn bounds(p: &[f32]) -> (usize, usize, usize, usize) {
        let on: Vec<(usize, usize)> = (0..SIDE * SIDE)
            .filter(|&i| p[i] > 0.5)
            .map(|i| (i % SIDE, i / SIDE))
            .collect();
        let xs = on.iter().map(|c| c.0);
        let ys = on.iter().map(|c| c.1);
        (
            xs.clone().min().unwrap(),
            xs.max().unwrap(),
            ys.clone().min().unwrap(),
            ys.max().unwrap(),
        )
    }

    #[test]
    fn dark_ink_on_light_paper_is_inverted_scaled_and_centred() {
        // A tall bar (40 wide, 200 high) off to one side of a 300×300 white page.
        let img = DynamicImage::ImageRgb8(bar(
            300,
            300,
            [20, 20, 20],
            [250, 250, 250],
            (10, 50, 60, 260),
        ));
        let p = mnist_pixels(&img).unwrap();
        let (x0, x1, y0, y1) = bounds(&p);
        assert_eq!(y1 - y0 + 1, 20, "the longer side becomes 20 px");
        assert_eq!(x1 - x0 + 1, 4, "aspect ratio kept");
        // Centred: equal margins (to a pixel) around the ink.
        assert!((x0 as i64 - (27 - x1) as i64).abs() <= 1, "{x0}..{x1}");
        assert!((y0 as i64 - (27 - y1) as i64).abs() <= 1, "{y0}..{y1}");
        // Background is black, ink is white.
        assert_eq!(p[0], 0.0);
        assert!(p[14 * SIDE + 14] > 0.9);
    }

    #[test]
    fn light_ink_on_dark_background_is_not_inverted() {
        let img = DynamicImage::ImageRgb8(bar(50, 40, [255, 255, 255], [0, 0, 0], (20, 30, 5, 35)));
        let p = mnist_pixels(&img).unwrap();
        assert_eq!(p[0], 0.0);
        assert!(p[14 * SIDE + 14] > 0.9);
    }

    #[test]
    fn transparent_background_counts_as_paper() {
        let img = RgbaImage::from_fn(64, 64, |x, y| {
            if (28..36).contains(&x) && (10..54).contains(&y) {
                Rgba([0, 0, 0, 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        });
        let p = mnist_pixels(&DynamicImage::ImageRgba8(img)).unwrap();
        assert_eq!(p[0], 0.0);
        assert!(p[14 * SIDE + 14] > 0.9);
    }

    #[test]
    fn blank_image_has_no_digit() {
        let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(30, 30, Rgb([200, 200, 200])));
        assert!(mnist_pixels(&img).is_none());
    }

    #[test]
    fn centre_of_mass_not_box_centre_decides_placement() {
        // An "L": the bottom bar puts the mass low, so the box sits above the centre.
        let img = RgbImage::from_fn(100, 100, |x, y| {
            let ink = (10..20).contains(&x) && (10..90).contains(&y)
                || (10..60).contains(&x) && (80..90).contains(&y);
            if ink {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let p = mnist_pixels(&DynamicImage::ImageRgb8(img)).unwrap();
        let (mut m, mut my) = (0.0, 0.0);
        for (i, v) in p.iter().enumerate() {
            m += v;
            my += v * (i / SIDE) as f32;
        }
        assert!(
            (my / m - 13.5).abs() <= 0.5,
            "centre of mass row {}",
            my / m
        );
        let (_, _, y0, y1) = bounds(&p);
        assert!(y0 + y1 < 26, "box rows {y0}..{y1} are not centred");
    }
}

//! Decoding the images a user brings (PNG, JPEG, BMP, WebP) into the toolkit's `u8` NCHW
//! sets: one size for all, grey-scale kept as one channel unless any image has colour.

use std::path::PathBuf;

use image::imageops::FilterType;
use image::ImageFormat;
use rayon::prelude::*;

use crate::error::{DataError, Result};
use crate::image::ImageSet;

/// The file extensions read as images (lower case), as torchvision's `IMG_EXTENSIONS` less
/// the formats this build does not decode.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "bmp", "webp"];

/// The longest side of an image this reader decodes, in pixels.
pub const MAX_SIDE: u32 = 16_384;

/// The most memory one image may take while decoded (64 MiB: a 4,096 × 4,096 RGBA image),
/// so a damaged header cannot make the reader allocate far more than the file holds.
pub const MAX_DECODED_BYTES: u64 = 64 << 20;

/// Where an image's bytes are: a file, or bytes already read (a parquet row).
pub(crate) enum Payload {
    /// A file, read when decoded.
    File(PathBuf),
    /// The encoded bytes.
    Bytes(Vec<u8>),
}

/// One image to decode, with its label and a name for errors.
pub(crate) struct Item {
    /// The file, or `shard: row r (column c)`.
    pub origin: PathBuf,
    /// The class index.
    pub label: u32,
    /// The encoded image.
    pub payload: Payload,
}

/// One decoded image: grey (`H·W` bytes) or colour (`3·H·W`, channel-major).
struct Decoded {
    height: usize,
    width: usize,
    colour: bool,
    pixels: Vec<u8>,
}

fn decode_bytes(bytes: &[u8], size: Option<[usize; 2]>) -> std::result::Result<Decoded, String> {
    let format = image::guess_format(bytes).map_err(|_| {
        "not an image: its first bytes are no PNG, JPEG, BMP or WebP signature".to_string()
    })?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Bmp | ImageFormat::WebP
    ) {
        return Err(format!(
            "a {format:?} image; expected PNG, JPEG, BMP or WebP"
        ));
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => format!(
            "this {format:?} image is larger than this reader decodes (at most {MAX_SIDE} \
             pixels a side and {} MiB decoded): {e}",
            MAX_DECODED_BYTES >> 20
        ),
        e => format!("cannot decode this {format:?} image (truncated or damaged?): {e}"),
    })?;
    let colour = img.color().has_color();
    let resize_to = size.map(|[h, w]| (w as u32, h as u32));
    if colour {
        let mut rgb = img.to_rgb8();
        if let Some((w, h)) = resize_to.filter(|&s| s != rgb.dimensions()) {
            rgb = image::imageops::resize(&rgb, w, h, FilterType::Triangle);
        }
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        let mut pixels = vec![0u8; 3 * h * w];
        for (i, px) in rgb.pixels().enumerate() {
            for c in 0..3 {
                pixels[c * h * w + i] = px.0[c];
            }
        }
        Ok(Decoded {
            height: h,
            width: w,
            colour,
            pixels,
        })
    } else {
        let mut grey = img.to_luma8();
        if let Some((w, h)) = resize_to.filter(|&s| s != grey.dimensions()) {
            grey = image::imageops::resize(&grey, w, h, FilterType::Triangle);
        }
        let (w, h) = (grey.width() as usize, grey.height() as usize);
        Ok(Decoded {
            height: h,
            width: w,
            colour,
            pixels: grey.into_raw(),
        })
    }
}

fn decode_item(item: &Item, size: Option<[usize; 2]>) -> Result<Decoded> {
    let owned;
    let bytes = match &item.payload {
        Payload::Bytes(b) => b.as_slice(),
        Payload::File(path) => {
            owned = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
            owned.as_slice()
        }
    };
    if bytes.is_empty() {
        return Err(DataError::Image {
            path: item.origin.clone(),
            reason: "an empty file, expected an image".into(),
        });
    }
    decode_bytes(bytes, size).map_err(|reason| DataError::Image {
        path: item.origin.clone(),
        reason,
    })
}

/// Decodes the training and test images (in parallel, in order) into two sets of one size.
///
/// With `size` (`[H, W]`) every image of another size is resized to it, bilinearly (the
/// `image` crate's triangle filter, widened when shrinking, as Pillow's `BILINEAR`); without
/// it, an image whose size differs from the first training image's is an error naming both.
/// If any image has colour every image is RGB (a grey one repeated in the three channels, as
/// Pillow's `convert("RGB")`); otherwise they stay one channel.
pub(crate) fn decode_sets(
    train: &[Item],
    test: &[Item],
    size: Option<[usize; 2]>,
) -> Result<(ImageSet, ImageSet)> {
    let decode_all = |items: &[Item]| -> Result<Vec<Decoded>> {
        let decoded: Vec<Result<Decoded>> =
            items.par_iter().map(|it| decode_item(it, size)).collect();
        decoded.into_iter().collect()
    };
    let train_px = decode_all(train)?;
    let test_px = decode_all(test)?;
    let Some(first) = train_px.first() else {
        return Err(DataError::format(
            train.first().map(|i| i.origin.clone()).unwrap_or_default(),
            "no training image",
        ));
    };
    if test_px.is_empty() {
        return Err(DataError::format(
            train[0].origin.clone(),
            "missing split: the test split holds no image",
        ));
    }
    let (height, width) = (first.height, first.width);
    for (items, decoded) in [(train, &train_px), (test, &test_px)] {
        if let Some((item, d)) = items
            .iter()
            .zip(decoded.iter())
            .find(|(_, d)| (d.height, d.width) != (height, width))
        {
            return Err(DataError::Image {
                path: item.origin.clone(),
                reason: format!(
                    "{}×{} (height×width), but {} is {height}×{width}; every image must \
                     share one size: resize them with --image-size H,W (or `?size=H,W` on \
                     the data source, e.g. ?size={height},{width})",
                    d.height,
                    d.width,
                    train[0].origin.display()
                ),
            });
        }
    }
    let colour = train_px.iter().chain(test_px.iter()).any(|d| d.colour);
    let channels = if colour { 3 } else { 1 };
    let to_set = |items: &[Item], decoded: Vec<Decoded>| -> ImageSet {
        let mut images = Vec::with_capacity(decoded.len() * channels * height * width);
        for d in decoded {
            if colour && !d.colour {
                for _ in 0..3 {
                    images.extend_from_slice(&d.pixels);
                }
            } else {
                images.extend_from_slice(&d.pixels);
            }
        }
        ImageSet {
            images,
            labels: items.iter().map(|i| i.label).collect(),
            channels,
            height,
            width,
        }
    };
    Ok((to_set(train, train_px), to_set(test, test_px)))
}

/// Whether `name` has one of the [`IMAGE_EXTENSIONS`] (case-insensitive).
pub(crate) fn has_image_extension(name: &str) -> bool {
    name.rsplit_once('.')
        .map(|(_, ext)| IMAGE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

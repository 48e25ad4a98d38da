//! Reader for the IDX format of MNIST and Fashion-MNIST.
//!
//! Files are read raw or gzip-compressed; compression is detected from the gzip magic bytes
//! (`1f 8b`), not from the file name. Every header is checked: the magic number (2051 for
//! `u8` images with 3 dimensions, 2049 for `u8` labels with 1 dimension), non-zero image
//! dimensions, the exact byte length (truncated files and trailing bytes are both errors;
//! lengths are those of the decompressed data), equal image and label counts, and labels
//! below the number of classes.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};
use crate::image::ImageSet;

/// Magic number of an IDX file of `u8` with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of `u8` with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 2049;
/// Number of classes of MNIST-style IDX datasets.
pub const IDX_NUM_CLASSES: usize = 10;

/// Images decoded from an IDX file.
#[derive(Clone, Debug)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub height: usize,
    /// Columns per image.
    pub width: usize,
    /// `count * height * width` pixels, row-major.
    pub pixels: Vec<u8>,
}

/// Read a whole file, decompressing it when it starts with the gzip magic bytes.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    maybe_gunzip(bytes, path)
}

/// Decompress `bytes` when they start with the gzip magic bytes; return them unchanged
/// otherwise. `path` is used in error messages only.
pub fn maybe_gunzip(bytes: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 2);
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| DataError::io(path, e))?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

fn header(bytes: &[u8], path: &Path, expected_magic: u32, ndim: usize) -> Result<Vec<usize>> {
    let header_len = 4 + 4 * ndim;
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected_bytes: header_len as u64,
            found_bytes: bytes.len() as u64,
        });
    }
    let magic = be(0);
    if magic != expected_magic {
        return Err(DataError::BadMagic {
            path: path.into(),
            found: magic,
            expected: expected_magic,
        });
    }
    if bytes.len() < header_len {
        return Err(DataError::Truncated {
            path: path.into(),
            expected_bytes: header_len as u64,
            found_bytes: bytes.len() as u64,
        });
    }
    Ok((0..ndim).map(|d| be(4 + 4 * d) as usize).collect())
}

fn check_len(bytes: &[u8], path: &Path, expected: u64) -> Result<()> {
    let found = bytes.len() as u64;
    if found < expected {
        Err(DataError::Truncated {
            path: path.into(),
            expected_bytes: expected,
            found_bytes: found,
        })
    } else if found > expected {
        Err(DataError::TrailingBytes {
            path: path.into(),
            expected_bytes: expected,
            found_bytes: found,
        })
    } else {
        Ok(())
    }
}

/// Parse (already decompressed) IDX image bytes. `path` is used in error messages only.
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<IdxImages> {
    let dims = header(bytes, path, IMAGES_MAGIC, 3)?;
    let (count, height, width) = (dims[0], dims[1], dims[2]);
    if height == 0 || width == 0 {
        return Err(DataError::format(
            path,
            format!("image dimensions {height}x{width}: expected both non-zero"),
        ));
    }
    let expected = (count as u64)
        .checked_mul(height as u64)
        .and_then(|n| n.checked_mul(width as u64))
        .and_then(|n| n.checked_add(16))
        .ok_or_else(|| {
            DataError::format(
                path,
                format!("header sizes {count}x{height}x{width} overflow"),
            )
        })?;
    check_len(bytes, path, expected)?;
    Ok(IdxImages {
        count,
        height,
        width,
        pixels: bytes[16..].to_vec(),
    })
}

/// Parse (already decompressed) IDX label bytes, checking every label is `< num_classes`.
/// `path` is used in error messages only.
pub fn parse_labels(bytes: &[u8], path: &Path, num_classes: usize) -> Result<Vec<u32>> {
    let dims = header(bytes, path, LABELS_MAGIC, 1)?;
    check_len(bytes, path, dims[0] as u64 + 8)?;
    let labels = &bytes[8..];
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= num_classes)
    {
        return Err(DataError::LabelOutOfRange {
            path: path.into(),
            index: index as u64,
            label: u32::from(label),
            num_classes,
        });
    }
    Ok(labels.iter().map(|&l| u32::from(l)).collect())
}

/// Read an IDX image file (raw or gzip).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images(&read_maybe_gz(path)?, path)
}

/// Read an IDX label file (raw or gzip), checking every label is `< num_classes`.
pub fn read_labels(path: &Path, num_classes: usize) -> Result<Vec<u32>> {
    parse_labels(&read_maybe_gz(path)?, path, num_classes)
}

/// Combine parsed images and labels into an [`ImageSet`], checking their counts agree.
pub fn combine(
    images: IdxImages,
    labels: Vec<u32>,
    images_path: &Path,
    labels_path: &Path,
) -> Result<ImageSet> {
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.into(),
            labels_path: labels_path.into(),
            images: images.count as u64,
            labels: labels.len() as u64,
        });
    }
    Ok(ImageSet {
        images: images.pixels,
        labels,
        channels: 1,
        height: images.height,
        width: images.width,
    })
}

/// `dir/<stem>` if it exists, else `dir/<stem>.gz` if it exists.
pub fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [dir.join(stem), dir.join(format!("{stem}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// Whether `dir` looks like an IDX dataset directory (holds `train-images-idx3-ubyte[.gz]`).
pub fn is_idx_dir(dir: &Path) -> bool {
    find_file(dir, "train-images-idx3-ubyte").is_some()
}

/// Read one split (`prefix` = `"train"` or `"t10k"`) from `dir`.
pub fn read_split(dir: &Path, prefix: &str, num_classes: usize) -> Result<ImageSet> {
    let locate = |stem: String| {
        find_file(dir, &stem).ok_or_else(|| DataError::NotFound {
            what: format!("IDX file {stem}[.gz]"),
            searched: vec![dir.to_path_buf()],
            hint: "a Fashion-MNIST/MNIST directory holds train-images-idx3-ubyte, \
                   train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte \
                   (each optionally gzipped)"
                .to_string(),
        })
    };
    let images_path = locate(format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = locate(format!("{prefix}-labels-idx1-ubyte"))?;
    let images = read_images(&images_path)?;
    let labels = read_labels(&labels_path, num_classes)?;
    combine(images, labels, &images_path, &labels_path)
}

/// Read the training (`train-*`) and test (`t10k-*`) splits from `dir`.
pub fn read_dir(dir: &Path) -> Result<(ImageSet, ImageSet)> {
    let train = read_split(dir, "train", IDX_NUM_CLASSES)?;
    let test = read_split(dir, "t10k", IDX_NUM_CLASSES)?;
    Ok((train, test))
}

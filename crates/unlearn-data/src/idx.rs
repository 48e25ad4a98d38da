//! Reader for the IDX format of MNIST and Fashion-MNIST.
//!
//! Files are read raw or gzip-compressed; compression is detected from the gzip magic bytes
//! (`1f 8b`), not from the file name. Every header is checked: the magic number (2051 for
//! `u8` images with 3 dimensions, 2049 for `u8` labels with 1 dimension), non-zero image
//! dimensions, the exact byte length (truncated files and trailing bytes are both errors;
//! lengths are those of the decompressed data), equal image and label counts, and labels
//! below the number of classes. Decompressed data past the length a header announces is
//! counted, not kept, so memory stays bounded by what the header describes.

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
    let bytes = unlearn_io::read_regular(path, "IDX file", u64::MAX)?;
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

/// The byte length an IDX header announces (header plus payload), when `head` holds a whole
/// header with the expected magic and non-zero dimensions whose product fits in a `u64`.
fn announced_len(head: &[u8], expected_magic: u32, ndim: usize) -> Option<u64> {
    let be = |i: usize| Some(u32::from_be_bytes(head.get(i..i + 4)?.try_into().ok()?));
    if be(0)? != expected_magic {
        return None;
    }
    let mut payload = 1u64;
    for d in 0..ndim {
        let dim = u64::from(be(4 + 4 * d)?);
        if dim == 0 && d > 0 {
            return None;
        }
        payload = payload.checked_mul(dim)?;
    }
    payload.checked_add((4 + 4 * ndim) as u64)
}

/// Read an IDX file, decompressing it when it starts with the gzip magic bytes. Decompressed
/// data is kept only up to the length the header announces; anything beyond is counted,
/// not stored, so a small file that inflates far past its header (a gzip bomb) cannot
/// exhaust memory, and the error still gives the real decompressed size.
fn read_idx(path: &Path, expected_magic: u32, ndim: usize) -> Result<Vec<u8>> {
    let bytes = unlearn_io::read_regular(path, "IDX file", u64::MAX)?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let io = |e| DataError::io(path, e);
    let mut dec = flate2::read::MultiGzDecoder::new(bytes.as_slice());
    let header_len = (4 + 4 * ndim) as u64;
    let mut out = Vec::new();
    (&mut dec)
        .take(header_len)
        .read_to_end(&mut out)
        .map_err(io)?;
    let Some(expected) = announced_len(&out, expected_magic, ndim) else {
        return Ok(out); // the parser reports the short header, magic or dimensions
    };
    (&mut dec)
        .take(expected - header_len)
        .read_to_end(&mut out)
        .map_err(io)?;
    let extra = std::io::copy(&mut dec, &mut std::io::sink()).map_err(io)?;
    if extra > 0 {
        return Err(DataError::TrailingBytes {
            path: path.into(),
            expected_bytes: expected,
            found_bytes: expected + extra,
        });
    }
    Ok(out)
}

/// Read an IDX image file (raw or gzip).
pub fn read_images(path: &Path) -> Result<IdxImages> {
    parse_images(&read_idx(path, IMAGES_MAGIC, 3)?, path)
}

/// Read an IDX label file (raw or gzip), checking every label is `< num_classes`.
pub fn read_labels(path: &Path, num_classes: usize) -> Result<Vec<u32>> {
    parse_labels(&read_idx(path, LABELS_MAGIC, 1)?, path, num_classes)
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A label file whose gzip stream inflates to 64 MiB past its 11-byte header: rejected
    /// with the real size, without holding the excess in memory (it is counted while
    /// decompressing; before, all of it was read into one buffer first).
    #[test]
    fn gzip_inflating_past_the_header_is_counted_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("train-labels-idx1-ubyte.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            gz.write_all(&zeros).unwrap();
        }
        std::fs::write(&path, gz.finish().unwrap()).unwrap();
        let err = read_labels(&path, 10).unwrap_err();
        assert!(
            matches!(&err, DataError::TrailingBytes { expected_bytes: 11, found_bytes, .. }
                if *found_bytes == 11 + (64 << 20)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("train-labels-idx1-ubyte.gz"),
            "{err}"
        );
    }

    #[test]
    fn announced_len_needs_the_magic_and_non_zero_image_dimensions() {
        let head = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4];
        assert_eq!(announced_len(&head, IMAGES_MAGIC, 3), Some(16 + 24));
        assert_eq!(announced_len(&head, LABELS_MAGIC, 3), None);
        assert_eq!(announced_len(&head[..12], IMAGES_MAGIC, 3), None);
        let zero = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 4];
        assert_eq!(announced_len(&zero, IMAGES_MAGIC, 3), None);
    }
}

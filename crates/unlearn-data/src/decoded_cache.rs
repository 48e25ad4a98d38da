//! Images decoded once: the first load of an image folder or parquet shards writes every
//! decoded pixel into one file, and every later load (each step of a study included) reads
//! that file instead of decoding again.
//!
//! The file is named after a SHA-256 of the source's kind and options and, for every source
//! file, its name relative to the source, its size and its modification time: changing,
//! adding or removing a file gives another name. It lies in `$UNLEARN_CACHE/decoded/`
//! (default `$XDG_CACHE_HOME/unlearn`, else `~/.cache/unlearn`). It is written atomically (a
//! killed run leaves no half file) and ends with the SHA-256 of its content: a damaged file
//! is not used, and is written again.
//!
//! Layout: `UNLDATA1`, a `u64` (little-endian) header length, the JSON header
//! (`class_names`, `channels`, `height`, `width`, `num_train`, `num_test`), then for the
//! training then the test set the labels (`u32` little-endian) and the pixels, then the
//! 32-byte digest.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::hub::{env_path, home_cache};
use crate::image::ImageSet;

/// Environment variable naming the toolkit's cache folder.
pub const CACHE_ENV: &str = "UNLEARN_CACHE";

const MAGIC: &[u8; 8] = b"UNLDATA1";

/// The toolkit's cache folder: `$UNLEARN_CACHE`, else `$XDG_CACHE_HOME/unlearn`, else
/// `~/.cache/unlearn`.
pub fn cache_root() -> PathBuf {
    env_path(CACHE_ENV)
        .or_else(|| env_path("XDG_CACHE_HOME").map(|p| p.join("unlearn")))
        .unwrap_or_else(|| home_cache("unlearn"))
}

/// The decoded sets and their class names.
pub(crate) struct Decoded {
    pub train: ImageSet,
    pub test: ImageSet,
    pub class_names: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    class_names: Vec<String>,
    channels: usize,
    height: usize,
    width: usize,
    num_train: usize,
    num_test: usize,
}

/// The cache file for a source: `identity` names its kind and options, `files` its files
/// (relative name, local path), whose sizes and modification times enter the name.
pub(crate) fn file_for(
    root: &Path,
    identity: &str,
    files: &[(String, PathBuf)],
) -> Result<PathBuf> {
    let mut h = Sha256::new();
    h.update(b"unlearn-data/decoded/v1\0");
    h.update(identity.as_bytes());
    h.update([0u8]);
    for (rel, path) in files {
        let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        h.update(rel.as_bytes());
        h.update([0u8]);
        h.update(meta.len().to_le_bytes());
        h.update(mtime.to_le_bytes());
    }
    Ok(root
        .join("decoded")
        .join(format!("{}.udata", &hex::encode(h.finalize())[..32])))
}

fn labels_bytes(set: &ImageSet) -> Vec<u8> {
    set.labels.iter().flat_map(|l| l.to_le_bytes()).collect()
}

/// Writes the decoded sets to `path` atomically.
pub(crate) fn write(path: &Path, d: &Decoded) -> Result<()> {
    let header = serde_json::to_vec(&Header {
        class_names: d.class_names.clone(),
        channels: d.train.channels,
        height: d.train.height,
        width: d.train.width,
        num_train: d.train.len(),
        num_test: d.test.len(),
    })
    .map_err(|e| DataError::format(path, format!("cannot write the cache header: {e}")))?;
    unlearn_io::write_atomic_with(path, |f| {
        let mut digest = Sha256::new();
        let mut put = |bytes: &[u8]| -> std::io::Result<()> {
            digest.update(bytes);
            f.write_all(bytes)
        };
        put(MAGIC)?;
        put(&(header.len() as u64).to_le_bytes())?;
        put(&header)?;
        for set in [&d.train, &d.test] {
            put(&labels_bytes(set))?;
            put(&set.images)?;
        }
        f.write_all(&digest.finalize())
    })?;
    Ok(())
}

/// Reads `path`; `None` when it is missing, of another layout or damaged.
pub(crate) fn read(path: &Path) -> Option<Decoded> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < MAGIC.len() + 8 + 32 || &bytes[..8] != MAGIC {
        return None;
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return None;
    }
    let header_len = u64::from_le_bytes(body[8..16].try_into().ok()?) as usize;
    let header: Header =
        serde_json::from_slice(body.get(16..16usize.checked_add(header_len)?)?).ok()?;
    let mut at = 16 + header_len;
    let image_len = header.channels * header.height * header.width;
    let mut take = |n: usize| -> Option<ImageSet> {
        let labels = body.get(at..at.checked_add(4 * n)?)?;
        at += 4 * n;
        let images = body.get(at..at.checked_add(n * image_len)?)?.to_vec();
        at += n * image_len;
        Some(ImageSet {
            images,
            labels: labels
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            channels: header.channels,
            height: header.height,
            width: header.width,
        })
    };
    let train = take(header.num_train)?;
    let test = take(header.num_test)?;
    (at == body.len()).then_some(Decoded {
        train,
        test,
        class_names: header.class_names,
    })
}

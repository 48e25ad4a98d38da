//! Data a user brings: an image folder (`imagefolder:DIR`), parquet shards
//! (`parquet:PATH`) or a Hugging Face dataset (`hf://datasets/ORG/NAME[@REV]`), each with
//! options after a `?`: `size=H,W` (resize every image), `image=COLUMN` and `label=COLUMN`
//! (parquet and hub only), joined by `&`.
//!
//! The options are part of the source's name, so a split manifest, a checkpoint's metadata
//! and every step of a study name the same data. Images are decoded once into the
//! [decoded-image cache](crate::decoded_cache); a model trained on such data normalises its
//! inputs by the training images' per-channel mean and std, and nothing is augmented.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::dataset::{DataSource, Dataset};
use crate::decode::decode_sets;
use crate::decoded_cache::{self, Decoded};
use crate::error::{DataError, Result};
use crate::image::{Augmentation, Normalization};
use crate::parquet_shards::Columns;
use crate::{hub, imagefolder, parquet_shards};

/// The options of an imported source (`?size=H,W&image=COL&label=COL`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// Resize every image to `[height, width]` (bilinear); `None`: all must share one size.
    pub image_size: Option<[usize; 2]>,
    /// The parquet column holding the images; `None`: detect.
    pub image_column: Option<String>,
    /// The parquet column holding the labels; `None`: detect.
    pub label_column: Option<String>,
}

impl ImportOptions {
    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == ImportOptions::default()
    }

    /// Parses `size=H,W&image=COL&label=COL` (any subset, any order); `spec` names the
    /// source in errors, and `columns_allowed` is false for an image folder.
    pub fn parse(text: &str, spec: &str, columns_allowed: bool) -> Result<Self> {
        let bad = |reason: String| DataError::InvalidSource {
            spec: spec.to_string(),
            reason,
        };
        let mut out = ImportOptions::default();
        for part in text.split('&') {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                bad(format!(
                    "option `{part}` is not KEY=VALUE; expected size=H,W{}",
                    if columns_allowed {
                        ", image=COLUMN or label=COLUMN"
                    } else {
                        ""
                    }
                ))
            })?;
            if value.is_empty() {
                return Err(bad(format!("option `{key}` has no value")));
            }
            match key {
                "size" => {
                    let dims: Vec<usize> = value
                        .split(',')
                        .map(|v| v.trim().parse::<usize>().ok().filter(|&n| (1..=4096).contains(&n)))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            bad(format!("size `{value}`: expected H,W, two whole numbers from 1 to 4096"))
                        })?;
                    match dims.as_slice() {
                        [h, w] => out.image_size = Some([*h, *w]),
                        _ => return Err(bad(format!("size `{value}`: expected H,W (e.g. size=32,32)"))),
                    }
                }
                "image" | "label" if !columns_allowed => {
                    return Err(bad(format!(
                        "an image folder takes no `{key}=` option (its labels are its folders); only size=H,W"
                    )))
                }
                "image" => out.image_column = Some(value.to_string()),
                "label" => out.label_column = Some(value.to_string()),
                other => {
                    return Err(bad(format!(
                        "unknown option `{other}`; expected size=H,W{}",
                        if columns_allowed { ", image=COLUMN or label=COLUMN" } else { "" }
                    )))
                }
            }
        }
        Ok(out)
    }
}

impl fmt::Display for ImportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some([h, w]) = self.image_size {
            parts.push(format!("size={h},{w}"));
        }
        if let Some(c) = &self.image_column {
            parts.push(format!("image={c}"));
        }
        if let Some(c) = &self.label_column {
            parts.push(format!("label={c}"));
        }
        if !parts.is_empty() {
            write!(f, "?{}", parts.join("&"))?;
        }
        Ok(())
    }
}

/// Splits `rest` at its last `?` into the location and the options.
pub(crate) fn split_options<'a>(
    rest: &'a str,
    spec: &str,
    columns_allowed: bool,
) -> Result<(&'a str, ImportOptions)> {
    match rest.rsplit_once('?') {
        Some((location, options)) => Ok((
            location,
            ImportOptions::parse(options, spec, columns_allowed)?,
        )),
        None => Ok((rest, ImportOptions::default())),
    }
}

/// Parses the part of `hf://datasets/ORG/NAME[@REV]` after `hf://datasets/`.
pub(crate) fn parse_hub(rest: &str, spec: &str) -> Result<DataSource> {
    let bad = |reason: &str| DataError::InvalidSource {
        spec: spec.to_string(),
        reason: reason.to_string(),
    };
    let (location, options) = split_options(rest, spec, true)?;
    let (repo, revision) = match location.split_once('@') {
        Some((r, rev)) if !rev.is_empty() && rev != "." && rev != ".." && !rev.contains('\\') => {
            (r, Some(rev.to_string()))
        }
        Some(_) => return Err(bad("empty or malformed revision after '@'")),
        None => (location, None),
    };
    let parts: Vec<&str> = repo.split('/').collect();
    let plain = |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('\\');
    if parts.len() != 2 || !parts.iter().all(|p| plain(p)) {
        return Err(bad(
            "expected hf://datasets/ORG/NAME[@REVISION], e.g. hf://datasets/uoft-cs/cifar10",
        ));
    }
    Ok(DataSource::HubDataset {
        repo: repo.to_string(),
        revision,
        options,
    })
}

/// Loads an imported source, through the decoded-image cache under `cache_root`.
pub(crate) fn load(source: &DataSource, cache_root: &Path) -> Result<Dataset> {
    let (name, options, listing) = match source {
        DataSource::ImageFolder { dir, options } => {
            let l = imagefolder::list(dir)?;
            ("imagefolder".to_string(), options, Listing::Folder(l))
        }
        DataSource::Parquet { path, options } => {
            let shards = parquet_shards::shards_at(path)?;
            (
                "parquet".to_string(),
                options,
                Listing::Shards(path.clone(), shards),
            )
        }
        DataSource::HubDataset {
            repo,
            revision,
            options,
        } => {
            let rev = revision.as_deref().unwrap_or("main");
            let shards = hub::dataset_shards(repo, rev, &cache_root.join("hub"))?;
            (
                format!("hf:{repo}"),
                options,
                Listing::Shards(PathBuf::from(format!("hf://datasets/{repo}@{rev}")), shards),
            )
        }
        other => unreachable!("{other} is not an imported source"),
    };
    let files = match &listing {
        Listing::Folder(l) => l.files.clone(),
        Listing::Shards(_, shards) => shards.clone(),
    };
    let identity = format!("{}{}", name, options);
    let cache_file = decoded_cache::file_for(cache_root, &identity, &files)?;
    let decoded = match decoded_cache::read(&cache_file) {
        Some(d) => d,
        None => {
            let decoded = decode(listing, options)?;
            decoded_cache::write(&cache_file, &decoded)?;
            decoded
        }
    };
    let normalization = Normalization::from_images(&decoded.train);
    let num_classes = decoded.class_names.len();
    let mut ds = Dataset::new(
        name,
        source.clone(),
        decoded.train,
        decoded.test,
        num_classes,
        decoded.class_names,
        normalization,
        Augmentation::None,
    )?;
    ds.decoded_cache = Some(cache_file);
    Ok(ds)
}

enum Listing {
    Folder(imagefolder::Listing),
    Shards(PathBuf, Vec<(String, PathBuf)>),
}

fn decode(listing: Listing, options: &ImportOptions) -> Result<Decoded> {
    let (train, test, class_names) = match listing {
        Listing::Folder(l) => (l.train, l.test, l.class_names),
        Listing::Shards(origin, shards) => {
            let (train, test) = parquet_shards::assign_splits(&shards, &origin)?;
            parquet_shards::read(
                &train,
                &test,
                &Columns {
                    image: options.image_column.clone(),
                    label: options.label_column.clone(),
                },
            )?
        }
    };
    let (train, test) = decode_sets(&train, &test, options.image_size)?;
    Ok(Decoded {
        train,
        test,
        class_names,
    })
}

//! Datasets, where they come from, and how they are identified.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cifar::{self, CifarKind};
use crate::error::{DataError, Result};
use crate::external::{self, ImportOptions};
use crate::image::{Augmentation, ImageSet, Normalization};
use crate::{decoded_cache, embedded, idx};

/// Environment variable naming a directory searched for datasets.
pub const DATA_ENV: &str = "UNLEARN_DATA";

/// Fashion-MNIST class names, in label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// A dataset loaded in memory: official training and test sets plus what is needed to use
/// them (class names, normalisation, augmentation) and a content fingerprint.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// `"embedded-fashion-mnist"`, `"fashion-mnist"`, `"mnist"`, `"idx"`, `"cifar10"` or
    /// `"cifar100"`.
    pub name: String,
    /// What it was loaded from.
    pub source: DataSource,
    /// The official training set.
    pub train: ImageSet,
    /// The official test set.
    pub test: ImageSet,
    /// Number of classes; every label is below it.
    pub num_classes: usize,
    /// One name per class.
    pub class_names: Vec<String>,
    /// Normalisation to apply to inputs.
    pub normalization: Normalization,
    /// Training-time augmentation of the standard recipe.
    pub augmentation: Augmentation,
    /// SHA-256 (hex) of the content, see [`fingerprint`].
    pub fingerprint: String,
    /// The decoded-image cache file it was read from or written to (imported sources only,
    /// see [`crate::decoded_cache`]).
    pub decoded_cache: Option<PathBuf>,
}

/// A serialisable description of a [`Dataset`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetSummary {
    /// Dataset name.
    pub name: String,
    /// The source, as accepted by [`DataSource::from_str`].
    pub source: String,
    /// Content fingerprint.
    pub fingerprint: String,
    /// Size of the official training set.
    pub num_train: usize,
    /// Size of the official test set.
    pub num_test: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// Class names.
    pub class_names: Vec<String>,
    /// Training images per class.
    pub train_per_class: Vec<usize>,
    /// Test images per class.
    pub test_per_class: Vec<usize>,
    /// Input normalisation.
    pub normalization: Normalization,
    /// Training augmentation.
    pub augmentation: Augmentation,
    /// The decoded-image cache file (imported sources only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_cache: Option<PathBuf>,
}

impl Dataset {
    /// `[C, H, W]` of every image.
    pub fn input_shape(&self) -> [usize; 3] {
        self.train.shape()
    }

    /// A serialisable summary (sizes, class counts, fingerprint).
    pub fn summary(&self) -> DatasetSummary {
        DatasetSummary {
            name: self.name.clone(),
            source: self.source.to_string(),
            fingerprint: self.fingerprint.clone(),
            num_train: self.train.len(),
            num_test: self.test.len(),
            num_classes: self.num_classes,
            input_shape: self.input_shape(),
            class_names: self.class_names.clone(),
            train_per_class: self.train.class_counts(self.num_classes),
            test_per_class: self.test.class_counts(self.num_classes),
            normalization: self.normalization.clone(),
            augmentation: self.augmentation,
            decoded_cache: self.decoded_cache.clone(),
        }
    }

    /// Assemble a dataset, checking that train and test shapes agree, that there is one
    /// class name per class and that labels are in range, and computing the fingerprint.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: impl Into<String>,
        source: DataSource,
        train: ImageSet,
        test: ImageSet,
        num_classes: usize,
        class_names: Vec<String>,
        normalization: Normalization,
        augmentation: Augmentation,
    ) -> Result<Self> {
        let name = name.into();
        let here = PathBuf::from(source.to_string());
        if train.shape() != test.shape() {
            return Err(DataError::format(
                &here,
                format!(
                    "training images are {:?} but test images are {:?}; expected equal shapes",
                    train.shape(),
                    test.shape()
                ),
            ));
        }
        if class_names.len() != num_classes {
            return Err(DataError::format(
                &here,
                format!(
                    "{} class names for {num_classes} classes",
                    class_names.len()
                ),
            ));
        }
        for (what, set) in [("train", &train), ("test", &test)] {
            if set.images.len() != set.len() * set.image_len() {
                return Err(DataError::format(
                    &here,
                    format!(
                        "{what}: {} pixel bytes for {} images of {} bytes",
                        set.images.len(),
                        set.len(),
                        set.image_len()
                    ),
                ));
            }
            if let Some((index, &label)) = set
                .labels
                .iter()
                .enumerate()
                .find(|(_, &l)| l as usize >= num_classes)
            {
                return Err(DataError::LabelOutOfRange {
                    path: here.join(what),
                    index: index as u64,
                    label,
                    num_classes,
                });
            }
        }
        if normalization.mean.len() != train.channels || normalization.std.len() != train.channels {
            return Err(DataError::format(
                &here,
                format!(
                    "normalisation has {} means and {} stds for {} channels",
                    normalization.mean.len(),
                    normalization.std.len(),
                    train.channels
                ),
            ));
        }
        let fingerprint = fingerprint(&train, &test);
        Ok(Dataset {
            name,
            source,
            train,
            test,
            num_classes,
            class_names,
            normalization,
            augmentation,
            fingerprint,
            decoded_cache: None,
        })
    }
}

/// SHA-256 (hex) identifying a dataset's content independently of its name or location.
///
/// Hashed, for the training set then the test set: a tag, `channels`, `height`, `width` and
/// the number of images (each `u64` little-endian), the labels (`u32` little-endian), then the
/// pixels.
pub fn fingerprint(train: &ImageSet, test: &ImageSet) -> String {
    let mut h = Sha256::new();
    h.update(b"unlearn-data/fingerprint/v1");
    for set in [train, test] {
        for v in [set.channels, set.height, set.width, set.len()] {
            h.update((v as u64).to_le_bytes());
        }
        let mut labels = Vec::with_capacity(set.labels.len() * 4);
        for l in &set.labels {
            labels.extend_from_slice(&l.to_le_bytes());
        }
        h.update(&labels);
        h.update(&set.images);
    }
    hex::encode(h.finalize())
}

/// Where a dataset comes from.
///
/// Parsed from and displayed as `embedded`, `fashion-mnist[:<dir>]`, `mnist[:<dir>]`,
/// `idx:<dir>`, `cifar10[:<dir>]`, `cifar100[:<dir>]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// The Fashion-MNIST subset compiled into this crate (see [`crate::embedded`]).
    Embedded,
    /// Full Fashion-MNIST (IDX files), from `dir` or the default search path.
    FashionMnist {
        /// Directory holding the IDX files; `None` to search.
        dir: Option<PathBuf>,
    },
    /// MNIST (IDX files), from `dir` or the default search path.
    Mnist {
        /// Directory holding the IDX files; `None` to search.
        dir: Option<PathBuf>,
    },
    /// Any 10-class IDX dataset with MNIST file names; normalisation computed from its
    /// training pixels.
    Idx {
        /// Directory holding the IDX files.
        dir: PathBuf,
    },
    /// CIFAR-10 binary version, from `dir` or the default search path.
    Cifar10 {
        /// Directory holding `data_batch_*.bin` (or its parent); `None` to search.
        dir: Option<PathBuf>,
    },
    /// CIFAR-100 binary version, from `dir` or the default search path.
    Cifar100 {
        /// Directory holding `train.bin` / `test.bin` (or its parent); `None` to search.
        dir: Option<PathBuf>,
    },
    /// A torchvision `ImageFolder` layout (see [`crate::imagefolder`]).
    ImageFolder {
        /// The folder holding `train/` and `test/` (or `val/`).
        dir: PathBuf,
        /// Options (`size=H,W`).
        options: ImportOptions,
    },
    /// Parquet shards in the Hugging Face layout (see [`crate::parquet_shards`]).
    Parquet {
        /// A shard, or a folder of shards.
        path: PathBuf,
        /// Options (`size=H,W`, `image=COLUMN`, `label=COLUMN`).
        options: ImportOptions,
    },
    /// A Hugging Face dataset repository's parquet shards (see [`crate::hub`]).
    HubDataset {
        /// `org/name`.
        repo: String,
        /// Branch, tag or commit; `None` for `main`.
        revision: Option<String>,
        /// Options (`size=H,W`, `image=COLUMN`, `label=COLUMN`).
        options: ImportOptions,
    },
}

const ACCEPTED_SOURCES: &str = "expected one of: embedded, fashion-mnist, fashion-mnist:<dir>, \
     mnist, mnist:<dir>, idx:<dir>, cifar10, cifar10:<dir>, cifar100, cifar100:<dir>, \
     imagefolder:<dir>, parquet:<path>, hf://datasets/<org>/<name>[@<revision>]";

impl FromStr for DataSource {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("hf://datasets/") {
            return external::parse_hub(rest, s);
        }
        if let Some(rest) = s.strip_prefix("hf://") {
            return Err(DataError::InvalidSource {
                spec: s.to_string(),
                reason: format!(
                    "a Hugging Face dataset is hf://datasets/<org>/<name>[@<revision>] \
                     (hf://{rest} names a model file: pass it as --checkpoint)"
                ),
            });
        }
        for (kind, columns_allowed) in [("imagefolder:", false), ("parquet:", true)] {
            if let Some(rest) = s.strip_prefix(kind) {
                let (location, options) = external::split_options(rest, s, columns_allowed)?;
                if location.is_empty() {
                    return Err(DataError::InvalidSource {
                        spec: s.to_string(),
                        reason: format!("empty path; expected {kind}<path>"),
                    });
                }
                let location = PathBuf::from(location);
                return Ok(if columns_allowed {
                    DataSource::Parquet {
                        path: location,
                        options,
                    }
                } else {
                    DataSource::ImageFolder {
                        dir: location,
                        options,
                    }
                });
            }
        }
        let (kind, dir) = match s.split_once(':') {
            Some((k, d)) => (k, Some(d)),
            None => (s, None),
        };
        let bad = |reason: &str| DataError::InvalidSource {
            spec: s.to_string(),
            reason: reason.to_string(),
        };
        let dir = match dir {
            Some("") => return Err(bad(&format!("empty directory; {ACCEPTED_SOURCES}"))),
            Some(d) => Some(PathBuf::from(d)),
            None => None,
        };
        Ok(match kind {
            "embedded" => {
                if dir.is_some() {
                    return Err(bad("`embedded` takes no directory"));
                }
                DataSource::Embedded
            }
            "fashion-mnist" => DataSource::FashionMnist { dir },
            "mnist" => DataSource::Mnist { dir },
            "idx" => match dir {
                Some(dir) => DataSource::Idx { dir },
                None => return Err(bad("`idx` needs a directory: idx:<dir>")),
            },
            "cifar10" => DataSource::Cifar10 { dir },
            "cifar100" => DataSource::Cifar100 { dir },
            _ => return Err(bad(&format!("unknown data source; {ACCEPTED_SOURCES}"))),
        })
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, dir) = match self {
            DataSource::ImageFolder { dir, options } => {
                return write!(f, "imagefolder:{}{options}", dir.display())
            }
            DataSource::Parquet { path, options } => {
                return write!(f, "parquet:{}{options}", path.display())
            }
            DataSource::HubDataset {
                repo,
                revision,
                options,
            } => {
                write!(f, "hf://datasets/{repo}")?;
                if let Some(rev) = revision {
                    write!(f, "@{rev}")?;
                }
                return write!(f, "{options}");
            }
            DataSource::Embedded => ("embedded", None),
            DataSource::FashionMnist { dir } => ("fashion-mnist", dir.as_deref()),
            DataSource::Mnist { dir } => ("mnist", dir.as_deref()),
            DataSource::Idx { dir } => ("idx", Some(dir.as_path())),
            DataSource::Cifar10 { dir } => ("cifar10", dir.as_deref()),
            DataSource::Cifar100 { dir } => ("cifar100", dir.as_deref()),
        };
        match dir {
            Some(d) => write!(f, "{kind}:{}", d.display()),
            None => f.write_str(kind),
        }
    }
}

pub(crate) fn cifar_hint(kind: CifarKind) -> String {
    match kind {
        CifarKind::Cifar10 => format!(
            "download the CIFAR-10 binary version (cifar-10-binary.tar.gz from \
             https://www.cs.toronto.edu/~kriz/cifar.html), extract it and pass \
             `cifar10:<dir>` or put `cifar-10-batches-bin` under ${DATA_ENV}"
        ),
        CifarKind::Cifar100 => format!(
            "download the CIFAR-100 binary version (cifar-100-binary.tar.gz from \
             https://www.cs.toronto.edu/~kriz/cifar.html), extract it and pass \
             `cifar100:<dir>` or put `cifar-100-binary` under ${DATA_ENV}"
        ),
    }
}

fn env_dir() -> Option<PathBuf> {
    crate::hub::env_path(DATA_ENV)
}

fn with_env(subdirs: &[&str], include_root: bool, fixed: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(root) = env_dir() {
        out.extend(subdirs.iter().map(|s| root.join(s)));
        if include_root {
            out.push(root);
        }
    }
    out.extend(fixed.iter().map(PathBuf::from));
    out
}

impl DataSource {
    /// The directories [`DataSource::load`] looks in, in order (reads `$UNLEARN_DATA`).
    ///
    /// For an explicit CIFAR directory, the directory itself and its standard
    /// subdirectory (`cifar-10-batches-bin`, `cifar-100-binary`) are tried.
    pub fn search_paths(&self) -> Vec<PathBuf> {
        match self {
            DataSource::Embedded => Vec::new(),
            DataSource::FashionMnist { dir: Some(d) }
            | DataSource::Mnist { dir: Some(d) }
            | DataSource::Idx { dir: d } => vec![d.clone()],
            DataSource::FashionMnist { dir: None } => with_env(
                &["fashion-mnist"],
                true,
                &["/usr/share/datasets/fashion-mnist"],
            ),
            DataSource::Mnist { dir: None } => {
                with_env(&["mnist"], false, &["/usr/share/datasets/mnist"])
            }
            DataSource::Cifar10 { dir: Some(d) } => vec![d.clone(), d.join("cifar-10-batches-bin")],
            DataSource::Cifar10 { dir: None } => {
                with_env(&["cifar-10-batches-bin", "cifar10"], false, &[])
            }
            DataSource::Cifar100 { dir: Some(d) } => vec![d.clone(), d.join("cifar-100-binary")],
            DataSource::Cifar100 { dir: None } => {
                with_env(&["cifar-100-binary", "cifar100"], false, &[])
            }
            DataSource::ImageFolder { dir, .. } => vec![dir.clone()],
            DataSource::Parquet { path, .. } => vec![path.clone()],
            DataSource::HubDataset { .. } => Vec::new(),
        }
    }

    /// Whether this is data a user brings (an image folder, parquet shards, a Hugging Face
    /// dataset), decoded once into the [decoded-image cache](crate::decoded_cache).
    pub fn is_imported(&self) -> bool {
        matches!(
            self,
            DataSource::ImageFolder { .. }
                | DataSource::Parquet { .. }
                | DataSource::HubDataset { .. }
        )
    }

    /// [`DataSource::load`] with the decoded-image cache (and the hub shard lists) under
    /// `cache_root` instead of [`decoded_cache::cache_root`]. Sources that are not imported
    /// use no cache.
    pub fn load_with_cache(&self, cache_root: &Path) -> Result<Dataset> {
        if self.is_imported() {
            external::load(self, cache_root)
        } else {
            self.load()
        }
    }

    /// Load the dataset into memory.
    ///
    /// A dataset that cannot be found gives [`DataError::NotFound`] listing every place
    /// searched and how to install it; malformed files give the specific format errors.
    pub fn load(&self) -> Result<Dataset> {
        match self {
            DataSource::ImageFolder { .. }
            | DataSource::Parquet { .. }
            | DataSource::HubDataset { .. } => external::load(self, &decoded_cache::cache_root()),
            DataSource::Embedded => embedded::load(),
            DataSource::FashionMnist { .. } => {
                let dir = self.locate(idx::is_idx_dir, "Fashion-MNIST", || {
                    format!(
                        "install it with `apt-get install dataset-fashion-mnist` (files under \
                         /usr/share/datasets/fashion-mnist), or put the four IDX files \
                         (optionally .gz) in a directory and pass `fashion-mnist:<dir>` or set \
                         ${DATA_ENV}"
                    )
                })?;
                let (train, test) = idx::read_dir(&dir)?;
                Dataset::new(
                    "fashion-mnist",
                    self.clone(),
                    train,
                    test,
                    10,
                    FASHION_MNIST_CLASSES
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                    Normalization {
                        mean: vec![0.2860],
                        std: vec![0.3530],
                    },
                    Augmentation::None,
                )
            }
            DataSource::Mnist { .. } => {
                let dir = self.locate(idx::is_idx_dir, "MNIST", || {
                    format!(
                        "download the four MNIST IDX files (train-images-idx3-ubyte.gz, \
                         train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, \
                         t10k-labels-idx1-ubyte.gz) into a directory and pass `mnist:<dir>`, or \
                         put them under ${DATA_ENV}/mnist"
                    )
                })?;
                let (train, test) = idx::read_dir(&dir)?;
                Dataset::new(
                    "mnist",
                    self.clone(),
                    train,
                    test,
                    10,
                    (0..10).map(|c| c.to_string()).collect(),
                    Normalization {
                        mean: vec![0.1307],
                        std: vec![0.3081],
                    },
                    Augmentation::None,
                )
            }
            DataSource::Idx { dir } => {
                let (train, test) = idx::read_dir(dir)?;
                let normalization = Normalization::from_images(&train);
                Dataset::new(
                    "idx",
                    self.clone(),
                    train,
                    test,
                    idx::IDX_NUM_CLASSES,
                    (0..idx::IDX_NUM_CLASSES).map(|c| c.to_string()).collect(),
                    normalization,
                    Augmentation::None,
                )
            }
            DataSource::Cifar10 { .. } => self.load_cifar(
                CifarKind::Cifar10,
                "cifar10",
                Normalization {
                    mean: vec![0.4914, 0.4822, 0.4465],
                    std: vec![0.2470, 0.2435, 0.2616],
                },
            ),
            DataSource::Cifar100 { .. } => self.load_cifar(
                CifarKind::Cifar100,
                "cifar100",
                Normalization {
                    mean: vec![0.5071, 0.4865, 0.4409],
                    std: vec![0.2673, 0.2564, 0.2762],
                },
            ),
        }
    }

    fn load_cifar(&self, kind: CifarKind, name: &str, norm: Normalization) -> Result<Dataset> {
        let dir = self.locate(
            |d| cifar::is_cifar_dir(d, kind),
            match kind {
                CifarKind::Cifar10 => "CIFAR-10 (binary version)",
                CifarKind::Cifar100 => "CIFAR-100 (binary version)",
            },
            || {
                let mut h = cifar_hint(kind);
                if env_dir().is_none() {
                    h.push_str(&format!(" (${DATA_ENV} is not set)"));
                }
                h
            },
        )?;
        let (train, test, names) = cifar::read_dir(&dir, kind)?;
        Dataset::new(
            name,
            self.clone(),
            train,
            test,
            kind.num_classes(),
            names,
            norm,
            Augmentation::CropFlip { padding: 4 },
        )
    }

    fn locate(
        &self,
        present: impl Fn(&Path) -> bool,
        what: &str,
        hint: impl FnOnce() -> String,
    ) -> Result<PathBuf> {
        let searched = self.search_paths();
        match searched.iter().find(|d| present(d)) {
            Some(d) => Ok(d.clone()),
            None => Err(DataError::NotFound {
                what: what.to_string(),
                searched,
                hint: hint(),
            }),
        }
    }
}

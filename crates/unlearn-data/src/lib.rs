//! Data for the unlearning toolkit: datasets, forget/retain splits and their manifests.
//!
//! This crate is the first stage of the toolkit's data → model → features → metrics journey
//! and depends on no tensor library: images are plain `u8` buffers ([`ImageSet`], NCHW) and
//! [`ImageSet::batch_f32`] turns a list of indices into an `f32` batch scaled to `[0, 1]`
//! (optionally augmented) that any backend can wrap. A dataset's [`Normalization`] is the
//! default input normalisation of models trained on it; the model applies it.
//!
//! # Datasets
//! A [`DataSource`] (`embedded`, `fashion-mnist[:dir]`, `mnist[:dir]`, `idx:dir`,
//! `cifar10[:dir]`, `cifar100[:dir]`, and the data users bring: `imagefolder:dir`,
//! `parquet:path`, `hf://datasets/org/name[@rev]`) loads into a [`Dataset`]: official train
//! and test sets, class names, normalisation, augmentation, and a content
//! [fingerprint](Dataset::fingerprint) that identifies the data independently of its name or
//! location. Readers check their
//! inputs strictly ([`idx`]: magic numbers, exact lengths, counts, label ranges; [`cifar`]:
//! record sizes, label ranges) and fail with a [`DataError`] naming the file, what was expected
//! and what was found. The [`embedded`] Fashion-MNIST subset (10,000 + 2,000 images) is
//! compiled in, so everything runs without a download.
//!
//! A user's own images are a torchvision-style [`imagefolder`] or Hugging Face
//! [parquet shards](parquet_shards) (local, or a hub repository through [`hub`]). They are
//! decoded once ([`decoded_cache`]), with options after a `?` ([`ImportOptions`]:
//! `size=H,W`, `image=COLUMN`, `label=COLUMN`):
//!
//! ```no_run
//! use unlearn_data::DataSource;
//!
//! let pets = "imagefolder:/data/pets?size=64,64".parse::<DataSource>()?.load()?;
//! println!("{:?} from {:?}", pets.class_names, pets.decoded_cache);
//! let cifar100 = "hf://datasets/uoft-cs/cifar100?label=coarse_label".parse::<DataSource>()?;
//! assert_eq!(cifar100.to_string(), "hf://datasets/uoft-cs/cifar100?label=coarse_label");
//! # Ok::<(), unlearn_data::DataError>(())
//! ```
//!
//! # Splits
//! A [`Scenario`] (`random:p`, `class:c,…`, `backdoor:p,…`, or a forget list imported from
//! `.npy` with [`read_npy_indices`]) and a seed give a [`SplitManifest`] via [`make_split`]:
//! sorted index lists for train/val/retain/forget/test, each hashed, plus the dataset's
//! identity. The manifest is saved as JSON and re-verified on load, so every method and run
//! uses exactly the same samples, and [`SplitManifest::check_dataset`] refuses to apply it to
//! other data. All randomness comes from [`rng::seeded`]`(seed, purpose)`: one independent,
//! portable ChaCha8 stream per purpose.
//!
//! # Example
//! ```
//! use unlearn_data::{make_split, Augmentation, DataSource, SplitConfig};
//!
//! let ds: unlearn_data::Dataset = "embedded".parse::<DataSource>()?.load()?;
//! assert_eq!((ds.train.len(), ds.test.len()), (10_000, 2_000));
//! assert_eq!(ds.input_shape(), [1, 28, 28]);
//!
//! let cfg = SplitConfig { scenario: "random:0.1".parse()?, seed: 0, val_fraction: 0.1 };
//! let split = make_split(&ds, &cfg)?;
//! assert_eq!(split.val.len(), 1_000);
//! assert_eq!(split.train.len(), 9_000);
//! assert_eq!(split.forget.len(), 900);
//! assert_eq!(split.retain.len(), 8_100);
//!
//! // A batch of the first 4 forget images in [0, 1], shape [4, 1, 28, 28].
//! let batch = ds.train.batch_f32(&split.forget[..4], Augmentation::None, None);
//! assert_eq!(batch.len(), 4 * 28 * 28);
//! assert!(batch.iter().all(|v| (0.0..=1.0).contains(v)));
//! # Ok::<(), unlearn_data::DataError>(())
//! ```
#![deny(missing_docs)]

pub mod cifar;
pub mod dataset;
mod decode;
pub mod decoded_cache;
pub mod embedded;
pub mod error;
pub mod external;
pub mod hub;
pub mod idx;
pub mod image;
pub mod imagefolder;
pub mod normalization;
pub mod npy;
pub mod parquet_shards;
pub mod rng;
pub mod scenario;
pub mod split;

pub use dataset::{DataSource, Dataset, DatasetSummary, FASHION_MNIST_CLASSES};
pub use decode::{IMAGE_EXTENSIONS, MAX_DECODED_BYTES, MAX_SIDE};
pub use error::{DataError, Result};
pub use external::ImportOptions;
pub use image::{Augmentation, CropDraw, ImageSet};
pub use normalization::Normalization;
pub use npy::read_npy_indices;
pub use split::{
    make_split, stamp_trigger, triggered_test, BackdoorSpec, DatasetRef, ListHashes, Scenario,
    SplitConfig, SplitManifest,
};

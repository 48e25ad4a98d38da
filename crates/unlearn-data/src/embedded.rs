//! The Fashion-MNIST subset compiled into the crate.
//!
//! `datasets/fashion-mnist-subset/` (at the repository root) holds the first 1,000 training
//! images of each class and the first 200 test images of each class of Fashion-MNIST, in
//! file order (10,000 + 2,000 images, 28×28 grey-scale), as gzipped IDX files produced by
//! `make_subset.py` in that directory, whose README states the rule, the SHA-256 of the
//! source and produced files and the MIT licence of Fashion-MNIST (Zalando Research, Xiao,
//! Rasul & Vollgraf 2017). It needs no download, so the `quick` preset and every test run
//! anywhere.

use std::path::Path;

use crate::dataset::{DataSource, Dataset, FASHION_MNIST_CLASSES};
use crate::error::Result;
use crate::idx;
use crate::image::{Augmentation, ImageSet, Normalization};

/// `train-images-idx3-ubyte.gz` of the subset.
pub const TRAIN_IMAGES_GZ: &[u8] =
    include_bytes!("../../../datasets/fashion-mnist-subset/train-images-idx3-ubyte.gz");
/// `train-labels-idx1-ubyte.gz` of the subset.
pub const TRAIN_LABELS_GZ: &[u8] =
    include_bytes!("../../../datasets/fashion-mnist-subset/train-labels-idx1-ubyte.gz");
/// `t10k-images-idx3-ubyte.gz` of the subset.
pub const TEST_IMAGES_GZ: &[u8] =
    include_bytes!("../../../datasets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz");
/// `t10k-labels-idx1-ubyte.gz` of the subset.
pub const TEST_LABELS_GZ: &[u8] =
    include_bytes!("../../../datasets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz");

/// Name of the embedded dataset.
pub const NAME: &str = "embedded-fashion-mnist";
/// Training images per class in the subset.
pub const TRAIN_PER_CLASS: usize = 1000;
/// Test images per class in the subset.
pub const TEST_PER_CLASS: usize = 200;
/// The [`crate::dataset::fingerprint`] of the embedded dataset.
pub const FINGERPRINT: &str = "1206419e93529abb6078dd501e3c936c516d2e6c0e864ef06dd3fbca3716b2b6";

fn parse(images: &[u8], labels: &[u8], images_name: &str, labels_name: &str) -> Result<ImageSet> {
    let ip = Path::new("<embedded>").join(images_name);
    let lp = Path::new("<embedded>").join(labels_name);
    let imgs = idx::parse_images(&idx::maybe_gunzip(images.to_vec(), &ip)?, &ip)?;
    let labs = idx::parse_labels(
        &idx::maybe_gunzip(labels.to_vec(), &lp)?,
        &lp,
        idx::IDX_NUM_CLASSES,
    )?;
    idx::combine(imgs, labs, &ip, &lp)
}

/// Decode the embedded subset (about 0.1 s).
///
/// Errors only if the embedded bytes were corrupted at build time.
pub fn load() -> Result<Dataset> {
    let train = parse(
        TRAIN_IMAGES_GZ,
        TRAIN_LABELS_GZ,
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    )?;
    let test = parse(
        TEST_IMAGES_GZ,
        TEST_LABELS_GZ,
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )?;
    Dataset::new(
        NAME,
        DataSource::Embedded,
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

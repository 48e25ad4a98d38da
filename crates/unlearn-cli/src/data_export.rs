//! `unlearn data export`: the training images, exactly as a model trains on them, for an
//! independent implementation (the PyTorch parity replays of `scripts/parity/`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use unlearn_data::Augmentation;
use unlearn_models::checkpoint::{self, RawTensor};
use unlearn_ops as ops;

/// Arguments of `unlearn data export`.
#[derive(Args)]
pub struct ExportArgs {
    /// Data source (see `unlearn data info --help`).
    #[arg(long, default_value = "embedded")]
    pub data: String,
    /// A split manifest: with a backdoor scenario, its poisoned samples are exported with
    /// the trigger stamped in and their flipped labels (as training sees them).
    #[arg(long)]
    pub split: Option<PathBuf>,
    /// Output safetensors file: `images` (U8, N×C×H×W), `labels` (I64), `mean` and `std`
    /// (F32, per channel); metadata `augmentation` (`none` or `crop_flip:<padding>`),
    /// `num_classes`, `dataset`, `fingerprint`.
    #[arg(long)]
    pub out: PathBuf,
}

/// `unlearn data export`.
pub fn export(a: ExportArgs, on: ops::OnMismatch) -> Result<()> {
    let _claim = unlearn_io::Claim::new()
        .inputs("--split", a.split.iter())
        .output("--out", &a.out)
        .acquire()?;
    let ds = ops::load_dataset(&a.data)?;
    let images = match &a.split {
        Some(path) => ops::load_split(path, &ds, on)?.poisoned_train(&ds),
        None => ds.train.clone(),
    };
    let [c, h, w] = images.shape();
    let n = images.len();
    let mut tensors = BTreeMap::new();
    tensors.insert(
        "images".to_string(),
        RawTensor {
            dtype: "U8",
            shape: vec![n, c, h, w],
            bytes: images.images.clone(),
        },
    );
    let labels: Vec<u8> = images
        .labels
        .iter()
        .flat_map(|&l| (l as i64).to_le_bytes())
        .collect();
    tensors.insert(
        "labels".to_string(),
        RawTensor {
            dtype: "I64",
            shape: vec![n],
            bytes: labels,
        },
    );
    let f32s = |v: &[f32]| -> RawTensor {
        RawTensor {
            dtype: "F32",
            shape: vec![v.len()],
            bytes: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    };
    tensors.insert("mean".to_string(), f32s(&ds.normalization.mean));
    tensors.insert("std".to_string(), f32s(&ds.normalization.std));
    let mut meta = BTreeMap::new();
    meta.insert(
        "augmentation".to_string(),
        match ds.augmentation {
            Augmentation::None => "none".to_string(),
            Augmentation::CropFlip { padding } => format!("crop_flip:{padding}"),
        },
    );
    meta.insert("num_classes".to_string(), ds.num_classes.to_string());
    meta.insert("dataset".to_string(), ds.source.to_string());
    meta.insert("fingerprint".to_string(), ds.fingerprint.clone());
    checkpoint::write_atomic(&a.out, &checkpoint::safetensors_bytes(&tensors, &meta))?;
    eprintln!(
        "wrote {}: {n} training images {c}×{h}×{w}, {} classes",
        a.out.display(),
        ds.num_classes
    );
    Ok(())
}

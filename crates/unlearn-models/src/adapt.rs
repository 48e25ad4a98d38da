//! Checkpoints from elsewhere mapped onto this toolkit's tensor names.
//!
//! Files without this toolkit's metadata (PyTorch `.pth`, foreign safetensors) are adapted
//! after reading ([`adapt`], called by [`crate::checkpoint::read`]):
//! - kuangliu/pytorch-cifar ResNet names (`layerN.B.shortcut.{0,1}.*`, `linear.*`) become
//!   torchvision's (`downsample.{0,1}`, `fc.*`), each rename recorded;
//! - SalUn-style input normalisation held as `normalize.mean` / `normalize.std` buffers
//!   (after prefix stripping) is taken out of the tensors into
//!   [`LoadedCheckpoint::normalization`] and listed in [`LoadedCheckpoint::dropped`].

use std::path::Path;

use candle_core::Tensor;

use crate::checkpoint::{LoadedCheckpoint, Normalization};
use crate::error::{ModelError, Result};

/// The naming scheme of a checkpoint's tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Naming {
    /// torchvision's names, this toolkit's own (`downsample.*`, `fc.*`).
    #[default]
    Torchvision,
    /// kuangliu/pytorch-cifar's ResNet names (`shortcut.*`, `linear.*`), mapped on reading.
    Kuangliu,
}

/// The tensors holding SalUn-style input normalisation: mean, std.
pub const NORMALIZATION_TENSORS: [&str; 2] = ["normalize.mean", "normalize.std"];

/// Why the normalisation tensors are listed in [`LoadedCheckpoint::dropped`].
pub const NORMALIZATION_REASON: &str = "input normalisation";

/// Why they are listed when the caller gives the normalisation (`--normalize`), which then
/// replaces the file's without its values being judged.
pub const NORMALIZATION_REPLACED: &str = "input normalisation, replaced by --normalize";

/// The naming scheme of `names`: kuangliu if any has a `.shortcut.` part or is
/// `linear.weight`, torchvision otherwise.
pub fn detect<'a>(mut names: impl Iterator<Item = &'a str>) -> Naming {
    if names.any(|n| n.contains(".shortcut.") || n == "linear.weight") {
        Naming::Kuangliu
    } else {
        Naming::Torchvision
    }
}

/// The torchvision name of a kuangliu tensor name (`shortcut.N` → `downsample.N`,
/// `linear.` → `fc.`); other names are returned as they are.
pub fn kuangliu_to_torchvision(name: &str) -> String {
    let name = name.replace(".shortcut.", ".downsample.");
    match name.strip_prefix("linear.") {
        Some(rest) => format!("fc.{rest}"),
        None => name,
    }
}

/// Records `from` → `to`, merged with an earlier rename whose result was `from`, so each
/// entry reads (name in the file, name kept).
fn record_rename(renamed: &mut Vec<(String, String)>, from: &str, to: &str) {
    match renamed.iter_mut().find(|(_, kept)| kept == from) {
        Some(entry) => entry.1 = to.to_string(),
        None => renamed.push((from.to_string(), to.to_string())),
    }
}

/// The file's name of a tensor kept as `name`, and forgets its rename.
fn take_file_name(renamed: &mut Vec<(String, String)>, name: &str) -> String {
    match renamed.iter().position(|(_, kept)| kept == name) {
        Some(i) => renamed.remove(i).0,
        None => name.to_string(),
    }
}

fn values(path: &Path, name: &str, t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?
        .to_vec1::<f32>()
        .map_err(|e| ModelError::BadCheckpoint {
            path: path.to_path_buf(),
            reason: format!("tensor '{name}' is not a vector of f32 ({e})"),
        })
}

/// Adapts a checkpoint without this toolkit's metadata (see the module documentation) and
/// returns the naming it was found in. The normalisation's values are checked (one mean and
/// a positive std per channel); a file with one of the two tensors but not the other is
/// refused.
pub fn adapt(ckpt: &mut LoadedCheckpoint, path: &Path) -> Result<Naming> {
    adapt_with(ckpt, path, false)
}

/// [`adapt`]; with `normalization_given` (the caller has `--normalize`), the file's
/// normalisation tensors are taken out and listed as replaced, without judging their values
/// (a file whose `normalize.std` is 0 loads when `--normalize` overrides it).
pub fn adapt_with(
    ckpt: &mut LoadedCheckpoint,
    path: &Path,
    normalization_given: bool,
) -> Result<Naming> {
    let bad = |reason: String| ModelError::BadCheckpoint {
        path: path.to_path_buf(),
        reason,
    };
    let [mean_name, std_name] = NORMALIZATION_TENSORS;
    match (
        ckpt.tensors.remove(mean_name),
        ckpt.tensors.remove(std_name),
    ) {
        (None, None) => {}
        (mean, std) if normalization_given => {
            for (name, t) in [(mean_name, mean), (std_name, std)] {
                if t.is_some() {
                    let file_name = take_file_name(&mut ckpt.renamed, name);
                    ckpt.dropped
                        .push((file_name, NORMALIZATION_REPLACED.to_string()));
                }
            }
        }
        (Some(mean), Some(std)) => {
            let n = Normalization {
                mean: values(path, mean_name, &mean)?,
                std: values(path, std_name, &std)?,
            };
            n.check(None)
                .map_err(|why| bad(format!("its input normalisation tensors: {why}")))?;
            ckpt.normalization = Some(n);
            for name in NORMALIZATION_TENSORS {
                let file_name = take_file_name(&mut ckpt.renamed, name);
                ckpt.dropped
                    .push((file_name, NORMALIZATION_REASON.to_string()));
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(bad(format!(
                "it has one of '{mean_name}' and '{std_name}' but not the other"
            )))
        }
    }
    let naming = detect(ckpt.tensors.keys().map(String::as_str));
    if naming == Naming::Kuangliu {
        let tensors = std::mem::take(&mut ckpt.tensors);
        for (name, t) in tensors {
            let to = kuangliu_to_torchvision(&name);
            if to != name {
                record_rename(&mut ckpt.renamed, &name, &to);
            }
            if ckpt.tensors.insert(to.clone(), t).is_some() {
                return Err(bad(format!("two tensors map to '{to}'")));
            }
        }
        let counters = std::mem::take(&mut ckpt.counters);
        for (name, v) in counters {
            let to = kuangliu_to_torchvision(&name);
            if to != name {
                record_rename(&mut ckpt.renamed, &name, &to);
            }
            if ckpt.counters.insert(to.clone(), v).is_some() {
                return Err(bad(format!("two counters map to '{to}'")));
            }
        }
    }
    ckpt.naming = naming;
    Ok(naming)
}

//! Per-channel input normalisation: computed from images, checked, parsed from the
//! `--normalize` syntax.

use serde::{Deserialize, Serialize};

use crate::image::ImageSet;

/// The input preprocessing a model expects, applied after scaling pixels to `[0, 1]`:
/// `(x / 255 - mean[c]) / std[c]`.
///
/// The one normalisation type of the toolkit: a dataset carries the one computed from (or
/// published for) its training images, the default for models trained on it; a model
/// applies its own to the `[0, 1]` images it is given, and its checkpoint records it
/// (metadata `input_mean` / `input_std`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per-channel mean (of pixel values scaled to `[0, 1]`).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (of pixel values scaled to `[0, 1]`).
    pub std: Vec<f32>,
}

impl Normalization {
    /// Normalisation computed from the pixels of `set` (per-channel mean and population
    /// standard deviation of `x / 255`). A constant channel gets `std = 1`.
    pub fn from_images(set: &ImageSet) -> Self {
        let c = set.channels.max(1);
        let plane = set.height * set.width;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for img in set.images.chunks_exact(set.image_len().max(1)) {
            for (ch, px) in img.chunks_exact(plane.max(1)).enumerate() {
                let (s, q) = px.iter().fold((0u64, 0u64), |(s, q), &p| {
                    (s + u64::from(p), q + u64::from(p) * u64::from(p))
                });
                sum[ch] += s as f64;
                sq[ch] += q as f64;
            }
        }
        let n = (set.len() * plane).max(1) as f64;
        let mut mean = Vec::with_capacity(c);
        let mut std = Vec::with_capacity(c);
        for ch in 0..c {
            let m = sum[ch] / n / 255.0;
            let var = (sq[ch] / n / (255.0 * 255.0) - m * m).max(0.0);
            let s = var.sqrt();
            mean.push(m as f32);
            std.push(if s > 1e-12 { s as f32 } else { 1.0 });
        }
        Normalization { mean, std }
    }

    /// Checks the values: one mean and one std per channel, all finite, every std > 0, and
    /// (with `channels`) as many channels as the model takes. The error says what is wrong.
    pub fn check(&self, channels: Option<usize>) -> Result<(), String> {
        if self.mean.is_empty() || self.mean.len() != self.std.len() {
            return Err(format!(
                "{} mean values and {} std values: expected one of each per channel",
                self.mean.len(),
                self.std.len()
            ));
        }
        if let Some(c) = channels {
            if self.mean.len() != c {
                return Err(format!(
                    "{} channels of normalisation for a model of {c} input channels",
                    self.mean.len()
                ));
            }
        }
        if let Some(v) = self.mean.iter().find(|v| !v.is_finite()) {
            return Err(format!("mean {v} is not a finite number"));
        }
        if let Some(v) = self.std.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(format!("std {v} is not a positive finite number"));
        }
        // Inputs are multiplied by 1/std in f32: a std below ~2.9e-39 makes that infinite.
        if let Some(v) = self.std.iter().find(|v| !(1.0 / **v).is_finite()) {
            return Err(format!(
                "std {v:e} is too small: 1/std is not a finite f32 (expected std >= {:e})",
                1.0 / f32::MAX
            ));
        }
        Ok(())
    }

    /// Parses `mean=a,b,c,std=d,e,f` (the `--normalize` syntax; `;` may separate the two
    /// parts). A single value is one channel.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let err = || {
            format!("'{text}' is not mean=…,std=… (e.g. mean=0.4914,0.4822,0.4465,std=0.2023,0.1994,0.2010)")
        };
        let rest = text.strip_prefix("mean=").ok_or_else(err)?;
        let (mean, std) = rest
            .split_once(",std=")
            .or_else(|| rest.split_once(";std="))
            .ok_or_else(err)?;
        let nums = |s: &str| -> Result<Vec<f32>, String> {
            s.split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f32>()
                        .map_err(|_| format!("'{v}' in '{text}' is not a number"))
                })
                .collect()
        };
        let n = Self {
            mean: nums(mean)?,
            std: nums(std)?,
        };
        n.check(None)?;
        Ok(n)
    }

    /// `mean=…,std=…`, the form [`Normalization::parse`] reads.
    pub fn to_arg(&self) -> String {
        let join = |v: &[f32]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        format!("mean={},std={}", join(&self.mean), join(&self.std))
    }
}

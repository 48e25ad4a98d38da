//! In-memory image sets and batch assembly (scaling to `[0, 1]` and augmentation).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use crate::normalization::Normalization;

/// A set of labelled images stored as `u8` in NCHW order.
///
/// Image `i` occupies `images[i * image_len() .. (i + 1) * image_len()]`, channel-major
/// (all of channel 0, row by row, then channel 1, ...).
#[derive(Clone, Debug)]
pub struct ImageSet {
    /// Pixels, `len() * channels * height * width` bytes.
    pub images: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u32>,
    /// Channels per image (1 for grey-scale, 3 for RGB).
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
}

/// Training-time augmentation applied by [`ImageSet::batch_f32`] when given an RNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Augmentation {
    /// No augmentation.
    None,
    /// Random crop after zero padding by `padding` pixels on every side, then horizontal flip
    /// with probability 0.5 (torchvision `RandomCrop(size, padding)` + `RandomHorizontalFlip`).
    CropFlip {
        /// Zero padding on each side, in pixels.
        padding: usize,
    },
}

/// One image's augmentation draw under [`Augmentation::CropFlip`]: the top-left corner of
/// the crop window in the zero-padded image (each in `0..=2·padding`), and whether the
/// crop was then flipped horizontally.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CropDraw {
    /// Row of the window's top-left corner in the padded image.
    pub dy: u32,
    /// Column of the window's top-left corner in the padded image.
    pub dx: u32,
    /// Flipped horizontally after cropping.
    pub flip: bool,
}

impl ImageSet {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes per image: `channels * height * width`.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// `[channels, height, width]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// The pixels of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// Number of images of each class `0..num_classes` (labels `>= num_classes` are not counted).
    pub fn class_counts(&self, num_classes: usize) -> Vec<usize> {
        let mut counts = vec![0usize; num_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// A new set holding the images at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn subset(&self, indices: &[u32]) -> ImageSet {
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            images.extend_from_slice(self.image(i as usize));
        }
        ImageSet {
            images,
            labels: self.batch_labels(indices),
            channels: self.channels,
            height: self.height,
            width: self.width,
        }
    }

    /// Gather the images at `indices` into an `f32` batch of shape `[indices.len(), C, H, W]`
    /// (flattened, NCHW) scaled to `[0, 1]`: `x / 255`, as torchvision's `ToTensor` gives.
    /// The model normalises its inputs itself (`unlearn_models::Model::normalization`).
    ///
    /// With `Some(rng)` and [`Augmentation::CropFlip`], each image (in batch order) draws, in
    /// this order, a crop row offset and a crop column offset, each uniform in
    /// `0..=2 * padding`, then a horizontal flip with probability 0.5. Padded pixels are 0
    /// (black), as torchvision's `RandomCrop(padding)` before `ToTensor` gives. With `None`
    /// or [`Augmentation::None`] the images are used as they are and no randomness is drawn.
    ///
    /// # Panics
    /// If an index is out of range (check index lists against the set first, e.g. with
    /// [`crate::SplitManifest::check_dataset`]).
    pub fn batch_f32(
        &self,
        indices: &[u32],
        augmentation: Augmentation,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Vec<f32> {
        self.batch_f32_with_draws(indices, augmentation, rng, &mut Vec::new())
    }

    /// [`ImageSet::batch_f32`], also appending each row's augmentation draw to `draws` (in
    /// batch order; nothing is appended when no augmentation is applied). The draws are what
    /// a step trace records, so that another implementation can rebuild the same batch.
    pub fn batch_f32_with_draws(
        &self,
        indices: &[u32],
        augmentation: Augmentation,
        rng: Option<&mut ChaCha8Rng>,
        draws: &mut Vec<CropDraw>,
    ) -> Vec<f32> {
        let (c, h, w) = (self.channels, self.height, self.width);
        let plane = h * w;
        let table = unit_scale_table();
        let mut out = Vec::with_capacity(indices.len() * self.image_len());
        match (augmentation, rng) {
            (Augmentation::CropFlip { padding }, Some(rng)) => {
                for &i in indices {
                    let img = self.image(i as usize);
                    let dy = rng.random_range(0..=2 * padding as u64) as isize;
                    let dx = rng.random_range(0..=2 * padding as u64) as isize;
                    let flip = rng.random_bool(0.5);
                    draws.push(CropDraw {
                        dy: dy as u32,
                        dx: dx as u32,
                        flip,
                    });
                    let pad = padding as isize;
                    for ch in 0..c {
                        let src = &img[ch * plane..(ch + 1) * plane];
                        let zero = table[0];
                        for y in 0..h as isize {
                            let sy = y + dy - pad;
                            for x in 0..w as isize {
                                let cx = if flip { w as isize - 1 - x } else { x };
                                let sx = cx + dx - pad;
                                let v = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize
                                {
                                    table[src[sy as usize * w + sx as usize] as usize]
                                } else {
                                    zero
                                };
                                out.push(v);
                            }
                        }
                    }
                }
            }
            _ => {
                for &i in indices {
                    let img = self.image(i as usize);
                    for ch in 0..c {
                        out.extend(
                            img[ch * plane..(ch + 1) * plane]
                                .iter()
                                .map(|&p| table[p as usize]),
                        );
                    }
                }
            }
        }
        out
    }

    /// The labels at `indices`, in that order.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn batch_labels(&self, indices: &[u32]) -> Vec<u32> {
        indices.iter().map(|&i| self.labels[i as usize]).collect()
    }
}

/// `v / 255` for every pixel value `v`, in f32 (`ToTensor`'s scaling).
fn unit_scale_table() -> [f32; 256] {
    let mut t = [0f32; 256];
    for (v, out) in t.iter_mut().enumerate() {
        *out = v as f32 / 255.0;
    }
    t
}

"""The toolkit's data export, and the input batch of a trace line.

`unlearn data export` writes safetensors with `images` U8 [N, C, H, W] (the training images
as the original was trained on them), `labels` I64 [N], `mean` F32 [C], `std` F32 [C], and
metadata `augmentation` (`none` or `crop_flip:<padding>`) and `num_classes`.

A batch is `x = (pixel / 255 - mean[c]) / std[c]`, computed in float32 in that order (the
same IEEE operations as `Normalization::table` in `crates/unlearn-data/src/image.rs`, so
the inputs are bit-identical). Augmentation is replayed from the trace, never drawn: each
row is zero-padded by `padding` pixels in pixel space (so padded pixels normalise to
-mean/std), the H x W window whose top-left corner is (dy, dx) in the padded image is
taken, and it is flipped horizontally when `flip` = 1: torchvision's
`RandomCrop(size, padding)` followed by `RandomHorizontalFlip`, the training transform of
Unlearn-Saliency's CIFAR loaders (Classification/dataset.py:549-555).
"""
import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file


class Export:
    def __init__(self, path):
        arrays = load_file(str(path))
        with safe_open(str(path), "np") as f:
            self.meta = dict(f.metadata() or {})
        self.images = arrays["images"]
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"{path}: 'images' must be U8 [N,C,H,W], got {self.images.dtype} {self.images.shape}")
        self.labels = arrays["labels"].astype(np.int64)
        self.mean = arrays["mean"].astype(np.float32)
        self.std = arrays["std"].astype(np.float32)
        n, c, h, w = self.images.shape
        if self.labels.shape != (n,) or self.mean.shape != (c,) or self.std.shape != (c,):
            raise ValueError(f"{path}: labels/mean/std shapes do not match images {self.images.shape}")
        self.channels, self.height, self.width = c, h, w
        aug = self.meta.get("augmentation", "none")
        if aug == "none":
            self.padding = None
        elif aug.startswith("crop_flip:"):
            self.padding = int(aug.split(":", 1)[1])
        else:
            raise ValueError(f"{path}: unknown augmentation '{aug}'")
        self.num_classes = int(self.meta["num_classes"]) if "num_classes" in self.meta else None
        # 256-entry lookup per channel, float32 throughout: (v / 255 - mean) / std.
        v = np.arange(256, dtype=np.float32) / np.float32(255.0)
        self.table = np.stack([(v - self.mean[ch]) / self.std[ch] for ch in range(c)]).astype(np.float32)

    def __len__(self):
        return self.images.shape[0]

    def pixels(self, indices, augment=None) -> np.ndarray:
        """U8 [B, C, H, W]: the rows, cropped and flipped per `augment` (trace form)."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"trace index out of range 0..{len(self)}")
        imgs = self.images[idx]
        if augment is None:
            return imgs
        p = int(augment["padding"])
        crops = augment["crops"]
        if len(crops) != len(idx):
            raise ValueError(f"{len(crops)} crops for {len(idx)} rows")
        _, c, h, w = imgs.shape
        padded = np.zeros((len(idx), c, h + 2 * p, w + 2 * p), dtype=np.uint8)
        padded[:, :, p : p + h, p : p + w] = imgs
        out = np.empty_like(imgs)
        for r, (dy, dx, flip) in enumerate(crops):
            dy, dx = int(dy), int(dx)
            if not (0 <= dy <= 2 * p and 0 <= dx <= 2 * p):
                raise ValueError(f"crop ({dy}, {dx}) outside 0..={2 * p}")
            win = padded[r, :, dy : dy + h, dx : dx + w]
            out[r] = win[:, :, ::-1] if int(flip) else win
        return out

    def normalise(self, pixels: np.ndarray) -> torch.Tensor:
        """float32 [B, C, H, W] from U8 pixels via the per-channel table."""
        b, c, h, w = pixels.shape
        out = np.empty((b, c, h, w), dtype=np.float32)
        for ch in range(c):
            out[:, ch] = self.table[ch][pixels[:, ch]]
        return torch.from_numpy(out)

    def batch(self, indices, augment=None) -> torch.Tensor:
        return self.normalise(self.pixels(indices, augment))

    def true_labels(self, indices) -> torch.Tensor:
        return torch.from_numpy(self.labels[np.asarray(indices, dtype=np.int64)].copy())

    def mean_std(self):
        """mean and std as [1, C, 1, 1] float32 tensors."""
        shape = (1, self.channels, 1, 1)
        return torch.from_numpy(self.mean).reshape(shape), torch.from_numpy(self.std).reshape(shape)

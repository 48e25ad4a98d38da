#!/usr/bin/env python3
"""Writes 60,000 32x32 RGB images three ways, for timing the image-folder and parquet readers
against the CIFAR binary reader on the same pixels (docs/performance.md, "Bring your own
data"): OUT/folder (an ImageFolder of PNGs), OUT/parquet (Hugging Face parquet shards,
written by `datasets`) and OUT/cifar (CIFAR-10 binary batches).

The pixels come from Fashion-MNIST (the Debian package dataset-fashion-mnist, in
/usr/share/datasets/fashion-mnist): its 60,000 training images, padded by 2 pixels to 32x32,
in colour (red: the image; green: it mirrored left to right; blue: it flipped upside down),
split as CIFAR-10 is (50,000 for training, 10,000 for test). These compress better as PNG
than photographs do, so decoding real CIFAR PNGs takes somewhat longer.

Usage: scripts/make_png_benchmark.py OUT      (needs numpy, Pillow and datasets)
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

SRC = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def read_idx(name, offset):
    with gzip.open(os.path.join(SRC, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    grey = read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    labels = read_idx("train-labels-idx1-ubyte.gz", 8)
    grey = np.pad(grey, ((0, 0), (2, 2), (2, 2)))
    rgb = np.stack([grey, grey[:, :, ::-1], grey[:, ::-1, :]], axis=1)  # N, 3, 32, 32
    splits = {"train": (rgb[:50000], labels[:50000]), "test": (rgb[50000:], labels[50000:])}

    cifar = os.path.join(out, "cifar", "cifar-10-batches-bin")
    os.makedirs(cifar, exist_ok=True)
    for split, (x, y) in splits.items():
        records = np.concatenate([y[:, None], x.reshape(len(x), -1)], axis=1).astype(np.uint8)
        if split == "train":
            for b in range(5):
                part = records[b * 10000:(b + 1) * 10000]
                part.tofile(os.path.join(cifar, f"data_batch_{b + 1}.bin"))
        else:
            records.tofile(os.path.join(cifar, "test_batch.bin"))
    with open(os.path.join(cifar, "batches.meta.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")

    for split, (x, y) in splits.items():
        counts = {}
        for img, label in zip(x, y):
            name = CLASSES[label]
            k = counts.get(name, 0)
            counts[name] = k + 1
            folder = os.path.join(out, "folder", split, name)
            if k == 0:
                os.makedirs(folder, exist_ok=True)
            Image.fromarray(img.transpose(1, 2, 0)).save(os.path.join(folder, f"{k:05d}.png"))

    import datasets

    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=CLASSES)})
    os.makedirs(os.path.join(out, "parquet", "data"), exist_ok=True)
    for split, (x, y) in splits.items():
        ds = datasets.Dataset.from_dict(
            {"img": [Image.fromarray(i.transpose(1, 2, 0)) for i in x], "label": y.tolist()},
            features=features,
        )
        ds.to_parquet(os.path.join(out, "parquet", "data", f"{split}-00000-of-00001.parquet"))
    print(f"wrote {out}/folder, {out}/parquet and {out}/cifar")


if __name__ == "__main__":
    main()

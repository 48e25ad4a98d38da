#!/usr/bin/env python3
"""Writes scikit-learn's handwritten digits (UCI optdigits test set, 1,797 images of 8x8,
10 classes; bundled in the scikit-learn wheel, no download) as Fashion-MNIST-style IDX files,
for `unlearn --data idx:<dir>`: data of another kind than the Fashion-MNIST the defaults were
tuned on.

Each image's 0-16 intensities are scaled to 0-255 (x * 255 // 16), upsampled 3x by pixel
repetition to 24x24 and padded by 2 pixels of 0 to 28x28 (MNIST digits are centred in a
20x20 box of a 28x28 frame, so the frame matches the toolkit's 28x28 models). Per class, in
file order, the first 80 % go to train and the rest to test. Files are gzipped
deterministically (mtime=0).

Usage: scripts/make_digits_idx.py OUTPUT_DIR      (needs numpy and scikit-learn)
"""
import gzip
import os
import struct
import sys

import numpy as np
from sklearn.datasets import load_digits


def idx_bytes(array):
    dims = array.shape
    magic = struct.pack(">HBB", 0, 0x08, len(dims))
    return magic + b"".join(struct.pack(">I", d) for d in dims) + array.astype(np.uint8).tobytes()


def write(path, data):
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(data)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    digits = load_digits()
    images = (digits.images.astype(np.int64) * 255 // 16).astype(np.uint8)
    images = np.kron(images, np.ones((3, 3), dtype=np.uint8))
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    labels = digits.target.astype(np.uint8)
    train, test = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        cut = int(round(0.8 * len(idx)))
        train.extend(idx[:cut])
        test.extend(idx[cut:])
    train, test = np.sort(train), np.sort(test)
    write(os.path.join(out, "train-images-idx3-ubyte.gz"), idx_bytes(images[train]))
    write(os.path.join(out, "train-labels-idx1-ubyte.gz"), idx_bytes(labels[train]))
    write(os.path.join(out, "t10k-images-idx3-ubyte.gz"), idx_bytes(images[test]))
    write(os.path.join(out, "t10k-labels-idx1-ubyte.gz"), idx_bytes(labels[test]))
    print(f"wrote {len(train)} train and {len(test)} test images of 28x28 to {out}")


if __name__ == "__main__":
    main()

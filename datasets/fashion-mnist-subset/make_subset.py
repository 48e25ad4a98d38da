#!/usr/bin/env python3
"""Build the Fashion-MNIST subset embedded in `unlearn-data`.

Rule: from the full Fashion-MNIST IDX files (Debian package `dataset-fashion-mnist`,
installed under /usr/share/datasets/fashion-mnist), keep the first 1,000 training images
of each class in file order (10,000 images) and the first 200 test images of each class
in file order (2,000 images), preserving file order. Outputs are IDX files gzipped
deterministically (mtime=0, no file name in the header, compression level 9).

Usage: python3 make_subset.py [SOURCE_DIR] [OUTPUT_DIR]
"""
import gzip
import hashlib
import io
import os
import struct
import sys

import numpy as np

SRC = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
PER_CLASS = {"train": 1000, "t10k": 200}


def read_idx(path, magic_expected):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    assert magic == magic_expected, (path, magic)
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    assert arr.size == int(np.prod(dims)), path
    return arr.reshape(dims)


def write_idx_gz(path, arr, magic):
    raw = io.BytesIO()
    raw.write(struct.pack(">I", magic))
    for d in arr.shape:
        raw.write(struct.pack(">I", d))
    raw.write(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
    with open(path, "wb") as fh:
        with gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=9, mtime=0) as gz:
            gz.write(raw.getvalue())


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    for split, per_class in PER_CLASS.items():
        img_in = os.path.join(SRC, f"{split}-images-idx3-ubyte.gz")
        lab_in = os.path.join(SRC, f"{split}-labels-idx1-ubyte.gz")
        images = read_idx(img_in, 2051)
        labels = read_idx(lab_in, 2049)
        assert len(images) == len(labels)
        keep = np.zeros(len(labels), dtype=bool)
        for c in range(10):
            idx = np.flatnonzero(labels == c)
            assert len(idx) >= per_class, (split, c, len(idx))
            keep[idx[:per_class]] = True
        img_out = os.path.join(OUT, f"{split}-images-idx3-ubyte.gz")
        lab_out = os.path.join(OUT, f"{split}-labels-idx1-ubyte.gz")
        write_idx_gz(img_out, images[keep], 2051)
        write_idx_gz(lab_out, labels[keep], 2049)
        for p in (img_in, lab_in, img_out, lab_out):
            print(f"{sha256(p)}  {p}")
        print(f"{split}: kept {int(keep.sum())} of {len(labels)}")


if __name__ == "__main__":
    main()

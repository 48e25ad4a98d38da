#!/usr/bin/env python3
"""Writes the fixtures of the image-folder and parquet readers (`crates/unlearn-data/tests/
fixtures/import/`) and, with --digits, scikit-learn's whole digits set as a user would bring
it (an ImageFolder of PNGs and Hugging Face parquet shards).

The images are scikit-learn's handwritten digits (bundled in its wheel: no download), each
0-16 intensity scaled to 0-255 (x * 255 // 16). Pillow encodes the PNG/JPEG/BMP/WebP files
and the Hugging Face `datasets` library writes the parquet shards (its `Image` and
`ClassLabel` features, the schema metadata it writes itself), so the readers are checked
against files made by the tools users make them with.

`expected.json` holds what an independent reader (Pillow and numpy) sees in them: the class
names, the split sizes, the toolkit's dataset fingerprint computed here with hashlib on
Pillow's pixels, the per-channel mean and std of the training pixels, and the decoded
pixels of the small colour images.

Usage:
  scripts/make_import_fixtures.py                      # rewrite the committed fixtures
  scripts/make_import_fixtures.py --digits OUT_DIR     # OUT_DIR/folder and OUT_DIR/parquet
                                                       # (all 1,797 digits at 28x28)

Needs numpy, scikit-learn, Pillow and datasets (pip install numpy scikit-learn pillow datasets).
"""
import hashlib
import io
import json
import os
import shutil
import struct
import sys

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "crates", "unlearn-data", "tests", "fixtures", "import")

# Class folder names whose sorted order differs from the digit order: the reader must
# number classes by sorted folder name, as torchvision's ImageFolder does.
NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
SORTED = sorted(NAMES)


def digits(upsample_to_28):
    d = load_digits()
    images = (d.images.astype(np.int64) * 255 // 16).astype(np.uint8)
    if upsample_to_28:
        images = np.pad(images.repeat(3, axis=1).repeat(3, axis=2), ((0, 0), (2, 2), (2, 2)))
    return images, d.target


def pick(images, targets, per_class_train, per_class_test):
    """Per class (in sorted-name order), the first images of that digit for train and the
    next ones for test; None for 'all', split 80/20 in file order."""
    train, test = [], []
    for name in SORTED:
        digit = NAMES.index(name)
        idx = np.flatnonzero(targets == digit)
        if per_class_train is None:
            cut = int(len(idx) * 0.8)
            tr, te = idx[:cut], idx[cut:]
        else:
            tr = idx[:per_class_train]
            te = idx[per_class_train:per_class_train + per_class_test]
        train += [(images[i], SORTED.index(name), name) for i in tr]
        test += [(images[i], SORTED.index(name), name) for i in te]
    return train, test


def write_folder(root, splits):
    for split, items in splits.items():
        counter = {}
        for image, _, name in items:
            k = counter.get(name, 0)
            counter[name] = k + 1
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            Image.fromarray(image, mode="L").save(os.path.join(folder, f"{k:04d}.png"))


def write_parquet(root, splits, shards, compressions):
    import datasets
    import pyarrow.parquet as pq

    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=SORTED)}
    )
    os.makedirs(os.path.join(root, "data"), exist_ok=True)
    for split, items in splits.items():
        n = shards[split]
        bounds = np.linspace(0, len(items), n + 1).astype(int)
        for s in range(n):
            part = items[bounds[s]:bounds[s + 1]]
            ds = datasets.Dataset.from_dict(
                {
                    "image": [Image.fromarray(im, mode="L") for im, _, _ in part],
                    "label": [label for _, label, _ in part],
                },
                features=features,
            )
            path = os.path.join(root, "data", f"{split}-{s:05d}-of-{n:05d}.parquet")
            ds.to_parquet(path)
            codec = compressions[split][s]
            if codec != "datasets":
                # Re-encoded by pyarrow with another codec; the schema metadata is kept.
                pq.write_table(pq.read_table(path), path, compression=codec)


def fingerprint(train, test):
    """The toolkit's dataset fingerprint (unlearn_data::dataset::fingerprint), computed here
    from Pillow's pixels."""
    h = hashlib.sha256(b"unlearn-data/fingerprint/v1")
    for items in (train, test):
        c = 1
        hh, ww = items[0][0].shape
        for v in (c, hh, ww, len(items)):
            h.update(struct.pack("<Q", v))
        h.update(b"".join(struct.pack("<I", label) for _, label, _ in items))
        h.update(b"".join(im.tobytes() for im, _, _ in items))
    return h.hexdigest()


def colour_fixtures(root):
    """A grey PNG, an RGB PNG, an RGB JPEG, a grey BMP and an RGB WebP, all 4x4: one colour
    image makes every image RGB."""
    rng = np.random.default_rng(7)
    files = {
        "train/a/grey.png": ("L", "PNG"),
        "train/b/rgb.png": ("RGB", "PNG"),
        "test/a/grey.bmp": ("L", "BMP"),
        "test/b/photo.jpg": ("RGB", "JPEG"),
        "test/b/lossless.webp": ("RGB", "WEBP"),
    }
    expected = {}
    for rel, (mode, fmt) in files.items():
        shape = (4, 4) if mode == "L" else (4, 4, 3)
        pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
        if fmt == "JPEG":
            pixels = np.full(shape, 0, np.uint8) + np.array([200, 60, 30], np.uint8)
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        kwargs = {"quality": 95} if fmt == "JPEG" else {}
        if fmt == "WEBP":
            kwargs = {"lossless": True}
        Image.fromarray(pixels, mode=mode).save(path, fmt, **kwargs)
        decoded = np.asarray(Image.open(path).convert("RGB"))  # H, W, 3
        expected[rel] = decoded.transpose(2, 0, 1).reshape(-1).tolist()  # C, H, W
    return expected


def bad_label_shards(root, label, with_names):
    """Hugging Face-style shards whose one label is out of range: pyarrow, since `datasets`
    refuses to encode such a label."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(buf, "PNG")
    png = buf.getvalue()
    meta = {"image": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": ["a", "b"]}}
    os.makedirs(root, exist_ok=True)
    for split, labels in (("train", [0, 1, label]), ("test", [0, 1])):
        table = pa.table(
            {
                "image": pa.array(
                    [{"bytes": png, "path": None}] * len(labels),
                    pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
                ),
                "label": pa.array(labels, pa.int64()),
            }
        )
        if with_names:
            table = table.replace_schema_metadata(
                {"huggingface": json.dumps({"info": {"features": meta}})}
            )
        pq.write_table(table, os.path.join(root, f"{split}-00000-of-00001.parquet"))


def two_label_shards(root):
    """CIFAR-100's shape: one image column and two ClassLabel columns (fine and coarse)."""
    import datasets

    features = datasets.Features(
        {
            "img": datasets.Image(),
            "fine_label": datasets.ClassLabel(names=["f0", "f1", "f2"]),
            "coarse_label": datasets.ClassLabel(names=["c0", "c1"]),
        }
    )
    os.makedirs(root, exist_ok=True)
    for split, n in (("train", 6), ("test", 3)):
        ds = datasets.Dataset.from_dict(
            {
                "img": [Image.fromarray(np.full((8, 8), 30 * i, np.uint8), mode="L") for i in range(n)],
                "fine_label": [i % 3 for i in range(n)],
                "coarse_label": [i % 2 for i in range(n)],
            },
            features=features,
        )
        ds.to_parquet(os.path.join(root, f"{split}-00000-of-00001.parquet"))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--digits":
        out = sys.argv[2]
        images, targets = digits(upsample_to_28=True)
        train, test = pick(images, targets, None, None)
        write_folder(os.path.join(out, "folder"), {"train": train, "test": test})
        write_parquet(
            os.path.join(out, "parquet"),
            {"train": train, "test": test},
            {"train": 2, "test": 1},
            {"train": ["snappy", "snappy"], "test": ["snappy"]},
        )
        print(f"{len(train)} train and {len(test)} test images in {out}/folder and {out}/parquet")
        print(f"fingerprint {fingerprint(train, test)}")
        return
    if len(sys.argv) != 1:
        sys.exit(__doc__)
    shutil.rmtree(OUT, ignore_errors=True)
    images, targets = digits(upsample_to_28=False)
    train, test = pick(images, targets, 12, 4)
    splits = {"train": train, "test": test}
    write_folder(os.path.join(OUT, "digits-folder"), splits)
    write_parquet(
        os.path.join(OUT, "digits-parquet"),
        splits,
        {"train": 2, "test": 1},
        {"train": ["datasets", "snappy"], "test": ["zstd"]},
    )
    colour = colour_fixtures(os.path.join(OUT, "colour-folder"))
    odd = np.arange(6 * 7, dtype=np.uint8).reshape(6, 7)
    Image.fromarray(odd, mode="L").save(os.path.join(OUT, "odd-size-7x6.png"))
    bad_label_shards(os.path.join(OUT, "label-10-of-2"), 10, True)
    bad_label_shards(os.path.join(OUT, "label-minus-1"), -1, False)
    two_label_shards(os.path.join(OUT, "two-labels"))

    pixels = np.stack([im for im, _, _ in train]).astype(np.float64) / 255.0
    expected = {
        "class_names": SORTED,
        "num_train": len(train),
        "num_test": len(test),
        "input_shape": [1, 8, 8],
        "fingerprint": fingerprint(train, test),
        "mean": [float(pixels.mean())],
        "std": [float(pixels.std())],
        "colour_pixels": colour,
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""PyTorch files users actually have (issue #33): the small CNN of `small-cnn-1x4x4.pth`
(1x4x4 input, 10 classes) saved in the pickle protocols, memory layouts and byte orders that
torch.save produces, plus files whose refusal must name the right thing.

Into crates/unlearn-models/tests/fixtures/pth/layouts/ (tests: tests/pth_layouts.rs):

  proto4.pth, proto5.pth     torch.save(sd, f, pickle_protocol=4 / 5): FRAME, SHORT_BINUNICODE,
                             MEMOIZE, STACK_GLOBAL …
  proto4.legacy.pth          the legacy (non-zip) format with pickle protocol 4
  channels-last.pth          every 4-D weight in torch.channels_last memory format
  strided.pth                every tensor a step-2 view from element 1 of a storage twice its
                             size; fc.weight also transposed (Fortran order)
  expanded.pth               conv1.bias and fc.bias expanded from one value (stride 0); its
                             logits are in layouts-expected.json ("expanded")
  big-endian.pth             small-cnn-1x4x4.pth with archive/byteorder = "big" and every
                             storage byte-swapped (what torch.save writes on a big-endian
                             machine; torch.load reads it back, checked here)
  big-endian-mixed.pth       float16, bfloat16, float64 and int64 tensors, byte-swapped; their
                             values are in layouts-expected.json ("mixed")
  byteorder-middle.pth       the mixed file with archive/byteorder = "middle": must be refused
  torchscript.pt             torch.jit.trace of the same network, torch.jit.save'd
  complex.pth, bool.pth      a complex64 and a bool tensor beside a float one
  normalize-std0.pth         small-cnn-salun.pth with normalize.std = 0
  normalize-nan.pth          small-cnn-salun.pth with normalize.std = NaN
  layouts-expected.json      the inputs and logits of the files whose weights differ from
                             small-cnn-1x4x4.pth, and the mixed file's values

The other files hold small-cnn-1x4x4.pth's weights, so their logits are expected.json's.
And into tests/fuzz-corpus/pth/ (seeds of the fuzz pass):

  bad-deep-nesting.pth       a torch.save zip whose data.pkl nests 1,500 lists (the reader
                             refuses past 1,000)
  bad-huge-shape.pth         a 100000x100000 tensor expanded from one stored value
  proto4.pth                 a state dict in pickle protocol 4

Usage: pip install torch; python3 scripts/make_pth_layout_fixtures.py
"""
import io
import json
import os
import struct
import sys
import zipfile

import torch
import torch.nn.functional as F

PTH = "crates/unlearn-models/tests/fixtures/pth"
OUT = os.path.join(PTH, "layouts")
FUZZ = "tests/fuzz-corpus/pth"


def forward(sd, x):
    """The small CNN of make_pth_fixtures.py, functional."""
    x = F.max_pool2d(F.relu(F.conv2d(x, sd["conv1.weight"], sd["conv1.bias"], padding=1)), 2)
    x = F.max_pool2d(F.relu(F.conv2d(x, sd["conv2.weight"], sd["conv2.bias"], padding=1)), 2)
    x = F.relu(F.linear(x.flatten(1), sd["fc1.weight"], sd["fc1.bias"]))
    return F.linear(x, sd["fc.weight"], sd["fc.bias"])


def step2(t):
    """A view of `t` with every stride doubled, from element 1 of a storage twice its size."""
    base = torch.zeros(2 * t.numel() + 1, dtype=t.dtype)
    view = base[1:].as_strided(t.shape, tuple(2 * s for s in t.contiguous().stride()), 1)
    view.copy_(t)
    return view


def rewrite_zip(src, dst, change):
    """Copies the zip `src` to `dst` (stored entries), passing every entry through
    `change(name, bytes) -> bytes`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            zout.writestr(zipfile.ZipInfo(info.filename), data)


def byte_swapped(src, dst, elem_size_of, order="big"):
    """`src` with archive/byteorder = `order` and every storage byte-swapped."""
    def change(name, data):
        if name.endswith("/byteorder"):
            return order.encode()
        if "/data/" in name and order == "big":
            size = elem_size_of(name.rsplit("/", 1)[1])
            out = bytearray(data)
            for i in range(0, len(out), size):
                out[i:i + size] = out[i:i + size][::-1]
            return bytes(out)
        return data
    rewrite_zip(src, dst, change)


def storage_sizes(sd):
    """Storage key → element size, as torch.save numbers the storages (order of first use)."""
    sizes, seen = {}, []
    for t in sd.values():
        ptr = t.untyped_storage().data_ptr()
        if ptr not in seen:
            seen.append(ptr)
            sizes[str(len(seen) - 1)] = t.element_size()
    return sizes


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = torch.load(os.path.join(PTH, "small-cnn-1x4x4.pth"))
    want = json.load(open(os.path.join(PTH, "expected.json")))
    x = torch.tensor(want["inputs"]["values"]).reshape(3, 1, 4, 4)
    path = lambda name: os.path.join(OUT, name)

    torch.save(sd, path("proto4.pth"), pickle_protocol=4)
    torch.save(sd, path("proto5.pth"), pickle_protocol=5)
    torch.save(sd, path("proto4.legacy.pth"), _use_new_zipfile_serialization=False, pickle_protocol=4)
    torch.save({k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                for k, v in sd.items()}, path("channels-last.pth"))
    strided = {k: step2(v) for k, v in sd.items()}
    strided["fc.weight"] = step2(sd["fc.weight"].t().contiguous()).t()
    torch.save(strided, path("strided.pth"))

    expanded = dict(sd)
    expanded["conv1.bias"] = torch.tensor([0.05]).expand(32)
    expanded["fc.bias"] = torch.tensor([-0.1]).expand(10)
    torch.save(expanded, path("expanded.pth"))

    plain = os.path.join(PTH, "small-cnn-1x4x4.pth")
    byte_swapped(plain, path("big-endian.pth"), lambda key: 4)
    mixed = {
        "half": torch.tensor([1.5, -2.25, 65504.0], dtype=torch.float16),
        "bf16": torch.tensor([0.5, -3.0], dtype=torch.bfloat16),
        "double": torch.tensor([[0.1, -2.5], [3.25, 1e30]], dtype=torch.float64),
        "bn.num_batches_tracked": torch.tensor(258, dtype=torch.int64),
    }
    torch.save(mixed, path("mixed.tmp"))
    sizes = storage_sizes(mixed)
    byte_swapped(path("mixed.tmp"), path("big-endian-mixed.pth"), lambda key: sizes[key])
    byte_swapped(path("mixed.tmp"), path("byteorder-middle.pth"), lambda key: sizes[key], order="middle")
    os.remove(path("mixed.tmp"))
    for name, ref in [("big-endian.pth", sd), ("big-endian-mixed.pth", mixed)]:
        back = torch.load(path(name))
        assert all(torch.equal(back[k], ref[k]) for k in ref), name

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.Linear(8, 10))
    torch.jit.trace(net, torch.zeros(1, 1, 4, 4)).save(path("torchscript.pt"))
    torch.save({"fc.weight": sd["fc.weight"], "phase": torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64)},
               path("complex.pth"))
    torch.save({"fc.weight": sd["fc.weight"], "mask": torch.tensor([True, False, True])}, path("bool.pth"))
    salun = torch.load(os.path.join(PTH, "small-cnn-salun.pth"))
    salun["state_dict"]["module.normalize.std"] = torch.zeros(1)
    torch.save(salun, path("normalize-std0.pth"))
    salun["state_dict"]["module.normalize.std"] = torch.tensor([float("nan")])
    torch.save(salun, path("normalize-nan.pth"))

    expected = {
        "inputs": want["inputs"],
        "expanded": forward(expanded, x).flatten().tolist(),
        "strided": forward(strided, x).flatten().tolist(),
        "mixed": {k: v.double().flatten().tolist() for k, v in mixed.items()},
    }
    with open(path("layouts-expected.json"), "w") as f:
        json.dump(expected, f, indent=1)

    os.makedirs(FUZZ, exist_ok=True)
    torch.save({"w": torch.zeros(1).expand(100000, 100000)}, os.path.join(FUZZ, "bad-huge-shape.pth"))
    torch.save({"conv1.weight": torch.randn(2, 1, 3, 3), "fc.bias": torch.randn(2).half()},
               os.path.join(FUZZ, "proto4.pth"), pickle_protocol=4)
    depth = 1500
    deep = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."
    rewrite_zip(os.path.join(FUZZ, "state-dict.pth"), os.path.join(FUZZ, "bad-deep-nesting.pth"),
                lambda name, data: deep if name.endswith("/data.pkl") else data)


if __name__ == "__main__":
    sys.exit(main())

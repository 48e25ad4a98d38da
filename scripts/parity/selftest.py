"""Plumbing test of the replays on synthetic inputs (no Rust binary needed).

    python3 scripts/parity/selftest.py [--all]

Writes, in a temporary folder, a small checkpoint with the toolkit's names and metadata, a
data export, a record and a trace for every method, drawn the way the Rust side is meant
to draw them; replays each, feeds the replay's own losses back as the trace's, saves the
replayed weights as the "Rust" output, and checks that a second replay agrees exactly
(losses, weights). Also checks the crop/flip replay against torchvision, strict loading
of every architecture, SalUn's restore of masked weights, and BE's shadow row.
"""
import json
import os
import pathlib
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file as save_np
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from parity import methods as M  # noqa: E402
from parity.data import Export  # noqa: E402
from parity.models import build, load_model, read_state  # noqa: E402
from parity.replay import compare, replay  # noqa: E402

C, SHAPE, N, PAD = 5, [3, 8, 8], 40, 2
FORGET = list(range(0, 10))
RETAIN = list(range(10, N))


def write_ckpt(path, net, arch, shape, classes):
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    meta = {
        "format": "unlearn-checkpoint/1",
        "arch": arch,
        "num_classes": str(classes),
        "input_shape": "[" + ",".join(str(v) for v in shape) + "]",
        "feature_dim": "0",
    }
    save_file(state, str(path), metadata=meta)


def write_export(path, rng):
    images = rng.integers(0, 256, size=[N] + SHAPE, dtype=np.uint8)
    labels = rng.integers(0, C, size=N).astype(np.int64)
    arrays = {
        "images": images,
        "labels": labels,
        "mean": np.array([0.49, 0.48, 0.45], dtype=np.float32),
        "std": np.array([0.25, 0.24, 0.26], dtype=np.float32),
    }
    save_np(arrays, str(path), metadata={"augmentation": f"crop_flip:{PAD}", "num_classes": str(C)})


def batches(rows, bs, rng):
    rows = list(rng.permutation(rows))
    return [[int(i) for i in rows[s : s + bs]] for s in range(0, len(rows), bs)]


def aug(n, rng):
    return {"padding": PAD, "crops": [[int(rng.integers(0, 2 * PAD + 1)), int(rng.integers(0, 2 * PAD + 1)), int(rng.integers(0, 2))] for _ in range(n)]}


def make_trace(method, params, export, ctx_model, tdir, rng):
    lines = []
    bs = params["batch_size"]

    def add(epoch, stage, rows, labels, lr, **extra):
        lines.append({"step": len(lines), "epoch": epoch, "stage": stage, "indices": rows, "labels": labels, "augment": aug(len(rows), rng), "lr": lr, "loss": float("nan"), **extra})

    true = lambda rows: [int(export.labels[i]) for i in rows]  # noqa: E731
    E = params["epochs"]
    if method in ("ft", "l1"):
        for e in range(E):
            for b in batches(RETAIN, bs, rng):
                extra = {"l1_alpha": M.l1_alpha(params, e)} if method == "l1" else {}
                add(e, "retain", b, true(b), params["lr"], **extra)
    elif method in ("ga", "be", "bs"):
        for e in range(E):
            for b in batches(FORGET, bs, rng):
                add(e, "forget", b, [C] * len(b) if method == "be" else true(b), params["lr"])
    elif method in ("rl", "salun"):
        for e in range(E):
            for b in batches(FORGET, bs, rng):
                add(e, "forget", b, [int(v) for v in rng.integers(0, C, len(b))], params["lr"])
            for b in batches(RETAIN, bs, rng):
                add(e, "retain", b, true(b), params["lr"])
    elif method == "neggrad+":
        for e in range(E):
            fb = batches(FORGET, bs, rng)
            fa = [aug(len(b), rng) for b in fb]
            for i, b in enumerate(batches(RETAIN, bs, rng)):
                f = fb[i % len(fb)]
                add(e, "retain", b, true(b), params["lr"], pair={"stage": "forget", "indices": f, "labels": true(f), "augment": fa[i % len(fb)]})
    elif method == "scrub":
        for e in range(E):
            lr = M.scrub_lr(params, e)
            if e < params["max_epochs"]:
                for b in batches(FORGET, params["forget_batch_size"], rng):
                    add(e, "max", b, true(b), lr, temperature=params["temperature"])
            for b in batches(RETAIN, bs, rng):
                add(e, "min", b, true(b), lr, temperature=params["temperature"])
    if method == "be":
        d = ctx_model.fc.in_features
        lines[0]["shadow"] = {"weight": [float(v) for v in rng.normal(0, 0.1, d)], "bias": 0.05}
    if method == "salun":
        lines[0]["mask_file"] = "mask.safetensors"
    return lines


def relabel_bs(lines, ckpt, export_path, params):
    """The trace's BS labels, as the Rust side should produce them."""
    model, spec = load_model(ckpt)
    ex = Export(export_path)
    ctx = M.Ctx(model, spec, ex, params, lines, "trace.jsonl")
    for l in lines:
        pix = ex.pixels(l["indices"], l["augment"])
        y = ex.true_labels(l["indices"])
        lab = M.fgsm_labels(ctx, ex.normalise(pix), pix, y, params["eps"])
        l["labels"] = [int(v) for v in lab]
        l["flipped"] = int((lab != y).sum())


def write_mask(path, ckpt, export_path, params):
    model, spec = load_model(ckpt)
    ex = Export(export_path)
    ctx = M.Ctx(model, spec, ex, params, [], "trace.jsonl")
    sal = M.saliency(ctx, FORGET, params["batch_size"])
    mask, k = M.reference_mask(sal, params["sparsity"])
    save_file({n: t.contiguous() for n, t in mask.items()}, str(path))
    return k


PARAMS = {
    "ft": {},
    "ga": {},
    "l1": {"alpha": 5e-4, "no_l1_epochs": 1},
    "neggrad+": {"beta": 0.95},
    "rl": {},
    "salun": {"sparsity": 0.5},
    "bs": {"eps": 0.1},
    "be": {},
    "scrub": {"temperature": 4.0, "alpha": 0.001, "gamma": 0.99, "max_epochs": 1, "forget_batch_size": 4, "lr_decay_epochs": "1", "lr_decay_rate": 0.1},
}


def check_augmentation():
    import torchvision.transforms.functional as TF

    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "data.safetensors")
        write_export(p, rng)
        ex = Export(p)
        a = aug(6, rng)
        rows = [3, 0, 7, 7, 12, 39]
        ours = ex.pixels(rows, a)
        for r, (dy, dx, fl) in zip(range(6), a["crops"]):
            img = torch.from_numpy(ex.images[rows[r]])
            ref = TF.crop(TF.pad(img, [PAD]), dy, dx, SHAPE[1], SHAPE[2])
            if fl:
                ref = TF.hflip(ref)
            assert np.array_equal(ours[r], ref.numpy()), f"row {r}"
        x = ex.batch(rows, a)
        # padded pixels normalise to -mean/std
        zero = (np.float32(0) - ex.mean) / ex.std
        dy, dx, _ = a["crops"][0]
        assert x.dtype == torch.float32 and x.shape == (6, *SHAPE)
        # the table is exact float32 arithmetic
        v = np.float32(200) / np.float32(255)
        assert ex.table[1][200] == (v - ex.mean[1]) / ex.std[1]
        del zero, dy, dx
    print("augmentation: matches torchvision pad/crop/hflip")


def check_archs():
    with tempfile.TemporaryDirectory() as d:
        for arch, shape in [("small-cnn", [1, 28, 28]), ("resnet18-cifar", [3, 32, 32]), ("resnet18", [1, 28, 28]), ("vit-tiny", [1, 28, 28])]:
            net = build(arch, shape, 10)
            p = os.path.join(d, f"{arch}.safetensors")
            write_ckpt(p, net, arch, shape, 10)
            m, spec = load_model(p)
            st = read_state(p)
            for k, v in m.state_dict().items():
                assert torch.equal(v, st[k]), k
            assert spec["arch"] == arch
    print("architectures: strict load of small-cnn, resnet18-cifar, resnet18, vit-tiny")


def run_method(method, arch, d, rng):
    torch.manual_seed(0)
    net = build(arch, SHAPE, C)
    if arch != "small-cnn":
        # give BatchNorm running statistics something other than 0/1
        net.train()
        with torch.no_grad():
            net(torch.randn(8, *SHAPE))
    ckpt = os.path.join(d, "original.safetensors")
    write_ckpt(ckpt, net, arch, SHAPE, C)
    export_path = os.path.join(d, "data.safetensors")
    params = {"lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "batch_size": 4, "epochs": 2, "retain_budget": 1.0, **PARAMS[method]}
    record = {"method": method, "seed": 0, "params": params}
    with open(os.path.join(d, "record.json"), "w") as f:
        json.dump(record, f)
    ex = Export(export_path)
    lines = make_trace(method, params, ex, net, d, rng)
    if method == "bs":
        relabel_bs(lines, ckpt, export_path, params)
    if method == "salun":
        lines[0]["mask_kept"] = write_mask(os.path.join(d, "trace.jsonl.mask.safetensors"), ckpt, export_path, params)
    tpath = os.path.join(d, "trace.jsonl")

    def dump():
        with open(tpath, "w") as f:
            for l in lines:
                f.write(json.dumps(l) + "\n")

    dump()
    state, rep = replay(ckpt, export_path, os.path.join(d, "record.json"), tpath)
    for l, v in zip(lines, rep["losses"]):
        l["loss"] = v
    dump()
    rust = os.path.join(d, "unlearned.safetensors")
    save_file({k: v.contiguous() for k, v in state.items()}, rust)
    state2, rep2 = replay(ckpt, export_path, os.path.join(d, "record.json"), tpath)
    x = compare(state2, rust)
    assert x == 0.0, (method, x)
    assert rep2["loss"]["max_rel_diff"] == 0.0, rep2["loss"]
    assert rep2["lr"]["mismatched_steps"] == 0, rep2["lr"]
    assert rep2.get("true_labels", {}).get("mismatched", 0) == 0
    moved = compare(read_state(ckpt), rust)
    assert moved > 0, method
    if method == "salun":
        m = rep2["mask"]
        assert m["entries_differing_from_reference_mask"] == 0 and m["same_count_as_reference"], m
        mask = read_state(os.path.join(d, "trace.jsonl.mask.safetensors"))
        orig = read_state(ckpt)
        for k, mk in mask.items():
            frozen = mk == 0
            assert torch.equal(state2[k][frozen], orig[k][frozen]), k
    if method == "bs":
        assert rep2["bs_labels"]["agreement"] == 1.0, rep2["bs_labels"]
    if method in ("rl", "salun"):
        assert rep2["forget_before_retain_each_epoch"]
        assert rep2["forget_targets"]["in_0_to_C"] == rep2["forget_targets"]["rows"]
    if method == "be":
        assert state2["fc.weight"].shape[0] == C
        assert rep2["be"]["targets_not_C"] == 0
    if method == "neggrad+":
        assert all(e["later_batches_repeat_first_pass_rows"] for e in rep2["forget_cycle"]["epochs"])
    if method == "scrub":
        assert rep2["scrub_structure"]["max_only_while_epoch_le_msteps_and_before_min"]
    return rep2["structure"]["steps"], moved


def main():
    torch.use_deterministic_algorithms(True)
    check_augmentation()
    check_archs()
    # resnet18-cifar takes ~7 min on 2 CPU cores: only with --all
    archs = ("small-cnn", "resnet18-cifar") if "--all" in sys.argv[1:] else ("small-cnn",)
    for arch in archs:
        for method in M.METHODS:
            rng = np.random.default_rng(7)
            with tempfile.TemporaryDirectory() as d:
                write_export(os.path.join(d, "data.safetensors"), rng)
                steps, moved = run_method(method, arch, d, rng)
                print(f"{arch:15s} {method:9s} {steps:3d} steps, replay reproducible; moved {moved:.3g} from the original")
    print("selftest: ok")


if __name__ == "__main__":
    main()

"""Replay a traced Rust unlearning run in PyTorch and compare the weights.

    state, report = replay(original_ckpt, data_export, record_json, trace_jsonl)
    x = compare(state, rust_ckpt)   # max relative weight difference

`compare` is the max over float tensors (BatchNorm running statistics included) of
‖a − b‖₂ / max(‖b‖₂, 1e-12), with b the Rust checkpoint's tensor.
"""
import json
import math
import os

import numpy as np
import torch

from .data import Export
from .methods import METHODS, REPLAYS, Ctx
from .models import load_model, read_state


def setup_torch():
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)


def load_trace(path):
    lines = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f):
            raw = raw.strip()
            if not raw:
                continue
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n + 1}: not JSON ({e})") from None
    return lines


def _structure(trace):
    steps = [int(l["step"]) for l in trace]
    epochs = [int(l["epoch"]) for l in trace]
    return {
        "steps": len(trace),
        "steps_contiguous_from_0": steps == list(range(len(trace))),
        "epochs_nondecreasing": all(a <= b for a, b in zip(epochs, epochs[1:])),
        "epochs": sorted(set(epochs)),
    }


def replay(original_ckpt, data_export, record_json, trace_jsonl, forget_order=None, method=None,
           dtype=torch.float32):
    """(final_state_dict, report) of the reference loop driven by the trace.

    `forget_order`: the forget rows in the order SalUn's saliency visits them (default:
    ascending, the split manifest's order). `dtype`: float32 (as the references run) or
    float64 (the same loop with rounding made negligible: the reference's exact answer,
    for runs whose float32 rounding is amplified, e.g. BatchNorm over 8 rows at 1x1)."""
    setup_torch()
    model, spec = load_model(original_ckpt)
    model = model.to(dtype)
    export = Export(data_export)
    with open(record_json) as f:
        record = json.load(f)
    params = record.get("params", record)
    method = method or record.get("method")
    if method not in REPLAYS:
        raise ValueError(f"method '{method}' has no replay (known: {', '.join(METHODS)})")
    if export.num_classes is not None and export.num_classes != spec["num_classes"]:
        raise ValueError(f"export has {export.num_classes} classes, checkpoint {spec['num_classes']}")
    if [export.channels, export.height, export.width] != list(spec["input_shape"]):
        raise ValueError(f"export images {export.images.shape[1:]} vs checkpoint input {spec['input_shape']}")
    trace = load_trace(trace_jsonl)
    ctx = Ctx(model, spec, export, params, trace, trace_jsonl, forget_order)
    REPLAYS[method](ctx)
    ctx.finish()
    state = {k: (v.detach().to(torch.float32) if v.is_floating_point() else v.detach()).clone()
             for k, v in ctx.model.state_dict().items()}
    if hasattr(ctx, "be_head"):
        name, c = ctx.be_head
        for leaf in ("weight", "bias"):
            key = f"{name}.{leaf}"
            if key in state:
                state[key] = state[key][:c].clone()
    report = {
        "method": method,
        "arch": spec["arch"],
        "dtype": str(dtype).replace("torch.", ""),
        "structure": _structure(trace),
        "losses": ctx.losses,
        **ctx.report,
    }
    if "epochs" in params:
        report["structure"]["record_epochs"] = int(params["epochs"])
    return state, report


def compare(final_state_dict, rust_ckpt, detail=False):
    """Max over float tensors of ‖a − b‖₂ / max(‖b‖₂, 1e-12), b = the Rust checkpoint's.
    With `detail`, (max, per-tensor dict, notes)."""
    rust = read_state(rust_ckpt)
    notes = []
    missing = sorted(set(rust) - set(final_state_dict))
    extra = sorted(set(final_state_dict) - set(rust))
    if missing or extra:
        raise ValueError(f"tensor names differ: only in Rust {missing[:5]}, only in replay {extra[:5]}")
    per = {}
    for k, b in rust.items():
        a = final_state_dict[k]
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"{k}: shape {tuple(a.shape)} (replay) vs {tuple(b.shape)} (Rust)")
        if not b.is_floating_point():
            if not torch.equal(a.to(b.dtype), b):
                notes.append(f"{k}: {a.tolist()} (replay) vs {b.tolist()} (Rust)")
            continue
        a64, b64 = a.double(), b.double()
        d = float(torch.linalg.vector_norm(a64 - b64))
        n = float(torch.linalg.vector_norm(b64))
        per[k] = d / max(n, 1e-12)
    worst = max(per.values(), default=0.0)
    if any(not math.isfinite(v) for v in per.values()):
        worst = float("inf")
    if detail:
        return worst, per, notes
    return worst


def probe_logits(state, original_ckpt, data_export, count=16):
    """Eval-mode logits of the replayed model on training rows 0..count, no augmentation."""
    setup_torch()
    model, _ = load_model(original_ckpt)
    model.load_state_dict(state, strict=True)
    model.eval()
    export = Export(data_export)
    with torch.no_grad():
        return model(export.batch(list(range(min(count, len(export)))))).double().numpy()

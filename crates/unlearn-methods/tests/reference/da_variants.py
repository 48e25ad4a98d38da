#!/usr/bin/env python3
"""Reference values of MUDA's DA_batch forms (uncentred, centred, per_class), numpy only.

Writes da_variants.json next to this script; `tests/muda_variants.rs` recomputes the same
values with `unlearn_methods::losses` and `unlearn_metrics::retain_basis` and compares them
(the test does not run Python). Regenerate with `python3 da_variants.py`.

Definitions (spec §3.2 and MUDA's `da_form`):
- rows are L2-normalised, M = Zᵀ Z / n, V_k = the k leading eigenvectors of M;
- DA_batch = (1/n) Σ ‖V_kᵀ ẑ‖² over the L2-normalised forget features ẑ;
- uncentred: V_k of the reference rows, forget features as they are;
- centred: μ = mean of the raw reference rows; V_k of the rows minus μ; forget features minus μ;
- per_class: V_k per class from that class's reference rows, k capped by the class's row count;
  a forget sample is scored against its label's subspace, or the global (uncentred) one when
  its class has fewer than 2 reference rows.
"""

import json
import os

import numpy as np

D = 4
CLASSES = 4
# Reference labels: class 0 ×9, class 1 ×8, class 2 ×2, class 3 ×1 (fewer than 2: global).
REF_LABELS = [0] * 9 + [1] * 8 + [2] * 2 + [3]
FORGET_LABELS = [0, 1, 2, 3, 0, 2]


def inputs():
    rng = np.random.default_rng(20240717)
    n_ref, n_forget = len(REF_LABELS), len(FORGET_LABELS)
    # Class-dependent offsets so the class subspaces differ from the global one; values are
    # rounded to 4 decimals and stored as float32 (what the Rust test reads).
    offsets = rng.normal(size=(CLASSES, D)) * 1.5
    ref = rng.normal(size=(n_ref, D)) + offsets[REF_LABELS] + 0.7
    forget = rng.normal(size=(n_forget, D)) + offsets[FORGET_LABELS] + 0.7
    ref = np.round(ref, 4).astype(np.float32)
    forget = np.round(forget, 4).astype(np.float32)
    return ref, forget


def normalise(x):
    return x / np.sqrt((x * x).sum(axis=1, keepdims=True) + 1e-12)


def basis(rows, k):
    z = normalise(rows)
    m = z.T @ z / z.shape[0]
    w, v = np.linalg.eigh(m)
    order = np.argsort(w)[::-1]
    return v[:, order[:k]]


def da(features, v):
    p = normalise(features) @ v
    return float((p * p).sum(axis=1).mean())


def per_class(ref, ref_labels, forget, forget_labels, k):
    ref_labels = np.asarray(ref_labels)
    global_v = basis(ref, k)
    bases, ks = [], []
    for c in range(CLASSES):
        rows = ref[ref_labels == c]
        if rows.shape[0] < 2:
            bases.append(None)
            ks.append(None)
            continue
        kc = min(k, rows.shape[0])
        bases.append(basis(rows, kc))
        ks.append(kc)
    scores = []
    for x, y in zip(forget, forget_labels):
        v = bases[y] if y < CLASSES and bases[y] is not None else global_v
        p = normalise(x[None, :]) @ v
        scores.append(float((p * p).sum()))
    return float(np.mean(scores)), ks


def main():
    ref, forget = inputs()
    ref64, forget64 = ref.astype(np.float64), forget.astype(np.float64)
    mean = ref64.mean(axis=0)
    cases = []
    for k in (2, 3):
        pc, ks = per_class(ref64, REF_LABELS, forget64, FORGET_LABELS, k)
        cases.append(
            {
                "k": k,
                "uncentred": da(forget64, basis(ref64, k)),
                "centred": da(forget64 - mean, basis(ref64 - mean, k)),
                "per_class": pc,
                "class_k": ks,
            }
        )
    out = {
        "generator": "tests/reference/da_variants.py (numpy " + np.__version__ + ")",
        "d": D,
        "classes": CLASSES,
        "reference": [[float(v) for v in row] for row in ref],
        "reference_labels": REF_LABELS,
        "forget": [[float(v) for v in row] for row in forget],
        "forget_labels": FORGET_LABELS,
        "reference_mean": [float(v) for v in mean],
        "cases": cases,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "da_variants.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

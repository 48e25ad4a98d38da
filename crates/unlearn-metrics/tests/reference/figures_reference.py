#!/usr/bin/env python3
"""Reference values for `unlearn_metrics::figures` (the report's figure data).

Reads committed fixtures from `tests/fixtures/` (made by `make_fixtures.py`) and writes
`tests/fixtures/figures_expected.json`, computed independently with numpy and
scikit-learn on the float32-rounded arrays (what the Rust loader sees), upcast to float64:

* spectrum energies: numpy `eigh` of M_r = Z_r^T Z_r / n_r on L2-normalised retain rows
  (every fixture has fewer than 10,000 retain rows, so no subsample), eigenvalues
  descending and normalised to sum 1; for the forget, test and retain probes the mean
  squared projection on each eigenvector, normalised to sum 1.
* 2-D PCA: `sklearn.decomposition.PCA(n_components=2, svd_solver="full")` fitted on the
  L2-normalised retain rows: `explained_variance_ratio_` and the absolute values of
  `transform()` of the first 50 forget and retain rows (component signs are arbitrary).

Run from anywhere:

    python3 crates/unlearn-metrics/tests/reference/figures_reference.py
"""

import json
import os

import numpy as np
from sklearn.decomposition import PCA

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures")
REGIMES = ["overlap", "offmanifold"]
POINTS = 50


def l2n(z):
    z = z.astype(np.float32).astype(np.float64)
    n = np.linalg.norm(z, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return z / n


def energy(z, v):
    e = ((z @ v) ** 2).mean(axis=0)
    return e / e.sum()


def main():
    out = {}
    for name in REGIMES:
        a = np.load(os.path.join(FIXTURES, f"{name}.npz"))
        zr, zf, zt = (l2n(a[f"{s}_features"]) for s in ("retain", "forget", "test"))
        w, v = np.linalg.eigh(zr.T @ zr / zr.shape[0])
        order = np.argsort(w)[::-1]
        w, v = w[order], v[:, order]
        w = np.clip(w, 0.0, None)
        gaps = np.diff(w)
        # Per-direction energies are basis-dependent inside a degenerate eigenspace.
        assert np.all(np.abs(gaps) > 1e-9), f"{name}: near-degenerate retain spectrum"
        pca = PCA(n_components=2, svd_solver="full").fit(zr)
        ratio = pca.explained_variance_ratio_
        assert ratio[0] - ratio[1] > 1e-6, f"{name}: PCA components 1 and 2 nearly tie"
        out[name] = {
            "spectrum": {
                "eigenvalues": (w / w.sum()).tolist(),
                "forget": energy(zf, v).tolist(),
                "test": energy(zt, v).tolist(),
                "retain": energy(zr, v).tolist(),
            },
            "pca2": {
                "explained": ratio.tolist(),
                "forget_abs": np.abs(pca.transform(zf[:POINTS])).tolist(),
                "retain_abs": np.abs(pca.transform(zr[:POINTS])).tolist(),
            },
        }
    path = os.path.join(FIXTURES, "figures_expected.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

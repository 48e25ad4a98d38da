#!/usr/bin/env python3
"""numpy / scikit-learn side of `examples/bench_metrics.rs`.

Reads the `.npz` the Rust example wrote and times the same three tasks:
DA on 50,000 x 512 (Gram + eigh + curves + subspace), KMeans(n_clusters=10,
n_init=10) + NMI on the 10,000 x 512 test features, and the MIA confidence
variant (SVC(C=3, gamma="auto") on 10,000 + 10,000 rows, predict 5,000).
Prints one `RESULT\\t<seconds>\\t<values>` line per task, in that order.
"""

import sys
import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from sklearn.svm import SVC

C = 10


def l2n(z):
    z = z.astype(np.float64)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def softmax(x):
    x = x.astype(np.float64)
    x = x - x.max(1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(1, keepdims=True)


def main(path):
    d = np.load(path)
    rf, ff, tf = d["retain_features"], d["forget_features"], d["test_features"]

    t0 = time.perf_counter()
    zr, zf, zt = l2n(rf), l2n(ff), l2n(tf)
    w, v = np.linalg.eigh(zr.T @ zr / zr.shape[0])
    o = np.argsort(w)[::-1]
    w, v = w[o], v[:, o]
    cf = np.cumsum(((zf @ v[:, : 4 * C]) ** 2).mean(0))
    ct = np.cumsum(((zt @ v[:, : 4 * C]) ** 2).mean(0))
    wf, vf = np.linalg.eigh(zf.T @ zf / zf.shape[0])
    vf = vf[:, np.argsort(wf)[::-1]]
    sub = np.sum((v[:, :C].T @ vf[:, :C]) ** 2) / C
    t = time.perf_counter() - t0
    print(f"RESULT\t{t}\tDA_f={cf[C - 1]:.6f} DA_t={ct[C - 1]:.6f} sub={sub:.6f}")

    t0 = time.perf_counter()
    km = KMeans(n_clusters=C, n_init=10, random_state=0).fit(zt)
    v_nmi = normalized_mutual_info_score(d["test_labels"], km.labels_)
    t = time.perf_counter() - t0
    print(f"RESULT\t{t}\tNMI={v_nmi:.4f} inertia={km.inertia_:.3f}")

    t0 = time.perf_counter()
    n = 10000
    conf = lambda lg, y: softmax(lg)[np.arange(len(y)), y][:, None]
    x = np.concatenate([conf(d["retain_logits"][:n], d["retain_labels"][:n]),
                        conf(d["test_logits"][:n], d["test_labels"][:n])])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    clf = SVC(C=3, gamma="auto").fit(x, y)
    eff = 100 * (1 - clf.predict(conf(d["forget_logits"], d["forget_labels"])).mean())
    t = time.perf_counter() - t0
    print(f"RESULT\t{t}\tefficacy={eff:.2f}%")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Reference fixtures for the unlearn-metrics crate.

Builds small synthetic feature bundles in several regimes, writes each as
`.npz` and `.safetensors` under `tests/fixtures/`, and writes `expected.json`
with reference values computed independently with numpy / scipy / scikit-learn:

* DA: numpy `eigh` of M_r = Z_r^T Z_r / n_r on L2-normalised retain rows (no
  subsampling: every fixture has fewer than 10,000 retain rows), k = classes,
  DA_f, DA_t, curves A(1..min(d, 4*classes)), subspace variant, spectrum.
* MIA: every variant via `SVC(C=3, gamma="auto")` on exactly the protocol's
  arrays (members = first n retain rows, non-members = first n test rows,
  n = min(|retain|, |test|, 10000)); per-sample predictions, decision values and
  per-sample m-entropy of the forget set.
* LP: `LogisticRegression(C=1.0)` (sklearn defaults apart from a tight tol and
  a large max_iter so the optimum is reached) on an explicit stratified split of
  the test set (indices stored).
* Clustering: `KMeans(n_clusters=classes, n_init=10, random_state=0)` labels,
  inertia, `normalized_mutual_info_score`, and pairwise F1 counted over all
  O(n^2) pairs directly.

All computations use the float32-rounded arrays (what the Rust loader sees),
upcast to float64. Run from anywhere:

    python3 crates/unlearn-metrics/tests/reference/make_fixtures.py
"""

import json
import os

import numpy as np
from safetensors.numpy import save_file
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.svm import SVC

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "fixtures")


def l2n(z):
    z = z.astype(np.float64)
    n = np.linalg.norm(z, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return z / n


def softmax(logits):
    x = logits.astype(np.float64)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def clog(p):
    return np.log(np.clip(p, 1e-30, 1.0))


def m_entropy(p, y):
    """Correct modified entropy: -(1-p_y) log p_y - sum_{i != y} p_i log(1-p_i)."""
    n = p.shape[0]
    py = p[np.arange(n), y]
    term_y = -(1.0 - py) * clog(py)
    others = -p * clog(1.0 - p)
    others[np.arange(n), y] = 0.0
    return term_y + others.sum(axis=1)


def mia_feature(logits, labels, variant):
    p = softmax(logits)
    n = p.shape[0]
    if variant == "confidence":
        return p[np.arange(n), labels][:, None]
    if variant == "entropy":
        return (-(p * clog(p)).sum(axis=1))[:, None]
    if variant == "m_entropy":
        return m_entropy(p, labels)[:, None]
    if variant == "prob":
        return p
    raise ValueError(variant)


def pairwise_f1_bruteforce(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    same_a = a[:, None] == a[None, :]
    same_b = b[:, None] == b[None, :]
    iu = np.triu_indices(len(a), k=1)
    sa, sb = same_a[iu], same_b[iu]
    tp = np.sum(sa & sb)
    fp = np.sum(~sa & sb)
    fn = np.sum(sa & ~sb)
    if tp == 0:
        return 0.0
    p = tp / (tp + fp)
    r = tp / (tp + fn)
    return float(2 * p * r / (p + r))


def stratified_half(labels, rng):
    fit, ev = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        k = int(np.ceil(len(idx) * 0.5))
        fit.extend(idx[:k].tolist())
        ev.extend(idx[k:].tolist())
    return sorted(fit), sorted(ev)


def make_split(rng, means, n, labels_from, noise, logit_scale, logit_noise, off=None):
    """Features = class mean + noise (+ optional off-manifold energy); logits from
    a noisy linear read-out of the normalised features."""
    classes, d = means.shape
    y = rng.choice(labels_from, size=n)
    z = means[y] + noise * rng.standard_normal((n, d))
    if off is not None:
        basis, scale = off
        z = z + scale * rng.standard_normal((n, basis.shape[1])) @ basis.T
    zn = l2n(z)
    mdir = l2n(means)
    logits = logit_scale * zn @ mdir.T + logit_noise * rng.standard_normal((n, classes))
    return z, logits, y.astype(np.int64)


def build(name, seed, classes, d, sizes, sep, noise, forget_classes=None, off_manifold=False,
          val=False, triggered=False, label_dtype=np.int64, feat_dtype=np.float64):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    sub = q[:, : max(classes + 2, 2)]  # retain manifold basis
    comp = q[:, max(classes + 2, 2):]  # orthogonal complement
    means = sep * rng.standard_normal((classes, sub.shape[1])) @ sub.T
    all_c = np.arange(classes)
    fcls = all_c if forget_classes is None else np.array(forget_classes)
    rcls = all_c if forget_classes is None else np.setdiff1d(all_c, fcls)
    n_r, n_f, n_t = sizes
    arrays = {}
    r = make_split(rng, means, n_r, rcls, noise, 14.0, 1.0)
    off = (comp, 0.9 * sep) if off_manifold else None
    f = make_split(rng, means, n_f, fcls, noise, 10.0, 1.5, off=off)
    t = make_split(rng, means, n_t, all_c, noise * 1.2, 8.0, 2.0)
    for split, (z, lg, y) in zip(["retain", "forget", "test"], [r, f, t]):
        arrays[f"{split}_features"] = z
        arrays[f"{split}_logits"] = lg
        arrays[f"{split}_labels"] = y
    if val:
        z, lg, y = make_split(rng, means, n_t // 2, all_c, noise * 1.2, 8.0, 2.0)
        arrays["val_features"] = z
        arrays["val_logits"] = lg
        arrays["val_labels"] = y
    target = None
    if triggered:
        target = 0
        z, lg, y = make_split(rng, means, n_t // 2, np.arange(1, classes), noise, 8.0, 2.0)
        # Half of the triggered images flip to the target class.
        flip = rng.random(len(y)) < 0.5
        lg[flip, 0] += 20.0
        arrays["triggered_logits"] = lg
        arrays["triggered_labels"] = y

    # What the Rust loader sees: float32 features/logits.
    a32 = {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in arrays.items()}
    npz = {k: (v.astype(feat_dtype) if v.dtype.kind == "f" else v.astype(label_dtype))
           for k, v in a32.items()}
    np.savez(os.path.join(OUT, f"{name}.npz"), **npz)
    st = {k: (v if v.dtype.kind == "f" else v.astype(np.int64)) for k, v in a32.items()}
    save_file(st, os.path.join(OUT, f"{name}.safetensors"),
              metadata={"regime": name, "seed": str(seed)})

    exp = {"classes": classes, "d": d, "forgotten_classes": forget_classes,
           "backdoor_target": target,
           "counts": {s: int(len(a32[f"{s}_labels"])) for s in ["retain", "forget", "test"]
                      + (["val"] if val else [])}}
    acc = lambda s: float(100.0 * np.mean(a32[f"{s}_logits"].argmax(1) == a32[f"{s}_labels"]))
    # python: 100 * mean(argmax(logits, 1) == labels)
    exp["fa"] = acc("forget")
    exp["ra"] = acc("retain")
    tl, ty = a32["test_logits"], a32["test_labels"]
    if forget_classes is None:
        exp["ta"] = acc("test")
    else:
        keep = ~np.isin(ty, forget_classes)
        exp["ta"] = float(100.0 * np.mean(tl[keep].argmax(1) == ty[keep]))
        exp["ta_forgotten"] = float(100.0 * np.mean(tl[~keep].argmax(1) == ty[~keep]))
    if val:
        exp["va"] = acc("val")
    if triggered:
        tg = a32["triggered_logits"].argmax(1)
        exp["asr"] = float(100.0 * np.mean(tg[a32["triggered_labels"] != target] == target))

    # ---- DA ----
    zr, zf, zt = (l2n(a32[f"{s}_features"]) for s in ["retain", "forget", "test"])
    mr = zr.T @ zr / zr.shape[0]
    w, v = np.linalg.eigh(mr)
    order = np.argsort(w)[::-1]
    w, v = w[order], v[:, order]
    k = min(classes, d)
    jmax = min(d, 4 * classes)
    curve = lambda z: np.cumsum(((z @ v[:, :jmax]) ** 2).mean(axis=0))
    cf, ct = curve(zf), curve(zt)
    mf = zf.T @ zf / zf.shape[0]
    wf, vf = np.linalg.eigh(mf)
    vf = vf[:, np.argsort(wf)[::-1]]
    sub_val = float(np.sum((v[:, :k].T @ vf[:, :k]) ** 2) / k)
    exp["da"] = {"k": k, "forget": float(cf[k - 1]), "test": float(ct[k - 1]),
                 "subspace": sub_val}
    exp["curves"] = {"forget": cf.tolist(), "test": ct.tolist()}
    exp["spectrum"] = w.tolist()

    # ---- MIA ----
    rl, ry = a32["retain_logits"], a32["retain_labels"]
    fl, fy = a32["forget_logits"], a32["forget_labels"]
    n = min(len(ry), len(ty), 10000)
    mia, preds, decs = {}, {}, {}
    mia["correctness"] = float(100.0 * np.mean(fl.argmax(1) != fy))
    for var in ["confidence", "entropy", "m_entropy", "prob"]:
        xs = np.concatenate([mia_feature(rl[:n], ry[:n], var), mia_feature(tl[:n], ty[:n], var)])
        ys = np.concatenate([np.ones(n), np.zeros(n)])
        clf = SVC(C=3, gamma="auto", kernel="rbf").fit(xs, ys)
        xf = mia_feature(fl, fy, var)
        pr = clf.predict(xf)
        mia[var] = float(100.0 * (1.0 - pr.mean()))
        preds[var] = pr.astype(int).tolist()
        decs[var] = clf.decision_function(xf).tolist()
        mia[f"{var}_n_support"] = int(clf.n_support_.sum())
    exp["mia"] = mia
    exp["mia_predictions"] = preds
    exp["mia_decision"] = decs
    exp["m_entropy_forget"] = m_entropy(softmax(fl), fy).tolist()

    # ---- LP on an explicit split ----
    fit_idx, ev_idx = stratified_half(ty, np.random.default_rng(seed + 1))
    lr = LogisticRegression(C=1.0, tol=1e-10, max_iter=100000).fit(zt[fit_idx], ty[fit_idx])
    lr_default = LogisticRegression().fit(zt[fit_idx], ty[fit_idx])
    exp["lp"] = {
        "fit_idx": fit_idx, "eval_idx": ev_idx,
        "classes": lr.classes_.tolist(),
        "coef": lr.coef_.tolist(), "intercept": lr.intercept_.tolist(),
        "forget": float(100.0 * lr.score(zf, fy)),
        "test": float(100.0 * lr.score(zt[ev_idx], ty[ev_idx])),
        "default_forget": float(100.0 * lr_default.score(zf, fy)),
        "default_test": float(100.0 * lr_default.score(zt[ev_idx], ty[ev_idx])),
    }

    # ---- clustering ----
    if len(np.unique(fy)) >= 2:
        cx, cy, cset = zf, fy, "forget"
    else:
        cx, cy, cset = np.concatenate([zf, zt]), np.concatenate([fy, ty]), "forget+test"
    km = KMeans(n_clusters=classes, n_init=10, random_state=0).fit(cx)
    exp["clustering"] = {
        "set": cset,
        "kmeans_labels": km.labels_.tolist(),
        "inertia": float(km.inertia_),
        "nmi": float(normalized_mutual_info_score(cy, km.labels_)),
        "f1": pairwise_f1_bruteforce(cy, km.labels_),
    }
    # Seed spread of scikit-learn's own best-of-10 k-means (random_state 0..19): on
    # overlapping data different seeds reach different local optima.
    spread = []
    for rs in range(20):
        kr = KMeans(n_clusters=classes, n_init=10, random_state=rs).fit(cx)
        spread.append((kr.inertia_, normalized_mutual_info_score(cy, kr.labels_),
                       pairwise_f1_bruteforce(cy, kr.labels_)))
    spread = np.array(spread)
    exp["clustering"]["seed_spread"] = {
        "inertia": [float(spread[:, 0].min()), float(spread[:, 0].max())],
        "nmi": [float(spread[:, 1].min()), float(spread[:, 1].max())],
        "f1": [float(spread[:, 2].min()), float(spread[:, 2].max())],
    }
    return exp


def given_vectors():
    """NMI / F1 on fixed label vectors (no clustering involved)."""
    rng = np.random.default_rng(7)
    out = []
    a = rng.integers(0, 5, 300)
    for noise in [0.0, 0.2, 0.6, 1.0]:
        b = a.copy()
        flip = rng.random(len(a)) < noise
        b[flip] = rng.integers(0, 7, flip.sum())
        b = (b * 3 + 1) % 11  # relabel clusters arbitrarily
        out.append({"a": a.tolist(), "b": b.tolist(),
                    "nmi": float(normalized_mutual_info_score(a, b)),
                    "f1": pairwise_f1_bruteforce(a, b)})
    single = [0] * 10
    out.append({"a": single, "b": single, "nmi": float(normalized_mutual_info_score(single, single)),
                "f1": pairwise_f1_bruteforce(single, single)})
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {
        # well-separated classes, int64 labels + float64 features in the npz
        "separated": build("separated", 1, classes=4, d=16, sizes=(400, 80, 240), sep=3.0,
                           noise=0.3, label_dtype=np.int64, feat_dtype=np.float64),
        # overlapping classes, int32 / float32 in the npz, with val + backdoor arrays
        "overlap": build("overlap", 2, classes=5, d=24, sizes=(600, 100, 300), sep=1.0,
                         noise=0.8, val=True, triggered=True,
                         label_dtype=np.int32, feat_dtype=np.float32),
        # forget features with energy outside the retain subspace
        "offmanifold": build("offmanifold", 3, classes=4, d=32, sizes=(500, 100, 300), sep=2.0,
                             noise=0.2, off_manifold=True,
                             label_dtype=np.uint8, feat_dtype=np.float32),
        # class scenario: the forget set is one class
        "oneclass": build("oneclass", 4, classes=4, d=16, sizes=(450, 120, 240), sep=2.5,
                          noise=0.4, forget_classes=[2],
                          label_dtype=np.int16, feat_dtype=np.float64),
        # a bigger MIA problem (10 classes, 1,500 shadow rows per side)
        "mia_large": build("mia_large", 5, classes=10, d=16, sizes=(1500, 400, 1500), sep=1.2,
                           noise=0.6, label_dtype=np.int64, feat_dtype=np.float32),
        "given_vectors": given_vectors(),
    }
    with open(os.path.join(OUT, "expected.json"), "w") as fh:
        json.dump(expected, fh)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference values for `unlearn_metrics::oracle` (per-example oracle-ensemble kernels).

Writes `tests/fixtures/oracle_expected.json`: seeded numpy inputs and the values that
numpy / scipy / scikit-learn compute from them, all in float64:

* margins: `z_y - scipy.special.logsumexp(z_{-y})`, clipped to +-clip, on float64 logits
  and on float32-rounded logits (upcast to float64), including rows that hit the clip.
* KLoM: per example, `np.histogram(values, bins, range=(lo, hi))` of the method and of
  the oracle margins over the union's [min, max] (numpy widens a degenerate range to
  [a - 0.5, a + 0.5], as the Rust code does), `+ eps` per bin, and
  `scipy.stats.entropy(p_method, q_oracle)` = KL(method || oracle), natural log;
  P50 / P95 with `np.percentile` (linear).
* per-example LR attack: the first M // 2 method and K // 2 oracle models fit a Gaussian
  each (mean, population variance `np.var`, floored at min_var); the remaining models'
  margins are scored with `scipy.stats.norm.logpdf` (method minus oracle). Held-out
  method scores are positives, held-out oracle scores negatives:
  `sklearn.metrics.roc_auc_score`, `roc_curve(drop_intermediate=False)`, TPR at FPR
  targets (largest TPR with FPR <= target), Hanley-McNeil standard error.
* the same ROC quantities on a larger tied score set (scores rounded to 0.1).
* the attack's permutation test over models: the M + K models of the KLoM arrays pooled
  (method columns first) on examples 7.. (the non-degenerate ones), `PERMUTATIONS` permutations from `rng.permutation(M + K)`; a
  permutation's first M models are the method side (its first M // 2 fit), the rest the
  oracle side; the attack's `roc_auc_score` per permutation; the band's half-width is
  `np.quantile(|AUC - 0.5|, LEVEL)` (linear) and the two-sided p-value
  `(1 + #{|AUC_pi - 0.5| >= |AUC - 0.5|}) / (1 + P)`.
* energy outside the retain subspace: `1 - ||V^T z||^2` for L2-normalised float32-rounded
  feature rows and an orthonormal basis from `np.linalg.qr`, clipped to [0, 1].

Run from anywhere (numpy 2.4, scipy 1.17, scikit-learn 1.9 were used):

    python3 crates/unlearn-metrics/tests/reference/oracle_reference.py
"""

import json
import os

import numpy as np
from scipy.special import logsumexp
from scipy.stats import entropy, norm
from sklearn.metrics import roc_auc_score, roc_curve

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures")
SEED = 17
CLIP = 100.0
BINS = 20
EPS = 1e-6
MIN_VAR = 1e-6
FPR_TARGETS = [0.01, 0.001]
PERMUTATIONS = 40
LEVEL = 0.95
PERMUTATION_ROWS = 7
Z975 = float(norm.ppf(0.975))


def margins(logits, labels, clip):
    out = []
    for z, y in zip(logits, labels):
        others = np.delete(z, y)
        out.append(float(np.clip(z[y] - logsumexp(others), -clip, clip)))
    return out


def klom_one(m, o, bins, eps):
    u = np.concatenate([m, o])
    lo, hi = float(u.min()), float(u.max())
    hm, edges = np.histogram(m, bins=bins, range=(lo, hi))
    ho, edges2 = np.histogram(o, bins=bins, range=(lo, hi))
    assert np.array_equal(edges, edges2)
    p = (hm + eps) / (hm + eps).sum()
    q = (ho + eps) / (ho + eps).sum()
    return float(entropy(p, q)), hm.tolist(), ho.tolist()


def hanley_mcneil(auc, n_pos, n_neg):
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    return float(np.sqrt(max(var, 0.0)))


def roc_block(pos, neg):
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    s = np.concatenate([pos, neg])
    auc = float(roc_auc_score(y, s))
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    at = [float(tpr[fpr <= t].max()) for t in FPR_TARGETS]
    # Integer counts behind the rates: Rust's rates are checked exactly against
    # count / total (one IEEE division on both sides), not against JSON-parsed floats.
    fps = np.rint(fpr * len(neg)).astype(int)
    tps = np.rint(tpr * len(pos)).astype(int)
    assert np.array_equal(fps / len(neg), fpr) and np.array_equal(tps / len(pos), tpr)
    tp_at = [int(tps[fpr <= t].max()) for t in FPR_TARGETS]
    se = hanley_mcneil(auc, len(pos), len(neg))
    return {
        "auc": auc,
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        # roc_curve's first threshold is +inf (JSON cannot hold it): it is dropped here.
        "thresholds_finite": thr[1:].tolist(),
        "fpr_targets": FPR_TARGETS,
        "tpr_at_fpr": at,
        "n_pos": len(pos),
        "n_neg": len(neg),
        "fps": fps.tolist(),
        "tps": tps.tolist(),
        "tp_at_fpr": tp_at,
        "auc_se": se,
        "auc_ci95": [max(0.0, auc - Z975 * se), min(1.0, auc + Z975 * se)],
    }


def assert_no_near_ties(x, gap=1e-9):
    u = np.unique(x)
    assert np.all(np.diff(u) > gap), "near-tied scores would make exact ROC checks fragile"


def make_margin_sets(rng, n, m, k):
    mu = rng.normal(0.0, 3.0, size=n)
    shift = rng.normal(0.0, 1.0, size=n) * (rng.random(n) < 0.6)
    spread = rng.uniform(0.5, 2.0, size=n)
    method = mu[:, None] + shift[:, None] + spread[:, None] * rng.normal(size=(n, m))
    oracle = mu[:, None] + rng.normal(size=(n, k))
    # Example 0: every margin clipped to the same value (degenerate range, widened).
    method[0], oracle[0] = CLIP, CLIP
    # Example 1: method and oracle margins identical (KL exactly 0).
    method[1] = oracle[1]
    # Examples 2-5: values on a 0.5 grid, so some fall exactly on bin edges.
    method[2:6] = np.round(method[2:6] * 2) / 2
    oracle[2:6] = np.round(oracle[2:6] * 2) / 2
    # Example 6: identical fit-half values on both sides (variance floored at min_var).
    method[6, : m // 2] = 1.25
    oracle[6, : k // 2] = -0.75
    return method, oracle


def lira_auc(method, oracle):
    m, k = method.shape[1], oracle.shape[1]
    fm, fo = m // 2, k // 2
    mu_m, mu_o = method[:, :fm].mean(axis=1), oracle[:, :fo].mean(axis=1)
    sd_m = np.sqrt(np.maximum(method[:, :fm].var(axis=1), MIN_VAR))
    sd_o = np.sqrt(np.maximum(oracle[:, :fo].var(axis=1), MIN_VAR))

    def score(x):
        return norm.logpdf(x, mu_m[:, None], sd_m[:, None]) - norm.logpdf(
            x, mu_o[:, None], sd_o[:, None]
        )

    pos, neg = score(method[:, fm:]).ravel(), score(oracle[:, fo:]).ravel()
    assert_no_near_ties(np.concatenate([pos, neg]))
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    return float(roc_auc_score(y, np.concatenate([pos, neg])))


def permutation_block(rng, method, oracle):
    # The degenerate examples 0-6 (clipped, identical, on a grid, floored) tie scores
    # within 1e-9 under some relabellings; examples 7.. do not.
    method, oracle = method[PERMUTATION_ROWS:], oracle[PERMUTATION_ROWS:]
    m = method.shape[1]
    pooled = np.concatenate([method, oracle], axis=1)
    perms = [rng.permutation(pooled.shape[1]) for _ in range(PERMUTATIONS)]
    aucs = [lira_auc(pooled[:, p[:m]], pooled[:, p[m:]]) for p in perms]
    auc = lira_auc(method, oracle)
    dev = np.abs(np.array(aucs) - 0.5)
    return {
        "first_row": PERMUTATION_ROWS,
        "level": LEVEL,
        "permutations": [p.tolist() for p in perms],
        "aucs": aucs,
        "auc": auc,
        "half_width": float(np.quantile(dev, LEVEL)),
        "p_value": float((1 + np.sum(dev >= abs(auc - 0.5))) / (1 + len(dev))),
    }


def lira_block(method, oracle):
    m, k = method.shape[1], oracle.shape[1]
    fm, fo = m // 2, k // 2
    mu_m = method[:, :fm].mean(axis=1)
    mu_o = oracle[:, :fo].mean(axis=1)
    var_m = np.maximum(method[:, :fm].var(axis=1), MIN_VAR)
    var_o = np.maximum(oracle[:, :fo].var(axis=1), MIN_VAR)

    def score(x):
        return norm.logpdf(x, mu_m[:, None], np.sqrt(var_m)[:, None]) - norm.logpdf(
            x, mu_o[:, None], np.sqrt(var_o)[:, None]
        )

    pos = score(method[:, fm:])
    neg = score(oracle[:, fo:])
    assert_no_near_ties(np.concatenate([pos.ravel(), neg.ravel()]))
    out = {
        "method_mean": mu_m.tolist(),
        "method_var": var_m.tolist(),
        "oracle_mean": mu_o.tolist(),
        "oracle_var": var_o.tolist(),
        "positives": pos.tolist(),
        "negatives": neg.tolist(),
    }
    out["roc"] = roc_block(pos.ravel(), neg.ravel())
    return out


def main():
    rng = np.random.default_rng(SEED)
    n_cls = 10
    logits = rng.normal(0.0, 3.0, size=(60, n_cls))
    labels = rng.integers(0, n_cls, size=60)
    logits[0, labels[0]] = 500.0  # margin far above +clip
    logits[1, :] = 0.0
    logits[1, (labels[1] + 1) % n_cls] = 400.0  # margin far below -clip
    logits[2, :] = 7.0  # all equal: margin = -log(C - 1)
    logits32 = logits.astype(np.float32).astype(np.float64)

    method, oracle = make_margin_sets(rng, 50, 8, 8)
    per, hm, ho = [], [], []
    for i in range(method.shape[0]):
        kl, a, b = klom_one(method[i], oracle[i], BINS, EPS)
        per.append(kl)
        hm.append(a)
        ho.append(b)
    assert per[1] == 0.0

    pos = np.round(rng.normal(1.0, 1.0, size=1500), 1)
    neg = np.round(rng.normal(0.0, 1.0, size=2000), 1)

    feats = rng.normal(size=(40, 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 5)))
    feats[0] = q @ rng.normal(size=5)  # inside the subspace: energy outside ~ 0
    feats[1] = 0.0  # zero row: stays 0 after normalisation, energy outside 1
    f32 = feats.astype(np.float32).astype(np.float64)
    nrm = np.linalg.norm(f32, axis=1, keepdims=True)
    nrm[nrm == 0] = 1.0
    z = f32 / nrm
    inside = ((z @ q) ** 2).sum(axis=1)
    inside[1] = 0.0
    outside = np.clip(1.0 - inside, 0.0, 1.0)

    out = {
        "params": {"clip": CLIP, "bins": BINS, "eps": EPS, "min_var": MIN_VAR},
        "margins": {
            "classes": n_cls,
            "logits": logits.ravel().tolist(),
            "labels": labels.tolist(),
            "expected": margins(logits, labels, CLIP),
            "logits_f32": logits32.ravel().tolist(),
            "expected_f32": margins(logits32, labels, CLIP),
            "clip_small": 1.5,
            "expected_clip_small": margins(logits, labels, 1.5),
        },
        "klom": {
            "models_method": method.shape[1],
            "models_oracle": oracle.shape[1],
            "method": method.ravel().tolist(),
            "oracle": oracle.ravel().tolist(),
            "hist_method": hm,
            "hist_oracle": ho,
            "per_example": per,
            "p50": float(np.percentile(per, 50)),
            "p95": float(np.percentile(per, 95)),
        },
        "lira": lira_block(method, oracle),
        "permutation": permutation_block(rng, method, oracle),
        "roc_ties": {"positives": pos.tolist(), "negatives": neg.tolist(), **roc_block(pos, neg)},
        "outside_energy": {
            "d": 16,
            "k": 5,
            "features_f32": f32.ravel().tolist(),
            "basis": q.ravel().tolist(),
            "expected": outside.tolist(),
        },
    }
    path = os.path.join(FIXTURES, "oracle_expected.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()

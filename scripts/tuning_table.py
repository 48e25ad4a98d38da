#!/usr/bin/env python3
"""The before/after table of `docs/tuning.md` (round 5), from a study run
with `--tune N` and runs of the same cells with the defaults.

For each scenario and method: the average gaps (output, feature) with the defaults and with
the tuned values, on the tuning seed and as the mean over the held-out seeds, and the values
the search chose (`best.toml` of the method's tune step).

Usage: scripts/tuning_table.py STORE TUNED_RESULTS.jsonl DEFAULT_RESULTS.jsonl [...]
"""
import glob
import json
import os
import sys


def load(paths):
    out = {}
    for p in paths:
        for line in open(p):
            if line.strip():
                r = json.loads(line)
                out[(r["scenario"], r["method"], r["seed"])] = r
    return out


def gaps(rec):
    m = (rec or {}).get("metrics") or {}
    return m.get("avg_gap_output"), m.get("avg_gap_feature")


def mean(values):
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def fmt(v):
    return "—" if v is None else f"{v:.2f}"


def chosen(store, scenario, method):
    slug = scenario.replace(":", "-").replace(",", "-")
    found = sorted(glob.glob(os.path.join(store, slug, "seed0", "tune", f"{method}-*", "best.toml")))
    if not found:
        return "—"
    lines = [l.strip() for l in open(found[-1]) if "=" in l and not l.startswith("#")]
    return ", ".join(l.replace(" = ", "=").replace('"', "") for l in lines) or "defaults"


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    store, tuned, defaults = sys.argv[1], load([sys.argv[2]]), load(sys.argv[3:])
    scenarios = sorted({k[0] for k in tuned})
    for sc in scenarios:
        methods = [m for (s, m, seed) in tuned if s == sc and seed == 0 and m not in ("original", "retrain")]
        seeds = sorted({seed for (s, _, seed) in tuned if s == sc})
        held = [s for s in seeds if s != 0]
        print(f"\n**`{sc}`** (tuned on seed 0, held-out seeds {', '.join(map(str, held))}; "
              "gaps: output / feature)\n")
        print("| method | defaults, seed 0 | tuned, seed 0 | defaults, held-out | tuned, held-out | held-out `both` better | chosen |")
        print("|---|---|---|---|---|---|---|")
        for m in methods:
            d0, t0 = gaps(defaults.get((sc, m, 0))), gaps(tuned.get((sc, m, 0)))
            dh = [mean([gaps(defaults.get((sc, m, s)))[i] for s in held]) for i in (0, 1)]
            th = [mean([gaps(tuned.get((sc, m, s)))[i] for s in held]) for i in (0, 1)]
            tm = m if not m.startswith("muda-") else "muda"
            both = lambda g: None if None in g else (g[0] + g[1]) / 2
            db, tb = both(dh), both(th)
            better = "—" if db is None or tb is None else ("yes" if tb < db else "no")
            print(f"| {m} | {fmt(d0[0])} / {fmt(d0[1])} | {fmt(t0[0])} / {fmt(t0[1])} | "
                  f"{fmt(dh[0])} / {fmt(dh[1])} | {fmt(th[0])} / {fmt(th[1])} | "
                  f"{better} ({fmt(db)} → {fmt(tb)}) | {chosen(store, sc, tm)} |")


if __name__ == "__main__":
    main()
